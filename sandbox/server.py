"""A local HTTP server that answers like the Billwerk+ Optimize API (``/v1/...``).

It serves generated accounts (see ``data``), enforces the documented rate limits
(``limits``), can inject faults (``faults``) and offers mutation methods so tests
can change the truth, append events and have webhooks delivered. The server is
put together from one module per concept:

- ``handler``: HTTP framing, errors, query parameters;
- ``api``: routing, single reads, lists, the event log;
- ``mutations``: customers, subscriptions, plans, events;
- ``invoicing``: invoices and their books (``books``, ``history``);
- ``webhooks``: webhook settings, signed payloads and their delivery.
"""

import sys
import threading
import time
import traceback
from collections import Counter
from contextlib import contextmanager
from datetime import datetime, timedelta

from .api import LIST_RANGES, ApiMixin
from .data import DEFAULT_ANCHOR, UTC, account_template, digest, generate_account
from .delivery import DEFAULT_BACKOFF, DEFAULT_TIMEOUT, Deliverer
from .faults import Faults
from .handler import ERRORS, ApiError, Handler, HTTPServer
from .invoicing import InvoicingMixin
from .limits import Limiter, RateLimits
from .mutations import FIELDS, MutationsMixin
from .webhooks import WebhookMixin

__all__ = [
    "ERRORS",
    "FIELDS",
    "LIST_RANGES",
    "ApiError",
    "Clock",
    "SandboxServer",
    "running_sandbox",
]


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


class SandboxServer(ApiMixin, MutationsMixin, InvoicingMixin, WebhookMixin):
    """Generated accounts behind a local Billwerk+ Optimize API.

    ``accounts`` may be None (two accounts: the first with the given sizes, the
    second smaller), an int (that many accounts) or a list of dicts overriding an
    account's profile (name, currency, timezone, ...) and sizes (customers, plans,
    subscriptions, invoices).

    Webhooks are delivered while the server runs (see ``webhooks``):
    ``webhook_backoff`` is the retry schedule in seconds (tiny in tests),
    ``webhook_timeout`` how long a receiver may take to answer.
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
        webhook_backoff=DEFAULT_BACKOFF,
        webhook_timeout=DEFAULT_TIMEOUT,
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
        self.delivery = Deliverer(
            self._prepare_webhook, backoff=webhook_backoff, timeout=webhook_timeout
        )
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
        self._httpd = HTTPServer((self.host, self.port), Handler)
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
        self.delivery.start()
        return self

    def stop(self):
        """Stop serving and delivering, release the port; sleeping (slow) answers
        are woken. Queued webhooks stay queued until the next ``start``."""
        self._stopping.set()
        self.delivery.stop()
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

    def counts(self):
        """Each account's objects by list entity, by account handle (what
        ``GET /_sandbox/counts`` answers): what a complete copy holds."""
        return {account.handle: account.counts() for account in self.accounts}

    def _log_status(self, status):
        with self._log_lock:
            self.status_counts[status] += 1

    def _log_request(self, method, path, query):
        with self._log_lock:
            self.request_log.append((method, path, query))
            self.request_counts[path] += 1

    def _report(self, exc):
        traceback.print_exception(exc, file=sys.stderr)


@contextmanager
def running_sandbox(**options):
    """Serve a ``SandboxServer(**options)`` on an ephemeral loopback port."""
    server = SandboxServer(**options)
    server.start()
    try:
        yield server
    finally:
        server.stop()
