"""A scheduled call's time budget: read from Odoo's limits, never past them."""

import pytest

from scheduling.budget import (
    UNLIMITED_SLICE,
    OutOfTime,
    TimeBudget,
    limit_is_below_cron_sleep,
    seconds_for,
    worker_limit,
)


class Clock:
    """Seconds that pass only when the test says so."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.mark.parametrize(
    ("cron", "real", "expected"),
    [
        (20, 120, 20),  # --limit-time-real-cron
        (-1, 20, 20),  # -1: the HTTP workers' limit applies
        (None, 120, 120),
        (0, 120, 0),  # 0: no limit
        (-1, 0, 0),
    ],
)
def test_the_worker_limit_is_read_as_odoo_reads_it(cron, real, expected):
    assert worker_limit(cron, real) == expected


def test_a_call_works_for_a_share_of_the_limit_or_a_slice_without_one():
    assert seconds_for(20, 0.5) == 10
    assert seconds_for(0, 0.5) == UNLIMITED_SLICE


def test_under_prefork_workers_the_cron_sleep_counts_against_the_limit():
    # 120 s: up to 69 s of sleep before a woken call leave 40 s; half of it.
    assert seconds_for(120, 0.5, prefork=True) == 20
    assert seconds_for(150, 0.5, prefork=True) == 35
    # 20 s leaves nothing after the sleep: a quarter of the share still works.
    assert seconds_for(20, 0.5, prefork=True) == 2.5
    assert limit_is_below_cron_sleep(20, prefork=True)
    assert not limit_is_below_cron_sleep(150, prefork=True)
    assert not limit_is_below_cron_sleep(20, prefork=False)


def test_an_administrator_may_cap_a_call():
    assert seconds_for(120, 0.5, ceiling=5) == 5
    assert seconds_for(0, 0.5, ceiling=5) == 5
    assert seconds_for(120, 0.5, ceiling=500) == 60


def test_a_step_is_not_started_when_the_longest_so_far_would_not_fit():
    clock = Clock()
    budget = TimeBudget(10, clock=clock)
    clock.now = 3  # a page of 3 s
    budget.check()
    clock.now = 5  # a page of 2 s: 5 s left, the longest took 3
    budget.check()
    clock.now = 7.5  # 2.5 s left, the longest took 3: stop before the next
    with pytest.raises(OutOfTime):
        budget.check()


def test_an_unlimited_budget_never_stops_a_run():
    budget = TimeBudget.unlimited()
    for _ in range(1000):
        budget.check()
    assert not budget.spent()
