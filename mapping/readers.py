"""Typed reads of one payload field, each refusing what Billwerk never sends.

Billwerk documents every field's type; a payload that breaks it (a string
amount, "yesterday" as a timestamp, a debtor id PostgreSQL cannot hold) is
refused here with a reason in words, so that the sync skips that one record
and logs why instead of failing the page, the run and every run after it.
"""

from .money import minor_to_amount
from .timestamps import to_date, to_utc_naive

# PostgreSQL ``integer``: what Odoo's Integer fields are stored in.
INT4_MIN, INT4_MAX = -(2**31), 2**31 - 1
# Money in minor units: far beyond any invoice, still exact in a float.
MINOR_MAX = 10**15


class MappingError(ValueError):
    """A payload that cannot become a record; ``str()`` says why, in words."""


def key(payload, field):
    """The record's identity: a non-empty string, else the record is unusable."""
    value = payload.get(field)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise MappingError(f"'{field}' is missing or not text")
    return value


def text(payload, field):
    """Text or False; numbers become their text, structures are refused."""
    value = payload.get(field)
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        raise MappingError(f"'{field}' is not text: {value!r}")
    if isinstance(value, int | float):
        return str(value)
    if not isinstance(value, str):
        raise MappingError(f"'{field}' is not text")
    return value


def integer(payload, field, default=0):
    value = payload.get(field)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise MappingError(f"'{field}' is not a whole number: {value!r:.40}")
    if not INT4_MIN <= value <= INT4_MAX:
        raise MappingError(f"'{field}' is out of range: {value}")
    return value


def boolean(payload, field):
    value = payload.get(field)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise MappingError(f"'{field}' is not true or false: {value!r:.40}")
    return value


def fraction(payload, field):
    """A rate such as Billwerk's ``vat`` (0.25): a number, never "25%"."""
    value = payload.get(field)
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MappingError(f"'{field}' is not a number: {value!r:.40}")
    return float(value)


def minor(payload, field, default=0):
    """An amount in minor units, kept as the exact integer Billwerk sent."""
    value = payload.get(field)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise MappingError(f"'{field}' is not an amount in minor units: {value!r:.40}")
    if abs(value) > MINOR_MAX:
        raise MappingError(f"'{field}' is out of range: {value}")
    return value


def money(payload, field):
    """An amount in minor units (an integer), as an amount of its currency."""
    if payload.get(field) is None:
        return 0.0
    return minor_to_amount(minor(payload, field), currency(payload))


def currency(payload, field="currency"):
    value = payload.get(field)
    if value is None or value == "":
        return None
    code = _CODES.get(value) if isinstance(value, str) else None
    if code is None:
        if not isinstance(value, str) or len(value) != 3 or not value.isalpha():
            raise MappingError(f"'{field}' is not an ISO 4217 code: {value!r:.40}")
        code = _CODES[value] = value.upper()
    return code


# Currency codes seen, as sent -> as stored: a handful, read on every amount.
_CODES = {}


def timestamp(payload, field):
    """ISO 8601 (with or without offset) -> naive UTC, as Odoo stores it."""
    value = payload.get(field)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise MappingError(f"'{field}' is not a timestamp: {value!r:.40}")
    try:
        return to_utc_naive(value)
    except ValueError:
        raise MappingError(f"'{field}' is not a timestamp: {value!r:.40}") from None


def day(payload, field):
    """A date, from a date or a timestamp (its date in the given offset)."""
    value = payload.get(field)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise MappingError(f"'{field}' is not a date: {value!r:.40}")
    try:
        return to_date(value)
    except ValueError:
        raise MappingError(f"'{field}' is not a date: {value!r:.40}") from None


def choice(payload, field, known, default, unknown="unknown"):
    """One of ``known``, or ``unknown`` (callers keep the raw text apart).

    Billwerk adds states over time (subscriptions gained ``cancelled`` in some
    accounts); an unknown value must never stop the sync.
    """
    value = payload.get(field)
    if value is None or value == "":
        return default
    if not isinstance(value, str):
        raise MappingError(f"'{field}' is not text: {value!r:.40}")
    return value if value in known else unknown
