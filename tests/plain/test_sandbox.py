"""The sandbox answers over real HTTP the way the Billwerk+ Optimize API notes say."""

import base64
import hashlib
import hmac
import http.client
import json
import re
import threading
import time
from collections import namedtuple
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlencode, urlsplit

import pytest

from sandbox import wire
from sandbox.data import (
    INVOICE_STATES,
    PLAN_STATES,
    SUBSCRIPTION_STATES,
    UTC,
    day_anchor,
    generate_account,
)
from sandbox.launcher import SandboxProcess
from sandbox.server import SandboxServer, running_sandbox

ROOT = Path(__file__).resolve().parents[2]
EARLY = "2000-01-01"
LATE = "2100-01-01"
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

Reply = namedtuple("Reply", "status headers raw")


def _json(reply):
    return json.loads(reply.raw)


def call(
    server,
    path,
    params=None,
    *,
    key=None,
    auth=None,
    method="GET",
    body=None,
    timeout=10,
):
    """One request on a fresh connection; ``auth`` replaces the Basic header."""
    if auth is None:
        pair = f"{key or server.keys[0]}:".encode()
        auth = "Basic " + base64.b64encode(pair).decode()
    headers = {"Authorization": auth} if auth else {}
    target = "/v1/" + path
    if params:
        target += "?" + urlencode(params, doseq=True)
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    conn = http.client.HTTPConnection(server.host, server.port, timeout=timeout)
    try:
        conn.request(method, target, body=data, headers=headers)
        response = conn.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        conn.close()


def read_all(server, entity, params=(), key=None):
    """Every object of a list, paging with size 100 and an explicit early ``from``."""
    base = [("size", 100), ("from", EARLY), ("to", LATE), *params]
    found, token = [], None
    while True:
        page = _json(call(server, f"list/{entity}", base + _token(token), key=key))
        found.extend(page["content"])
        token = page.get("next_page_token")
        if not token:
            return found


def _token(token):
    return [("next_page_token", token)] if token else []


def assert_error(reply, status, code):
    body = _json(reply)
    assert reply.status == status
    assert set(body) == ERROR_KEYS
    assert (body["http_status"], body["code"]) == (status, code)
    assert body["request_id"] == reply.headers["Request-Id"]
    return body


@pytest.fixture(scope="module")
def shared():
    with running_sandbox(rate_limit=False) as server:
        yield server


@pytest.fixture
def server(shared):
    """The shared read-only sandbox, with faults, log and limits reset."""
    shared.reset()
    yield shared
    shared.reset()
    shared.limits.enabled = False
    shared.limits.retry_after = None


@pytest.fixture
def fresh():
    """A small sandbox of its own, for tests that change data."""
    with running_sandbox(customers=30, rate_limit=False) as server:
        yield server


# accounts and authentication -------------------------------------------------


def test_account_answer_per_key_with_unique_request_ids(server):
    first, second = call(server, "account"), call(server, "account")
    nordic = _json(first)
    assert first.status == 200
    assert set(nordic) == {
        "id",
        "handle",
        "name",
        "organisation",
        "currency",
        "locale",
        "timezone",
        "country",
        "state",
        "created",
    }
    assert (nordic["name"], nordic["currency"], nordic["state"]) == (
        "Nordic Yoga ApS",
        "DKK",
        "live",
    )
    assert re.fullmatch("[0-9a-f]{32}", nordic["id"])
    assert datetime.fromisoformat(nordic["created"]).utcoffset() is not None
    assert first.headers["Request-Id"] != second.headers["Request-Id"]
    tokyo = _json(call(server, "account", key=server.keys[1]))
    assert (tokyo["currency"], tokyo["timezone"], tokyo["state"]) == (
        "JPY",
        "Asia/Tokyo",
        "live",
    )
    assert tokyo["id"] != nordic["id"]
    assert all(re.fullmatch("priv_[0-9a-f]{32}", key) for key in server.keys)


@pytest.mark.parametrize(
    "auth",
    [
        "Basic " + base64.b64encode(b"priv_00000000000000000000000000000000:").decode(),
        "",
        "Bearer token",
    ],
    ids=["unknown-key", "missing", "not-basic"],
)
def test_bad_credentials_answer_401_with_error_body(server, auth):
    body = assert_error(call(server, "account", auth=auth), 401, 5)
    assert body["path"] == "/v1/account"
    assert body["http_reason"] == "Unauthorized"


# generated data ---------------------------------------------------------------


def _dump(server):
    return json.dumps([account.snapshot() for account in server.accounts]).encode()


def test_same_seed_gives_identical_data_and_answers():
    one = SandboxServer(seed=7, customers=60)
    two = SandboxServer(seed=7, customers=60)
    other = SandboxServer(seed=8, customers=60)
    assert _dump(one) == _dump(two)
    assert _dump(one) != _dump(other)
    params = {"size": 100, "from": EARLY, "to": LATE}
    with one, two:
        answers = [call(s, "list/invoice", params).raw for s in (one, two)]
    assert answers[0] == answers[1]


def _past_stamps(account):
    """Every generated timestamp that tells of something that already happened."""
    stamps = [account.created]
    for customer in account.customers.values():
        stamps += [customer["created"], customer["deleted"]]
    for versions in account.plan_versions.values():
        stamps += [
            stamp for row in versions for stamp in (row["created"], row["deleted"])
        ]
    for sub in account.subscriptions.values():
        stamps += [sub["created"], sub["activated"], sub["expired_date"]]
    for invoice in account.invoices.values():
        stamps += [invoice["created"], invoice["settled"]]
    stamps += [event["created"] for event in account.events]
    return [stamp for stamp in stamps if stamp]


def _stamp(value):
    """A datetime the way the sandbox writes timestamps (comparable as strings)."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds")


def test_data_runs_up_to_today_by_default_and_never_past_the_clock():
    server = SandboxServer(seed=7, customers=60)
    today = datetime.now(UTC).date()
    assert server.anchor.date() in (today, today - timedelta(days=1))  # midnight
    assert server.anchor == day_anchor(server.anchor)
    now = server.clock.now()
    assert timedelta(0) <= now - server.anchor <= timedelta(days=1, minutes=5)
    for account in server.accounts:
        stamps = _past_stamps(account)
        assert max(stamps) < _stamp(server.anchor) <= _stamp(now)
        assert min(stamps) == account.created
        # a live account: invoices of the last weeks, about three years of history
        newest = datetime.fromisoformat(
            max(account.invoices[i]["created"] for i in account.invoices)
        )
        assert server.anchor - newest < timedelta(days=31)
        oldest = datetime.fromisoformat(account.created)
        assert timedelta(days=3 * 365 - 31) < server.anchor - oldest
        assert server.anchor - oldest < timedelta(days=3 * 365 + 31)
    pending = [
        sub
        for sub in server.accounts[0].subscriptions.values()
        if sub["state"] == "pending"
    ]
    assert pending
    assert all(sub["start_date"] > _stamp(now) for sub in pending)


def test_same_seed_and_anchor_give_the_same_data_on_any_day():
    """Only the time span follows the anchor: a date, a datetime or a clock."""

    class Clock:
        def __init__(self, when):
            self.when = when

        def now(self):
            return self.when

    def snapshot(**options):
        return json.dumps(generate_account(7, 0, customers=40, **options).snapshot())

    from_date = snapshot(anchor=datetime(2024, 3, 1).date())
    assert from_date == snapshot(anchor=datetime(2024, 3, 1, tzinfo=UTC))
    assert from_date == snapshot(anchor=datetime(2024, 3, 1))  # naive is UTC
    assert from_date == snapshot(clock=Clock(datetime(2024, 3, 1, 17, 5, tzinfo=UTC)))
    assert from_date != snapshot(anchor=datetime(2024, 3, 2, tzinfo=UTC))
    before = day_anchor()
    today = json.dumps(generate_account(7, 0, customers=40).snapshot())
    if day_anchor() == before:  # not across midnight
        assert today == snapshot(anchor=before)
    later = generate_account(
        7, 0, customers=40, anchor=datetime(2031, 7, 1, tzinfo=UTC)
    )
    earlier = generate_account(
        7, 0, customers=40, anchor=datetime(2024, 3, 1, tzinfo=UTC)
    )
    assert later.key == earlier.key and set(later.customers) == set(earlier.customers)
    assert max(_past_stamps(earlier)) < "2024-03-01"
    assert "2031-06-01" < max(_past_stamps(later)) < "2031-07-01"
    assert "2028-05" < later.created < "2028-08"


def test_relations_and_amounts_are_consistent(server):
    for account in server.accounts:
        plans = account.plan_versions
        for sub in account.subscriptions.values():
            assert sub["customer"] in account.customers
            versions = {row["version"] for row in plans[sub["plan"]]}
            assert sub["plan_version"] in versions
        for invoice in account.invoices.values():
            assert invoice["customer"] in account.customers
            assert invoice["subscription"] in (None, *account.subscriptions)
            assert invoice["plan"] in (None, *plans)
            assert (invoice["subscription"] is None) == (
                invoice["type"] in ("co", "ch")
            )
            assert invoice["amount"] == invoice["amount_vat"] + invoice["amount_ex_vat"]
            lines = invoice["order_lines"]
            assert invoice["amount"] == sum(line["amount"] for line in lines)
            assert (invoice["settled"] is not None) == (invoice["state"] == "settled")
            assert isinstance(invoice["amount"], int)
        for customer in account.customers.values():
            active = sum(
                1
                for sub in account.subscriptions.values()
                if sub["customer"] == customer["handle"] and sub["state"] == "active"
            )
            assert customer["active_subscriptions"] == active
            assert account.created <= customer["created"]


def test_generated_data_covers_states_currencies_and_ties(server):
    nordic, tokyo = server.accounts
    subs = nordic.subscriptions.values()
    assert {sub["state"] for sub in subs} == set(SUBSCRIPTION_STATES)
    assert any(sub["is_cancelled"] for sub in subs)
    assert any(sub["in_trial"] for sub in subs)
    assert {inv["state"] for inv in nordic.invoices.values()} == set(INVOICE_STATES)
    rows = [row for versions in nordic.plan_versions.values() for row in versions]
    assert {row["state"] for row in rows} == set(PLAN_STATES)
    currencies = {
        inv["currency"] for acc in (nordic, tokyo) for inv in acc.invoices.values()
    }
    assert {"DKK", "EUR", "USD", "JPY"} <= currencies
    assert any(customer["deleted"] for customer in nordic.customers.values())
    created = [customer["created"] for customer in nordic.customers.values()]
    assert len(set(created)) < len(created), "some customers share a created second"
    assert len(tokyo.customers) < len(nordic.customers)


# lists and paging -------------------------------------------------------------


def test_paging_ten_thousand_customers_returns_each_exactly_once():
    started = time.monotonic()
    with running_sandbox(
        customers=10000, subscriptions=20, invoices=20, accounts=1, rate_limit=False
    ) as server:
        handles, created, pages = [], [], 0
        token = None
        base = [("size", 100), ("from", EARLY), ("to", LATE)]
        while True:
            page = _json(call(server, "list/customer", base + _token(token)))
            pages += 1
            assert page["count"] == len(page["content"]) <= 100
            handles += [customer["handle"] for customer in page["content"]]
            created += [customer["created"] for customer in page["content"]]
            token = page.get("next_page_token")
            if not token:
                break
        truth = server.accounts[0].customers
    assert pages == 100
    assert len(handles) == len(set(handles)) == 10000
    assert set(handles) == set(truth)
    assert created == sorted(created, reverse=True)
    assert len(set(created)) < len(created)
    assert time.monotonic() - started < 15


def test_paging_with_fixed_to_ignores_objects_created_between_pages(fresh):
    key = fresh.keys[0]
    truth = set(fresh.account(key).customers)
    to = fresh.clock.now().isoformat()
    base = [("size", 10), ("from", EARLY), ("to", to)]
    seen, token = [], None
    while True:
        page = _json(call(fresh, "list/customer", base + _token(token)))
        seen += [customer["handle"] for customer in page["content"]]
        for _ in range(3):
            fresh.create_customer(key)
        token = page.get("next_page_token")
        if not token:
            break
    assert len(seen) == len(set(seen))
    assert set(seen) == truth


def test_from_defaults_to_one_month_before_to_in_account_time_zone(fresh):
    key = fresh.keys[0]
    for handle, created in (
        ("win-before", "2025-05-14T23:59:59+02:00"),
        ("win-first", "2025-05-15T00:00:00+02:00"),
        ("win-last", "2025-06-14T23:59:59+02:00"),
        ("win-to", "2025-06-15T00:00:00+02:00"),
    ):
        fresh.create_customer(key, handle=handle, created=created)
    page = _json(call(fresh, "list/customer", {"to": "2025-06-15", "size": 100}))
    assert page["from"] == "2025-05-15T00:00:00.000+02:00"
    assert page["to"] == "2025-06-15T00:00:00.000+02:00"
    found = {c["handle"] for c in page["content"] if c["handle"].startswith("win-")}
    assert found == {"win-first", "win-last"}
    default = _json(call(fresh, "list/customer"))
    span = datetime.fromisoformat(default["to"]) - datetime.fromisoformat(
        default["from"]
    )
    assert timedelta(days=28) <= span <= timedelta(days=31, hours=1)
    lag = fresh.clock.now() - datetime.fromisoformat(default["to"])
    assert timedelta(0) <= lag < timedelta(seconds=5)


def test_page_token_only_works_with_the_same_other_parameters(server):
    day = server.anchor.date()
    base = {"size": 10, "from": EARLY, "to": day.isoformat()}
    token = _json(call(server, "list/customer", base))["next_page_token"]
    assert (
        call(server, "list/customer", {**base, "next_page_token": token}).status == 200
    )
    earlier = (day - timedelta(days=1)).isoformat()
    for change in ({"size": 20}, {"to": earlier}, {"from": "2001-01-01"}):
        params = {**base, **change, "next_page_token": token}
        assert_error(call(server, "list/customer", params), 400, 3)
    params = {**base, "email": "x@example.com", "next_page_token": token}
    assert_error(call(server, "list/customer", params), 400, 3)
    params = {**base, "next_page_token": token}
    assert_error(call(server, "list/subscription", params), 400, 3)
    params = {**base, "next_page_token": token[:-2] + "00"}
    assert_error(call(server, "list/customer", params), 400, 3)


@pytest.mark.parametrize(
    ("entity", "params"),
    [
        ("customer", {"size": 9}),
        ("customer", {"size": 101}),
        ("customer", {"size": "ten"}),
        ("customer", {"range": "settled"}),
        ("invoice", {"range": "updated"}),
        ("subscription", {"state": "bogus"}),
        ("invoice", {"to": "next tuesday"}),
    ],
)
def test_bad_list_parameters_answer_400(server, entity, params):
    body = assert_error(call(server, f"list/{entity}", params), 400, 3)
    assert body["path"] == f"/v1/list/{entity}"


def test_size_bounds_are_inclusive(server):
    for size in (10, 100):
        page = _json(call(server, "list/invoice", {"size": size, "from": EARLY}))
        assert page["size"] == size == page["count"]


def test_range_settled_lists_settled_invoices_newest_first(server):
    account = server.accounts[0]
    invoices = read_all(server, "invoice", [("range", "settled")])
    settled = [invoice["settled"] for invoice in invoices]
    assert settled == sorted(settled, reverse=True)
    assert {invoice["state"] for invoice in invoices} == {"settled"}
    truth = {inv["id"] for inv in account.invoices.values() if inv["settled"]}
    assert {invoice["id"] for invoice in invoices} == truth


def test_list_filters(server):
    account = server.accounts[0]
    subs = read_all(
        server, "subscription", [("state[]", "pending"), ("state[]", "on_hold")]
    )
    truth = [
        s
        for s in account.subscriptions.values()
        if s["state"] in ("pending", "on_hold")
    ]
    assert len(subs) == len(truth) > 0
    expired = read_all(server, "subscription", [("state", "expired")])
    assert expired and {sub["state"] for sub in expired} == {"expired"}
    customer = max(
        account.customers, key=lambda h: account.customers[h]["active_subscriptions"]
    )
    mine = read_all(server, "subscription", [("customer", customer)])
    assert mine and {sub["customer"] for sub in mine} == {customer}

    open_invoices = read_all(server, "invoice", [("exclude_state", "settled")])
    assert open_invoices and "settled" not in {inv["state"] for inv in open_invoices}
    one_offs = read_all(server, "invoice", [("type", "co")])
    assert one_offs and {inv["subscription"] for inv in one_offs} == {None}
    euros = read_all(server, "invoice", [("currency", "EUR")])
    assert euros and {inv["currency"] for inv in euros} == {"EUR"}
    sub = mine[0]["handle"]
    assert {
        i["subscription"] for i in read_all(server, "invoice", [("subscription", sub)])
    } <= {sub}

    old = read_all(server, "plan", [("state", "superseded")])
    assert old and all(
        p["version"] < account.plans[p["handle"]]["version"] for p in old
    )
    sample = next(iter(account.customers.values()))
    by_email = read_all(server, "customer", [("email", sample["email"].upper())])
    assert [c["handle"] for c in by_email] == [sample["handle"]]
    by_name = read_all(server, "customer", [("name", sample["last_name"].lower())])
    assert sample["handle"] in {c["handle"] for c in by_name}
    assert all(
        sample["last_name"] in f"{c['last_name']} {c['company']}" for c in by_name
    )


def test_single_reads_and_not_found(server):
    account = server.accounts[0]

    def stored_part(answer, stored):
        return {name: answer[name] for name in stored}

    customer = next(iter(account.customers.values()))
    answer = _json(call(server, f"customer/{customer['handle']}"))
    assert stored_part(answer, customer) == customer
    assert answer == wire.customer(account, customer)
    sub = next(iter(account.subscriptions.values()))
    answer = _json(call(server, f"subscription/{sub['handle']}"))
    assert stored_part(answer, sub) == sub
    assert answer == wire.subscription(account, sub)
    invoice = next(iter(account.invoices.values()))
    for key in (invoice["id"], invoice["handle"]):
        answer = _json(call(server, f"invoice/{key}"))
        assert stored_part(answer, invoice) == invoice
        assert answer == wire.invoice(account, invoice)
    plan = _json(call(server, "plan/plan-001/current"))
    assert plan == account.plan_versions["plan-001"][-1]
    for path in ("customer/cust-99999", "invoice/inv-0", "plan/nope/current", "nope"):
        assert_error(call(server, path), 404, 4)
    assert_error(call(server, "account", method="POST", body={}), 405, 6)
    other = next(iter(server.accounts[1].invoices))
    assert_error(call(server, f"invoice/{other}"), 404, 4)


# limits and faults ------------------------------------------------------------


def test_burst_is_rate_limited_with_code_122_per_key(server):
    server.limits.enabled = True
    started, passed = time.monotonic(), 0
    while (reply := call(server, "account")).status == 200 and passed < 1000:
        passed += 1
    elapsed = time.monotonic() - started
    assert_error(reply, 429, 122)
    assert 50 <= passed <= 50 + 25 * elapsed + 1
    assert "Retry-After" not in reply.headers
    assert call(server, "account", key=server.keys[1]).status == 200
    server.limits.retry_after = 2
    while (reply := call(server, "account")).status != 429:
        pass
    assert reply.headers["Retry-After"] == "2"
    time.sleep(0.2)
    assert call(server, "account").status == 200
    server.limits.enabled = False
    assert {call(server, "account").status for _ in range(60)} == {200}


def test_more_than_ten_concurrent_requests_get_code_123(server):
    server.limits.enabled = True
    server.faults.slow(0.8)
    replies = []
    barrier = threading.Barrier(14)

    def worker():
        barrier.wait()
        replies.append(call(server, "account"))

    threads = [threading.Thread(target=worker) for _ in range(14)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = [reply.status for reply in replies]
    assert statuses.count(200) <= 10
    assert_error(next(r for r in replies if r.status == 429), 429, 123)


def test_fault_server_errors_and_every_nth_rate_limit(server):
    server.faults.fail_next(2, status=503)
    replies = [call(server, "account") for _ in range(3)]
    assert [reply.status for reply in replies] == [503, 503, 200]
    assert_error(replies[0], 503, 2)
    server.faults.fail_next(1, status=502, prefix="list/customer")
    assert call(server, "account").status == 200
    assert call(server, "list/customer").status == 502
    assert call(server, "list/customer").status == 200
    server.faults.rate_limit_every(3)
    replies = [call(server, "account") for _ in range(6)]
    assert [reply.status for reply in replies] == [200, 200, 429] * 2
    assert_error(replies[2], 429, 122)


def test_fault_broken_json_and_dropped_connection(server):
    server.faults.broken_json_next(1)
    reply = call(server, "account")
    assert reply.status == 200
    with pytest.raises(ValueError):
        json.loads(reply.raw)
    assert _json(call(server, "account"))["name"] == "Nordic Yoga ApS"
    server.faults.drop_next(1, prefix="/v1/account")
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        call(server, "account")
    assert call(server, "account").status == 200


def test_fault_slow_answer_makes_the_client_time_out(server):
    server.faults.slow(1.0, count=1)
    with pytest.raises(TimeoutError):
        call(server, "account", timeout=0.3)
    started = time.monotonic()
    assert call(server, "account").status == 200
    assert time.monotonic() - started < 0.5


def test_reset_clears_every_fault(server):
    faults = server.faults
    faults.rate_limit_every(1)
    faults.fail_next(5)
    faults.slow(2)
    faults.broken_json_next(5)
    faults.drop_next(5)
    assert faults.active
    faults.reset()
    assert not faults.active
    started = time.monotonic()
    assert {call(server, "account").status for _ in range(5)} == {200}
    assert time.monotonic() - started < 1


def test_request_log_counts_calls_per_path(server):
    call(server, "account")
    call(server, "account")
    call(server, "list/customer", {"size": 10})
    assert server.request_counts["/v1/account"] == 2
    assert server.count("list/customer") == 1
    assert server.count() == 3
    assert server.request_log[-1] == ("GET", "/v1/list/customer", "size=10")


# mutations, events and webhooks -----------------------------------------------


def test_mutations_change_answers_and_append_events(fresh):
    key = fresh.keys[0]
    handle = fresh.create_customer(key, email="new@example.com")["handle"]
    assert _json(call(fresh, f"customer/{handle}"))["email"] == "new@example.com"
    fresh.update_customer(key, handle, city="Aarhus")
    sub = fresh.create_subscription(key, handle, "plan-001")["handle"]
    assert _json(call(fresh, f"customer/{handle}"))["active_subscriptions"] == 1
    paid = fresh.create_invoice(key, handle, sub)
    fresh.settle_invoice(key, paid["id"])
    other = fresh.create_invoice(key, handle, amount=5000)
    assert other["type"] == "co" and other["subscription"] is None
    fresh.update_invoice(key, other["handle"], amount=7500)
    fresh.cancel_invoice(key, other["handle"])
    fresh.cancel_subscription(key, sub)
    fresh.expire_subscription(key, sub)
    fresh.delete_customer(key, handle)

    log = _json(call(fresh, "event", {"customer": handle, "size": 100}))
    assert [event["event_type"] for event in log["content"]] == [
        "customer_deleted",
        "subscription_expired",
        "subscription_cancelled",
        "invoice_cancelled",
        "invoice_changed",
        "invoice_created",
        "invoice_settled",
        "invoice_created",
        "subscription_created",
        "customer_changed",
        "customer_created",
    ]
    assert log["count"] == log["total"] == 11
    settled = log["content"][6]
    assert (settled["subscription"], settled["invoice"]) == (sub, paid["handle"])
    page = _json(call(fresh, "event", {"customer": handle, "size": 2, "page": 2}))
    assert page["content"] == log["content"][2:4]
    by_invoice = _json(call(fresh, "event", {"invoice": paid["id"]}))
    assert {e["invoice"] for e in by_invoice["content"]} == {paid["handle"]}

    changed = _json(call(fresh, f"invoice/{other['handle']}"))
    assert (changed["amount"], changed["state"]) == (7500, "cancelled")
    assert changed["amount"] == changed["amount_vat"] + changed["amount_ex_vat"]
    customer = _json(call(fresh, f"customer/{handle}"))
    assert customer["deleted"] and customer["active_subscriptions"] == 0
    listed = read_all(fresh, "customer", [("handle", handle)], key=key)
    assert [c["deleted"] for c in listed] == [customer["deleted"]]
    expired = _json(call(fresh, f"subscription/{sub}"))
    assert (expired["state"], expired["is_cancelled"]) == ("expired", True)


def test_plan_changes_make_versions_without_events(fresh):
    key = fresh.keys[0]
    events = len(fresh.account(key).events)
    first = _json(call(fresh, "plan/plan-002/current"))
    fresh.change_plan(key, "plan-002", amount=12300)
    current = _json(call(fresh, "plan/plan-002/current"))
    assert (current["version"], current["amount"]) == (first["version"] + 1, 12300)
    rows = read_all(fresh, "plan", [("handle", "plan-002")])
    states = {row["version"]: row["state"] for row in rows}
    assert states[first["version"]] == "superseded"
    assert states[current["version"]] == "active"
    fresh.delete_plan(key, "plan-002")
    assert _json(call(fresh, "plan/plan-002/current"))["state"] == "deleted"
    created = fresh.create_plan(key, name="Trial plan")
    assert (
        _json(call(fresh, f"plan/{created['handle']}/current"))["name"] == "Trial plan"
    )
    assert len(fresh.account(key).events) == events


def test_hard_delete_removes_objects_from_reads_and_lists(fresh):
    key = fresh.keys[0]
    account = fresh.account(key)
    customer = next(iter(account.customers))
    invoice = next(iter(account.invoices.values()))
    fresh.hard_delete(key, "customer", customer)
    fresh.hard_delete(key, "invoice", invoice["handle"])
    assert_error(call(fresh, f"customer/{customer}"), 404, 4)
    assert_error(call(fresh, f"invoice/{invoice['id']}"), 404, 4)
    assert customer not in {c["handle"] for c in read_all(fresh, "customer")}
    assert invoice["id"] not in {i["id"] for i in read_all(fresh, "invoice")}


def test_webhook_settings_put_replaces_settable_fields_only(fresh):
    settings = _json(call(fresh, "account/webhook_settings"))
    assert settings["urls"] == [] and re.fullmatch("[0-9a-f]{32}", settings["secret"])
    body = {
        "urls": ["https://odoo.example.com/billwerk/webhook"],
        "username": "odoo",
        "password": "pw",
        "disabled": False,
        "event_types": ["customer_created"],
        "secret": "mine",
    }
    answer = _json(call(fresh, "account/webhook_settings", method="PUT", body=body))
    assert answer["urls"] == body["urls"] and answer["username"] == "odoo"
    assert answer["secret"] == settings["secret"]
    assert _json(call(fresh, "account/webhook_settings")) == answer
    bad = call(fresh, "account/webhook_settings", method="PUT", body={"disabled": True})
    assert_error(bad, 400, 1)
    bad = call(fresh, "account/webhook_settings", method="PUT", body={"urls": "x"})
    assert_error(bad, 400, 3)
    rotated = fresh.rotate_webhook_secret(fresh.keys[0])
    assert rotated != settings["secret"]
    assert _json(call(fresh, "account/webhook_settings"))["secret"] == rotated


@pytest.fixture
def receiver():
    """A tiny webhook endpoint that records what it gets."""
    received = []
    answer = {"status": 200}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers["Content-Length"])
            received.append((dict(self.headers), json.loads(self.rfile.read(length))))
            self.send_response(answer["status"])
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/hook"
    yield url, received, answer
    httpd.shutdown()
    httpd.server_close()


def _signature(secret, payload):
    message = (payload["timestamp"] + payload["id"]).encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def test_send_webhook_posts_a_correctly_signed_payload(fresh, receiver):
    url, received, answer = receiver
    key = fresh.keys[0]
    customer = fresh.create_customer(key)["handle"]
    event = fresh.account(key).events[-1]
    assert fresh.send_webhook(key, event, url) == 200
    _headers, payload = received[-1]
    secret = _json(call(fresh, "account/webhook_settings"))["secret"]
    assert payload["signature"] == _signature(secret, payload)
    assert (payload["event_id"], payload["event_type"], payload["customer"]) == (
        event["id"],
        "customer_created",
        customer,
    )
    assert "subscription" not in payload and "invoice" not in payload

    invoice = fresh.create_invoice(key, customer)
    event = fresh.account(key).events[-1]
    new_secret = fresh.rotate_webhook_secret(key)
    assert fresh.send_webhook(key, event["id"], url) == 200
    _headers, payload = received[-1]
    assert payload["invoice"] == invoice["handle"]
    assert payload["signature"] == _signature(new_secret, payload)
    assert payload["signature"] != _signature(secret, payload)
    answer["status"] = 500
    assert fresh.send_webhook(key, event, url) == 500


def test_cli_prints_url_and_account_keys():
    box = SandboxProcess(["--customers", "20", "--seed", "3"], accounts=2)
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1/", box.url)
        first, second = box.accounts
        assert (first.name, first.state, first.currency) == (
            "Nordic Yoga ApS",
            "live",
            "DKK",
        )
        assert first.customers == 20
        assert re.fullmatch(r"priv_[0-9a-f]{32}", first.key)
        target = urlsplit(box.url)
        remote = SimpleNamespace(host=target.hostname, port=target.port)
        answer = _json(call(remote, "account", key=second.key))
        assert answer["name"] == "Tokyo Tea KK" == second.name
    finally:
        assert box.stop() == 0
