from odoo import fields, models

from .odoo_compat import Constraint


class BillwerkTransaction(models.Model):
    """A payment (settle) or a refund of a Billwerk invoice, read from the invoice."""

    _name = "billwerk.transaction"
    _inherit = ["billwerk.synced.mixin", "billwerk.document.mixin"]
    _description = "Billwerk transaction"
    _order = "created desc, id desc"
    _rec_name = "billwerk_id"

    billwerk_id = fields.Char(string="Billwerk id", required=True, readonly=True)
    invoice_handle = fields.Char(readonly=True)
    invoice_id = fields.Many2one(
        "billwerk.invoice", readonly=True, index=True, ondelete="set null"
    )
    type = fields.Selection(
        [
            ("settle", "Payment"),
            ("refund", "Refund"),
            ("authorization", "Authorization"),
            ("unknown", "Other"),
        ],
        readonly=True,
    )
    state = fields.Selection(
        [
            ("pending", "Pending"),
            ("processing", "Processing"),
            ("authorized", "Authorized"),
            ("settled", "Settled"),
            ("refunded", "Refunded"),
            ("failed", "Failed"),
            ("cancelled", "Cancelled"),
            ("unknown", "Other"),
        ],
        readonly=True,
    )
    amount = fields.Monetary(readonly=True)
    payment_type = fields.Char(
        readonly=True, help="As Billwerk names it: card, mobilepay, sepa, manual ..."
    )
    settled = fields.Datetime(readonly=True)
    refunded = fields.Datetime(readonly=True)
    payment_id = fields.Many2one(
        "account.payment",
        readonly=True,
        copy=False,
        index="btree_not_null",
        ondelete="restrict",
        help="The posted payment of Odoo that books this transaction.",
    )
    post_error = fields.Char(string="Waits because", readonly=True, copy=False)

    _billwerk_id_account_uniq = Constraint(
        "unique(account_id, billwerk_id)",
        "A Billwerk transaction id is unique per account.",
    )
    _payment_uniq = Constraint(
        "unique(payment_id)",
        "A payment belongs to one Billwerk transaction.",
    )
