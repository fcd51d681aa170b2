from odoo import fields, models


class BillwerkCustomer(models.Model):
    _name = "billwerk.customer"
    _inherit = "billwerk.synced.mixin"
    _description = "Billwerk customer contract"
    _order = "name, id"

    handle = fields.Char(required=True, readonly=True)
    name = fields.Char(required=True, readonly=True)
    email = fields.Char(readonly=True)
    first_name = fields.Char(readonly=True)
    last_name = fields.Char(readonly=True)
    company_name = fields.Char(string="Company name", readonly=True)
    address = fields.Char(readonly=True)
    address2 = fields.Char(readonly=True)
    postal_code = fields.Char(readonly=True)
    city = fields.Char(readonly=True)
    country_code = fields.Char(readonly=True)
    country_id = fields.Many2one("res.country", readonly=True)
    phone = fields.Char(readonly=True)
    vat = fields.Char(string="VAT number", readonly=True)
    debtor_id = fields.Integer(readonly=True)
    active_subscriptions = fields.Integer(readonly=True)
    test = fields.Boolean(string="Test customer", readonly=True)
    deleted = fields.Datetime(readonly=True)
    partner_id = fields.Many2one(
        "res.partner", string="Contact", readonly=True, index="btree_not_null"
    )
    subscription_ids = fields.One2many(
        "billwerk.subscription", "customer_id", readonly=True
    )
    invoice_ids = fields.One2many("billwerk.invoice", "customer_id", readonly=True)

    _sql_constraints = [
        (
            "handle_account_uniq",
            "unique(account_id, handle)",
            "A Billwerk customer handle is unique per account.",
        )
    ]
