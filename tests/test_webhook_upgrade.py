"""The upgrade from 18.0.2.0.0: the migration scripts on a table as 2.0 left it."""

import importlib.util
from pathlib import Path

from odoo.tests import TransactionCase, tagged

from ..models.odoo_compat import unique_constraints

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations" / "18.0.2.1.0"
OLD_URL = "https://odoo.example.com/billwerk/webhook/"
OLD_TOKEN = "Tk0" * 14 + "x"


def migration(name):
    path = MIGRATIONS / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"billwerk_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@tagged("post_install", "-at_install")
class TestWebhookUpgrade(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.account = cls.env["billwerk.account"].create(
            {"company_id": cls.env.company.id, "api_url": "http://127.0.0.1:9/v1/"}
        )

    def column_exists(self, table, column):
        self.env.cr.execute(
            """
            SELECT 1 FROM information_schema.columns
             WHERE table_name = %s AND column_name = %s
            """,
            (table, column),
        )
        return bool(self.env.cr.fetchone())

    def constraint_exists(self, name):
        self.env.cr.execute("SELECT 1 FROM pg_constraint WHERE conname = %s", (name,))
        return bool(self.env.cr.fetchone())

    def test_events_of_2_0_fit_the_constraint_on_the_signed_id(self):
        cr = self.env.cr
        model = self.env["billwerk.webhook.event"]
        new_name = "billwerk_webhook_event_webhook_account_uniq"
        new_definition = unique_constraints(model)[new_name]
        # The table as 18.0.2.0.0 left it: webhook_id optional (and missing on
        # events of before 2.0), unique per event id.
        cr.execute(f"ALTER TABLE billwerk_webhook_event DROP CONSTRAINT {new_name}")
        cr.execute("ALTER TABLE billwerk_webhook_event ALTER webhook_id DROP NOT NULL")
        cr.execute(
            "ALTER TABLE billwerk_webhook_event ADD CONSTRAINT "
            "billwerk_webhook_event_event_account_uniq UNIQUE (account_id, event_id)"
        )
        rows = [
            ("ev-before-2-0", None, "done"),
            # One signed delivery, stored again for each new unsigned event id.
            ("ev-genuine", "wh-replayed", "done"),
            ("ev-forged-1", "wh-replayed", "pending"),
            ("ev-forged-2", "wh-replayed", "pending"),
            ("ev-other", "wh-other", "pending"),
        ]
        for event_id, webhook_id, state in rows:
            cr.execute(
                """
                INSERT INTO billwerk_webhook_event
                       (account_id, company_id, event_id, webhook_id, event_type,
                        state, received)
                VALUES (%s, %s, %s, %s, 'customer_changed', %s, now())
                """,
                (self.account.id, self.env.company.id, event_id, webhook_id, state),
            )

        migration("pre-migrate").migrate(cr, "18.0.2.0.0")
        # What the ORM does next in the upgrade: both must succeed.
        cr.execute("ALTER TABLE billwerk_webhook_event ALTER webhook_id SET NOT NULL")
        cr.execute(
            f"ALTER TABLE billwerk_webhook_event ADD CONSTRAINT {new_name} "
            f"{new_definition}"
        )

        cr.execute(
            """
            SELECT event_id, webhook_id, state FROM billwerk_webhook_event
             WHERE account_id = %s ORDER BY id
            """,
            (self.account.id,),
        )
        self.assertEqual(
            cr.fetchall(),
            [
                ("ev-before-2-0", "ev-before-2-0", "done"),
                ("ev-genuine", "wh-replayed", "done"),
                ("ev-other", "wh-other", "pending"),
            ],
        )
        self.assertFalse(
            self.constraint_exists("billwerk_webhook_event_event_account_uniq")
        )

    def test_a_registered_url_kept_in_clear_is_encrypted_and_its_column_dropped(self):
        cr = self.env.cr
        self.env.flush_all()
        cr.execute(
            "ALTER TABLE billwerk_account ADD COLUMN webhook_url_registered varchar"
        )
        cr.execute(
            "UPDATE billwerk_account SET webhook_url_registered = %s WHERE id = %s",
            (OLD_URL + OLD_TOKEN, self.account.id),
        )

        migration("post-migrate").migrate(cr, "18.0.2.0.0")

        self.assertFalse(
            self.column_exists("billwerk_account", "webhook_url_registered")
        )
        cr.execute(
            "SELECT row_to_json(a)::text FROM billwerk_account a WHERE id = %s",
            (self.account.id,),
        )
        self.assertNotIn(OLD_TOKEN, cr.fetchone()[0])
        self.env.invalidate_all()
        self.assertEqual(self.account._registered_webhook_url(), OLD_URL + OLD_TOKEN)
