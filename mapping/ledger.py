"""Billwerk beside the ledger: what an auditor asks for at every month end.

Pure functions (no Odoo), in minor units (integers), so that every figure of
the reconciliation is exact and proved in the plain suite. The model
(``models/billwerk_ledger_line.py``) reads Billwerk's documents and the
entries and payments bound to them, one query per model, turns them into
:class:`Document` rows and stores the :class:`Line` rows this module returns.

One row per Billwerk document (and kind): Billwerk's figure beside the ledger's,
and one reason for the difference:

- *matched*: the bound entry is posted, in the same month and currency, with
  Billwerk's total and VAT;
- *edited in Odoo*: there is a bound entry, but it is no longer posted (reset
  to draft, cancelled), or its amounts, month or currency differ from
  Billwerk's;
- *booked elsewhere*: an accountant marked the document (or its invoice) as
  in the books some other way;
- *before posting started*: its invoice was created before the account's
  "post invoices created on or after" date, so the connector never posts it;
- *waiting*: the connector could not post it yet and says why (the document's
  own reason, or its invoice's);
- *unexplained*: none of these; also an entry bound to a document Billwerk no
  longer has. Their total is the figure that must be 0.

A bound entry dated in another month (or booked in another currency) than
Billwerk's document gives two rows, both *edited in Odoo*: Billwerk's figure in
Billwerk's month and the ledger's in the entry's, so that each month's ledger
totals are what the ledger holds for that month.

Months are calendar months in the Billwerk account's time zone, of the date
the posting gives the entry (see the ``*_day`` functions), so that a matched
document is in the same month on both sides.
"""

from dataclasses import dataclass, fields
from datetime import UTC

INVOICE = "invoice"
CREDIT_NOTE = "credit_note"
CANCELLATION = "cancellation"
SETTLEMENT = "settlement"
REFUND = "refund"
KINDS = (INVOICE, CREDIT_NOTE, CANCELLATION, SETTLEMENT, REFUND)
# What takes an invoiced amount back: a credit note, or the reversal of a
# posted invoice Billwerk cancelled.
CREDITS = (CREDIT_NOTE, CANCELLATION)
# How a document moves the customer's open receivable.
RECEIVABLE_SIGN = {
    INVOICE: 1,
    CREDIT_NOTE: -1,
    CANCELLATION: -1,
    SETTLEMENT: -1,
    REFUND: 1,
}

MATCHED = "matched"
WAITING = "waiting"
BEFORE_POSTING = "before_posting"
BOOKED_ELSEWHERE = "booked_elsewhere"
EDITED = "edited"
UNEXPLAINED = "unexplained"
REASONS = (MATCHED, WAITING, BEFORE_POSTING, BOOKED_ELSEWHERE, EDITED, UNEXPLAINED)

# Why an entry counts as edited in Odoo, or as unexplained.
NOT_POSTED = "not_posted"
AMOUNTS = "amounts"
MOVED = "moved"
NO_DOCUMENT = "no_document"


@dataclass(frozen=True)
class Amounts:
    """A document's total (incl. VAT) and VAT, in minor units."""

    total: int = 0
    vat: int = 0


NOTHING = Amounts()


@dataclass(frozen=True)
class Entry:
    """What the ledger holds for a document: its bound entry or payment.

    ``amounts`` are in the entry's currency and in the document's direction
    (an invoice booked as a credit note, or a payment as a refund, counts
    negative); ``posted`` is False for a draft or cancelled one.
    """

    name: str
    month: object  # datetime.date, the first of the month
    currency: str
    amounts: Amounts
    posted: bool = True


@dataclass(frozen=True)
class Document:
    """A Billwerk document as Billwerk reports it, and its bound entry."""

    reference: str  # the binding: "invoice/<id>", "cancel/<id>" ...
    kind: str
    month: object  # datetime.date, the first of the month
    currency: str
    amounts: Amounts
    entry: Entry | None = None
    waiting: bool = False
    before_posting: bool = False
    booked_elsewhere: bool = False


@dataclass(frozen=True)
class Measures:
    """The report's figures of one side, as the pivot sums them."""

    invoiced: int = 0
    invoiced_vat: int = 0
    credited: int = 0
    credited_vat: int = 0
    settled: int = 0
    refunded: int = 0
    receivable: int = 0

    def __add__(self, other):
        return Measures(
            *(getattr(self, f.name) + getattr(other, f.name) for f in fields(self))
        )

    @classmethod
    def of(cls, kind, amounts):
        total, vat = amounts.total, amounts.vat
        return cls(
            invoiced=total if kind == INVOICE else 0,
            invoiced_vat=vat if kind == INVOICE else 0,
            credited=total if kind in CREDITS else 0,
            credited_vat=vat if kind in CREDITS else 0,
            settled=total if kind == SETTLEMENT else 0,
            refunded=total if kind == REFUND else 0,
            receivable=RECEIVABLE_SIGN[kind] * total,
        )


@dataclass(frozen=True)
class Line:
    """One row of the report: Billwerk's figure, the ledger's, and why."""

    reference: str
    kind: str
    month: object
    currency: str
    billwerk: Amounts
    ledger: Amounts
    reason: str
    detail: str | None = None
    entry: str | None = None  # the entry's or payment's name

    @property
    def difference(self):
        return self.billwerk.total - self.ledger.total

    @property
    def vat_difference(self):
        return self.billwerk.vat - self.ledger.vat

    @property
    def unexplained(self):
        return abs(self.difference) if self.reason == UNEXPLAINED else 0

    @property
    def billwerk_measures(self):
        return Measures.of(self.kind, self.billwerk)

    @property
    def ledger_measures(self):
        return Measures.of(self.kind, self.ledger)


@dataclass(frozen=True)
class Totals:
    """One month and currency: both sides' figures and what is unexplained."""

    billwerk: Measures = Measures()
    ledger: Measures = Measures()
    unexplained: int = 0  # Σ |difference| of the unexplained rows
    unexplained_count: int = 0
    differences: int = 0  # rows that are not matched

    def __add__(self, other):
        return Totals(
            self.billwerk + other.billwerk,
            self.ledger + other.ledger,
            self.unexplained + other.unexplained,
            self.unexplained_count + other.unexplained_count,
            self.differences + other.differences,
        )


def reconcile(documents, orphans=()):
    """The report's rows for ``documents`` and the ``orphans``.

    ``orphans`` are ``(reference, kind, Entry)`` of entries bound to a
    document Billwerk no longer reports; posted ones are unexplained rows,
    the others hold nothing on either side and are left out.
    """
    lines = []
    for document in documents:
        lines.extend(_document_lines(document))
    for reference, kind, entry in orphans:
        if entry.posted:
            lines.append(
                Line(
                    reference,
                    kind,
                    entry.month,
                    entry.currency,
                    NOTHING,
                    entry.amounts,
                    UNEXPLAINED,
                    NO_DOCUMENT,
                    entry.name,
                )
            )
    return lines


def _document_lines(document):
    def line(month, currency, billwerk, ledger, reason, detail=None):
        entry = document.entry.name if document.entry else None
        return Line(
            document.reference,
            document.kind,
            month,
            currency,
            billwerk,
            ledger,
            reason,
            detail,
            entry,
        )

    here = (document.month, document.currency)
    entry = document.entry
    if entry is None:
        return [line(*here, document.amounts, NOTHING, _unbooked_reason(document))]
    if not entry.posted:
        return [line(*here, document.amounts, NOTHING, EDITED, NOT_POSTED)]
    if (entry.month, entry.currency) != here:
        return [
            line(*here, document.amounts, NOTHING, EDITED, MOVED),
            line(entry.month, entry.currency, NOTHING, entry.amounts, EDITED, MOVED),
        ]
    if entry.amounts == document.amounts:
        return [line(*here, document.amounts, entry.amounts, MATCHED)]
    return [line(*here, document.amounts, entry.amounts, EDITED, AMOUNTS)]


def _unbooked_reason(document):
    """Why the ledger has no entry for it: the most specific reason first."""
    if document.booked_elsewhere:
        return BOOKED_ELSEWHERE
    if document.before_posting:
        return BEFORE_POSTING
    if document.waiting:
        return WAITING
    return UNEXPLAINED


def totals(lines):
    """``{(month, currency): Totals}`` over ``lines``."""
    result = {}
    for line in lines:
        key = (line.month, line.currency)
        result[key] = result.get(key, Totals()) + Totals(
            line.billwerk_measures,
            line.ledger_measures,
            line.unexplained,
            int(line.reason == UNEXPLAINED),
            int(line.reason != MATCHED),
        )
    return result


# -- which month: the date the posting gives the entry --------------------------
def local_day(moment, zone, today):
    """A Billwerk moment (naive UTC) as a date in the account's time zone;
    ``today`` (that zone's) when Billwerk sent none, as the posting does."""
    if not moment:
        return today
    return moment.replace(tzinfo=UTC).astimezone(zone).date()


def month_of(day):
    return day.replace(day=1)


def invoice_day(created, zone, today):
    """An invoice is booked on the day Billwerk created it (its invoice date)."""
    return local_day(created, zone, today)


def credit_note_day(created, invoice_created, zone, today):
    """A credit note is booked on the day it was created, never before its
    invoice's day (an entry cannot credit an invoice not yet issued)."""
    day = local_day(created, zone, today)
    if invoice_created:
        day = max(day, local_day(invoice_created, zone, today))
    return day


def transaction_day(settled, refunded, created, zone, today):
    """A payment or refund is booked on the day the money moved: settled,
    else refunded, else created (the posting's order)."""
    return local_day(settled or refunded or created, zone, today)


def cancellation_day(reversal_date, invoice_entry_date, today):
    """Billwerk sends no date for a cancellation: its reversal is dated the
    day the connector made it, never before the invoice's entry. Booked, the
    reversal's own date; waiting, the day it would get today."""
    if reversal_date:
        return reversal_date
    return max(today, invoice_entry_date) if invoice_entry_date else today
