"""Revenue recognition's arithmetic (mapping/revenue.py): monthly shares that
add up exactly, over hand-computed periods and over every sandbox invoice."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from mapping.revenue import (
    deferral_shares,
    month_end,
    month_shares,
    service_period,
    take_latest_first,
)
from sandbox.server import running_sandbox

UTC = ZoneInfo("UTC")
COPENHAGEN = ZoneInfo("Europe/Copenhagen")
TOKYO = ZoneInfo("Asia/Tokyo")


def test_an_annual_plan_invoiced_mid_month_is_recognised_day_by_day():
    # The README's example: 120.00 for 15 Nov 2026 -> 15 Nov 2027 (365 days).
    period = service_period(
        "2026-11-15T00:00:00.000+00:00", "2027-11-15T00:00:00.000+00:00"
    )
    assert period.days == 365
    shares = deferral_shares(12000, period, date(2026, 11, 15))
    assert shares[0] == (date(2026, 11, 1), 526)  # 16 days: 526.03
    assert shares[1] == (date(2026, 12, 1), 1019)  # 31 days: 1,019.18
    assert shares[3] == (date(2027, 2, 1), 921)  # 28 days: 920.55
    assert shares[5] == (date(2027, 4, 1), 986)  # 30 days: 986.30
    # 14 days would be 460.27: the last month takes the remainder.
    assert shares[-1] == (date(2027, 11, 1), 462)
    assert len(shares) == 13
    assert sum(share for _month, share in shares) == 12000


def test_a_line_within_its_invoices_month_or_before_it_is_not_deferred():
    invoice_day = date(2026, 3, 10)
    within = service_period("2026-03-01", "2026-04-01")
    assert deferral_shares(999, within, invoice_day) is None
    in_arrears = service_period("2026-02-01", "2026-03-01")
    assert deferral_shares(999, in_arrears, invoice_day) is None
    assert deferral_shares(999, None, invoice_day) is None
    # One day of the next month is enough to defer it.
    reaching = service_period("2026-03-31", "2026-04-02")
    assert deferral_shares(1000, reaching, invoice_day) == [
        (date(2026, 3, 1), 500),
        (date(2026, 4, 1), 500),
    ]


def test_months_before_the_invoice_are_recognised_in_its_month():
    # Invoiced late: the service started two months before the invoice.
    period = service_period("2026-01-01", "2026-04-01")  # 90 days
    shares = deferral_shares(9000, period, date(2026, 2, 20))
    # January (31 days: 3,100) and February (28 days: 2,800) in February.
    assert shares == [(date(2026, 2, 1), 5900), (date(2026, 3, 1), 3100)]


def test_a_period_of_one_day():
    period = service_period("2026-12-31T00:00:00Z", "2027-01-01T00:00:00Z")
    assert period.days == 1
    assert month_shares(777, period) == [(date(2026, 12, 1), 777)]
    assert deferral_shares(777, period, date(2026, 12, 31)) is None
    assert deferral_shares(777, period, date(2026, 11, 30)) == [
        (date(2026, 12, 1), 777)
    ]


def test_empty_and_backwards_periods_have_nothing_to_spread():
    assert service_period("2026-05-01", "2026-05-01") is None
    assert service_period("2026-05-02", "2026-05-01") is None
    assert service_period(None, "2026-05-01") is None
    assert service_period("2026-05-01", "") is None


def test_leap_years():
    period = service_period("2027-03-01", "2028-03-01")
    assert period.days == 366
    shares = dict(month_shares(36600, period))
    assert shares[date(2028, 2, 1)] == 2900  # 29 days of 366
    assert shares[date(2027, 3, 1)] == 3100
    assert sum(shares.values()) == 36600
    feb = service_period("2028-02-01", "2028-03-01")
    assert feb.days == 29


def test_zero_and_three_decimal_currencies_add_up_in_their_minor_unit():
    # JPY 10,000 over a quarter starting mid-month; KWD 12.345 over a year.
    quarter = service_period("2026-01-20", "2026-04-20")
    yen = month_shares(10000, quarter)
    assert [share for _m, share in yen] == [1333, 3111, 3444, 2112]
    assert sum(share for _m, share in yen) == 10000
    year = service_period("2026-06-07", "2027-06-07")
    dinar = month_shares(12345, year)
    assert sum(share for _m, share in dinar) == 12345
    assert len(dinar) == 13


def test_negative_lines_round_half_away_from_zero_and_add_up():
    period = service_period("2026-01-16", "2026-03-16")  # 59 days
    shares = month_shares(-1000, period)
    # January 16 days: -271.19; February 28: -474.58; March the rest.
    assert shares == [
        (date(2026, 1, 1), -271),
        (date(2026, 2, 1), -475),
        (date(2026, 3, 1), -254),
    ]


def test_timestamps_are_days_of_the_accounts_time_zone():
    # 1 February 00:00 in Tokyo is 31 January 15:00 UTC.
    tokyo = service_period("2026-01-31T15:00:00Z", "2026-02-28T15:00:00Z", TOKYO)
    assert tokyo == (date(2026, 2, 1), date(2026, 3, 1))
    same_in_utc = service_period("2026-01-31T15:00:00Z", "2026-02-28T15:00:00Z", UTC)
    assert same_in_utc == (date(2026, 1, 31), date(2026, 2, 28))
    # Given with its own offset, the instant is the same.
    assert (
        service_period("2026-02-01T00:00:00+09:00", "2026-03-01T00:00:00+09:00", TOKYO)
        == tokyo
    )


def test_a_period_across_a_daylight_saving_change_counts_whole_days():
    # Copenhagen moves to summer time on 29 March 2026: 1 March 00:00 is
    # 23:00 UTC the day before, 1 April 00:00 is 22:00 UTC.
    period = service_period("2026-02-28T23:00:00Z", "2026-03-31T22:00:00Z", COPENHAGEN)
    assert period == (date(2026, 3, 1), date(2026, 4, 1))
    across = service_period("2026-03-14T23:00:00Z", "2026-04-14T22:00:00Z", COPENHAGEN)
    assert across.days == 31
    assert month_shares(3100, across) == [
        (date(2026, 3, 1), 1700),
        (date(2026, 4, 1), 1400),
    ]
    # And back to winter time on 25 October.
    autumn = service_period("2026-10-14T22:00:00Z", "2026-11-14T23:00:00Z", COPENHAGEN)
    assert autumn == (date(2026, 10, 15), date(2026, 11, 15))


def test_an_inclusive_end_is_read_as_the_next_days_start():
    period = service_period("2026-01-01T00:00:00Z", "2026-01-31T23:59:59Z")
    assert period == (date(2026, 1, 1), date(2026, 2, 1))


def test_month_end():
    assert month_end(date(2028, 2, 3)) == date(2028, 2, 29)
    assert month_end(date(2026, 12, 31)) == date(2026, 12, 31)
    assert month_end(date(2026, 4, 1)) == date(2026, 4, 30)


def test_a_credit_takes_the_latest_months_first():
    deferred = [
        (date(2026, 12, 1), 1000, 7460, 1),
        (date(2027, 1, 1), 1000, 7460, 1),
        (date(2027, 2, 1), 500, 3730, 2),
        (date(2027, 2, 1), 400, 2984, 1),
    ]
    assert take_latest_first(deferred, 1500) == [
        (date(2027, 2, 1), 500, 3730, 2),
        (date(2027, 2, 1), 400, 2984, 1),
        (date(2027, 1, 1), 600, 4476, 1),  # 7,460 × 600 / 1,000
    ]
    # More than is deferred: all of it, the rest was recognised already.
    taken = take_latest_first(deferred, 5000)
    assert sum(row[1] for row in taken) == 2900
    assert sum(row[2] for row in taken) == 21634
    assert take_latest_first(deferred, 0) == []
    assert take_latest_first([(date(2027, 1, 1), 0, 0, 1)], 100) == []


@pytest.fixture(scope="module")
def sandbox():
    # Three accounts: DKK in Copenhagen, JPY in Tokyo, EUR and KWD in Berlin.
    with running_sandbox(rate_limit=False, accounts=3) as server:
        yield server


def test_every_sandbox_invoice_line_is_recognised_exactly(sandbox):
    deferred_lines, months, zones = 0, 0, set()
    for account in sandbox.accounts:
        zone = account.tz
        zones.add(str(zone))
        for invoice in account.invoices.values():
            invoice_day = local_day(invoice["created"], zone)
            for line in invoice["order_lines"]:
                period = service_period(line["period_from"], line["period_to"], zone)
                if period is None:
                    continue
                minor = line["amount_ex_vat"]  # minor units on the wire
                shares = month_shares(minor, period)
                assert sum(share for _m, share in shares) == minor
                assert [m for m, _s in shares] == sorted({m for m, _s in shares})
                deferral = deferral_shares(minor, period, invoice_day)
                if deferral:
                    deferred_lines += 1
                    months += len(deferral)
                    assert sum(share for _m, share in deferral) == minor
                    assert deferral[-1][0] == shares[-1][0]
    assert zones == {"Europe/Copenhagen", "Asia/Tokyo", "Europe/Berlin"}
    assert deferred_lines > 50 and months > deferred_lines


def local_day(timestamp, zone):
    return (
        datetime.fromisoformat(timestamp.replace("Z", "+00:00")).astimezone(zone).date()
    )
