from odoo import fields, models


class AccountMoveLine(models.Model):
    """A deferred invoice line knows its income account and service period.

    Set by the connector when it books a line on the deferred revenue account
    (billwerk_posting_book.py); the recognition schedule is made from them
    (billwerk_revenue_recognition.py).
    """

    _inherit = "account.move.line"

    billwerk_income_account_id = fields.Many2one(
        "account.account",
        string="Income account of the deferral",
        readonly=True,
        copy=False,
        index="btree_not_null",
        help="Deferred revenue: the income account its monthly shares are "
        "recognised on.",
    )
    billwerk_period_start = fields.Date(
        string="Service from", readonly=True, copy=False
    )
    billwerk_period_end = fields.Date(
        string="Service until (exclusive)",
        readonly=True,
        copy=False,
        help="The first day after the service period, as Billwerk's period_to.",
    )
