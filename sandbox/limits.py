"""The documented request limits of Billwerk+ Optimize, enforced per private key.

25 GET/s with bursts to 50, 10 writes/s, at most 10 requests in flight per key;
over that an answer 429 with code 122 (rate) or 123 (concurrency). The rates
are token buckets: full (``burst`` tokens) at first, one token per request,
refilled at ``rate`` per second. A request refused for its rate or for
concurrency spends no token. A request is in flight from the moment it is
admitted until its answer is written (``Limiter.enter`` is held that long).
"""

import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class RateLimits:
    """The real API's limits, per key; change fields on ``server.limits`` live."""

    enabled: bool = True
    get_rate: float = 25.0
    get_burst: int = 50
    write_rate: float = 10.0
    write_burst: int = 10
    max_concurrent: int = 10
    retry_after: float | None = None


class LimitExceeded(Exception):
    """A request over the limits: ``kind`` is ``rate_limit`` or
    ``concurrency_limit``; ``headers`` go with the 429 answer."""

    def __init__(self, kind, message, headers):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.headers = headers


class Limiter:
    """Token buckets per key and method kind, plus a per-key concurrency count.

    ``clock`` (seconds, monotonic) is injectable so that tests can check the
    arithmetic without waiting.
    """

    def __init__(self, limits, clock=time.monotonic):
        self.limits = limits
        self._clock = clock
        self._lock = threading.RLock()
        self._buckets = {}
        self._active = Counter()
        self.refused = Counter()  # (key, kind) -> 429s answered

    @contextmanager
    def enter(self, key, method):
        """Admit one request of ``key`` for the ``with`` block, or raise."""
        limits = self.limits
        if not limits.enabled:
            yield
            return
        read = method in ("GET", "HEAD")
        rate = limits.get_rate if read else limits.write_rate
        burst = limits.get_burst if read else limits.write_burst
        with self._lock:
            if self._active[key] >= limits.max_concurrent:
                raise self.error(
                    "concurrency_limit",
                    f"More than {limits.max_concurrent} concurrent requests",
                    key,
                )
            now = self._clock()
            tokens, stamp = self._buckets.get((key, read), (float(burst), now))
            tokens = min(float(burst), tokens + max(now - stamp, 0.0) * rate)
            if tokens < 1:
                self._buckets[(key, read)] = (tokens, now)
                kind = "GET" if read else "write"
                raise self.error("rate_limit", f"More than {rate:g} {kind}s/s", key)
            self._buckets[(key, read)] = (tokens - 1, now)
            self._active[key] += 1
        try:
            yield
        finally:
            with self._lock:
                self._active[key] -= 1

    def error(self, kind, message, key=None):
        """The 429 to answer (with ``Retry-After`` when the limits say so)."""
        headers = {}
        if self.limits.retry_after is not None:
            headers["Retry-After"] = f"{self.limits.retry_after:g}"
        with self._lock:
            self.refused[(key, kind)] += 1
        return LimitExceeded(kind, message, headers)

    def active(self, key):
        with self._lock:
            return self._active[key]

    def reset(self):
        """Full buckets again, counts of refusals forgotten."""
        with self._lock:
            self._buckets.clear()
            self.refused.clear()
