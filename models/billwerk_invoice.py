from odoo import fields, models


class BillwerkInvoice(models.Model):
    _name = "billwerk.invoice"
    _inherit = "billwerk.synced.mixin"
    _description = "Billwerk invoice"
    _order = "created desc, id desc"
    _rec_name = "handle"

    billwerk_id = fields.Char(string="Billwerk id", required=True, readonly=True)
    handle = fields.Char(readonly=True)
    number = fields.Char(readonly=True)
    customer_handle = fields.Char(readonly=True)
    subscription_handle = fields.Char(readonly=True)
    plan_handle = fields.Char(readonly=True)
    customer_id = fields.Many2one(
        "billwerk.customer", readonly=True, index=True, ondelete="set null"
    )
    subscription_id = fields.Many2one(
        "billwerk.subscription", readonly=True, index=True, ondelete="set null"
    )
    plan_id = fields.Many2one(
        "billwerk.plan", readonly=True, index=True, ondelete="set null"
    )
    state = fields.Selection(
        [
            ("created", "Created"),
            ("pending", "Pending"),
            ("authorized", "Authorized"),
            ("dunning", "Dunning"),
            ("settled", "Settled"),
            ("cancelled", "Cancelled"),
            ("failed", "Failed"),
            ("unknown", "Other"),
        ],
        readonly=True,
        index=True,
    )
    invoice_type = fields.Selection(
        [
            ("s", "Subscription"),
            ("so", "Subscription one-off"),
            ("soi", "Subscription instant"),
            ("co", "Customer one-off"),
            ("ch", "Charge"),
        ],
        string="Type",
        readonly=True,
    )
    amount = fields.Monetary(string="Amount incl. VAT", readonly=True)
    amount_vat = fields.Monetary(string="VAT", readonly=True)
    amount_ex_vat = fields.Monetary(string="Amount excl. VAT", readonly=True)
    settled_amount = fields.Monetary(readonly=True)
    refunded_amount = fields.Monetary(readonly=True)
    due = fields.Datetime(readonly=True)
    settled = fields.Datetime(readonly=True)
    period_from = fields.Date(readonly=True)
    period_to = fields.Date(readonly=True)

    _sql_constraints = [
        (
            "billwerk_id_account_uniq",
            "unique(account_id, billwerk_id)",
            "A Billwerk invoice id is unique per account.",
        )
    ]
