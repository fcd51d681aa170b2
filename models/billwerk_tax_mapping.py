from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import float_compare

from ..mapping.books import rate_key


class BillwerkTaxMapping(models.Model):
    """Which sales tax of the company books a VAT rate Billwerk charges.

    Rows are added for every rate the synchronized invoices use, prefilled
    with the company's sales tax of that percentage when there is exactly
    one; the accountant chooses the others. The prefill never guesses: with
    two taxes of one rate (Odoo 19's generic chart has a second 0 % sales
    tax, "0% Exports"), the row stays empty and its note names both. Nothing
    is ever created in the company's taxes.
    """

    _name = "billwerk.tax.mapping"
    _description = "Billwerk VAT rate to sales tax"
    _order = "account_id, vat_rate desc, country_id"

    account_id = fields.Many2one(
        "billwerk.account", required=True, ondelete="cascade", index=True
    )
    company_id = fields.Many2one(related="account_id.company_id", store=True)
    vat_rate = fields.Float(
        string="Billwerk VAT",
        digits=(16, 6),
        required=True,
        default=0.0,
        help="As Billwerk sends it: 0.25 for 25 %.",
    )
    # What the accountant reads and types: 25 for Billwerk's 0.25.
    vat_percent = fields.Float(
        string="VAT rate (%)",
        digits=(16, 2),
        compute="_compute_vat_percent",
        inverse="_inverse_vat_percent",
    )
    country_id = fields.Many2one(
        "res.country",
        string="Customer country",
        help="Only for customers in this country; empty: every customer.",
    )
    tax_id = fields.Many2one(
        "account.tax",
        string="Sales tax",
        check_company=True,
        domain="[('type_tax_use', '=', 'sale'), ('amount_type', '=', 'percent'), "
        "('price_include', '=', False)]",
        help="A sales tax of this percentage, excluded from the price.",
    )
    # Why a row has no tax yet: what the accountant has to choose.
    choice_note = fields.Char(string="Note", compute="_compute_choice_note")

    def init(self):
        # Once per rate and country, "no country" included (PostgreSQL < 15
        # has no NULLS NOT DISTINCT).
        self.env.cr.execute(
            "CREATE UNIQUE INDEX IF NOT EXISTS billwerk_tax_mapping_rate_country_uniq "
            "ON billwerk_tax_mapping (account_id, vat_rate, COALESCE(country_id, 0))"
        )

    @api.depends("vat_rate")
    def _compute_vat_percent(self):
        for mapping in self:
            mapping.vat_percent = round(mapping.vat_rate * 100, 4)

    def _inverse_vat_percent(self):
        for mapping in self:
            mapping.vat_rate = round(mapping.vat_percent / 100, 6)

    @api.model
    def _candidate_taxes(self, company, rate):
        """The company's excluded percentage sales taxes of ``rate`` (0.25)."""
        taxes = self.env["account.tax"]
        return taxes.search(
            [
                *taxes._check_company_domain(company),
                ("type_tax_use", "=", "sale"),
                ("amount_type", "=", "percent"),
                ("price_include", "=", False),
                ("amount", "=", rate * 100),
            ],
            order="name, id",
        )

    @api.depends("tax_id", "vat_rate", "account_id")
    def _compute_choice_note(self):
        for mapping in self:
            if mapping.tax_id or not mapping.account_id:
                mapping.choice_note = False
                continue
            candidates = self._candidate_taxes(
                mapping.account_id.company_id, mapping.vat_rate
            )
            if not candidates:
                mapping.choice_note = self.env._(
                    "The company has no sales tax of %(rate)s excluded from the "
                    "price: create one, then choose it here.",
                    rate=mapping._rate_text(),
                )
            elif len(candidates) > 1:
                mapping.choice_note = self.env._(
                    "Not prefilled: %(count)s sales taxes of %(rate)s (%(taxes)s). "
                    "Choose the one that books Billwerk's %(rate)s VAT.",
                    count=len(candidates),
                    rate=mapping._rate_text(),
                    taxes=", ".join(candidates.mapped("display_name")),
                )
            else:
                mapping.choice_note = False

    def _rate_text(self):
        """0.25 -> "25 %", for messages."""
        return f"{self.vat_rate * 100:g} %"

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if "vat_rate" in vals:
                vals["vat_rate"] = rate_key(vals["vat_rate"])
        return super().create(vals_list)

    def write(self, vals):
        if "vat_rate" in vals:
            vals["vat_rate"] = rate_key(vals["vat_rate"])
        return super().write(vals)

    @api.constrains("vat_rate", "country_id", "account_id")
    def _check_once_per_rate(self):
        for mapping in self:
            twins = self.search_count(
                [
                    ("id", "!=", mapping.id),
                    ("account_id", "=", mapping.account_id.id),
                    ("vat_rate", "=", mapping.vat_rate),
                    ("country_id", "=", mapping.country_id.id),
                ]
            )
            if twins:
                raise ValidationError(
                    self.env._(
                        "%(rate)s VAT is mapped twice for the same customer "
                        "country; keep one row.",
                        rate=mapping._rate_text(),
                    )
                )

    @api.constrains("tax_id", "vat_rate", "account_id")
    def _check_tax(self):
        for mapping in self.filtered("tax_id"):
            tax = mapping.tax_id
            problem = None
            if tax.company_id != mapping.account_id.company_id:
                problem = self.env._("it belongs to another company")
            elif tax.type_tax_use != "sale":
                problem = self.env._("it is not a sales tax")
            elif tax.amount_type != "percent":
                problem = self.env._("it is not a percentage")
            elif tax.price_include:
                problem = self.env._("it is included in the price")
            elif float_compare(tax.amount, mapping.vat_rate * 100, precision_digits=4):
                amount = f"{tax.amount:g}"
                problem = self.env._("it is %(amount)s %%", amount=amount)
            if problem:
                raise ValidationError(
                    self.env._(
                        "The tax %(tax)s cannot book Billwerk's %(rate)s VAT: "
                        "%(problem)s. Choose a sales tax of %(rate)s, excluded "
                        "from the price.",
                        tax=tax.display_name,
                        rate=mapping._rate_text(),
                        problem=problem,
                    )
                )
