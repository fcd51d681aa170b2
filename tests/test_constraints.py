"""The exactly-once guarantees stand on unique constraints in the database.

Odoo 19 ignores ``_sql_constraints`` (it logs a warning and creates nothing),
so the addon declares them through ``models/odoo_compat.py``: 19's
``models.Constraint`` where it exists, an ``_sql_constraints`` row on 18. The
test names every constraint by its database name, on either series the same:
an ignored declaration would leave one missing here.
"""

from psycopg2.errors import UniqueViolation

from odoo.tests import TransactionCase, tagged
from odoo.tools import mute_logger

from ..models.odoo_compat import unique_constraints

# table -> {database name: definition}
EXPECTED = {
    "billwerk_plan": {
        "billwerk_plan_handle_account_uniq": "unique(account_id, handle)"
    },
    "billwerk_customer": {
        "billwerk_customer_handle_account_uniq": "unique(account_id, handle)"
    },
    "billwerk_subscription": {
        "billwerk_subscription_handle_account_uniq": "unique(account_id, handle)"
    },
    "billwerk_invoice": {
        "billwerk_invoice_billwerk_id_account_uniq": "unique(account_id, billwerk_id)",
        "billwerk_invoice_move_uniq": "unique(move_id)",
    },
    "billwerk_credit_note": {
        "billwerk_credit_note_billwerk_id_account_uniq": (
            "unique(account_id, billwerk_id)"
        ),
        "billwerk_credit_note_move_uniq": "unique(move_id)",
    },
    "billwerk_transaction": {
        "billwerk_transaction_billwerk_id_account_uniq": (
            "unique(account_id, billwerk_id)"
        ),
        "billwerk_transaction_payment_uniq": "unique(payment_id)",
    },
    "billwerk_sync_cursor": {
        "billwerk_sync_cursor_cursor_uniq": "unique(account_id, entity, range_name)"
    },
    "billwerk_revenue_share": {
        "billwerk_revenue_share_share_once": "unique(source_line_id, month, key)"
    },
    "billwerk_mrr": {
        "billwerk_mrr_mrr_uniq": "unique(account_id, month, customer_id, currency_id)"
    },
    "billwerk_payment_journal": {
        "billwerk_payment_journal_payment_type_uniq": "unique(account_id, payment_type)"
    },
    "billwerk_line_product": {
        "billwerk_line_product_origin_uniq": "unique(account_id, origin)"
    },
    "billwerk_webhook_event": {
        "billwerk_webhook_event_webhook_account_uniq": "unique(account_id, webhook_id)"
    },
    "account_move": {
        "account_move_billwerk_document_uniq": (
            "unique(billwerk_account, billwerk_document)"
        )
    },
    "account_payment": {
        "account_payment_billwerk_document_uniq": (
            "unique(billwerk_account, billwerk_document)"
        )
    },
}


@tagged("post_install", "-at_install")
class TestUniqueConstraints(TransactionCase):
    def test_every_unique_constraint_exists_in_the_database(self):
        self.assertEqual(sum(len(names) for names in EXPECTED.values()), 17)
        self.env.cr.execute(
            """
            SELECT rel.relname, con.conname
              FROM pg_constraint con
              JOIN pg_class rel ON rel.oid = con.conrelid
             WHERE con.contype = 'u' AND rel.relname IN %s
            """,
            (tuple(EXPECTED),),
        )
        found = {}
        for table, name in self.env.cr.fetchall():
            found.setdefault(table, set()).add(name)
        missing = {
            table: sorted(set(names) - found.get(table, set()))
            for table, names in EXPECTED.items()
            if set(names) - found.get(table, set())
        }
        self.assertEqual(missing, {})

    def test_the_models_declare_exactly_these_constraints(self):
        declared = {}
        for model in self.env.registry.values():
            if model._abstract or model._table not in EXPECTED:
                continue
            names = {
                name: definition
                for name, definition in unique_constraints(
                    self.env[model._name]
                ).items()
                if name in EXPECTED[model._table] or model._name.startswith("billwerk.")
            }
            if names:
                declared[model._table] = names
        self.assertEqual(declared, EXPECTED)

    def test_a_duplicate_is_refused_by_the_database(self):
        account = self.env["billwerk.account"].create(
            {"company_id": self.env.company.id, "api_url": "http://127.0.0.1:9/v1/"}
        )
        plans = self.env["billwerk.plan"].sudo()
        values = {"account_id": account.id, "handle": "plan-twice", "name": "Twice"}
        plans.create(values)
        with (
            self.assertRaises(UniqueViolation) as refused,
            mute_logger("odoo.sql_db"),
            self.env.cr.savepoint(),
        ):
            plans.create(values)
            plans.flush_model()
        self.assertEqual(
            refused.exception.diag.constraint_name, "billwerk_plan_handle_account_uniq"
        )
