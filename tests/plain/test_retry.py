import random

from client.retry import Pacer, RetryPolicy, parse_retry_after


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
