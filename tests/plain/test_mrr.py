"""MRR and its movements (mapping/mrr.py): exact figures computed by hand, then
every sandbox invoice, whose rows must explain each customer's MRR."""

from datetime import date, datetime
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from mapping.mrr import (
    CHURN,
    CONTRACTION,
    EXPANSION,
    MOVEMENTS,
    NEW,
    REACTIVATION,
    RETAINED,
    counting_lines,
    first_month,
    is_active_at_month_end,
    month_before,
    month_summaries,
    monthly_amount,
    monthly_rows,
    months_between,
)
from sandbox.server import running_sandbox

UTC = ZoneInfo("UTC")
COPENHAGEN = ZoneInfo("Europe/Copenhagen")
TOKYO = ZoneInfo("Asia/Tokyo")


def line(origin, amount, period_from=None, period_to=None):
    return {
        "origin": origin,
        "amount_ex_vat": amount,
        "period_from": period_from,
        "period_to": period_to,
    }


def invoice(lines, customer="cust-1", plan="basic", currency="DKK", state="settled"):
    return {
        "customer": customer,
        "currency": currency,
        "state": state,
        "plan": plan,
        "order_lines": lines,
    }


def monthly(amount, period_from, period_to, plan="basic", **kwargs):
    """An invoice of one plan line."""
    return invoice([line("plan", amount, period_from, period_to)], plan=plan, **kwargs)


def at(text):
    return datetime.fromisoformat(text)


def table(rows):
    """Rows as ``(month, mrr, movement, movement_amount, plan, running)``."""
    return [
        (row.month, row.mrr, row.movement, row.movement_amount, row.plan, row.running)
        for row in rows
    ]


# What a month is worth: exact months, clamped days, irregular periods.


def test_exact_calendar_months_divide_by_their_count():
    assert monthly_amount(10000, "2026-01-01", "2026-02-01", UTC) == 10000
    assert monthly_amount(30000, "2026-03-01", "2026-06-01", UTC) == 10000
    assert monthly_amount(120000, "2026-01-15", "2027-01-15", UTC) == 10000
    # Any time of day, as long as both ends have the same local one.
    assert (
        monthly_amount(
            999, "2026-05-07T13:14:15.000+00:00", "2026-06-07T13:14:15.000+00:00", UTC
        )
        == 999
    )
    assert monthly_amount(1000, "2026-01-01", "2026-04-01", UTC) == Fraction(1000, 3)


def test_a_month_after_the_31st_ends_on_the_last_day_of_a_shorter_month():
    assert monthly_amount(3100, "2026-01-31", "2026-02-28", UTC) == 3100
    assert monthly_amount(3100, "2028-01-31", "2028-02-29", UTC) == 3100  # leap
    assert monthly_amount(9000, "2025-11-30", "2026-02-28", UTC) == 3000  # k = 3
    # Clamped, then shifted again: 28 February + 1 month is 28 March.
    assert monthly_amount(3100, "2026-02-28", "2026-03-28", UTC) == 3100
    # Not a clamped month: 29 days of 2026 (31 January -> 1 March).
    assert monthly_amount(2900, "2026-01-31", "2026-03-01", UTC) == Fraction(
        2900 * 12 * 365, 29 * 12 * 12
    )
    # 30 November -> 31 December is 31 days, not a month (that would end
    # on 30 December).
    assert monthly_amount(3100, "2026-11-30", "2026-12-31", UTC) == Fraction(
        3100 * 365, 31 * 12
    )


def test_an_irregular_period_is_its_days_times_twelve_over_365():
    # 10 January -> 20 February: 41 days; 4100 × 365 / (41 × 12) = 9125/3.
    assert monthly_amount(4100, "2026-01-10", "2026-02-20", UTC) == Fraction(9125, 3)
    # A week: 7 days.
    assert monthly_amount(700, "2026-03-02", "2026-03-09", UTC) == Fraction(
        700 * 365, 7 * 12
    )
    # 21:30 -> 22:30 UTC is one day in Copenhagen (23:30 -> 00:30 the next
    # day), none in UTC: the local dates count, not the hours.
    one_hour = ("2026-06-01T21:30:00+00:00", "2026-06-01T22:30:00+00:00")
    assert monthly_amount(1200, *one_hour, COPENHAGEN) == Fraction(1200 * 365, 12)
    assert monthly_amount(1200, *one_hour, UTC) is None


def test_periods_without_a_day_have_no_monthly_amount():
    assert monthly_amount(100, "2026-05-01", "2026-05-01", UTC) is None
    assert monthly_amount(100, "2026-05-02", "2026-05-01", UTC) is None


def test_local_wall_clocks_make_a_month_across_summer_time():
    # 1 March 00:00 CET -> 1 April 00:00 CEST: 31 days less an hour, a month.
    assert (
        monthly_amount(
            5000,
            "2026-02-28T23:00:00.000+00:00",
            "2026-03-31T22:00:00.000+00:00",
            COPENHAGEN,
        )
        == 5000
    )
    # The same instants in UTC: 28 February 23:00 -> 31 March 22:00, 31 days.
    assert monthly_amount(
        5000, "2026-02-28T23:00:00.000+00:00", "2026-03-31T22:00:00.000+00:00", UTC
    ) == Fraction(5000 * 365, 31 * 12)
    # Kept at the same UTC time (as the sandbox does): 05:18 -> 06:18 local,
    # not a month in Copenhagen, 31 calendar days.
    assert monthly_amount(
        3100,
        "2025-03-08T04:18:34.000+00:00",
        "2025-04-08T04:18:34.000+00:00",
        COPENHAGEN,
    ) == Fraction(3100 * 365, 31 * 12)


# When a line is active: the last instant of the month, in the account's zone.


def test_the_last_instant_of_tokyos_january():
    # Tokyo's January ends at 2026-01-31T23:59:59.999999+09:00.
    january = date(2026, 1, 1)
    february = date(2026, 2, 1)
    ends_at_midnight = ("2026-01-01T00:00:00+09:00", "2026-02-01T00:00:00+09:00")
    assert is_active_at_month_end(*ends_at_midnight, january, TOKYO)
    assert not is_active_at_month_end(*ends_at_midnight, february, TOKYO)
    ends_a_microsecond_early = (
        "2026-01-01T00:00:00+09:00",
        "2026-01-31T23:59:59.999999+09:00",
    )
    assert not is_active_at_month_end(*ends_a_microsecond_early, january, TOKYO)
    # Starting at Tokyo's 1 February 00:00 (31 January 15:00 UTC): February's
    # in Tokyo, January's in UTC.
    starts_at_midnight = ("2026-01-31T15:00:00+00:00", "2026-02-28T15:00:00+00:00")
    assert not is_active_at_month_end(*starts_at_midnight, january, TOKYO)
    assert is_active_at_month_end(*starts_at_midnight, february, TOKYO)
    assert is_active_at_month_end(*starts_at_midnight, january, UTC)
    starts_on_the_last_instant = (
        "2026-01-31T23:59:59.999999+09:00",
        "2026-02-28T00:00:00+09:00",
    )
    assert is_active_at_month_end(*starts_on_the_last_instant, january, TOKYO)


def test_tokyo_rows_follow_tokyos_months():
    invoices = [
        monthly(5000, "2026-01-31T15:00:00.000+00:00", "2026-02-28T15:00:00.000+00:00")
    ]
    today = at("2026-04-10T00:00:00+00:00")
    # 1 February -> 1 March, Tokyo time: one month, February's.
    assert table(monthly_rows(invoices, TOKYO, today)) == [
        (date(2026, 2, 1), 5000, NEW, 5000, "basic", False),
        (date(2026, 3, 1), 0, CHURN, -5000, None, False),
    ]
    # In UTC the same line is 31 January 15:00 -> 28 February 15:00, a
    # (clamped) month active at January's end, gone at February's.
    assert table(monthly_rows(invoices, UTC, today)) == [
        (date(2026, 1, 1), 5000, NEW, 5000, "basic", False),
        (date(2026, 2, 1), 0, CHURN, -5000, None, False),
    ]


def test_copenhagen_month_ends():
    # Copenhagen's January ends at 31 January 23:00 UTC (CET, +01:00), its
    # March at 31 March 22:00 UTC (CEST, +02:00).
    invoices = [
        monthly(
            6000,
            "2025-12-31T23:30:00.000+00:00",  # 1 January 00:30 CET
            "2026-01-31T23:30:00.000+00:00",  # 1 February 00:30 CET
            customer="winter",
        ),
        monthly(
            5000,
            "2026-02-28T23:00:00.000+00:00",  # 1 March 00:00 CET
            "2026-03-31T22:00:00.000+00:00",  # 1 April 00:00 CEST
            customer="spring",
        ),
    ]
    today = at("2026-05-05T12:00:00+00:00")
    rows = monthly_rows(invoices, COPENHAGEN, today)
    assert [(row.month, row.customer, row.mrr, row.movement) for row in rows] == [
        (date(2026, 1, 1), "winter", 6000, NEW),
        (date(2026, 2, 1), "winter", 0, CHURN),
        (date(2026, 3, 1), "spring", 5000, NEW),
        (date(2026, 4, 1), "spring", 0, CHURN),
    ]
    # In UTC each line starts before the month's last instant and ends
    # before the next one's: December's and February's, the second 31 days.
    rows = monthly_rows(invoices, UTC, today)
    spring = Fraction(5000 * 365, 31 * 12)
    assert [(row.month, row.customer, row.mrr, row.movement) for row in rows] == [
        (date(2025, 12, 1), "winter", 6000, NEW),
        (date(2026, 1, 1), "winter", 0, CHURN),
        (date(2026, 2, 1), "spring", spring, NEW),
        (date(2026, 3, 1), "spring", 0, CHURN),
    ]


# Movements.


def test_every_movement_of_one_customer():
    invoices = [
        monthly(10000, "2026-01-01", "2026-02-01"),
        monthly(12000, "2026-02-01", "2026-03-01", plan="plus"),
        monthly(9000, "2026-03-01", "2026-04-01"),
        monthly(9000, "2026-04-01", "2026-05-01"),
        # Nothing for May nor June; back in July.
        monthly(5000, "2026-07-01", "2026-08-01", plan="light"),
    ]
    rows = monthly_rows(invoices, UTC, at("2026-08-15T10:00:00+00:00"))
    assert table(rows) == [
        (date(2026, 1, 1), 10000, NEW, 10000, "basic", False),
        (date(2026, 2, 1), 12000, EXPANSION, 2000, "plus", False),
        (date(2026, 3, 1), 9000, CONTRACTION, -3000, "basic", False),
        (date(2026, 4, 1), 9000, RETAINED, 0, "basic", False),
        (date(2026, 5, 1), 0, CHURN, -9000, None, False),
        # June: nothing before, nothing now, no row.
        (date(2026, 7, 1), 5000, REACTIVATION, 5000, "light", False),
        (date(2026, 8, 1), 0, CHURN, -5000, None, True),
    ]
    assert {row.movement for row in rows} == set(MOVEMENTS)
    assert sum(row.movement_amount for row in rows) == rows[-1].mrr == 0
    for row in rows:
        assert isinstance(row.mrr, Fraction)
        assert isinstance(row.movement_amount, Fraction)


def test_the_running_month_is_taken_at_todays_instant():
    invoices = [
        monthly(10000, "2026-02-01", "2026-03-01"),
        monthly(10000, "2026-03-01", "2026-04-01"),
    ]
    during = monthly_rows(invoices, UTC, at("2026-03-10T12:00:00+00:00"))
    assert table(during) == [
        (date(2026, 2, 1), 10000, NEW, 10000, "basic", False),
        (date(2026, 3, 1), 10000, RETAINED, 0, "basic", True),
    ]
    # On 1 April at 00:00 the March line has ended: April is running, empty.
    after = monthly_rows(invoices, UTC, at("2026-04-01T00:00:00+00:00"))
    assert table(after)[-2:] == [
        (date(2026, 3, 1), 10000, RETAINED, 0, "basic", False),
        (date(2026, 4, 1), 0, CHURN, -10000, None, True),
    ]
    # A month not begun yet is not computed; nor is anything before the
    # first month with MRR.
    assert monthly_rows(invoices, UTC, at("2026-01-20T00:00:00+00:00")) == []
    # A naive today is UTC.
    assert monthly_rows(invoices, UTC, datetime(2026, 3, 10, 12)) == during


def test_a_mid_month_upgrade_and_downgrade():
    # Basic at 10,000 a month; upgraded to Pro (20,000) on 15 February: the
    # upgrade's invoice bills Pro for the 14 days left and takes back Basic's
    # with a negative plan line over the same days (any credit note is left
    # out). Back to Basic on 17 March, for the 15 days left.
    invoices = [
        monthly(10000, "2026-01-01", "2026-02-01"),
        monthly(10000, "2026-02-01", "2026-03-01"),
        invoice(
            [
                line("plan", 10000, "2026-02-15", "2026-03-01"),
                line("plan", -5000, "2026-02-15", "2026-03-01"),
            ],
            plan="pro",
        ),
        monthly(20000, "2026-03-01", "2026-04-01", plan="pro"),
        invoice(
            [
                line("plan", 4800, "2026-03-17", "2026-04-01"),
                line("plan", -9600, "2026-03-17", "2026-04-01"),
            ],
            plan="basic",
        ),
        monthly(10000, "2026-04-01", "2026-05-01"),
    ]
    rows = monthly_rows(invoices, UTC, at("2026-04-20T00:00:00+00:00"))
    # February: 10,000 + (10,000 − 5,000) × 365 / (14 × 12) = 438,125/21.
    february = 10000 + Fraction(5000 * 365, 14 * 12)
    assert february == Fraction(438125, 21)
    # March: 20,000 + (4,800 − 9,600) × 365 / (15 × 12) = 30,800/3.
    march = 20000 + Fraction(-4800 * 365, 15 * 12)
    assert march == Fraction(30800, 3)
    assert table(rows) == [
        (date(2026, 1, 1), 10000, NEW, 10000, "basic", False),
        (date(2026, 2, 1), february, EXPANSION, february - 10000, "pro", False),
        (date(2026, 3, 1), march, CONTRACTION, march - february, "pro", False),
        (date(2026, 4, 1), 10000, CONTRACTION, 10000 - march, "basic", True),
    ]
    assert sum(row.movement_amount for row in rows) == 10000


def test_an_annual_plan_is_a_twelfth_each_month():
    invoices = [monthly(120000, "2026-01-15", "2027-01-15", plan="yearly")]
    rows = monthly_rows(invoices, UTC, at("2027-03-10T00:00:00+00:00"))
    assert [row.month for row in rows] == months_between(
        date(2026, 1, 1), date(2027, 1, 1)
    )
    assert table(rows[:2]) == [
        (date(2026, 1, 1), 10000, NEW, 10000, "yearly", False),
        (date(2026, 2, 1), 10000, RETAINED, 0, "yearly", False),
    ]
    assert all(row.mrr == 10000 for row in rows[:-1])
    # 15 January 2027 is before January's end: the plan churned then.
    assert table(rows[-1:]) == [(date(2027, 1, 1), 0, CHURN, -10000, None, False)]


def test_a_quarterly_plan_with_an_add_on():
    invoices = [
        invoice(
            [
                line("plan", 30000, "2026-02-10", "2026-05-10"),
                line("add_on", 4500, "2026-02-10", "2026-05-10"),
            ],
            plan="quarterly",
        )
    ]
    rows = monthly_rows(invoices, UTC, at("2026-06-01T08:00:00+00:00"))
    assert table(rows) == [
        (date(2026, 2, 1), 11500, NEW, 11500, "quarterly", False),
        (date(2026, 3, 1), 11500, RETAINED, 0, "quarterly", False),
        (date(2026, 4, 1), 11500, RETAINED, 0, "quarterly", False),
        (date(2026, 5, 1), 0, CHURN, -11500, None, False),
    ]


def test_an_irregular_period_counts_where_it_is_active():
    invoices = [monthly(4100, "2026-01-10", "2026-02-20")]
    rows = monthly_rows(invoices, UTC, at("2026-03-02T00:00:00+00:00"))
    assert table(rows) == [
        (date(2026, 1, 1), Fraction(9125, 3), NEW, Fraction(9125, 3), "basic", False),
        (date(2026, 2, 1), 0, CHURN, -Fraction(9125, 3), None, False),
    ]


# Which lines count.


def test_a_discount_without_a_period_takes_its_plan_lines():
    invoices = [
        invoice(
            [
                line("plan", 10000, "2026-01-01", "2026-02-01"),
                line("discount", -2500),
                line("add_on", 1000, "2026-01-01", "2026-04-01"),
            ]
        )
    ]
    rows = monthly_rows(invoices, UTC, at("2026-02-15T00:00:00+00:00"))
    january = 10000 - 2500 + Fraction(1000, 3)
    assert table(rows) == [
        (date(2026, 1, 1), january, NEW, january, "basic", False),
        # The add-on runs on into February.
        (date(2026, 2, 1), Fraction(1000, 3), CONTRACTION, 2500 - 10000, "basic", True),
    ]


def test_drafts_cancelled_invoices_and_other_origins_do_not_count():
    counted = monthly(10000, "2026-01-01", "2026-02-01")
    ignored = [
        monthly(70000, "2026-01-01", "2026-02-01", state="created"),
        monthly(70000, "2026-01-01", "2026-02-01", state="cancelled"),
        invoice([line("ondemand", 70000, "2026-01-01", "2026-02-01")]),
        invoice([line("setup_fee", 70000, "2026-01-01", "2026-02-01")]),
    ]
    today = at("2026-01-20T00:00:00+00:00")
    assert monthly_rows([counted, *ignored], UTC, today) == monthly_rows(
        [counted], UTC, today
    )
    for state in ("settled", "pending", "authorized", "dunning", "failed"):
        other = {**counted, "state": state}
        assert monthly_rows([other], UTC, today)[0].mrr == 10000


def test_a_line_without_any_period_does_not_count():
    invoices = [
        # No plan line to borrow a period from.
        invoice([line("add_on", 5000), line("discount", -100)], plan=None),
        # A plan line without a period lends none either.
        invoice([line("plan", 5000), line("discount", -100)]),
        # Half a period is no period.
        invoice([line("plan", 5000, "2026-01-01", None)]),
    ]
    assert counting_lines(invoices, UTC) == []
    assert monthly_rows(invoices, UTC, at("2026-01-20T00:00:00+00:00")) == []


def test_currencies_are_kept_apart():
    invoices = [
        monthly(10000, "2026-01-01", "2026-02-01", currency="DKK"),
        monthly(10000, "2026-02-01", "2026-03-01", currency="DKK"),
        monthly(1500, "2026-02-01", "2026-03-01", currency="EUR"),
        monthly(900, "2026-02-01", "2026-03-01", currency="EUR", customer="cust-2"),
    ]
    rows = monthly_rows(invoices, UTC, at("2026-02-20T00:00:00+00:00"))
    assert [
        (row.month, row.currency, row.customer, row.mrr, row.movement) for row in rows
    ] == [
        (date(2026, 1, 1), "DKK", "cust-1", 10000, NEW),
        (date(2026, 2, 1), "DKK", "cust-1", 10000, RETAINED),
        (date(2026, 2, 1), "EUR", "cust-1", 1500, NEW),
        (date(2026, 2, 1), "EUR", "cust-2", 900, NEW),
    ]
    summaries = month_summaries(rows)
    assert [(s.month, s.currency, s.mrr, s.active_customers) for s in summaries] == [
        (date(2026, 1, 1), "DKK", 10000, 1),
        (date(2026, 2, 1), "DKK", 10000, 1),
        (date(2026, 2, 1), "EUR", 2400, 2),
    ]


def test_the_plan_is_that_of_the_largest_line_ties_to_the_smaller_handle():
    invoices = [
        monthly(5000, "2026-01-01", "2026-02-01", plan="zeta"),
        monthly(5000, "2026-01-01", "2026-02-01", plan="alpha"),
        monthly(4999, "2026-01-01", "2026-02-01", plan="aaa"),
        invoice([line("add_on", 5000, "2026-01-01", "2026-02-01")], plan=None),
    ]
    rows = monthly_rows(invoices, UTC, at("2026-01-20T00:00:00+00:00"))
    assert [(row.mrr, row.plan) for row in rows] == [(19999, "alpha")]
    # A yearly line of 120,000 is 10,000 a month: smaller than 12,000.
    invoices = [
        monthly(120000, "2026-01-01", "2027-01-01", plan="yearly"),
        monthly(12000, "2026-01-01", "2026-02-01", plan="monthly"),
    ]
    rows = monthly_rows(invoices, UTC, at("2026-01-20T00:00:00+00:00"))
    assert [(row.mrr, row.plan) for row in rows] == [(22000, "monthly")]


# The month's figures.


def test_month_summaries():
    invoices = [
        # a: 10,000 then 8,000; b: 6,000 then gone; c: new at 3,000; d: 4,000.
        monthly(10000, "2026-01-01", "2026-02-01", customer="a"),
        monthly(8000, "2026-02-01", "2026-03-01", customer="a"),
        monthly(6000, "2026-01-01", "2026-02-01", customer="b"),
        monthly(3000, "2026-02-01", "2026-03-01", customer="c"),
        monthly(8000, "2026-01-01", "2026-03-01", customer="d"),
    ]
    rows = monthly_rows(invoices, UTC, at("2026-02-10T00:00:00+00:00"))
    january, february = month_summaries(rows)
    assert january == (
        date(2026, 1, 1),
        "DKK",
        20000,  # mrr
        240000,  # arr
        3,  # active customers
        Fraction(20000, 3),  # arpu
        None,  # churn rate: nothing to churn from
        20000,  # net movement
        0,  # opening mrr
        False,
    )
    # Lost: b's 6,000 churned and a's 2,000 contracted, of 20,000 opening.
    assert february == (
        date(2026, 2, 1),
        "DKK",
        15000,
        180000,
        3,
        5000,
        Fraction(8000, 20000),
        -5000,
        20000,
        True,
    )
    assert month_summaries([]) == []


def test_a_month_nobody_pays_for_is_summarised_with_zeros():
    invoices = [
        monthly(10000, "2026-01-01", "2026-02-01", customer="a"),
        monthly(7000, "2026-04-01", "2026-05-01", customer="b"),
    ]
    rows = monthly_rows(invoices, UTC, at("2026-04-10T00:00:00+00:00"))
    assert [(row.month, row.movement) for row in rows] == [
        (date(2026, 1, 1), NEW),
        (date(2026, 2, 1), CHURN),
        (date(2026, 4, 1), NEW),
    ]
    summaries = month_summaries(rows)
    assert [s.month for s in summaries] == months_between(
        date(2026, 1, 1), date(2026, 4, 1)
    )
    assert summaries[1][2:] == (0, 0, 0, None, 1, -10000, 10000, False)
    assert summaries[2][2:] == (0, 0, 0, None, None, 0, 0, False)
    assert summaries[3][2:] == (7000, 84000, 1, 7000, None, 7000, 0, True)


def test_rows_of_given_months_are_those_of_the_whole_history():
    invoices = [
        monthly(10000, "2026-01-01", "2026-02-01"),
        monthly(5000, "2026-03-01", "2026-04-01"),
    ]
    today = at("2026-04-10T00:00:00+00:00")
    everything = monthly_rows(invoices, UTC, today)
    march = monthly_rows(invoices, UTC, today, months=[date(2026, 3, 1)])
    assert march == [row for row in everything if row.month == date(2026, 3, 1)]
    assert march[0].movement == REACTIVATION


def test_recent_invoices_and_who_was_active_give_the_rows_of_the_whole_history():
    invoices = [
        monthly(10000, "2026-01-01", "2026-02-01", customer="back"),
        monthly(5000, "2026-04-01", "2026-05-01", customer="back"),
        monthly(7000, "2026-04-01", "2026-05-01", customer="first"),
        # Annual, from last year: it reaches into March.
        monthly(120000, "2025-06-01", "2026-06-01", customer="annual"),
    ]
    today = at("2026-05-10T00:00:00+00:00")
    everything = monthly_rows(invoices, UTC, today)
    months = [date(2026, 4, 1), date(2026, 5, 1)]
    # March decides April's movements: invoices ending after 1 March.
    recent = invoices[1:]
    rows = monthly_rows(
        recent, UTC, today, months=months, active_before={("back", "DKK")}
    )
    assert rows == [row for row in everything if row.month in months]
    assert {row.customer: row.movement for row in rows if row.month == months[0]} == {
        "back": REACTIVATION,
        "first": NEW,
        "annual": RETAINED,
    }
    # Without knowing who was active, the returning customer looks new.
    assert monthly_rows(recent, UTC, today, months=months, active_before=set()) != rows


def test_the_first_month_a_change_touches_is_its_earliest_local_start():
    lines = [
        line("plan", 10000, "2026-03-01T00:00:00+00:00", "2026-04-01T00:00:00+00:00"),
        # 31 January 23:30 UTC is 1 February in Tokyo.
        line("add_on", 500, "2026-01-31T23:30:00+00:00", "2026-03-01T00:00:00+00:00"),
        line("discount", -100),
    ]
    assert first_month(lines, UTC) == date(2026, 1, 1)
    assert first_month(lines, TOKYO) == date(2026, 2, 1)
    assert first_month([line("ondemand", 100)], UTC) is None
    assert first_month([], UTC) is None
    with pytest.raises(ValueError):
        first_month([line("plan", 1, "yesterday", "today")], UTC)


# Every sandbox invoice.


@pytest.fixture(scope="module")
def sandbox():
    # Three accounts: DKK in Copenhagen, JPY in Tokyo, EUR and KWD in Berlin.
    with running_sandbox(rate_limit=False, accounts=3) as server:
        yield server


def test_every_sandbox_invoice_gives_rows_that_explain_the_mrr(sandbox):
    today = sandbox.clock.now()
    current, currencies, kinds, checked = None, set(), set(), 0
    for account in sandbox.accounts:
        zone = account.tz
        invoices = list(account.invoices.values())
        rows = monthly_rows(invoices, zone, today)
        current = today.astimezone(zone).date().replace(day=1)
        lines_by_key = {}
        for counted in counting_lines(invoices, zone):
            key = (counted.customer, counted.currency)
            lines_by_key.setdefault(key, []).append(counted)
        by_key = {}
        for row in rows:
            by_key.setdefault((row.customer, row.currency), []).append(row)
            assert row.running == (row.month == current)
            assert row.month <= current
            kinds.add(row.movement)
        for key, key_rows in by_key.items():
            assert key_rows[0].movement == NEW
            before = Fraction(0)
            for previous, row in zip([None, *key_rows], key_rows, strict=False):
                if previous is not None and row.month != next_month(previous.month):
                    # A gap only after a churn, and the month after it is a
                    # reactivation.
                    assert previous.mrr == 0 and previous.movement == CHURN
                    assert row.movement == REACTIVATION
                    before = Fraction(0)
                assert row.movement_amount == row.mrr - before
                before = row.mrr
                # The MRR is what the lines active at that month's end add up to.
                if not row.running:
                    assert row.mrr == sum(
                        (
                            counted.monthly
                            for counted in lines_by_key[key]
                            if is_active_at_month_end(
                                counted.start, counted.end, row.month, zone
                            )
                        ),
                        Fraction(0),
                    )
                checked += 1
            assert sum(row.movement_amount for row in key_rows) == key_rows[-1].mrr
            if key_rows[-1].month != current:
                assert key_rows[-1].movement == CHURN
        summaries = month_summaries(rows)
        for currency in {summary.currency for summary in summaries}:
            months = [s.month for s in summaries if s.currency == currency]
            assert months == months_between(months[0], current)
            currencies.add(currency)
        for summary in summaries:
            month_rows = [
                row
                for row in rows
                if (row.month, row.currency) == (summary.month, summary.currency)
            ]
            assert summary.mrr == sum(row.mrr for row in month_rows)
            assert summary.arr == 12 * summary.mrr
    assert {"DKK", "JPY", "EUR", "KWD"} <= currencies
    assert kinds == set(MOVEMENTS)
    assert checked > 1000


def test_any_later_months_from_recent_invoices_equal_the_whole_history(sandbox):
    """What an incremental recomputation reads: for every account and each
    of its last twelve months as the first recomputed one, the invoices with
    a period ending after the month before it starts, and the customers with
    a *new* row before that month."""
    today = sandbox.clock.now()
    compared = 0
    for account in sandbox.accounts:
        zone = account.tz
        invoices = list(account.invoices.values())
        everything = monthly_rows(invoices, zone, today)
        current = today.astimezone(zone).date().replace(day=1)
        since = current
        for _step in range(12):
            start = month_before(since)
            boundary = datetime(start.year, start.month, 1, tzinfo=zone)
            recent = [
                invoice
                for invoice in invoices
                if any(
                    line.get("period_to")
                    and datetime.fromisoformat(line["period_to"]) >= boundary
                    for line in invoice["order_lines"]
                )
            ]
            active = {
                (row.customer, row.currency)
                for row in everything
                if row.month < start and row.movement == NEW
            }
            months = months_between(since, current)
            rows = monthly_rows(
                recent, zone, today, months=months, active_before=active
            )
            assert rows == [row for row in everything if row.month >= since]
            compared += len(rows)
            since = start
    assert compared > 1000


def next_month(month):
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)
