from odoo import fields, models

from .odoo_compat import Constraint


class BillwerkSubscription(models.Model):
    _name = "billwerk.subscription"
    _inherit = "billwerk.synced.mixin"
    _description = "Billwerk subscription"
    _order = "created desc, id desc"
    _rec_name = "handle"

    handle = fields.Char(required=True, readonly=True)
    customer_handle = fields.Char(readonly=True)
    plan_handle = fields.Char(readonly=True)
    customer_id = fields.Many2one(
        "billwerk.customer", readonly=True, index=True, ondelete="set null"
    )
    plan_id = fields.Many2one(
        "billwerk.plan", readonly=True, index=True, ondelete="set null"
    )
    plan_version = fields.Integer(readonly=True)
    state = fields.Selection(
        [
            ("pending", "Pending"),
            ("active", "Active"),
            ("on_hold", "On hold"),
            ("expired", "Expired"),
            ("unknown", "Other"),
        ],
        readonly=True,
        index=True,
    )
    is_cancelled = fields.Boolean(
        string="Ends at period end",
        readonly=True,
        help="Cancelled in Billwerk: the subscription ends at the end of the current "
        "period (its Expires date) instead of renewing.",
    )
    amount = fields.Monetary(readonly=True)
    quantity = fields.Integer(readonly=True)
    activated = fields.Datetime(readonly=True)
    start_date = fields.Datetime(readonly=True)
    end_date = fields.Datetime(readonly=True)
    current_period_start = fields.Datetime(readonly=True)
    next_period_start = fields.Datetime(readonly=True)
    expires = fields.Datetime(readonly=True)
    in_trial = fields.Boolean(readonly=True)
    trial_end = fields.Datetime(readonly=True)
    expired_date = fields.Datetime(readonly=True)
    expire_reason = fields.Char(readonly=True)
    invoice_ids = fields.One2many("billwerk.invoice", "subscription_id", readonly=True)

    _handle_account_uniq = Constraint(
        "unique(account_id, handle)",
        "A Billwerk subscription handle is unique per account.",
    )
