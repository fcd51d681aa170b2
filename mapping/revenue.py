"""Revenue recognised over a line's service period: monthly shares, exact.

Pure functions (no Odoo), proved over every sandbox invoice in the plain suite.

A Billwerk line's ``period_from`` is the first instant of its service and
``period_to`` the first instant *after* it: the API reference gives invoices
and lines the billing period ``period_from``/``period_to`` and subscriptions
``current_period_start``/``next_period_start``, and a subscription invoice's
period is exactly ``current_period_start`` → ``next_period_start`` (the
bundled sandbox does the same: a monthly plan started on 15 January bills
15 January 00:00 → 15 February 00:00). So ``period_to`` is exclusive, and the
period's days are the calendar days from its start, up to but excluding the
day ``period_to`` falls on, in the Billwerk account's time zone. An end given
as the last instant of a day (23:59:59) is read as the next day's start.

The share of a month is the period's days in that month over the period's
days, rounded to the minor unit (half away from zero), the remainder in the
last month: the shares add up to the amount exactly, in any currency, since
amounts are integers of its minor unit.
"""

from datetime import date, datetime, time, timedelta, timezone
from typing import NamedTuple

__all__ = [
    "ServicePeriod",
    "deferral_shares",
    "month_end",
    "month_shares",
    "month_start",
    "service_period",
    "take_latest_first",
]


class ServicePeriod(NamedTuple):
    """A service period as local dates, ``end`` exclusive."""

    first: date
    end: date

    @property
    def days(self):
        return (self.end - self.first).days

    @property
    def last(self):
        """The last day served (inclusive)."""
        return self.end - timedelta(days=1)


def _local_day(value, zone, *, is_end):
    """The local date of a Billwerk date or timestamp.

    A bare date (``2026-01-15``) is already a day of the account's calendar:
    it is taken as it is. A timestamp is converted into ``zone`` first.
    """
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    elif isinstance(value, date):
        return value
    elif isinstance(value, str) and len(value) == 10:
        return date.fromisoformat(value)
    elif isinstance(value, str):
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
    else:
        raise ValueError(f"not a date: {value!r:.40}")
    local = moment.astimezone(zone)
    day = local.date()
    if is_end and local.time() >= time(23, 59, 59):
        # An inclusive end (the last second of a day): the next day starts it.
        day += timedelta(days=1)
    return day


def service_period(period_from, period_to, zone=timezone.utc):
    """The period as local dates, or None where it has no day to spread over."""
    if not period_from or not period_to:
        return None
    first = _local_day(period_from, zone, is_end=False)
    end = _local_day(period_to, zone, is_end=True)
    if end <= first:
        return None
    return ServicePeriod(first, end)


def month_start(day):
    return day.replace(day=1)


def month_end(day):
    """The last day of ``day``'s month."""
    following = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following - timedelta(days=1)


def _next_month(day):
    return month_end(day) + timedelta(days=1)


def _rounded_share(amount, numerator, denominator):
    """``amount × numerator / denominator`` to the unit, half away from zero."""
    magnitude = (2 * abs(amount) * numerator + denominator) // (2 * denominator)
    return magnitude if amount >= 0 else -magnitude


def month_shares(amount, period):
    """``[(first day of month, share)]`` of ``amount`` (minor units) over ``period``.

    Each month's share is its days of the period over the period's days,
    rounded; the last month takes the remainder, so the shares add up.
    """
    total_days = period.days
    months = []
    cursor = month_start(period.first)
    while cursor < period.end:
        following = _next_month(cursor)
        days = (min(following, period.end) - max(cursor, period.first)).days
        months.append((cursor, days))
        cursor = following
    shares = [
        (month, _rounded_share(amount, days, total_days)) for month, days in months[:-1]
    ]
    shares.append((months[-1][0], amount - sum(share for _m, share in shares)))
    return shares


def deferral_shares(amount, period, invoice_day):
    """The shares to recognise month by month, or None where nothing is deferred.

    A line is deferred when its service reaches past the month of its
    invoice; the shares of that month and of any earlier month of the period
    are recognised together in the invoice's month (revenue is never
    recognised before its invoice). ``[(month, share)]``, months ascending,
    the first one the invoice's month.
    """
    if period is None or month_start(period.last) <= month_start(invoice_day):
        return None
    invoice_month = month_start(invoice_day)
    merged = {}
    for month, share in month_shares(amount, period):
        key = max(month, invoice_month)
        merged[key] = merged.get(key, 0) + share
    return sorted(merged.items())


def take_latest_first(deferred, amount):
    """What a credit of ``amount`` takes out of what is still deferred.

    ``deferred``: ``[(month, amount, company_amount, key)]`` still to be
    recognised, in the document's currency and the company's; ``key`` tells
    apart the lines of one month (any sortable value). The credit takes the
    latest months first (a service cancelled early ends early: its last
    months are the ones nobody pays for), each down to zero, the last one
    touched in part, its company amount in proportion. Returns ``[(month,
    taken, company_taken, key)]``, positive, latest first; they add up to
    less than ``amount`` where the rest was recognised already.
    """
    taken = []
    left = amount
    for month, month_amount, company_amount, key in sorted(deferred, reverse=True):
        if left <= 0:
            break
        if month_amount <= 0:
            continue
        part = min(left, month_amount)
        company_part = (
            company_amount
            if part == month_amount
            else _rounded_share(company_amount, part, month_amount)
        )
        taken.append((month, part, company_part, key))
        left -= part
    return taken
