"""Webhooks: the account's settings, signed payloads, delivery and test switches.

Billwerk signs a webhook in its body: ``signature = hex(HMAC_SHA256(key=secret,
msg=timestamp + id))``; the payload names the objects, never their state.

When an account's settings have ``urls`` and are not ``disabled``, every event
appended from then on whose type is in ``event_types`` (or any, when that list
is empty) becomes one webhook per URL, delivered by ``delivery.Deliverer``: FIFO
per customer, retried with back-off, every attempt recorded. Switches for
tests: ``forge_signatures``, ``replay``, ``burst``, ``pause_deliveries``.
"""

import base64
import hashlib
import hmac
import json
import urllib.error
import urllib.request
import uuid
from urllib.parse import urlsplit

from .data import digest
from .delivery import Webhook
from .handler import ApiError

WEBHOOK_SETTABLE = {
    "urls": list,
    "username": str,
    "password": str,
    "disabled": bool,
    "event_types": list,
    "alert_emails": list,
    "alert_count": int,
}
# Fields an event may carry besides the customer, copied into its webhook.
PAYLOAD_FIELDS = ("subscription", "invoice", "transaction", "credit_note")


def signed_payload(event, webhook_id, secret):
    """The JSON body Billwerk POSTs for ``event``, signed with ``secret``."""
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
    for name in PAYLOAD_FIELDS:
        if event.get(name):
            payload[name] = event[name]
    return payload


def webhook_headers(settings):
    """JSON, and HTTP Basic auth when the settings have a username."""
    headers = {"Content-Type": "application/json"}
    if settings.get("username"):
        pair = f"{settings['username']}:{settings.get('password') or ''}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    return headers


def _check_settings(data):
    """400 for a PUT body the real API would refuse."""
    if not isinstance(data, dict) or "urls" not in data:
        raise ApiError("invalid_request", "Body must be an object with urls")
    for name, kind in WEBHOOK_SETTABLE.items():
        if name not in data:
            continue
        value = data[name]
        optional = name in ("username", "password", "alert_count") and value is None
        wrong = isinstance(value, bool) and kind is not bool
        if not optional and (wrong or not isinstance(value, kind)):
            raise ApiError("invalid_parameter", f"{name} must be {kind.__name__}")
        if kind is list and not all(isinstance(item, str) for item in value):
            raise ApiError("invalid_parameter", f"{name} must hold strings")
    for url in data["urls"]:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ApiError("invalid_parameter", f"Invalid webhook url: {url!r}")
    if data.get("alert_count") is not None and data["alert_count"] < 4:
        raise ApiError("invalid_parameter", "alert_count must be at least 4")


class WebhookMixin:
    """Webhook side of ``SandboxServer`` (see the module's docstring)."""

    def _put_webhook_settings(self, account, parts, params, body):
        """``PUT /v1/account/webhook_settings``: ``urls`` is required and taken as
        given (a client merges its URL into the list it read); the other
        settable fields change when given and stay otherwise."""
        try:
            data = json.loads(body or b"null")
        except ValueError:
            raise ApiError("invalid_request", "Body is not valid JSON") from None
        _check_settings(data)
        for name in WEBHOOK_SETTABLE:
            if name in data:
                value = data[name]
                account.webhook_settings[name] = (
                    list(value) if isinstance(value, list) else value
                )
        return 200, dict(account.webhook_settings)

    def _post_webhook_secret(self, account, parts, params, body):
        """``POST /v1/account/webhook_settings/secret``: a new secret; answers
        the settings."""
        self.rotate_webhook_secret(account.key)
        return 200, dict(account.webhook_settings)

    def _webhook_event(self, account, event):
        """Queue the webhooks for an event just appended (under the account's
        lock), as the settings say now."""
        settings = account.webhook_settings
        if settings.get("disabled") or not settings.get("urls"):
            return
        types = settings.get("event_types") or ()
        if types and event["event_type"] not in types:
            return
        for url in settings["urls"]:
            webhook = Webhook(uuid.uuid4().hex, account.key, url, dict(event))
            self.delivery.enqueue(webhook)

    def _prepare_webhook(self, webhook, forged):
        """Payload and headers of one attempt, signed with the secret of now
        (a wrong one when ``forged``)."""
        account = self.account(webhook.account_key)
        with account.lock:
            settings = dict(account.webhook_settings)
        secret = settings["secret"]
        if forged:
            secret = digest("forged", secret)
        return signed_payload(webhook.event, webhook.id, secret), webhook_headers(
            settings
        )

    # delivery: what tests look at and switch --------------------------------

    def deliveries(self, account_key=None, *, url=None, event_id=None):
        """Every delivery attempt so far, oldest first, as dicts: ``url``,
        ``webhook_id``, ``event_id``, ``event_type``, ``customer``, ``attempt``
        (1, 2, ...), ``status`` (None without an answer), ``error``, ``ok``,
        ``elapsed`` (seconds), ``forged``, ``replay``, ``signature`` and the
        ``state`` it left the webhook in (completed, retrying, failed)."""
        account = self.account(account_key).key if account_key else None
        return [
            attempt
            for attempt in self.delivery.snapshot()
            if account in (None, attempt["account"])
            and url in (None, attempt["url"])
            and event_id in (None, attempt["event_id"])
        ]

    def wait_for_deliveries(self, timeout=10):
        """Wait until every queued webhook is completed or failed: True, or
        False when ``timeout`` seconds passed first (e.g. while paused)."""
        return self.delivery.wait(timeout)

    def pause_deliveries(self):
        """Hold every delivery (webhooks keep queueing) until resumed."""
        self.delivery.pause()

    def resume_deliveries(self):
        self.delivery.resume()

    def forge_signatures(self, count=1):
        """Sign the next ``count`` delivery attempts with a wrong secret."""
        self.delivery.forge(count)

    def replay(self, account_key, event_id=None, url=None):
        """Deliver an already delivered event again (the same webhook id and
        body), as Billwerk may: by default the last delivered one. Returns the
        webhook ids queued again."""
        account = self.account(account_key)
        done = [
            webhook
            for webhook in self.delivery.completed_webhooks()
            if webhook.account_key == account.key
            and url in (None, webhook.url)
            and event_id in (None, webhook.event["id"])
        ]
        if not done:
            raise KeyError("No delivered webhook to replay")
        if event_id is None:
            last = done[-1].event["id"]
            done = [webhook for webhook in done if webhook.event["id"] == last]
        again = {}
        for webhook in done:
            again.setdefault((webhook.id, webhook.url), webhook)
        for webhook in again.values():
            copy = Webhook(
                webhook.id, webhook.account_key, webhook.url, webhook.event, True
            )
            self.delivery.enqueue(copy)
        return [webhook.id for webhook in again.values()]

    def burst(self, account_key, count, event_type="customer_changed", customer=None):
        """Append ``count`` events at once (for the account's first customer, a
        given one, or a list of handles in turn); returns them."""
        account = self.account(account_key)
        with account.lock:
            if customer is None:
                handles = [next(iter(account.customers))]
            elif isinstance(customer, str):
                handles = [customer]
            else:
                handles = list(customer)
            return [
                self.add_event(account.key, event_type, handles[n % len(handles)])
                for n in range(count)
            ]

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
        return signed_payload(event, webhook_id, secret)

    def send_webhook(self, account_key, event, url, secret=None, timeout=10):
        """POST the webhook for ``event`` to ``url``; returns the HTTP status.

        Uses the account's webhook username/password as HTTP Basic auth when set;
        ``secret`` overrides the signing secret (to test mismatches).
        """
        account = self.account(account_key)
        payload = self.webhook_payload(account.key, event, secret)
        headers = webhook_headers(account.webhook_settings)
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
