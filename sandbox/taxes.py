"""The sales taxes an Odoo company needs to post what the sandbox bills.

The sandbox's accounts bill at 25 % (DK), 10 % (JP), 19 % (DE) and 0 % (USD
plans, reverse charge); the posting tests and the posting benchmark give their
company one excluded sales tax per rate, each in a tax group of its own, the
way an accountant sets them up, and archives the company's other excluded
sales taxes of those rates (Odoo 19's generic chart has a "0% Exports"):
the connector's prefill never guesses between two taxes of one rate. Plain
Python: ``env`` is an Odoo environment
handed in by the caller (a test case, an ``odoo-bin shell`` script); nothing
here imports Odoo.
"""

from .data import ACCOUNT_TEMPLATES

# Every VAT rate a sandbox account bills, highest first (0: see above).
VAT_RATES = tuple(
    sorted({template["vat"] for template in ACCOUNT_TEMPLATES} | {0.0}, reverse=True)
)


def tax_name(label, rate):
    return f"Billwerk {label} VAT {rate * 100:g}%"


def sales_taxes(env, company, label):
    """One excluded sales tax per rate of ``VAT_RATES`` for ``company``, each in
    a tax group of its own; ``{rate: tax}``. ``label`` tells whose they are
    (``test``, ``benchmark``) in their names."""
    taxes = {}
    env["account.tax"].search(
        [
            ("company_id", "=", company.id),
            ("type_tax_use", "=", "sale"),
            ("amount_type", "=", "percent"),
            ("price_include", "=", False),
            ("amount", "in", [rate * 100 for rate in VAT_RATES]),
        ]
    ).active = False
    for rate in VAT_RATES:
        group = env["account.tax.group"].create(
            {"name": f"VAT {rate * 100:g}% {company.name}", "company_id": company.id}
        )
        taxes[rate] = env["account.tax"].create(
            {
                "name": tax_name(label, rate),
                "amount": rate * 100,
                "amount_type": "percent",
                "type_tax_use": "sale",
                "price_include_override": "tax_excluded",
                "tax_group_id": group.id,
                "company_id": company.id,
            }
        )
    return taxes
