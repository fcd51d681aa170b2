"""A local HTTP server that answers like the Billwerk+ Optimize API (``/v1/...``).

It serves generated accounts (see ``data``), enforces the documented rate limits,
can inject faults (see ``faults``) and offers mutation methods so tests can change
the truth, append events and send signed webhooks.
"""

import base64
import contextlib
import copy
import hashlib
import hmac
import json
import socket
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
import uuid
from bisect import bisect_left
from collections import Counter
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from .data import (
    DEFAULT_ANCHOR,
    ENTITIES,
    INVOICE_STATES,
    INVOICE_TYPES,
    PLAN_STATES,
    SUBSCRIPTION_STATES,
    UTC,
    account_template,
    add_months,
    digest,
    fmt_ts,
    generate_account,
    invoice_totals,
    order_line,
    parse_iso,
    period_start,
    set_invoice_state,
    words,
)
from .faults import Faults
from .limits import Limiter, LimitExceeded, RateLimits

# Error kinds -> (HTTP status, error code, error text). Only 122/123 are documented
# codes of the real API; the others are this sandbox's own, stable numbering.
ERRORS = {
    "invalid_request": (400, 1, "Invalid request"),
    "internal_error": (500, 2, "Internal error"),
    "invalid_parameter": (400, 3, "Invalid parameter(s)"),
    "not_found": (404, 4, "Not found"),
    "unauthorized": (401, 5, "Unauthorized"),
    "method_not_allowed": (405, 6, "Method not allowed"),
    "rate_limit": (429, 122, "Rate limit exceeded"),
    "concurrency_limit": (429, 123, "Too many concurrent requests"),
}
LIST_RANGES = {
    "plan": ("created",),
    "subscription": ("created",),
    "customer": ("created",),
    "invoice": ("created", "settled"),
}
FIELDS = {
    "customer": words(
        "handle email first_name last_name company address address2 postal_code city"
        " country phone vat debtor_id created deleted active_subscriptions test"
    ),
    "subscription": words(
        "handle customer plan plan_version state is_cancelled expires amount quantity"
        " currency created activated start_date end_date current_period_start"
        " next_period_start in_trial trial_end expired_date expire_reason"
    ),
    "invoice": words(
        "id handle customer subscription plan state type amount amount_vat"
        " amount_ex_vat settled_amount refunded_amount currency number created due"
        " settled period_from period_to order_lines"
    ),
    "plan": words(
        "handle version name description amount currency state created deleted vat"
        " schedule_type interval_length"
    ),
}
TIMESTAMP_FIELDS = frozenset(
    words(
        "created deleted expires activated start_date end_date current_period_start"
        " next_period_start trial_end expired_date due settled period_from"
        " period_to"
    )
)
WEBHOOK_SETTABLE = {
    "urls": list,
    "username": str,
    "password": str,
    "disabled": bool,
    "event_types": list,
    "alert_emails": list,
}
MULTI_PARAMS = {"state", "exclude_state", "type", "event_type"}
ADMIN_PREFIX = "/_sandbox/"
BROKEN_BODY = b'{"size": 20, "count": 20, "content": [{"handle": "cust-0'


class ApiError(Exception):
    """An error answer: ``kind`` selects status and code, ``message`` explains."""

    def __init__(self, kind, message, status=None, error=None):
        super().__init__(message)
        default_status, self.code, default_error = ERRORS[kind]
        self.status = status or default_status
        self.error = error or default_error
        self.message = message
        self.headers = {}


class Clock:
    """Server time: wall-clock time, but never earlier than the data's anchor."""

    def __init__(self, anchor):
        self._lock = threading.Lock()
        self._base = max(datetime.now(UTC), anchor)
        self._started = time.monotonic()
        self._frozen = False

    def now(self):
        with self._lock:
            if self._frozen:
                return self._base
            elapsed = time.monotonic() - self._started
            return self._base + timedelta(seconds=elapsed)

    def set(self, when, frozen=False):
        """Jump to ``when`` (aware datetime); ``frozen`` stops the clock there."""
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        with self._lock:
            self._base, self._started, self._frozen = when, time.monotonic(), frozen

    def advance(self, seconds):
        """Move the clock forward, e.g. to pass a period boundary."""
        with self._lock:
            self._base += timedelta(seconds=seconds)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Turns one HTTP request into a call on the ``SandboxServer``."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    wbufsize = -1  # headers and body leave in one write
    server_version = "billwerk-sandbox"
    sys_version = ""
    timeout = 60

    def version_string(self):
        return self.server_version

    def do_GET(self):
        self._dispatch()

    do_PUT = do_POST = do_DELETE = do_PATCH = do_GET

    def log_message(self, format, *args):
        if self.server.sandbox.verbose:
            return super().log_message(format, *args)
        return None

    def _dispatch(self):
        sandbox = self.server.sandbox
        request_id = uuid.uuid4().hex
        split = urlsplit(self.path)
        path = split.path
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        if path.startswith(ADMIN_PREFIX):
            self._admin(sandbox, path, split.query, request_id)
            return
        sandbox._log_request(self.command, path, split.query)
        fault = sandbox.faults.decide(path)
        if fault.action == "drop":
            self.close_connection = True
            with contextlib.suppress(OSError):  # the client may be gone already
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        # A request counts as in flight until its answer is written.
        with contextlib.ExitStack() as in_flight:
            try:
                account = sandbox._authenticate(self.headers.get("Authorization"))
                in_flight.enter_context(
                    sandbox._limiter.enter(account.key, self.command)
                )
                status, data = self._answer(sandbox, account, fault, split, body)
            except LimitExceeded as exc:
                self._send_error(_limit_error(exc), path, request_id)
                return
            except ApiError as exc:
                self._send_error(exc, path, request_id)
                return
            except Exception as exc:  # noqa: BLE001 - answer like a server, then report
                sandbox._report(exc)
                self._send_error(ApiError("internal_error", str(exc)), path, request_id)
                return
            self._send(status, data, request_id)

    def _answer(self, sandbox, account, fault, split, body):
        """(status, body bytes) of an admitted request, faults applied."""
        if fault.delay:
            sandbox._stopping.wait(fault.delay)
        if fault.action == "error":
            raise ApiError(
                "internal_error",
                "Injected server error",
                status=fault.status,
                error=_reason(fault.status),
            )
        if fault.action == "rate_limit":
            raise _limit_error(
                sandbox._limiter.error("rate_limit", "Injected rate limit", account.key)
            )
        if fault.action == "broken_json":
            return 200, BROKEN_BODY
        with account.lock:
            status, payload = sandbox._route(
                account, self.command, split.path, split.query, body
            )
            if fault.action == "corrupt":
                payload = fault.mutate(copy.deepcopy(payload))
            return status, json.dumps(payload).encode()

    def _admin(self, sandbox, path, query, request_id):
        """The sandbox's own endpoints, for a test or benchmark in another
        process: ``GET /_sandbox/stats[?prefix=/v1/list/]`` (requests served
        and answers by status) and ``POST /_sandbox/clear_log``."""
        # Not logged nor counted: they are about the API's requests.
        if path == ADMIN_PREFIX + "stats" and self.command == "GET":
            prefix = _single(_parse_params(query), "prefix", "/")
            self._write(200, json.dumps(sandbox.stats(prefix)).encode(), request_id)
        elif path == ADMIN_PREFIX + "clear_log" and self.command == "POST":
            sandbox.clear_log()
            self._write(200, b"{}", request_id)
        else:
            self._write(404, b'{"error": "Not found"}', request_id)

    def _send_error(self, exc, path, request_id):
        reason = _reason(exc.status)
        payload = {
            "code": exc.code,
            "error": exc.error,
            "message": exc.message,
            "http_status": exc.status,
            "http_reason": reason,
            "path": path,
            "timestamp": fmt_ts(self.server.sandbox.clock.now()),
            "request_id": request_id,
        }
        self._send(exc.status, json.dumps(payload).encode(), request_id, exc.headers)

    def _send(self, status, data, request_id, headers=None):
        self.server.sandbox._log_status(status)
        self._write(status, data, request_id, headers)

    def _write(self, status, data, request_id, headers=None):
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", request_id)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _limit_error(exc):
    """The 429 answer for a request over the limits."""
    error = ApiError(exc.kind, exc.message)
    error.headers.update(exc.headers)
    return error


def _reason(status):
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _multi(values):
    """Values of a repeatable parameter; comma-separated lists are split too."""
    return [part for value in values for part in value.split(",") if part]


def _parse_params(query):
    """Query string -> {name: [values]}, with ``state[]`` merged into ``state``."""
    params = {}
    for name, values in parse_qs(query, keep_blank_values=True).items():
        name = name.removesuffix("[]")
        values = [value for value in values if value != ""]
        if values:
            params.setdefault(name, []).extend(values)
    for name in MULTI_PARAMS & params.keys():
        params[name] = _multi(params[name])
    return params


def _single(params, name, default=None):
    values = params.get(name)
    return values[-1] if values else default


def _int_param(params, name, default, low, high):
    raw = _single(params, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError("invalid_parameter", f"{name} must be an integer") from None
    if not low <= value <= high:
        raise ApiError("invalid_parameter", f"{name} must be between {low} and {high}")
    return value


def _parse_when(raw, tz, name):
    """A ``from``/``to`` value: a date or date-time, naive ones in the account zone."""
    raw = raw.strip().replace(" ", "+")
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            return datetime(day.year, day.month, day.day, tzinfo=tz)
        value = parse_iso(raw)
    except ValueError:
        raise ApiError("invalid_parameter", f"Invalid {name}: {raw!r}") from None
    return value.replace(tzinfo=tz) if value.tzinfo is None else value


def _norm_ts(value):
    """A datetime or ISO string for a timestamp field, stored as fixed-width UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = parse_iso(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return fmt_ts(value)


class SandboxServer:
    """Generated accounts behind a local Billwerk+ Optimize API.

    ``accounts`` may be None (two accounts: the first with the given sizes, the
    second smaller), an int (that many accounts) or a list of dicts overriding an
    account's profile (name, currency, timezone, ...) and sizes (customers, plans,
    subscriptions, invoices).
    """

    def __init__(
        self,
        *,
        seed=1,
        customers=200,
        plans=8,
        subscriptions=None,
        invoices=None,
        accounts=None,
        anchor=DEFAULT_ANCHOR,
        events=True,
        host="127.0.0.1",
        port=0,
        rate_limit=True,
        retry_after=None,
        verbose=False,
    ):
        if anchor.tzinfo is None:
            anchor = anchor.replace(tzinfo=UTC)
        self.seed = seed
        self.anchor = anchor
        self.host = host
        self.port = port
        self.verbose = verbose
        self.faults = Faults()
        self.limits = RateLimits(enabled=rate_limit, retry_after=retry_after)
        self.clock = Clock(anchor)
        self.request_log = []
        self.request_counts = Counter()
        self.status_counts = Counter()
        self.webhooks_sent = []
        self._log_lock = threading.Lock()
        self._limiter = Limiter(self.limits)
        self._stopping = threading.Event()
        self._indexes = {}
        self._token_secret = digest("page-token", seed).encode()
        self._httpd = None
        self._thread = None
        sizes = {
            "customers": customers,
            "plans": plans,
            "subscriptions": subscriptions,
            "invoices": invoices,
        }
        if accounts is None:
            accounts = 2
        if isinstance(accounts, int):
            accounts = [{} for _ in range(accounts)]
        self.accounts = []
        for index, overrides in enumerate(accounts):
            template = account_template(index)
            scale = template.get("scale", 1.0) if index else 1.0
            wanted = {
                name: (None if value is None else round(value * scale) or min(value, 1))
                for name, value in sizes.items()
            }
            if index and plans:
                wanted["plans"] = max(3, plans // 2)
            for name in list(overrides):
                if name in sizes:
                    wanted[name] = overrides[name]
                else:
                    template[name] = overrides[name]
            wanted = {
                name: value for name, value in wanted.items() if value is not None
            }
            self.accounts.append(
                generate_account(
                    seed, index, template, anchor=anchor, events=events, **wanted
                )
            )
        self._by_key = {account.key: account for account in self.accounts}

    # running ---------------------------------------------------------------

    @property
    def keys(self):
        """The private keys, one per account, in account order."""
        return [account.key for account in self.accounts]

    @property
    def base_url(self):
        return f"http://{self.host}:{self.port}"

    @property
    def url(self):
        """The API base URL a client configures, ending in ``/v1/``."""
        return f"{self.base_url}/v1/"

    def start(self):
        """Bind and serve in a daemon thread; returns self."""
        self._httpd = _HTTPServer((self.host, self.port), _Handler)
        self._httpd.sandbox = self
        self.port = self._httpd.server_address[1]
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="billwerk-sandbox",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self):
        """Stop serving and release the port; sleeping (slow) answers are woken."""
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)
            self._httpd = self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    # inspection ------------------------------------------------------------

    def account(self, ref):
        """The account for a private key (or an account handle or id)."""
        if ref in self._by_key:
            return self._by_key[ref]
        for account in self.accounts:
            if ref in (account.handle, account.id):
                return account
        raise KeyError(f"No account {ref!r}")

    def count(self, prefix="/", method=None):
        """Requests served whose path starts with ``prefix`` (optionally by method)."""
        if not prefix.startswith("/"):
            prefix = "/v1/" + prefix
        with self._log_lock:
            return sum(
                1
                for verb, path, _query in self.request_log
                if path.startswith(prefix) and method in (None, verb)
            )

    def clear_log(self):
        """Forget the request log and the counters."""
        with self._log_lock:
            self.request_log.clear()
            self.request_counts.clear()
            self.status_counts.clear()

    def reset(self):
        """Faults off, request log and rate-limit buckets cleared."""
        self.faults.reset()
        self.clear_log()
        self._limiter.reset()

    def stats(self, prefix="/"):
        """Requests served under ``prefix`` and answers by status, since the
        last ``clear_log`` (what ``GET /_sandbox/stats`` answers)."""
        with self._log_lock:
            statuses = {str(code): n for code, n in sorted(self.status_counts.items())}
        refused = Counter()
        for (_key, kind), number in list(self._limiter.refused.items()):
            refused[kind] += number
        return {
            "requests": self.count(prefix),
            "statuses": statuses,
            "refused": dict(refused),
        }

    def _log_status(self, status):
        with self._log_lock:
            self.status_counts[status] += 1

    def _log_request(self, method, path, query):
        with self._log_lock:
            self.request_log.append((method, path, query))
            self.request_counts[path] += 1

    def _report(self, exc):
        traceback.print_exception(exc, file=sys.stderr)

    # request handling ------------------------------------------------------

    def _authenticate(self, header):
        if not header or not header.startswith("Basic "):
            raise ApiError("unauthorized", "Missing HTTP Basic authentication")
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
        except ValueError:
            raise ApiError("unauthorized", "Malformed Authorization header") from None
        key, _sep, password = decoded.partition(":")
        account = self._by_key.get(key)
        if account is None or password:
            raise ApiError("unauthorized", "Unknown or invalid private key")
        return account

    def _route(self, account, method, path, query, body):
        parts = [unquote(part) for part in path.strip("/").split("/")]
        if not parts or parts[0] != "v1":
            raise ApiError("not_found", f"No such path: {path}")
        parts = parts[1:]
        params = _parse_params(query)
        routes = self._match(parts)
        if routes is None:
            raise ApiError("not_found", f"No such path: {path}")
        handler = routes.get(method)
        if handler is None:
            exc = ApiError("method_not_allowed", f"{method} is not allowed on {path}")
            exc.headers["Allow"] = ", ".join(sorted(routes))
            raise exc
        return handler(account, parts, params, body)

    def _match(self, parts):
        """Allowed methods -> handler for a path, or None if the path is unknown."""
        get = {}
        if parts == ["account"]:
            get = {"GET": lambda a, p, q, b: (200, a.info())}
        elif parts == ["account", "webhook_settings"]:
            get = {
                "GET": lambda a, p, q, b: (200, dict(a.webhook_settings)),
                "PUT": self._put_webhook_settings,
            }
        elif len(parts) == 2 and parts[0] == "list" and parts[1] in ENTITIES:
            get = {"GET": self._list}
        elif len(parts) == 2 and parts[0] in ("customer", "subscription", "invoice"):
            get = {"GET": self._get_one}
        elif 2 <= len(parts) <= 3 and parts[0] == "plan":
            get = {"GET": self._get_plan}
        elif parts == ["event"]:
            get = {"GET": self._events}
        elif len(parts) == 2 and parts[0] == "event":
            get = {"GET": self._get_event}
        return get or None

    def _put_webhook_settings(self, account, parts, params, body):
        try:
            data = json.loads(body or b"null")
        except ValueError:
            raise ApiError("invalid_request", "Body is not valid JSON") from None
        if not isinstance(data, dict) or "urls" not in data:
            raise ApiError("invalid_request", "Body must be an object with urls")
        for name, kind in WEBHOOK_SETTABLE.items():
            if name not in data:
                continue
            value = data[name]
            optional = name in ("username", "password") and value is None
            if not optional and not isinstance(value, kind):
                raise ApiError("invalid_parameter", f"{name} must be {kind.__name__}")
            if kind is list and not all(isinstance(item, str) for item in value):
                raise ApiError("invalid_parameter", f"{name} must hold strings")
        for name in WEBHOOK_SETTABLE:
            if name in data:
                value = data[name]
                account.webhook_settings[name] = (
                    list(value) if isinstance(value, list) else value
                )
        return 200, dict(account.webhook_settings)

    def _get_one(self, account, parts, params, body):
        entity, key = parts
        if entity == "customer":
            found = account.customers.get(key)
        elif entity == "subscription":
            found = account.subscriptions.get(key)
        else:
            found = self._find_invoice(account, key)
        if found is None:
            error = f"{entity.capitalize()} not found"
            raise ApiError("not_found", f"{error}: {key}", error=error)
        return 200, found

    def _get_plan(self, account, parts, params, body):
        versions = account.plan_versions.get(parts[1])
        if versions is None:
            raise ApiError(
                "not_found", f"Plan not found: {parts[1]}", error="Plan not found"
            )
        if len(parts) == 2:
            return 200, versions
        if parts[2] == "current":
            return 200, versions[-1]
        for version in versions:
            if str(version["version"]) == parts[2]:
                return 200, version
        raise ApiError("not_found", f"No version {parts[2]}", error="Plan not found")

    def _find_invoice(self, account, key):
        found = account.invoices.get(key)
        if found is None and key in account.invoice_ids:
            found = account.invoices.get(account.invoice_ids[key])
        return found

    # lists -----------------------------------------------------------------

    def _index(self, account, entity, range_name):
        """Sorted (range value, key...) tuples and objects; rebuilt after changes."""
        cache_key = (account.key, entity, range_name)
        cached = self._indexes.get(cache_key)
        if cached and cached[0] == account.revision:
            return cached[1], cached[2]
        if entity == "plan":
            rows = [
                ((row[range_name], row["handle"], row["version"]), row)
                for versions in account.plan_versions.values()
                for row in versions
            ]
        else:
            objects = {
                "customer": account.customers,
                "subscription": account.subscriptions,
                "invoice": account.invoices,
            }[entity]
            tie = "id" if entity == "invoice" else "handle"
            rows = [
                ((obj[range_name], obj[tie]), obj)
                for obj in objects.values()
                if obj.get(range_name)
            ]
        rows.sort(key=lambda row: row[0])
        keys = [row[0] for row in rows]
        objs = [row[1] for row in rows]
        self._indexes[cache_key] = (account.revision, keys, objs)
        return keys, objs

    def _fingerprint(self, entity, params):
        rest = sorted((k, v) for k, v in params.items() if k != "next_page_token")
        text = json.dumps([entity, rest])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def _make_token(self, cursor, from_s, to_s, fingerprint):
        raw = json.dumps(
            {"c": list(cursor), "f": from_s, "t": to_s, "p": fingerprint},
            separators=(",", ":"),
        ).encode()
        sig = hmac.new(self._token_secret, raw, hashlib.sha256).hexdigest()[:16]
        return base64.urlsafe_b64encode(raw).decode().rstrip("=") + "." + sig

    def _read_token(self, token, fingerprint):
        try:
            body, sig = token.rsplit(".", 1)
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            expected = hmac.new(self._token_secret, raw, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(sig, expected[:16]):
                raise ValueError
            data = json.loads(raw)
        except ValueError:
            raise ApiError("invalid_parameter", "Invalid next_page_token") from None
        if data["p"] != fingerprint:
            raise ApiError(
                "invalid_parameter",
                "next_page_token must be used with the same other parameters",
            )
        return tuple(data["c"]), data["f"], data["t"]

    def _list(self, account, parts, params, body):
        entity = parts[1]
        size = _int_param(params, "size", 20, 10, 100)
        range_name = _single(params, "range", "created")
        if range_name not in LIST_RANGES[entity]:
            allowed = ", ".join(LIST_RANGES[entity])
            raise ApiError("invalid_parameter", f"range must be one of: {allowed}")
        predicates = self._filters(account, entity, params)
        fingerprint = self._fingerprint(entity, params)
        token = _single(params, "next_page_token")
        tz = account.tz
        if token:
            cursor, from_s, to_s = self._read_token(token, fingerprint)
        else:
            raw_to = _single(params, "to")
            to_dt = _parse_when(raw_to, tz, "to") if raw_to else self.clock.now()
            raw_from = _single(params, "from")
            if raw_from:
                from_dt = _parse_when(raw_from, tz, "from")
            else:
                from_dt = add_months(to_dt.astimezone(tz), -1)
            cursor, from_s, to_s = (fmt_ts(to_dt),), fmt_ts(from_dt), fmt_ts(to_dt)
        keys, objs = self._index(account, entity, range_name)
        pos = bisect_left(keys, cursor)
        page, last, more = [], None, False
        while pos > 0:
            pos -= 1
            if keys[pos][0] < from_s:
                break
            obj = objs[pos]
            if all(check(obj) for check in predicates):
                if len(page) == size:
                    more = True
                    break
                page.append(obj)
                last = keys[pos]
        envelope = {
            "size": size,
            "count": len(page),
            "from": datetime.fromisoformat(from_s)
            .astimezone(tz)
            .isoformat(timespec="milliseconds"),
            "to": datetime.fromisoformat(to_s)
            .astimezone(tz)
            .isoformat(timespec="milliseconds"),
            "range": range_name,
            "content": page,
        }
        if more:
            envelope["next_page_token"] = self._make_token(
                last, from_s, to_s, fingerprint
            )
        return 200, envelope

    def _filters(self, account, entity, params):
        """Predicates for the list filters the real API offers per entity."""
        allowed = {
            "plan": {"state", "handle", "currency"},
            "subscription": {"state", "customer", "plan", "handle"},
            "customer": {"handle", "email", "name"},
            "invoice": {
                "state",
                "exclude_state",
                "customer",
                "subscription",
                "plan",
                "type",
                "currency",
            },
        }[entity]
        states = {
            "plan": PLAN_STATES,
            "subscription": SUBSCRIPTION_STATES,
            "invoice": INVOICE_STATES,
        }.get(entity, ())
        checks = []
        for name in sorted(allowed & params.keys()):
            values = params[name]
            if name in ("state", "exclude_state"):
                bad = [value for value in values if value not in states]
                if bad:
                    raise ApiError("invalid_parameter", f"Unknown {name}: {bad[0]}")
                wanted = set(values)
                if name == "state":
                    checks.append(lambda obj, w=wanted: obj["state"] in w)
                else:
                    checks.append(lambda obj, w=wanted: obj["state"] not in w)
            elif name == "type":
                bad = [value for value in values if value not in INVOICE_TYPES]
                if bad:
                    raise ApiError("invalid_parameter", f"Unknown type: {bad[0]}")
                checks.append(lambda obj, w=set(values): obj["type"] in w)
            elif name == "email":
                wanted = values[-1].lower()
                checks.append(lambda obj, w=wanted: (obj["email"] or "").lower() == w)
            elif name == "name":
                wanted = values[-1].lower()
                checks.append(
                    lambda obj, w=wanted: (
                        w
                        in " ".join(
                            filter(
                                None,
                                (obj["first_name"], obj["last_name"], obj["company"]),
                            )
                        ).lower()
                    )
                )
            else:
                checks.append(lambda obj, n=name, w=values[-1]: str(obj[n]) == w)
        return checks

    # events ----------------------------------------------------------------

    def _events(self, account, parts, params, body):
        page = _int_param(params, "page", 1, 1, 10**9)
        size = _int_param(params, "size", 20, 1, 100)
        wanted = {}
        for name in ("customer", "subscription", "invoice"):
            value = _single(params, name)
            if value is not None:
                if name == "invoice" and value in account.invoices:
                    value = account.invoices[value]["handle"]
                wanted[name] = value
        types = set(params.get("event_type", ()))
        matches = [
            event
            for event in reversed(account.events)
            if all(event[name] == value for name, value in wanted.items())
            and (not types or event["event_type"] in types)
        ]
        content = matches[(page - 1) * size : page * size]
        return 200, {
            "page": page,
            "size": size,
            "count": len(content),
            "total": len(matches),
            "content": content,
        }

    def _get_event(self, account, parts, params, body):
        for event in account.events:
            if event["id"] == parts[1]:
                return 200, event
        raise ApiError(
            "not_found", f"Event not found: {parts[1]}", error="Event not found"
        )

    # mutations -------------------------------------------------------------

    def _now(self):
        return fmt_ts(self.clock.now())

    def _check_fields(self, entity, fields):
        unknown = set(fields) - set(FIELDS[entity])
        if unknown:
            raise ValueError(f"Unknown {entity} field(s): {', '.join(sorted(unknown))}")
        return {
            name: _norm_ts(value) if name in TIMESTAMP_FIELDS else value
            for name, value in fields.items()
        }

    def _changed(self, account):
        account.revision += 1

    def _next_handle(self, account, entity, pattern, existing):
        while True:
            account.counters[entity] += 1
            handle = pattern.format(account.counters[entity])
            if handle not in existing:
                return handle

    def add_event(
        self, account_key, event_type, customer=None, subscription=None, invoice=None
    ):
        """Append an event (any type, e.g. ``subscription_renewal``); returns it."""
        account = self.account(account_key)
        with account.lock:
            event = {
                "id": account.new_id(),
                "event_type": event_type,
                "customer": customer,
                "subscription": subscription,
                "invoice": invoice,
                "created": self._now(),
            }
            account.events.append(event)
            return dict(event)

    def _customer(self, account, handle):
        try:
            return account.customers[handle]
        except KeyError:
            raise KeyError(f"No customer {handle!r}") from None

    def _subscription(self, account, handle):
        try:
            return account.subscriptions[handle]
        except KeyError:
            raise KeyError(f"No subscription {handle!r}") from None

    def _invoice(self, account, key):
        found = self._find_invoice(account, key)
        if found is None:
            raise KeyError(f"No invoice {key!r}")
        return found

    def _plan(self, account, handle):
        try:
            return account.plan_versions[handle][-1]
        except KeyError:
            raise KeyError(f"No plan {handle!r}") from None

    def create_customer(self, account_key, handle=None, **fields):
        """Add a customer (defaults filled in); appends ``customer_created``."""
        account = self.account(account_key)
        fields = self._check_fields("customer", fields)
        with account.lock:
            if handle is None:
                handle = self._next_handle(
                    account, "customer", "cust-{:05d}", account.customers
                )
            elif handle in account.customers:
                raise ValueError(f"Customer {handle!r} exists")
            customer = {
                "handle": handle,
                "email": f"{handle}@example.com",
                "first_name": "Test",
                "last_name": handle,
                "company": None,
                "address": "Testvej 1",
                "address2": None,
                "postal_code": "1000",
                "city": "Testby",
                "country": account.country,
                "phone": None,
                "vat": None,
                "debtor_id": len(account.customers) + 1,
                "created": self._now(),
                "deleted": None,
                "active_subscriptions": 0,
                "test": account.state == "test",
            }
            customer.update(fields)
            customer["handle"] = handle
            account.customers[handle] = customer
            account.count_active(handle)
            self._changed(account)
            self.add_event(account.key, "customer_created", handle)
            return copy.deepcopy(customer)

    def update_customer(self, account_key, handle, **changes):
        """Change customer fields; appends ``customer_changed``."""
        account = self.account(account_key)
        changes = self._check_fields("customer", changes)
        changes.pop("handle", None)
        with account.lock:
            customer = self._customer(account, handle)
            customer.update(changes)
            self._changed(account)
            self.add_event(account.key, "customer_changed", handle)
            return copy.deepcopy(customer)

    def delete_customer(self, account_key, handle):
        """Soft delete: sets ``deleted``, stays listed; appends ``customer_deleted``."""
        account = self.account(account_key)
        with account.lock:
            customer = self._customer(account, handle)
            customer["deleted"] = self._now()
            self._changed(account)
            self.add_event(account.key, "customer_deleted", handle)
            return copy.deepcopy(customer)

    def create_subscription(self, account_key, customer, plan, handle=None, **fields):
        """Start an active subscription on the plan's current version."""
        account = self.account(account_key)
        fields = self._check_fields("subscription", fields)
        with account.lock:
            self._customer(account, customer)
            plan_row = self._plan(account, plan)
            if handle is None:
                handle = self._next_handle(
                    account, "subscription", "sub-{:05d}", account.subscriptions
                )
            elif handle in account.subscriptions:
                raise ValueError(f"Subscription {handle!r} exists")
            created = fields.get("created") or self._now()
            start = datetime.fromisoformat(created)
            following = period_start(
                start, 1, plan_row["schedule_type"], plan_row["interval_length"]
            )
            sub = {
                "handle": handle,
                "customer": customer,
                "plan": plan,
                "plan_version": plan_row["version"],
                "state": "active",
                "is_cancelled": False,
                "expires": None,
                "amount": plan_row["amount"],
                "quantity": 1,
                "currency": plan_row["currency"],
                "created": created,
                "activated": created,
                "start_date": created,
                "end_date": None,
                "current_period_start": created,
                "next_period_start": fmt_ts(following),
                "in_trial": False,
                "trial_end": None,
                "expired_date": None,
                "expire_reason": None,
            }
            sub.update(fields)
            sub["handle"] = handle
            account.subscriptions[handle] = sub
            account.count_active(customer)
            self._changed(account)
            self.add_event(account.key, "subscription_created", customer, handle)
            return copy.deepcopy(sub)

    def change_subscription(self, account_key, handle, **changes):
        """Change fields (a new ``plan`` takes its current version); appends
        ``subscription_changed``."""
        account = self.account(account_key)
        changes = self._check_fields("subscription", changes)
        changes.pop("handle", None)
        with account.lock:
            sub = self._subscription(account, handle)
            if "plan" in changes and "plan_version" not in changes:
                changes["plan_version"] = self._plan(account, changes["plan"])[
                    "version"
                ]
            if "customer" in changes:
                self._customer(account, changes["customer"])
            old_customer = sub["customer"]
            sub.update(changes)
            account.count_active(old_customer)
            account.count_active(sub["customer"])
            self._changed(account)
            self.add_event(account.key, "subscription_changed", sub["customer"], handle)
            return copy.deepcopy(sub)

    def expire_subscription(self, account_key, handle, reason="ondemand"):
        """Expire now; appends ``subscription_expired``."""
        account = self.account(account_key)
        with account.lock:
            sub = self._subscription(account, handle)
            now = self._now()
            sub.update(
                state="expired",
                expired_date=now,
                expires=now,
                end_date=now,
                next_period_start=None,
                in_trial=False,
                expire_reason=reason,
            )
            account.count_active(sub["customer"])
            self._changed(account)
            self.add_event(account.key, "subscription_expired", sub["customer"], handle)
            return copy.deepcopy(sub)

    def cancel_subscription(self, account_key, handle):
        """Cancel at the end of the period; appends ``subscription_cancelled``."""
        account = self.account(account_key)
        with account.lock:
            sub = self._subscription(account, handle)
            ends = sub["next_period_start"] or self._now()
            sub.update(is_cancelled=True, expires=ends, end_date=ends)
            self._changed(account)
            self.add_event(
                account.key, "subscription_cancelled", sub["customer"], handle
            )
            return copy.deepcopy(sub)

    def create_invoice(
        self,
        account_key,
        customer,
        subscription=None,
        amount=None,
        *,
        handle=None,
        state="created",
        **fields,
    ):
        """Add an invoice (``s`` with a subscription, else one-off ``co``); appends
        ``invoice_created`` (and ``invoice_settled`` when created settled)."""
        account = self.account(account_key)
        if state not in INVOICE_STATES:
            raise ValueError(f"Unknown invoice state {state!r}")
        fields = self._check_fields("invoice", fields)
        with account.lock:
            self._customer(account, customer)
            sub = self._subscription(account, subscription) if subscription else None
            plan = self._plan(account, sub["plan"]) if sub else None
            currency = sub["currency"] if sub else account.currency
            vat = plan["vat"] if plan else account.vat
            if amount is None:
                amount = sub["amount"] * sub["quantity"] if sub else 10000
            if handle in account.invoice_ids:
                raise ValueError(f"Invoice {handle!r} exists")
            default = self._next_handle(
                account, "invoice", "inv-{}", account.invoice_ids
            )
            handle = handle or default
            now = fields.get("created") or self._now()
            text = plan["name"] if plan else "One-off charge"
            origin = "plan" if plan else "ondemand"
            invoice = {
                "id": account.new_id(),
                "handle": handle,
                "customer": customer,
                "subscription": subscription,
                "plan": sub["plan"] if sub else None,
                "state": "created",
                "type": "s" if sub else "co",
                "amount": 0,
                "amount_vat": 0,
                "amount_ex_vat": 0,
                "settled_amount": 0,
                "refunded_amount": 0,
                "currency": currency,
                "number": account.counters["invoice"],
                "created": now,
                "due": now,
                "settled": None,
                "period_from": sub["current_period_start"] if sub else None,
                "period_to": sub["next_period_start"] if sub else None,
                "order_lines": [
                    order_line(account.new_id(), text, origin, amount, 1, vat, now)
                ],
            }
            invoice_totals(invoice)
            set_invoice_state(invoice, state, now)
            invoice.update(fields)
            account.invoices[invoice["id"]] = invoice
            account.invoice_ids[handle] = invoice["id"]
            self._changed(account)
            key = (customer, subscription, handle)
            self.add_event(account.key, "invoice_created", *key)
            if state == "settled":
                self.add_event(account.key, "invoice_settled", *key)
            return copy.deepcopy(invoice)

    def _invoice_event(self, account, invoice, event_type):
        self._changed(account)
        key = (invoice["customer"], invoice["subscription"], invoice["handle"])
        self.add_event(account.key, event_type, *key)
        return copy.deepcopy(invoice)

    def settle_invoice(self, account_key, key):
        """Settle in full now; appends ``invoice_settled``."""
        account = self.account(account_key)
        with account.lock:
            invoice = self._invoice(account, key)
            set_invoice_state(invoice, "settled", self._now())
            return self._invoice_event(account, invoice, "invoice_settled")

    def cancel_invoice(self, account_key, key):
        """Cancel; appends ``invoice_cancelled``."""
        account = self.account(account_key)
        with account.lock:
            invoice = self._invoice(account, key)
            set_invoice_state(invoice, "cancelled")
            return self._invoice_event(account, invoice, "invoice_cancelled")

    def update_invoice(self, account_key, key, **changes):
        """Change fields; a new ``amount`` replaces the order lines so totals stay
        consistent. Appends ``invoice_changed``."""
        account = self.account(account_key)
        changes = self._check_fields("invoice", changes)
        for name in ("id", "handle"):
            changes.pop(name, None)
        with account.lock:
            invoice = self._invoice(account, key)
            if "amount" in changes and "order_lines" not in changes:
                vat = invoice["order_lines"][0]["vat"] if invoice["order_lines"] else 0
                changes["order_lines"] = [
                    order_line(
                        account.new_id(),
                        "Adjusted amount",
                        "ondemand",
                        changes["amount"],
                        1,
                        vat,
                        self._now(),
                    )
                ]
            invoice.update(changes)
            if "order_lines" in changes:
                invoice_totals(invoice)
                if invoice["state"] == "settled":
                    invoice["settled_amount"] = invoice["amount"]
            return self._invoice_event(account, invoice, "invoice_changed")

    def create_plan(self, account_key, handle=None, **fields):
        """Add a plan at version 1 (no event: the real API has no plan events)."""
        account = self.account(account_key)
        fields = self._check_fields("plan", fields)
        with account.lock:
            if handle is None:
                handle = self._next_handle(
                    account, "plan", "plan-{:03d}", account.plan_versions
                )
            elif handle in account.plan_versions:
                raise ValueError(f"Plan {handle!r} exists")
            plan = {
                "handle": handle,
                "version": 1,
                "name": f"Plan {handle}",
                "description": None,
                "amount": 1000 if account.currency == "JPY" else 10000,
                "currency": account.currency,
                "state": "active",
                "created": self._now(),
                "deleted": None,
                "vat": account.vat,
                "schedule_type": "month_startdate",
                "interval_length": 1,
            }
            plan.update(fields)
            plan.update(handle=handle, version=1)
            account.plan_versions[handle] = [plan]
            self._changed(account)
            return copy.deepcopy(plan)

    def change_plan(self, account_key, handle, **changes):
        """Make a new version from the current one; the old one is superseded."""
        account = self.account(account_key)
        changes = self._check_fields("plan", changes)
        with account.lock:
            current = self._plan(account, handle)
            if current["state"] == "deleted":
                raise ValueError(f"Plan {handle!r} is deleted")
            plan = copy.deepcopy(current)
            plan.update(created=self._now(), state="active", deleted=None)
            plan.update(changes)
            plan.update(handle=handle, version=current["version"] + 1)
            current["state"] = "superseded"
            account.plan_versions[handle].append(plan)
            self._changed(account)
            return copy.deepcopy(plan)

    def delete_plan(self, account_key, handle):
        """Soft delete: the current version gets state ``deleted``."""
        account = self.account(account_key)
        with account.lock:
            plan = self._plan(account, handle)
            plan.update(state="deleted", deleted=self._now())
            self._changed(account)
            return copy.deepcopy(plan)

    def hard_delete(self, account_key, entity, key):
        """Remove an object entirely (it vanishes from lists); no event.

        ``entity`` is customer, subscription, invoice (id or handle) or plan (all
        versions). Returns what was removed.
        """
        account = self.account(account_key)
        with account.lock:
            if entity == "customer":
                removed = account.customers.pop(self._customer(account, key)["handle"])
            elif entity == "subscription":
                removed = account.subscriptions.pop(
                    self._subscription(account, key)["handle"]
                )
                account.count_active(removed["customer"])
            elif entity == "invoice":
                removed = account.invoices.pop(self._invoice(account, key)["id"])
                account.invoice_ids.pop(removed["handle"], None)
            elif entity == "plan":
                self._plan(account, key)
                removed = account.plan_versions.pop(key)
            else:
                raise ValueError(f"Unknown entity {entity!r}")
            self._changed(account)
            return removed

    # webhooks --------------------------------------------------------------

    def rotate_webhook_secret(self, account_key):
        """Replace the webhook secret (what the provider's UI does); returns it."""
        account = self.account(account_key)
        with account.lock:
            settings = account.webhook_settings
            settings["secret"] = digest("rotated", settings["secret"])
            return settings["secret"]

    def webhook_payload(self, account_key, event, secret=None):
        """The signed body the provider would POST for ``event`` (dict or id)."""
        account = self.account(account_key)
        with account.lock:
            if isinstance(event, str):
                event = next((e for e in account.events if e["id"] == event), None)
                if event is None:
                    raise KeyError("No such event")
            secret = secret or account.webhook_settings["secret"]
            webhook_id = account.new_id()
        timestamp = event["created"]
        signature = hmac.new(
            secret.encode(), (timestamp + webhook_id).encode(), hashlib.sha256
        ).hexdigest()
        payload = {
            "id": webhook_id,
            "event_id": event["id"],
            "event_type": event["event_type"],
            "timestamp": timestamp,
            "signature": signature,
            "customer": event["customer"],
        }
        for name in ("subscription", "invoice"):
            if event.get(name):
                payload[name] = event[name]
        return payload

    def send_webhook(self, account_key, event, url, secret=None, timeout=10):
        """POST the webhook for ``event`` to ``url``; returns the HTTP status.

        Uses the account's webhook username/password as HTTP Basic auth when set;
        ``secret`` overrides the signing secret (to test mismatches).
        """
        account = self.account(account_key)
        payload = self.webhook_payload(account.key, event, secret)
        headers = {"Content-Type": "application/json"}
        settings = account.webhook_settings
        if settings.get("username"):
            pair = f"{settings['username']}:{settings.get('password') or ''}"
            headers["Authorization"] = (
                "Basic " + base64.b64encode(pair.encode()).decode()
            )
        request = urllib.request.Request(
            url, data=json.dumps(payload).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        self.webhooks_sent.append((url, payload, status))
        return status


@contextmanager
def running_sandbox(**options):
    """Serve a ``SandboxServer(**options)`` on an ephemeral loopback port."""
    server = SandboxServer(**options)
    server.start()
    try:
        yield server
    finally:
        server.stop()
