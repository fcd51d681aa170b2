from odoo import api, fields, models
from odoo.exceptions import UserError

BINDING_FIELDS = ("billwerk_account", "billwerk_document")


class AccountPayment(models.Model):
    """A payment knows the Billwerk transaction it books: exactly once.

    Like the entries of invoices (``account_move.py``): the pair (Billwerk
    account id, transaction) is unique in the database.
    """

    _inherit = "account.payment"

    billwerk_account = fields.Char(
        string="Billwerk account id", readonly=True, copy=False, index="btree_not_null"
    )
    billwerk_document = fields.Char(
        string="Billwerk transaction",
        readonly=True,
        copy=False,
        help="transaction/<id> in Billwerk.",
    )

    _sql_constraints = [
        (
            "billwerk_document_uniq",
            "unique(billwerk_account, billwerk_document)",
            "A Billwerk transaction is booked once.",
        )
    ]

    def write(self, vals):
        if not self.env.su and any(name in vals for name in BINDING_FIELDS):
            raise UserError(
                self.env._("Only the Billwerk connector links payments to Billwerk.")
            )
        return super().write(vals)

    @api.model_create_multi
    def create(self, vals_list):
        if not self.env.su and any(
            name in vals for vals in vals_list for name in BINDING_FIELDS
        ):
            raise UserError(
                self.env._("Only the Billwerk connector links payments to Billwerk.")
            )
        return super().create(vals_list)
