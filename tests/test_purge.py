from odoo.tests import tagged

from .common import BillwerkSandboxCase

BULK_CUSTOMERS = 25_000
BULK_SUBSCRIPTIONS = 25_000
BULK_INVOICES = 50_000


@tagged("post_install", "-at_install")
class TestPurge(BillwerkSandboxCase):
    # The other company holds a third Billwerk account: one account, one company.
    sandbox_options = {**BillwerkSandboxCase.sandbox_options, "accounts": 3}

    def bulk_insert(self, account):
        """100,000 copied records in SQL: the ORM would take minutes to make them."""
        params = {
            "account": account.id,
            "company": account.company_id.id,
            "uid": self.env.uid,
        }
        cr = self.env.cr
        cr.execute(
            """
            INSERT INTO billwerk_customer (account_id, company_id, handle, name,
                active, create_uid, write_uid, create_date, write_date)
            SELECT %(account)s, %(company)s, 'bulk-c-' || n, 'Bulk ' || n, true,
                   %(uid)s, %(uid)s, now(), now()
              FROM generate_series(1, %(count)s) AS n
            """,
            dict(params, count=BULK_CUSTOMERS),
        )
        cr.execute(
            """
            INSERT INTO billwerk_subscription (account_id, company_id, handle,
                customer_id, state, active, create_uid, write_uid, create_date,
                write_date)
            SELECT %(account)s, %(company)s, 'bulk-s-' || c.handle, c.id, 'active',
                   true, %(uid)s, %(uid)s, now(), now()
              FROM billwerk_customer c
             WHERE c.account_id = %(account)s AND c.handle LIKE 'bulk-c-%%'
            """,
            params,
        )
        cr.execute(
            """
            INSERT INTO billwerk_invoice (account_id, company_id, billwerk_id,
                subscription_id, customer_id, state, active, create_uid, write_uid,
                create_date, write_date)
            SELECT %(account)s, %(company)s, 'bulk-i-' || s.id || '-' || n,
                   s.id, s.customer_id, 'settled', true, %(uid)s, %(uid)s, now(), now()
              FROM billwerk_subscription s, generate_series(1, 2) AS n
             WHERE s.account_id = %(account)s AND s.handle LIKE 'bulk-s-%%'
            """,
            params,
        )
        self.env.invalidate_all()

    def test_purge_of_a_100000_record_account_leaves_other_companies_alone(self):
        other_company = self.env["res.company"].create({"name": "Other company"})
        other = self.env["billwerk.account"].create(
            {"company_id": other_company.id, "api_url": self.sandbox.url}
        )
        self.connect(account=other, key=self.sandbox.keys[2])
        self.sync(other)
        other_counts = other._synchronized_counts()
        self.assertTrue(all(other_counts.values()))

        self.connect()
        self.sync()
        self.bulk_insert(self.account)
        total = sum(self.account._synchronized_counts().values())
        self.assertGreaterEqual(total, 100_000)

        wizard = self.env["billwerk.set.api.key"].create(
            {"account_id": self.account.id, "api_key": self.other_key}
        )
        wizard.action_check_key()
        # The screen's figure (active customers), with its thousands separator.
        self.assertIn(
            f"{self.account.customer_count:,} customer contracts",
            wizard.synchronized_summary,
        )
        self.assertGreater(self.account.customer_count, BULK_CUSTOMERS)
        wizard.action_switch_delete_data()

        self.assertEqual(sum(self.account._synchronized_counts().values()), 0)
        self.env.cr.execute(
            "SELECT count(*) FROM billwerk_invoice WHERE account_id = %s",
            (self.account.id,),
        )
        self.assertEqual(self.env.cr.fetchone()[0], 0)
        self.assertEqual(other._synchronized_counts(), other_counts)
