from odoo import api, fields, models


class BillwerkCustomer(models.Model):
    _name = "billwerk.customer"
    _inherit = "billwerk.synced.mixin"
    _description = "Billwerk customer contract"
    _order = "name, id"
    _rec_names_search = ["name", "handle", "email"]

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

    @api.model
    def _link_partners(self, values_list, company):
        """Match customers to contacts by e-mail, else create the contacts.

        Works on field values (``partner_id`` is set in them), so that the
        sync links a page before it is written.
        """
        partners = self.env["res.partner"].sudo()
        emails = {v["email"].lower() for v in values_list if v.get("email")}
        by_email = {}
        if emails:
            # E-mail case carries no meaning: match on lower(email), in SQL
            # because the ORM has no case-insensitive "in".
            partners.flush_model(["email", "company_id", "active"])
            self.env.cr.execute(
                """
                SELECT id, lower(email) FROM res_partner
                 WHERE lower(email) = ANY(%s) AND active
                   AND (company_id = %s OR company_id IS NULL)
                 ORDER BY id
                """,
                (list(emails), company.id),
            )
            for partner_id, email in self.env.cr.fetchall():
                by_email.setdefault(email, partner_id)
        to_create = {}
        for values in values_list:
            email = (values.get("email") or "").lower()
            if email in by_email:
                continue
            to_create.setdefault(email or values["handle"], values)
        created = partners.create(
            [
                {
                    "name": values["name"],
                    "email": values.get("email") or False,
                    "phone": values.get("phone") or False,
                    "street": values.get("address") or False,
                    "street2": values.get("address2") or False,
                    "zip": values.get("postal_code") or False,
                    "city": values.get("city") or False,
                    "country_id": values.get("country_id") or False,
                    "is_company": bool(values.get("company_name")),
                    "company_id": company.id,
                }
                for values in to_create.values()
            ]
        )
        for key, partner in zip(to_create, created, strict=True):
            by_email[key] = partner.id
        for values in values_list:
            email = (values.get("email") or "").lower()
            values["partner_id"] = by_email.get(email or values["handle"], False)

    @api.model
    def _link_existing_partners(self, customers, company):
        """Link stored customers without a contact, the same way."""
        values_list = [
            {
                "handle": customer.handle,
                "name": customer.name,
                "email": customer.email,
                "phone": customer.phone,
                "address": customer.address,
                "address2": customer.address2,
                "postal_code": customer.postal_code,
                "city": customer.city,
                "country_id": customer.country_id.id,
                "company_name": customer.company_name,
            }
            for customer in customers
        ]
        self._link_partners(values_list, company)
        for customer, values in zip(customers, values_list, strict=True):
            customer.partner_id = values["partner_id"]
