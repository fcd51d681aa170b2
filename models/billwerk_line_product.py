from odoo import fields, models


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
    product_id = fields.Many2one(
        "product.product", required=True, check_company=True, ondelete="restrict"
    )

    _sql_constraints = [
        (
            "origin_uniq",
            "unique(account_id, origin)",
            "A line origin has one product per account.",
        )
    ]
