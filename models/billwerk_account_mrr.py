"""Subscription metrics of an account: its MRR rows and the screen's figures.

``_recompute_mrr`` reads the account's invoice copies, runs mapping/mrr.py
and brings the stored rows (billwerk.mrr) in line with the result: only the
rows that differ are deleted and created again, the others keep their ids.
Invoice copies that change mark the first month they touch
(``mrr_stale_from``, see billwerk_sync_run_mrr.py); the next recompute starts
there, or at the first month still marked running, whichever is earlier.
"""

import calendar
import logging
from datetime import date, datetime, timedelta, timezone

from dateutil.relativedelta import relativedelta

from odoo import api, fields, models
from odoo.tools import format_date

from ..mapping.money import amount_to_minor, minor_to_amount
from ..mapping.mrr import (
    CHURN,
    CONTRACTION,
    IGNORED_STATES,
    NEW,
    first_month,
    month_before,
    monthly_rows,
)
from ..mapping.revenue import month_start
from .billwerk_mrr import round_minor

_logger = logging.getLogger(__name__)

# The stored rows' zone differs from the account's: every month moves.
EVERYTHING = date(1900, 1, 1)


def month_last_day(month):
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


class BillwerkAccountMrr(models.Model):
    _inherit = "billwerk.account"

    mrr_stale_from = fields.Date(
        string="MRR to recompute from",
        readonly=True,
        copy=False,
        help="The first month whose MRR rows may no longer match the invoice "
        "copies; empty when they all match. Set by the sync, cleared by the "
        "recompute that follows.",
    )
    mrr_zone = fields.Char(
        string="MRR time zone",
        readonly=True,
        copy=False,
        help="The time zone the stored MRR rows were computed in.",
    )
    mrr_month = fields.Date(
        string="Metrics of",
        compute="_compute_mrr_figures",
        help="The last complete month, in the Billwerk account's time zone.",
    )
    mrr_month_name = fields.Char(
        string="Month", compute="_compute_mrr_figures", help="The month shown."
    )
    mrr_currency_id = fields.Many2one(
        "res.currency",
        string="Metrics currency",
        compute="_compute_mrr_figures",
        help="The invoices' currency; the company's where they bill in "
        "several (each converted at the rate of the month's last day).",
    )
    mrr_amount = fields.Monetary(
        string="MRR",
        compute="_compute_mrr_figures",
        currency_field="mrr_currency_id",
        help="Monthly recurring revenue at the end of the last complete month, "
        "excluding VAT.",
    )
    arr_amount = fields.Monetary(
        string="ARR",
        compute="_compute_mrr_figures",
        currency_field="mrr_currency_id",
        help="Annual recurring revenue: twelve times the MRR.",
    )
    mrr_active_customers = fields.Integer(
        string="Active customers",
        compute="_compute_mrr_figures",
        help="Customers with MRR above zero at the month's end.",
    )
    mrr_arpu = fields.Monetary(
        string="ARPU",
        compute="_compute_mrr_figures",
        currency_field="mrr_currency_id",
        help="Average revenue per active customer: the MRR over them.",
    )
    mrr_churn_rate = fields.Float(
        string="MRR churn rate (%)",
        compute="_compute_mrr_figures",
        digits=(16, 2),
        help="MRR lost in the month (churned and contracted) over the MRR it "
        "opened with, in percent.",
    )
    mrr_net_movement = fields.Monetary(
        string="Net MRR movement",
        compute="_compute_mrr_figures",
        currency_field="mrr_currency_id",
        help="The month's MRR minus the month before's.",
    )

    # -- the figures --
    def _compute_mrr_figures(self):
        rows = self.env["billwerk.mrr"].sudo()
        for account in self:
            month = month_start(account._billwerk_today()) - relativedelta(months=1)
            figures = account._mrr_figures(
                rows.search([("account_id", "=", account.id), ("month", "=", month)])
            )
            account.mrr_month = month
            account.mrr_month_name = format_date(self.env, month, date_format="MMMM y")
            account.mrr_currency_id = figures["currency"]
            account.mrr_amount = figures["mrr"]
            account.arr_amount = 12 * figures["mrr"]
            account.mrr_active_customers = figures["active"]
            account.mrr_arpu = figures["arpu"]
            account.mrr_churn_rate = figures["churn_rate"]
            account.mrr_net_movement = figures["net"]

    def _mrr_figures(self, rows):
        """One month's figures from its rows: in their currency if they have
        one, else in the company's (the rows' amounts converted at the rate of
        the month's last day, as the reports add them up)."""
        self.ensure_one()
        currencies = rows.currency_id
        one = len(currencies) <= 1
        currency = (
            (currencies or self.company_id.currency_id)
            if one
            else (self.company_id.currency_id)
        )
        mrr = net = lost = 0.0
        for row in rows:
            mrr += row.mrr if one else row.mrr_company
            change = row.movement_amount if one else row.movement_company
            net += change
            if row.movement in (CHURN, CONTRACTION):
                lost -= change
        opening = mrr - net
        active = len(rows.filtered(lambda row: row.mrr > 0).customer_id)
        return {
            "currency": currency,
            "mrr": currency.round(mrr),
            "net": currency.round(net),
            "active": active,
            "arpu": currency.round(mrr / active) if active else 0.0,
            "churn_rate": 100.0 * lost / opening if opening > 0 else 0.0,
        }

    def _mrr_report(self, xmlid, views):
        """The report of the month the figures show, where they can be found:
        the menus open every month."""
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(xmlid)
        action["domain"] = [
            ("account_id", "=", self.id),
            ("month", "=", self.mrr_month),
        ]
        # The web client titles the action with its display name.
        action["name"] = action["display_name"] = (
            f"{action['name']}: {self.mrr_month_name}"
        )
        action["views"] = [
            (self.env.ref(f"billwerk_connector.{view}").id, kind)
            for view, kind in views
        ]
        return action

    def action_open_mrr_report(self):
        """The month's rows with MRR: the pivot's total is the MRR (a list
        sums only the page it shows), the list names the customers (one row
        per customer and currency)."""
        action = self._mrr_report(
            "billwerk_connector.action_billwerk_mrr",
            [("billwerk_mrr_view_pivot", "pivot"), ("billwerk_mrr_view_list", "list")],
        )
        action["domain"].append(("mrr", "!=", 0))
        return action

    def action_open_mrr_movements(self):
        """The month's movements in the company's currency, as the churn rate
        and the net movement take them."""
        return self._mrr_report(
            "billwerk_connector.action_billwerk_mrr_movements",
            [
                ("billwerk_mrr_view_movements_pivot", "pivot"),
                ("billwerk_mrr_view_list", "list"),
            ],
        )

    # -- the rows --
    @api.model
    def _mrr_now(self):
        """The instant the running month's MRR is taken at (tests fix it)."""
        return datetime.now(timezone.utc)

    def _mark_mrr_stale(self, month):
        """The rows from ``month`` (a first day) on may be wrong."""
        self.env.cr.execute(
            """
            UPDATE billwerk_account
               SET mrr_stale_from = LEAST(COALESCE(mrr_stale_from, %(month)s),
                                          %(month)s)
             WHERE id IN %(ids)s
               AND (mrr_stale_from IS NULL OR mrr_stale_from > %(month)s)
            """,
            {"month": month, "ids": tuple(self.ids)},
        )
        self.invalidate_recordset(["mrr_stale_from"])

    def _mrr_invoices(self, ending_after=None):
        """The account's invoice copies as mapping/mrr.py reads them.

        Archived copies (Billwerk no longer has them), drafts and cancelled
        invoices, and lines without an amount excluding VAT do not count.
        ``ending_after`` (a date): only invoices with a line whose period
        ends on or after the day before it; the day's margin covers every
        time zone's offset, so nothing ending after that date is left out.
        """
        self.ensure_one()
        self.env["billwerk.invoice"].flush_model()
        # period_to is an ISO 8601 date or timestamp as Billwerk sends it:
        # its first ten characters compare as dates.
        self.env.cr.execute(
            """
            SELECT i.customer_handle, c.name, i.state, i.plan_handle, i.order_lines
              FROM billwerk_invoice i
              JOIN res_currency c ON c.id = i.currency_id
             WHERE i.account_id = %(account)s AND i.active
               AND COALESCE(i.state, '') NOT IN %(ignored)s
               AND jsonb_typeof(i.order_lines) = 'array'
               AND (%(since)s::text IS NULL OR EXISTS (
                    SELECT 1 FROM jsonb_array_elements(i.order_lines) line
                     WHERE jsonb_typeof(line) = 'object'
                       AND left(line->>'period_to', 10) >= %(since)s::text))
            """,
            {
                "account": self.id,
                "ignored": tuple(IGNORED_STATES),
                "since": ending_after
                and (ending_after - timedelta(days=1)).isoformat(),
            },
        )
        return [
            {
                "customer": customer,
                "currency": currency,
                "state": state or "",
                "plan": plan or None,
                "order_lines": [
                    line
                    for line in lines
                    if isinstance(line, dict)
                    and isinstance(line.get("amount_ex_vat"), int)
                ],
            }
            for customer, currency, state, plan, lines in self.env.cr.fetchall()
        ]

    def _recompute_mrr(self):
        """Bring the account's rows in line with its invoices; returns how many
        rows were deleted and created."""
        self.ensure_one()
        rows_model = self.env["billwerk.mrr"].sudo()
        zone = self._billwerk_zone()
        now = self._mrr_now()
        current = now.astimezone(zone).date().replace(day=1)
        domain = [("account_id", "=", self.id)]
        since = None
        if self.mrr_zone == str(zone) and rows_model.search_count(domain, 1):
            [(running_from,)] = rows_model._read_group(
                domain + [("running", "=", True)], [], ["month:min"]
            )
            since = min(
                filter(None, (self.mrr_stale_from, running_from, current)),
            )
            if since <= EVERYTHING:
                since = None
            elif rows_model.search_count(domain + [("customer_id", "=", False)], 1):
                # Rows of customers without a copy cannot say who was
                # active before: recompute everything.
                since = None
        months = None
        if since is not None:
            months = [
                since + relativedelta(months=step)
                for step in range(
                    (current.year - since.year) * 12 + current.month - since.month + 1
                )
            ]
        if months is None:
            computed = monthly_rows(self._mrr_invoices(), zone, now)
        else:
            # The month before the first recomputed one decides its
            # movements; only invoices reaching into it are read.
            start = month_before(months[0])
            computed = monthly_rows(
                self._mrr_invoices(ending_after=start),
                zone,
                now,
                months=months,
                active_before=self._mrr_active_before(start),
            )
        wanted = self._mrr_values(computed)
        stored, duplicates = self._mrr_stored(since)
        unchanged = set()
        to_create = []
        for values in wanted:
            key = (values["month"], values["customer_id"], values["currency_id"])
            row = stored.get(key)
            if row is not None and row[1:] == self._mrr_comparable(values):
                unchanged.add(row[0])
            else:
                to_create.append(values)
        stale = rows_model.browse(
            [row[0] for row in stored.values() if row[0] not in unchanged] + duplicates
        )
        stale.unlink()
        rows_model.create(to_create)
        if self.mrr_stale_from or self.mrr_zone != str(zone):
            self.sudo().write({"mrr_stale_from": False, "mrr_zone": str(zone)})
        return len(stale), len(to_create)

    def _mrr_active_before(self, month):
        """``{(customer handle, currency)}`` with MRR above zero in some month
        before ``month``, as the stored rows say: exactly those with a *new*
        row before it (MRR rises above zero from none first as *new*; the
        movement is decided on exact amounts, not on rounded ones)."""
        self.ensure_one()
        self.env["billwerk.mrr"].flush_model()
        self.env.cr.execute(
            """
            SELECT DISTINCT cust.handle, c.name
              FROM billwerk_mrr r
              JOIN res_currency c ON c.id = r.currency_id
              JOIN billwerk_customer cust ON cust.id = r.customer_id
             WHERE r.account_id = %s AND r.month < %s AND r.movement = %s
            """,
            (self.id, month, NEW),
        )
        return set(self.env.cr.fetchall())

    def _mrr_stored(self, since):
        """The stored rows from ``since`` on (all: None), by key, as
        ``(id, *_mrr_comparable)``, and the ids of rows sharing a key; in SQL:
        thousands of rows, no records."""
        self.ensure_one()
        self.env["billwerk.mrr"].flush_model()
        self.env.cr.execute(
            """
            SELECT r.id, r.month, r.customer_id, r.currency_id, c.name,
                   r.mrr, r.movement, r.movement_amount, r.plan_id, r.running,
                   r.mrr_company, r.movement_company
              FROM billwerk_mrr r
              JOIN res_currency c ON c.id = r.currency_id
             WHERE r.account_id = %s AND (%s::date IS NULL OR r.month >= %s::date)
            """,
            (self.id, since, since),
        )
        fetched = self.env.cr.fetchall()
        # After the fetch: reading a field not in the cache runs a query on
        # the same cursor, which would replace the rows not yet fetched.
        company_code = self.company_id.currency_id.name
        stored = {}
        # Rows of customers without a copy (NULL) may share a key: the extra
        # ones are deleted and made again.
        duplicates = []
        for (
            row_id,
            month,
            customer,
            currency,
            code,
            mrr,
            movement,
            movement_amount,
            plan,
            running,
            mrr_company,
            movement_company,
        ) in fetched:
            key = (month, customer or False, currency)
            if key in stored:
                duplicates.append(row_id)
                continue
            stored[key] = (
                row_id,
                amount_to_minor(mrr or 0.0, code),
                movement,
                amount_to_minor(movement_amount or 0.0, code),
                plan or False,
                bool(running),
                amount_to_minor(mrr_company or 0.0, company_code),
                amount_to_minor(movement_company or 0.0, company_code),
            )
        return stored, duplicates

    def _mrr_comparable(self, values):
        """What decides whether a stored row is still right, in minor units."""
        code = self.env["res.currency"].browse(values["currency_id"]).name
        company_code = self.company_id.currency_id.name
        return (
            amount_to_minor(values["mrr"], code),
            values["movement"],
            amount_to_minor(values["movement_amount"], code),
            values["plan_id"] or False,
            values["running"],
            amount_to_minor(values["mrr_company"], company_code),
            amount_to_minor(values["movement_company"], company_code),
        )

    def _mrr_values(self, computed):
        """Field values of mapping/mrr.py's rows, rounded to the minor unit."""
        self.ensure_one()
        currencies = {
            currency.name: currency
            for currency in self.env["res.currency"]
            .with_context(active_test=False)
            .search([("name", "in", list({row.currency for row in computed}))])
        }
        customers = self._ids_by_handle(
            "billwerk.customer", {r.customer for r in computed}
        )
        plans = self._ids_by_handle("billwerk.plan", {r.plan for r in computed})
        company = self.company_id
        company_currency = company.currency_id
        rates = {}
        values_list = []
        for row in computed:
            currency = currencies.get(row.currency)
            if currency is None:
                continue  # a currency Odoo does not know has no copy either
            day = month_last_day(row.month)
            if (currency, day) not in rates:
                # res.currency._convert's arithmetic: the amount times this
                # rate, rounded by the company's currency; one query per
                # currency and month instead of one per row.
                rates[currency, day] = currency._get_conversion_rate(
                    currency, company_currency, company, day
                )
            mrr = minor_to_amount(round_minor(row.mrr), row.currency)
            movement = minor_to_amount(round_minor(row.movement_amount), row.currency)
            values_list.append(
                {
                    "account_id": self.id,
                    "month": row.month,
                    "customer_id": customers.get(row.customer, False),
                    "currency_id": currency.id,
                    "mrr": mrr,
                    "mrr_company": company_currency.round(mrr * rates[currency, day]),
                    "movement": row.movement,
                    "movement_amount": movement,
                    "movement_company": company_currency.round(
                        movement * rates[currency, day]
                    ),
                    "plan_id": plans.get(row.plan, False),
                    "running": row.running,
                }
            )
        return values_list

    def _ids_by_handle(self, model, handles):
        records = (
            self.env[model]
            .sudo()
            .with_context(active_test=False)
            .search_read(
                [
                    ("account_id", "=", self.id),
                    ("handle", "in", list(filter(None, handles))),
                ],
                ["handle"],
            )
        )
        return {record["handle"]: record["id"] for record in records}

    @api.model
    def _mrr_first_month(self, lines, zone):
        """The first month ``lines`` touch (None: none); all if unreadable."""
        try:
            return first_month(lines if isinstance(lines, list) else [], zone)
        except (TypeError, ValueError, AttributeError):
            return EVERYTHING

    # -- the account's data --
    def _purge_synchronized_data(self):
        self.check_access("write")
        self.env["billwerk.mrr"].sudo().search([("account_id", "=", self.id)]).unlink()
        result = super()._purge_synchronized_data()
        self.sudo().write({"mrr_stale_from": False, "mrr_zone": False})
        return result

    def _move_synchronized_data(self, source, target):
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE billwerk_mrr SET account_id = %s WHERE account_id = %s",
            (target.id, source.id),
        )
        result = super()._move_synchronized_data(source, target)
        # The moved rows are whatever they were; the next run checks them all.
        (source | target).sudo().write(
            {"mrr_stale_from": EVERYTHING, "mrr_zone": False}
        )
        return result
