"""The book: what one Billwerk account's posting resolves and builds.

Journals, taxes, products and income accounts are resolved once per pass;
each document becomes the values of one entry or payment, or a ``Waiting``
with its reason in words. Every refusal Odoo would make that can be foreseen
is made here first (an archived journal, a deprecated account, a missing or
stale exchange rate, a payment over its invoice's open amount ...), so that
the batch that Odoo is asked to post is one it accepts. Amounts are compared
in minor units, converted by ``mapping/money.py``; the arithmetic of the
documents is ``mapping/books.py``'s.
"""

from datetime import timedelta, timezone

from odoo import Command, fields

from ..mapping import books, revenue
from ..mapping.money import (
    amount_to_minor,
    currency_exponent,
    minor_to_amount,
    minor_to_text,
)
from .billwerk_line_product import origin_name
from .odoo_compat import account_retired


class Waiting(Exception):
    """A document that cannot be posted yet; ``str()`` is the reason, in words."""


def free_journal_code(journals, company, prefix):
    """``prefix``, else ``prefix2``, ``prefix3`` ...: the company's first free code."""
    taken = set(journals.search(journals._check_company_domain(company)).mapped("code"))
    return next(
        code
        for code in [prefix] + [f"{prefix}{n}" for n in range(2, 100)]
        if code not in taken
    )


def new_named_journal(env, company, naming, prefix, journal_type):
    """A journal of ``company`` named ``naming(env)`` in every installed
    language (an accountant working in German or Danish reads it in theirs),
    on the company's first free code from ``prefix``."""
    journals = env["account.journal"]
    journal = journals.create(
        {
            "name": naming(env),
            "code": free_journal_code(journals, company, prefix),
            "type": journal_type,
            "company_id": company.id,
        }
    )
    for code, _label in env["res.lang"].get_installed():
        if code != (env.lang or "en_US"):
            localized = journal.with_context(lang=code)
            localized.name = naming(localized.env)
    return journal


def percent_text(rate):
    """0.25 -> "25 %" (outside the translated call: Babel cannot read f-strings)."""
    return f"{rate * 100:g} %"


class PostingBook:
    """What one account's posting resolves once: journal, taxes, products."""

    def __init__(self, env, account):
        self.env = env
        self.account = account
        self.company = account.company_id
        self.journal = None
        self.taxes = {}
        self.products = {}
        self.payment_journals = {}
        self.rates = {}
        self.conversions = {}
        # What earlier payments of this pass take of an entry's open amount.
        self.reserved = {}
        self.price_digits = env["decimal.precision"].precision_get("Product Price")
        # Called with the counts so far after each committed batch (a run's
        # progress and time budget, see billwerk.posting._post_account).
        self.after_batch = None
        # Revenue recognised over the service period (billwerk_revenue_
        # recognition.py): Odoo's own deferral where it has one (Enterprise).
        self.enterprise_deferral = (
            "deferred_start_date" in env["account.move.line"]._fields
        )

    def load_taxes(self):
        for mapping in self.account.tax_mapping_ids:
            key = (books.rate_key(mapping.vat_rate), mapping.country_id.id or False)
            self.taxes[key] = mapping.tax_id

    def tax_for(self, rate, country, invoice_taxes=None):
        """The sales tax of a rate: the credited invoice's, else the mapping's.

        The country is always the Billwerk customer's, as synchronized: the
        mapping and the VAT check use the same one.
        """
        if invoice_taxes and rate in invoice_taxes:
            return invoice_taxes[rate]
        tax = self.taxes.get((rate, country.id or False)) or self.taxes.get(
            (rate, False)
        )
        if not tax:
            percent = percent_text(rate)
            raise Waiting(
                self.env._("no sales tax mapped for %(rate)s VAT", rate=percent)
            )
        return tax

    def taxes_of(self, move):
        """The taxes an entry booked, by rate: a credit note takes them."""
        taxes = {}
        for line in move.invoice_line_ids:
            for tax in line.tax_ids:
                taxes.setdefault(books.rate_key(tax.amount / 100), tax)
        return taxes

    # -- bookings made before --
    def bound(self, model, prefix, records):
        """Entries or payments already booked for ``records``, by Billwerk id.

        Only this company's: another company may not hold this Billwerk
        account (the dialog refuses it), and must never be linked if it did.
        """
        refs = {
            f"{prefix}/{record.billwerk_id}": record.billwerk_id for record in records
        }
        found = self.env[model].search(
            [
                ("billwerk_account", "=", self.account.billwerk_id),
                ("billwerk_document", "in", list(refs)),
                ("company_id", "=", self.company.id),
            ]
        )
        return {refs[booking.billwerk_document]: booking for booking in found}

    def booked_by_another_company(self, model, prefix, records):
        """Billwerk ids of ``records`` that another company's books hold.

        The dialog refuses a Billwerk account another company holds; one
        connected before it did waits instead of failing on the binding.
        """
        refs = {
            f"{prefix}/{record.billwerk_id}": record.billwerk_id for record in records
        }
        found = self.env[model].search(
            [
                ("billwerk_account", "=", self.account.billwerk_id),
                ("billwerk_document", "in", list(refs)),
                ("company_id", "!=", self.company.id),
            ]
        )
        return {refs[booking.billwerk_document] for booking in found}

    # -- checks shared by invoices, credit notes and payments --
    def check_currency(self, currency, day):
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
        self.check_rate(currency, day)

    def check_rate(self, currency, day):
        """A foreign currency needs a recent rate: Odoo would post at 1.0."""
        if currency == self.company.currency_id:
            return
        key = (currency.id, day)
        if key not in self.rates:
            rate = self.env["res.currency.rate"].search(
                [
                    ("currency_id", "=", currency.id),
                    ("name", "<=", day),
                    "|",
                    ("company_id", "=", self.company.id),
                    ("company_id", "=", False),
                ],
                order="name desc",
                limit=1,
            )
            self.rates[key] = rate.name
        last = self.rates[key]
        if not last:
            raise Waiting(
                self.env._(
                    "the company has no exchange rate for %(currency)s on "
                    "%(date)s: add one (Accounting > Configuration > Currencies)",
                    currency=currency.name,
                    date=fields.Date.to_string(day),
                )
            )
        limit = self.account.rate_max_age_days
        if limit and day - last > timedelta(days=limit):
            raise Waiting(
                self.env._(
                    "the last exchange rate of %(currency)s before %(date)s is of "
                    "%(last)s, more than %(days)s days older: add the day's rate",
                    currency=currency.name,
                    date=fields.Date.to_string(day),
                    last=fields.Date.to_string(last),
                    days=limit,
                )
            )

    def conversion_rate(self, currency, day):
        """Units of ``currency`` per company unit on ``day``, as Odoo converts
        an entry of that day (read once per currency and day)."""
        key = (currency.id, day)
        if key not in self.conversions:
            self.conversions[key] = self.env["res.currency"]._get_conversion_rate(
                self.company.currency_id, currency, self.company, day
            )
        return self.conversions[key]

    def check_journal(self, journal):
        if not journal.active:
            raise Waiting(
                self.env._(
                    "the journal %(journal)s is archived: restore it or choose "
                    "another one",
                    journal=journal.name,
                )
            )

    def check_lock(self, day, has_tax, journal):
        """Odoo moves a locked date silently; the connector waits instead."""
        locks = self.company._get_violated_lock_dates(day, has_tax, journal)
        if locks:
            raise Waiting(
                self.env._(
                    "the period is locked until %(date)s",
                    date=fields.Date.to_string(locks[-1][0]),
                )
            )

    def document(self, amount, amount_vat, amount_ex_vat, lines, currency):
        code = currency.name
        try:
            return books.document(
                amount_to_minor(amount, code),
                amount_to_minor(amount_vat, code),
                amount_to_minor(amount_ex_vat, code),
                lines or [],
            )
        except books.NotPostable as refusal:
            raise Waiting(self.refusal_words(refusal)) from None

    def refusal_words(self, refusal):
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
        """A Billwerk moment (naive UTC) as a date in the account's time zone;
        without one (a cancellation, which Billwerk does not date), today there."""
        if not moment:
            return self.account._billwerk_today()
        zone = self.account._billwerk_zone()
        return moment.replace(tzinfo=timezone.utc).astimezone(zone).date()

    def money(self, minor, currency):
        return minor_to_amount(minor, currency.name)

    def text(self, minor, currency):
        return minor_to_text(minor, currency.name)

    def minor(self, amount, currency):
        return amount_to_minor(amount, currency.name)

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
        if account_retired(account):
            raise Waiting(
                self.env._(
                    "the income account %(account)s of %(product)s is deprecated: "
                    "give the product another one",
                    account=account.display_name,
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
        self.check_journal(self.journal)
        currency = invoice.currency_id
        day = self.day(invoice.created)
        self.check_currency(currency, day)
        document = self.document(
            invoice.amount,
            invoice.amount_vat,
            invoice.amount_ex_vat,
            invoice.order_lines,
            currency,
        )
        if document.total < 0:
            raise Waiting(self.env._("its total is negative"))
        self.check_lock(day, bool(document.tax), self.journal)
        country = customer.country_id
        values = {
            "move_type": "out_invoice",
            "journal_id": self.journal.id,
            "partner_id": customer.partner_id.id,
            "currency_id": currency.id,
            "invoice_date": day,
            "date": day,
            "invoice_date_due": max(day, self.day(invoice.due)),
            "ref": invoice.number or invoice.handle or invoice.billwerk_id,
            "payment_reference": invoice.handle or invoice.billwerk_id,
            "invoice_origin": invoice.handle or invoice.billwerk_id,
            "billwerk_account": self.account.billwerk_id,
            "billwerk_document": f"invoice/{invoice.billwerk_id}",
            "invoice_line_ids": self.line_commands(
                document, currency, country, invoice.plan_id, day=day, sign=-1
            ),
        }
        if (invoice.number or "").isdigit():
            values["name"] = f"{self.journal.code}/{day.year}/{invoice.number}"
            # The name carries Billwerk's number: a reference repeating it
            # would show in every link to the entry ("BWK/2026/831 (831)").
            values["ref"] = False
        return invoice, values, Booking(document, country)

    def credit_note_move(self, note):
        invoice_move = note.invoice_id.move_id
        unbooked = note.invoice_id.transaction_ids.filtered(
            lambda t: (
                t.type == "settle"
                and t.state == "settled"
                and not t.payment_id
                and not t.booked_elsewhere
            )
        )
        if unbooked:
            # Posted first, the credit note would take the open amount those
            # payments settle, and they could never be booked.
            raise Waiting(self.env._("a payment of its invoice is not booked yet"))
        self.check_journal(invoice_move.journal_id)
        currency = note.currency_id or invoice_move.currency_id
        day = max(self.day(note.created), invoice_move.invoice_date)
        self.check_currency(currency, day)
        document = self.document(
            note.amount,
            note.amount_vat,
            note.amount_ex_vat,
            note.credit_note_lines,
            currency,
        )
        if document.total < 0:
            raise Waiting(self.env._("its total is negative"))
        self.check_lock(day, bool(document.tax), invoice_move.journal_id)
        country = note.invoice_id.customer_id.country_id
        invoice_taxes = self.taxes_of(invoice_move)
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
                    document,
                    currency,
                    country,
                    note.invoice_id.plan_id,
                    invoice_taxes,
                    day=day,
                    sign=1,
                ),
            },
            Booking(document, country, invoice_taxes),
        )

    def line_commands(
        self, document, currency, country, plan, invoice_taxes=None, *, day, sign
    ):
        """The entry's lines; ``sign`` -1 for an invoice, 1 for a credit note.

        Each line carries its amounts as Odoo books them (the net, signed, in
        the document's currency and converted at the entry's rate), so that
        Odoo's tax synchronization finds them right and does not write every
        line once more after the create; where it computes otherwise, it
        writes its own, as it would have.
        """
        rate = self.conversion_rate(currency, day)
        company_currency = self.company.currency_id
        zone = self.account._billwerk_zone()
        commands = []
        for line in document.lines:
            product = self.product_for(line, plan)
            label = line.text or product.name
            period = revenue.service_period(line.period_from, line.period_to, zone)
            if period:
                label = f"{label} ({period.first} – {period.end})"
            tax = self.tax_for(line.vat, country, invoice_taxes)
            net = line.amount_ex_vat
            values = {
                "product_id": product.id,
                "name": label,
                "quantity": line.quantity,
                "price_unit": self.money(line.price_unit, currency),
                "amount_currency": self.money(sign * net, currency),
                "balance": company_currency.round(
                    self.money(sign * net, currency) / rate
                ),
                "tax_ids": [Command.set(tax.ids)],
                "account_id": self.income_account(product).id,
            }
            if sign < 0:
                self.defer(values, net, period, day, tax)
            commands.append(Command.create(values))
        return commands

    def defer(self, values, net, period, day, tax):
        """Book a line whose service reaches past its invoice's month on the
        deferred revenue account, where revenue is recognised over the period.

        Its income account and period stay on the line: the recognition
        schedule is made from them once the invoice is posted. Where Odoo has
        deferral fields of its own (Enterprise), they are filled instead and
        Odoo makes the entries.
        """
        if not self.account.recognize_revenue:
            return
        if not revenue.deferral_shares(net, period, day):
            return
        if self.enterprise_deferral:
            values["deferred_start_date"] = period.first
            values["deferred_end_date"] = period.last
            return
        deferred = self.account.deferred_revenue_account_id
        if not deferred:
            raise Waiting(
                self.env._(
                    "revenue is recognised over the service period, and no "
                    "deferred revenue account is chosen (Accounting tab)"
                )
            )
        if account_retired(deferred):
            raise Waiting(
                self.env._(
                    "the deferred revenue account %(account)s is deprecated: "
                    "choose another one",
                    account=deferred.display_name,
                )
            )
        if tax.amount and tax.invoice_repartition_line_ids.filtered(
            lambda r: r.repartition_type == "tax" and not r.account_id
        ):
            # Such a tax books its VAT on the line's own account: the VAT
            # would sit in deferred revenue and be recognised as income. (A
            # 0 % tax books no VAT line: it needs no account.)
            raise Waiting(
                self.env._(
                    "the tax %(tax)s has no tax account, and would book its VAT "
                    "on deferred revenue: give it one",
                    tax=tax.name,
                )
            )
        values["billwerk_income_account_id"] = values["account_id"]
        values["account_id"] = deferred.id
        values["billwerk_period_start"] = period.first
        values["billwerk_period_end"] = period.end

    def drop_taken_names(self, prepared):
        """Billwerk's numbers are the names, unless the journal has one already
        (an earlier Billwerk account booked into the same journal)."""
        names = [values["name"] for _r, values, _b in prepared if "name" in values]
        if not names:
            return
        taken = set(
            self.env["account.move"]
            .search([("journal_id", "=", self.journal.id), ("name", "in", names)])
            .mapped("name")
        )
        for _record, values, _booking in prepared:
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
        journal = new_named_journal(
            self.env,
            self.company,
            lambda env: env._("Billwerk payments"),
            "BWP",
            "bank",
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

    def payment_target(self, transaction):
        """The entry a transaction pays: its invoice's, or a refund's credit note's."""
        invoice = transaction.invoice_id
        if transaction.type != "refund":
            return invoice.move_id
        note = invoice.credit_note_ids.filtered(
            lambda n: n.refund_transaction == transaction.billwerk_id
        )
        if not note:
            # Paying out against the invoice would reopen it: the credit note
            # Billwerk makes with every refund comes with a later run.
            raise Waiting(self.env._("its credit note is not synchronized yet"))
        if not note.move_id:
            raise Waiting(self.env._("its credit note is not posted yet"))
        return note.move_id

    def payment_values(self, transaction):
        target = self.payment_target(transaction)
        if target.state != "posted":
            raise Waiting(
                self.env._("the entry %(move)s is not posted", move=target.name)
            )
        currency = transaction.currency_id or target.currency_id
        if currency != target.currency_id:
            raise Waiting(
                self.env._(
                    "it is in %(currency)s and its entry %(move)s in %(move_currency)s",
                    currency=currency.name,
                    move=target.name,
                    move_currency=target.currency_id.name,
                )
            )
        day = self.day(
            transaction.settled or transaction.refunded or transaction.created
        )
        self.check_currency(currency, day)
        amount = self.minor(transaction.amount, currency)
        if amount <= 0:
            raise Waiting(self.env._("its amount is not positive"))
        open_amount = self.minor(target.amount_residual, currency) - self.reserved.get(
            target.id, 0
        )
        if amount > open_amount:
            raise Waiting(
                self.env._(
                    "it pays %(amount)s, more than the %(open)s open on %(move)s",
                    amount=self.text(amount, currency),
                    open=self.text(max(open_amount, 0), currency),
                    move=target.name,
                )
            )
        direction = "outbound" if transaction.type == "refund" else "inbound"
        journal = self.payment_journal(transaction.payment_type or "")
        self.check_journal(journal)
        self.check_lock(day, False, journal)
        method_line = self.method_line(journal, direction)
        self.reserved[target.id] = self.reserved.get(target.id, 0) + amount
        invoice = transaction.invoice_id
        return (
            transaction,
            {
                "payment_type": direction,
                "partner_type": "customer",
                "partner_id": target.commercial_partner_id.id,
                "amount": self.money(amount, currency),
                "currency_id": currency.id,
                "date": day,
                "journal_id": journal.id,
                "payment_method_line_id": method_line.id,
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
    def group_targets(self, booking):
        """Billwerk's VAT per tax group, and how many lines carry each group."""
        targets, lines = {}, {}
        for line in booking.document.lines:
            group = self.tax_for(line.vat, booking.country, booking.taxes).tax_group_id
            lines[group.id] = lines.get(group.id, 0) + 1
        for rate, tax in booking.document.tax_by_rate.items():
            group = self.tax_for(rate, booking.country, booking.taxes).tax_group_id
            targets[group.id] = targets.get(group.id, 0) + tax
        return targets, lines

    def force_vat(self, move, booking):
        """Move Odoo's VAT to Billwerk's per tax group, by rounding only.

        Billwerk rounds VAT per line or per invoice, Odoo as the company is
        set up: they may differ by a minor unit per line of a tax group, and
        only such a difference is forced. A larger one means the mapped tax
        is not the one Billwerk charged: the document waits, in words.
        """
        currency = move.currency_id
        targets, line_counts = self.group_targets(booking)
        sign = -1 if move.is_inbound() else 1
        actual = {}
        for line in move.line_ids.filtered("tax_line_id"):
            group = line.tax_group_id.id
            actual[group] = actual.get(group, 0) + self.minor(
                sign * line.amount_currency, currency
            )
        differing = {
            group: target
            for group, target in targets.items()
            if actual.get(group, 0) != target
        }
        if not differing:
            return None
        for group, target in differing.items():
            if abs(actual.get(group, 0) - target) > line_counts.get(group, 1):
                return self.env._(
                    "Billwerk charged %(billwerk)s VAT, the mapped tax gives "
                    "%(odoo)s: check the VAT mapping",
                    billwerk=self.text(target, currency),
                    odoo=self.text(actual.get(group, 0), currency),
                )
        move.tax_totals = {
            "subtotals": [
                {
                    "tax_groups": [
                        {
                            "id": group,
                            "tax_amount_currency": self.money(target, currency),
                        }
                        for group, target in targets.items()
                    ]
                }
            ]
        }
        return None

    def difference(self, move, document):
        """Why ``move`` does not equal Billwerk's document, or None."""
        currency = move.currency_id
        odoo = tuple(
            self.minor(amount, currency)
            for amount in (move.amount_untaxed, move.amount_tax, move.amount_total)
        )
        billwerk = (document.untaxed, document.tax, document.total)
        if odoo == billwerk:
            return None
        return self.env._(
            "Odoo's totals %(untaxed)s / %(tax)s / %(total)s differ from "
            "Billwerk's %(b_untaxed)s / %(b_tax)s / %(b_total)s",
            untaxed=self.text(odoo[0], currency),
            tax=self.text(odoo[1], currency),
            total=self.text(odoo[2], currency),
            b_untaxed=self.text(billwerk[0], currency),
            b_tax=self.text(billwerk[1], currency),
            b_total=self.text(billwerk[2], currency),
        )


class Booking:
    """A document's figures and the facts its taxes are resolved by."""

    __slots__ = ("country", "document", "taxes")

    def __init__(self, document, country, taxes=None):
        self.document = document
        self.country = country
        self.taxes = taxes
