"""Billwerk event log entries -> what the sync needs to know of them."""

from . import readers as read

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
