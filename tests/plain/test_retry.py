import itertools
import random
import threading

import pytest

from client.retry import Pacer, RetryPolicy, parse_retry_after
from sandbox.limits import Limiter, LimitExceeded, RateLimits


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_backoff_grows_exponentially_within_jitter_and_cap():
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0, rng=random.Random(7))
    for attempt, ceiling in [(1, 1), (2, 2), (3, 4), (4, 8), (5, 8), (9, 8)]:
        delay = policy.delay(attempt)
        assert ceiling / 2 <= delay <= ceiling


def test_retry_after_wins_but_is_capped():
    policy = RetryPolicy(max_delay=10.0)
    assert policy.delay(1, retry_after=3.0) == 3.0
    assert policy.delay(1, retry_after=3600.0) == 10.0


def test_budget_bounds_attempts_and_seconds():
    policy = RetryPolicy(max_attempts=3, budget=5.0)
    assert policy.allows(1, elapsed=0.0, next_delay=1.0)
    assert not policy.allows(3, elapsed=0.0, next_delay=0.1)
    assert not policy.allows(1, elapsed=4.5, next_delay=1.0)


def test_retry_after_parses_seconds_and_http_dates():
    assert parse_retry_after("7") == 7.0
    in_ten = parse_retry_after("Wed, 25 Nov 2026 10:00:10 GMT", now=1795600000.0)
    assert in_ten is not None and in_ten >= 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_pacer_keeps_a_long_burst_under_the_rate():
    clock = FakeClock()
    pacer = Pacer(rate=20.0, burst=20, clock=clock, sleep=clock.sleep)
    for _ in range(220):
        pacer.acquire()
    # 20 free in the first burst, then 200 paced at 20/s: at least 10 seconds.
    assert clock.now >= 10.0 - 1e-9
    assert 220 / clock.now <= 22.0


def test_pacer_does_not_wait_within_the_burst():
    clock = FakeClock()
    pacer = Pacer(rate=20.0, burst=20, clock=clock, sleep=clock.sleep)
    for _ in range(20):
        pacer.acquire()
    assert clock.now == 0.0


# the adaptive pacer, on a fake clock -------------------------------------------


def fake_pacer(**options):
    clock = FakeClock()
    return clock, Pacer(clock=clock, sleep=clock.sleep, **options)


def test_default_pacer_runs_at_the_documented_rate_with_a_margin_on_the_burst():
    pacer = Pacer()
    assert pacer.rate == pacer.max_rate == 25.0
    assert 1 <= pacer.burst < 50


def test_default_pacer_never_trips_the_documented_limits():
    # The sandbox's limiter (25/s, bursts to 50), on the same fake clock.
    clock, pacer = fake_pacer()
    limiter = Limiter(RateLimits(), clock=clock)
    for _ in range(2000):
        pacer.acquire()
        with limiter.enter("key", "GET"):
            pass
    # 40 at once, then 1960 at 25/s: exactly the documented rate.
    assert clock.now == pytest.approx((2000 - pacer.burst) / 25.0)


def test_reservations_queue_up_in_order():
    clock, pacer = fake_pacer(rate=10.0, burst=1)
    assert [pacer.reserve() for _ in range(3)] == pytest.approx([0.0, 0.1, 0.2])
    assert clock.now == 0.0


def test_a_429_halves_the_rate_and_drops_the_burst():
    clock, pacer = fake_pacer()
    pacer.acquire()
    pacer.throttled()
    assert pacer.rate == 12.5
    assert pacer.throttles == 1
    for _ in range(10):
        pacer.acquire()
    # No burst left: ten requests at 12.5/s.
    assert clock.now == pytest.approx(10 / 12.5)


def test_retry_after_holds_every_request_back():
    clock, pacer = fake_pacer()
    pacer.throttled(retry_after=3.0)
    pacer.acquire()
    assert clock.now >= 3.0
    assert clock.now == pytest.approx(3.0 + 1 / 12.5)


def test_successes_raise_the_rate_back_additively_up_to_the_ceiling():
    _clock, pacer = fake_pacer()
    pacer.throttled()
    pacer.throttled()
    assert pacer.rate == 6.25
    rates = []
    for _ in range(200):
        pacer.succeeded()
        rates.append(pacer.rate)
    steps = {round(b - a, 9) for a, b in itertools.pairwise(rates) if b != a}
    assert steps == {0.25}  # one step per answer: additive
    assert max(rates) == rates[-1] == 25.0


def test_repeated_429s_never_go_under_the_floor():
    _clock, pacer = fake_pacer(min_rate=2.0)
    for _ in range(20):
        pacer.throttled()
    assert pacer.rate == 2.0


def test_after_429s_the_schedule_recovers_and_stays_under_the_limit():
    clock, pacer = fake_pacer()
    limiter = Limiter(RateLimits(), clock=clock)
    passed = refused = 0
    # Someone else spends the key's whole burst at the start.
    for _ in range(50):
        with limiter.enter("key", "GET"):
            pass
    for _ in range(1000):
        pacer.acquire()
        try:
            with limiter.enter("key", "GET"):
                pass
        except LimitExceeded:
            refused += 1
            pacer.throttled()
            clock.sleep(1.0)  # the client's back-off
        else:
            passed += 1
            pacer.succeeded()
    assert 0 < refused < 10
    assert pacer.rate == 25.0
    assert passed + refused == 1000


def test_pacer_arguments_are_checked():
    for options in ({"rate": 0}, {"burst": 0}, {"decrease": 1.0}):
        with pytest.raises(ValueError):
            Pacer(**options)


def test_a_set_cancel_event_cuts_a_real_wait_short():
    pacer = Pacer(rate=0.001, burst=1)  # the second token comes in 1000 s
    cancel = threading.Event()
    assert pacer.acquire(cancel) is False
    cancel.set()
    assert pacer.acquire(cancel) is True  # returns at once, told it was cancelled
