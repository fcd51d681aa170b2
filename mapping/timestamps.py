"""Billwerk timestamps (ISO 8601 with offset) -> naive UTC, as Odoo stores them."""

from datetime import date, datetime, timezone


def to_utc_naive(value):
    if not value:
        return None
    if value.endswith("+00:00"):  # what Billwerk mostly sends: UTC already
        return datetime.fromisoformat(value[:-6])
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def to_date(value):
    if not value:
        return None
    if len(value) == 10:
        return date.fromisoformat(value)
    return datetime.fromisoformat(value.replace("Z", "+00:00")).date()
