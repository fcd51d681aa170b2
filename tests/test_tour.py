import json
from unittest.mock import patch

from odoo.tests import HttpCase, tagged

from ..scheduling.budget import OutOfTime, TimeBudget
from .common import BillwerkSandboxCase, PostingCase


class OnePagePerCall(TimeBudget):
    """Each scheduled call has time for one page (no test depends on timing)."""

    def __init__(self):
        super().__init__(seconds=float("inf"))

    def check(self):
        raise OutOfTime()


@tagged("post_install", "-at_install")
class TestAccountTour(BillwerkSandboxCase, HttpCase):
    """The accountant's way through the screens, in Chromium (skipped without it)."""

    def facts(self, key):
        truth = self.sandbox.account(key)
        return {"key": key, "name": truth.name, "invoices": f"{len(truth.invoices):,}"}

    def test_set_key_drill_down_switch_keep_take_back_and_delete(self):
        facts = {
            "first": self.facts(self.key),
            "second": self.facts(self.other_key),
            "cron": self.env.ref(
                "billwerk_connector.cron_billwerk_incremental_sync"
            ).id,
        }
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
class TestProgressTour(BillwerkSandboxCase, HttpCase):
    """Sync now queues; the screen follows the run's calls through the bus."""

    # Three pages of invoices: the run pauses twice.
    sandbox_options = {"customers": 40, "plans": 4, "invoices": 260}

    def test_the_progress_bar_moves_and_the_summary_follows(self):
        self.store_key()
        truth = self.sandbox.account(self.key)
        facts = {
            "cron": self.env.ref(
                "billwerk_connector.cron_billwerk_incremental_sync"
            ).id,
            "invoices": f"{len(truth.invoices):,}",
        }
        stored = json.dumps(json.dumps(facts))
        with patch.object(
            type(self.env["billwerk.account"]),
            "_call_budget",
            lambda _self, _share: OnePagePerCall(),
        ):
            self.start_tour(
                f"/odoo/billwerk.account/{self.account.id}",
                "billwerk_progress_tour",
                login="admin",
                code=(
                    f"sessionStorage.setItem('billwerk_progress_tour', {stored});"
                    "odoo.startTour('billwerk_progress_tour', {stepDelay: 0});"
                ),
            )
        runs = self.env["billwerk.sync.run"]
        run = runs.search([("account_id", "=", self.account.id)])
        self.assertEqual(len(run), 1)
        self.assertEqual((run.state, run.calls), ("done", 3))


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
