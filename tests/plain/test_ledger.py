"""The reconciliation with the ledger (mapping/ledger.py), computed by hand.

Two months of one DKK account, a document for each reason, every figure in
øre worked out below; then the rules that decide the reason and the month.
"""

from datetime import date, datetime
from zoneinfo import ZoneInfo

from mapping import ledger
from mapping.ledger import Amounts, Document, Entry, Measures

JAN, FEB = date(2026, 1, 1), date(2026, 2, 1)
COPENHAGEN = ZoneInfo("Europe/Copenhagen")


def entry(month, total, vat=0, posted=True, currency="DKK", name="BWK/1"):
    return Entry(name, month, currency, Amounts(total, vat), posted)


def doc(reference, kind, month, total, vat=0, **extra):
    return Document(reference, kind, month, "DKK", Amounts(total, vat), **extra)


INVOICE, CREDIT_NOTE, SETTLEMENT, REFUND = (
    ledger.INVOICE,
    ledger.CREDIT_NOTE,
    ledger.SETTLEMENT,
    ledger.REFUND,
)

DOCUMENTS = [
    # A: invoiced, paid, half credited and refunded: all in the books.
    doc("invoice/a", INVOICE, JAN, 12500, 2500, entry=entry(JAN, 12500, 2500)),
    doc("transaction/a1", SETTLEMENT, JAN, 12500, entry=entry(JAN, 12500)),
    doc("credit_note/a", CREDIT_NOTE, FEB, 2500, 500, entry=entry(FEB, 2500, 500)),
    doc("transaction/a2", REFUND, FEB, 2500, entry=entry(FEB, 2500)),
    # B waits (a VAT rate without a tax); C and its payment came before
    # posting started; D's payment an accountant booked by hand.
    doc("invoice/b", INVOICE, JAN, 10000, 2000, waiting=True),
    doc("invoice/c", INVOICE, JAN, 5000, 1000, before_posting=True),
    doc("transaction/c1", SETTLEMENT, FEB, 5000, before_posting=True),
    doc("transaction/d1", SETTLEMENT, FEB, 1500, booked_elsewhere=True),
    # E edited to 90.00 (VAT 18.00); F reset to draft; G's entry dated in
    # February.
    doc("invoice/e", INVOICE, JAN, 8000, 1600, entry=entry(JAN, 9000, 1800)),
    doc("invoice/f", INVOICE, JAN, 6000, 1200, entry=entry(JAN, 6000, 1200, False)),
    doc("invoice/g", INVOICE, JAN, 4000, 800, entry=entry(FEB, 4000, 800)),
    # H: not in the books, for no known reason.
    doc("invoice/h", INVOICE, JAN, 3000, 600),
]
# An entry of a document Billwerk no longer has.
ORPHAN = ("invoice/x", INVOICE, entry(FEB, 700, 140, name="BWK/9"))


def reasons(lines):
    return {(line.reference, line.month): line.reason for line in lines}


def test_each_document_gets_one_reason():
    lines = ledger.reconcile(DOCUMENTS, [ORPHAN])
    assert reasons(lines) == {
        ("invoice/a", JAN): "matched",
        ("transaction/a1", JAN): "matched",
        ("credit_note/a", FEB): "matched",
        ("transaction/a2", FEB): "matched",
        ("invoice/b", JAN): "waiting",
        ("invoice/c", JAN): "before_posting",
        ("transaction/c1", FEB): "before_posting",
        ("transaction/d1", FEB): "booked_elsewhere",
        ("invoice/e", JAN): "edited",
        ("invoice/f", JAN): "edited",
        ("invoice/g", JAN): "edited",
        ("invoice/g", FEB): "edited",
        ("invoice/h", JAN): "unexplained",
        ("invoice/x", FEB): "unexplained",
    }


def test_each_row_shows_both_figures_and_the_difference():
    lines = {
        (line.reference, line.month): line
        for line in ledger.reconcile(DOCUMENTS, [ORPHAN])
    }
    edited = lines["invoice/e", JAN]
    assert (edited.billwerk, edited.ledger) == (
        Amounts(8000, 1600),
        Amounts(9000, 1800),
    )
    assert (edited.difference, edited.vat_difference) == (-1000, -200)
    assert edited.detail == "amounts"
    draft = lines["invoice/f", JAN]
    assert (draft.ledger, draft.difference, draft.detail) == (
        Amounts(0, 0),
        6000,
        "not_posted",
    )
    # G: Billwerk's figure in January, the ledger's in February.
    assert (lines["invoice/g", JAN].difference, lines["invoice/g", FEB].difference) == (
        4000,
        -4000,
    )
    assert lines["invoice/g", FEB].detail == "moved"
    assert lines["invoice/b", JAN].difference == 10000
    assert lines["invoice/a", JAN].difference == 0
    assert lines["invoice/x", FEB].entry == "BWK/9"
    assert lines["invoice/x", FEB].detail == "no_document"


def test_month_totals_by_hand():
    totals = ledger.totals(ledger.reconcile(DOCUMENTS, [ORPHAN]))
    january, february = totals[JAN, "DKK"], totals[FEB, "DKK"]
    # January, Billwerk: A 125 + B 100 + C 50 + E 80 + F 60 + G 40 + H 30
    # invoiced, A paid; the ledger: A and E as edited (90), A paid.
    assert january.billwerk == Measures(
        invoiced=48500, invoiced_vat=9700, settled=12500, receivable=36000
    )
    assert january.ledger == Measures(
        invoiced=21500, invoiced_vat=4300, settled=12500, receivable=9000
    )
    assert (january.unexplained, january.unexplained_count) == (3000, 1)
    assert january.differences == 6  # B, C, E, F, G, H
    # February, Billwerk: A credited and refunded 25, C and D paid 50 + 15;
    # the ledger: the same credit and refund, G's entry and the orphan.
    assert february.billwerk == Measures(
        credited=2500, credited_vat=500, settled=6500, refunded=2500, receivable=-6500
    )
    assert february.ledger == Measures(
        invoiced=4700,
        invoiced_vat=940,
        credited=2500,
        credited_vat=500,
        refunded=2500,
        receivable=4700,
    )
    assert (february.unexplained, february.unexplained_count) == (700, 1)
    assert february.differences == 4  # C's and D's payments, G, the orphan
    assert set(totals) == {(JAN, "DKK"), (FEB, "DKK")}


def test_the_unexplained_total_is_zero_when_every_difference_has_a_reason():
    explained = [
        doc("invoice/h", INVOICE, JAN, 3000, 600, waiting=True)
        if document.reference == "invoice/h"
        else document
        for document in DOCUMENTS
    ]
    totals = ledger.totals(ledger.reconcile(explained))
    assert sum(t.unexplained for t in totals.values()) == 0
    assert sum(t.unexplained_count for t in totals.values()) == 0
    assert sum(t.differences for t in totals.values()) == 9
    # Billwerk's figures do not depend on the reasons.
    assert totals[JAN, "DKK"].billwerk.invoiced == 48500


def test_the_difference_of_each_month_is_the_sum_of_its_rows():
    lines = ledger.reconcile(DOCUMENTS, [ORPHAN])
    for (month, currency), total in ledger.totals(lines).items():
        rows = [
            line for line in lines if (line.month, line.currency) == (month, currency)
        ]
        for name in ("invoiced", "credited", "settled", "refunded", "receivable"):
            expected = sum(
                getattr(line.billwerk_measures, name)
                - getattr(line.ledger_measures, name)
                for line in rows
            )
            assert (
                getattr(total.billwerk, name) - getattr(total.ledger, name) == expected
            )


def test_the_most_specific_reason_wins():
    both = doc(
        "invoice/c", INVOICE, JAN, 5000, booked_elsewhere=True, before_posting=True
    )
    late = doc("invoice/w", INVOICE, JAN, 5000, before_posting=True, waiting=True)
    lines = ledger.reconcile([both, late])
    assert [line.reason for line in lines] == ["booked_elsewhere", "before_posting"]


def test_a_bound_entry_decides_over_the_flags():
    """A document booked by the connector is compared, whatever its flags."""
    marked = doc(
        "invoice/a",
        INVOICE,
        JAN,
        12500,
        2500,
        entry=entry(JAN, 12500, 2500),
        booked_elsewhere=True,
        waiting=True,
    )
    assert [line.reason for line in ledger.reconcile([marked])] == ["matched"]


def test_an_entry_in_another_currency_is_two_rows():
    moved = doc(
        "invoice/k",
        INVOICE,
        JAN,
        1000,
        200,
        entry=entry(JAN, 1340, 268, currency="EUR"),
    )
    lines = ledger.reconcile([moved])
    assert [
        (line.currency, line.billwerk.total, line.ledger.total) for line in lines
    ] == [
        ("DKK", 1000, 0),
        ("EUR", 0, 1340),
    ]
    assert {line.reason for line in lines} == {"edited"}


def test_a_refund_and_a_credit_note_leave_a_settled_invoice_closed():
    """Open receivable: invoiced − credited − settled + refunded."""
    lines = ledger.reconcile(DOCUMENTS[:4])
    open_amount = sum(line.billwerk_measures.receivable for line in lines)
    assert open_amount == 12500 - 12500 - 2500 + 2500 == 0


def test_unposted_orphans_hold_nothing_and_are_left_out():
    draft = ("invoice/y", INVOICE, entry(FEB, 700, 140, posted=False))
    assert ledger.reconcile([], [draft]) == []


# -- months ---------------------------------------------------------------------
def test_a_month_is_the_account_time_zones():
    late = datetime(2026, 1, 31, 23, 30)  # naive UTC: 1 February in Copenhagen
    today = date(2026, 3, 5)
    day = ledger.invoice_day(late, COPENHAGEN, today)
    assert day == date(2026, 2, 1)
    assert ledger.month_of(day) == FEB
    assert ledger.invoice_day(late, ZoneInfo("UTC"), today) == date(2026, 1, 31)
    assert ledger.invoice_day(None, COPENHAGEN, today) == today


def test_the_days_the_posting_uses():
    today = date(2026, 3, 5)
    created = datetime(2026, 1, 10, 12)
    # A credit note never before its invoice's day.
    assert ledger.credit_note_day(
        datetime(2026, 1, 9, 12), created, COPENHAGEN, today
    ) == date(2026, 1, 10)
    assert ledger.credit_note_day(
        datetime(2026, 2, 2, 12), created, COPENHAGEN, today
    ) == date(2026, 2, 2)
    # Settled, else refunded, else created.
    assert ledger.transaction_day(
        None, datetime(2026, 2, 3, 12), created, COPENHAGEN, today
    ) == date(2026, 2, 3)
    assert ledger.transaction_day(
        datetime(2026, 2, 4, 12), None, created, COPENHAGEN, today
    ) == date(2026, 2, 4)
    # A cancellation: its reversal's date, else what it would get today.
    assert ledger.cancellation_day(date(2026, 2, 6), date(2026, 1, 10), today) == date(
        2026, 2, 6
    )
    assert ledger.cancellation_day(None, date(2026, 4, 1), today) == date(2026, 4, 1)
    assert ledger.cancellation_day(None, date(2026, 1, 10), today) == today
