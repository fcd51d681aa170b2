"""The one object that talks to Billwerk+ Optimize.

URL, auth, time-outs, pacing, retries and error translation live here and
nowhere else; callers get plain dicts and the errors of ``errors.py``.
"""

import collections
import logging
import re
import threading
import time
from urllib.parse import quote

import requests
from requests import exceptions as requests_errors
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import LocationValueError

from . import errors
from .api_key import key_hint, normalize_api_key
from .retry import Pacer, RetryPolicy, parse_retry_after, pause

_logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.reepay.com/v1/"
LIST_ENTITIES = ("plan", "subscription", "customer", "invoice", "credit_note")
# Lists whose reference documents no `range`: they are bounded by `created`
# anyway, and a strict server may refuse a parameter it does not know.
LISTS_WITHOUT_RANGE = frozenset({"credit_note"})
PAGE_SIZE = 100
# Pages a list read fetches ahead of its reader, in a thread of its own: two
# by default, so that a stall of the writer (an ANALYZE, a slow commit) leaves
# two pages ready and the pacer's burst refills them, rather than one.
MAX_PREFETCH = 2
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# Billwerk's own first day would do, but every list read passes an explicit
# `from` so that the API's "one month before `to`" default never applies.
EARLIEST_FROM = "2000-01-01"
# Everything the transport can raise: requests' own errors, urllib3's that
# requests 2.31 lets through (a host like ``a..b``), and a URL or header that
# does not encode.
TRANSPORT_ERRORS = (requests.RequestException, Urllib3Error, UnicodeError)
URL_ERRORS = (
    requests_errors.InvalidSchema,
    requests_errors.MissingSchema,
    requests_errors.InvalidURL,
    requests_errors.URLRequired,
    LocationValueError,
    UnicodeError,
)
NETWORK_ERRORS = (
    requests.Timeout,
    requests.ConnectionError,
    requests_errors.ChunkedEncodingError,
)
REDIRECT_MESSAGE = (
    "Billwerk answered with a redirect; the API never redirects, so the API URL "
    "is probably wrong (a proxy or a web page)."
)
# Scheme (optional) then user info up to the last "@" before the path.
_USERINFO = re.compile(r"^([a-z][a-z0-9+.-]*://)?[^/?#]*@", re.IGNORECASE)


class _Cancelled(Exception):
    """The reader of a prefetched list stopped: the fetch thread ends quietly."""


class Page:
    """One page of a list read: its objects and the envelope around them."""

    __slots__ = ("content", "count", "date_from", "date_to", "next_page_token", "range")

    def __init__(self, envelope):
        self.content = envelope["content"]
        self.count = envelope.get("count", len(self.content))
        self.date_from = envelope.get("from")
        self.date_to = envelope.get("to")
        self.range = envelope.get("range")
        self.next_page_token = envelope.get("next_page_token")

    def __repr__(self):
        return f"<Page {self.count} objects, more={bool(self.next_page_token)}>"


class BillwerkClient:
    """A Billwerk+ Optimize account, reached with one private key."""

    def __init__(
        self,
        api_key,
        base_url=DEFAULT_BASE_URL,
        *,
        timeout=(5.0, 30.0),
        retry_policy=None,
        pacer=None,
        sleep=None,
        prefetch=MAX_PREFETCH,
    ):
        """``prefetch``: list pages fetched ahead of the reader by a thread of
        the client (0: none, at most ``MAX_PREFETCH``); ``sleep``: how to wait
        between retries (None: really, and a stopped list read wakes it)."""
        key = normalize_api_key(api_key)
        if not isinstance(prefetch, int) or not 0 <= prefetch <= MAX_PREFETCH:
            raise ValueError(f"prefetch is a number of pages, 0 to {MAX_PREFETCH}")
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/") + "/"
        self.timeout = timeout
        self.retry_policy = retry_policy or RetryPolicy()
        self.pacer = pacer or Pacer()
        self.prefetch = prefetch
        self._sleep = sleep
        # One request at a time on the session, whichever thread sends it.
        self._transport_lock = threading.Lock()
        self._open_reads = set()
        self._key_hint = key_hint(key)
        self._session = requests.Session()
        self._session.auth = (key, "")
        self._session.headers.update(
            {"Accept": "application/json", "User-Agent": "odoo-billwerk-connector/18.0"}
        )

    def __repr__(self):
        return f"<BillwerkClient {self.display_url} key {self._key_hint}>"

    @property
    def display_url(self):
        """The base URL without user info, query or fragment, safe to show.

        A proxy's URL may carry a user name and password; a regular expression
        rather than ``urlsplit``, which raises on a broken URL and misreads one
        without a scheme (``user:pass@host/``).
        """
        url = _USERINFO.sub(r"\1", self.base_url, count=1)
        return re.split(r"[?#]", url, maxsplit=1)[0]

    def close(self):
        """Stop the list reads still fetching ahead, then the connections."""
        for stop in list(self._open_reads):
            stop()
        self._session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # -- reads ---------------------------------------------------------------
    def account(self):
        return self._request("GET", "account")

    def iter_list(self, entity, *, date_from=EARLIEST_FROM, date_to=None, **params):
        """Yield the pages of ``/list/{entity}``, newest first.

        ``params`` (``range``, filters, ``size``) stay unchanged between pages,
        as Billwerk requires; ``page_token`` resumes an interrupted read.

        With ``prefetch``, a thread of the client fetches the next page(s)
        while the caller works on the current one; pages still come in order,
        each with its ``next_page_token``, and an error of the fetch is raised
        here at the page where it happened. Closing the generator (leaving
        the loop, an exception, ``close()`` of the client) stops the thread.
        """
        if entity not in LIST_ENTITIES:
            raise ValueError(f"unknown list entity {entity!r}")
        token = params.pop("page_token", None)
        query = {"size": PAGE_SIZE, "range": "created", "from": date_from}
        if date_to:
            query["to"] = date_to
        query.update({k: v for k, v in params.items() if v is not None})
        if entity in LISTS_WITHOUT_RANGE:
            del query["range"]
        if not self.prefetch:
            yield from self._pages(entity, query, token)
            return
        yield from self._prefetched(
            lambda cancel: self._pages(entity, query, token, cancel),
            f"billwerk-list-{entity}",
        )

    def _pages(self, entity, query, token, cancel=None):
        while True:
            page_query = dict(query, next_page_token=token) if token else query
            envelope = self._request(
                "GET", f"list/{entity}", params=page_query, cancel=cancel
            )
            if not isinstance(envelope.get("content"), list):
                raise errors.MalformedResponse(
                    f"The {entity} list answer has no content list."
                )
            page = Page(envelope)
            yield page
            token = page.next_page_token
            if not token:
                return

    def _prefetched(self, produce, name):
        """Yield what ``produce(cancel)`` yields, fetched ahead by a thread.

        The thread waits for room before each fetch, so at most ``prefetch``
        items wait for the reader (and one is in its hands). It hands over
        items, then the end or the error that stopped it; the reader raises
        that error where it stands. Whatever ends the reading (end, error,
        ``close()``), the finally block wakes the thread and joins it: a wait
        is cut short at once, a request in flight ends within its time-out.
        """
        depth = self.prefetch
        ready = collections.deque()  # (item, error); item None: the end
        state = threading.Condition()
        cancel = threading.Event()
        finished = []  # the fetch thread's last word, under ``state``

        def fetch():
            items = produce(cancel)
            try:
                while True:
                    with state:
                        while len(ready) >= depth and not cancel.is_set():
                            state.wait()
                    if cancel.is_set():
                        return
                    item = next(items, None)
                    with state:
                        ready.append((item, None))
                        state.notify_all()
                    if item is None:
                        return
            except _Cancelled:
                return
            except BaseException as error:  # noqa: BLE001 - the reader raises it
                with state:
                    ready.append((None, error))
            finally:
                items.close()
                with state:
                    finished.append(True)
                    state.notify_all()

        def stop():
            cancel.set()
            with state:
                state.notify_all()
            thread.join()
            self._open_reads.discard(stop)

        thread = threading.Thread(target=fetch, name=name, daemon=True)
        self._open_reads.add(stop)
        thread.start()
        try:
            while True:
                with state:
                    while not ready and not finished:
                        state.wait()
                    if not ready:
                        raise errors.BillwerkError(
                            "The list read stopped: the client was closed."
                        )
                    item, error = ready.popleft()
                    state.notify_all()
                if error is not None:
                    raise error
                if item is None:
                    return
                yield item
        finally:
            stop()

    def get(self, entity, key):
        """One object by handle (invoices: id or handle); plans: current version."""
        path = {
            "plan": "plan/{}/current",
            "subscription": "subscription/{}",
            "customer": "customer/{}",
            "invoice": "invoice/{}",
            "credit_note": "credit_note/{}",
        }[entity]
        return self._request("GET", path.format(quote(str(key), safe="")))

    def events(self, page=1, size=PAGE_SIZE, **filters):
        """One page of the event log, newest first."""
        params = {"page": page, "size": size}
        params.update({k: v for k, v in filters.items() if v is not None})
        envelope = self._request("GET", "event", params=params)
        if not isinstance(envelope.get("content"), list):
            raise errors.MalformedResponse("The event log answer has no content list.")
        return envelope

    def webhook_settings(self):
        return self._request("GET", "account/webhook_settings")

    def update_webhook_urls(self, add=None, remove=(), event_types=None):
        """Add ``add`` and drop ``remove`` from the account's webhook URLs.

        Every other integration's URL stays; ``event_types`` (when given) is
        merged into the enabled types, unless every type is enabled already
        (an empty list). Answers the settings as Billwerk stores them now,
        ``secret`` included; nothing is sent when nothing would change.
        """
        settings = self.webhook_settings()
        urls = [url for url in settings.get("urls") or [] if url not in remove]
        if add and add not in urls:
            urls.append(add)
        types = list(settings.get("event_types") or [])
        if event_types and types:
            types += [kind for kind in event_types if kind not in types]
        unchanged = urls == list(settings.get("urls") or []) and types == list(
            settings.get("event_types") or []
        )
        if unchanged:
            return settings
        body = {
            key: settings[key]
            for key in ("username", "password", "disabled")
            if key in settings
        }
        body["urls"] = urls
        body["event_types"] = types
        return self._request("PUT", "account/webhook_settings", json=body)

    # -- transport -------------------------------------------------------------
    def _request(self, method, path, *, params=None, json=None, cancel=None):
        """Send with pacing and retries; ``cancel`` (an Event) stops the waits.

        The pacer learns from each answer: a 429 slows it down, any other
        answer below 500 lets it speed up again to Billwerk's limit.
        """
        url = self.base_url + path
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            if self.pacer.acquire(cancel):
                raise _Cancelled
            failure, response = self._send(method, url, params, json)
            retry_after = None
            if response is not None:
                if response.status_code < 300:
                    return self._decode(response, path)
                failure = self._error_for(response, path)
                if response.status_code not in RETRYABLE_STATUSES:
                    raise failure
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                if response.status_code == 429:
                    self.pacer.throttled(
                        None
                        if retry_after is None
                        else min(retry_after, self.retry_policy.max_delay)
                    )
            delay = self.retry_policy.delay(attempt, retry_after)
            elapsed = time.monotonic() - started
            if not self.retry_policy.allows(attempt, elapsed, delay):
                raise failure
            _logger.info(
                "Billwerk %s %s: %s; retry %d in %.1fs",
                method,
                path,
                type(failure).__name__,
                attempt,
                delay,
            )
            if pause(self._sleep, delay, cancel):
                raise _Cancelled

    def _send(self, method, url, params, json):
        """One attempt: (a network failure, None) or (None, the response).

        A response that is not a 429 nor a server error tells the pacer that
        the rate was fine.
        """
        try:
            with self._transport_lock:
                response = self._session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    timeout=self.timeout,
                    allow_redirects=False,
                )
        except TRANSPORT_ERRORS as exc:
            failure = _transport_failure(exc)
            if not isinstance(failure, errors.NetworkError):
                # The original message holds the whole URL, user info included.
                raise failure from None
            return failure, None
        if response.status_code != 429 and response.status_code < 500:
            self.pacer.succeeded()
        return None, response

    @staticmethod
    def _request_id(response, body=None):
        if isinstance(body, dict) and body.get("request_id"):
            return body["request_id"]
        return response.headers.get("Request-Id")

    def _decode(self, response, path):
        try:
            body = response.json()
        except ValueError:
            raise errors.MalformedResponse(
                f"Billwerk answered /{path} with something that is not JSON.",
                status=response.status_code,
                request_id=self._request_id(response),
            ) from None
        if not isinstance(body, dict):
            raise errors.MalformedResponse(
                f"Billwerk answered /{path} with JSON that is not an object.",
                status=response.status_code,
                request_id=self._request_id(response),
            )
        return body

    def _error_for(self, response, path):
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        detail = body.get("message") or body.get("error") or response.reason or ""
        kwargs = {
            "status": status,
            "request_id": self._request_id(response, body),
            "code": body.get("code"),
        }
        if status < 400:
            # The Location header is left out: it is the proxy's or page's business.
            return errors.UnexpectedRedirect(REDIRECT_MESSAGE, **kwargs)
        if status in (401, 403):
            return errors.KeyRejected(
                "Billwerk rejected the API key "
                f"(key {self._key_hint}, {detail or 'unauthorized'}).",
                **kwargs,
            )
        if status == 404:
            return errors.NotFound(f"Billwerk has no /{path}.", **kwargs)
        if status == 429:
            return errors.RateLimited(
                "Billwerk's rate limit was hit and retries ran out.", **kwargs
            )
        if status >= 500:
            return errors.ServerError(
                f"Billwerk failed to answer /{path} ({detail}).", **kwargs
            )
        return errors.RequestRejected(
            f"Billwerk refused the request to /{path} ({detail}).", **kwargs
        )


def _transport_failure(exc):
    """The typed error for what requests or urllib3 raised, named by type only.

    Their messages contain the full request URL, user info included, so only
    the exception's class name is kept. Network failures become NetworkError,
    the one kind ``_request`` retries.
    """
    name = type(exc).__name__
    if isinstance(exc, NETWORK_ERRORS):
        return errors.NetworkError(f"Billwerk could not be reached ({name}).")
    if isinstance(exc, URL_ERRORS):
        return errors.InvalidUrl(
            "The API URL is not a valid http(s) address; check its scheme, host "
            f"and port ({name})."
        )
    if isinstance(exc, requests_errors.TooManyRedirects):
        return errors.UnexpectedRedirect(REDIRECT_MESSAGE)
    if isinstance(exc, requests_errors.ContentDecodingError):
        return errors.MalformedResponse(
            f"Billwerk's answer could not be decompressed ({name})."
        )
    return errors.BillwerkError(f"The request to Billwerk could not be sent ({name}).")
