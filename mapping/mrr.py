"""Monthly recurring revenue (MRR) and its movements: the arithmetic, exact.

Pure functions (no Odoo), proved over every sandbox invoice in the plain suite.
Several readers compute these figures independently, so each rule below is
applied literally, and each choice the rules leave open is stated here.

What counts: the lines of origin ``plan``, ``add_on`` and ``discount`` of
invoices in any state but ``created`` (a draft nobody was asked to pay) and
``cancelled``. Credit notes do not change MRR: they correct what was billed,
not what the subscription is worth a month. A line's service period is its own
``period_from``/``period_to`` (both given), else that of its invoice's first
``plan`` line that has both; a line with neither period does not count (an
``ondemand`` line never counts, whatever its period).

A line's monthly amount is its ``amount_ex_vat`` (minor units) over the
period's length in months: k where ``period_to`` is exactly k calendar months
after ``period_from``, else the period's days × 12 / 365. "Exactly k months":
both ends are converted into the account's time zone, and ``period_to``'s
local date and wall-clock time are those of ``period_from`` shifted by k
months, the day clamped to the end of a shorter month (31 January + 1 month
is 28 February, or 29 in a leap year; 28 February + 1 month is 28 March, not
31 March). Local wall clocks, not elapsed time, so a month across a change to
summer time is still one month; but a period kept at the same UTC time across
that change (the sandbox does so) ends an hour off in local time and is not
an exact month. The days of a period are the calendar days from
``period_from``'s local date to ``period_to``'s (``period_to`` is the first
instant after the service, as in mapping/revenue.py, but no end is rounded
here); a period that does not cross a local midnight has no day to spread
over and does not count.

MRR of a customer in a currency at the end of month M: the sum of the monthly
amounts of its counting lines whose period contains the last instant of M in
the account's time zone, ``period_from`` ≤ instant < ``period_to``. The last
instant is the next month's first local instant minus one microsecond (the
finest step of a timestamp), so a line is active at M's end iff
``period_from`` < next month's start ≤ ``period_to``: a monthly period ending
at 1 February 00:00 local is January's, one starting then is February's. The
current month's MRR is taken at the instant ``today`` instead, and its rows
are marked ``running``; no later month is computed.

Amounts are :class:`fractions.Fraction` of the minor unit, never rounded
here: movements then add up exactly to the MRR they explain, in any currency.
The caller rounds for display.
"""

import calendar
from datetime import date, datetime, timedelta, timezone
from fractions import Fraction
from typing import NamedTuple

__all__ = [
    "CHURN",
    "CONTRACTION",
    "COUNTING_ORIGINS",
    "EXPANSION",
    "IGNORED_STATES",
    "MOVEMENTS",
    "NEW",
    "REACTIVATION",
    "RETAINED",
    "MonthSummary",
    "MrrRow",
    "counting_lines",
    "first_month",
    "is_active_at_month_end",
    "month_summaries",
    "monthly_amount",
    "monthly_rows",
    "months_between",
]

COUNTING_ORIGINS = frozenset({"plan", "add_on", "discount"})
IGNORED_STATES = frozenset({"created", "cancelled"})

NEW = "new"
REACTIVATION = "reactivation"
EXPANSION = "expansion"
CONTRACTION = "contraction"
CHURN = "churn"
RETAINED = "retained"
MOVEMENTS = (NEW, REACTIVATION, EXPANSION, CONTRACTION, CHURN, RETAINED)


class CountingLine(NamedTuple):
    """A line that counts, its period as UTC instants (``end`` exclusive)."""

    customer: str
    currency: str
    plan: str | None
    start: datetime
    end: datetime
    monthly: Fraction


class MrrRow(NamedTuple):
    """One customer's MRR in one currency at the end of one month.

    ``movement_amount`` is now − before, so a customer's movements add up to
    its MRR. ``plan``: the plan of the invoice of its largest counting line
    that month, None when no line is active (a churn).
    """

    month: date
    customer: str
    currency: str
    mrr: Fraction
    movement: str
    movement_amount: Fraction
    plan: str | None
    running: bool


class MonthSummary(NamedTuple):
    """A month's figures in one currency; ratios None where undefined."""

    month: date
    currency: str
    mrr: Fraction
    arr: Fraction
    active_customers: int
    arpu: Fraction | None
    churn_rate: Fraction | None
    net_movement: Fraction
    opening_mrr: Fraction
    running: bool


def _instant(value, zone):
    """A Billwerk date or timestamp as an aware datetime.

    A bare date (``2026-01-15``) is a day of the account's calendar: its local
    midnight. A timestamp without offset is UTC, as in mapping/revenue.py.
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=zone)
    elif isinstance(value, str) and len(value) == 10:
        day = date.fromisoformat(value)
        return datetime(day.year, day.month, day.day, tzinfo=zone)
    elif isinstance(value, str):
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    else:
        raise ValueError(f"not a date: {value!r:.40}")
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _months_later(local, months):
    """``local`` (naive wall clock) ``months`` later, the day clamped."""
    index = local.year * 12 + local.month - 1 + months
    year, month = divmod(index, 12)
    last_day = calendar.monthrange(year, month + 1)[1]
    return local.replace(year=year, month=month + 1, day=min(local.day, last_day))


def monthly_amount(amount, period_from, period_to, zone):
    """``amount`` a month over the period, a Fraction; None if it has no day.

    ``period_from``/``period_to``: Billwerk dates or timestamps (see the
    module's docstring for exact months and days).
    """
    start = _instant(period_from, zone).astimezone(zone).replace(tzinfo=None)
    end = _instant(period_to, zone).astimezone(zone).replace(tzinfo=None)
    months = (end.year - start.year) * 12 + end.month - start.month
    if months >= 1 and _months_later(start, months) == end:
        return Fraction(amount, months)
    days = (end.date() - start.date()).days
    if days <= 0:
        return None
    return Fraction(amount * 365, days * 12)


def counting_lines(invoices, zone):
    """The invoices' lines that count, with their monthly amounts."""
    lines = []
    for invoice in invoices:
        if invoice["state"] in IGNORED_STATES:
            continue
        plan_period = next(
            (
                (line["period_from"], line["period_to"])
                for line in invoice["order_lines"]
                if line["origin"] == "plan"
                and line.get("period_from")
                and line.get("period_to")
            ),
            None,
        )
        for line in invoice["order_lines"]:
            if line["origin"] not in COUNTING_ORIGINS:
                continue
            if line.get("period_from") and line.get("period_to"):
                period = (line["period_from"], line["period_to"])
            else:
                period = plan_period
            if period is None:
                continue
            monthly = monthly_amount(line["amount_ex_vat"], *period, zone)
            if monthly is None:
                continue
            start, end = (_instant(value, zone) for value in period)
            lines.append(
                CountingLine(
                    invoice["customer"],
                    invoice["currency"],
                    invoice.get("plan"),
                    start.astimezone(timezone.utc),
                    end.astimezone(timezone.utc),
                    monthly,
                )
            )
    return lines


def _month_after(month):
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def _next_month_start(month, zone):
    """The first instant after ``month`` (a first day) in ``zone``, in UTC."""
    following = _month_after(month)
    local = datetime(following.year, following.month, 1, tzinfo=zone)
    return local.astimezone(timezone.utc)


def is_active_at_month_end(period_from, period_to, month, zone):
    """Whether the period contains the last instant of ``month`` in ``zone``.

    ``period_from`` ≤ next month's start − 1 µs < ``period_to``, i.e.
    ``period_from`` < next month's start ≤ ``period_to``.
    """
    boundary = _next_month_start(month, zone)
    return _instant(period_from, zone) < boundary <= _instant(period_to, zone)


def first_month(lines, zone):
    """The first month (its first day, local) a period of ``lines`` starts in.

    None when no line has a ``period_from``. The months before it keep
    their MRR and movements whatever these lines say: a caller that knows
    which invoices changed recomputes from the earliest such month on (of
    their lines before and after the change). Raises ``ValueError`` on a
    ``period_from`` that is not a date.
    """
    months = [
        _instant(line["period_from"], zone).astimezone(zone).date().replace(day=1)
        for line in lines
        if isinstance(line, dict) and line.get("period_from")
    ]
    return min(months, default=None)


def months_between(first, last):
    """The first days of the months from ``first``'s to ``last``'s, inclusive."""
    months = []
    cursor = first.replace(day=1)
    while cursor <= last:
        months.append(cursor)
        cursor = _month_after(cursor)
    return months


def _add(totals, key, line):
    """Add ``line`` to ``key``'s MRR and keep its largest line's plan.

    ``totals[key]``: ``[mrr, largest monthly amount, its plan]``; a tie goes
    to the smaller plan handle, a handle before none.
    """
    entry = totals.get(key)
    if entry is None:
        totals[key] = [line.monthly, line.monthly, line.plan]
        return
    entry[0] += line.monthly
    if (-line.monthly, line.plan is None, line.plan or "") < (
        -entry[1],
        entry[2] is None,
        entry[2] or "",
    ):
        entry[1], entry[2] = line.monthly, line.plan


def _movement(before, now, was_ever_active):
    """The kind of change from ``before`` to ``now``; None if both are zero.

    Active means MRR above zero. Between two values neither of which is
    active (a discount outliving its plan, which Billwerk's own invoices do
    not do) the change is an expansion or a contraction.
    """
    if before > 0 and now > 0:
        if now > before:
            return EXPANSION
        return CONTRACTION if now < before else RETAINED
    if now > 0:
        return REACTIVATION if was_ever_active else NEW
    if before > 0:
        return CHURN
    if now == before:
        return RETAINED if now else None
    return EXPANSION if now > before else CONTRACTION


def month_before(month):
    """The first day of the month before ``month`` (a first day)."""
    return (month - timedelta(days=1)).replace(day=1)


def monthly_rows(invoices, zone, today, months=None, active_before=None):
    """``[MrrRow]`` from the first month with MRR to the current one (running).

    ``invoices``: dicts as the addon stores them (see the module's
    docstring); ``zone``: the Billwerk account's ``zoneinfo.ZoneInfo``;
    ``today``: the current instant, an aware datetime (naive is UTC). One row
    per month, customer and currency where the MRR is, or was the month
    before, other than zero: a customer gone is reported once, as a churn.
    ``months``: first days of the months to return (all when None); the
    others are still computed, since a movement depends on the months before.
    Sorted by month, currency and customer.

    ``active_before`` (with ``months``): the ``(customer, currency)`` pairs
    whose MRR was above zero in some month before the one preceding the
    first of ``months``, as the rows already computed say. Only that
    preceding month and the later ones are then computed, so ``invoices``
    need hold only those with a period ending after the preceding month
    starts: an incremental recomputation reads the recent invoices, not the
    whole history.
    """
    today = _instant(today, zone)
    current = today.astimezone(zone).date().replace(day=1)
    start = None
    if months and active_before is not None:
        start = month_before(min(months))
    totals = {}
    for line in counting_lines(invoices, zone):
        local_start = line.start.astimezone(zone).date().replace(day=1)
        month = local_start if start is None else max(local_start, start)
        while month < current:
            boundary = _next_month_start(month, zone)
            if boundary > line.end:
                break
            if line.start < boundary:
                _add(totals, (month, line.customer, line.currency), line)
            month = _month_after(month)
        if line.start <= today < line.end:
            _add(totals, (current, line.customer, line.currency), line)
    if not totals:
        return []
    wanted = None if months is None else set(months)
    first = min(month for month, _customer, _currency in totals)
    keys = sorted({(currency, customer) for _m, customer, currency in totals})
    rows = []
    for currency, customer in keys:
        before = Fraction(0)
        was_ever_active = start is not None and (customer, currency) in active_before
        for month in months_between(first, current):
            mrr, _largest, plan = totals.get(
                (month, customer, currency), (Fraction(0), None, None)
            )
            movement = _movement(before, mrr, was_ever_active)
            if movement is not None and (wanted is None or month in wanted):
                rows.append(
                    MrrRow(
                        month,
                        customer,
                        currency,
                        mrr,
                        movement,
                        mrr - before,
                        plan,
                        month == current,
                    )
                )
            was_ever_active = was_ever_active or before > 0
            before = mrr
    rows.sort(key=lambda row: (row.month, row.currency, row.customer))
    return rows


def month_summaries(rows):
    """``[MonthSummary]`` per month and currency of ``monthly_rows``' rows.

    Every month from a currency's first row to the last month of all rows,
    a month without rows (nobody paying, nobody lost) with zeros: a chart of
    them has no holes. MRR and net movement add the rows up (the opening MRR
    is MRR − net movement: the month before's closing); ARR is 12 × MRR;
    active customers have MRR above zero; ARPU is MRR over them; the MRR
    churn rate is churned plus contracted MRR, as positive amounts, over the
    opening MRR. Sorted by month and currency.
    """
    if not rows:
        return []
    groups, first = {}, {}
    for row in rows:
        groups.setdefault((row.month, row.currency), []).append(row)
        first[row.currency] = min(row.month, first.get(row.currency, row.month))
    last = max(row.month for row in rows)
    running = {row.month for row in rows if row.running}
    summaries = []
    for currency, since in first.items():
        for month in months_between(since, last):
            group = groups.get((month, currency), [])
            summaries.append(_summary(month, currency, group, month in running))
    summaries.sort(key=lambda summary: (summary.month, summary.currency))
    return summaries


def _summary(month, currency, group, running):
    mrr = sum((row.mrr for row in group), Fraction(0))
    net = sum((row.movement_amount for row in group), Fraction(0))
    opening = mrr - net
    lost = -sum(
        (row.movement_amount for row in group if row.movement in (CHURN, CONTRACTION)),
        Fraction(0),
    )
    active = sum(1 for row in group if row.mrr > 0)
    return MonthSummary(
        month,
        currency,
        mrr,
        12 * mrr,
        active,
        mrr / active if active else None,
        lost / opening if opening > 0 else None,
        net,
        opening,
        running,
    )
