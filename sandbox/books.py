"""What an invoice carries for the books: order lines, VAT, transactions, credit notes.

Plain functions on the JSON-ready dicts the server answers with, so that the
generated history (``history``) and the server's mutations (``invoicing``) obey
the same rules. All money is an integer in the currency's minor unit (øre, cent,
yen, fils).

Invariants of an invoice (checked by ``tests/plain/test_sandbox_books.py``):

- ``amount`` is the sum of the lines' ``amount``; by default ``amount_vat`` and
  ``amount_ex_vat`` are the sums of the lines' figures. With ``vat_rounding=
  "invoice"``, as the API reference documents it, ``amount_vat`` is the rounded
  sum of the lines' *fractional* VAT and ``amount_ex_vat = amount - amount_vat``
  (one minor unit away from the sum of the lines' rounded VAT at most).
- ``settled_amount`` is the sum of its settled ``settle`` transactions,
  ``refunded_amount`` the sum of its ``refund`` transactions and never more than
  ``settled_amount``; the state is ``settled`` exactly when ``settled_amount ==
  amount`` (``settled`` is then the last settlement's time). A partly settled
  invoice keeps its open state.
- ``credited_amount`` is the sum of its credit notes and never more than
  ``amount``; every refund has its credit note (linked by ``transaction``).
"""

import math
from fractions import Fraction

VAT_ROUNDINGS = ("lines", "invoice")
TRANSACTION_TYPES = ("settle", "refund", "authorization")
TRANSACTION_STATES = (
    "pending",
    "processing",
    "authorized",
    "settled",
    "refunded",
    "failed",
    "cancelled",
)
PAYMENT_TYPES = ("card", "mobilepay", "sepa", "manual")
MAX_TRANSACTIONS = 100  # an invoice lists at most this many (API reference)
LINE_ORIGINS = (
    "plan",
    "add_on",
    "ondemand",
    "additional_cost",
    "credit",
    "discount",
    "setup_fee",
    "surcharge_fee",
    "metered_billing_product",
)
PERIOD_ORIGINS = ("plan", "add_on")
# Member states, for the reverse charge on sales to companies in another one.
EU_COUNTRIES = frozenset(
    (
        *("AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR"),
        *("HR", "HU", "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO"),
        *("SE", "SI", "SK"),
    )
)


class BooksError(ValueError):
    """A book-keeping move the invoice does not allow (too much, wrong state)."""


def _rate(vat):
    """The VAT fraction as an exact ratio (0.19 -> 19/100, not a binary float)."""
    return Fraction(str(vat))


def round_half_up(value):
    """Nearest integer of a non-negative ``Fraction``, halves away from zero."""
    if value < 0:
        return -round_half_up(-value)
    return math.floor(value + Fraction(1, 2))


def fractional_vat(amount, vat):
    """The exact VAT inside ``amount`` (incl. VAT) at rate ``vat``."""
    rate = _rate(vat)
    return Fraction(amount) * rate / (1 + rate)


def split_vat(amount, vat):
    """Split an amount incl. VAT into (ex VAT, VAT) integer minor units."""
    amount_vat = round_half_up(fractional_vat(amount, vat))
    return amount - amount_vat, amount_vat


def reverse_charge(customer, home_country):
    """True for a company in another EU member state than the seller's: such
    a customer accounts for the VAT itself, its invoices carry 0 %."""
    country = (customer or {}).get("country")
    return bool(
        (customer or {}).get("vat")
        and home_country in EU_COUNTRIES
        and country in EU_COUNTRIES
        and country != home_country
    )


def order_line(
    line_id,
    text,
    origin,
    unit_amount,
    quantity,
    vat,
    timestamp,
    *,
    period_from=None,
    period_to=None,
    origin_handle=None,
):
    """One invoice order line; amounts are incl. VAT and in minor units.

    ``period_from``/``period_to`` are kept for plan and add-on lines only (the
    subscription period they bill), null on every other line.
    """
    unit_ex, unit_vat = split_vat(unit_amount, vat)
    amount = unit_amount * quantity
    ex_vat, amount_vat = split_vat(amount, vat)
    periodic = origin in PERIOD_ORIGINS
    return {
        "id": line_id,
        "ordertext": text,
        "origin": origin,
        "origin_handle": origin_handle,
        "quantity": quantity,
        "vat": vat,
        "unit_amount": unit_amount,
        "unit_amount_vat": unit_vat,
        "unit_amount_ex_vat": unit_ex,
        "amount": amount,
        "amount_vat": amount_vat,
        "amount_ex_vat": ex_vat,
        "discounted_amount": 0,
        "amount_defined_incl_vat": True,
        "period_from": period_from if periodic else None,
        "period_to": period_to if periodic else None,
        "timestamp": timestamp,
    }


def invoice_totals(invoice, vat_rounding="lines"):
    """Recompute the invoice totals from its order lines (keeps them consistent).

    ``vat_rounding="lines"`` sums the lines' rounded figures; ``"invoice"`` rounds
    the sum of the lines' fractional VAT once, as the API reference documents.
    """
    if vat_rounding not in VAT_ROUNDINGS:
        raise ValueError(f"vat_rounding must be one of {', '.join(VAT_ROUNDINGS)}")
    lines = invoice["order_lines"]
    amount = sum(line["amount"] for line in lines)
    if vat_rounding == "invoice":
        exact = sum(
            (fractional_vat(line["amount"], line["vat"]) for line in lines),
            Fraction(0),
        )
        amount_vat = round_half_up(exact)
    else:
        amount_vat = sum(line["amount_vat"] for line in lines)
    invoice["amount"] = amount
    invoice["amount_vat"] = amount_vat
    invoice["amount_ex_vat"] = amount - amount_vat


def init_books(invoice):
    """Empty transactions and credit notes (generation starts from here)."""
    invoice["settled_amount"] = 0
    invoice["refunded_amount"] = 0
    invoice["credited_amount"] = 0
    invoice["transactions"] = []
    invoice["credit_notes"] = []


# transactions -----------------------------------------------------------------


def open_amount(invoice):
    """What is still to be settled."""
    return invoice["amount"] - invoice["settled_amount"]


def refundable_amount(invoice):
    """Settled and not refunded yet."""
    return invoice["settled_amount"] - invoice["refunded_amount"]


def creditable_amount(invoice):
    """What credit notes may still credit (they never exceed the amount)."""
    return invoice["amount"] - invoice["credited_amount"]


def _check_amount(amount, limit, what):
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise BooksError(f"{what} must be an integer amount in minor units")
    if amount <= 0:
        raise BooksError(f"{what} must be positive")
    if amount > limit:
        raise BooksError(f"{what} of {amount} exceeds the {limit} possible")


def _transaction(tx_id, invoice, kind, amount, payment_type, when):
    settle = kind == "settle"
    return {
        "id": tx_id,
        "state": "settled" if settle else "refunded",
        "type": kind,
        "amount": amount,
        "currency": invoice["currency"],
        "created": when,
        "settled": when if settle else None,
        "refunded": None if settle else when,
        "payment_type": payment_type,
        "invoice": invoice["handle"],
        "accounting_invoice": None,
    }


def _append_transaction(invoice, transaction):
    if len(invoice["transactions"]) >= MAX_TRANSACTIONS:
        raise BooksError(f"An invoice has at most {MAX_TRANSACTIONS} transactions")
    invoice["transactions"].append(transaction)


def settle(invoice, tx_id, amount, payment_type, when):
    """Record a settlement of ``amount`` (None: the open rest) at ``when``.

    A partial settlement leaves the state alone; the one that completes the
    amount makes the invoice ``settled``. Returns the transaction.
    """
    if invoice["state"] == "cancelled":
        raise BooksError("A cancelled invoice cannot be settled")
    rest = open_amount(invoice)
    if amount is None:
        amount = rest
    if rest <= 0:
        raise BooksError("Nothing is open on this invoice")
    _check_amount(amount, rest, "Settlement")
    if payment_type not in PAYMENT_TYPES:
        raise BooksError(f"payment_type must be one of {', '.join(PAYMENT_TYPES)}")
    transaction = _transaction(tx_id, invoice, "settle", amount, payment_type, when)
    _append_transaction(invoice, transaction)
    invoice["settled_amount"] += amount
    if invoice["settled_amount"] == invoice["amount"]:
        invoice["state"] = "settled"
        invoice["settled"] = when
    return transaction


def refund(invoice, tx_id, note_id, amount, when):
    """Refund ``amount`` (None: all settled and not refunded yet) at ``when``.

    The refund goes back the way the last settlement came and brings its
    credit note. Returns (transaction, credit note).
    """
    rest = refundable_amount(invoice)
    if amount is None:
        amount = rest
    if rest <= 0:
        raise BooksError("Nothing settled is left to refund")
    _check_amount(amount, rest, "Refund")
    _check_amount(amount, creditable_amount(invoice), "Refund")
    settlements = [tx for tx in invoice["transactions"] if tx["type"] == "settle"]
    payment_type = settlements[-1]["payment_type"] if settlements else "card"
    transaction = _transaction(tx_id, invoice, "refund", amount, payment_type, when)
    lines = credit_lines(invoice, amount)
    _append_transaction(invoice, transaction)
    invoice["refunded_amount"] += amount
    note = _add_credit_note(invoice, note_id, lines, when, transaction["id"])
    return transaction, note


# credit notes -----------------------------------------------------------------


def _credited_per_line(invoice):
    credited = {}
    for note in invoice["credit_notes"]:
        for line in note["credit_note_lines"]:
            key = line["order_line_id"]
            credited[key] = credited.get(key, 0) + line["amount_incl_vat"]
    return credited


def _credit_line(line, part):
    """A credit note line for ``part`` (incl. VAT) of order line ``line``.

    The reference documents ``amount`` as the line's total and ``amount_incl_vat``
    as its total including VAT; these lines are always defined incl. VAT, so
    ``amount`` is ``amount_incl_vat``. A line's VAT is ``amount_incl_vat -
    amount_ex_vat`` (no line-level ``amount_vat`` is documented).
    """
    if part == line["amount"]:
        quantity = line["quantity"]
        unit_ex, unit_vat = line["unit_amount_ex_vat"], line["unit_amount_vat"]
        ex_vat = line["amount_ex_vat"]
    else:  # a part of the line: one unit of that part, VAT at the line's rate
        quantity = 1
        ex_vat, vat_part = split_vat(part, line["vat"])
        unit_ex, unit_vat = ex_vat, vat_part
    return {
        "amount": part,
        "text": line["ordertext"],
        "quantity": quantity,
        "vat": line["vat"],
        "origin": line["origin"],
        "order_line_id": line["id"],
        "amount_incl_vat": part,
        "amount_ex_vat": ex_vat,
        "unit_amount_vat": unit_vat,
        "unit_amount_ex_vat": unit_ex,
        "period_from": line["period_from"],
        "period_to": line["period_to"],
    }


def credit_lines(invoice, amount):
    """Credit note lines for ``amount``: a part of one line when one line still
    holds that much (the one with the most left), else whole lines in order and
    a part of the next one. No line is credited beyond its amount."""
    credited = _credited_per_line(invoice)
    left = [
        (line, line["amount"] - credited.get(line["id"], 0))
        for line in invoice["order_lines"]
    ]
    left = [(line, rest) for line, rest in left if rest > 0]
    if sum(rest for _line, rest in left) < amount:
        raise BooksError(f"The lines do not hold {amount} to credit")
    roomy = [pair for pair in left if pair[1] >= amount]
    if roomy:
        line, _rest = max(roomy, key=lambda pair: pair[1])
        return [_credit_line(line, amount)]
    lines, wanted = [], amount
    for line, rest in left:
        if wanted <= 0:
            break
        part = min(rest, wanted)
        lines.append(_credit_line(line, part))
        wanted -= part
    return lines


def _add_credit_note(invoice, note_id, lines, when, transaction=None):
    amount = sum(line["amount_incl_vat"] for line in lines)
    amount_ex_vat = sum(line["amount_ex_vat"] for line in lines)
    note = {
        "id": note_id,
        "invoice": invoice["handle"],
        "customer": invoice["customer"],
        "subscription": invoice["subscription"],
        "amount": amount,
        "amount_vat": amount - amount_ex_vat,
        "amount_ex_vat": amount_ex_vat,
        "currency": invoice["currency"],
        "transaction": transaction,
        "credit": None,
        "accounting_number": None,
        "created": when,
        "credit_note_lines": lines,
    }
    invoice["credit_notes"].append(note)
    invoice["credited_amount"] += amount
    return note


def credit(invoice, note_id, amount, when):
    """A credit note without a refund (a credit on an unpaid invoice) for
    ``amount`` (None: all not credited yet). Returns the credit note."""
    rest = creditable_amount(invoice)
    if amount is None:
        amount = rest
    if rest <= 0:
        raise BooksError("The invoice is credited in full already")
    _check_amount(amount, rest, "Credit")
    return _add_credit_note(invoice, note_id, credit_lines(invoice, amount), when)
