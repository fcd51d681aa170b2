from odoo import fields, models

from .odoo_compat import Constraint


class BillwerkPlan(models.Model):
    _name = "billwerk.plan"
    _inherit = "billwerk.synced.mixin"
    _description = "Billwerk plan"
    _order = "name, id"
    _rec_names_search = ["name", "handle"]

    handle = fields.Char(required=True, readonly=True)
    name = fields.Char(required=True, readonly=True)
    version = fields.Integer(readonly=True)
    description = fields.Text(readonly=True)
    amount = fields.Monetary(readonly=True)
    state = fields.Selection(
        [
            ("active", "Active"),
            ("superseded", "Superseded"),
            ("deleted", "Deleted"),
            ("unknown", "Other"),
        ],
        readonly=True,
    )
    vat = fields.Float(string="VAT rate", readonly=True)
    schedule_type = fields.Char(readonly=True)
    interval_length = fields.Integer(readonly=True)
    deleted = fields.Datetime(readonly=True)
    subscription_ids = fields.One2many(
        "billwerk.subscription", "plan_id", readonly=True
    )
    product_id = fields.Many2one(
        "product.product",
        readonly=True,
        copy=False,
        ondelete="restrict",
        help="The service product its invoice lines are booked on, made when "
        "the first invoice is posted. Open it to set its income account.",
    )

    _handle_account_uniq = Constraint(
        "unique(account_id, handle)",
        "A Billwerk plan handle is unique per account.",
    )
