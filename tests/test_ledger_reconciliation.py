"""Billwerk beside the ledger: every difference explained, to the minor unit.

One sandbox account is synchronized and posted once for the class, as an
accountant would run it: posting starts in the middle of its history, one VAT
rate has no tax yet (its invoices wait), one invoice due for posting was
booked by hand beforehand (booked elsewhere), and one posted invoice is
cancelled in Billwerk afterwards (reversed).
"""

from collections import defaultdict
from datetime import UTC
from unittest.mock import patch

from psycopg2 import errors

from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from ..mapping.books import POSTED_STATES
from .common import PostingCase, minor

MEASURES = (
    "billwerk_invoiced",
    "billwerk_invoiced_vat",
    "billwerk_credited",
    "billwerk_credited_vat",
    "billwerk_settled",
    "billwerk_refunded",
    "billwerk_receivable",
    "ledger_invoiced",
    "ledger_credited",
    "ledger_settled",
    "ledger_refunded",
    "ledger_receivable",
    "unexplained_amount",
)


def local_day(moment, zone):
    return moment.replace(tzinfo=UTC).astimezone(zone).date()


@tagged("post_install", "-at_install")
class TestLedgerReconciliation(PostingCase):
    # Enough invoices for every case the report explains (posted once below).
    sandbox_options = {**PostingCase.sandbox_options, "customers": 40, "invoices": 120}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.zone = cls.account._billwerk_zone()
        invoices = cls.all_invoices().sorted("created")
        cls.post_from = local_day(invoices[len(invoices) // 2].created, cls.zone)
        due = invoices.filtered(
            lambda i: (
                i.state in POSTED_STATES
                and local_day(i.created, cls.zone) >= cls.post_from
            )
        )
        # A rate some, not all, of the due invoices use waits for its tax.
        rates = defaultdict(int)
        for invoice in due:
            for rate in {line["vat"] for line in invoice.order_lines or []}:
                rates[rate] += 1
        cls.waiting_rate = min(rates, key=lambda rate: rates[rate])
        cls.env["billwerk.tax.mapping"].create(
            {"account_id": cls.account.id, "vat_rate": cls.waiting_rate}
        )
        # An invoice due for posting an accountant had booked by hand.
        cls.by_hand = due.filtered(
            lambda i: (
                i.transaction_ids
                and all(line["vat"] != cls.waiting_rate for line in i.order_lines)
            )
        )[0]
        cls.by_hand.sudo().booked_elsewhere = True
        cls.account.with_user(cls.manager).write(
            {"post_invoices": True, "post_from": cls.post_from, "rate_max_age_days": 0}
        )
        cls.env["billwerk.posting"]._post_account(cls.account)
        # A posted open invoice Billwerk cancels: reversed by the next run.
        cls.cancelled = due.filtered(
            lambda i: (
                i.move_id
                and i.state == "pending"
                and not i.transaction_ids
                and not i.credit_note_ids
            )
        )[0]
        cls.sandbox.cancel_invoice(cls.key, cls.cancelled.billwerk_id)
        cls.env["billwerk.sync.run"]._run_for(cls.account, trigger="manual")
        cls.accounting_reader = new_test_user(
            cls.env,
            login="billwerk_auditor",
            groups="base.group_user,account.group_account_readonly,"
            "billwerk_connector.group_billwerk_account",
        )

    @classmethod
    def all_invoices(cls):
        return cls.env["billwerk.invoice"].search([("account_id", "=", cls.account.id)])

    def lines(self, **extra):
        domain = [("account_id", "=", self.account.id)]
        domain += [(name, "=", value) for name, value in extra.items()]
        return self.env["billwerk.ledger.line"].search(domain)

    def line_of(self, reference, **extra):
        line = self.lines(reference=reference, **extra)
        self.assertEqual(len(line), 1, reference)
        return line

    def reopen(self):
        """The report as an accountant opens it from the account screen."""
        return self.account.with_user(self.manager).action_open_ledger_reconciliation()

    def assert_all_explained(self):
        lines = self.lines()
        unexplained = lines.filtered(lambda line: line.reason == "unexplained")
        self.assertFalse(
            unexplained,
            [
                (line.reference, line.billwerk_amount, line.ledger_amount)
                for line in unexplained
            ],
        )
        self.assertEqual(sum(lines.mapped("unexplained_amount")), 0)
        return lines

    def test_after_a_full_run_every_difference_is_explained(self):
        self.assertEqual(self.cancelled.state, "cancelled")
        self.assertTrue(self.cancelled.reversal_move_id)
        lines = self.assert_all_explained()
        self.assertEqual(
            set(lines.mapped("reason")),
            {"matched", "waiting", "before_posting", "booked_elsewhere"},
        )
        self.assertEqual(
            set(lines.mapped("kind")),
            {"invoice", "credit_note", "cancellation", "settlement", "refund"},
        )
        claims = self.all_invoices().filtered(lambda i: i.state in POSTED_STATES)
        self.assertEqual(
            len(lines.filtered(lambda line: line.kind == "invoice")),
            len(claims) + 1,  # and the cancelled one that was posted
        )
        # What is matched is posted, to the minor unit.
        for line in lines.filtered(lambda line: line.reason == "matched"):
            self.assertEqual(line.billwerk_amount, line.ledger_amount)
            self.assertEqual(line.billwerk_vat, line.ledger_vat)
            self.assertTrue(line.move_id or line.payment_id, line.reference)

    def test_month_totals_are_the_sums_of_billwerks_documents(self):
        expected = defaultdict(lambda: defaultdict(int))

        def add(day, currency, name, amount):
            expected[day.replace(day=1), currency][name] += minor(amount, currency)

        for invoice in self.all_invoices():
            currency = invoice.currency_id
            day = local_day(invoice.created, self.zone)
            if invoice.state in POSTED_STATES or invoice == self.cancelled:
                add(day, currency, "billwerk_invoiced", invoice.amount)
                add(day, currency, "billwerk_invoiced_vat", invoice.amount_vat)
            for note in invoice.credit_note_ids:
                note_day = max(local_day(note.created, self.zone), day)
                add(note_day, currency, "billwerk_credited", note.amount)
                add(note_day, currency, "billwerk_credited_vat", note.amount_vat)
            for payment in invoice.transaction_ids:
                moment = payment.settled or payment.refunded or payment.created
                payment_day = local_day(moment, self.zone)
                if payment.type == "settle" and payment.state == "settled":
                    add(payment_day, currency, "billwerk_settled", payment.amount)
                elif payment.type == "refund" and payment.state in (
                    "refunded",
                    "settled",
                ):
                    add(payment_day, currency, "billwerk_refunded", payment.amount)
        reversal = self.cancelled.reversal_move_id
        currency = self.cancelled.currency_id
        add(reversal.date, currency, "billwerk_credited", self.cancelled.amount)
        add(reversal.date, currency, "billwerk_credited_vat", self.cancelled.amount_vat)

        names = sorted({name for row in expected.values() for name in row})
        groups = self.env["billwerk.ledger.line"]._read_group(
            [("account_id", "=", self.account.id)],
            ["month:month", "currency_id"],
            [f"{name}:sum" for name in names],
        )
        self.assertGreater(len(groups), 3, "several months")
        found = {
            (month_start, currency): {
                name: minor(value, currency)
                for name, value in zip(names, sums, strict=True)
                if value
            }
            for month_start, currency, *sums in groups
        }
        self.assertEqual(
            {key: row for key, row in found.items() if row},
            {key: {n: v for n, v in row.items() if v} for key, row in expected.items()},
        )

    def test_the_ledger_side_is_what_the_ledger_holds(self):
        """Per month and currency, the bound posted entries and payments; over
        all months, the receivable balance of the account's bookings."""
        bound = [
            ("billwerk_account", "=", self.account.billwerk_id),
            ("company_id", "=", self.account.company_id.id),
        ]
        moves = self.env["account.move"].search(bound + [("state", "=", "posted")])
        payments = self.env["account.payment"].search(
            bound + [("state", "in", ("in_process", "paid"))]
        )
        self.assertTrue(moves and payments)
        expected = defaultdict(lambda: defaultdict(int))
        for move in moves:
            row = expected[move.date.replace(day=1), move.currency_id]
            name = (
                "ledger_invoiced"
                if move.move_type == "out_invoice"
                else "ledger_credited"
            )
            row[name] += minor(move.amount_total, move.currency_id)
        for payment in payments:
            row = expected[payment.date.replace(day=1), payment.currency_id]
            name = (
                "ledger_settled"
                if payment.payment_type == "inbound"
                else "ledger_refunded"
            )
            row[name] += minor(payment.amount, payment.currency_id)
        names = (
            "ledger_invoiced",
            "ledger_credited",
            "ledger_settled",
            "ledger_refunded",
        )
        groups = self.env["billwerk.ledger.line"]._read_group(
            [("account_id", "=", self.account.id)],
            ["month:month", "currency_id"],
            [f"{name}:sum" for name in names],
        )
        found = {
            (month_start, currency): {
                name: minor(value, currency)
                for name, value in zip(names, sums, strict=True)
                if value
            }
            for month_start, currency, *sums in groups
        }
        self.assertEqual(
            {key: sums for key, sums in found.items() if sums},
            {key: dict(row) for key, row in expected.items()},
        )
        # The open receivable: what the receivable lines of these bookings hold.
        receivable = defaultdict(int)
        for line in (moves | payments.move_id).line_ids:
            if line.account_id.account_type == "asset_receivable":
                receivable[line.currency_id] += minor(
                    line.amount_currency, line.currency_id
                )
        reported = defaultdict(int)
        for line in self.lines():
            reported[line.currency_id] += minor(
                line.ledger_receivable, line.currency_id
            )
        self.assertEqual(
            {c: v for c, v in reported.items() if v},
            {c: v for c, v in receivable.items() if v},
        )

    def test_billwerks_open_receivable_is_what_its_invoices_leave_open(self):
        """Σ over the invoices of amount − settled − credited + refunded, as
        Billwerk reports them on each invoice (a draft's amount is no claim)."""
        open_amounts = defaultdict(int)
        for invoice in self.all_invoices():
            currency = invoice.currency_id
            claim = invoice.amount if invoice.state in POSTED_STATES else 0
            open_amounts[currency] += minor(
                claim
                - invoice.settled_amount
                - invoice.credited_amount
                + invoice.refunded_amount,
                currency,
            )
        reported = defaultdict(int)
        for line in self.lines():
            reported[line.currency_id] += minor(
                line.billwerk_receivable, line.currency_id
            )
        self.assertEqual(
            {c: v for c, v in reported.items() if v},
            {c: v for c, v in open_amounts.items() if v},
        )

    def test_a_waiting_invoice_shows_as_waiting(self):
        waiting = self.all_invoices().filtered("post_error")
        self.assertTrue(waiting)
        for invoice in waiting:
            line = self.line_of(f"invoice/{invoice.billwerk_id}")
            self.assertEqual(line.reason, "waiting")
            self.assertEqual(line.waiting_reason, invoice.post_error)
            self.assertIn("no sales tax mapped", line.waiting_reason)
            self.assertEqual(line.ledger_amount, 0)
            self.assertEqual(line.difference, invoice.amount)
            for transaction in invoice.transaction_ids.filtered(
                lambda t: t.state == "settled"
            ):
                self.assertEqual(
                    self.line_of(f"transaction/{transaction.billwerk_id}").reason,
                    "waiting",
                    "its payment waits with it",
                )

    def test_an_entry_reset_to_draft_and_edited_shows_both_figures(self):
        open_invoices = self.all_invoices().filtered(
            lambda i: (
                i.move_id
                and i.state in ("pending", "dunning", "failed", "authorized")
                and not i.transaction_ids
                and not i.credit_note_ids
                and i != self.cancelled
            )
        )
        edited, left_in_draft = open_invoices[:2]
        move = edited.move_id
        move.button_draft()
        line = move.invoice_line_ids[0]
        line.price_unit += 10
        move.action_post()
        left_in_draft.move_id.button_draft()
        payment = self.all_invoices().transaction_ids.payment_id[0]
        payment.action_draft()
        self.reopen()

        currency = edited.currency_id
        row = self.line_of(f"invoice/{edited.billwerk_id}")
        self.assertEqual((row.reason, row.detail), ("edited", "amounts"))
        self.assertEqual(row.billwerk_amount, edited.amount)
        self.assertEqual(row.ledger_amount, move.amount_total)
        self.assertNotEqual(row.billwerk_amount, row.ledger_amount)
        self.assertEqual(
            minor(row.difference, currency),
            minor(edited.amount, currency) - minor(move.amount_total, currency),
        )
        self.assertEqual(row.ledger_vat, move.amount_tax)
        self.assertEqual(row.move_id, move)
        draft = self.line_of(f"invoice/{left_in_draft.billwerk_id}")
        self.assertEqual((draft.reason, draft.detail), ("edited", "not_posted"))
        self.assertEqual(
            (draft.ledger_amount, draft.difference), (0, left_in_draft.amount)
        )
        unposted = self.lines(payment_id=payment.id)
        self.assertEqual(
            (unposted.reason, unposted.detail, unposted.ledger_amount),
            ("edited", "not_posted", 0),
        )
        self.assert_all_explained()

    def test_booked_elsewhere_shows_as_such_and_is_never_posted(self):
        self.assertFalse(self.by_hand.move_id)
        line = self.line_of(f"invoice/{self.by_hand.billwerk_id}")
        self.assertEqual((line.reason, line.ledger_amount), ("booked_elsewhere", 0))
        for transaction in self.by_hand.transaction_ids.filtered(
            lambda t: t.state == "settled"
        ):
            self.assertFalse(transaction.payment_id)
            self.assertEqual(
                self.line_of(f"transaction/{transaction.billwerk_id}").reason,
                "booked_elsewhere",
            )
        # Marked after the fact: an invoice from before posting started.
        reference = self.lines(reason="before_posting", kind="invoice")[0].reference
        invoice = self.all_invoices().filtered(
            lambda i: f"invoice/{i.billwerk_id}" == reference
        )
        invoice.sudo().booked_elsewhere = True
        self.reopen()
        self.assertEqual(self.line_of(reference).reason, "booked_elsewhere")

    def test_a_cancelled_posted_invoice_is_invoiced_and_taken_back(self):
        reference = self.cancelled.billwerk_id
        invoiced = self.line_of(f"invoice/{reference}")
        taken_back = self.line_of(f"cancel/{reference}")
        self.assertEqual((invoiced.reason, taken_back.reason), ("matched", "matched"))
        self.assertEqual(taken_back.kind, "cancellation")
        self.assertEqual(taken_back.billwerk_credited, self.cancelled.amount)
        self.assertEqual(taken_back.move_id, self.cancelled.reversal_move_id)
        self.assertEqual(
            taken_back.month, self.cancelled.reversal_move_id.date.replace(day=1)
        )

    def test_refreshing_costs_the_same_few_queries_for_any_number_of_documents(self):
        """Five reads (one per model), the account's mark, the delete and one
        COPY (which Odoo does not count)."""
        self.assertGreater(len(self.lines()), 150)
        before = self.cr.sql_log_count
        self.env["billwerk.ledger.line"]._refresh(self.account)
        self.assertLessEqual(self.cr.sql_log_count - before, 8)

    def test_any_text_survives_the_copy(self):
        invoice = self.all_invoices().filtered("post_error")[0]
        reason = "tab\there, back\\slash, new\nline, \\N, ø"
        invoice.sudo().post_error = reason
        self.reopen()
        self.assertEqual(
            self.line_of(f"invoice/{invoice.billwerk_id}").waiting_reason, reason
        )


@tagged("post_install", "-at_install")
class TestLedgerReconciliationScreens(PostingCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.account.with_user(cls.manager).write(
            {"post_invoices": True, "post_from": "2000-01-01"}
        )
        cls.env["billwerk.posting"]._post_account(cls.account)

    def test_opened_from_the_account_screen_as_a_pivot_by_month(self):
        action = self.account.with_user(
            self.manager
        ).action_open_ledger_reconciliation()
        self.assertEqual(action["res_model"], "billwerk.ledger.line")
        self.assertTrue(action["view_mode"].startswith("pivot"))
        self.assertEqual(action["domain"], [("account_id", "in", [self.account.id])])
        arch = self.account.with_user(self.manager).get_views([(False, "form")])
        self.assertIn(
            "action_open_ledger_reconciliation", arch["views"]["form"]["arch"]
        )
        pivot = self.env["billwerk.ledger.line"].get_views([(False, "pivot")])
        self.assertIn('interval="month"', pivot["views"]["pivot"]["arch"])

    def test_the_menu_opens_the_current_companys_accounts(self):
        menu = self.env.ref("billwerk_connector.menu_billwerk_ledger_reconciliation")
        user = self.manager
        action = menu.action.with_user(user).run()
        self.assertEqual(action["res_model"], "billwerk.ledger.line")
        lines = (
            self.env["billwerk.ledger.line"].with_user(user).search(action["domain"])
        )
        self.assertTrue(lines)
        self.assertEqual(lines.account_id, self.account)

    def test_only_accounting_readers_see_it_and_nobody_writes_it(self):
        member = self.billwerk_user
        with self.assertRaises(AccessError):
            self.account.with_user(member).action_open_ledger_reconciliation()
        with self.assertRaises(AccessError):
            self.env["billwerk.ledger.line"].with_user(member).search([])
        reader = new_test_user(
            self.env,
            login="billwerk_reader",
            # Exporting any list takes Odoo's export right.
            groups="base.group_user,account.group_account_readonly,"
            "base.group_allow_export,billwerk_connector.group_billwerk_account",
        )
        self.account.with_user(reader).action_open_ledger_reconciliation()
        lines = self.env["billwerk.ledger.line"].with_user(reader).search([])
        self.assertTrue(lines)
        exported = lines.export_data(
            ["period", "document", "billwerk_amount", "ledger_amount", "reason"]
        )["datas"]
        self.assertEqual(len(exported), len(lines))
        for operation in (
            lambda: lines[0].write({"reason": "matched"}),
            lambda: lines[0].unlink(),
            lambda: lines.create({"account_id": self.account.id}),
        ):
            with self.assertRaises(AccessError):
                operation()
        manager_lines = self.env["billwerk.ledger.line"].with_user(self.manager)
        with self.assertRaises(AccessError):
            manager_lines.search([], limit=1).write({"reason": "matched"})

    def test_another_companys_accountant_sees_none_of_it(self):
        other = self.env["res.company"].create({"name": "Billwerk Elsewhere Co"})
        outsider = new_test_user(
            self.env,
            login="billwerk_outsider",
            groups="base.group_user,account.group_account_invoice,"
            "billwerk_connector.group_billwerk_account",
            company_id=other.id,
            company_ids=[other.id],
        )
        self.assertTrue(self.env["billwerk.ledger.line"].search_count([]))
        self.assertFalse(
            self.env["billwerk.ledger.line"].with_user(outsider).search_count([])
        )

    def test_a_concurrent_refresh_never_fails_the_posting(self):
        """Two transactions cannot meet in a test: the refresh's conflict is
        raised as PostgreSQL raises it to the later of two refreshes."""
        lines = self.env["billwerk.ledger.line"]
        with patch.object(
            type(lines), "_refresh", side_effect=errors.SerializationFailure
        ):
            result = self.post()
        self.assertEqual(result.invoices, 0, "all posted by the class already")
        self.assertTrue(lines.search_count([("account_id", "=", self.account.id)]))
