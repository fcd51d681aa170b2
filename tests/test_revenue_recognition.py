"""Revenue recognised over the service period: what the ledger holds per month.

Every deferred line's shares equal mapping/revenue.py's over Billwerk's own
figures; the recognition entries hold exactly those shares per month; the
deferred revenue account holds exactly what is still to be recognised; a
credit note or a cancellation empties the deferral before touching income;
nothing is scheduled twice.
"""

from collections import defaultdict
from unittest.mock import patch

from psycopg2 import IntegrityError

from odoo.exceptions import AccessError, ValidationError
from odoo.tests import tagged
from odoo.tools import mute_logger

from ..mapping.revenue import deferral_shares, month_end, service_period
from ..models import billwerk_posting
from .common import PostingCase, minor, new_test_user
from .test_posting import WorkerKilled


class RecognitionCase(PostingCase):
    """Posting with revenue recognition on, posted once per class."""

    # False: the class's tests post themselves.
    post_with_recognition = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.deferred = cls.env["account.account"].create(
            {
                "name": "Deferred revenue (contract liabilities)",
                "code": "249100",
                "account_type": "liability_current",
                "company_ids": [cls.env.company.id],
            }
        )
        cls.give_tax_accounts(cls.taxes.values())
        cls.switch_posting_on()
        cls.account.with_user(cls.manager).write(
            {"recognize_revenue": True, "deferred_revenue_account_id": cls.deferred.id}
        )
        if cls.post_with_recognition:
            cls.first_post = cls.post()

    @classmethod
    def give_tax_accounts(cls, taxes):
        """VAT on an account of its own, as in any chart of accounts."""
        taxes = list(taxes)
        company = taxes[0].company_id
        vat = cls.env["account.account"].create(
            {
                "name": "VAT payable",
                "code": f"2611{company.id:02d}",
                "account_type": "liability_current",
                "company_ids": [company.id],
            }
        )
        for tax in taxes:
            for lines in (
                tax.invoice_repartition_line_ids,
                tax.refund_repartition_line_ids,
            ):
                lines.filtered(lambda r: r.repartition_type == "tax").account_id = vat

    def shares(self, **extra):
        domain = [("account_id", "=", self.account.id)]
        domain += [(name, "=", value) for name, value in extra.items()]
        return self.env["billwerk.revenue.share"].search(domain)

    def entries(self):
        return self.env["account.move"].search(
            [
                ("billwerk_account", "=", self.account.billwerk_id),
                ("billwerk_document", "=like", "recognition/%"),
            ]
        )

    def deferred_balance(self, moves=None):
        """The deferred revenue account's balance (credit positive), posted."""
        lines = self.env["account.move.line"].search(
            [("account_id", "=", self.deferred.id), ("parent_state", "=", "posted")]
        )
        if moves is not None:
            lines = lines.filtered(lambda line: line.move_id in moves)
        return -sum(lines.mapped("balance"))

    def deferred_invoices(self):
        return self.invoices().filtered(
            lambda i: (
                i.move_id
                and i.move_id.line_ids.filtered(
                    lambda line: line.account_id == self.deferred
                )
            )
        )


@tagged("post_install", "-at_install")
class TestRevenueRecognised(RecognitionCase):
    def test_every_deferred_line_is_split_as_billwerk_periods_say(self):
        zone = self.account._billwerk_zone()
        deferred_lines = 0
        for invoice in self.invoices().filtered("move_id"):
            self.assert_exact(invoice)
            move = invoice.move_id
            currency = invoice.currency_id
            day = move.invoice_date
            expected = []
            for line in invoice.order_lines:
                period = service_period(line["period_from"], line["period_to"], zone)
                net = line["amount_ex_vat"]  # the copy keeps minor units
                shares = deferral_shares(net, period, day)
                if shares:
                    expected.append(shares)
            booked = move.line_ids.filtered(
                lambda line: line.account_id == self.deferred
            )
            self.assertEqual(
                booked, booked.filtered(lambda line: line.display_type == "product")
            )
            self.assertEqual(len(booked), len(expected), invoice.handle)
            for line in booked:
                self.assertFalse(line.analytic_distribution)
                self.assertTrue(line.billwerk_income_account_id)
                rows = self.shares(source_line_id=line.id, kind="share")
                self.assertEqual(rows.plan_id, invoice.plan_id, invoice.handle)
                got = [
                    (row.month, minor(row.amount_currency, currency)) for row in rows
                ]
                self.assertIn(got, expected, invoice.handle)
                self.assertEqual(
                    sum(
                        minor(row.balance, self.env.company.currency_id) for row in rows
                    ),
                    minor(-line.balance, self.env.company.currency_id),
                    f"{invoice.handle}: the shares add up in the company's currency",
                )
                deferred_lines += 1
        self.assertGreater(
            deferred_lines, 10, "the sandbox bills periods across months"
        )

    def test_the_entries_hold_each_months_shares_and_the_rest_stays_deferred(self):
        shares = self.shares()
        self.assertTrue(shares)
        company_currency = self.env.company.currency_id
        by_month = defaultdict(int)
        for share in shares:
            by_month[share.date] += minor(share.balance, company_currency)
        entries = self.entries()
        in_entries = defaultdict(int)
        for entry in entries:
            self.assertEqual(entry.journal_id, self.account.recognition_journal_id)
            self.assertEqual(entry.journal_id.type, "general")
            income = entry.line_ids.filtered(
                lambda line: line.account_id != self.deferred
            )
            in_entries[entry.date] += -sum(
                minor(line.balance, company_currency) for line in income
            )
            self.assertEqual(
                sum(minor(line.balance, company_currency) for line in entry.line_ids), 0
            )
        self.assertEqual(dict(in_entries), dict(by_month))
        # The ledger: deferred revenue is what the drafts still have to release.
        drafts = entries.filtered(lambda m: m.state == "draft")
        still = sum(
            minor(share.balance, company_currency)
            for share in shares.filtered(lambda s: not s.recognised)
        )
        self.assertEqual(minor(self.deferred_balance(), company_currency), still)
        self.assertEqual(
            still,
            sum(
                minor(line.balance, company_currency)
                for line in drafts.line_ids.filtered(
                    lambda line: line.account_id == self.deferred
                )
            ),
        )
        self.assertEqual(minor(self.account.deferred_revenue, company_currency), still)

    def test_the_report_agrees_with_the_ledger_at_each_months_end(self):
        today = self.account._billwerk_today()
        company_currency = self.env.company.currency_id
        report = self.env["billwerk.revenue.report"].search(
            [("account_id", "=", self.account.id)]
        )
        months = sorted(set(report.mapped("month")))
        self.assertTrue(months)
        checked = 0
        for month in months:
            end = month_end(month)
            if end > today:
                continue
            rows = report.filtered(lambda r, month=month: r.month == month)
            ledger = self.env["account.move.line"].search(
                [
                    ("account_id", "=", self.deferred.id),
                    ("parent_state", "=", "posted"),
                    ("date", "<=", end),
                ]
            )
            self.assertEqual(
                minor(sum(rows.mapped("deferred")), company_currency),
                minor(-sum(ledger.mapped("balance")), company_currency),
                f"deferred revenue at {end}",
            )
            recognised = (
                self.entries()
                .filtered(lambda m, end=end: m.date == end and m.state == "posted")
                .line_ids.filtered(lambda line: line.account_id != self.deferred)
            )
            self.assertEqual(
                minor(sum(rows.mapped("recognised")), company_currency),
                minor(-sum(recognised.mapped("balance")), company_currency),
                f"recognised in {month:%Y-%m}",
            )
            checked += 1
        self.assertTrue(checked)

    def test_the_screens_report_is_the_connected_billwerk_accounts(self):
        reports = self.env["billwerk.revenue.report"]
        action = self.account.action_open_revenue_report()
        rows = reports.search(action["domain"])
        self.assertTrue(rows)
        self.assertEqual(set(rows.mapped("billwerk_id")), {self.account.billwerk_id})
        self.assertEqual(rows, reports.search([("account_id", "=", self.account.id)]))
        # After a switch, the earlier account's schedules keep running and
        # stay in the menu's report, not in the new account's.
        self.env.cr.execute(
            "UPDATE billwerk_account SET billwerk_id = 'another' WHERE id = %s",
            (self.account.id,),
        )
        self.account.invalidate_recordset(["billwerk_id"])
        action = self.account.action_open_revenue_report()
        self.assertFalse(reports.search(action["domain"]))
        self.assertEqual(reports.search([("account_id", "=", self.account.id)]), rows)

    def test_months_that_ended_are_posted_and_later_ones_wait_for_their_day(self):
        today = self.account._billwerk_today()
        entries = self.entries()
        passed = entries.filtered(lambda m: m.date <= today)
        later = entries - passed
        self.assertTrue(passed and later, "the sandbox has both")
        self.assertEqual(set(passed.mapped("state")), {"posted"})
        self.assertEqual(set(later.mapped("state")), {"draft"})
        self.assertEqual(set(later.mapped("auto_post")), {"at_date"})
        # One entry per account and month.
        self.assertEqual(len(entries), len(set(entries.mapped("date"))))
        for entry in entries:
            self.assertEqual(
                entry.date, month_end(entry.date), "dated the month's last day"
            )

    def test_a_rerun_schedules_nothing_twice(self):
        before = (len(self.shares()), len(self.entries()), self.deferred_balance())
        self.post()
        self.post()
        self.assertEqual(
            (len(self.shares()), len(self.entries()), self.deferred_balance()), before
        )
        with (
            self.assertRaises(IntegrityError),
            mute_logger("odoo.sql_db"),
            self.env.cr.savepoint(),
        ):
            share = self.shares()[:1]
            share.copy()

    def test_a_cancelled_invoice_leaves_nothing_deferred_nor_recognised(self):
        invoice = self.deferred_invoices().filtered(lambda i: i.state == "pending")[:1]
        self.assertTrue(invoice, "a pending invoice with a deferred line")
        move = invoice.move_id
        self.sandbox.cancel_invoice(self.key, invoice.billwerk_id)
        self.sync()
        self.assertTrue(invoice.reversal_move_id)
        lines = self.shares(invoice_move_id=move.id)
        currency = invoice.currency_id
        self.assertEqual(
            minor(
                sum(
                    lines.filtered(lambda s: not s.recognised).mapped("amount_currency")
                ),
                currency,
            ),
            0,
            "nothing is left to recognise",
        )
        company_currency = self.env.company.currency_id
        # Posted and still to post: every line of the invoice's deferral,
        # recognised or not, nets to nothing on both accounts.
        touched = self.env["account.move.line"].search(
            [
                "|",
                ("move_id", "in", (move | invoice.reversal_move_id).ids),
                (
                    "move_id.billwerk_document",
                    "=",
                    f"deferral/cancel/{invoice.billwerk_id}",
                ),
            ]
        )
        recognised = self.shares(invoice_move_id=move.id).filtered("recognised")
        deferred = touched.filtered(lambda line: line.account_id == self.deferred)
        self.assertEqual(
            minor(sum(deferred.mapped("balance")), company_currency)
            + minor(sum(recognised.mapped("balance")), company_currency),
            0,
            "what the invoice put on deferred revenue is all taken off",
        )

    def test_a_refund_takes_the_latest_deferred_months_first(self):
        today = self.account._billwerk_today()
        candidates = self.deferred_invoices().filtered(
            lambda i: i.state == "settled" and not i.credit_note_ids
        )
        invoice = next(
            (
                i
                for i in candidates
                if self.shares(invoice_move_id=i.move_id.id).filtered(
                    lambda s: s.date > today
                )
            ),
            None,
        )
        if not invoice:
            self.skipTest("no settled invoice with months to come in this sandbox")
        currency = invoice.currency_id
        open_before = self.shares(invoice_move_id=invoice.move_id.id).filtered(
            lambda s: not s.recognised
        )
        still = sum(minor(s.amount_currency, currency) for s in open_before)
        self.sandbox.refund_invoice(
            self.key, invoice.billwerk_id, amount=minor(invoice.amount, currency) // 4
        )
        self.sync()
        note = invoice.credit_note_ids
        self.assertTrue(note.move_id)
        credited = minor(note.amount_ex_vat, currency)
        taken = self.shares(credit_move_id=note.move_id.id)
        took = -sum(minor(s.amount_currency, currency) for s in taken)
        self.assertEqual(took, min(credited, still))
        # Latest months first: every month after the earliest one touched is
        # emptied.
        earliest = min(taken.mapped("month"))
        for share_month in set(
            open_before.filtered(lambda s: s.month > earliest).mapped("month")
        ):
            net = self.shares(invoice_move_id=invoice.move_id.id, month=share_month)
            self.assertEqual(minor(sum(net.mapped("amount_currency")), currency), 0)
        adjustment = self.env["account.move"].search(
            [("billwerk_document", "=", f"deferral/credit_note/{note.billwerk_id}")]
        )
        self.assertEqual(adjustment.state, "posted")
        self.assertEqual(
            minor(
                sum(
                    adjustment.line_ids.filtered(
                        lambda l: l.account_id == self.deferred
                    ).mapped("amount_currency")
                ),
                currency,
            ),
            took,
        )


@tagged("post_install", "-at_install")
class TestRecognitionSettings(RecognitionCase):
    def test_the_deferred_account_cannot_change_while_schedules_run(self):
        other = self.deferred.copy({"code": "249200"})
        with self.assertRaises(ValidationError):
            self.account.with_user(self.manager).deferred_revenue_account_id = other

    def test_a_user_without_accounting_rights_cannot_change_them(self):
        for field, value in (
            ("recognize_revenue", False),
            ("deferred_revenue_account_id", False),
            ("recognition_journal_id", False),
        ):
            with self.assertRaises(AccessError):
                self.account.with_user(self.billwerk_user).write({field: value})

    def test_switching_off_books_new_invoices_as_today_and_keeps_schedules(self):
        shares = len(self.shares())
        self.account.with_user(self.manager).recognize_revenue = False
        invoice = self.deferred_invoices().filtered("subscription_id")[:1]
        created = self.sandbox.create_invoice(
            self.key,
            invoice.customer_id.handle,
            invoice.subscription_id.handle,
            state="pending",
        )
        self.sync()
        new = self.invoices().filtered(lambda i: i.billwerk_id == created["id"])
        self.assertTrue(new.move_id, new.post_error)
        self.assertFalse(
            new.move_id.line_ids.filtered(
                lambda line: line.account_id == self.deferred
            ),
            "booked on its income account, as without the option",
        )
        self.assertEqual(len(self.shares()), shares, "no new schedule")
        self.assertTrue(
            self.entries().filtered(lambda m: m.state == "draft"),
            "the schedules made keep running",
        )

    def test_without_a_deferred_account_invoices_wait_in_words(self):
        company = self.env["res.company"].create({"name": "No deferral yet"})
        self.env["account.chart.template"].try_loading(
            "generic_coa", company=company, install_demo=False
        )
        self.give_tax_accounts(list(self.sales_taxes(company).values()))
        self.give_rates(company)
        account = self.env["billwerk.account"].create(
            {"company_id": company.id, "api_url": self.sandbox.url}
        )
        self.store_key(account, self.other_key)
        self.sync(account)
        self.manager.company_ids |= company
        self.switch_posting_on(account)
        account.with_user(self.manager).with_company(company).recognize_revenue = True
        self.post(account)
        waiting = self.invoices(account).filtered("post_error")
        self.assertTrue(waiting)
        self.assertIn("no deferred revenue account is chosen", waiting[0].post_error)
        zone = account._billwerk_zone()
        for invoice in self.invoices(account).filtered(
            lambda i: i.state != "cancelled" and i.state != "created"
        ):
            defers = any(
                deferral_shares(
                    line["amount_ex_vat"],
                    service_period(line["period_from"], line["period_to"], zone),
                    invoice.move_id.invoice_date or invoice.created.date(),
                )
                for line in invoice.order_lines
            )
            if not defers:
                self.assertFalse(
                    "no deferred revenue account" in (invoice.post_error or ""),
                    invoice.handle,
                )
        income = self.env["account.account"].search(
            [("account_type", "=", "income"), ("company_ids", "in", company.id)],
            limit=1,
        )
        with self.assertRaises(ValidationError):
            account.with_user(self.manager).with_company(company).write(
                {"deferred_revenue_account_id": income.id}
            )


@tagged("post_install", "-at_install")
class TestRecognitionFirstPosting(RecognitionCase):
    post_with_recognition = False

    def test_a_crash_mid_posting_leaves_no_schedule_without_its_invoice(self):
        recognition = type(self.env["billwerk.revenue.recognition"])
        original = recognition._book_shares
        calls = []

        def crash_on_second_batch(model, account, shares):
            calls.append(len(shares))
            if len(calls) == 2:
                raise WorkerKilled()
            return original(model, account, shares)

        crashed = False
        with (
            patch.object(billwerk_posting, "BATCH", 20),
            patch.object(recognition, "_book_shares", crash_on_second_batch),
        ):
            try:
                self.post()
            except WorkerKilled:
                crashed = True
        self.assertTrue(crashed)
        self.env.invalidate_all()
        scheduled = self.shares().invoice_move_id
        deferred = self.deferred_invoices().move_id
        self.assertTrue(scheduled)
        self.assertEqual(scheduled, deferred, "a schedule exactly where an invoice is")
        self.assertFalse(
            self.shares().filtered(lambda s: not s.recognition_move_id),
            "every share is booked in its month's entry",
        )
        self.post()
        self.assertEqual(
            self.shares().invoice_move_id, self.deferred_invoices().move_id
        )
        self.assertEqual(
            len(self.shares()),
            len(
                set(
                    self.shares().mapped(
                        lambda s: (s.source_line_id.id, s.month, s.key)
                    )
                )
            ),
        )

    def test_the_analytic_distribution_moves_to_the_recognition_entries(self):
        plan = self.env["account.analytic.plan"].create({"name": "Billwerk lines"})
        analytic = self.env["account.analytic.account"].create(
            {"name": "Subscriptions", "plan_id": plan.id}
        )
        self.env["account.analytic.distribution.model"].create(
            {
                "analytic_distribution": {str(analytic.id): 100},
                "company_id": self.env.company.id,
            }
        )
        self.post()
        moves = self.deferred_invoices().move_id
        self.assertTrue(moves)
        deferred_lines = moves.line_ids.filtered(
            lambda line: line.account_id == self.deferred
        )
        self.assertFalse(
            deferred_lines.analytic_line_ids,
            "deferred revenue counts in no analytic account",
        )
        income = self.entries().line_ids.filtered(
            lambda line: line.account_id != self.deferred
        )
        self.assertTrue(income)
        for line in income:
            self.assertEqual(line.analytic_distribution, {str(analytic.id): 100})
        posted = income.filtered(lambda line: line.parent_state == "posted")
        self.assertTrue(posted.analytic_line_ids, "recognised revenue counts there")

    def test_a_zero_rate_tax_needs_no_tax_account(self):
        zero = self.taxes[0.0]
        for lines in (
            zero.invoice_repartition_line_ids,
            zero.refund_repartition_line_ids,
        ):
            lines.filtered(lambda r: r.repartition_type == "tax").account_id = False
        self.post()
        self.assertFalse(
            self.invoices().filtered(
                lambda i: "no tax account" in (i.post_error or "")
            ),
            "a 0 % tax books no VAT: nothing waits for its account",
        )
        self.assertTrue(self.shares())

    def test_each_company_sees_its_own_schedule(self):
        self.post()
        outsider = new_test_user(
            self.env,
            login="other_company_accountant",
            groups="base.group_user,account.group_account_invoice",
            company_id=self.env.ref("base.main_company").id,
        )
        company = self.env["res.company"].create({"name": "Elsewhere ApS"})
        outsider.write(
            {"company_ids": [(6, 0, [company.id])], "company_id": company.id}
        )
        self.assertTrue(self.shares())
        self.assertFalse(
            self.env["billwerk.revenue.share"].with_user(outsider).search([]),
        )
        self.assertFalse(
            self.env["billwerk.revenue.report"].with_user(outsider).search([]),
        )
