"""Billwerk invoices and credit notes as the books need them, in exact minor units.

Pure functions (no Odoo), so that the arithmetic is proved over every sandbox
document in the plain suite. The rule: every line is booked *excluding* VAT at
Billwerk's ``amount_ex_vat`` (quantity × unit price where that product is
exact, else one unit of the amount), with a tax excluded from the price, so
that Odoo's untaxed total is the sum of the lines, exact whatever its rounding
method (per line or global). A tax *included* in the price cannot be made
exact that way: under global rounding Odoo moves the rounding difference into
the untaxed amount, and forcing the tax then leaves the total a minor unit off.
The VAT per rate is what Billwerk charged; Odoo's may differ by rounding, and
the posting model forces Odoo's tax line to it per tax group (Odoo's
``tax_totals`` inverse moves the difference onto the group's tax line), so
each rate needs a tax group of its own.

Billwerk documents its invoice ``amount_vat`` as the rounded sum of the lines'
*fractional* VAT, which may differ by a minor unit from the sum of the lines'
rounded VAT. The invoice-level figures are the ones posted: the difference is
put on the largest taxed line, so lines, rates and totals all agree.
"""

from dataclasses import dataclass

from . import readers as read
from .readers import MappingError

# Billwerk states whose invoice is a claim on the customer: posted in Odoo.
POSTED_STATES = ("pending", "authorized", "dunning", "settled", "failed")

# Stored per line on the copy (JSON): what posting needs, in minor units.
LINE_KEYS = (
    "text",
    "origin",
    "quantity",
    "vat",
    "amount",
    "amount_ex_vat",
    "period_from",
    "period_to",
)


class NotPostable(ValueError):
    """A document that cannot be booked as it is; ``code`` names the reason.

    The posting model turns the code and ``params`` into translated words.
    """

    def __init__(self, code, **params):
        super().__init__(code, params)
        self.code = code
        self.params = params


@dataclass(frozen=True)
class Line:
    text: str
    origin: str
    quantity: int
    price_unit: int  # minor units per unit, excluding VAT
    vat: float
    period_from: str | None
    period_to: str | None

    @property
    def amount_ex_vat(self):
        return self.quantity * self.price_unit


@dataclass(frozen=True)
class Document:
    lines: tuple
    tax_by_rate: dict  # rate -> VAT in minor units, as Billwerk charged it
    untaxed: int
    tax: int
    total: int


def rate_key(vat):
    """A VAT fraction as a dictionary key: 0.25 and 0.2500000001 are one rate."""
    return round(float(vat or 0.0), 6)


def stored_lines(payload, field="order_lines", incl_fields=("amount",)):
    """The document's lines as the copy keeps them; lenient about what is missing.

    A line without an amount is still kept (the copy is useful without it);
    posting refuses it later with a reason. Wrong types are refused here.
    """
    lines = payload.get(field)
    if lines is None:
        return []
    if not isinstance(lines, list):
        raise MappingError(f"'{field}' is not a list")
    stored = []
    for position, line in enumerate(lines, start=1):
        if not isinstance(line, dict):
            raise MappingError(f"line {position} of '{field}' is not an object")
        amount = None
        for name in incl_fields:
            amount = read.minor(line, name, None)
            if amount is not None:
                break
        ex_vat = read.minor(line, "amount_ex_vat", None)
        if ex_vat is None and amount is not None:
            vat_amount = read.minor(line, "amount_vat", None)
            ex_vat = None if vat_amount is None else amount - vat_amount
        stored.append(
            {
                "text": read.text(line, "ordertext")
                or read.text(line, "text")
                or read.text(line, "origin")
                or "",
                "origin": read.text(line, "origin") or "",
                "quantity": read.integer(line, "quantity", 1),
                "vat": read.fraction(line, "vat"),
                "amount": amount,
                "amount_ex_vat": ex_vat,
                "period_from": _period_text(line, "period_from"),
                "period_to": _period_text(line, "period_to"),
            }
        )
    return stored


def _period_text(line, field):
    """A period bound as Billwerk sent it (checked): a timestamp keeps its
    instant, since the account's time zone decides its day (revenue.py)."""
    day = read.day(line, field)
    return line[field] if day else None


def document(amount, amount_vat, amount_ex_vat, lines):
    """The lines and VAT per rate to post, so that totals equal Billwerk's.

    ``lines`` as ``stored_lines`` returns them; amounts in minor units.
    Raises ``NotPostable`` when Billwerk's figures do not add up.
    """
    if not lines:
        raise NotPostable("no_lines")
    if amount_ex_vat + amount_vat != amount:
        raise NotPostable(
            "totals", amount=amount, amount_vat=amount_vat, amount_ex_vat=amount_ex_vat
        )
    if any(line["amount"] is None or line["amount_ex_vat"] is None for line in lines):
        raise NotPostable("line_amounts")
    lines_total = sum(line["amount"] for line in lines)
    if lines_total != amount:
        raise NotPostable("lines_total", lines_total=lines_total, amount=amount)
    ex_amounts = [line["amount_ex_vat"] for line in lines]
    delta = amount_ex_vat - sum(ex_amounts)
    if delta:
        taxed = [i for i, line in enumerate(lines) if rate_key(line["vat"])]
        if not taxed:
            raise NotPostable("untaxed_delta", delta=delta)
        largest = max(taxed, key=lambda i: (abs(ex_amounts[i]), -i))
        ex_amounts[largest] += delta
    tax_by_rate, ex_by_rate, lines_by_rate = {}, {}, {}
    for line, ex_vat in zip(lines, ex_amounts, strict=True):
        rate = rate_key(line["vat"])
        tax_by_rate[rate] = tax_by_rate.get(rate, 0) + line["amount"] - ex_vat
        ex_by_rate[rate] = ex_by_rate.get(rate, 0) + ex_vat
        lines_by_rate[rate] = lines_by_rate.get(rate, 0) + 1
    for rate, tax in tax_by_rate.items():
        # Each line's VAT is rounded once (half a minor unit) and the invoice
        # once more: a VAT further off its rate is not this rate's VAT.
        tolerance = 0.5 * lines_by_rate[rate] + 1 if rate else 0
        if abs(tax - ex_by_rate[rate] * rate) > tolerance:
            raise NotPostable("vat_off_rate", rate=rate, tax=tax, base=ex_by_rate[rate])
    return Document(
        lines=tuple(
            _line(line, ex_vat) for line, ex_vat in zip(lines, ex_amounts, strict=True)
        ),
        tax_by_rate=tax_by_rate,
        untaxed=amount_ex_vat,
        tax=amount_vat,
        total=amount,
    )


def _line(line, ex_vat):
    """Quantity × unit price where that product is exact, else 1 × the amount."""
    quantity = line["quantity"] if line["quantity"] and line["quantity"] > 0 else 1
    text = line["text"]
    if ex_vat % quantity:
        text = f"{quantity} × {text}" if quantity != 1 else text
        quantity = 1
    return Line(
        text=text,
        origin=line["origin"],
        quantity=quantity,
        price_unit=ex_vat // quantity,
        vat=rate_key(line["vat"]),
        period_from=line["period_from"],
        period_to=line["period_to"],
    )


def credit_note_lines(payload):
    """Credit note lines: Billwerk names the amount incl. VAT ``amount_incl_vat``."""
    return stored_lines(
        payload, "credit_note_lines", incl_fields=("amount_incl_vat", "amount")
    )
