"""Piped into `odoo-bin shell` by run.sh: connect to the sandbox, sync, register
webhooks, post.

It goes through the same dialog and settings a user would, so the demo shows the
real path. The demo company gets a sales tax per VAT rate of the sandbox account
(the generic chart has only 15 %), as its accountant would set them up, and posts
the last three months of invoices.
"""

import os
from datetime import date, timedelta

accounts = env["billwerk.account"]  # noqa: F821 (given by odoo-bin shell)
account = accounts.browse(accounts.action_open_current_company_account()["res_id"])
account.api_url = os.environ["BILLWERK_DEMO_URL"]
wizard = env["billwerk.set.api.key"].create(  # noqa: F821
    {"account_id": account.id, "api_key": os.environ["BILLWERK_DEMO_KEY"]}
)
wizard.action_check_key()
if wizard.step == "confirm_switch":
    wizard.action_switch_delete_data()
env.cr.commit()  # noqa: F821
run = env["billwerk.sync.run"]._run_for(account, trigger="manual")  # noqa: F821
env.cr.commit()  # noqa: F821
print(
    f"Connected to {account.display_name}: {account.plan_count} plans, "
    f"{account.subscription_count} active subscriptions, {account.customer_count} "
    f"customer contracts, {account.invoice_count} invoices (sync {run.state})."
)

# Webhooks from the sandbox into the Odoo that run.sh starts next: a change made
# in the sandbox (e.g. POST /v1/invoice/<id>/manual_settle) shows in seconds.
odoo_url = os.environ.get("BILLWERK_DEMO_ODOO_URL")
if odoo_url:
    env["ir.config_parameter"].set_param("web.base.url", odoo_url)  # noqa: F821
    account.action_register_webhooks()
    env.cr.commit()  # noqa: F821

if os.environ.get("BILLWERK_DEMO_POSTING", "1") == "1" and not account.post_invoices:
    taxes = env["account.tax"]  # noqa: F821
    company = account.company_id
    for rate in (25.0, 0.0):
        if not taxes.search_count(
            [
                ("company_id", "=", company.id),
                ("type_tax_use", "=", "sale"),
                ("amount", "=", rate),
            ]
        ):
            group = env["account.tax.group"].create(  # noqa: F821
                {"name": f"VAT {rate:g}%", "company_id": company.id}
            )
            taxes.create(
                {
                    "name": f"VAT {rate:g}%",
                    "amount": rate,
                    "type_tax_use": "sale",
                    "tax_group_id": group.id,
                    "company_id": company.id,
                }
            )
    account.write(
        {"post_invoices": True, "post_from": date.today() - timedelta(days=90)}
    )
    result = env["billwerk.posting"]._post_account(account)  # noqa: F821
    env.cr.commit()  # noqa: F821
    print(
        f"Posted {result.invoices} invoices, {result.credit_notes} credit notes and "
        f"{result.payments} payments; {result.waiting} wait."
    )
