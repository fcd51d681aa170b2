"""The books: Billwerk's documents posted once, to the cent, or waiting in words.

Runs after a sync's writes under the account's lock, and from Post now. What
is due is posted kind by kind (invoices, reversals of cancelled invoices,
settlements, credit notes, refunds) through one batch loop: per batch of ~100
documents, relink what was booked before, prepare the values (``Waiting``
where the book foresees a refusal), create, post and link in one savepoint,
so that a crash never leaves a document half-posted and a rerun never posts
one twice (the binding on the entry is unique). When Odoo refuses a batch
anyway, its documents are posted one by one, each in its own savepoint: the
culprit waits with Odoo's words and the others are posted. The values come
from ``billwerk_posting_book.py``, the arithmetic from ``mapping/books.py``.

What Odoo does per entry that a batch can do once is done once: one create
and one post per batch; the numbers of a batch's entries read and given in one
go, in Odoo's order and format (``account_move.py``); the customer made a
follower of all its entries in one insert; the "checked" tick stored with the
posting instead of a write per entry; each line created with its amounts as
Odoo books them, so that the tax synchronization writes no line again;
payments' entries linked without a write per payment; one reconciliation plan
per batch; a quiet mail context. A company keeping Odoo's audit trail (the
entries' mail tracking) gets its entries logged and tracked, and numbered and
ticked by Odoo one by one. Measured in the README's benchmark.
"""

import logging
from dataclasses import dataclass, field
from datetime import timezone

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import split_every

from ..mapping.books import POSTED_STATES, rate_key
from .billwerk_posting_book import PostingBook, Waiting, free_journal_code
from .commit_policy import commit_unless_testing
from .odoo_compat import audit_trail_field

_logger = logging.getLogger(__name__)

BATCH = 100
# Context key of the connector's batches: what ``_post`` does per entry (the
# number, the check mark, the customer as follower) is done once for the batch
# (account_move.py). Never set for the one-by-one fallback: there Odoo's own
# path runs, with its retries.
BATCH_POST = "billwerk_batch_post"
# Context key of a batch in a company without analytic distribution models:
# the lines' distributions are not searched one by one
# (analytic_distribution_model.py).
NO_DISTRIBUTION_MODELS = "billwerk_no_distribution_models"
# Bulk import without chatter noise: halves the queries of a create. No
# "created" message, no tracking of the fields the posting sets, no current
# user made a follower; the customer still follows its invoice.
QUIET = {
    "tracking_disable": True,
    "mail_create_nolog": True,
    "mail_create_nosubscribe": True,
    "mail_notrack": True,
    "mail_auto_subscribe_no_notify": True,
}
# A company with Odoo's audit trail on keeps the trail in the entries' mail
# messages and tracking: there the posting is logged and tracked as a user's
# would be, and only leaves the current user out of the followers.
AUDITED = {
    "mail_create_nosubscribe": True,
    "mail_auto_subscribe_no_notify": True,
}


@dataclass(frozen=True)
class DocumentKind:
    """One kind of Billwerk document and how it reaches the books."""

    model: str
    prefix: str  # of the binding: "invoice/<id>"
    link: str  # the document's field holding its booking
    booking_model: str
    counter: str  # PostingResult's count

    @property
    def is_payment(self):
        return self.booking_model == "account.payment"


INVOICES = DocumentKind(
    "billwerk.invoice", "invoice", "move_id", "account.move", "invoices"
)
CREDIT_NOTES = DocumentKind(
    "billwerk.credit.note", "credit_note", "move_id", "account.move", "credit_notes"
)
TRANSACTIONS = DocumentKind(
    "billwerk.transaction", "transaction", "payment_id", "account.payment", "payments"
)


@dataclass
class PostingResult:
    invoices: int = 0
    reversals: int = 0
    credit_notes: int = 0
    payments: int = 0
    waiting: int = 0
    # Documents Odoo refused although the book foresaw nothing: they wait
    # with Odoo's words, and the run says it ended with warnings.
    refused: int = 0
    reasons: dict = field(default_factory=dict)


class BillwerkPosting(models.AbstractModel):
    _name = "billwerk.posting"
    _description = "Billwerk posting to accounting"

    @api.model
    def _post_account(self, account, after_batch=None):
        """Post what is due for ``account``; the caller holds its lock.

        ``after_batch(result)``, where given, is called after each committed
        batch with the counts so far: a run saves its progress there, and
        may stop the posting (its exception passes through) between batches.
        """
        if (
            not account.post_invoices
            or not account.active
            or account.billwerk_state == "test"
        ):
            return PostingResult()
        # The books are posted by the connector: users' rights were checked
        # by the caller (the run's lock owner, or Post now).
        company = account.company_id
        quiet = AUDITED if company[audit_trail_field(company)] else QUIET
        posting = self.sudo().with_company(company).with_context(**quiet)
        result = posting._post_as_connector(
            account.with_env(posting.env), after_batch=after_batch
        )
        if result.invoices + result.reversals + result.credit_notes + result.payments:
            # The reconciliation with the ledger shows what was just posted
            # (it is also refreshed whenever it is opened).
            posting.env["billwerk.ledger.line"]._refresh_after_posting(
                account.with_env(posting.env)
            )
        return result

    def _post_as_connector(self, account, after_batch=None):
        result = PostingResult()
        book = PostingBook(self.env, account)
        book.after_batch = after_batch
        self._add_tax_rows(account)
        try:
            book.journal = self._sale_journal(account)
        except Waiting as reason:
            self._mark_waiting(self._due_invoices(account), str(reason), result)
            return result
        book.load_taxes()
        # Invoices, then reversals of the cancelled ones. Settlements before
        # credit notes: a note posted first would take the invoice's open
        # amount and leave the payment unmatched. Refunds last: they pay out
        # the credit notes.
        self._post_all(book, INVOICES, self._due_invoices(account), result)
        self._reverse_cancelled(book, result)
        self._post_all(
            book, TRANSACTIONS, self._due_transactions(account, "settle"), result
        )
        self._post_all(book, CREDIT_NOTES, self._due_credit_notes(account), result)
        self._post_all(
            book, TRANSACTIONS, self._due_transactions(account, "refund"), result
        )
        # Recognition entries of months that have ended, made by this pass or
        # waiting for Odoo's scheduled action: posted now.
        self.env["billwerk.revenue.recognition"]._post_due(account)
        commit_unless_testing(self.env.cr)
        return result

    # -- what is due --
    def _count_due(self, account):
        """Documents due now, as the run's progress counts them (0: posting off)."""
        if (
            not account.post_invoices
            or not account.active
            or account.billwerk_state == "test"
        ):
            return 0
        invoices = self._due_invoices(account)
        # Payments and credit notes become due as their invoice is posted:
        # counted with it, so that the total does not grow as the run goes.
        follows = [
            "|",
            ("invoice_id.move_id", "!=", False),
            ("invoice_id", "in", invoices.ids),
        ]
        unbooked = [("account_id", "=", account.id), ("booked_elsewhere", "=", False)]
        transactions = self.env["billwerk.transaction"].search_count(
            unbooked
            + [
                ("payment_id", "=", False),
                "|",
                "&",
                ("type", "=", "settle"),
                ("state", "=", "settled"),
                "&",
                ("type", "=", "refund"),
                ("state", "in", ("refunded", "settled")),
            ]
            + follows
        )
        notes = self.env["billwerk.credit.note"].search_count(
            unbooked + [("move_id", "=", False)] + follows
        )
        return len(invoices) + transactions + notes

    def _post_from_utc(self, account):
        """The first moment of ``post_from`` in the Billwerk account's time zone."""
        start = fields.Datetime.to_datetime(account.post_from)
        local = start.replace(tzinfo=account._billwerk_zone())
        return local.astimezone(timezone.utc).replace(tzinfo=None)

    def _due_invoices(self, account):
        if not account.post_from:
            return self.env["billwerk.invoice"]
        return self.env["billwerk.invoice"].search(
            [
                ("account_id", "=", account.id),
                ("move_id", "=", False),
                ("booked_elsewhere", "=", False),
                ("state", "in", POSTED_STATES),
                "|",
                ("created", ">=", self._post_from_utc(account)),
                ("post_requested", "=", True),
            ],
            order="created, id",
        )

    def _due_credit_notes(self, account):
        return self.env["billwerk.credit.note"].search(
            [
                ("account_id", "=", account.id),
                ("move_id", "=", False),
                ("booked_elsewhere", "=", False),
                ("invoice_id.move_id", "!=", False),
            ],
            order="created, id",
        )

    def _due_transactions(self, account, kind):
        states = ("settled",) if kind == "settle" else ("refunded", "settled")
        return self.env["billwerk.transaction"].search(
            [
                ("account_id", "=", account.id),
                ("payment_id", "=", False),
                ("booked_elsewhere", "=", False),
                ("type", "=", kind),
                ("state", "in", states),
                ("invoice_id.move_id", "!=", False),
            ],
            order="created, id",
        )

    # -- set-up on first use --
    def _sale_journal(self, account):
        if account.sale_journal_id:
            return account.sale_journal_id
        company = account.company_id
        journals = self.env["account.journal"]
        template = journals.search(
            [*journals._check_company_domain(company), ("type", "=", "sale")], limit=1
        )
        if not template.default_account_id:
            raise Waiting(
                self.env._(
                    "the company has no sales journal with an income account to "
                    "follow: install its chart of accounts, or choose a sales "
                    "journal"
                )
            )
        journal = journals.create(
            {
                "name": self.env._("Billwerk"),
                "code": free_journal_code(journals, company, "BWK"),
                "type": "sale",
                "company_id": company.id,
                "default_account_id": template.default_account_id.id,
                "refund_sequence": True,
            }
        )
        account.sale_journal_id = journal
        return journal

    def _add_tax_rows(self, account):
        """A mapping row per VAT rate the due documents use, prefilled when
        the company has exactly one sales tax of that percentage (never a
        guess between two: the row's note names them)."""
        if not account.post_from:
            return
        self.env["billwerk.invoice"].flush_model()
        self.env.cr.execute(
            """
            SELECT DISTINCT round((line->>'vat')::numeric, 6)
              FROM billwerk_invoice i,
                   jsonb_array_elements(COALESCE(i.order_lines, '[]'::jsonb)) line
             WHERE i.account_id = %s AND i.move_id IS NULL
               AND i.state IN %s AND i.created >= %s
            """,
            (account.id, POSTED_STATES, self._post_from_utc(account)),
        )
        rates = {rate_key(row[0]) for row in self.env.cr.fetchall()}
        known = {rate_key(m.vat_rate) for m in account.tax_mapping_ids}
        mappings = self.env["billwerk.tax.mapping"]
        rows = []
        for rate in sorted(rates - known, reverse=True):
            candidates = mappings._candidate_taxes(account.company_id, rate)
            rows.append(
                {
                    "account_id": account.id,
                    "vat_rate": rate,
                    # Never a guess: with two taxes of the rate the row stays
                    # empty, and its note says why.
                    "tax_id": candidates.id if len(candidates) == 1 else False,
                }
            )
        if rows:
            self.env["billwerk.tax.mapping"].create(rows)

    # -- the batch loop --
    def _post_all(self, book, kind, documents, result):
        for ids in split_every(BATCH, documents.ids):
            with self.env.cr.savepoint():
                self._post_batch(book, kind, self.env[kind.model].browse(ids), result)
            commit_unless_testing(self.env.cr)
            if book.after_batch:
                book.after_batch(result)

    def _post_batch(self, book, kind, documents, result):
        """Relink, prepare, book, link; one by one where Odoo refuses the batch."""
        bound = book.bound(kind.booking_model, kind.prefix, documents)
        for document in documents.filtered(lambda d: d.billwerk_id in bound):
            # Booked before (the copy was deleted and synced again): relink.
            document.write(
                {kind.link: bound[document.billwerk_id].id, "post_error": False}
            )
        documents = documents.filtered(lambda d: d.billwerk_id not in bound)
        elsewhere = book.booked_by_another_company(
            kind.booking_model, kind.prefix, documents
        )
        taken = documents.filtered(lambda d: d.billwerk_id in elsewhere)
        documents -= taken
        if kind is INVOICES:
            self._link_customers(book, documents.customer_id)
        # Open amounts are read again per batch: the earlier batches' payments
        # are reconciled by now.
        book.reserved.clear()
        prepared, waiting = self._prepare(book, kind, documents)
        if taken:
            reason = self.env._(
                "another company's books hold it already: a Billwerk account "
                "feeds one company"
            )
            waiting[reason] = taken.ids
        if kind is INVOICES:
            book.drop_taken_names(prepared)
        foreseen = {reason: list(ids) for reason, ids in waiting.items()}
        try:
            with self.env.cr.savepoint():
                # The batch is numbered, ticked and followed in one go (see
                # account_move.py); one by one, Odoo's own way.
                batch = self.with_context(
                    **{
                        BATCH_POST: True,
                        NO_DISTRIBUTION_MODELS: not self._distribution_models(),
                    }
                )
                booked = batch._book(book, kind, prepared, waiting)
        except Exception as refusal:  # noqa: BLE001 - any refusal: one by one
            self.env.invalidate_all()
            waiting.clear()
            waiting.update(foreseen)
            _logger.info(
                "Odoo refused a batch of %s %s documents (%s); posting them one by one",
                len(prepared),
                kind.prefix,
                type(refusal).__name__,
            )
            booked = self._book_one_by_one(book, kind, prepared, waiting, result)
        for (document, _values, _extra), booking in zip(prepared, booked, strict=True):
            if booking:
                document.write({kind.link: booking.id, "post_error": False})
                setattr(result, kind.counter, getattr(result, kind.counter) + 1)
        self._mark_waiting_ids(kind.model, waiting, result)

    def _distribution_models(self):
        """Whether any analytic distribution model could apply to a line."""
        models_ = self.env["account.analytic.distribution.model"].sudo()
        return bool(models_.with_context(active_test=False).search_count([], limit=1))

    def _prepare(self, book, kind, documents):
        make = {
            INVOICES: book.invoice_move,
            CREDIT_NOTES: book.credit_note_move,
            TRANSACTIONS: book.payment_values,
        }[kind]
        prepared, waiting = [], {}
        for document in documents:
            try:
                prepared.append(make(document))
            except Waiting as reason:
                waiting.setdefault(str(reason), []).append(document.id)
        return prepared, waiting

    def _book(self, book, kind, prepared, waiting):
        if kind.is_payment:
            return self._create_post_and_reconcile(prepared)
        return self._create_and_post(book, prepared, waiting)

    def _book_one_by_one(self, book, kind, prepared, waiting, result):
        booked = []
        for item in prepared:
            try:
                with self.env.cr.savepoint():
                    booked.extend(self._book(book, kind, [item], waiting))
            except Exception as refusal:  # noqa: BLE001 - the document waits
                self.env.invalidate_all()
                reason = self._refusal_words(refusal, item[0])
                waiting.setdefault(reason, []).append(item[0].id)
                result.refused += 1
                booked.append(False)
        return booked

    def _refusal_words(self, refusal, document):
        if isinstance(refusal, UserError):
            return self.env._(
                "Odoo refused to post it: %(words)s", words=str(refusal).strip()
            )
        _logger.exception(
            "Posting Billwerk document %s failed unexpectedly", document.billwerk_id
        )
        return self.env._(
            "Odoo failed to post it (%(error)s); the server log has the details",
            error=type(refusal).__name__,
        )

    def _create_and_post(self, book, prepared, waiting):
        """Create the batch's moves, force Billwerk's VAT, check, post.

        Returns the moves in ``prepared``'s order, False where one could not
        be made exact (it waits with the reason and is deleted as a draft).
        """
        if not prepared:
            return []
        moves = self.env["account.move"].create([values for _r, values, _b in prepared])
        exact = []
        for (record, _values, booking), move in zip(prepared, moves, strict=True):
            problem = book.force_vat(move, booking) or book.difference(
                move, booking.document
            )
            if problem:
                waiting.setdefault(problem, []).append(record.id)
                exact.append(False)
            else:
                exact.append(move)
        to_post = self.env["account.move"].union(*filter(None, exact))
        (moves - to_post).unlink()
        recognition = self.env["billwerk.revenue.recognition"]
        distributions = recognition._before_post(to_post)
        # Synchronized at create (and by the forced VAT): posting changes no
        # line, so the lines are not synchronized again, as Odoo's point of
        # sale posts its invoices.
        to_post.with_context(skip_invoice_sync=True).action_post()
        # In the batch's savepoint: a schedule exists exactly when its
        # invoice is posted, and a credit note's share is taken with it.
        recognition._after_post(book.account, to_post, distributions)
        return exact

    def _create_post_and_reconcile(self, prepared):
        """Create, post and reconcile the batch's payments in three calls."""
        if not prepared:
            return []
        payments = self.env["account.payment"].create(
            [values for _t, values, _target in prepared]
        )
        payments._billwerk_post()
        plan = {}
        for (_transaction, _values, target), payment in zip(
            prepared, payments, strict=True
        ):
            plan.setdefault(target, payment.move_id.line_ids.browse())
            plan[target] |= payment.move_id.line_ids
        self.env["account.move.line"]._reconcile_plan(
            [
                (target.line_ids | lines)
                .with_env(self.env)
                .filtered(
                    lambda line: (
                        line.account_id.account_type == "asset_receivable"
                        and not line.reconciled
                    )
                )
                for target, lines in plan.items()
            ]
        )
        return list(payments)

    def _link_customers(self, book, customers):
        """Customers are posted on their contact: link the ones without."""
        missing = customers.filtered(lambda c: not c.partner_id)
        if missing:
            self.env["billwerk.customer"]._link_existing_partners(missing, book.account)

    # -- cancelled invoices --
    def _reverse_cancelled(self, book, result):
        """A posted invoice Billwerk cancelled is reversed by a credit note."""
        invoices = self.env["billwerk.invoice"].search(
            [
                ("account_id", "=", book.account.id),
                ("state", "=", "cancelled"),
                ("move_id", "!=", False),
                ("reversal_move_id", "=", False),
            ]
        )
        for batch in split_every(BATCH, invoices.ids):
            with self.env.cr.savepoint():
                self._reverse_batch(
                    book, self.env["billwerk.invoice"].browse(batch), result
                )
            commit_unless_testing(self.env.cr)
            if book.after_batch:
                book.after_batch(result)

    def _reverse_batch(self, book, invoices, result):
        waiting = {}
        to_reverse = self.env["billwerk.invoice"]
        for invoice in invoices:
            move = invoice.move_id
            if move.state != "posted":
                waiting.setdefault(
                    self.env._(
                        "its entry %(move)s is no longer posted", move=move.name
                    ),
                    [],
                ).append(invoice.id)
            elif move.currency_id.compare_amounts(
                move.amount_residual, move.amount_total
            ):
                waiting.setdefault(
                    self.env._(
                        "cancelled in Billwerk, but its entry %(move)s is partly "
                        "paid or credited: reverse what is left by hand",
                        move=move.name,
                    ),
                    [],
                ).append(invoice.id)
            else:
                day = max(book.day(False), move.date)
                try:
                    book.check_lock(day, bool(move.amount_tax), move.journal_id)
                except Waiting as reason:
                    waiting.setdefault(str(reason), []).append(invoice.id)
                    continue
                to_reverse |= invoice
        if to_reverse:
            today = book.day(False)
            defaults = [
                {
                    "date": max(today, invoice.move_id.date),
                    "invoice_date": max(today, invoice.move_id.date),
                    "ref": self.env._(
                        "Cancelled in Billwerk: %(ref)s",
                        ref=invoice.number or invoice.handle or invoice.billwerk_id,
                    ),
                    "billwerk_account": book.account.billwerk_id,
                    "billwerk_document": f"cancel/{invoice.billwerk_id}",
                }
                for invoice in to_reverse
            ]
            reversals = to_reverse.move_id._reverse_moves(defaults, cancel=True)
            recognition = self.env["billwerk.revenue.recognition"]
            for invoice, reversal in zip(to_reverse, reversals, strict=True):
                invoice.write({"reversal_move_id": reversal.id, "post_error": False})
                recognition._absorb_credit(
                    book.account, invoice.move_id, reversal, cancel=True
                )
            result.reversals += len(to_reverse)
        self._mark_waiting_ids("billwerk.invoice", waiting, result)

    # -- waiting --
    def _mark_waiting_ids(self, model, waiting, result):
        for reason, ids in waiting.items():
            self.env[model].browse(ids).write({"post_error": reason[:500]})
            result.waiting += len(ids)
            result.reasons[reason] = result.reasons.get(reason, 0) + len(ids)

    def _mark_waiting(self, records, reason, result):
        self._mark_waiting_ids(records._name, {reason: records.ids}, result)
