from odoo import api, fields, models
from odoo.exceptions import UserError

from .odoo_compat import Constraint

BINDING_FIELDS = ("billwerk_account", "billwerk_document")


class BillwerkBindingMixin(models.AbstractModel):
    """What an entry or a payment books in Billwerk: exactly once.

    The pair (Billwerk account id, document) is unique in the database, so
    that no rerun, crash, re-synced copy or switch back to an account books a
    Billwerk document twice; the posting step finds a booking by it before it
    makes one. Only the connector (as superuser) sets it.
    """

    _name = "billwerk.binding.mixin"
    _description = "Booked from Billwerk"

    billwerk_account = fields.Char(
        string="Billwerk account id", readonly=True, copy=False, index="btree_not_null"
    )
    billwerk_document = fields.Char(
        string="Billwerk document",
        readonly=True,
        copy=False,
        help="invoice/<id>, credit_note/<id>, cancel/<invoice id> or "
        "transaction/<id> in Billwerk.",
    )

    _billwerk_document_uniq = Constraint(
        "unique(billwerk_account, billwerk_document)",
        "A Billwerk document is booked once.",
    )

    def _check_binding_values(self, vals_list):
        if not self.env.su and any(
            name in vals for vals in vals_list for name in BINDING_FIELDS
        ):
            raise UserError(
                self.env._("Only the Billwerk connector links bookings to Billwerk.")
            )

    def write(self, vals):
        self._check_binding_values([vals])
        return super().write(vals)

    @api.model_create_multi
    def create(self, vals_list):
        self._check_binding_values(vals_list)
        return super().create(vals_list)
