"""Billwerk event log entries -> what the sync needs to know of them."""

from datetime import timedelta

from . import readers as read
from .timestamps import to_utc_naive

# The object kinds an event can name, by the prefix of its ``event_type``.
EVENT_OBJECTS = ("customer", "subscription", "invoice")


def event_values(event):
    """``(id, created, object kind or None, object key or None)`` of one event.

    An event without an id or a readable ``created`` cannot be told apart
    from the next one: ``MappingError``, and the sync skips it with its reason.
    """
    if not isinstance(event, dict):
        raise read.MappingError("the event is not an object")
    event_id = read.key(event, "id")
    created = read.timestamp(event, "created")
    event_type = read.text(event, "event_type") or ""
    kind = event_type.split("_", 1)[0]
    if kind not in EVENT_OBJECTS:
        return event_id, created, None, None
    return event_id, created, kind, read.text(event, kind) or None


# The webhook types registration enables: those naming an object the sync
# copies (Billwerk has no plan events; plans are polled).
WEBHOOK_EVENT_TYPES = (
    "customer_created",
    "customer_changed",
    "customer_deleted",
    "subscription_created",
    "subscription_changed",
    "subscription_renewal",
    "subscription_cancelled",
    "subscription_uncancelled",
    "subscription_on_hold",
    "subscription_reactivated",
    "subscription_expired",
    "invoice_created",
    "invoice_settled",
    "invoice_authorized",
    "invoice_dunning",
    "invoice_failed",
    "invoice_refund",
    "invoice_cancelled",
    "invoice_changed",
    "invoice_credited",
)
# Longest text of a webhook field the connector keeps (ids, handles, types).
MAX_WEBHOOK_TEXT = 255

# How old a webhook's signed timestamp may be. Billwerk retries a failed
# delivery with back-off and holds a customer's later webhooks behind it, so
# a genuine delivery may arrive days after its timestamp; Billwerk's public
# reference says that failed invocations are retried, not for how long. Seven
# days is this addon's choice: longer than the retry schedules of comparable
# providers (one to three days), short enough that a captured body stops
# working within a week. A refused late delivery loses nothing: the event log
# read every few minutes names the same object.
WEBHOOK_REPLAY_WINDOW = timedelta(days=7)
# How far ahead of this server's clock a signed timestamp may be (clock skew).
WEBHOOK_CLOCK_SKEW = timedelta(minutes=5)
# How long a processed (done or failed) webhook is kept. Deduplication on the
# signed id needs its row for as long as a delivery with that id could still
# be accepted: a row is received at most the skew before its signed time, and
# a delivery is accepted at most the window after it; any retention of at
# least window + skew keeps deduplication whole, a month leaves a history.
WEBHOOK_RETENTION = timedelta(days=30)


def webhook_values(payload):
    """What a webhook's body says: a dict of its fields, checked.

    ``id`` (the webhook), ``event_id``, ``event_type``, ``timestamp`` and
    ``signature`` are required texts; ``kind`` and ``key`` name the object to
    read (None for a type the connector does not handle), ``customer``,
    ``subscription`` and ``invoice`` are the handles it carries.
    ``signed_at`` is ``timestamp`` read as naive UTC (ISO 8601; without an
    offset, UTC); the signature covers the text, ``timestamp`` stays as sent.

    Only ``id`` and ``timestamp`` are signed: everything else may have been
    changed by whoever resends a captured body, so the signed ``id`` is what
    tells one delivery from another.
    """
    if not isinstance(payload, dict):
        raise read.MappingError("the webhook is not an object")
    values = {}
    for field in ("id", "event_id", "event_type", "timestamp", "signature"):
        value = payload.get(field)
        if not isinstance(value, str) or not value.strip():
            raise read.MappingError(f"the webhook has no {field}")
        if len(value) > MAX_WEBHOOK_TEXT:
            raise read.MappingError(f"the webhook's {field} is too long")
        values[field] = value
    try:
        values["signed_at"] = to_utc_naive(values["timestamp"].strip())
    except ValueError:
        raise read.MappingError("the webhook's timestamp is not a date-time") from None
    for field in EVENT_OBJECTS:
        value = payload.get(field)
        valid = isinstance(value, str) and 0 < len(value) <= MAX_WEBHOOK_TEXT
        values[field] = value if valid else None
    kind = values["event_type"].split("_", 1)[0]
    values["kind"] = kind if kind in EVENT_OBJECTS and values[kind] else None
    values["key"] = values[kind] if values["kind"] else None
    return values


def webhook_timing_problem(signed_at, now):
    """None when a webhook signed at ``signed_at`` may be accepted at ``now``
    (both naive UTC); ``"old"`` past the replay window, ``"ahead"`` past the
    clock skew allowed into the future."""
    if signed_at < now - WEBHOOK_REPLAY_WINDOW:
        return "old"
    if signed_at > now + WEBHOOK_CLOCK_SKEW:
        return "ahead"
    return None
