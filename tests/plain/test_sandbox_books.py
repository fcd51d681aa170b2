"""The sandbox's books: order lines, VAT, transactions and credit notes, as the
API reference documents them, over every generated invoice and over HTTP."""

import base64
import http.client
import json
from collections import Counter
from fractions import Fraction
from urllib.parse import urlencode

import pytest

from sandbox.books import BooksError, fractional_vat, round_half_up
from sandbox.server import running_sandbox

EARLY = "2000-01-01"
LATE = "2100-01-01"
LINE_KEYS = {
    "id",
    "ordertext",
    "origin",
    "origin_handle",
    "quantity",
    "vat",
    "unit_amount",
    "unit_amount_vat",
    "unit_amount_ex_vat",
    "amount",
    "amount_vat",
    "amount_ex_vat",
    "discounted_amount",
    "amount_defined_incl_vat",
    "period_from",
    "period_to",
    "timestamp",
}
TRANSACTION_KEYS = {
    "id",
    "state",
    "type",
    "amount",
    "currency",
    "created",
    "settled",
    "refunded",
    "payment_type",
    "invoice",
    "accounting_invoice",
}
NOTE_KEYS = {
    "id",
    "invoice",
    "customer",
    "subscription",
    "amount",
    "amount_vat",
    "amount_ex_vat",
    "currency",
    "transaction",
    "credit",
    "accounting_number",
    "created",
    "credit_note_lines",
}
NOTE_LINE_KEYS = {
    "amount",
    "text",
    "quantity",
    "vat",
    "origin",
    "order_line_id",
    "amount_incl_vat",
    "amount_ex_vat",
    "unit_amount_vat",
    "unit_amount_ex_vat",
    "period_from",
    "period_to",
}
ERROR_KEYS = {
    "code",
    "error",
    "message",
    "http_status",
    "http_reason",
    "path",
    "timestamp",
    "request_id",
}


def call(server, path, params=None, *, key=None, method="GET", body=None):
    """One request on a fresh connection; returns (status, decoded JSON)."""
    pair = f"{key or server.keys[0]}:".encode()
    headers = {"Authorization": "Basic " + base64.b64encode(pair).decode()}
    target = "/v1/" + path
    if params:
        target += "?" + urlencode(params, doseq=True)
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        conn.request(method, target, body=data, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def ok(server, path, params=None, **kwargs):
    status, body = call(server, path, params, **kwargs)
    assert status == 200, body
    return body


def read_all(server, entity, params=(), key=None, size=100):
    """Every object of a list, paging with an explicit early ``from``."""
    base = [("size", size), ("from", EARLY), ("to", LATE), *params]
    found, token, pages = [], None, 0
    while True:
        extra = [("next_page_token", token)] if token else []
        page = ok(server, f"list/{entity}", base + extra, key=key)
        pages += 1
        assert page["count"] == len(page["content"]) <= size
        found.extend(page["content"])
        token = page.get("next_page_token")
        if not token:
            return found


def assert_error(reply, status, code):
    got, body = reply
    assert got == status
    assert set(body) == ERROR_KEYS
    assert (body["http_status"], body["code"]) == (status, code)
    return body


@pytest.fixture(scope="module")
def shared():
    """The default accounts (DK, JP) and the third one (DE, with KWD plans)."""
    with running_sandbox(rate_limit=False, accounts=3) as server:
        yield server


@pytest.fixture
def fresh():
    """A small sandbox of its own, for tests that change data."""
    with running_sandbox(customers=30, rate_limit=False) as server:
        yield server


def _invoices(server):
    return [
        (account, invoice)
        for account in server.accounts
        for invoice in account.invoices.values()
    ]


# generated data ---------------------------------------------------------------


def test_every_invoice_is_the_sum_of_its_lines(shared):
    for _account, invoice in _invoices(shared):
        lines = invoice["order_lines"]
        assert lines
        for name in ("amount", "amount_vat", "amount_ex_vat"):
            assert invoice[name] == sum(line[name] for line in lines), name
        assert invoice["amount"] == invoice["amount_vat"] + invoice["amount_ex_vat"]
        for line in lines:
            assert set(line) == LINE_KEYS
            assert line["amount_ex_vat"] + line["amount_vat"] == line["amount"]
            assert line["amount"] == line["unit_amount"] * line["quantity"]
            assert (
                line["unit_amount_ex_vat"] + line["unit_amount_vat"]
                == (line["unit_amount"])
            )
            exact = fractional_vat(line["amount"], line["vat"])
            assert abs(line["amount_vat"] - exact) <= Fraction(1, 2)
            assert line["discounted_amount"] == 0
            assert line["amount_defined_incl_vat"] is True
            for name in ("amount", "amount_vat", "amount_ex_vat", "unit_amount"):
                assert isinstance(line[name], int) and not isinstance(line[name], bool)
            if line["origin"] in ("plan", "add_on"):
                assert (line["period_from"], line["period_to"]) == (
                    invoice["period_from"],
                    invoice["period_to"],
                )
                assert line["period_from"] < line["period_to"]
            else:
                assert line["period_from"] is line["period_to"] is None
            expected = invoice["plan"] if line["origin"] == "plan" else None
            assert line["origin_handle"] == expected


def test_vat_rates_currencies_and_reverse_charge(shared):
    nordic, tokyo, berlin = shared.accounts
    rates = Counter(
        line["vat"]
        for _account, invoice in _invoices(shared)
        for line in invoice["order_lines"]
    )
    assert {0.25, 0.19, 0.1, 0.0} <= set(rates)
    assert {
        line["vat"] for i in tokyo.invoices.values() for line in i["order_lines"]
    } <= {
        0.1,
        0.0,
    }
    currencies = Counter(invoice["currency"] for _a, invoice in _invoices(shared))
    assert {"DKK", "EUR", "USD", "JPY", "KWD"} <= set(currencies)
    kwd = [i for i in berlin.invoices.values() if i["currency"] == "KWD"]
    assert kwd and any(invoice["amount"] % 10 for invoice in kwd), "three decimals"
    kwd_plans = [p for p in berlin.plans.values() if p["currency"] == "KWD"]
    assert kwd_plans and all(p["vat"] == 0.19 for p in kwd_plans)
    for account in (nordic, berlin):
        abroad = [
            c for c in account.customers.values() if account.reverse_charge(c["handle"])
        ]
        share = len(abroad) / len(account.customers)
        assert 0.04 <= share <= 0.2, share
        for customer in abroad:
            assert customer["vat"].startswith(customer["country"][:2])
            assert customer["country"] != account.country and customer["company"]
        handles = {c["handle"] for c in abroad}
        billed = [i for i in account.invoices.values() if i["customer"] in handles]
        assert billed
        assert {line["vat"] for i in billed for line in i["order_lines"]} == {0.0}
        for invoice in account.invoices.values():
            if invoice["customer"] in handles or invoice["currency"] == "USD":
                continue
            assert {line["vat"] for line in invoice["order_lines"]} == {account.vat}
    assert not any(tokyo.reverse_charge(h) for h in tokyo.customers)


def test_transactions_agree_with_settled_and_refunded_amounts(shared):
    seen = Counter()
    anchor = shared.anchor.isoformat(timespec="milliseconds")
    for account, invoice in _invoices(shared):
        transactions = invoice["transactions"]
        assert len(transactions) <= 100
        settles = [tx for tx in transactions if tx["type"] == "settle"]
        refunds = [tx for tx in transactions if tx["type"] == "refund"]
        assert len(settles) + len(refunds) == len(transactions)
        assert invoice["settled_amount"] == sum(tx["amount"] for tx in settles)
        assert invoice["refunded_amount"] == sum(tx["amount"] for tx in refunds)
        assert 0 <= invoice["refunded_amount"] <= invoice["settled_amount"]
        assert invoice["settled_amount"] <= invoice["amount"]
        full = invoice["settled_amount"] == invoice["amount"]
        assert (invoice["state"] == "settled") == full, invoice["handle"]
        if invoice["state"] == "settled":
            assert settles, "every settled invoice has its settlement(s)"
            assert invoice["settled"] == max(tx["settled"] for tx in settles)
        elif invoice["settled_amount"]:
            assert invoice["state"] in ("pending", "dunning")
            assert invoice["settled"] is None
            seen["partly settled open invoice"] += 1
        for tx in transactions:
            assert set(tx) == TRANSACTION_KEYS
            assert account.transactions[tx["id"]] is tx
            assert (tx["invoice"], tx["currency"]) == (
                invoice["handle"],
                invoice["currency"],
            )
            assert tx["amount"] > 0 and isinstance(tx["amount"], int)
            assert tx["payment_type"] in ("card", "mobilepay", "sepa", "manual")
            assert invoice["created"] <= tx["created"] < anchor
            if tx["type"] == "settle":
                assert (tx["state"], tx["refunded"]) == ("settled", None)
                assert tx["settled"] == tx["created"]
            else:
                assert (tx["state"], tx["settled"]) == ("refunded", None)
                assert (
                    tx["refunded"]
                    == tx["created"]
                    >= max(s["settled"] for s in settles)
                )
                seen["refund"] += 1
            seen[tx["payment_type"]] += 1
        if len(settles) > 1:
            seen["split"] += 1
        if len({tx["payment_type"] for tx in settles}) > 1:
            seen["two payment types"] += 1
    for kind in ("split", "two payment types", "manual", "card", "mobilepay", "sepa"):
        assert seen[kind], kind
    assert seen["partly settled open invoice"] >= 3
    assert seen["refund"] >= 3
    total = sum(len(account.transactions) for account in shared.accounts)
    assert total == sum(len(i["transactions"]) for _a, i in _invoices(shared))


def test_credit_notes_agree_with_credited_amount_and_their_lines(shared):
    seen = Counter()
    for account, invoice in _invoices(shared):
        notes = invoice["credit_notes"]
        assert invoice["credited_amount"] == sum(note["amount"] for note in notes)
        assert invoice["credited_amount"] <= invoice["amount"]
        lines = {line["id"]: line for line in invoice["order_lines"]}
        credited = Counter()
        refunds = {
            tx["id"]: tx for tx in invoice["transactions"] if tx["type"] == "refund"
        }
        linked = [note["transaction"] for note in notes if note["transaction"]]
        assert sorted(linked) == sorted(refunds), "every refund has its credit note"
        for note in notes:
            assert set(note) == NOTE_KEYS
            assert account.credit_notes[note["id"]] is note
            assert (note["invoice"], note["customer"], note["subscription"]) == (
                invoice["handle"],
                invoice["customer"],
                invoice["subscription"],
            )
            assert note["currency"] == invoice["currency"]
            assert note["credit"] is note["accounting_number"] is None
            assert note["created"] >= invoice["created"]
            note_lines = note["credit_note_lines"]
            assert note_lines
            assert note["amount"] == sum(line["amount_incl_vat"] for line in note_lines)
            assert note["amount_ex_vat"] == sum(
                line["amount_ex_vat"] for line in note_lines
            )
            assert note["amount_vat"] == note["amount"] - note["amount_ex_vat"]
            for line in note_lines:
                assert set(line) == NOTE_LINE_KEYS
                assert line["amount"] == line["amount_incl_vat"] > 0
                order_line = lines[line["order_line_id"]]
                assert line["vat"] == order_line["vat"]
                assert line["origin"] == order_line["origin"]
                assert (line["period_from"], line["period_to"]) == (
                    order_line["period_from"],
                    order_line["period_to"],
                )
                credited[order_line["id"]] += line["amount_incl_vat"]
                vat = line["amount_incl_vat"] - line["amount_ex_vat"]
                if line["amount_incl_vat"] == order_line["amount"]:
                    assert line["amount_ex_vat"] == order_line["amount_ex_vat"]
                else:  # a part of the line: its VAT at the line's rate
                    exact = fractional_vat(line["amount_incl_vat"], line["vat"])
                    assert vat == round_half_up(exact)
                    assert line["quantity"] == 1
                    seen["part of a line"] += 1
            if note["transaction"]:
                assert refunds[note["transaction"]]["amount"] == note["amount"]
                assert note["created"] == refunds[note["transaction"]]["refunded"]
                seen["refund"] += 1
            else:
                assert invoice["state"] not in ("settled", "cancelled")
                seen["credit on an unpaid invoice"] += 1
        for line_id, amount in credited.items():
            assert amount <= lines[line_id]["amount"]
    assert seen["refund"] >= 3
    assert seen["credit on an unpaid invoice"] >= 3
    assert seen["part of a line"]


def test_generated_events_name_each_settlement_refund_and_credit(shared):
    for account in shared.accounts:
        created = [event["created"] for event in account.events]
        assert created == sorted(created)
        by_type = Counter()
        for event in account.events:
            if event["event_type"] == "invoice_settled":
                tx = account.transactions[event["transaction"]]
                assert (tx["invoice"], tx["settled"]) == (
                    event["invoice"],
                    event["created"],
                )
            elif event["event_type"] == "invoice_refund":
                tx = account.transactions[event["transaction"]]
                note = account.credit_notes[event["credit_note"]]
                assert note["transaction"] == tx["id"]
                assert tx["refunded"] == event["created"]
            elif event["event_type"] == "invoice_credited":
                note = account.credit_notes[event["credit_note"]]
                assert (note["invoice"], note["created"]) == (
                    event["invoice"],
                    event["created"],
                )
            by_type[event["event_type"]] += 1
        settles = [t for t in account.transactions.values() if t["type"] == "settle"]
        refunds = [t for t in account.transactions.values() if t["type"] == "refund"]
        assert by_type["invoice_settled"] == len(settles)
        assert by_type["invoice_refund"] == len(refunds)
        assert by_type["invoice_credited"] == len(account.credit_notes)


# over HTTP ----------------------------------------------------------------------


def test_credit_note_list_pages_newest_first_and_filters(shared):
    account = shared.accounts[0]
    truth = account.credit_notes
    notes = read_all(shared, "credit_note", size=10)
    assert len(notes) == len(truth) > 10, "more than one page"
    assert {note["id"] for note in notes} == set(truth)
    assert all(note == truth[note["id"]] for note in notes)
    created = [note["created"] for note in notes]
    assert created == sorted(created, reverse=True)
    page = ok(shared, "list/credit_note", {"size": 10, "from": EARLY, "to": LATE})
    assert set(page) == {
        "size",
        "count",
        "from",
        "to",
        "range",
        "content",
        "next_page_token",
    }
    assert page["range"] == "created"
    token = page["next_page_token"]
    changed = {"size": 20, "from": EARLY, "to": LATE, "next_page_token": token}
    assert_error(call(shared, "list/credit_note", changed), 400, 3)
    wrong_list = {"size": 10, "from": EARLY, "to": LATE, "next_page_token": token}
    assert_error(call(shared, "list/invoice", wrong_list), 400, 3)
    ranged = read_all(shared, "credit_note", [("range", "created")])
    assert [n["id"] for n in ranged] == [n["id"] for n in notes]
    for params in ({"range": "settled"}, {"size": 9}, {"size": 101}):
        assert_error(call(shared, "list/credit_note", params), 400, 3)

    note = next(n for n in truth.values() if n["subscription"])
    invoice = account.invoices[account.invoice_ids[note["invoice"]]]
    for params, expected in (
        ([("customer", note["customer"])], {"customer": note["customer"]}),
        (
            [("subscription", note["subscription"])],
            {"subscription": note["subscription"]},
        ),
        ([("invoice", note["invoice"])], {"invoice": note["invoice"]}),
        ([("invoice", invoice["id"])], {"invoice": note["invoice"]}),
    ):
        found = read_all(shared, "credit_note", params)
        wanted = [
            n
            for n in truth.values()
            if all(n[name] == value for name, value in expected.items())
        ]
        assert found and sorted(n["id"] for n in found) == sorted(
            n["id"] for n in wanted
        )
    berlin = shared.keys[2]
    both = read_all(
        shared,
        "credit_note",
        [("currency[]", "KWD"), ("currency[]", "EUR")],
        key=berlin,
    )
    everything = read_all(shared, "credit_note", key=berlin)
    assert {n["currency"] for n in both} <= {"KWD", "EUR"}
    assert len(both) == sum(n["currency"] in ("KWD", "EUR") for n in everything)
    assert not read_all(shared, "credit_note", [("currency", "SEK")])


def test_single_credit_note_and_transaction_reads(shared):
    account = shared.accounts[0]
    note = next(iter(account.credit_notes.values()))
    assert ok(shared, f"credit_note/{note['id']}") == note
    body = assert_error(call(shared, "credit_note/" + "0" * 32), 404, 4)
    assert body["error"] == "Credit note not found"
    other = next(iter(shared.accounts[1].credit_notes))
    assert_error(call(shared, f"credit_note/{other}"), 404, 4)
    tx = next(iter(account.transactions.values()))
    assert ok(shared, f"invoice/{tx['invoice']}/transaction/{tx['id']}") == tx
    assert_error(call(shared, f"invoice/{tx['invoice']}/transaction/nope"), 404, 4)
    invoice = ok(shared, f"invoice/{tx['invoice']}")
    assert invoice["transactions"] == account.invoices[invoice["id"]]["transactions"]
    assert invoice["credit_notes"] == account.invoices[invoice["id"]]["credit_notes"]


def test_transaction_list_ranges_and_filters(shared):
    account = shared.accounts[0]
    truth = account.transactions
    everything = read_all(shared, "transaction")
    assert {tx["id"] for tx in everything} == set(truth)
    created = [tx["created"] for tx in everything]
    assert created == sorted(created, reverse=True)
    settled = read_all(shared, "transaction", [("range", "settled")])
    assert [tx["settled"] for tx in settled] == sorted(
        (tx["settled"] for tx in truth.values() if tx["settled"]), reverse=True
    )
    for params, check in (
        ([("type", "refund")], lambda tx: tx["type"] == "refund"),
        ([("state[]", "settled")], lambda tx: tx["state"] == "settled"),
        ([("payment_type[]", "manual")], lambda tx: tx["payment_type"] == "manual"),
        (
            [("payment_type[]", "sepa"), ("payment_type[]", "mobilepay")],
            lambda tx: tx["payment_type"] in ("sepa", "mobilepay"),
        ),
        ([("currency", "JPY")], lambda tx: tx["currency"] == "JPY"),
    ):
        found = read_all(shared, "transaction", params)
        wanted = {tx["id"] for tx in truth.values() if check(tx)}
        assert found and {tx["id"] for tx in found} == wanted, params
    split = next(i for i in account.invoices.values() if len(i["transactions"]) > 1)
    by_invoice = read_all(shared, "transaction", [("invoice", split["id"])])
    assert sorted(tx["id"] for tx in by_invoice) == sorted(
        tx["id"] for tx in split["transactions"]
    )
    for params in ({"type": "payout"}, {"state": "bogus"}, {"range": "refunded"}):
        assert_error(call(shared, "list/transaction", params), 400, 3)


# mutations --------------------------------------------------------------------


def _events(server, key, invoice):
    return [e for e in server.account(key).events if e["invoice"] == invoice]


def test_partial_then_full_settlement(fresh):
    key = fresh.keys[0]
    customer = fresh.create_customer(key)["handle"]
    sub = fresh.create_subscription(key, customer, "plan-001")["handle"]
    invoice = fresh.create_invoice(key, customer, sub, state="pending")
    handle, amount = invoice["handle"], invoice["amount"]
    assert (invoice["transactions"], invoice["credit_notes"]) == ([], [])
    part = fresh.settle_invoice(key, handle, amount=1000, payment_type="mobilepay")
    assert (part["state"], part["settled_amount"], part["settled"]) == (
        "pending",
        1000,
        None,
    )
    rest = fresh.settle_invoice(key, handle)  # the open rest
    assert (rest["state"], rest["settled_amount"]) == ("settled", amount)
    assert [tx["amount"] for tx in rest["transactions"]] == [1000, amount - 1000]
    assert [tx["payment_type"] for tx in rest["transactions"]] == ["mobilepay", "card"]
    assert rest["settled"] == rest["transactions"][-1]["settled"]
    events = _events(fresh, key, handle)
    assert [e["event_type"] for e in events] == [
        "invoice_created",
        "invoice_settled",
        "invoice_settled",
    ]
    assert [e["transaction"] for e in events[1:]] == [
        tx["id"] for tx in rest["transactions"]
    ]
    with pytest.raises(ValueError, match="open"):
        fresh.settle_invoice(key, handle, amount=1)
    served = ok(fresh, f"invoice/{handle}")
    assert served["transactions"] == rest["transactions"]
    listed = read_all(fresh, "transaction", [("invoice", handle)])
    assert len(listed) == 2

    other = fresh.create_invoice(key, customer, amount=5000, state="pending")
    with pytest.raises(ValueError):
        fresh.settle_invoice(key, other["handle"], amount=5001)
    with pytest.raises(ValueError):
        fresh.settle_invoice(key, other["handle"], amount=100, payment_type="cash")
    manual = fresh.manual_settle(key, other["handle"], amount=2000)
    assert manual["transactions"][-1]["payment_type"] == "manual"
    assert manual["state"] == "pending"
    status, body = call(
        fresh, f"invoice/{other['handle']}/manual_settle", method="POST", body={}
    )
    assert status == 200 and body["state"] == "settled"
    assert [tx["payment_type"] for tx in body["transactions"]] == ["manual", "manual"]
    assert_error(
        call(fresh, f"invoice/{other['handle']}/manual_settle", method="POST", body={}),
        400,
        1,
    )
    assert_error(
        call(fresh, "invoice/inv-0/manual_settle", method="POST", body={}), 404, 4
    )

    # created settled: with its card settlement; the two-argument call settles in full
    paid = fresh.create_invoice(key, customer, amount=700, state="settled")
    assert [(tx["amount"], tx["payment_type"]) for tx in paid["transactions"]] == [
        (700, "card")
    ]
    later = fresh.create_invoice(key, customer, amount=900)
    assert fresh.settle_invoice(key, later["id"])["settled_amount"] == 900


def test_refund_makes_a_credit_note_with_its_transaction(fresh):
    key = fresh.keys[0]
    customer = fresh.create_customer(key)["handle"]
    invoice = fresh.create_invoice(
        key,
        customer,
        lines=[
            {"text": "Mat", "amount": 10000, "vat": 0.25},
            {"text": "Course", "amount": 5000, "quantity": 2, "vat": 0.25},
        ],
    )
    handle = invoice["handle"]
    with pytest.raises(ValueError):
        fresh.refund_invoice(key, handle)  # nothing settled yet
    fresh.settle_invoice(key, handle)
    part = fresh.refund_invoice(key, handle, amount=2500)
    note = part["credit_notes"][-1]
    refund = part["transactions"][-1]
    assert (refund["type"], refund["state"], refund["amount"]) == (
        "refund",
        "refunded",
        2500,
    )
    assert note["transaction"] == refund["id"]
    assert (note["amount"], note["amount_vat"], note["amount_ex_vat"]) == (
        2500,
        500,
        2000,
    )
    [line] = note["credit_note_lines"]
    assert line["order_line_id"] == invoice["order_lines"][0]["id"]  # the roomiest
    assert (part["refunded_amount"], part["credited_amount"]) == (2500, 2500)
    assert part["state"] == "settled"
    with pytest.raises(ValueError):
        fresh.refund_invoice(key, handle, amount=17501)
    rest = fresh.refund_invoice(key, handle)
    assert rest["refunded_amount"] == rest["credited_amount"] == 20000
    last = rest["credit_notes"][-1]
    assert last["amount"] == 17500
    assert sum(n["amount_vat"] for n in rest["credit_notes"]) == invoice["amount_vat"]
    with pytest.raises(ValueError):
        fresh.refund_invoice(key, handle, amount=1)
    events = _events(fresh, key, handle)
    assert [e["event_type"] for e in events][-4:] == [
        "invoice_refund",
        "invoice_credited",
        "invoice_refund",
        "invoice_credited",
    ]
    assert events[-2]["credit_note"] == events[-1]["credit_note"] == last["id"]
    assert events[-2]["transaction"] == last["transaction"]
    assert ok(fresh, f"credit_note/{last['id']}") == last
    listed = read_all(fresh, "credit_note", [("invoice", handle)])
    assert {n["id"] for n in listed} == {note["id"], last["id"]}


def test_credit_on_an_unpaid_invoice_and_cancel(fresh):
    key = fresh.keys[0]
    customer = fresh.create_customer(key)["handle"]
    invoice = fresh.create_invoice(key, customer, amount=10000, state="pending")
    handle = invoice["handle"]
    credited = fresh.credit_invoice(key, handle, amount=3000)
    note = credited["credit_notes"][0]
    assert (note["transaction"], note["amount"], credited["credited_amount"]) == (
        None,
        3000,
        3000,
    )
    assert credited["state"] == "pending"
    with pytest.raises(ValueError):
        fresh.credit_invoice(key, handle, amount=7001)
    assert _events(fresh, key, handle)[-1]["event_type"] == "invoice_credited"
    cancelled = fresh.cancel_invoice(key, handle)
    assert cancelled["state"] == "cancelled"
    with pytest.raises(ValueError):
        fresh.settle_invoice(key, handle)
    paid = fresh.create_invoice(key, customer, amount=100, state="settled")
    with pytest.raises(ValueError):
        fresh.cancel_invoice(key, paid["handle"])


def test_explicit_lines_rates_currency_and_invoice_level_rounding(fresh):
    key = fresh.keys[0]
    customer = fresh.create_customer(key)["handle"]
    mixed = fresh.create_invoice(
        key,
        customer,
        lines=[
            {"text": "Taxed", "amount": 12345, "vat": 0.25, "origin": "ondemand"},
            {"text": "Exempt", "amount": 5000, "vat": 0.0, "origin": "additional_cost"},
        ],
    )
    assert [line["vat"] for line in mixed["order_lines"]] == [0.25, 0.0]
    assert (mixed["amount"], mixed["amount_vat"]) == (17345, 2469)
    assert [line["amount_vat"] for line in mixed["order_lines"]] == [2469, 0]

    tiny = [{"text": f"Tiny {n}", "amount": 2, "vat": 0.25} for n in range(3)]
    summed = fresh.create_invoice(key, customer, lines=tiny)
    assert (summed["amount"], summed["amount_vat"], summed["amount_ex_vat"]) == (
        6,
        0,
        6,
    )
    rounded = fresh.create_invoice(key, customer, lines=tiny, vat_rounding="invoice")
    assert (rounded["amount"], rounded["amount_vat"], rounded["amount_ex_vat"]) == (
        6,
        1,
        5,
    )
    assert sum(line["amount_vat"] for line in rounded["order_lines"]) == 0
    changed = fresh.update_invoice(key, rounded["handle"], amount=8)
    assert (changed["amount_vat"], changed["amount_ex_vat"]) == (2, 6)

    kwd = fresh.create_invoice(key, customer, amount=12345, currency="KWD")
    assert (kwd["currency"], kwd["amount"]) == ("KWD", 12345)
    assert kwd["order_lines"][0]["origin"] == "ondemand"
    with pytest.raises(ValueError):
        fresh.create_invoice(key, customer, amount=5, lines=tiny)
    with pytest.raises(ValueError):
        fresh.create_invoice(key, customer, vat_rounding="nearest")
    with pytest.raises(ValueError):
        fresh.create_invoice(
            key, customer, lines=[{"text": "x", "amount": 1, "colour": 2}]
        )

    sub = fresh.create_subscription(key, customer, "plan-001")
    billed = fresh.create_invoice(
        key,
        customer,
        sub["handle"],
        lines=[
            {"text": "Plan", "amount": 9900},
            {"text": "Towels", "amount": 2500, "origin": "add_on"},
            {"text": "Fee", "amount": 500, "origin": "surcharge_fee"},
        ],
    )
    plan_line, add_on, fee = billed["order_lines"]
    assert (plan_line["origin"], plan_line["origin_handle"]) == ("plan", "plan-001")
    period = (sub["current_period_start"], sub["next_period_start"])
    assert (plan_line["period_from"], plan_line["period_to"]) == period
    assert (add_on["period_from"], add_on["period_to"]) == period
    assert add_on["origin_handle"] is None
    assert fee["period_from"] is fee["period_to"] is None

    abroad = fresh.create_customer(key, country="SE", vat="SE556677889901")["handle"]
    export = fresh.create_invoice(key, abroad, amount=10000)
    assert export["order_lines"][0]["vat"] == 0.0 and export["amount_vat"] == 0


def test_an_invoice_holds_at_most_a_hundred_transactions(fresh):
    key = fresh.keys[0]
    customer = fresh.create_customer(key)["handle"]
    handle = fresh.create_invoice(key, customer, amount=1000, state="pending")["handle"]
    for _ in range(100):
        fresh.settle_invoice(key, handle, amount=1)
    with pytest.raises(BooksError):
        fresh.settle_invoice(key, handle, amount=1)
    assert len(ok(fresh, f"invoice/{handle}")["transactions"]) == 100
