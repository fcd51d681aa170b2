"""A webhook Billwerk delivered: stored by the route, processed by the sync."""

import logging
import time
from datetime import timedelta

from odoo import api, fields, models

from ..mapping.events import WEBHOOK_RETENTION
from .commit_policy import commit_unless_testing
from .odoo_compat import Constraint, report_cron_progress

_logger = logging.getLogger(__name__)

STATES = [("pending", "Pending"), ("done", "Done"), ("failed", "Failed")]
RETENTION_CRON = "billwerk_connector.cron_billwerk_webhook_retention"
# Rows one DELETE removes; a commit follows each batch.
PRUNE_BATCH = 5000
# Seconds one scheduled call may spend pruning before it hands the rest to a
# new call (Odoo's worker limit is 120 s by default).
PRUNE_BUDGET = 60


class BillwerkWebhookEvent(models.Model):
    """One webhook delivery, stored once per account whatever the resends.

    A delivery is known by its signed ``webhook_id``: the signature covers
    only the webhook's id and timestamp, so ``event_id`` and the handles may
    be anything a resender wrote and never make a delivery new.
    Only the route (``controllers/webhook.py``) inserts them and only the sync
    (``billwerk.sync.run``) changes their state; users read them.
    """

    _name = "billwerk.webhook.event"
    _description = "Billwerk webhook event"
    _order = "received desc, id desc"

    account_id = fields.Many2one(
        "billwerk.account", required=True, ondelete="cascade", index=True
    )
    company_id = fields.Many2one(related="account_id.company_id", store=True)
    event_id = fields.Char(required=True)
    webhook_id = fields.Char(required=True)
    event_type = fields.Char(required=True)
    customer = fields.Char()
    subscription = fields.Char()
    invoice = fields.Char()
    received = fields.Datetime(required=True, default=fields.Datetime.now, index=True)
    state = fields.Selection(STATES, required=True, default="pending", index=True)
    error = fields.Text()

    _webhook_account_uniq = Constraint(
        "unique(account_id, webhook_id)",
        "A Billwerk webhook is stored once per account.",
    )

    @api.model
    def _store(self, account, values):
        """Insert the delivery unless the account has its signed id: True when new.

        ``ON CONFLICT DO NOTHING``: concurrent redeliveries of one webhook
        cannot both insert it, and neither fails.
        """
        self.env.cr.execute(
            """
            INSERT INTO billwerk_webhook_event
                   (account_id, company_id, event_id, webhook_id, event_type,
                    customer, subscription, invoice, received, state,
                    create_uid, write_uid, create_date, write_date)
            VALUES (%(account)s, %(company)s, %(event_id)s, %(id)s, %(event_type)s,
                    %(customer)s, %(subscription)s, %(invoice)s,
                    now() AT TIME ZONE 'UTC', 'pending', %(uid)s, %(uid)s,
                    now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')
            ON CONFLICT (account_id, webhook_id) DO NOTHING
            RETURNING id
            """,
            {
                **values,
                "account": account.id,
                "company": account.company_id.id,
                "uid": self.env.uid,
            },
        )
        return bool(self.env.cr.fetchone())

    @api.model
    def _cron_prune_processed(self, batch=PRUNE_BATCH, budget=PRUNE_BUDGET):
        """Delete done and failed webhooks received before the retention
        period (``WEBHOOK_RETENTION``); returns how many went.

        Pending ones stay whatever their age: the sync has not read their
        object yet. Deduplication holds: a row is kept longer than any
        delivery with its id could be accepted (the route refuses a signed
        timestamp older than ``WEBHOOK_REPLAY_WINDOW``, see
        ``mapping/events.py``), so a replay of a pruned id is refused as
        stale, never stored again.

        In batches of ``batch`` rows, each committed; after ``budget``
        seconds the call triggers the scheduled action again for the rest.
        """
        started = time.monotonic()
        cutoff = fields.Datetime.now() - WEBHOOK_RETENTION
        self.env.flush_all()
        deleted, more = 0, True
        while more:
            if deleted and time.monotonic() - started >= budget:
                self.env.ref(RETENTION_CRON).sudo()._trigger(
                    fields.Datetime.now() + timedelta(seconds=1)
                )
                break
            self.env.cr.execute(
                """
                DELETE FROM billwerk_webhook_event
                 WHERE id IN (SELECT id FROM billwerk_webhook_event
                               WHERE state IN ('done', 'failed')
                                 AND received < %s
                               ORDER BY id
                               LIMIT %s)
                """,
                (cutoff, batch),
            )
            deleted += self.env.cr.rowcount
            more = self.env.cr.rowcount == batch
            commit_unless_testing(self.env.cr)
        self.env.invalidate_all()
        if deleted:
            _logger.info("Pruned %s processed Billwerk webhooks.", deleted)
        # Progress as Odoo counts it: what is left runs in the call triggered.
        report_cron_progress(self.env, deleted)
        return deleted
