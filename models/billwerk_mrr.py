"""One customer's MRR in one currency at the end of one month, as stored.

The arithmetic is mapping/mrr.py's, exact in fractions of the minor unit;
the rows round them only here, when storing (half away from zero, to the
currency's minor unit as Billwerk counts it: ``mapping/money.py``). A month's
movements therefore add up to its MRR within half a minor unit per row, not
exactly: the report shows what Billwerk's invoices give, rounded once.
"""

import math
from fractions import Fraction

from odoo import fields, models

from ..mapping.mrr import (
    CHURN,
    CONTRACTION,
    EXPANSION,
    NEW,
    REACTIVATION,
    RETAINED,
)
from .odoo_compat import Constraint


def round_minor(value):
    """A Fraction of the minor unit as whole minor units, half away from zero."""
    value = Fraction(value)
    rounded = math.floor(abs(value) + Fraction(1, 2))
    return rounded if value >= 0 else -rounded


class BillwerkMrr(models.Model):
    """Monthly recurring revenue per account, month, customer and currency.

    Written only by the connector (``_recompute_mrr`` on billwerk.account,
    after each run), as superuser; everyone else reads. ``mrr`` and
    ``movement_amount`` exclude VAT.
    """

    _name = "billwerk.mrr"
    _description = "Billwerk monthly recurring revenue"
    _order = "month desc, account_id, currency_id, customer_id"
    _rec_name = "customer_id"
    _check_company_auto = True

    account_id = fields.Many2one(
        "billwerk.account",
        string="Billwerk account",
        required=True,
        readonly=True,
        index=True,
        ondelete="cascade",
    )
    company_id = fields.Many2one(
        related="account_id.company_id", store=True, index=True, readonly=True
    )
    company_currency_id = fields.Many2one(
        related="company_id.currency_id", string="Company currency"
    )
    month = fields.Date(
        required=True,
        readonly=True,
        index=True,
        help="The month's first day, in the Billwerk account's time zone.",
    )
    customer_id = fields.Many2one(
        "billwerk.customer",
        readonly=True,
        index=True,
        # The customers' copies go with the account's data (purge): so do these.
        ondelete="cascade",
    )
    currency_id = fields.Many2one("res.currency", required=True, readonly=True)
    mrr = fields.Monetary(
        string="MRR",
        currency_field="currency_id",
        readonly=True,
        help="Monthly recurring revenue at the month's end (for the current "
        "month: today), excluding VAT, in the invoices' currency.",
    )
    mrr_company = fields.Monetary(
        string="MRR (company currency)",
        currency_field="company_currency_id",
        readonly=True,
        help="The MRR converted at the rate of the month's last day.",
    )
    movement = fields.Selection(
        [
            (NEW, "New"),
            (REACTIVATION, "Reactivation"),
            (EXPANSION, "Expansion"),
            (CONTRACTION, "Contraction"),
            (CHURN, "Churn"),
            (RETAINED, "Retained"),
        ],
        required=True,
        readonly=True,
        help="New: first MRR of the customer in this currency. Reactivation: "
        "MRR again after a month without. Expansion, contraction: more or "
        "less than the month before. Churn: none after some the month "
        "before. Retained: unchanged.",
    )
    movement_amount = fields.Monetary(
        string="Movement amount",
        currency_field="currency_id",
        readonly=True,
        help="This month's MRR minus the month before's.",
    )
    movement_company = fields.Monetary(
        string="MRR change (company currency)",
        currency_field="company_currency_id",
        readonly=True,
        help="The movement amount converted at the rate of the month's last "
        "day, as the account screen's net movement and churn rate take it.",
    )
    plan_id = fields.Many2one(
        "billwerk.plan",
        readonly=True,
        index=True,
        ondelete="set null",
        help="The plan of the customer's largest counting line this month "
        "(none for a churn).",
    )
    running = fields.Boolean(
        string="Running month",
        readonly=True,
        help="The current month: its MRR is today's, and changes until the "
        "month has ended.",
    )

    _mrr_uniq = Constraint(
        "unique(account_id, month, customer_id, currency_id)",
        "A customer has one MRR per account, month and currency.",
    )
