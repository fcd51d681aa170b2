import json

from odoo.tests import HttpCase, tagged

from .common import BillwerkSandboxCase, PostingCase


@tagged("post_install", "-at_install")
class TestAccountTour(BillwerkSandboxCase, HttpCase):
    """The accountant's way through the screens, in Chromium (skipped without it)."""

    def facts(self, key):
        truth = self.sandbox.account(key)
        return {"key": key, "name": truth.name, "invoices": f"{len(truth.invoices):,}"}

    def test_set_key_drill_down_switch_keep_take_back_and_delete(self):
        facts = {"first": self.facts(self.key), "second": self.facts(self.other_key)}
        stored = json.dumps(json.dumps(facts))
        self.start_tour(
            "/odoo",
            "billwerk_account_tour",
            login="admin",
            code=(
                f"sessionStorage.setItem('billwerk_tour', {stored});"
                "odoo.startTour('billwerk_account_tour', {stepDelay: 0});"
            ),
        )
        self.account.invalidate_recordset()
        self.assertEqual(self.account.billwerk_name, facts["second"]["name"])
        self.assertFalse(
            self.env["billwerk.account"]
            .with_context(active_test=False)
            .search([("active", "=", False)]),
            "the first account's data was deleted, the second's taken back",
        )


@tagged("post_install", "-at_install")
class TestMemberTours(PostingCase, HttpCase):
    """A member and an accountant on an account whose invoices are posted."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.account.with_user(cls.manager).write(
            {"post_invoices": True, "post_from": "2000-01-01", "rate_max_age_days": 0}
        )
        cls.posted = cls.env["billwerk.posting"]._post_account(cls.account)

    def start_with_facts(self, tour, login):
        invoice = self.invoices()[:1]
        facts = {
            "name": self.account.billwerk_name,
            "handle": invoice.handle,
            "posted": f"{self.posted.invoices:,}",
        }
        stored = json.dumps(json.dumps(facts))
        self.start_tour(
            "/odoo",
            tour,
            login=login,
            code=(
                f"sessionStorage.setItem('billwerk_member_tour', {stored});"
                f"odoo.startTour('{tour}', {{stepDelay: 0}});"
            ),
        )

    def test_a_billwerk_member_opens_searches_and_reads_the_history(self):
        self.start_with_facts("billwerk_member_tour", self.billwerk_user.login)

    def test_an_accountant_opens_each_figure_of_the_books(self):
        self.assertGreater(self.posted.invoices, 0)
        self.start_with_facts("billwerk_accountant_tour", self.manager.login)
