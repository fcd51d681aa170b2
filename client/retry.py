"""Back-off and pacing, kept apart from HTTP so both can be tested on a fake clock."""

import random
import threading
import time
from email.utils import parsedate_to_datetime


class RetryPolicy:
    """Exponential back-off with full jitter, bounded in attempts and seconds.

    Billwerk asks for 1 s, 2 s, 4 s, ... after a 429; a ``Retry-After`` header,
    when sent, wins (capped by ``max_delay``).
    """

    def __init__(
        self, max_attempts=5, base_delay=1.0, max_delay=30.0, budget=60.0, rng=None
    ):
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.budget = budget
        self._rng = rng or random.Random()

    def delay(self, attempt, retry_after=None):
        """Seconds to wait before attempt number ``attempt + 1`` (attempt >= 1)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay)
        ceiling = min(self.base_delay * 2 ** (attempt - 1), self.max_delay)
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def allows(self, attempt, elapsed, next_delay):
        return attempt < self.max_attempts and elapsed + next_delay <= self.budget


def parse_retry_after(value, now=None):
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.replace(".", "", 1).isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = now if now is not None else time.time()
    return max(moment.timestamp() - now, 0.0)


# Billwerk documents 25 GET/s with bursts to 50 per key. The pacer runs at the
# documented rate but keeps its burst 10 tokens below the documented one: a new
# client (one per run) starts with a full bucket while Billwerk's bucket for the
# key may already be short of tokens, spent by another user of the same key (the
# key check, a webhook's fetch, another worker, the previous run a moment ago),
# and requests sent evenly may arrive bunched. The margin costs 10 requests'
# worth of head start once per client (0.4 s), nothing on a long read.
READ_RATE = 25.0
READ_BURST = 40


def pause(sleep, seconds, cancel=None):
    """Wait ``seconds`` with ``sleep``; None sleeps for real and wakes on ``cancel``.

    Returns True when ``cancel`` is set (the wait may have been cut short).
    """
    if seconds > 0:
        if sleep is not None:
            sleep(seconds)
        elif cancel is not None:
            cancel.wait(seconds)
        else:
            time.sleep(seconds)
    return cancel is not None and cancel.is_set()


class Pacer:
    """Adaptive token bucket that keeps a client under Billwerk's read limit.

    Starts at ``rate`` (25/s) with ``burst`` tokens; a 429 (``throttled``)
    divides the rate by two (multiplicative decrease, never under ``min_rate``),
    drops the tokens left and, with a ``Retry-After``, lets nothing through
    before that many seconds; each answer that was not a 429 (``succeeded``)
    adds ``increase`` requests/s back, up to ``rate`` (additive increase).

    Tokens are reserved: ``reserve`` takes one at once and says how long to
    wait before using it, so threads sharing a pacer queue up in order.
    """

    def __init__(
        self,
        rate=READ_RATE,
        burst=READ_BURST,
        *,
        min_rate=None,
        increase=None,
        decrease=0.5,
        clock=time.monotonic,
        sleep=None,
    ):
        if rate <= 0 or burst < 1 or not 0 < decrease < 1:
            raise ValueError("rate > 0, burst >= 1 and 0 < decrease < 1 are needed")
        self.max_rate = float(rate)
        self.rate = float(rate)
        self.burst = burst
        # Defaults for 25/s: never under 1/s; 0.25/s more per answer, so half
        # the rate is made good again in 50 answers (about 2.5 s).
        self.min_rate = float(min_rate) if min_rate is not None else rate / 25
        self.increase = float(increase) if increase is not None else rate / 100
        self.decrease = decrease
        self.throttles = 0
        self._tokens = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._lock = threading.Lock()

    def __repr__(self):
        return f"<Pacer {self.rate:g}/s of {self.max_rate:g}/s, burst {self.burst}>"

    def _refill(self, now):
        # ``_last`` lies ahead while a Retry-After holds the bucket shut.
        if now > self._last:
            self._tokens = min(
                float(self.burst), self._tokens + (now - self._last) * self.rate
            )
            self._last = now

    def reserve(self):
        """Take a token; the seconds to wait before the request may go (0: now)."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            self._tokens -= 1
            wait = max(self._last - now, 0.0)
            if self._tokens < 0:
                wait += -self._tokens / self.rate
            return wait

    def acquire(self, cancel=None):
        """Wait for a token; True when ``cancel`` was set meanwhile."""
        return pause(self._sleep, self.reserve(), cancel)

    def throttled(self, retry_after=None):
        """Billwerk answered 429: slow down, and hold off ``retry_after`` seconds."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            self.throttles += 1
            self.rate = max(self.min_rate, self.rate * self.decrease)
            self._tokens = min(self._tokens, 0.0)
            if retry_after:
                self._last = max(self._last, now + retry_after)

    def succeeded(self):
        """Billwerk answered without a 429: win back some rate."""
        with self._lock:
            if self.rate < self.max_rate:
                self._refill(self._clock())
                self.rate = min(self.max_rate, self.rate + self.increase)
