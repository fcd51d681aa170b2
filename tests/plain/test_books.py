"""The posting arithmetic (mapping/books.py) over every sandbox document.

What Odoo books is Σ quantity × unit price per line excluding VAT, and the
VAT per rate: these must give Billwerk's untaxed, VAT and total to the minor
unit, for every invoice and credit note of every sandbox account.
"""

import pytest

from mapping import books
from sandbox.server import running_sandbox


@pytest.fixture(scope="module")
def sandbox():
    # Three accounts: DKK, JPY (zero decimals) and EUR with KWD plans (three).
    with running_sandbox(rate_limit=False, accounts=3) as server:
        yield server


def assert_books_equal_billwerk(document, amount, amount_vat, amount_ex_vat):
    lines_untaxed = sum(line.quantity * line.price_unit for line in document.lines)
    assert lines_untaxed == amount_ex_vat
    assert sum(document.tax_by_rate.values()) == amount_vat
    assert (document.untaxed, document.tax, document.total) == (
        amount_ex_vat,
        amount_vat,
        amount,
    )


def test_every_sandbox_invoice_posts_to_the_minor_unit(sandbox):
    currencies, rates, checked = set(), set(), 0
    for account in sandbox.accounts:
        for invoice in account.invoices.values():
            document = books.document(
                invoice["amount"],
                invoice["amount_vat"],
                invoice["amount_ex_vat"],
                books.stored_lines(invoice),
            )
            assert_books_equal_billwerk(
                document,
                invoice["amount"],
                invoice["amount_vat"],
                invoice["amount_ex_vat"],
            )
            currencies.add(invoice["currency"])
            rates.update(document.tax_by_rate)
            checked += 1
    assert checked >= 900
    assert {"DKK", "JPY", "EUR", "KWD"} <= currencies
    assert {0.25, 0.19, 0.1, 0.0} <= rates


def test_every_sandbox_credit_note_posts_to_the_minor_unit(sandbox):
    notes = [
        note
        for account in sandbox.accounts
        for invoice in account.invoices.values()
        for note in invoice.get("credit_notes", [])
    ]
    assert len(notes) >= 20
    for note in notes:
        document = books.document(
            note["amount"],
            note["amount_vat"],
            note["amount_ex_vat"],
            books.credit_note_lines(note),
        )
        assert_books_equal_billwerk(
            document, note["amount"], note["amount_vat"], note["amount_ex_vat"]
        )


def test_invoice_level_vat_rounding_is_posted_as_billwerk_rounded_it(sandbox):
    # Three lines of 0.02 incl. 25 % VAT: each line's VAT rounds to 0, the
    # invoice's rounded fractional VAT is 0.01 (as the reference documents).
    key = sandbox.keys[0]
    customer = next(iter(sandbox.accounts[0].customers))
    tiny = [{"text": f"Tiny {n}", "amount": 2, "vat": 0.25} for n in range(3)]
    invoice = sandbox.create_invoice(key, customer, lines=tiny, vat_rounding="invoice")
    document = books.document(
        invoice["amount"],
        invoice["amount_vat"],
        invoice["amount_ex_vat"],
        books.stored_lines(invoice),
    )
    assert_books_equal_billwerk(document, 6, 1, 5)
    assert document.tax_by_rate == {0.25: 1}


def line(amount, ex_vat, vat=0.25, quantity=1, text="Plan"):
    return {
        "text": text,
        "origin": "plan",
        "quantity": quantity,
        "vat": vat,
        "amount": amount,
        "amount_ex_vat": ex_vat,
        "period_from": None,
        "period_to": None,
    }


def test_quantity_times_unit_price_only_where_that_is_exact():
    exact = books.document(3750, 750, 3000, [line(3750, 3000, quantity=3)])
    assert (exact.lines[0].quantity, exact.lines[0].price_unit) == (3, 1000)
    inexact = books.document(1250, 250, 1000, [line(1250, 1000, quantity=3)])
    assert (inexact.lines[0].quantity, inexact.lines[0].price_unit) == (1, 1000)
    assert inexact.lines[0].text == "3 × Plan"


def test_mixed_rates_keep_their_own_vat():
    document = books.document(
        17345, 2469, 14876, [line(12345, 9876), line(5000, 5000, vat=0.0)]
    )
    assert document.tax_by_rate == {0.25: 2469, 0.0: 0}


@pytest.mark.parametrize(
    ("figures", "lines", "code"),
    [
        ((100, 20, 70), [line(100, 80)], "totals"),
        ((100, 20, 80), [], "no_lines"),
        ((100, 20, 80), [line(90, 72)], "lines_total"),
        ((100, 0, 100), [line(100, 80)], "untaxed_delta_or_rate"),
        ((1000, 500, 500), [line(1000, 500)], "vat_off_rate"),
        ((100, 20, 80), [dict(line(100, 80), amount_ex_vat=None)], "line_amounts"),
    ],
)
def test_figures_that_do_not_add_up_are_refused_with_a_reason(figures, lines, code):
    with pytest.raises(books.NotPostable) as refusal:
        books.document(*figures, lines)
    if code == "untaxed_delta_or_rate":
        assert refusal.value.code == "vat_off_rate"
    else:
        assert refusal.value.code == code


def test_a_difference_with_no_taxed_line_is_refused():
    with pytest.raises(books.NotPostable) as refusal:
        books.document(100, 1, 99, [line(100, 100, vat=0.0)])
    assert refusal.value.code == "untaxed_delta"


def test_stored_lines_refuse_wrong_types_and_keep_what_is_missing():
    with pytest.raises(books.MappingError):
        books.stored_lines({"order_lines": "many"})
    with pytest.raises(books.MappingError):
        books.stored_lines({"order_lines": [{"amount": "12.50"}]})
    (kept,) = books.stored_lines({"order_lines": [{"ordertext": "Plan", "vat": 0.25}]})
    assert (kept["amount"], kept["amount_ex_vat"], kept["quantity"]) == (None, None, 1)
    derived = books.stored_lines(
        {"order_lines": [{"amount": 125, "amount_vat": 25, "vat": 0.25}]}
    )
    assert derived[0]["amount_ex_vat"] == 100
