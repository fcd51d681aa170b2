"""The client against the bundled sandbox, over real HTTP on 127.0.0.1."""

import contextlib
import logging
import socket
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest import mock
from urllib.parse import parse_qs

import pytest
import requests

from client import errors
from client.api_key import InvalidApiKey
from client.http_client import EARLIEST_FROM, BillwerkClient
from client.retry import Pacer, RetryPolicy
from sandbox.server import running_sandbox

LATE = "2100-01-01"  # after all the data, whatever day the sandbox ends on
FAST_RETRIES = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, budget=5)


@pytest.fixture(scope="module")
def sandbox():
    with running_sandbox(seed=3, customers=10_000, plans=6, invoices=300) as server:
        yield server


@pytest.fixture(autouse=True)
def clean_sandbox(sandbox):
    # The real rate limit is on only where a test is about it: fast test
    # clients (pacer at 1000/s) would otherwise be slowed by retried 429s.
    sandbox.reset()
    sandbox.limits.enabled = False
    yield
    sandbox.reset()


def make_client(sandbox, key=None, **options):
    options.setdefault("retry_policy", FAST_RETRIES)
    options.setdefault("pacer", Pacer(rate=1000, burst=1000))
    return BillwerkClient(key or sandbox.keys[0], sandbox.url, **options)


def list_queries(sandbox, entity):
    return [
        parse_qs(query)
        for _method, path, query in sandbox.request_log
        if path == f"/v1/list/{entity}"
    ]


def test_account_names_the_account_of_the_key(sandbox):
    with make_client(sandbox, sandbox.keys[1]) as client:
        info = client.account()
    truth = sandbox.account(sandbox.keys[1])
    assert info["id"] == truth.id
    assert info["name"] == truth.name
    assert info["state"] in ("test", "live")


def test_paging_ten_thousand_customers_returns_each_exactly_once(sandbox):
    # The default pacer (20/s) must keep 100 pages under the sandbox's real limit.
    sandbox.limits.enabled = True
    with BillwerkClient(sandbox.keys[0], sandbox.url) as client:
        handles = [
            customer["handle"]
            for page in client.iter_list("customer")
            for customer in page.content
        ]
    assert len(handles) == 10_000
    assert len(set(handles)) == 10_000
    assert set(handles) == set(sandbox.account(sandbox.keys[0]).customers)
    assert sandbox.count("/v1/list/customer") == 100  # no 429, so no retry


def test_every_page_sends_an_explicit_from_and_unchanged_parameters(sandbox):
    with make_client(sandbox) as client:
        pages = list(client.iter_list("customer", date_to=LATE))
    queries = list_queries(sandbox, "customer")
    assert len(queries) == len(pages) > 1
    for query in queries:
        assert query["from"] == [EARLIEST_FROM]
        assert query["size"] == ["100"]
        assert query["to"] == [LATE]
    assert "next_page_token" not in queries[0]
    assert all("next_page_token" in query for query in queries[1:])


def test_a_read_resumes_from_a_saved_page_token(sandbox):
    with make_client(sandbox) as client:
        pages = client.iter_list("customer", date_to=LATE)
        first = next(pages)
        seen = {c["handle"] for c in first.content}
        resumed = client.iter_list(
            "customer", date_to=LATE, page_token=first.next_page_token
        )
        for page in resumed:
            seen.update(c["handle"] for c in page.content)
    assert len(seen) == 10_000


def test_filters_and_settled_range_are_passed_through(sandbox):
    with make_client(sandbox) as client:
        settled = [
            invoice
            for page in client.iter_list("invoice", range="settled", state="settled")
            for invoice in page.content
        ]
    assert settled
    assert all(invoice["state"] == "settled" for invoice in settled)
    assert list_queries(sandbox, "invoice")[0]["range"] == ["settled"]


def test_single_reads_by_handle_and_invoice_id(sandbox):
    truth = sandbox.account(sandbox.keys[0])
    invoice = next(iter(truth.invoices.values()))
    plan_handle = next(iter(truth.plans))
    with make_client(sandbox) as client:
        assert client.get("customer", "cust-00001")["handle"] == "cust-00001"
        assert client.get("invoice", invoice["id"])["handle"] == invoice["handle"]
        assert client.get("invoice", invoice["handle"])["id"] == invoice["id"]
        assert client.get("plan", plan_handle)["handle"] == plan_handle


def test_event_log_page(sandbox):
    key = sandbox.keys[1]
    sandbox.create_customer(key, handle="cust-event-1", email="ev@example.com")
    with make_client(sandbox, key) as client:
        events = client.events(page=1, size=10)
    assert events["content"][0]["event_type"] == "customer_created"
    assert events["content"][0]["customer"] == "cust-event-1"


def test_wrong_key_raises_key_rejected_with_status_and_request_id(sandbox):
    wrong = "priv_" + "0" * 32
    with make_client(sandbox, wrong) as client, pytest.raises(errors.KeyRejected) as e:
        client.account()
    assert e.value.status == 401
    assert e.value.request_id
    assert wrong not in str(e.value)
    assert sandbox.count("/v1/account") == 1  # a rejected key is never retried


def test_a_key_without_the_scope_raises_key_rejected(sandbox):
    # The sandbox has no scoped keys: its fault switch answers 403 instead.
    sandbox.faults.fail_next(count=1, status=403, prefix="list/invoice")
    with make_client(sandbox) as client, pytest.raises(errors.KeyRejected) as e:
        next(client.iter_list("invoice"))
    assert e.value.status == 403


def test_unknown_object_raises_not_found(sandbox):
    with make_client(sandbox) as client, pytest.raises(errors.NotFound) as e:
        client.get("subscription", "no-such-subscription")
    assert e.value.status == 404


def test_bad_parameters_raise_request_rejected_without_retry(sandbox):
    with make_client(sandbox) as client, pytest.raises(errors.RequestRejected) as e:
        next(client.iter_list("customer", size=5))
    assert e.value.status == 400
    assert sandbox.count("/v1/list/customer") == 1


def test_rate_limit_then_success_is_retried(sandbox):
    sandbox.faults.rate_limit_every(2, prefix="account")
    with make_client(sandbox) as client:
        assert client.account()["id"]
        assert client.account()["id"]  # the 2nd call is limited, its retry passes
    assert sandbox.count("/v1/account") == 3


def test_exhausted_rate_limit_budget_raises_rate_limited(sandbox):
    sandbox.faults.rate_limit_every(1, prefix="account")
    with make_client(sandbox) as client, pytest.raises(errors.RateLimited) as e:
        client.account()
    assert e.value.status == 429
    assert e.value.code == 122
    assert sandbox.count("/v1/account") == FAST_RETRIES.max_attempts


def test_retry_after_header_is_honoured(sandbox):
    sandbox.limits.enabled = True
    sandbox.limits.get_rate, sandbox.limits.get_burst = 1.0, 1
    sandbox.limits.retry_after = 1
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        time.sleep(seconds)

    try:
        policy = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=5, budget=10)
        with make_client(sandbox, sleep=sleep, retry_policy=policy) as client:
            client.account()
            client.account()
    finally:
        sandbox.limits.get_rate, sandbox.limits.get_burst = 25.0, 50
        sandbox.limits.retry_after = None
    assert slept == [1.0]


def test_server_errors_are_retried_then_raised(sandbox):
    sandbox.faults.fail_next(count=2, status=503, prefix="account")
    with make_client(sandbox) as client:
        assert client.account()["id"]
    sandbox.faults.fail_next(count=10, status=502, prefix="account")
    with make_client(sandbox) as client, pytest.raises(errors.ServerError) as e:
        client.account()
    assert e.value.status == 502


def test_dropped_connections_are_retried_then_raised(sandbox):
    sandbox.faults.drop_next(count=1, prefix="account")
    with make_client(sandbox) as client:
        assert client.account()["id"]
    sandbox.faults.drop_next(count=10, prefix="account")
    with make_client(sandbox) as client, pytest.raises(errors.NetworkError):
        client.account()


def test_a_slow_answer_times_out_as_a_network_error(sandbox):
    sandbox.faults.slow(1.0, prefix="account")
    client = make_client(sandbox, timeout=(1.0, 0.2))
    with client, pytest.raises(errors.NetworkError):
        client.account()


def test_nothing_listens_is_a_network_error():
    with socket_closed_port() as url:
        client = BillwerkClient("priv_x" * 3, url, retry_policy=FAST_RETRIES)
        with pytest.raises(errors.NetworkError):
            client.account()


def test_broken_json_raises_malformed_response(sandbox):
    sandbox.faults.broken_json_next(count=1, prefix="account")
    with make_client(sandbox) as client, pytest.raises(errors.MalformedResponse):
        client.account()


def test_a_list_answer_without_content_is_malformed():
    # The sandbox always sends an envelope; a proxy that does not is simulated.
    answer = make_client_for_static_answer('{"size": 100}')
    with answer as client, pytest.raises(errors.MalformedResponse):
        next(client.iter_list("plan"))


def put_webhook_settings(sandbox, key, **settings):
    requests.put(
        sandbox.url + "account/webhook_settings",
        json=settings,
        auth=(key, ""),
        timeout=5,
    ).raise_for_status()


def test_webhook_url_is_merged_not_overwritten(sandbox):
    key = sandbox.keys[1]
    ours = "https://odoo.example/billwerk/webhook/t1"
    put_webhook_settings(
        sandbox, key, urls=["https://other.example/hook"], disabled=False
    )
    with make_client(sandbox, key) as client:
        client.update_webhook_urls(add=ours)
        puts = sandbox.count("account/webhook_settings", method="PUT")
        settings = client.update_webhook_urls(add=ours)
        assert sandbox.count("account/webhook_settings", method="PUT") == puts, (
            "nothing changed, nothing sent"
        )
    assert settings["urls"] == ["https://other.example/hook", ours]
    assert settings["secret"]


def test_our_url_is_replaced_and_removed_others_stay(sandbox):
    key = sandbox.keys[1]
    old, new = (f"https://odoo.example/billwerk/webhook/{t}" for t in ("a", "b"))
    put_webhook_settings(
        sandbox, key, urls=["https://one.example/", old, "https://two.example/"]
    )
    with make_client(sandbox, key) as client:
        replaced = client.update_webhook_urls(add=new, remove=[old])
        removed = client.update_webhook_urls(remove=[new])
    assert replaced["urls"] == ["https://one.example/", "https://two.example/", new]
    assert removed["urls"] == ["https://one.example/", "https://two.example/"]


def test_event_types_of_other_integrations_are_kept(sandbox):
    key = sandbox.keys[1]
    put_webhook_settings(sandbox, key, urls=[], event_types=["x_theirs"])
    with make_client(sandbox, key) as client:
        settings = client.update_webhook_urls(
            add="https://odoo.example/h", event_types=["invoice_settled", "x_theirs"]
        )
        assert settings["event_types"] == ["x_theirs", "invoice_settled"]
        # An empty list means every type: it stays empty (all), not narrowed.
        put_webhook_settings(sandbox, key, urls=[], event_types=[])
        settings = client.update_webhook_urls(
            add="https://odoo.example/h", event_types=["invoice_settled"]
        )
    assert settings["event_types"] == []


def test_the_key_never_reaches_logs_or_errors(sandbox, caplog):
    key = sandbox.keys[0]
    caplog.set_level(logging.DEBUG)
    texts = []
    for switch in (
        lambda: sandbox.faults.rate_limit_every(1, prefix="account"),
        lambda: sandbox.faults.fail_next(count=9, status=500, prefix="account"),
        lambda: sandbox.faults.drop_next(count=9, prefix="account"),
        lambda: sandbox.faults.broken_json_next(count=1, prefix="account"),
    ):
        sandbox.faults.reset()
        switch()
        with make_client(sandbox, key) as client:
            texts.append(repr(client))
            with pytest.raises(errors.BillwerkError) as e:
                client.account()
            texts += [str(e.value), repr(e.value)]
    assert caplog.records  # retries were logged
    assert key not in caplog.text
    assert not [text for text in texts if key in text]


# -- what the transport raises -------------------------------------------------
def full_text(error):
    """Everything a log or a traceback could show of ``error``, chain included."""
    return str(error) + repr(error) + "".join(traceback.format_exception(error))


@pytest.mark.parametrize(
    "url",
    [
        "ftp://user:secret@127.0.0.1/v1/",  # InvalidSchema
        "127.0.0.1/v1/",  # MissingSchema
        "http://user:secret@[::1/v1/",  # InvalidURL
        "http://127.0.0.1:99999/v1/",  # InvalidURL
        "http://user:secret@a..b/v1/",  # urllib3's LocationParseError, not requests'
    ],
)
def test_a_url_that_cannot_be_requested_raises_invalid_url_at_once(url):
    slept = []
    client = BillwerkClient("priv_x" * 3, url, sleep=slept.append)
    with client, pytest.raises(errors.InvalidUrl) as e:
        client.account()
    assert "secret" not in full_text(e.value)
    assert not slept  # not retried


@pytest.mark.parametrize(
    ("raised", "expected", "retried"),
    [
        (requests.exceptions.ChunkedEncodingError, errors.NetworkError, True),
        (requests.exceptions.TooManyRedirects, errors.UnexpectedRedirect, False),
        (requests.exceptions.ContentDecodingError, errors.MalformedResponse, False),
        (UnicodeError, errors.InvalidUrl, False),  # e.g. a host name IDNA refuses
        (requests.exceptions.InvalidHeader, errors.BillwerkError, False),
        (requests.exceptions.RetryError, errors.BillwerkError, False),
        (requests.RequestException, errors.BillwerkError, False),
    ],
)
def test_every_transport_exception_becomes_a_typed_error(raised, expected, retried):
    # The sandbox cannot provoke these, so the session raises them directly.
    failure = raised("failed for http://user:secret@127.0.0.1:9/v1/account")
    url = "http://127.0.0.1:9/v1/"
    client = BillwerkClient("priv_x" * 3, url, retry_policy=FAST_RETRIES)
    raising = mock.patch.object(requests.Session, "request", side_effect=failure)
    with raising as sent, client, pytest.raises(errors.BillwerkError) as e:
        client.account()
    assert type(e.value) is expected
    assert sent.call_count == (FAST_RETRIES.max_attempts if retried else 1)
    assert "secret" not in full_text(e.value)


@pytest.mark.parametrize(
    ("status", "location"),
    [
        (302, "/v1/account"),  # to itself: requests would loop until it gives up
        (301, "/elsewhere/v1/account"),  # to a path that would answer 200
    ],
)
def test_a_redirect_raises_unexpected_redirect_without_following_it(status, location):
    def answer(path):
        if path.startswith("/elsewhere/"):
            return 200, {"Content-Type": "application/json"}, b'{"id": "acc"}'
        return status, {"Location": location}, b"<html>moved</html>"

    with tiny_server(answer) as (root, seen):
        client = BillwerkClient("priv_x" * 3, root + "v1/", retry_policy=FAST_RETRIES)
        with client, pytest.raises(errors.UnexpectedRedirect) as e:
            client.account()
    assert seen == ["/v1/account"]
    assert e.value.status == status
    assert "redirect" in str(e.value)
    assert location not in str(e.value)


def test_no_error_or_repr_shows_the_urls_user_name_or_password():
    with socket_closed_port() as url:
        secret_url = url.replace("http://", "http://user:secret@")
        client = BillwerkClient("priv_x" * 3, secret_url, retry_policy=FAST_RETRIES)
        with client, pytest.raises(errors.NetworkError) as e:
            client.account()
    assert client.display_url == url
    for text in (full_text(e.value), repr(client)):
        assert "secret" not in text
        assert "user:" not in text


@pytest.mark.parametrize(
    ("base_url", "shown"),
    [
        ("https://api.reepay.com/v1", "https://api.reepay.com/v1/"),
        (
            "https://u:p@proxy.example:8443/billwerk/v1/",
            "https://proxy.example:8443/billwerk/v1/",
        ),
        ("http://u:p@ss@[::1]:8080/v1/", "http://[::1]:8080/v1/"),
        ("u:p@proxy.example/v1/", "proxy.example/v1/"),  # no scheme
        ("https://api.example/v1/?token=t0ps3cret#f", "https://api.example/v1/"),
        ("http://[::1/v1/", "http://[::1/v1/"),  # broken, but nothing to hide
    ],
)
def test_display_url_drops_user_info_query_and_fragment(base_url, shown):
    with BillwerkClient("priv_x" * 3, base_url) as client:
        assert client.display_url == shown


@pytest.mark.parametrize("key", ["priv_0123456789abcdef€", "priv_0123456789abcdef😀"])
def test_a_key_outside_ascii_is_refused_before_any_request(sandbox, key):
    with pytest.raises(InvalidApiKey) as refused:
        BillwerkClient(key, sandbox.url)
    assert refused.value.reason == "not_ascii"
    assert key not in str(refused.value)
    assert sandbox.count("/") == 0


# -- helpers ---------------------------------------------------------------------
class socket_closed_port:
    """A loopback URL where nothing listens."""

    def __enter__(self):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        return f"http://127.0.0.1:{port}/v1/"

    def __exit__(self, *exc_info):
        return False


@contextlib.contextmanager
def tiny_server(answer):
    """A loopback server that answers every GET with ``answer(path)``.

    ``answer`` returns ``(status, headers, body)``; yields the server's root URL
    and the list of paths requested, to count what really reached it.
    """
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.path)
            status, headers, body = answer(self.path)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", seen
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def make_client_for_static_answer(body):
    """A client facing a tiny server that answers every GET with ``body``."""
    headers = {"Content-Type": "application/json"}
    with tiny_server(lambda path: (200, headers, body.encode())) as (root, _seen):
        url = root + "v1/"
        with BillwerkClient(
            "priv_static_key", url, retry_policy=FAST_RETRIES
        ) as client:
            yield client
