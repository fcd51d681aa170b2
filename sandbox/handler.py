"""HTTP: one request in, one JSON answer out, the way the real API frames them.

``Handler`` turns a request into a call on the ``SandboxServer`` (authentication,
rate limits, faults, routing); errors become the documented error body. The
helpers below parse the query parameters every endpoint shares.
"""

import contextlib
import copy
import json
import socket
import sys
import uuid
from datetime import date, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from .data import UTC, fmt_ts, parse_iso
from .limits import LimitExceeded

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
MULTI_PARAMS = {
    "state",
    "exclude_state",
    "type",
    "event_type",
    "payment_type",
    "currency",
}
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


class HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
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
                self._send_error(limit_error(exc), path, request_id)
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
                error=http_reason(fault.status),
            )
        if fault.action == "rate_limit":
            raise limit_error(
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
            return status, wire_json(payload)

    def _admin(self, sandbox, path, query, request_id):
        """The sandbox's own endpoints, for a test or benchmark in another
        process: ``GET /_sandbox/stats[?prefix=/v1/list/]`` (requests served
        and answers by status), ``GET /_sandbox/counts`` (each account's
        objects) and ``POST /_sandbox/clear_log``."""
        # Not logged nor counted: they are about the API's requests.
        if path == ADMIN_PREFIX + "stats" and self.command == "GET":
            prefix = single_param(parse_params(query), "prefix", "/")
            self._write(200, json.dumps(sandbox.stats(prefix)).encode(), request_id)
        elif path == ADMIN_PREFIX + "counts" and self.command == "GET":
            self._write(200, json.dumps(sandbox.counts()).encode(), request_id)
        elif path == ADMIN_PREFIX + "clear_log" and self.command == "POST":
            sandbox.clear_log()
            self._write(200, b"{}", request_id)
        else:
            self._write(404, b'{"error": "Not found"}', request_id)

    def _send_error(self, exc, path, request_id):
        reason = http_reason(exc.status)
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
        self._send(exc.status, wire_json(payload), request_id, exc.headers)

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


def wire_json(payload):
    """An answer's body: compact JSON, as Billwerk sends it."""
    return json.dumps(payload, separators=(",", ":")).encode()


def limit_error(exc):
    """The 429 answer for a request over the limits."""
    error = ApiError(exc.kind, exc.message)
    error.headers.update(exc.headers)
    return error


def http_reason(status):
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def multi_values(values):
    """Values of a repeatable parameter; comma-separated lists are split too."""
    return [part for value in values for part in value.split(",") if part]


def parse_params(query):
    """Query string -> {name: [values]}, with ``state[]`` merged into ``state``."""
    params = {}
    for name, values in parse_qs(query, keep_blank_values=True).items():
        name = name.removesuffix("[]")
        values = [value for value in values if value != ""]
        if values:
            params.setdefault(name, []).extend(values)
    for name in MULTI_PARAMS & params.keys():
        params[name] = multi_values(params[name])
    return params


def single_param(params, name, default=None):
    values = params.get(name)
    return values[-1] if values else default


def int_param(params, name, default, low, high):
    raw = single_param(params, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError("invalid_parameter", f"{name} must be an integer") from None
    if not low <= value <= high:
        raise ApiError("invalid_parameter", f"{name} must be between {low} and {high}")
    return value


def parse_when(raw, tz, name):
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


def norm_ts(value):
    """A datetime or ISO string for a timestamp field, stored as fixed-width UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = parse_iso(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return fmt_ts(value)
