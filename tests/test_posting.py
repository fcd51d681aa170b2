"""Billwerk invoices become posted customer invoices: once, and to the minor unit."""

from datetime import UTC
from unittest.mock import patch

import psycopg2

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import tagged

from ..mapping.books import POSTED_STATES
from ..models.odoo_compat import audit_trail_field
from .common import PostingCase, minor


class WorkerKilled(BaseException):
    """A worker's end: no ``except Exception`` catches it, as none catches a kill."""


class BookedInvoices:
    """The account's invoices due for posting and the entries booking them."""

    def postable(self):
        return self.invoices().filtered(lambda i: i.state in POSTED_STATES)

    def booked_moves(self):
        return self.env["account.move"].search(
            [
                ("billwerk_account", "=", self.account.billwerk_id),
                ("billwerk_document", "=like", "invoice/%"),
            ]
        )


class TransactionsOfTheAccount:
    def payments(self, account=None):
        return self.env["billwerk.transaction"].search(
            [("account_id", "=", (account or self.account).id)]
        )


@tagged("post_install", "-at_install")
class TestInvoicesArePosted(PostingCase):
    def post_everything_with(self, rounding, account=None):
        account = account or self.account
        account.company_id.tax_calculation_rounding_method = rounding
        self.switch_posting_on(account)
        result = self.post(account)
        invoices = self.invoices(account)
        due = invoices.filtered(lambda i: i.state in POSTED_STATES)
        self.assertTrue(due, "the sandbox account has invoices to post")
        self.assertFalse(due.filtered("post_error"), due.mapped("post_error"))
        self.assertEqual(result.invoices, len(due))
        for invoice in due:
            self.assert_exact(invoice)
        return invoices, due

    def every_sandbox_account(self):
        yield self.account
        for position, key in enumerate(self.sandbox.keys[1:], start=2):
            yield self.connected_company(key, f"Billwerk Co {position}")[0]

    def test_every_invoice_to_the_minor_unit_rounding_per_line(self):
        currencies = set()
        for account in self.every_sandbox_account():
            _invoices, due = self.post_everything_with("round_per_line", account)
            currencies |= set(due.currency_id.mapped("name"))
        self.assertIn("JPY", currencies, "a zero-decimal currency is covered")
        self.assertIn("KWD", currencies, "a three-decimal currency is covered")

    def test_every_invoice_to_the_minor_unit_rounding_globally(self):
        for account in self.every_sandbox_account():
            self.post_everything_with("round_globally", account)

    def test_states_that_are_not_claims_are_not_posted(self):
        invoices, due = self.post_everything_with("round_per_line")
        others = invoices - due
        self.assertTrue(others.filtered(lambda i: i.state == "created"))
        self.assertTrue(others.filtered(lambda i: i.state == "cancelled"))
        self.assertFalse(others.move_id, "drafts and cancelled invoices stay out")

    def test_invoices_created_before_post_from_are_not_posted(self):
        zone = self.account._billwerk_zone()

        def local_day(invoice):
            return invoice.created.replace(tzinfo=UTC).astimezone(zone).date()

        invoices = self.invoices().sorted("created")
        middle = local_day(invoices[len(invoices) // 2])
        self.switch_posting_on(post_from=middle.isoformat())
        self.post()
        posted = invoices.filtered("move_id")
        self.assertTrue(posted)
        self.assertEqual(
            posted,
            invoices.filtered(
                lambda i: local_day(i) >= middle and i.state in POSTED_STATES
            ),
        )

    def test_switching_on_sets_post_from_to_today_and_links_contacts(self):
        self.account.with_user(self.manager).post_invoices = True
        self.assertEqual(self.account.post_from, self.account._billwerk_today())
        self.assertTrue(self.account.create_partners)


@tagged("post_install", "-at_install")
class TestWaitingInvoices(PostingCase):
    def test_missing_tax_waits_with_its_reason_then_posts(self):
        self.switch_posting_on()
        mapping = (
            self.env["billwerk.tax.mapping"]
            .with_user(self.manager)
            .create({"account_id": self.account.id, "vat_rate": 0.25})
        )
        affected = self.invoices().filtered(
            lambda i: (
                any(line["vat"] == 0.25 for line in i.order_lines or [])
                and i.state in POSTED_STATES
            )
        )
        self.post()
        self.assertEqual(
            set(affected.mapped("post_error")), {"no sales tax mapped for 25 % VAT"}
        )
        self.assertIn(
            f"{len(affected)} invoices wait: no sales tax mapped for 25 % VAT",
            self.account.waiting_summary,
        )
        self.assertEqual(self.account.waiting_invoice_count, len(affected))

        mapping.with_user(self.manager).tax_id = self.taxes[0.25]
        self.post()
        self.assertFalse(affected.filtered("post_error"))
        for invoice in affected:
            self.assert_exact(invoice)
        self.account.invalidate_recordset()
        self.assertFalse(self.account.waiting_summary)

    def test_two_taxes_of_one_rate_are_never_guessed_between(self):
        # Odoo 19's generic chart has a 0 % sales tax of its own ("0% Exports")
        # beside a company's; here a second 25 % tax does the same.
        twin = self.taxes[0.25].copy({"name": "Billwerk test VAT 25% (EU B2C)"})
        self.switch_posting_on()
        self.post()
        mapping = self.account.tax_mapping_ids.filtered(lambda m: m.vat_rate == 0.25)
        self.assertTrue(mapping)
        self.assertFalse(mapping.tax_id, "no guess between two taxes of 25 %")
        self.assertEqual(
            mapping.choice_note,
            "Not prefilled: 2 sales taxes of 25 % (Billwerk test VAT 25%, "
            "Billwerk test VAT 25% (EU B2C)). Choose the one that books "
            "Billwerk's 25 % VAT.",
        )
        affected = self.invoices().filtered(
            lambda i: (
                any(line["vat"] == 0.25 for line in i.order_lines or [])
                and i.state in POSTED_STATES
            )
        )
        self.assertEqual(
            set(affected.mapped("post_error")), {"no sales tax mapped for 25 % VAT"}
        )
        mapping.with_user(self.manager).tax_id = twin
        self.assertFalse(mapping.choice_note)
        self.post()
        self.assertEqual(affected.move_id.invoice_line_ids.tax_ids, twin)

    def test_a_locked_period_waits(self):
        self.switch_posting_on()
        newest = self.invoices().sorted("created")[-1].created.date()
        self.env.company.sale_lock_date = newest
        self.post()
        waiting = self.invoices().filtered("post_error")
        self.assertTrue(waiting)
        self.assertTrue(
            all("locked" in reason for reason in waiting.mapped("post_error"))
        )
        self.assertFalse(self.invoices().filtered("move_id"))

    def test_an_inactive_currency_waits_until_it_is_active_again(self):
        self.switch_posting_on()
        due = self.invoices().filtered(lambda i: i.state in POSTED_STATES)
        # The account's own currency (DKK): the company's (USD) stays active.
        danish = due.currency_id.filtered(lambda c: c.name == "DKK")
        in_dkk = due.filtered(lambda i: i.currency_id == danish)
        danish.active = False
        self.post()
        self.assertEqual(
            set(in_dkk.mapped("post_error")), {"the currency DKK is not active"}
        )
        self.assertFalse((due - in_dkk).filtered(lambda i: not i.move_id))
        danish.active = True
        self.post()
        for invoice in in_dkk:
            self.assert_exact(invoice)


@tagged("post_install", "-at_install")
class TestExactlyOnce(BookedInvoices, PostingCase):
    post_in_setup = True

    def test_a_rerun_posts_nothing_twice(self):
        before = self.booked_moves()
        self.assertEqual(len(before), len(self.postable()))
        result = self.post()
        self.assertEqual(result.invoices, 0)
        self.assertEqual(self.booked_moves(), before)

    def test_a_copy_synced_again_finds_its_entry(self):
        invoice = self.postable()[0]
        move = invoice.move_id
        invoice.sudo().move_id = False  # as if the copy had been deleted and re-read
        self.post()
        self.assertEqual(invoice.move_id, move)
        self.assertEqual(len(self.booked_moves()), len(self.postable()))

    def test_the_database_refuses_a_second_entry_for_a_document(self):
        move = self.booked_moves()[0]
        with self.assertRaises(psycopg2.IntegrityError), self.cr.savepoint():
            move.sudo().copy(
                {
                    "billwerk_account": move.billwerk_account,
                    "billwerk_document": move.billwerk_document,
                }
            )

    def test_nobody_relinks_an_entry_by_hand(self):
        move = self.booked_moves()[0]
        with self.assertRaises(UserError):
            move.with_user(self.manager).billwerk_document = "invoice/forged"


@tagged("post_install", "-at_install")
class TestCancelledInvoices(PostingCase):
    def test_a_posted_invoice_cancelled_in_billwerk_is_reversed_once(self):
        self.switch_posting_on()
        self.post()
        invoice = self.invoices(state="pending")[0]
        move = invoice.move_id
        self.sandbox.cancel_invoice(self.key, invoice.billwerk_id)
        self.sync()
        self.assertEqual(invoice.state, "cancelled")
        reversal = invoice.reversal_move_id
        self.assertEqual(reversal.move_type, "out_refund")
        self.assertEqual(reversal.state, "posted")
        self.assertEqual(reversal.reversed_entry_id, move)
        self.assertEqual(move.payment_state, "reversed")
        self.sync()
        self.assertEqual(
            self.env["account.move"].search_count(
                [("reversed_entry_id", "=", move.id)]
            ),
            1,
        )


@tagged("post_install", "-at_install")
class TestPostingBelongsToOneAccount(PostingCase):
    """Posting is an accounting manager's decision about one named account."""

    # The second sandbox account is a test account, the third a live one.
    sandbox_options = {
        **PostingCase.sandbox_options,
        "accounts": [{}, {"state": "test"}, {"state": "live"}],
    }

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.test_key, cls.live_key = cls.sandbox.keys[1:3]

    def switch_as_member(self, key, keep=True):
        wizard = self.dialog(key)
        wizard.action_check_key()
        self.assertEqual(wizard.step, "confirm_switch")
        question = (wizard.posted_summary, wizard.current_posts)
        if keep:
            wizard.action_switch_keep_data()
        else:
            wizard.action_switch_delete_data()
        self.account.invalidate_recordset()
        return question

    def bound_to(self, billwerk_id):
        bound = [("billwerk_account", "=", billwerk_id)]
        return self.env["account.move"].search_count(bound) + self.env[
            "account.payment"
        ].search_count(bound)

    def test_a_members_switch_to_another_live_account_stops_posting(self):
        self.switch_posting_on()
        posted = self.post()
        self.assertGreater(posted.invoices, 0)
        old_id = self.account.billwerk_id
        summaries = []
        for keep in (True, False):
            with self.subTest(keep=keep):
                self.account.with_user(self.manager).write(
                    {
                        "post_invoices": True,
                        "post_from": "2000-01-01",
                        "rate_max_age_days": 0,
                    }
                )
                summary, posts = self.switch_as_member(
                    self.live_key if keep else self.key, keep=keep
                )
                summaries.append(summary)
                self.assertTrue(posts, "the question says that posting stops")
                self.assertFalse(self.account.post_invoices)
                self.assertFalse(self.account.post_from)
                self.sync()
        self.assertIn(f"{posted.invoices} invoices", summaries[0])
        self.assertEqual(self.bound_to(self.sandbox.account(self.live_key).id), 0)
        self.assertEqual(
            self.env["account.move"].search_count(
                [("billwerk_account", "=", old_id), ("move_type", "=", "out_invoice")]
            ),
            posted.invoices,
            "what was posted stays posted",
        )

    def test_a_test_account_never_posts(self):
        self.switch_as_member(self.test_key, keep=True)
        self.assertEqual(self.account.billwerk_state, "test")
        with self.assertRaisesRegex(ValidationError, "test account"):
            self.switch_posting_on()
        self.assertFalse(self.account.post_invoices)
        self.sync()
        self.assertEqual(self.bound_to(self.account.billwerk_id), 0)

    def test_the_accounting_tab_names_the_account_it_posts(self):
        view = self.account.with_user(self.manager).get_views([(False, "form")])
        arch = view["views"]["form"]["arch"]
        self.assertIn('string="Billwerk account posted"', arch)
        self.assertIn("test account", arch)


@tagged("post_install", "-at_install")
class TestAccountingSettings(PostingCase):
    def test_a_user_without_accounting_rights_cannot_change_them(self):
        account = self.account.with_user(self.billwerk_user)
        for values in (
            {"post_invoices": True},
            {"post_from": "2020-01-01"},
            {"sale_journal_id": self.env["account.journal"].search([], limit=1).id},
        ):
            with self.subTest(values=values), self.assertRaises(AccessError):
                account.write(values)
        with self.assertRaises(AccessError):
            self.env["billwerk.tax.mapping"].with_user(self.billwerk_user).create(
                {"account_id": self.account.id, "vat_rate": 0.25}
            )
        with self.assertRaises(AccessError):
            account.action_post_now()

    def test_post_now_queues_a_posting_run_that_says_what_it_did(self):
        self.switch_posting_on()
        action = self.account.with_user(self.manager).action_post_now()
        self.assertIn("Queued", action["params"]["message"])
        self.assertFalse(self.invoices().filtered("move_id"), "not in the request")
        run = self.account.last_sync_run_id
        self.assertEqual((run.mode, run.state), ("posting", "queued"))
        self.env["billwerk.account"]._cron_sync()
        posted = self.invoices().filtered("move_id")
        self.assertTrue(posted)
        self.assertEqual((run.state, run.posted_invoice_count), ("done", len(posted)))
        self.assertFalse(run.line_ids.filtered("created_count"), "Billwerk not read")


@tagged("post_install", "-at_install")
class TestTwoCompanies(PostingCase):
    def test_each_company_posts_into_its_own_journal_and_taxes(self):
        other_account, other_taxes = self.connected_company(
            self.other_key, "Billwerk Second Co"
        )
        self.switch_posting_on()
        self.switch_posting_on(other_account)
        self.post()
        self.post(other_account)
        for account, taxes in (
            (self.account, self.taxes),
            (other_account, other_taxes),
        ):
            moves = self.invoices(account).move_id
            self.assertTrue(moves)
            self.assertEqual(moves.company_id, account.company_id)
            self.assertEqual(moves.journal_id, account.sale_journal_id)
            used = moves.invoice_line_ids.tax_ids
            self.assertTrue(used <= self.env["account.tax"].union(*taxes.values()))
        self.assertNotEqual(self.account.sale_journal_id, other_account.sale_journal_id)


@tagged("post_install", "-at_install")
class TestCreditNotes(PostingCase):
    post_in_setup = True

    def assert_note_exact(self, note):
        move = note.move_id
        currency = move.currency_id
        self.assertEqual((move.move_type, move.state), ("out_refund", "posted"))
        self.assertEqual(move.reversed_entry_id, note.invoice_id.move_id)
        self.assertEqual(
            (minor(move.amount_untaxed, currency), minor(move.amount_tax, currency)),
            (minor(note.amount_ex_vat, currency), minor(note.amount_vat, currency)),
        )

    def test_credit_notes_are_posted_against_their_invoice(self):
        result = self.first_post
        notes = self.env["billwerk.credit.note"].search(
            [("account_id", "=", self.account.id)]
        )
        self.assertTrue(notes, "the sandbox account has credit notes")
        self.assertEqual(result.credit_notes, len(notes))
        for note in notes:
            self.assert_note_exact(note)

    def test_a_refund_in_billwerk_becomes_a_linked_credit_note(self):
        invoice = self.invoices(state="settled").filtered(
            lambda i: not i.credit_note_ids
        )[0]
        half = minor(invoice.amount, invoice.currency_id) // 2
        self.sandbox.refund_invoice(self.key, invoice.billwerk_id, amount=half)
        self.sync()
        note = invoice.credit_note_ids
        self.assertEqual(len(note), 1)
        self.assertTrue(note.refund_transaction)
        self.assert_note_exact(note)
        self.assertEqual(minor(note.move_id.amount_total, invoice.currency_id), half)
        self.sync()
        self.assertEqual(
            self.env["account.move"].search_count(
                [("reversed_entry_id", "=", invoice.move_id.id)]
            ),
            1,
        )


@tagged("post_install", "-at_install")
class TestInvoicesCopiedBeforePosting(PostingCase):
    def test_invoices_copied_without_lines_are_read_again_and_posted(self):
        # A copy made by 18.0.1.x has no order lines.
        self.env["billwerk.invoice"].flush_model()
        self.cr.execute(
            "UPDATE billwerk_invoice SET order_lines = NULL WHERE account_id = %s",
            [self.account.id],
        )
        self.env.invalidate_all()
        self.switch_posting_on()
        self.sync()
        due = self.invoices().filtered(lambda i: i.state in POSTED_STATES)
        self.assertFalse(
            due.filtered(lambda i: not i.move_id), due.mapped("post_error")
        )


@tagged("post_install", "-at_install")
class TestPayments(TransactionsOfTheAccount, PostingCase):
    post_in_setup = True

    def test_settled_invoices_read_paid_and_partly_settled_ones_partly_paid(self):
        result = self.first_post
        settles = self.payments().filtered(
            lambda t: t.type == "settle" and t.state == "settled"
        )
        self.assertTrue(settles)
        self.assertEqual(result.payments, len(self.payments().filtered("payment_id")))
        self.assertFalse(
            settles.filtered(lambda t: not t.payment_id), settles.mapped("post_error")
        )
        for invoice in self.invoices(state="settled").filtered(
            lambda i: not i.credit_note_ids
        ):
            self.assertEqual(invoice.move_id.payment_state, "paid", invoice.handle)
        partly = self.invoices().filtered(
            lambda i: i.state in ("pending", "dunning") and i.settled_amount
        )
        self.assertTrue(partly, "the sandbox has partly settled open invoices")
        for invoice in partly:
            self.assertEqual(invoice.move_id.payment_state, "partial")
        payment = settles[0].payment_id
        self.assertEqual(payment.state, "paid")
        self.assertEqual(payment.journal_id, self.account.payment_journal_id)
        self.assertEqual(self.account.payment_journal_id.name, "Billwerk payments")

    def test_partial_then_full_settlement_in_billwerk(self):
        invoice = self.invoices(state="pending").filtered(
            lambda i: not i.settled_amount and not i.credit_note_ids
        )[0]
        third = minor(invoice.amount, invoice.currency_id) // 3
        self.sandbox.settle_invoice(self.key, invoice.billwerk_id, amount=third)
        self.sync()
        self.assertEqual(invoice.move_id.payment_state, "partial")
        self.assertEqual(
            minor(invoice.move_id.amount_residual, invoice.currency_id),
            minor(invoice.amount, invoice.currency_id) - third,
        )
        self.sandbox.settle_invoice(
            self.key, invoice.billwerk_id, payment_type="mobilepay"
        )
        self.sync()
        self.assertEqual(invoice.state, "settled")
        self.assertEqual(invoice.move_id.payment_state, "paid")
        self.assertEqual(len(invoice.transaction_ids.payment_id), 2)
        self.sync()
        self.assertEqual(len(invoice.transaction_ids.payment_id), 2, "booked once")

    def test_a_refund_is_paid_out_against_its_credit_note(self):
        invoice = self.invoices(state="settled").filtered(
            lambda i: not i.credit_note_ids
        )[0]
        self.sandbox.refund_invoice(self.key, invoice.billwerk_id)
        self.sync()
        refund = invoice.transaction_ids.filtered(lambda t: t.type == "refund")
        note = invoice.credit_note_ids
        self.assertEqual(refund.payment_id.payment_type, "outbound")
        self.assertEqual(note.move_id.payment_state, "paid")
        self.assertEqual(invoice.move_id.payment_state, "paid")

    def test_a_crash_and_a_rerun_book_no_payment_twice(self):
        booked = self.env["account.payment"].search_count(
            [("billwerk_account", "=", self.account.billwerk_id)]
        )
        transaction = self.payments().filtered("payment_id")[0]
        payment = transaction.payment_id
        transaction.sudo().payment_id = False  # a copy re-read after a crash
        self.post()
        self.post()
        self.assertEqual(transaction.payment_id, payment)
        self.assertEqual(
            self.env["account.payment"].search_count(
                [("billwerk_account", "=", self.account.billwerk_id)]
            ),
            booked,
        )

    def test_open_receivables_equal_what_billwerk_reports_open(self):
        for invoice in self.invoices().filtered("move_id"):
            currency = invoice.currency_id
            expected = minor(
                invoice.amount
                - invoice.settled_amount
                - invoice.credited_amount
                + invoice.refunded_amount,
                currency,
            )
            if invoice.reversal_move_id:
                expected = 0
            self.assertEqual(
                minor(invoice.move_id.amount_residual, currency),
                expected,
                invoice.handle,
            )

    def test_the_account_screen_counts_paid_open_and_waiting(self):
        posted = self.invoices().filtered("move_id")
        paid = posted.filtered(
            lambda i: i.move_id.payment_state in ("paid", "in_payment", "reversed")
        )
        self.assertEqual(self.account.paid_invoice_count, len(paid))
        self.assertEqual(self.account.open_invoice_count, len(posted - paid))
        self.assertTrue(paid and posted - paid)

    def test_payments_are_numbered_as_odoo_numbers_them_gap_free(self):
        journal = self.account.payment_journal_id
        entries = self.env["account.move"].search(
            [("journal_id", "=", journal.id), ("state", "=", "posted")],
            order="sequence_prefix, sequence_number",
        )
        self.assertTrue(entries)
        for prefix in set(entries.mapped("sequence_prefix")):
            numbered = entries.filtered(lambda m, p=prefix: m.sequence_prefix == p)
            self.assertEqual(
                numbered.mapped("sequence_number"),
                list(range(1, len(numbered) + 1)),
                f"{prefix}: gap-free, each number once",
            )
            self.assertTrue(all(str(m.date.year) in prefix for m in numbered))
        self.assertFalse(entries.filtered("made_sequence_gap"))
        for payment in self.payments().payment_id:
            self.assertEqual(payment.name, payment.move_id.name)
        posted = self.invoices().move_id.filtered(lambda m: m.state == "posted")
        self.assertTrue(all(posted.mapped("checked")), "ticked checked, as Odoo does")
        for move in posted:
            self.assertIn(move.partner_id, move.message_partner_ids, move.name)


@tagged("post_install", "-at_install")
class TestPostedInvoices(PostingCase):
    """What the first posting of an account shows, with the default settings."""

    post_in_setup = True

    def test_a_posted_invoice_reads_like_the_billwerk_one(self):
        invoice = self.invoices(state="settled")[0]
        move = invoice.move_id
        self.assertEqual(move.move_type, "out_invoice")
        self.assertEqual(move.partner_id, invoice.customer_id.partner_id)
        self.assertEqual(move.journal_id, self.account.sale_journal_id)
        self.assertEqual(self.account.sale_journal_id.name, "Billwerk")
        self.assertTrue(move.name.endswith(f"/{invoice.number}"), move.name)
        self.assertEqual(move.display_name, move.name, "the number once, not twice")
        self.assertEqual(move.payment_reference, invoice.handle)
        self.assertEqual(move.billwerk_invoice_id, invoice)
        lines = move.invoice_line_ids
        self.assertEqual(len(lines), len(invoice.order_lines))
        self.assertTrue(all(line.tax_ids for line in lines))
        self.assertEqual(
            invoice.plan_id.product_id, lines[0].product_id, "plan lines: its product"
        )
        action = invoice.action_open_move()
        self.assertEqual(action["res_id"], move.id)

    def test_prefilled_with_the_companys_tax_of_each_rate(self):
        mappings = self.account.tax_mapping_ids
        self.assertTrue(mappings)
        for mapping in mappings:
            self.assertEqual(mapping.tax_id, self.taxes[mapping.vat_rate])

    def test_a_tax_of_another_rate_is_refused(self):
        mapping = self.account.tax_mapping_ids.filtered(lambda m: m.vat_rate == 0.25)
        with self.assertRaisesRegex(ValidationError, "it is 19 %"):
            mapping.with_user(self.manager).tax_id = self.taxes[0.19]

    def test_a_waiting_invoice_never_stops_the_others(self):
        self.assertTrue(self.invoices().filtered("move_id"))


@tagged("post_install", "-at_install")
class TestACrashMidBatch(BookedInvoices, PostingCase):
    def test_a_crash_mid_batch_leaves_no_half_posted_invoice(self):
        self.switch_posting_on()
        original = type(self.env["account.move"]).action_post
        calls = []

        def crash_on_second_batch(moves):
            calls.append(len(moves))
            if len(calls) == 2:
                raise WorkerKilled()
            return original(moves)

        # Not assertRaises: Odoo's rolls back a savepoint around its block,
        # and what the first batch saved is what this test is about.
        crashed = False
        with patch.object(
            type(self.env["account.move"]), "action_post", crash_on_second_batch
        ):
            try:
                self.post()
            except WorkerKilled:
                crashed = True
        self.assertTrue(crashed)
        self.env.invalidate_all()
        posted = self.postable().filtered("move_id")
        self.assertEqual(len(posted), calls[0], "the first batch stays posted")
        self.assertEqual(
            len(self.booked_moves()), len(posted), "no entry without its invoice"
        )
        self.post()
        self.assertEqual(len(self.booked_moves()), len(self.postable()))
        self.assertFalse(self.postable().filtered(lambda i: not i.move_id))


@tagged("post_install", "-at_install")
class TestPaymentSettings(TransactionsOfTheAccount, PostingCase):
    """Settings made before the first posting: journals per payment type."""

    def test_payment_types_go_to_their_own_journal(self):
        other = self.env["account.journal"].create(
            {"name": "MobilePay payouts", "code": "MOBP", "type": "bank"}
        )
        (
            other.inbound_payment_method_line_ids
            | other.outbound_payment_method_line_ids
        ).payment_account_id = other.default_account_id
        self.switch_posting_on()
        self.env["billwerk.payment.journal"].with_user(self.manager).create(
            {
                "account_id": self.account.id,
                "payment_type": "mobilepay",
                "journal_id": other.id,
            }
        )
        self.post()
        booked = self.payments().filtered("payment_id")
        mobilepay = booked.filtered(lambda t: t.payment_type == "mobilepay")
        self.assertTrue(mobilepay)
        self.assertEqual(mobilepay.payment_id.journal_id, other)
        self.assertEqual(
            (booked - mobilepay).payment_id.journal_id, self.account.payment_journal_id
        )
        self.assertTrue(booked.filtered(lambda t: t.payment_type == "manual"))

    def test_a_journal_without_outstanding_account_makes_payments_wait(self):
        bare = self.env["account.journal"].create(
            {"name": "Bare bank", "code": "BARE", "type": "bank"}
        )
        (
            bare.inbound_payment_method_line_ids | bare.outbound_payment_method_line_ids
        ).payment_account_id = False
        self.switch_posting_on()
        self.account.with_user(self.manager).payment_journal_id = bare
        self.post()
        waiting = self.payments().filtered("post_error")
        self.assertTrue(waiting)
        self.assertIn("outstanding account", waiting[0].post_error)
        self.assertFalse(self.payments().filtered("payment_id"))
        self.account.invalidate_recordset()
        self.assertIn("payments wait", self.account.waiting_summary)

    def test_each_company_books_its_own_payments(self):
        other_account, _taxes = self.connected_company(
            self.other_key, "Billwerk Pay Co"
        )
        self.switch_posting_on()
        self.switch_posting_on(other_account)
        self.post()
        self.post(other_account)
        for account in (self.account, other_account):
            payments = self.payments(account).payment_id
            self.assertTrue(payments)
            self.assertEqual(payments.company_id, account.company_id)
            self.assertEqual(payments.journal_id, account.payment_journal_id)
        self.assertNotEqual(
            self.account.payment_journal_id, other_account.payment_journal_id
        )

    def test_a_company_keeping_an_audit_trail_sees_the_posting_in_it(self):
        # Odoo's audit trail is the entries' messages and tracking: the posting
        # is logged and tracked there as a user's would be, not quietly.
        company = self.account.company_id
        company[audit_trail_field(company)] = True
        self.switch_posting_on()
        self.post()
        # The trail is written when the transaction commits.
        self.env.flush_all()
        self.env.cr.precommit.run()
        invoice_move = self.invoices().move_id.filtered(
            lambda m: m.payment_state == "paid"
        )[:1]
        self.assertTrue(invoice_move, "the sandbox account has paid invoices")
        payment = (
            self.payments()
            .filtered(lambda t: t.invoice_id.move_id == invoice_move)
            .payment_id[:1]
        )
        self.assertTrue(payment)
        logged = invoice_move.message_ids.filtered(lambda m: not m.tracking_value_ids)
        self.assertTrue(logged, "the invoice's creation is logged")
        self.assertTrue(
            invoice_move.message_ids.tracking_value_ids.filtered(
                lambda v: v.field_id.name == "payment_state"
            ),
            "its payment is tracked",
        )
        self.assertTrue(payment.move_id.message_ids, "the payment's entry is logged")


@tagged("post_install", "-at_install")
class TestNamesInTheAccountantsLanguage(PostingCase):
    """What posting makes (the payment journal, the products of add-ons and
    fees) is named in every language of the database, as Odoo's own journals
    are: an accountant working in German or Danish reads their own words."""

    # Billwerk's line origins in German and Danish, as i18n/ translates them.
    ORIGINS = {
        "add_on": ("Add-on", "Tilkøb"),
        "ondemand": ("Einmalige Belastung", "Engangsopkrævning"),
        "additional_cost": ("Zusatzkosten", "Ekstraomkostning"),
        "credit": ("Guthaben", "Kredit"),
        "discount": ("Rabatt", "Rabat"),
        "setup_fee": ("Einrichtungsgebühr", "Oprettelsesgebyr"),
        "surcharge_fee": ("Zuschlagsgebühr", "Tillægsgebyr"),
        "metered_billing_product": (
            "Nutzungsbasierte Abrechnung",
            "Forbrugsbaseret afregning",
        ),
        "other": ("Sonstige", "Andet"),
    }

    def test_payment_journal_and_line_products_read_german_and_danish(self):
        for code in ("de_DE", "da_DK"):
            self.env["res.lang"]._activate_lang(code)
        self.switch_posting_on()
        self.post()
        journal = self.account.payment_journal_id
        self.assertEqual(
            {code: journal.with_context(lang=code).name for code in LANGS},
            {
                "en_US": "Billwerk payments",
                "de_DE": "Billwerk-Zahlungen",
                "da_DK": "Billwerk-betalinger",
            },
        )
        rows = self.account.line_product_ids
        self.assertTrue(rows, "the sandbox bills lines besides plans")
        for row in rows:
            german, danish = self.ORIGINS[row.origin]
            product = row.product_id
            self.assertEqual(
                product.with_context(lang="de_DE").name, f"Billwerk: {german}"
            )
            self.assertEqual(
                product.with_context(lang="da_DK").name, f"Billwerk: {danish}"
            )


LANGS = ("en_US", "de_DE", "da_DK")
