from odoo import api, fields, models

from .odoo_compat import Constraint


def same_vat_form(vat):
    """A VAT number as compared: no spaces, dots or dashes, upper case."""
    return "".join(ch for ch in (vat or "") if ch.isalnum()).upper()


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

    _handle_account_uniq = Constraint(
        "unique(account_id, handle)",
        "A Billwerk customer handle is unique per account.",
    )

    @api.model
    def _link_partners(self, values_list, account):
        """Give each customer a contact: its own, or a safely matched one.

        Works on field values (``partner_id`` is set in them), so that the
        sync links a page before it is written. An e-mail typed at a
        self-service signup proves nothing, so by default every Billwerk
        customer gets a contact of its own; only where an accounting manager
        switched matching on is an existing contact reused (see
        ``_matching_partners``).
        """
        company = account.company_id
        matched = (
            self._matching_partners(values_list, company)
            if account.match_partners
            else {}
        )
        to_create = [
            values for values in values_list if values["handle"] not in matched
        ]
        created = (
            self.env["res.partner"]
            .sudo()
            .create([self._partner_values(values, company) for values in to_create])
        )
        for values, partner in zip(to_create, created, strict=True):
            matched[values["handle"]] = partner.id
        for values in values_list:
            values["partner_id"] = matched[values["handle"]]

    @api.model
    def _partner_values(self, values, company):
        """A contact as Billwerk knows the customer, with its handle as reference."""
        return {
            "name": values["name"],
            "ref": values["handle"],
            "company_name": values.get("company_name") or False,
            "is_company": bool(values.get("company_name")),
            "email": values.get("email") or False,
            "phone": values.get("phone") or False,
            "street": values.get("address") or False,
            "street2": values.get("address2") or False,
            "zip": values.get("postal_code") or False,
            "city": values.get("city") or False,
            "country_id": values.get("country_id") or False,
            "vat": values.get("vat") or False,
            "company_id": company.id,
        }

    @api.model
    def _matching_partners(self, values_list, company):
        """Existing contacts with the customer's e-mail, where that is safe.

        Never a user's contact (an invoice would land on a colleague), never
        one of another company, never one whose VAT number differs from the
        one Billwerk has. E-mail case carries no meaning: matched on
        lower(email), in SQL because the ORM has no case-insensitive "in".
        """
        emails = {v["email"].lower() for v in values_list if v.get("email")}
        if not emails:
            return {}
        self.env["res.partner"].flush_model(["email", "company_id", "active", "vat"])
        self.env["res.users"].flush_model(["partner_id"])
        self.env.cr.execute(
            """
            SELECT p.id, lower(p.email), p.vat FROM res_partner p
             WHERE lower(p.email) = ANY(%s) AND p.active
               AND (p.company_id = %s OR p.company_id IS NULL)
               AND NOT EXISTS (SELECT 1 FROM res_users u WHERE u.partner_id = p.id)
             ORDER BY p.id
            """,
            (list(emails), company.id),
        )
        candidates = {}
        for partner_id, email, vat in self.env.cr.fetchall():
            candidates.setdefault(email, []).append((partner_id, vat))
        matched = {}
        for values in values_list:
            email = (values.get("email") or "").lower()
            billwerk_vat = same_vat_form(values.get("vat"))
            for partner_id, vat in candidates.get(email, ()):
                if billwerk_vat and vat and same_vat_form(vat) != billwerk_vat:
                    continue
                matched[values["handle"]] = partner_id
                break
        return matched

    @api.model
    def _link_existing_partners(self, customers, account):
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
                "vat": customer.vat,
            }
            for customer in customers
        ]
        self._link_partners(values_list, account)
        for customer, values in zip(customers, values_list, strict=True):
            customer.partner_id = values["partner_id"]
