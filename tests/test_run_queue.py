"""Runs as production Odoo runs them: queued by buttons, worked on by the
scheduled action in calls that each fit a worker's time limit, cancellable.

Time is replaced by a count of page or batch boundaries (``StepBudget``): no
test depends on how fast this machine is.
"""

from contextlib import contextmanager
from unittest.mock import patch

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged

from ..scheduling.budget import OutOfTime, TimeBudget
from .common import PostingCase

SYNCED = ("billwerk.plan", "billwerk.customer", "billwerk.subscription")


class StepBudget(TimeBudget):
    """A scheduled call with time for ``steps`` page or batch boundaries."""

    def __init__(self, steps, at_step=None):
        super().__init__(seconds=float("inf"))
        self.steps = steps
        self.at_step = at_step or {}
        self.taken = 0

    def spent(self):
        return self.taken >= self.steps

    def check(self):
        self.taken += 1
        if self.taken in self.at_step:
            self.at_step[self.taken]()
        if self.spent():
            raise OutOfTime()


@tagged("post_install", "-at_install")
class TestRunsInSlices(PostingCase):
    # Several pages of each list (100 a page) and several posting batches.
    sandbox_options = {
        "customers": 120,
        "plans": 4,
        "invoices": 250,
        "accounts": [{}, {}, {"state": "live"}],
    }

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.scheduler = cls.env["billwerk.account"]
        cls.runs = cls.env["billwerk.sync.run"]

    @contextmanager
    def calls_with(self, steps):
        """Scheduled calls that each have time for ``steps`` boundaries."""
        with patch.object(
            type(self.scheduler), "_call_budget", lambda _s, _share: StepBudget(steps)
        ):
            yield

    def run_queue_dry(self, steps, max_calls=200):
        """Scheduled calls until nothing is queued; returns how many it took.

        As the scheduler passes it, the first call's start is the last call:
        accounts synced since then are not due again.
        """
        scheduler = self.scheduler.with_context(lastcall=fields.Datetime.now())
        with self.calls_with(steps):
            for call in range(1, max_calls + 1):
                scheduler._cron_sync()
                if not self.runs.search_count([("state", "in", ("queued", "running"))]):
                    return call
        self.fail(f"still queued after {max_calls} scheduled calls")

    def new_account(self, name):
        company = self.env["res.company"].create({"name": name})
        account = self.env["billwerk.account"].create(
            {"company_id": company.id, "api_url": self.sandbox.url}
        )
        # The class's Billwerk account, read into another company (stored
        # directly: the dialog gives one Billwerk account to one company).
        self.store_key(account, self.key)
        self.manager.company_ids |= company
        return account

    def copies(self, account):
        """What a user would compare: every record's key and content."""
        copies = {}
        for model in (*SYNCED, "billwerk.invoice"):
            key = "billwerk_id" if model == "billwerk.invoice" else "handle"
            records = (
                self.env[model]
                .with_context(active_test=False)
                .search([("account_id", "=", account.id)])
            )
            copies[model] = sorted(records.mapped(lambda r, k=key: (r[k], r.sync_hash)))
        return copies

    def test_sync_now_queues_one_run_and_answers_at_once(self):
        account = self.new_account("Queued")
        self.sandbox.clear_log()
        action = account.with_user(self.manager).action_sync_now()
        self.assertEqual(action["tag"], "display_notification")
        self.assertIn("Queued", action["params"]["message"])
        self.assertEqual(self.sandbox.count("/v1/"), 0, "Billwerk is not read here")
        run = self.runs.search([("account_id", "=", account.id)])
        self.assertEqual((run.state, run.mode, run.calls), ("queued", "first_load", 0))
        self.assertIn("Queued", run.progress_text)
        # A second click, or another user's, queues nothing more.
        again = account.with_user(self.manager).action_sync_now()
        self.assertIn("Queued", again["params"]["message"])
        self.assertEqual(self.runs.search([("account_id", "=", account.id)]), run)
        cron = self.env.ref("billwerk_connector.cron_billwerk_incremental_sync")
        self.assertTrue(
            self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)]),
            "the scheduled action was triggered",
        )

    def test_another_kind_of_run_is_refused_while_one_is_queued(self):
        account = self.new_account("Busy")
        account.action_sync_now()
        with self.assertRaisesRegex(UserError, "Nothing was queued"):
            account.with_user(self.manager).action_reconcile_now()
        self.assertEqual(self.runs.search_count([("account_id", "=", account.id)]), 1)

    def test_a_first_load_in_slices_ends_like_one_in_one_go(self):
        reference = self.new_account("In one go")
        first = self.sync(reference)
        self.assertEqual(first.state, "done")

        account = self.new_account("In slices")
        account.action_sync_now()
        # A page a call: 120 customers, 180 subscriptions and 250 invoices.
        calls = self.run_queue_dry(steps=1)
        run = self.runs.search([("account_id", "=", account.id)])
        self.assertEqual(len(run), 1, "one run, however many calls")
        self.assertEqual(run.state, "done", run.error_message)
        self.assertEqual(run.calls, calls)
        self.assertGreaterEqual(run.calls, 5)
        self.assertEqual(run.interruptions, 0)
        self.assertEqual(self.copies(account), self.copies(reference))
        self.assertEqual(
            {line.entity: line.created_count for line in run.line_ids},
            {line.entity: line.created_count for line in first.line_ids},
        )
        # Each call reads the short plan list again.
        plans = self.count("billwerk.plan", account)
        self.assertGreaterEqual(
            run.records_read, first.records_read + plans * (calls - 1)
        )
        self.assertEqual(run.progress_percent, 100.0)

    def test_a_paused_run_shows_where_it_stands(self):
        account = self.new_account("Paused")
        account.action_sync_now()
        # Time for the first page of customers, not for the second.
        run = self.runs._run_for(account, trigger="cron", budget=StepBudget(1))
        self.assertEqual(self.runs.search([("account_id", "=", account.id)]), run)
        self.assertEqual((run.state, run.calls), ("queued", 1))
        self.assertIn("next scheduled call", run.progress_text)
        self.assertEqual(run.reading_list, "customer")
        self.assertGreater(run.records_read, 0)
        self.assertTrue(0 < run.read_progress < 1, run.read_progress)
        saved = account.cursor_ids.filtered("page_token")
        self.assertEqual(saved.entity, "customer", "the page reached is saved")
        # The next call goes on reading on the same clock (posting is off:
        # no posting step), into the subscriptions.
        started = run.step_started
        self.runs._run_for(account, trigger="cron", budget=StepBudget(1))
        self.assertEqual((run.calls, run.progress_step), (2, "reading"))
        self.assertEqual(run.step_started, started)
        self.assertEqual(run.reading_list, "subscription")

    def test_a_running_first_load_names_its_list_its_share_and_time_left(self):
        run = self.runs.create(
            {
                "account_id": self.new_account("Running").id,
                "trigger": "cron",
                "mode": "first_load",
                "state": "running",
                "progress_step": "reading",
                "reading_list": "invoice",
                "records_read": 1500,
                "read_progress": 0.5,
                "step_started": fields.Datetime.subtract(
                    fields.Datetime.now(), seconds=90
                ),
            }
        )
        self.assertEqual(run.progress_percent, 50.0)
        self.assertEqual(
            run.progress_text,
            "Reading Billwerk: 1,500 records so far, now Invoices. About 2 min left.",
        )

    def test_a_posting_backlog_in_slices_posts_each_document_once(self):
        self.switch_posting_on()
        due = self.env["billwerk.posting"].sudo()._count_due(self.account)
        self.assertGreater(due, 200)
        self.account.with_user(self.manager).action_post_now()
        run = self.runs.search([("account_id", "=", self.account.id)], limit=1)
        with self.calls_with(steps=1):
            self.scheduler._cron_sync()
        # Known from the first call on: the payments and credit notes of the
        # invoices still to post are counted with them.
        total, started = run.documents_due, run.step_started
        self.assertEqual(run.progress_step, "posting")
        calls = 1 + self.run_queue_dry(steps=1)
        self.assertEqual((run.mode, run.state), ("posting", "done"), run.error_message)
        self.assertEqual(run.calls, calls)
        self.assertGreater(calls, 3)
        posted = self.invoices().filtered("move_id")
        self.assertEqual(run.posted_invoice_count, len(posted))
        self.assertEqual(len(posted.move_id), len(posted), "one entry per invoice")
        for invoice in posted:
            self.assert_exact(invoice)
        self.assertEqual(
            self.env["billwerk.posting"].sudo()._count_due(self.account), 0
        )
        self.assertEqual(run.documents_due, run.posted_count + run.refused_count)
        self.assertEqual(run.documents_due, total)
        self.assertEqual(run.step_started, started, "one clock across the calls")

    def test_cancel_a_running_run_stops_it_at_the_next_page(self):
        account = self.new_account("Cancelled")
        account.action_sync_now()
        run = self.runs.search([("account_id", "=", account.id)])
        member = new_test_user(
            self.env,
            login="billwerk_canceller",
            groups="base.group_user,billwerk_connector.group_billwerk_account",
            company_ids=[account.company_id.id, self.env.company.id],
        )

        def click_cancel():
            run.with_user(member).action_cancel()

        budget = StepBudget(100, at_step={2: click_cancel})
        self.assertEqual(self.runs._run_for(account, "cron", budget=budget), run)
        self.assertEqual(run.state, "cancelled")
        self.assertIn(member.name, run.error_message)
        self.assertIn("saved stays", run.error_message)
        read = run.records_read
        self.assertGreater(read, 0)
        # The next run goes on from the saved page, and ends exactly.
        reference = self.new_account("Reference")
        self.sync(reference)
        following = self.sync(account)
        self.assertEqual(following.state, "done")
        self.assertLess(following.records_read, reference.last_sync_run_id.records_read)
        self.assertEqual(self.copies(account), self.copies(reference))

    def test_cancel_a_queued_run_at_once_and_only_an_active_one(self):
        account = self.new_account("Queued, then cancelled")
        account.action_sync_now()
        run = self.runs.search([("account_id", "=", account.id)])
        run.with_user(self.manager).action_cancel()
        self.assertEqual(run.state, "cancelled")
        self.assertIn(self.manager.name, run.error_message)
        with self.assertRaisesRegex(UserError, "has ended"):
            run.with_user(self.manager).action_cancel()
        # Its place in the queue is free again.
        account.action_sync_now()
        self.assertEqual(self.runs.search_count([("account_id", "=", account.id)]), 2)

    def test_only_members_of_the_account_company_queue_or_cancel(self):
        account = self.new_account("Elsewhere")
        outsider = self.accountant_of(self.env.company, "billwerk_outsider")
        with self.assertRaises(AccessError):
            account.with_user(outsider).action_sync_now()
        account.action_sync_now()
        run = self.runs.search([("account_id", "=", account.id)])
        with self.assertRaises(AccessError):
            run.with_user(outsider).action_cancel()
        self.assertEqual(run.state, "queued")

    def test_the_webhook_action_leaves_a_queued_first_load_to_the_sync_action(self):
        account = self.new_account("Webhooks wait")
        account.action_sync_now()
        run = self.runs.search([("account_id", "=", account.id)])
        self.env["billwerk.webhook.event"].sudo().create(
            {
                "account_id": account.id,
                "event_id": "evt-queued-1",
                "webhook_id": "whk-queued-1",
                "event_type": "customer_changed",
                "customer": "cust-00001",
            }
        )
        self.scheduler._cron_process_webhooks()
        self.assertEqual((run.state, run.calls), ("queued", 0))
        self.assertEqual(self.runs.search_count([("account_id", "=", account.id)]), 1)
