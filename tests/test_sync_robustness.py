import socket
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest.mock import patch

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import tagged

from ..models.billwerk_account_lock import SyncAlreadyRunning
from ..models.billwerk_sync_run_batch import BillwerkSyncRunBatch
from ..scheduling.budget import TimeBudget
from .common import BillwerkSandboxCase, lock_held_elsewhere


def _closed_port_url():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/v1/"


@contextmanager
def _redirect_loop():
    """A server on 127.0.0.1 that answers every request with a redirect to itself."""
    hits = []

    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(302)
            self.send_header("Location", self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/", hits
    finally:
        server.shutdown()
        server.server_close()


@tagged("post_install", "-at_install")
class TestSwitchWhileARunHoldsTheLock(BillwerkSandboxCase):
    def start_switch(self):
        self.store_key()
        self.sync()
        wizard = self.dialog(self.other_key)
        wizard.action_check_key()
        self.assertEqual(wizard.step, "confirm_switch")
        return wizard

    def assert_nothing_changed(self, billwerk_id, counts):
        self.account.invalidate_recordset()
        self.assertEqual(self.account.billwerk_id, billwerk_id)
        self.assertEqual(self.account._synchronized_counts(), counts)
        self.assertFalse(
            self.env["billwerk.account"]
            .with_context(active_test=False)
            .search([("active", "=", False)])
        )

    def test_switching_or_archiving_while_a_run_holds_the_lock_changes_nothing(self):
        wizard = self.start_switch()
        billwerk_id = self.account.billwerk_id
        counts = self.account._synchronized_counts()
        attempts = {
            "keep": wizard.action_switch_keep_data,
            "delete": wizard.action_switch_delete_data,
            "archive": self.account.with_user(
                self.env.ref("base.user_admin")
            ).action_archive,
        }
        for name, attempt in attempts.items():
            with (
                self.subTest(attempt=name),
                lock_held_elsewhere(self.account),
                self.assertRaisesRegex(SyncAlreadyRunning, "Nothing was changed"),
            ):
                attempt()
            self.assert_nothing_changed(billwerk_id, counts)
        # Once the run is over, the same click switches, data kept apart.
        wizard.action_switch_keep_data()
        self.assertEqual(
            self.account.billwerk_id, self.sandbox.account(self.other_key).id
        )

    def test_saving_a_key_waits_for_the_run_too(self):
        self.store_key()
        with lock_held_elsewhere(self.account), self.assertRaises(SyncAlreadyRunning):
            self.connect(key=self.other_key)
        self.assertEqual(self.account.billwerk_id, self.sandbox.account(self.key).id)


@tagged("post_install", "-at_install")
class TestBadRecords(BillwerkSandboxCase):
    """Data Billwerk documents otherwise: skipped with its reason, never fatal."""

    def setUp(self):
        super().setUp()
        self.connect()

    def customers(self):
        return list(self.sandbox.account(self.key).customers)

    def test_bad_customers_are_skipped_and_the_rest_of_their_page_is_saved(self):
        handles = self.customers()

        def corrupt(answer):
            content = answer["content"]
            content[0]["created"] = "yesterday"
            content[1]["debtor_id"] = 2**40
            content[2]["email"] = {"not": "text"}
            content[3]["phone"] = 4512345678  # a number: kept as text
            content[4]["email"] = "nul\x00byte@example.com"  # refused by PostgreSQL
            del content[5]["handle"]
            content.append(None)
            return answer

        self.sandbox.faults.corrupt_next(corrupt, prefix="list/customer")
        run = self.sync()
        self.assertEqual(run.state, "warning", run.error_message)
        self.assertEqual(run.skipped_count, 6)
        reasons = dict(run.warning_ids.mapped(lambda w: (w.record_key, w.reason)))
        self.assertIn("'created' is not a timestamp", " ".join(reasons.values()))
        self.assertIn("out of range", " ".join(reasons.values()))
        self.assertIn("NUL", " ".join(reasons.values()))
        self.assertEqual(len(run.warning_ids), 6)
        self.assertEqual(self.count("billwerk.customer"), len(handles) - 5)
        self.assertEqual(self.count("billwerk.customer", phone="4512345678"), 1)
        # The next run reads the customers again and heals what Billwerk fixed.
        run = self.sync(mode="reconciliation")
        self.assertEqual(run.state, "done", run.error_message)
        self.assertEqual(self.count("billwerk.customer"), len(handles))

    def test_unknown_states_and_wrong_types_elsewhere(self):
        def corrupt_subscriptions(answer):
            answer["content"][0]["state"] = "cancelled"
            return answer

        def corrupt_invoices(answer):
            answer["content"][0]["amount"] = "1000"
            answer["content"][1]["vat"] = "25%"  # not an invoice field: ignored
            return answer

        def corrupt_plans(answer):
            answer["content"][0]["vat"] = "25%"
            return answer

        self.sandbox.faults.corrupt_next(corrupt_plans, prefix="list/plan")
        run = self.sync()
        self.assertEqual(run.state, "warning")
        self.assertEqual(run.warning_ids.entity, "plan")
        self.sandbox.faults.corrupt_next(
            corrupt_subscriptions, prefix="list/subscription"
        )
        run = self.sync(mode="reconciliation")
        cancelled = self.env["billwerk.subscription"].search(
            [("state", "=", "unknown")]
        )
        self.assertEqual(len(cancelled), 1)
        self.assertEqual(cancelled.state_raw, "cancelled")
        self.sandbox.faults.corrupt_next(corrupt_invoices, prefix="list/invoice")
        run = self.sync(mode="reconciliation")
        self.assertEqual(run.state, "warning")
        self.assertIn("'amount' is not an amount", run.warning_ids.reason)

    def test_events_without_id_are_skipped(self):
        self.sync()
        customer = self.sandbox.create_customer(self.key, email="new@example.com")

        def corrupt(answer):
            answer["content"].insert(0, {"event_type": "invoice_settled"})
            return answer

        self.sandbox.faults.corrupt_next(corrupt, prefix="event")
        run = self.sync()
        self.assertEqual(run.state, "warning", run.error_message)
        self.assertEqual(run.warning_ids.entity, "event")
        self.assertTrue(
            self.env["billwerk.customer"].search([("handle", "=", customer["handle"])])
        )

    def test_a_redirecting_api_url_fails_the_run_in_words(self):
        with _redirect_loop() as (url, hits):
            self.account.api_url = url
            run = self.sync()
        self.assertEqual(run.state, "failed")
        self.assertIn("redirect", run.error_message)
        self.assertEqual(len(hits), 1, "the redirect is never followed")

    def test_an_unexpected_error_ends_the_run_failed_with_words(self):
        with patch.object(
            BillwerkSyncRunBatch,
            "_link_pending_relations",
            side_effect=RuntimeError("a bug"),
        ):
            run = self.sync()
        self.assertEqual(run.state, "failed")
        self.assertIn("unexpected error", run.error_message)
        self.assertTrue(run.ended)
        self.assertEqual(self.sync().state, "done")


@tagged("post_install", "-at_install")
class TestEveryAccountGetsItsTurn(BillwerkSandboxCase):
    def setUp(self):
        super().setUp()
        self.store_key()
        companies = self.env["res.company"].create(
            [{"name": "Broken company"}, {"name": "Healthy company"}]
        )
        self.broken, self.healthy = self.env["billwerk.account"].create(
            [
                {"company_id": company.id, "api_url": self.sandbox.url}
                for company in companies
            ]
        )
        self.store_key(account=self.broken)
        self.store_key(account=self.healthy, key=self.other_key)
        self.broken.api_url = _closed_port_url()

    def last_run(self, account):
        account.invalidate_recordset()
        return account.last_sync_run_id

    def test_a_failing_account_neither_stops_nor_hides_the_others(self):
        with self.assertRaisesRegex(UserError, "failed for: .*") as failure:
            self.env["billwerk.account"]._cron_sync()
        self.assertIn(self.broken.display_name, str(failure.exception))
        self.assertEqual(self.last_run(self.broken).state, "failed")
        self.assertIn("could not be reached", self.broken.last_sync_error)
        for account in (self.account, self.healthy):
            self.assertEqual(self.last_run(account).state, "done")
            self.assertEqual(self.last_run(account).trigger, "cron")

    def test_a_call_over_its_time_budget_hands_the_rest_to_the_next_call(self):
        self.broken.api_url = self.sandbox.url
        cron = self.env.ref("billwerk_connector.cron_billwerk_incremental_sync")
        triggers = self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)])
        runs = self.env["billwerk.sync.run"]
        accounts = self.account | self.broken | self.healthy
        now = fields.Datetime.now()
        # A budget spent from the start: each call runs one account up to
        # its first page boundary, then hands over.
        with patch.object(
            type(self.env["billwerk.account"]),
            "_call_budget",
            lambda _self, _share: TimeBudget(0),
        ):
            for _call in range(3):
                self.env["billwerk.account"]._cron_sync()
        started = runs.search([("trigger", "=", "cron")])
        # One account per call, the longest-waiting first: each got its turn.
        self.assertEqual(started.account_id, accounts)
        # Two pages of invoices on the first key: those first loads stopped at
        # their first page boundary; the other key's lists fit on one page.
        paused = started.filtered(lambda run: run.account_id != self.healthy)
        self.assertEqual(set(paused.mapped("state")), {"queued"})
        self.assertEqual(self.last_run(self.healthy).state, "done")
        # Each call triggered the next one (the paused run, and the accounts
        # not reached, each ask for it).
        self.assertGreaterEqual(
            self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)]),
            triggers + 3,
        )
        # The next call, with time, finishes the same three runs.
        self.env["billwerk.account"].with_context(lastcall=now)._cron_sync()
        self.assertEqual(runs.search([("trigger", "=", "cron")]), started)
        self.assertEqual(set(paused.mapped("state")), {"done"})
        self.assertEqual(set(paused.mapped("calls")), {2})

    def test_a_busy_account_is_passed_over_not_failed(self):
        with lock_held_elsewhere(self.healthy):
            self.broken.api_url = self.sandbox.url
            self.env["billwerk.account"]._cron_sync()
        self.assertFalse(self.last_run(self.healthy))
        self.assertEqual(self.last_run(self.broken).state, "done")
