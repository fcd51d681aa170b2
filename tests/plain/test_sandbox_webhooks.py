"""The sandbox delivers webhooks the way Billwerk does: signed JSON POSTs to every
configured URL, FIFO per customer, retried with back-off, every attempt recorded.

Waits are bounded (``wait_for_deliveries`` or ``until``); nothing depends on how
fast the machine is.
"""

import base64
import http.client
import json
import socket
import threading
import time
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from client.webhook_signature import is_valid_signature
from sandbox.server import running_sandbox

PAYLOAD_KEYS = {"id", "event_id", "event_type", "timestamp", "signature", "customer"}


class Receiver:
    """A webhook endpoint on 127.0.0.1 that records every POST.

    ``answer(payload)`` says what to do: a status, or (seconds to sleep, status).
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.received = []  # (headers, payload, status) in arrival order
        self.answer = lambda payload: 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers["Content-Length"])
                payload = json.loads(self.rfile.read(length))
                answer = receiver.answer(payload)
                delay, status = answer if isinstance(answer, tuple) else (0, answer)
                if delay:
                    time.sleep(delay)
                with receiver.lock:
                    receiver.received.append((dict(self.headers), payload, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a client that timed out and left

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def payloads(self, ok_only=True):
        with self.lock:
            return [
                p for _h, p, status in self.received if status == 200 or not ok_only
            ]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receivers():
    made = []

    def make():
        made.append(Receiver())
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


@pytest.fixture
def sandbox():
    options = {"customers": 20, "rate_limit": False, "webhook_backoff": (0.02,) * 3}
    with running_sandbox(**options) as server:
        yield server


def call(server, path, *, method="GET", body=None, key=None):
    pair = f"{key or server.keys[0]}:".encode()
    headers = {"Authorization": "Basic " + base64.b64encode(pair).decode()}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        conn.request(method, "/v1/" + path, body=data, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def subscribe(server, urls, key=None, **settings):
    status, body = call(
        server,
        "account/webhook_settings",
        method="PUT",
        body={"urls": urls, **settings},
        key=key,
    )
    assert status == 200, body
    return body


def until(predicate, timeout=10):
    """Poll ``predicate`` until true; fails the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "not within the bound"
        time.sleep(0.01)


def secret_of(server, key=None):
    return call(server, "account/webhook_settings", key=key)[1]["secret"]


def valid(secret, payload):
    return is_valid_signature(
        secret, payload["timestamp"], payload["id"], payload["signature"]
    )


# delivery -------------------------------------------------------------------


def test_events_are_posted_signed_with_basic_auth_to_every_url(sandbox, receivers):
    one, two = receivers(), receivers()
    key = sandbox.keys[0]
    subscribe(sandbox, [one.url, two.url], username="odoo", password="pw")
    start = len(sandbox.account(key).events)
    customer = sandbox.create_customer(key)["handle"]
    sandbox.update_customer(key, customer, city="Aarhus")
    invoice = sandbox.create_invoice(key, customer, amount=10000, state="pending")
    sandbox.settle_invoice(key, invoice["handle"], amount=4000)
    sandbox.settle_invoice(key, invoice["handle"])
    sandbox.refund_invoice(key, invoice["handle"], amount=1000)
    assert sandbox.wait_for_deliveries(10)
    events = sandbox.account(key).events[start:]
    assert len(events) == 7
    secret = secret_of(sandbox)
    auth = "Basic " + base64.b64encode(b"odoo:pw").decode()
    for receiver in (one, two):
        with receiver.lock:
            received = list(receiver.received)
        assert [p["event_id"] for _h, p, _s in received] == [e["id"] for e in events]
        for (headers, payload, _status), event in zip(received, events, strict=True):
            assert headers["Content-Type"] == "application/json"
            assert headers["Authorization"] == auth
            assert PAYLOAD_KEYS <= set(payload)
            assert (payload["event_type"], payload["customer"]) == (
                event["event_type"],
                customer,
            )
            assert payload["timestamp"] == event["created"]
            for name in ("invoice", "transaction", "credit_note"):
                assert payload.get(name) == event.get(name)
            assert valid(secret, payload)
    assert [p["event_type"] for p in one.payloads()][-2:] == [
        "invoice_refund",
        "invoice_credited",
    ]
    ids = {p["event_id"]: p["id"] for p in one.payloads()}
    assert all(ids[p["event_id"]] != p["id"] for p in two.payloads()), "one per URL"

    attempts = sandbox.deliveries(key)
    assert len(attempts) == 14
    assert {(a["status"], a["ok"], a["attempt"], a["state"]) for a in attempts} == {
        (200, True, 1, "completed")
    }
    assert {a["url"] for a in attempts} == {one.url, two.url}
    assert all(a["elapsed"] >= 0 and a["error"] is None for a in attempts)
    assert len(sandbox.deliveries(key, url=one.url, event_id=events[0]["id"])) == 1
    assert sandbox.deliveries(sandbox.keys[1]) == []


def test_only_the_chosen_event_types_are_delivered(sandbox, receivers):
    receiver = receivers()
    key = sandbox.keys[0]
    subscribe(sandbox, [receiver.url], event_types=["invoice_settled"])
    customer = sandbox.create_customer(key)["handle"]
    invoice = sandbox.create_invoice(key, customer, amount=500, state="pending")
    sandbox.settle_invoice(key, invoice["handle"], amount=200)
    sandbox.settle_invoice(key, invoice["handle"])
    sandbox.cancel_subscription(key, next(iter(sandbox.account(key).subscriptions)))
    assert sandbox.wait_for_deliveries(10)
    assert [p["event_type"] for p in receiver.payloads()] == ["invoice_settled"] * 2
    assert len({p["transaction"] for p in receiver.payloads()}) == 2


def test_a_failing_webhook_is_retried_and_holds_back_only_its_customer(receivers):
    receiver = receivers()
    gate = threading.Event()
    failing = set()
    # Retries every 20 ms for a minute: longer than the bounded waits below.
    options = {"customers": 20, "rate_limit": False, "webhook_backoff": (0.02,) * 3000}
    with running_sandbox(**options) as sandbox:
        key = sandbox.keys[0]
        first, second = list(sandbox.account(key).customers)[:2]
        subscribe(sandbox, [receiver.url])
        receiver.answer = lambda p: (
            500 if p["event_id"] in failing and not gate.is_set() else 200
        )
        sandbox.pause_deliveries()
        a1 = sandbox.add_event(key, "customer_changed", first)
        failing.add(a1["id"])
        b1 = sandbox.add_event(key, "customer_changed", second)
        a2 = sandbox.add_event(key, "customer_changed", first)
        b2 = sandbox.add_event(key, "customer_changed", second)
        sandbox.resume_deliveries()
        # the other customer goes on while the first one's webhook fails
        until(
            lambda: {p["event_id"] for p in receiver.payloads()} == {b1["id"], b2["id"]}
        )
        until(lambda: len(sandbox.deliveries(key, event_id=a1["id"])) >= 3)
        assert a2["id"] not in {p["event_id"] for p in receiver.payloads(ok_only=False)}
        gate.set()
        assert sandbox.wait_for_deliveries(10)
        ok = [p["event_id"] for p in receiver.payloads()]
        assert [e for e in ok if e in (a1["id"], a2["id"])] == [a1["id"], a2["id"]]
        assert [e for e in ok if e in (b1["id"], b2["id"])] == [b1["id"], b2["id"]]
        assert Counter(ok) == Counter([a1["id"], a2["id"], b1["id"], b2["id"]])
        tries = sandbox.deliveries(key, event_id=a1["id"])
        assert [t["status"] for t in tries[:-1]] == [500] * (len(tries) - 1)
        assert [t["attempt"] for t in tries] == list(range(1, len(tries) + 1))
        assert {t["state"] for t in tries[:-1]} == {"retrying"}
        assert (tries[-1]["status"], tries[-1]["state"]) == (200, "completed")
        a2_try = sandbox.deliveries(key, event_id=a2["id"])
        assert len(a2_try) == 1 and a2_try[0]["ok"]
        signatures = {t["signature"] for t in tries}
        assert len(signatures) == 1, "a retry is the same webhook"


def test_refused_connections_and_timeouts_are_retried_then_given_up(receivers):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    dead = f"http://127.0.0.1:{probe.getsockname()[1]}/hook"
    probe.close()  # nothing listens there any more
    options = {"customers": 20, "rate_limit": False, "webhook_backoff": (0.01, 0.01)}
    with running_sandbox(**options) as sandbox:
        key = sandbox.keys[0]
        subscribe(sandbox, [dead])
        customer = sandbox.create_customer(key)["handle"]
        sandbox.update_customer(key, customer, city="Odense")
        assert sandbox.wait_for_deliveries(10)
        attempts = sandbox.deliveries(key)
        assert [a["state"] for a in attempts] == ["retrying", "retrying", "failed"] * 2
        assert {a["status"] for a in attempts} == {None}
        assert all(a["error"] for a in attempts)
        first = attempts[0]["event_id"]
        assert [a["event_id"] == first for a in attempts] == [True] * 3 + [False] * 3

        slow = receivers()
        seen = []
        slow.answer = lambda p: (
            seen.append(p["id"]) or (1.0 if len(seen) == 1 else 0),
            200,
        )
        sandbox.delivery.timeout = 0.2
        subscribe(sandbox, [slow.url])
        sandbox.update_customer(key, customer, city="Vejle")
        assert sandbox.wait_for_deliveries(10)
        timed_out, delivered = sandbox.deliveries(key, url=slow.url)
        assert timed_out["status"] is None and "timed out" in timed_out["error"]
        assert timed_out["elapsed"] >= 0.2 and timed_out["state"] == "retrying"
        assert (delivered["status"], delivered["state"]) == (200, "completed")


def test_nothing_is_delivered_when_disabled_or_without_urls(sandbox, receivers):
    receiver = receivers()
    key = sandbox.keys[0]
    subscribe(sandbox, [receiver.url], disabled=True)
    customer = sandbox.create_customer(key)["handle"]
    subscribe(sandbox, [], disabled=False)
    sandbox.update_customer(key, customer, city="Aalborg")
    assert sandbox.wait_for_deliveries(5)
    assert receiver.payloads(ok_only=False) == [] and sandbox.deliveries() == []
    subscribe(sandbox, [receiver.url])
    event = sandbox.add_event(key, "customer_changed", customer)
    assert sandbox.wait_for_deliveries(10)
    assert [p["event_id"] for p in receiver.payloads()] == [event["id"]]


def test_forged_signatures_fail_verification_and_a_new_secret_signs(sandbox, receivers):
    receiver = receivers()
    key = sandbox.keys[0]
    subscribe(sandbox, [receiver.url])
    old = secret_of(sandbox)
    sandbox.forge_signatures(1)
    customer = sandbox.create_customer(key)["handle"]
    sandbox.update_customer(key, customer, city="Roskilde")
    assert sandbox.wait_for_deliveries(10)
    forged, honest = receiver.payloads()
    assert not valid(old, forged)
    assert valid(old, honest)
    assert [a["forged"] for a in sandbox.deliveries(key)] == [True, False]

    status, settings = call(sandbox, "account/webhook_settings/secret", method="POST")
    assert status == 200 and settings["secret"] not in (old, None)
    assert secret_of(sandbox) == settings["secret"]
    sandbox.update_customer(key, customer, city="Esbjerg")
    assert sandbox.wait_for_deliveries(10)
    latest = receiver.payloads()[-1]
    assert valid(settings["secret"], latest) and not valid(old, latest)
    assert call(sandbox, "account/webhook_settings/secret")[0] == 405


def test_replay_delivers_the_same_webhook_again(sandbox, receivers):
    receiver = receivers()
    key = sandbox.keys[0]
    subscribe(sandbox, [receiver.url])
    customer = sandbox.create_customer(key)["handle"]
    assert sandbox.wait_for_deliveries(10)
    assert sandbox.replay(key) == [receiver.payloads()[0]["id"]]
    assert sandbox.wait_for_deliveries(10)
    first, again = receiver.payloads()
    assert first == again and first["customer"] == customer
    assert [a["replay"] for a in sandbox.deliveries(key)] == [False, True]
    with pytest.raises(KeyError):
        sandbox.replay(key, event_id="0" * 32)
    with pytest.raises(KeyError):
        sandbox.replay(sandbox.keys[1])


def test_a_burst_of_a_thousand_is_delivered_exactly_once_in_order(sandbox, receivers):
    receiver = receivers()
    key = sandbox.keys[0]
    subscribe(sandbox, [receiver.url])
    customers = list(sandbox.account(key).customers)[:4]
    events = sandbox.burst(key, 1000, event_type="customer_changed", customer=customers)
    assert len(events) == 1000
    assert sandbox.account(key).events[-1000:] == events
    assert sandbox.wait_for_deliveries(120)
    payloads = receiver.payloads(ok_only=False)
    counts = Counter(p["event_id"] for p in payloads)
    assert len(counts) == 1000 and set(counts.values()) == {1}
    assert set(counts) == {e["id"] for e in events}
    arrived, appended = defaultdict(list), defaultdict(list)
    for payload in payloads:
        arrived[payload["customer"]].append(payload["event_id"])
    for event in events:
        appended[event["customer"]].append(event["id"])
    assert arrived == appended
    assert len(sandbox.deliveries(key)) == 1000
    assert all(a["ok"] for a in sandbox.deliveries(key))
    single = sandbox.burst(key, 3)
    assert {e["customer"] for e in single} == {customers[0]}
    assert sandbox.wait_for_deliveries(10)


def test_pause_holds_deliveries_until_resumed(sandbox, receivers):
    receiver = receivers()
    key = sandbox.keys[0]
    subscribe(sandbox, [receiver.url])
    sandbox.pause_deliveries()
    sandbox.create_customer(key)
    assert not sandbox.wait_for_deliveries(0.2)
    assert receiver.payloads(ok_only=False) == []
    sandbox.resume_deliveries()
    assert sandbox.wait_for_deliveries(10)
    assert len(receiver.payloads()) == 1


def test_webhook_settings_put_merges_and_validates(sandbox):
    full = subscribe(
        sandbox,
        ["https://odoo.example/hook"],
        username="odoo",
        password="pw",
        event_types=["customer_created"],
        alert_emails=["ops@example.com"],
        alert_count=4,
    )
    assert (full["username"], full["alert_count"]) == ("odoo", 4)
    merged = subscribe(
        sandbox, ["https://other.example/hook", "https://odoo.example/hook"]
    )
    assert merged["urls"] == ["https://other.example/hook", "https://odoo.example/hook"]
    assert (merged["username"], merged["event_types"], merged["alert_count"]) == (
        "odoo",
        ["customer_created"],
        4,
    )
    for body in (
        {"urls": ["ftp://odoo.example/hook"]},
        {"urls": ["not a url"]},
        {"urls": [], "alert_count": 3},
        {"urls": [], "alert_count": True},
        {"urls": [], "disabled": "yes"},
        {"urls": [], "event_types": [1]},
    ):
        status, error = call(
            sandbox, "account/webhook_settings", method="PUT", body=body
        )
        assert (status, error["code"]) == (400, 3), body
    status, error = call(sandbox, "account/webhook_settings", method="PUT", body={})
    assert (status, error["code"]) == (400, 1)
    assert call(sandbox, "account/webhook_settings")[1] == merged
