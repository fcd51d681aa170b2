from odoo import models


class AccountPayment(models.Model):
    """A payment knows the Billwerk transaction it books (see the mixin)."""

    _name = "account.payment"
    _inherit = ["account.payment", "billwerk.binding.mixin"]
