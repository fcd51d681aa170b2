from datetime import timedelta

from odoo import fields
from odoo.tests import TransactionCase, tagged

from ..mapping.events import WEBHOOK_RETENTION

RETENTION_CRON = "billwerk_connector.cron_billwerk_webhook_retention"


@tagged("post_install", "-at_install")
class TestWebhookRetention(TransactionCase):
    """Processed webhooks go after the retention period; pending ones never."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.account = cls.env["billwerk.account"].create(
            {"company_id": cls.env.company.id, "api_url": "http://127.0.0.1:9/v1/"}
        )
        now = fields.Datetime.now()
        cls.old = now - WEBHOOK_RETENTION - timedelta(days=1)
        cls.recent = now - WEBHOOK_RETENTION + timedelta(days=1)

    def make(self, name, state, received):
        return self.env["billwerk.webhook.event"].create(
            {
                "account_id": self.account.id,
                "webhook_id": f"wh-{name}",
                "event_id": f"ev-{name}",
                "event_type": "customer_changed",
                "customer": "cust-1",
                "state": state,
                "received": received,
            }
        )

    def remaining(self):
        self.env.invalidate_all()
        events = self.env["billwerk.webhook.event"].search(
            [("account_id", "=", self.account.id)]
        )
        return sorted(events.mapped("webhook_id"))

    def test_processed_events_past_the_retention_go_pending_ones_stay(self):
        self.make("old-done", "done", self.old)
        self.make("old-failed", "failed", self.old)
        self.make("old-pending", "pending", self.old)
        self.make("recent-done", "done", self.recent)
        self.make("recent-failed", "failed", self.recent)
        # The scheduled action, as the scheduler runs it.
        self.env.ref(RETENTION_CRON).ir_actions_server_id.run()
        self.assertEqual(
            self.remaining(), ["wh-old-pending", "wh-recent-done", "wh-recent-failed"]
        )

    def test_pruning_goes_in_batches_and_hands_the_rest_to_the_next_call(self):
        for number in range(5):
            self.make(f"old-{number}", "done", self.old)
        cron = self.env.ref(RETENTION_CRON)
        triggers = self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)])
        events = self.env["billwerk.webhook.event"]
        # No time left after the first batch: two go, the call triggers the next.
        self.assertEqual(events._cron_prune_processed(batch=2, budget=0), 2)
        self.assertEqual(len(self.remaining()), 3)
        self.assertEqual(
            self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)]),
            triggers + 1,
        )
        self.assertEqual(events._cron_prune_processed(batch=2), 3)
        self.assertEqual(self.remaining(), [])
