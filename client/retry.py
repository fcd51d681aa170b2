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


class Pacer:
    """Token bucket that keeps a client under Billwerk's read limit (25/s)."""

    def __init__(self, rate=20.0, burst=20, clock=time.monotonic, sleep=time.sleep):
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self):
        with self._lock:
            now = self._clock()
            self._tokens = min(
                self.burst, self._tokens + (now - self._last) * self.rate
            )
            self._last = now
            if self._tokens < 1:
                wait = (1 - self._tokens) / self.rate
                self._sleep(wait)
                self._last = self._clock()
                self._tokens = 0.0
            else:
                self._tokens -= 1
