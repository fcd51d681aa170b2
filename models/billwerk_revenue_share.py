from odoo import fields, models

from .odoo_compat import Constraint


class BillwerkRevenueShare(models.Model):
    """One month's share of a deferred invoice line: the recognition schedule.

    Made by the connector in the same transaction as the invoice's posting
    (billwerk_revenue_recognition.py), one row per line and month, the amounts
    positive for revenue to recognise; a credit note or a cancellation adds
    negative rows that take out what was still deferred. Each row is booked
    in its month's recognition entry; a row whose entry is posted is
    recognised. Read-only for everyone but the connector.
    """

    _name = "billwerk.revenue.share"
    _description = "Billwerk revenue recognised per month"
    _order = "month, id"
    _check_company_auto = True

    account_id = fields.Many2one(
        "billwerk.account", required=True, index=True, ondelete="cascade"
    )
    company_id = fields.Many2one(
        related="account_id.company_id", store=True, index=True
    )
    source_line_id = fields.Many2one(
        "account.move.line",
        string="Deferred invoice line",
        required=True,
        index=True,
        # A posted invoice's lines are not deleted; reset to draft, its
        # deferred lines stay until its schedule is gone.
        ondelete="restrict",
    )
    invoice_move_id = fields.Many2one(
        related="source_line_id.move_id", string="Invoice", store=True, index=True
    )
    plan_id = fields.Many2one("billwerk.plan", ondelete="set null")
    income_account_id = fields.Many2one(
        "account.account", string="Income account", required=True
    )
    analytic_distribution = fields.Json()
    currency_id = fields.Many2one("res.currency", required=True)
    company_currency_id = fields.Many2one(
        related="company_id.currency_id", string="Company currency"
    )
    month = fields.Date(required=True, help="The month's first day.")
    date = fields.Date(
        string="Recognised on",
        required=True,
        help="The month's last day, in the Billwerk account's time zone.",
    )
    booked_on = fields.Date(
        required=True,
        help="The day the row entered the books: its invoice's, or its "
        "credit's (a deferred balance at a month's end counts what was "
        "booked by then).",
    )
    kind = fields.Selection(
        [("share", "Share"), ("credit", "Credited")], required=True, default="share"
    )
    key = fields.Char(
        required=True,
        help="'share', or 'credit/<entry id>': a row is made once per line, "
        "month and source.",
    )
    credit_move_id = fields.Many2one(
        "account.move", string="Credited by", ondelete="set null"
    )
    amount_currency = fields.Monetary(currency_field="currency_id")
    balance = fields.Monetary(string="Amount", currency_field="company_currency_id")
    recognition_move_id = fields.Many2one(
        "account.move", string="Recognition entry", index=True, ondelete="set null"
    )
    recognised = fields.Boolean(
        compute="_compute_recognised",
        search="_search_recognised",
        help="Its recognition entry is posted.",
    )

    _share_once = Constraint(
        "unique(source_line_id, month, key)",
        "A line's month is scheduled once per source.",
    )

    def _compute_recognised(self):
        for share in self:
            share.recognised = share.recognition_move_id.state == "posted"

    def _search_recognised(self, operator, value):
        if operator not in ("=", "!=") or not isinstance(value, bool):
            return NotImplemented
        posted = (operator == "=") == value
        if posted:
            return [("recognition_move_id.state", "=", "posted")]
        return [
            "|",
            ("recognition_move_id", "=", False),
            ("recognition_move_id.state", "!=", "posted"),
        ]
