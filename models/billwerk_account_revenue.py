"""The account screen's revenue recognition: the option and its figures."""

from dateutil.relativedelta import relativedelta

from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..mapping.revenue import month_start
from .billwerk_account_books import BOOKS_READERS


class BillwerkAccountRevenue(models.Model):
    _inherit = "billwerk.account"

    recognize_revenue = fields.Boolean(
        string="Recognise revenue over the service period",
        help="Invoice lines whose service period reaches past the month of "
        "their invoice are booked on the deferred revenue account, and "
        "recognised on their income account month by month, each month's "
        "share in proportion to its days of the period. Applies to invoices "
        "posted from then on; switched off, the schedules made keep running.",
    )
    deferred_revenue_account_id = fields.Many2one(
        "account.account",
        string="Deferred revenue account",
        check_company=True,
        domain="[('account_type', 'in', ('liability_current', "
        "'liability_non_current'))]",
        help="A liability account (contract liability) that holds the revenue "
        "of services still to be delivered. While none is chosen, invoices "
        "with a line to defer wait.",
    )
    recognition_journal_id = fields.Many2one(
        "account.journal",
        string="Recognition journal",
        check_company=True,
        domain="[('type', '=', 'general')]",
        help="Where the monthly recognition entries are booked. Empty: a "
        "miscellaneous journal 'Billwerk revenue' is made on first use.",
    )
    deferred_revenue = fields.Monetary(
        string="Deferred revenue",
        compute="_compute_revenue_figures",
        currency_field="company_currency_id",
        groups=BOOKS_READERS,
        help="Revenue of this Billwerk account's invoices still to be "
        "recognised, in the company's currency.",
    )
    revenue_this_month = fields.Monetary(
        string="Recognised this month",
        compute="_compute_revenue_figures",
        currency_field="company_currency_id",
        groups=BOOKS_READERS,
    )
    revenue_last_month = fields.Monetary(
        string="Recognised last month",
        compute="_compute_revenue_figures",
        currency_field="company_currency_id",
        groups=BOOKS_READERS,
    )
    company_currency_id = fields.Many2one(related="company_id.currency_id")

    def _compute_revenue_figures(self):
        shares = self.env["billwerk.revenue.share"].sudo()
        for account in self:
            this_month = month_start(account._billwerk_today())
            last_month = this_month - relativedelta(months=1)
            # The Billwerk account connected now: after a switch, the
            # schedules of the one before keep running but are not its own.
            domain = [
                ("account_id", "=", account.id),
                ("invoice_move_id.billwerk_account", "=", account.billwerk_id),
            ]
            by_month = dict(
                shares._read_group(
                    domain + [("month", "in", (this_month, last_month))],
                    ["month:day"],
                    ["balance:sum"],
                )
            )
            account.revenue_this_month = by_month.get(this_month, 0.0)
            account.revenue_last_month = by_month.get(last_month, 0.0)
            [(deferred,)] = shares._read_group(
                domain + [("recognised", "=", False)], [], ["balance:sum"]
            )
            account.deferred_revenue = deferred or 0.0

    @api.constrains("deferred_revenue_account_id")
    def _check_deferred_revenue_account(self):
        for account in self:
            deferred = account.deferred_revenue_account_id
            if deferred and not deferred.account_type.startswith("liability"):
                raise ValidationError(
                    self.env._(
                        "The deferred revenue account %(account)s is not a "
                        "liability: revenue still to be earned is owed to the "
                        "customer.",
                        account=deferred.display_name,
                    )
                )

    def write(self, vals):
        if "deferred_revenue_account_id" not in vals:
            return super().write(vals)
        before = {account: account.deferred_revenue_account_id for account in self}
        result = super().write(vals)  # the rights to the field first
        self._check_no_running_schedule(before)
        return result

    def _check_no_running_schedule(self, before):
        """The deferred revenue account stays while its schedules run: they
        release what it holds, month by month."""
        shares = self.env["billwerk.revenue.share"].sudo()
        for account in self:
            if account.deferred_revenue_account_id == before[account]:
                continue
            running = shares.search_count(
                [("account_id", "=", account.id), ("recognised", "=", False)],
                limit=1,
            )
            if running:
                raise ValidationError(
                    self.env._(
                        "The deferred revenue account of %(name)s cannot change "
                        "while revenue deferred on %(account)s is still to be "
                        "recognised: its schedules release what that account "
                        "holds, up to their last month.",
                        name=account.display_name,
                        account=before[account].display_name,
                    )
                )

    def action_open_revenue_report(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "billwerk_connector.action_billwerk_revenue_report"
        )
        # The connected Billwerk account's rows, as the screen's figures: an
        # earlier one's schedules (kept after a switch) are in the menu.
        action["domain"] = [
            ("account_id", "=", self.id),
            ("billwerk_id", "=", self.billwerk_id),
        ]
        return action
