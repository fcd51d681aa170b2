from odoo import api, fields, models
from odoo.tools.translate import LazyTranslate

from .odoo_compat import Constraint

_lt = LazyTranslate(__name__)

# Billwerk's order line origins, in words (products are named after them).
ORIGIN_NAMES = {
    "plan": _lt("Subscription"),
    "add_on": _lt("Add-on"),
    "ondemand": _lt("One-off charge"),
    "additional_cost": _lt("Additional cost"),
    "credit": _lt("Credit"),
    "discount": _lt("Discount"),
    "setup_fee": _lt("Setup fee"),
    "surcharge_fee": _lt("Surcharge fee"),
    "metered_billing_product": _lt("Metered usage"),
    "other": _lt("Other"),
}


def origin_name(env, origin):
    """An origin in the user's words; an origin Billwerk adds later as it is."""
    name = ORIGIN_NAMES.get(origin)
    return env._(name) if name else origin.replace("_", " ").capitalize()


class BillwerkLineProduct(models.Model):
    """The product that books one kind of Billwerk line (add-ons, fees ...).

    Plan lines are booked on their plan's product; every other line on the
    product of its ``origin``, made on first use and editable, so that the
    accountant can give it its own income account.
    """

    _name = "billwerk.line.product"
    _description = "Billwerk line origin to product"
    _order = "account_id, origin"

    account_id = fields.Many2one(
        "billwerk.account", required=True, ondelete="cascade", index=True
    )
    company_id = fields.Many2one(related="account_id.company_id", store=True)
    origin = fields.Char(
        string="Billwerk line origin",
        required=True,
        help="As Billwerk names it: add_on, ondemand, additional_cost, "
        "discount, setup_fee, surcharge_fee ...",
    )
    origin_name = fields.Char(string="Billwerk lines", compute="_compute_origin_name")
    product_id = fields.Many2one(
        "product.product", required=True, check_company=True, ondelete="restrict"
    )

    _origin_uniq = Constraint(
        "unique(account_id, origin)",
        "A line origin has one product per account.",
    )

    @api.depends("origin")
    @api.depends_context("lang")
    def _compute_origin_name(self):
        for row in self:
            row.origin_name = origin_name(self.env, row.origin or "other")
