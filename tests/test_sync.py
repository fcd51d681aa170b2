import copy
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from urllib.parse import parse_qs

from odoo.tests import tagged

from ..mapping.money import minor_to_amount
from ..models.billwerk_account_lock import SyncAlreadyRunning
from .common import BillwerkSandboxCase, lock_held_elsewhere

SYNCED_TABLES = ("billwerk_plan", "billwerk_customer", "billwerk_subscription")


@tagged("post_install", "-at_install")
class TestSync(BillwerkSandboxCase):
    """One first load of a realistic account, shared by the class's tests."""

    sandbox_options = {
        "customers": 2000,
        "subscriptions": 3000,
        "invoices": 10000,
        "plans": 8,
    }

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Not through the dialog: its lock would last the whole class and
        # the lock test needs another connection to take it.
        cls.store_key()
        cls.first_run = cls.env["billwerk.sync.run"]._run_for(
            cls.account, trigger="manual"
        )
        # What Billwerk held at the first load; tests change the sandbox later.
        account = cls.sandbox.account(cls.key)
        cls.truth = SimpleNamespace(
            **{
                name: copy.deepcopy(getattr(account, name))
                for name in ("plans", "customers", "subscriptions", "invoices")
            }
        )

    def row_versions(self):
        """Every row's physical version: any UPDATE or INSERT changes it."""
        self.env.flush_all()
        versions = {}
        for table in (*SYNCED_TABLES, "billwerk_invoice"):
            self.env.cr.execute(
                f"SELECT id, ctid::text FROM {table} WHERE account_id = %s",
                (self.account.id,),
            )
            versions[table] = dict(self.env.cr.fetchall())
        return versions

    def test_first_load_copies_every_object_once(self):
        self.assertEqual(self.first_run.state, "done", self.first_run.error_message)
        expected = {
            "billwerk.plan": len(self.truth.plans),
            "billwerk.customer": len(self.truth.customers),
            "billwerk.subscription": len(self.truth.subscriptions),
            "billwerk.invoice": len(self.truth.invoices),
        }
        self.assertGreaterEqual(expected["billwerk.invoice"], 10000)
        for model, count in expected.items():
            self.assertEqual(self.count(model), count, model)
        created = {line.entity: line.created_count for line in self.first_run.line_ids}
        self.assertEqual(created["invoice"], expected["billwerk.invoice"])

    def test_screen_figures_count_what_a_user_expects(self):
        active_subscriptions = sum(
            1 for s in self.truth.subscriptions.values() if s["state"] == "active"
        )
        self.assertEqual(self.account.subscription_count, active_subscriptions)
        self.assertEqual(
            self.account.customer_count,
            sum(1 for c in self.truth.customers.values() if not c["deleted"]),
        )
        self.assertEqual(self.account.invoice_count, len(self.truth.invoices))
        self.assertEqual(
            self.account.plan_count,
            sum(1 for p in self.truth.plans.values() if p["state"] != "deleted"),
        )
        self.assertEqual(self.account.last_sync_state, "done")

    def test_relations_amounts_and_currencies_are_right(self):
        invoices = (
            self.env["billwerk.invoice"]
            .with_context(active_test=False)
            .search([("account_id", "=", self.account.id)])
        )
        currencies = set()
        for invoice in invoices:
            truth = self.truth.invoices[invoice.billwerk_id]
            currencies.add(truth["currency"])
            self.assertEqual(invoice.currency_id.name, truth["currency"])
            self.assertAlmostEqual(
                invoice.amount, minor_to_amount(truth["amount"], truth["currency"])
            )
            self.assertEqual(invoice.customer_id.handle, truth["customer"])
            self.assertEqual(
                invoice.subscription_id.handle or None, truth["subscription"]
            )
            self.assertEqual(invoice.state, truth["state"])
        self.assertIn("JPY", currencies, "a zero-decimal currency is exercised")
        # Amounts show their currency's symbol and decimals only if it is active.
        self.assertTrue(all(invoices.currency_id.mapped("active")))
        subscriptions = (
            self.env["billwerk.subscription"]
            .with_context(active_test=False)
            .search([("account_id", "=", self.account.id)])
        )
        for subscription in subscriptions:
            truth = self.truth.subscriptions[subscription.handle]
            self.assertEqual(subscription.customer_id.handle, truth["customer"])
            self.assertEqual(subscription.plan_id.handle, truth["plan"])
            self.assertEqual(subscription.active, truth["state"] != "expired")

    def test_a_run_without_changes_writes_nothing(self):
        self.sync()  # absorbs what other tests changed in the shared sandbox
        before = self.row_versions()
        self.sandbox.clear_log()
        run = self.sync()
        self.assertEqual(run.state, "done")
        self.assertEqual(self.row_versions(), before)
        self.assertEqual(run.created_count + run.updated_count + run.archived_count, 0)
        # Lists other than plans are read only over the last minutes.
        yesterday = datetime.now() - timedelta(days=1)
        for _method, path, query in self.sandbox.request_log:
            if path.startswith("/v1/list/") and path != "/v1/list/plan":
                date_from = parse_qs(query)["from"][0]
                self.assertGreater(datetime.fromisoformat(date_from), yesterday, path)

    def test_created_changed_and_deleted_objects_show_up_after_one_run(self):
        self.sync()
        key = self.key
        customer = self.sandbox.create_customer(key, email="new@example.com")
        plan = next(iter(self.truth.plans))
        subscription = self.sandbox.create_subscription(key, customer["handle"], plan)
        changed = "cust-00002"
        self.sandbox.update_customer(key, changed, email="changed@example.com")
        deleted = "cust-00003"
        self.sandbox.delete_customer(key, deleted)
        active = next(
            s["handle"]
            for s in self.truth.subscriptions.values()
            if s["state"] == "active"
        )
        self.sandbox.expire_subscription(key, active)
        cancelled = next(
            i["id"] for i in self.truth.invoices.values() if i["state"] == "pending"
        )
        self.sandbox.cancel_invoice(key, cancelled)
        active_before = self.account.subscription_count

        run = self.sync()

        self.assertEqual(run.state, "done", run.error_message)
        customers = self.env["billwerk.customer"].with_context(active_test=False)
        new = customers.search([("handle", "=", customer["handle"])])
        self.assertEqual(new.email, "new@example.com")
        new_subscription = self.env["billwerk.subscription"].search(
            [("handle", "=", subscription["handle"])]
        )
        self.assertEqual(new_subscription.customer_id, new)
        self.assertEqual(
            customers.search([("handle", "=", changed)]).email, "changed@example.com"
        )
        self.assertFalse(customers.search([("handle", "=", deleted)]).active)
        expired = (
            self.env["billwerk.subscription"]
            .with_context(active_test=False)
            .search([("handle", "=", active)])
        )
        self.assertEqual(expired.state, "expired")
        self.assertFalse(expired.active)
        invoice = self.env["billwerk.invoice"].search([("billwerk_id", "=", cancelled)])
        self.assertEqual(invoice.state, "cancelled")
        self.account.invalidate_recordset()
        self.assertEqual(
            self.account.subscription_count, active_before + 1 - 1
        )  # one new (active), one expired

    def test_a_second_run_is_refused_while_one_holds_the_lock(self):
        runs = self.env["billwerk.sync.run"].search_count([])
        with (
            lock_held_elsewhere(self.account),
            self.assertRaisesRegex(SyncAlreadyRunning, "is running"),
        ):
            self.sync()
        self.assertEqual(self.env["billwerk.sync.run"].search_count([]), runs)
        self.assertEqual(self.sync().state, "done")

    def test_a_run_left_running_by_a_dead_worker_goes_on_as_the_same_run(self):
        stale = self.env["billwerk.sync.run"].create(
            {"account_id": self.account.id, "trigger": "cron"}
        )
        runs = self.env["billwerk.sync.run"].search_count([])
        self.assertEqual(self.sync(), stale)
        self.assertEqual((stale.state, stale.interruptions), ("done", 1))
        self.assertEqual(self.env["billwerk.sync.run"].search_count([]), runs)

    def test_a_run_whose_worker_died_three_times_is_given_up_in_words(self):
        stale = self.env["billwerk.sync.run"].create(
            {"account_id": self.account.id, "trigger": "cron", "interruptions": 2}
        )
        run = self.sync()
        self.assertNotEqual(run, stale)
        self.assertEqual(run.state, "done")
        self.assertEqual(stale.state, "failed")
        self.assertIn("Interrupted 3 times", stale.error_message)

    def test_a_rejected_key_mid_run_keeps_the_data_and_flags_the_account(self):
        customers = self.count("billwerk.customer")
        invoices = self.count("billwerk.invoice")
        self.sandbox.faults.fail_next(count=1, status=401, prefix="list/customer")
        run = self.sync()
        self.assertEqual(run.state, "failed")
        self.assertEqual(self.account.connection_state, "error")
        self.assertIn("rejected", self.account.connection_error)
        self.assertNotIn(self.key, self.account.connection_error + run.error_message)
        self.assertEqual(self.count("billwerk.customer"), customers)
        self.assertEqual(self.count("billwerk.invoice"), invoices)
        # The scheduled action leaves it alone until a new key is set.
        runs = self.env["billwerk.sync.run"].search_count([])
        self.env["billwerk.account"]._cron_sync()
        self.assertEqual(self.env["billwerk.sync.run"].search_count([]), runs)
        self.connect()
        self.assertEqual(self.account.connection_state, "connected")

    def test_reconciliation_archives_what_billwerk_no_longer_has(self):
        plan = next(iter(self.truth.plans))
        customer = "cust-00010"
        self.sandbox.hard_delete(self.key, "customer", customer)
        gone_invoice = next(iter(self.truth.invoices))
        self.sandbox.hard_delete(self.key, "invoice", gone_invoice)
        run = self.sync(mode="reconciliation")
        self.assertEqual(run.state, "done", run.error_message)
        archived = (
            self.env["billwerk.customer"]
            .with_context(active_test=False)
            .search([("handle", "=", customer)])
        )
        self.assertTrue(archived, "archived, never silently removed")
        self.assertFalse(archived.active)
        invoice = (
            self.env["billwerk.invoice"]
            .with_context(active_test=False)
            .search([("billwerk_id", "=", gone_invoice)])
        )
        self.assertTrue(invoice)
        self.assertFalse(invoice.active)
        again = self.sync(mode="reconciliation")
        self.assertEqual(
            (again.created_count, again.updated_count, again.archived_count),
            (0, 0, 0),
        )
        self.assertTrue(self.env["billwerk.plan"].search([("handle", "=", plan)]))

    def test_sync_now_button_and_scheduled_action(self):
        action = self.account.with_user(self.billwerk_user).action_sync_now()
        self.assertEqual(action["tag"], "display_notification")
        self.assertIn("Queued", action["params"]["message"])
        queued = self.account.last_sync_run_id
        self.assertEqual((queued.trigger, queued.state), ("manual", "queued"))
        self.env["billwerk.account"]._cron_sync()
        self.assertEqual((queued.state, queued.calls), ("done", 1))
        self.env["billwerk.account"]._cron_sync()
        self.account.invalidate_recordset(["last_sync_run_id"])
        last = self.account.last_sync_run_id
        self.assertEqual((last.trigger, last.state), ("cron", "done"))
        self.assertEqual(
            set(last.line_ids.mapped("entity")),
            {
                "plan",
                "customer",
                "subscription",
                "invoice",
                "credit_note",
                "transaction",
            },
        )

    def test_a_relation_to_a_record_arriving_later_in_the_run_is_resolved(self):
        self.sync()
        # Back-dated: no "created since" window sees it, only its event does,
        # and events are applied after the subscriptions window.
        customer = self.sandbox.create_customer(
            self.key, created="2024-02-01T10:00:00+00:00"
        )
        plan = next(iter(self.truth.plans))
        a_minute_ago = datetime.now(timezone.utc) - timedelta(minutes=1)
        subscription = self.sandbox.create_subscription(
            self.key, customer["handle"], plan, created=a_minute_ago.isoformat()
        )
        run = self.sync()
        self.assertEqual(run.state, "done", run.error_message)
        copy_ = self.env["billwerk.subscription"].search(
            [("handle", "=", subscription["handle"])]
        )
        self.assertEqual(copy_.customer_id.handle, customer["handle"])
        self.assertEqual(copy_.plan_id.handle, plan)
