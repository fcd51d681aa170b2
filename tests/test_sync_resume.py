from odoo.tests import tagged

from .common import BillwerkSandboxCase

ENTITY_MODELS = {
    "billwerk.plan": ("handle", "plan_id"),
    "billwerk.customer": ("handle", "partner_id"),
    "billwerk.subscription": ("handle", "customer_id"),
    "billwerk.invoice": ("billwerk_id", "subscription_id"),
}


@tagged("post_install", "-at_install")
class TestInterruptedLoad(BillwerkSandboxCase):
    sandbox_options = {"customers": 500, "subscriptions": 700, "invoices": 1500}

    def make_account(self, name):
        company = self.env["res.company"].create({"name": name})
        account = self.env["billwerk.account"].create(
            {"company_id": company.id, "api_url": self.sandbox.url}
        )
        # Both companies read one Billwerk account, which the dialog refuses
        # since 18.0.2.1.0 (one account feeds one company's books): the key is
        # stored directly, posting stays off.
        self.store_key(account=account)
        return account

    def snapshot(self, account):
        """What a user would compare: every record's key, content and links."""
        state = {}
        for model, (key_field, relation) in ENTITY_MODELS.items():
            records = (
                self.env[model]
                .with_context(active_test=False)
                .search([("account_id", "=", account.id)])
            )
            state[model] = sorted(
                (
                    record[key_field],
                    record.sync_hash,
                    record.active,
                    record[relation].display_name if relation != "plan_id" else "",
                )
                for record in records
            )
        return state

    def test_faults_mid_load_then_resume_end_like_an_uninterrupted_load(self):
        reference = self.make_account("Uninterrupted")
        self.assertEqual(self.sync(reference).state, "done")

        account = self.make_account("Interrupted")
        self.sandbox.clear_log()
        # A dropped connection that outlives the retries, 4 pages into invoices.
        self.sandbox.faults.drop_next(count=10, after=4, prefix="list/invoice")
        first = self.sync(account)
        self.assertEqual(first.state, "failed")
        self.assertIn("could not be reached", first.error_message)
        cursor = account.cursor_ids.filtered(lambda c: c.entity == "invoice")
        self.assertTrue(cursor.page_token, "the page token of page 5 was kept")
        self.assertEqual(self.count("billwerk.invoice", account), 400)

        # Then a burst of 5xx two pages later.
        self.sandbox.faults.reset()
        self.sandbox.faults.fail_next(
            count=10, status=503, after=2, prefix="list/invoice"
        )
        second = self.sync(account)
        self.assertEqual(second.state, "failed")
        self.assertIn("server error", second.error_message)
        self.assertEqual(self.count("billwerk.invoice", account), 600)

        # And a 429 storm the client rides out.
        self.sandbox.faults.reset()
        self.sandbox.faults.rate_limit_every(2, prefix="list/")
        third = self.sync(account)
        self.assertEqual(third.state, "done", third.error_message)

        self.assertEqual(self.snapshot(account), self.snapshot(reference))
        # Resumed, never restarted: 15 invoice pages, plus the 4 failed tries
        # of each fault, plus the retried 429s of the last run.
        invoice_pages = self.sandbox.count("/v1/list/invoice")
        self.assertLess(invoice_pages, 15 + 8 + 15)

    def test_two_companies_never_see_each_others_records(self):
        first = self.make_account("Company A")
        second_company = self.env["res.company"].create({"name": "Company B"})
        second = self.env["billwerk.account"].create(
            {"company_id": second_company.id, "api_url": self.sandbox.url}
        )
        self.connect(account=second, key=self.other_key)
        self.sync(first)
        self.sync(second)
        user_a = self.billwerk_user.copy(
            {
                "login": "accountant_a",
                "company_id": first.company_id.id,
                "company_ids": [(6, 0, first.company_id.ids)],
            }
        )
        for model in ENTITY_MODELS:
            visible = self.env[model].with_user(user_a).search([])
            self.assertTrue(visible, model)
            self.assertEqual(visible.account_id, first, model)
        accounts = self.env["billwerk.account"].with_user(user_a).search([])
        self.assertEqual(accounts, first)
