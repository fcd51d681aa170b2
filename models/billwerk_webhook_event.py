"""A webhook Billwerk delivered: stored by the route, processed by the sync."""

from odoo import api, fields, models

STATES = [("pending", "Pending"), ("done", "Done"), ("failed", "Failed")]


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
    received = fields.Datetime(required=True, default=fields.Datetime.now)
    state = fields.Selection(STATES, required=True, default="pending", index=True)
    error = fields.Text()

    _sql_constraints = [
        (
            "webhook_account_uniq",
            "unique(account_id, webhook_id)",
            "A Billwerk webhook is stored once per account.",
        )
    ]

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
