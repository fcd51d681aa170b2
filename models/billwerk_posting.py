"""The books: Billwerk's invoices and credit notes posted once, to the cent.

Runs after a sync's writes under the account's lock, and from Post now. Per
batch of ~100 documents: one ``create`` of the moves, the VAT forced where
Odoo's rounding lands a minor unit off Billwerk's, one ``action_post`` and
the links, all in one transaction, so that a crash never leaves a document
half-posted and a rerun never posts one twice (``account_move.py`` holds the
unique binding). The arithmetic is ``mapping/books.py``'s; this file only
resolves ids and calls the ORM in batches
(``../shared/odoo18-accounting-notes.md`` measured the choices).
"""

import logging
from dataclasses import dataclass, field
from datetime import timezone

from odoo import Command, api, fields, models
from odoo.tools import split_every

from ..mapping import books
from ..mapping.money import currency_exponent
from .billwerk_invoice import POSTED_STATES
from .billwerk_line_product import origin_name
from .transaction import commit_unless_testing

_logger = logging.getLogger(__name__)

BATCH = 100
# Bulk import without chatter noise: halves the queries of a create.
QUIET = {
    "tracking_disable": True,
    "mail_create_nolog": True,
    "mail_create_nosubscribe": True,
    "mail_notrack": True,
    "mail_auto_subscribe_no_notify": True,
}


def free_journal_code(journals, company, prefix):
    """``prefix``, else ``prefix2``, ``prefix3`` ...: the company's first free code."""
    taken = set(journals.search(journals._check_company_domain(company)).mapped("code"))
    return next(
        code
        for code in [prefix] + [f"{prefix}{n}" for n in range(2, 100)]
        if code not in taken
    )


def percent_text(rate):
    """0.25 -> "25 %" (outside the translated call: Babel cannot read f-strings)."""
    return f"{rate * 100:g} %"


class Waiting(Exception):
    """A document that cannot be posted yet; ``str()`` is the reason, in words."""


@dataclass
class PostingResult:
    invoices: int = 0
    reversals: int = 0
    credit_notes: int = 0
    payments: int = 0
    waiting: int = 0
    reasons: dict = field(default_factory=dict)

    def _notification(self, env):
        message = env._(
            "%(invoices)s invoices, %(notes)s credit notes, %(reversals)s "
            "reversals and %(payments)s payments posted.",
            invoices=self.invoices,
            notes=self.credit_notes,
            reversals=self.reversals,
            payments=self.payments,
        )
        if self.waiting:
            message += " " + env._("%(count)s wait:", count=self.waiting)
            message += " " + "; ".join(
                f"{reason} ({count})" for reason, count in self.reasons.items()
            )
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": env._("Billwerk posting"),
                "message": message,
                "type": "warning" if self.waiting else "success",
                "sticky": bool(self.waiting),
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }


class BillwerkPosting(models.AbstractModel):
    _name = "billwerk.posting"
    _description = "Billwerk posting to accounting"

    @api.model
    def _post_account(self, account):
        """Post what is due for ``account``; the caller holds its lock."""
        if (
            not account.post_invoices
            or not account.active
            or account.billwerk_state == "test"
        ):
            return PostingResult()
        # The books are posted by the connector: users' rights were checked
        # by the caller (the run's lock owner, or Post now).
        posting = self.sudo().with_company(account.company_id).with_context(**QUIET)
        result = posting._post_as_connector(account.with_env(posting.env))
        # The reconciliation with the ledger shows what was just posted.
        posting.env["billwerk.ledger.line"]._refresh_after_posting(
            account.with_env(posting.env)
        )
        return result

    def _post_as_connector(self, account):
        result = PostingResult()
        book = _Book(self.env, account)
        self._add_tax_rows(account)
        try:
            book.journal = self._sale_journal(account)
        except Waiting as reason:
            self._mark_waiting(self._due_invoices(account), str(reason), result)
            return result
        book.load_taxes()
        # Invoices, then reversals of the cancelled ones, then credit notes,
        # which need their invoice in the books.
        for ids in split_every(BATCH, self._due_invoices(account).ids):
            with self.env.cr.savepoint():
                self._post_invoice_batch(
                    book, self.env["billwerk.invoice"].browse(ids), result
                )
            commit_unless_testing(self.env.cr)
        self._reverse_cancelled(book, result)
        # Settlements before credit notes: a note posted first would take the
        # invoice's open amount and leave the payment unmatched. Refunds last:
        # they pay out the credit notes.
        self._post_transactions(book, "settle", result)
        for ids in split_every(BATCH, self._due_credit_notes(account).ids):
            with self.env.cr.savepoint():
                self._post_credit_note_batch(
                    book, self.env["billwerk.credit.note"].browse(ids), result
                )
            commit_unless_testing(self.env.cr)
        self._post_transactions(book, "refund", result)
        return result

    # -- what is due --
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
                ("created", ">=", self._post_from_utc(account)),
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
        the company has exactly one sales tax of that percentage."""
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
        rates = {books.rate_key(row[0]) for row in self.env.cr.fetchall()}
        known = {books.rate_key(m.vat_rate) for m in account.tax_mapping_ids}
        taxes = self.env["account.tax"]
        rows = []
        for rate in sorted(rates - known, reverse=True):
            candidates = taxes.search(
                [
                    *taxes._check_company_domain(account.company_id),
                    ("type_tax_use", "=", "sale"),
                    ("amount_type", "=", "percent"),
                    ("price_include", "=", False),
                    ("amount", "=", rate * 100),
                ]
            )
            rows.append(
                {
                    "account_id": account.id,
                    "vat_rate": rate,
                    "tax_id": candidates.id if len(candidates) == 1 else False,
                }
            )
        if rows:
            self.env["billwerk.tax.mapping"].create(rows)

    # -- invoices --
    def _post_invoice_batch(self, book, invoices, result):
        bound = book.bound_moves("invoice", invoices)
        for invoice in invoices.filtered(lambda i: i.billwerk_id in bound):
            # Booked before (the copy was deleted and synced again): relink.
            invoice.write(
                {"move_id": bound[invoice.billwerk_id].id, "post_error": False}
            )
        invoices = invoices.filtered(lambda i: i.billwerk_id not in bound)
        self._link_customers(book, invoices.customer_id)
        prepared, waiting = [], {}
        for invoice in invoices:
            try:
                prepared.append(book.invoice_move(invoice))
            except Waiting as reason:
                waiting.setdefault(str(reason), []).append(invoice.id)
        book.drop_taken_names(prepared)
        moves = self._create_and_post(book, prepared, waiting)
        for (invoice, _values, _document), move in zip(prepared, moves, strict=True):
            if move:
                invoice.write({"move_id": move.id, "post_error": False})
                result.invoices += 1
        self._mark_waiting_ids("billwerk.invoice", waiting, result)

    def _create_and_post(self, book, prepared, waiting):
        """Create the batch's moves, force Billwerk's VAT, check, post.

        Returns the moves in ``prepared``'s order, False where one could not
        be made exact (it waits with the reason and is deleted as a draft).
        """
        if not prepared:
            return []
        moves = self.env["account.move"].create([values for _r, values, _d in prepared])
        exact = []
        for (record, _values, document), move in zip(prepared, moves, strict=True):
            book.force_vat(move, document)
            problem = book.difference(move, document)
            if problem:
                waiting.setdefault(problem, []).append(record.id)
                exact.append(False)
            else:
                exact.append(move)
        to_post = self.env["account.move"].union(*filter(None, exact))
        (moves - to_post).unlink()
        to_post.action_post()
        return exact

    def _link_customers(self, book, customers):
        """Customers are posted on their contact: link the ones without."""
        missing = customers.filtered(lambda c: not c.partner_id)
        if missing:
            self.env["billwerk.customer"]._link_existing_partners(missing, book.account)

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
                to_reverse |= invoice
        if to_reverse:
            today = fields.Date.context_today(self)
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
            for invoice, reversal in zip(to_reverse, reversals, strict=True):
                invoice.write({"reversal_move_id": reversal.id, "post_error": False})
            result.reversals += len(to_reverse)
        self._mark_waiting_ids("billwerk.invoice", waiting, result)

    # -- credit notes --
    def _post_credit_note_batch(self, book, notes, result):
        bound = book.bound_moves("credit_note", notes)
        for note in notes.filtered(lambda n: n.billwerk_id in bound):
            note.write({"move_id": bound[note.billwerk_id].id, "post_error": False})
        notes = notes.filtered(lambda n: n.billwerk_id not in bound)
        prepared, waiting = [], {}
        for note in notes:
            try:
                prepared.append(book.credit_note_move(note))
            except Waiting as reason:
                waiting.setdefault(str(reason), []).append(note.id)
        moves = self._create_and_post(book, prepared, waiting)
        for (note, _values, _document), move in zip(prepared, moves, strict=True):
            if move:
                note.write({"move_id": move.id, "post_error": False})
                result.credit_notes += 1
        self._mark_waiting_ids("billwerk.credit.note", waiting, result)

    # -- payments and refunds --
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

    def _post_transactions(self, book, kind, result):
        for ids in split_every(BATCH, self._due_transactions(book.account, kind).ids):
            with self.env.cr.savepoint():
                self._post_transaction_batch(
                    book, self.env["billwerk.transaction"].browse(ids), result
                )
            commit_unless_testing(self.env.cr)

    def _post_transaction_batch(self, book, transactions, result):
        """Create, post and reconcile the batch's payments in three calls."""
        bound = book.bound_payments(transactions)
        for transaction in transactions.filtered(lambda t: t.billwerk_id in bound):
            transaction.write(
                {"payment_id": bound[transaction.billwerk_id].id, "post_error": False}
            )
        transactions = transactions.filtered(lambda t: t.billwerk_id not in bound)
        prepared, waiting = [], {}
        for transaction in transactions:
            try:
                prepared.append(book.payment_values(transaction))
            except Waiting as reason:
                waiting.setdefault(str(reason), []).append(transaction.id)
        if prepared:
            payments = self.env["account.payment"].create(
                [values for _t, values, _m in prepared]
            )
            payments.action_post()
            plan = {}
            for (_transaction, _values, target), payment in zip(
                prepared, payments, strict=True
            ):
                plan.setdefault(target, payment.move_id.line_ids.browse())
                plan[target] |= payment.move_id.line_ids
            self.env["account.move.line"]._reconcile_plan(
                [
                    (target.line_ids | lines).filtered(
                        lambda line: (
                            line.account_id.account_type == "asset_receivable"
                            and not line.reconciled
                        )
                    )
                    for target, lines in plan.items()
                ]
            )
            for (transaction, _values, _target), payment in zip(
                prepared, payments, strict=True
            ):
                transaction.write({"payment_id": payment.id, "post_error": False})
            result.payments += len(payments)
        self._mark_waiting_ids("billwerk.transaction", waiting, result)

    # -- waiting --
    def _mark_waiting_ids(self, model, waiting, result):
        for reason, ids in waiting.items():
            self.env[model].browse(ids).write({"post_error": reason[:500]})
            result.waiting += len(ids)
            result.reasons[reason] = result.reasons.get(reason, 0) + len(ids)

    def _mark_waiting(self, records, reason, result):
        self._mark_waiting_ids(records._name, {reason: records.ids}, result)


class _Book:
    """What one account's posting resolves once: journal, taxes, products."""

    def __init__(self, env, account):
        self.env = env
        self.account = account
        self.company = account.company_id
        self.journal = None
        self.taxes = {}
        self.products = {}
        self.payment_journals = {}
        self.price_digits = env["decimal.precision"].precision_get("Product Price")

    def load_taxes(self):
        for mapping in self.account.tax_mapping_ids:
            key = (books.rate_key(mapping.vat_rate), mapping.country_id.id or False)
            self.taxes[key] = mapping.tax_id

    def tax_for(self, rate, country):
        tax = self.taxes.get((rate, country.id or False)) or self.taxes.get(
            (rate, False)
        )
        if not tax:
            percent = percent_text(rate)
            raise Waiting(
                self.env._("no sales tax mapped for %(rate)s VAT", rate=percent)
            )
        return tax

    def bound_moves(self, kind, records):
        """Moves already booked for these documents, by Billwerk id."""
        refs = {
            f"{kind}/{record.billwerk_id}": record.billwerk_id for record in records
        }
        moves = self.env["account.move"].search(
            [
                ("billwerk_account", "=", self.account.billwerk_id),
                ("billwerk_document", "in", list(refs)),
            ]
        )
        return {refs[move.billwerk_document]: move for move in moves}

    def bound_payments(self, transactions):
        """Payments already booked for these transactions, by Billwerk id."""
        refs = {f"transaction/{t.billwerk_id}": t.billwerk_id for t in transactions}
        payments = self.env["account.payment"].search(
            [
                ("billwerk_account", "=", self.account.billwerk_id),
                ("billwerk_document", "in", list(refs)),
            ]
        )
        return {refs[payment.billwerk_document]: payment for payment in payments}

    # -- checks shared by invoices and credit notes --
    def check_currency(self, currency):
        if not currency:
            raise Waiting(self.env._("its currency is unknown to Odoo"))
        if not currency.active:
            raise Waiting(
                self.env._(
                    "the currency %(currency)s is not active", currency=currency.name
                )
            )
        exponent = currency_exponent(currency.name)
        if currency.decimal_places != exponent:
            raise Waiting(
                self.env._(
                    "Odoo rounds %(currency)s to %(odoo)s decimals, Billwerk to "
                    "%(billwerk)s: correct the currency's rounding",
                    currency=currency.name,
                    odoo=currency.decimal_places,
                    billwerk=exponent,
                )
            )
        if exponent > self.price_digits:
            raise Waiting(
                self.env._(
                    "prices have %(digits)s decimals in Odoo and %(currency)s needs "
                    "%(exponent)s: set the decimal accuracy 'Product Price' to "
                    "%(exponent)s",
                    digits=self.price_digits,
                    currency=currency.name,
                    exponent=exponent,
                )
            )

    def check_lock(self, day, has_tax):
        locks = self.company._get_violated_lock_dates(day, has_tax, self.journal)
        if locks:
            raise Waiting(
                self.env._(
                    "the period is locked until %(date)s",
                    date=fields.Date.to_string(locks[-1][0]),
                )
            )

    def document(self, amount, amount_vat, amount_ex_vat, lines, currency):
        exponent = currency_exponent(currency.name)
        scale = 10**exponent
        try:
            return books.document(
                round(amount * scale),
                round(amount_vat * scale),
                round(amount_ex_vat * scale),
                lines or [],
            )
        except books.NotPostable as refusal:
            raise Waiting(self.refusal_words(refusal, currency)) from None

    def refusal_words(self, refusal, currency):
        env = self.env
        percent = percent_text(refusal.params.get("rate", 0))
        words = {
            "no_lines": env._("Billwerk sent no lines for it"),
            "totals": env._("Billwerk's totals do not add up (VAT + net ≠ total)"),
            "line_amounts": env._("a line has no amount excluding VAT"),
            "lines_total": env._("its lines do not add up to its total"),
            "untaxed_delta": env._("its net amount differs from its lines'"),
            "vat_off_rate": env._(
                "its VAT does not match the rate %(rate)s",
                rate=percent,
            ),
        }
        return words.get(refusal.code, refusal.code)

    def day(self, moment):
        """A Billwerk moment (naive UTC) as a date in the account's time zone."""
        if not moment:
            return fields.Date.context_today(self.env["billwerk.invoice"])
        zone = self.account._billwerk_zone()
        return moment.replace(tzinfo=timezone.utc).astimezone(zone).date()

    # -- products --
    def product_for(self, line, plan):
        if line.origin == "plan" and plan:
            if not plan.product_id:
                plan.product_id = self.new_product(plan.name)
            return plan.product_id
        origin = line.origin or "other"
        if origin not in self.products:
            row = self.account.line_product_ids.filtered(lambda r: r.origin == origin)
            if not row:
                product = self.new_product(
                    lambda env: env._(
                        "Billwerk: %(kind)s", kind=origin_name(env, origin)
                    )
                )
                row = self.env["billwerk.line.product"].create(
                    {
                        "account_id": self.account.id,
                        "origin": origin,
                        "product_id": product.id,
                    }
                )
            self.products[origin] = row.product_id
        return self.products[origin]

    def new_product(self, name):
        """A service product; ``name`` is a text, or a function of an
        environment giving the name in its language, written in every
        language of the database."""
        naming = name if callable(name) else (lambda _env: name)
        product = self.env["product.product"].create(
            {
                "name": naming(self.env),
                "type": "service",
                "sale_ok": True,
                "purchase_ok": False,
                "taxes_id": [Command.clear()],
                "company_id": self.company.id,
            }
        )
        if callable(name):
            for code, _label in self.env["res.lang"].get_installed():
                if code != (self.env.lang or "en_US"):
                    template = product.product_tmpl_id.with_context(lang=code)
                    template.name = naming(template.env)
        return product

    def income_account(self, product):
        accounts = product.product_tmpl_id.with_company(
            self.company
        )._get_product_accounts()
        account = accounts["income"] or self.journal.default_account_id
        if not account:
            raise Waiting(
                self.env._(
                    "the product %(product)s has no income account",
                    product=product.name,
                )
            )
        return account

    # -- move values --
    def invoice_move(self, invoice):
        customer = invoice.customer_id
        if not customer:
            raise Waiting(self.env._("its customer is not synchronized yet"))
        if not customer.partner_id:
            raise Waiting(self.env._("its customer has no contact"))
        currency = invoice.currency_id
        self.check_currency(currency)
        document = self.document(
            invoice.amount,
            invoice.amount_vat,
            invoice.amount_ex_vat,
            invoice.order_lines,
            currency,
        )
        if document.total < 0:
            raise Waiting(self.env._("its total is negative"))
        day = self.day(invoice.created)
        self.check_lock(day, bool(document.tax))
        reference = invoice.number or invoice.handle or invoice.billwerk_id
        values = {
            "move_type": "out_invoice",
            "journal_id": self.journal.id,
            "partner_id": customer.partner_id.id,
            "currency_id": currency.id,
            "invoice_date": day,
            "date": day,
            "invoice_date_due": max(day, self.day(invoice.due)),
            "ref": reference,
            "payment_reference": invoice.handle or reference,
            "invoice_origin": invoice.handle or reference,
            "billwerk_account": self.account.billwerk_id,
            "billwerk_document": f"invoice/{invoice.billwerk_id}",
            "invoice_line_ids": self.line_commands(
                document, currency, customer.country_id, invoice.plan_id
            ),
        }
        if (invoice.number or "").isdigit():
            values["name"] = f"{self.journal.code}/{day.year}/{invoice.number}"
            # The name carries Billwerk's number: a reference repeating it
            # would show in every link to the entry ("BWK/2026/831 (831)").
            values["ref"] = False
        return invoice, values, document

    def credit_note_move(self, note):
        invoice_move = note.invoice_id.move_id
        currency = note.currency_id or invoice_move.currency_id
        self.check_currency(currency)
        document = self.document(
            note.amount,
            note.amount_vat,
            note.amount_ex_vat,
            note.credit_note_lines,
            currency,
        )
        if document.total < 0:
            raise Waiting(self.env._("its total is negative"))
        day = max(self.day(note.created), invoice_move.invoice_date)
        self.check_lock(day, bool(document.tax))
        country = note.invoice_id.customer_id.country_id
        return (
            note,
            {
                "move_type": "out_refund",
                "journal_id": invoice_move.journal_id.id,
                "partner_id": invoice_move.partner_id.id,
                "currency_id": currency.id,
                "invoice_date": day,
                "date": day,
                "ref": self.env._(
                    "Billwerk credit note of %(invoice)s",
                    invoice=note.invoice_id.number or invoice_move.name,
                ),
                "reversed_entry_id": invoice_move.id,
                "billwerk_account": self.account.billwerk_id,
                "billwerk_document": f"credit_note/{note.billwerk_id}",
                "invoice_line_ids": self.line_commands(
                    document, currency, country, note.invoice_id.plan_id
                ),
            },
            document,
        )

    def line_commands(self, document, currency, country, plan):
        scale = 10 ** currency_exponent(currency.name)
        commands = []
        for line in document.lines:
            product = self.product_for(line, plan)
            label = line.text or product.name
            if line.period_from and line.period_to:
                label = f"{label} ({line.period_from} – {line.period_to})"
            commands.append(
                Command.create(
                    {
                        "product_id": product.id,
                        "name": label,
                        "quantity": line.quantity,
                        "price_unit": line.price_unit / scale,
                        "tax_ids": [Command.set(self.tax_for(line.vat, country).ids)],
                        "account_id": self.income_account(product).id,
                    }
                )
            )
        return commands

    def drop_taken_names(self, prepared):
        """Billwerk's numbers are the names, unless the journal has one already
        (an earlier Billwerk account booked into the same journal)."""
        names = [values["name"] for _r, values, _d in prepared if "name" in values]
        if not names:
            return
        taken = set(
            self.env["account.move"]
            .search([("journal_id", "=", self.journal.id), ("name", "in", names)])
            .mapped("name")
        )
        for _record, values, _document in prepared:
            if values.get("name") in taken:
                del values["name"]

    # -- payments --
    def payment_journal(self, payment_type):
        """The journal and incoming or outgoing method line for a payment type."""
        if payment_type not in self.payment_journals:
            row = self.account.payment_journal_ids.filtered(
                lambda r: r.payment_type == payment_type
            )
            self.payment_journals[payment_type] = (
                row.journal_id or self.default_payment_journal()
            )
        return self.payment_journals[payment_type]

    def default_payment_journal(self):
        if self.account.payment_journal_id:
            return self.account.payment_journal_id
        journals = self.env["account.journal"]
        journal = journals.create(
            {
                "name": self.env._("Billwerk payments"),
                "code": free_journal_code(journals, self.company, "BWP"),
                "type": "bank",
                "company_id": self.company.id,
            }
        )
        # The journal's own account is the outstanding account: the money the
        # acquirer holds is booked there, and the invoice reads Paid at once.
        (
            journal.inbound_payment_method_line_ids
            | journal.outbound_payment_method_line_ids
        ).payment_account_id = journal.default_account_id
        self.account.payment_journal_id = journal
        return journal

    def method_line(self, journal, direction):
        lines = (
            journal.inbound_payment_method_line_ids
            if direction == "inbound"
            else journal.outbound_payment_method_line_ids
        ).filtered("payment_account_id")
        if not lines:
            raise Waiting(
                self.env._(
                    "the journal %(journal)s has no %(direction)s payment method "
                    "with an outstanding account",
                    journal=journal.name,
                    direction=self.env._("incoming")
                    if direction == "inbound"
                    else self.env._("outgoing"),
                )
            )
        return lines[0]

    def payment_values(self, transaction):
        invoice = transaction.invoice_id
        target = invoice.move_id
        if transaction.type == "refund":
            note = invoice.credit_note_ids.filtered(
                lambda n: n.refund_transaction == transaction.billwerk_id
            )
            if note and not note.move_id:
                raise Waiting(self.env._("its credit note is not posted yet"))
            target = note.move_id or target
        if target.state != "posted":
            raise Waiting(
                self.env._("the entry %(move)s is not posted", move=target.name)
            )
        currency = transaction.currency_id or target.currency_id
        self.check_currency(currency)
        day = self.day(
            transaction.settled or transaction.refunded or transaction.created
        )
        direction = "outbound" if transaction.type == "refund" else "inbound"
        journal = self.payment_journal(transaction.payment_type or "")
        locks = self.company._get_violated_lock_dates(day, False, journal)
        if locks:
            raise Waiting(
                self.env._(
                    "the period is locked until %(date)s",
                    date=fields.Date.to_string(locks[-1][0]),
                )
            )
        return (
            transaction,
            {
                "payment_type": direction,
                "partner_type": "customer",
                "partner_id": target.commercial_partner_id.id,
                "amount": transaction.amount,
                "currency_id": currency.id,
                "date": day,
                "journal_id": journal.id,
                "payment_method_line_id": self.method_line(journal, direction).id,
                "memo": self.env._(
                    "Billwerk %(kind)s %(invoice)s (%(payment_type)s)",
                    kind=self.env._("refund")
                    if direction == "outbound"
                    else self.env._("payment"),
                    invoice=invoice.handle or invoice.billwerk_id,
                    payment_type=transaction.payment_type or "?",
                ),
                "payment_reference": transaction.billwerk_id,
                "invoice_ids": [Command.set(target.ids)],
                "billwerk_account": self.account.billwerk_id,
                "billwerk_document": f"transaction/{transaction.billwerk_id}",
            },
            target,
        )

    # -- exactness --
    def group_targets(self, move, document):
        """Billwerk's VAT per tax group of ``move``, in the move's currency."""
        scale = 10 ** currency_exponent(move.currency_id.name)
        country = move.partner_id.country_id
        targets = {}
        for rate, tax in document.tax_by_rate.items():
            group = self.tax_for(rate, country).tax_group_id
            targets[group.id] = targets.get(group.id, 0) + tax
        return {group: amount / scale for group, amount in targets.items()}

    def force_vat(self, move, document):
        """Move Odoo's VAT to Billwerk's per tax group, where they differ."""
        targets = self.group_targets(move, document)
        sign = -1 if move.is_inbound() else 1
        actual = {}
        for line in move.line_ids.filtered("tax_line_id"):
            group = line.tax_group_id.id
            actual[group] = actual.get(group, 0) + sign * line.amount_currency
        if all(
            not move.currency_id.compare_amounts(actual.get(group, 0), target)
            for group, target in targets.items()
        ):
            return
        move.tax_totals = {
            "subtotals": [
                {
                    "tax_groups": [
                        {"id": group, "tax_amount_currency": target}
                        for group, target in targets.items()
                    ]
                }
            ]
        }

    def difference(self, move, document):
        """Why ``move`` does not equal Billwerk's document, or None."""
        scale = 10 ** currency_exponent(move.currency_id.name)
        currency = move.currency_id
        for odoo_amount, billwerk in (
            (move.amount_untaxed, document.untaxed),
            (move.amount_tax, document.tax),
            (move.amount_total, document.total),
        ):
            if currency.compare_amounts(odoo_amount, billwerk / scale):
                return self.env._(
                    "Odoo's totals %(untaxed)s / %(tax)s / %(total)s differ from "
                    "Billwerk's %(b_untaxed)s / %(b_tax)s / %(b_total)s",
                    untaxed=move.amount_untaxed,
                    tax=move.amount_tax,
                    total=move.amount_total,
                    b_untaxed=document.untaxed / scale,
                    b_tax=document.tax / scale,
                    b_total=document.total / scale,
                )
        return None
