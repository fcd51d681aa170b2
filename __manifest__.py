{
    "name": "Billwerk+ Optimize Connector",
    "summary": "Keep Billwerk+ Optimize plans, subscriptions, customers and "
    "invoices in sync with Odoo, and post the invoices to accounting",
    "version": "18.0.2.0.0",
    "category": "Accounting",
    "website": "https://github.com/billwerk-connector/billwerk_connector",
    "author": "billwerk_connector developers",
    "license": "LGPL-3",
    "depends": ["account"],
    "external_dependencies": {"python": ["requests", "cryptography"]},
    "data": [
        "security/billwerk_security.xml",
        "security/ir.model.access.csv",
        "security/billwerk_rules.xml",
        "data/ir_cron.xml",
        "views/billwerk_plan_views.xml",
        "views/billwerk_customer_views.xml",
        "views/billwerk_subscription_views.xml",
        "views/billwerk_invoice_views.xml",
        "views/billwerk_credit_note_views.xml",
        "views/billwerk_transaction_views.xml",
        "views/billwerk_ledger_line_views.xml",
        "views/account_move_views.xml",
        "views/billwerk_sync_run_views.xml",
        "views/billwerk_account_views.xml",
        "wizards/set_api_key_views.xml",
        "views/billwerk_menus.xml",
    ],
    "assets": {
        "web.assets_backend": [
            "billwerk_connector/static/src/scss/billwerk_account.scss",
        ],
        "web.assets_tests": [
            "billwerk_connector/static/tests/tours/billwerk_account_tour.js",
        ],
    },
    "application": True,
}
