"""Switchable failures, so client tests can provoke what the real API does rarely.

Every switch may be limited to a path prefix (``"/v1/list/customer"``; a prefix
without a leading slash is taken relative to ``/v1/``). ``reset()`` clears them all.
"""

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Fault:
    """What the server does with one request.

    ``action`` is None (answer normally), ``"drop"``, ``"error"``, ``"rate_limit"``,
    ``"broken_json"`` or ``"corrupt"`` (``mutate`` rewrites a copy of the
    answer's JSON); ``delay`` seconds are slept first in every case.
    """

    action: str | None = None
    status: int = 200
    delay: float = 0.0
    mutate: object = None


NO_FAULT = Fault()


def _prefix(prefix):
    if not prefix:
        return "/"
    return prefix if prefix.startswith("/") else "/v1/" + prefix


class Faults:
    """Thread-safe fault switches consulted by the server for every request."""

    def __init__(self):
        self._lock = threading.Lock()
        self.reset()

    def reset(self):
        """Switch every fault off."""
        with self._lock:
            self._rate = None  # [every, prefix, seen]
            self._errors = None  # [remaining, status, prefix, to skip first]
            self._slow = None  # [seconds, remaining or None, prefix]
            self._broken = None  # [remaining, prefix]
            self._drops = None  # [remaining, prefix, to skip first]
            self._corrupt = None  # [remaining, prefix, mutate]

    def rate_limit_every(self, every, prefix=None):
        """Answer every ``every``-th matching call with 429, code 122."""
        if every < 1:
            raise ValueError("every must be at least 1")
        with self._lock:
            self._rate = [int(every), _prefix(prefix), 0]

    def fail_next(self, count=1, status=500, prefix=None, after=0):
        """Answer ``count`` matching calls with HTTP ``status``, after ``after``.

        ``after`` good calls pass first, so a test can break a long read midway.
        """
        with self._lock:
            self._errors = (
                [int(count), int(status), _prefix(prefix), int(after)]
                if count > 0
                else None
            )

    def slow(self, seconds, count=None, prefix=None):
        """Sleep ``seconds`` before answering (every call, or the next ``count``)."""
        with self._lock:
            self._slow = [float(seconds), count, _prefix(prefix)]

    def broken_json_next(self, count=1, prefix=None):
        """Answer the next ``count`` matching calls with 200 and a cut-off JSON body."""
        with self._lock:
            self._broken = [int(count), _prefix(prefix)] if count > 0 else None

    def corrupt_next(self, mutate, count=1, prefix=None):
        """Answer ``count`` matching calls with ``mutate(copy of the JSON answer)``.

        For data the real API should never send (a null list item, a string
        amount): what the client must survive, not what Billwerk documents.
        """
        with self._lock:
            self._corrupt = [int(count), _prefix(prefix), mutate] if count > 0 else None

    def drop_next(self, count=1, prefix=None, after=0):
        """Close the connection unanswered for ``count`` calls, after ``after``."""
        with self._lock:
            self._drops = (
                [int(count), _prefix(prefix), int(after)] if count > 0 else None
            )

    @property
    def active(self):
        """True while any switch is on."""
        with self._lock:
            switches = (
                self._rate,
                self._errors,
                self._slow,
                self._broken,
                self._drops,
                self._corrupt,
            )
            return any(switch is not None for switch in switches)

    def decide(self, path):
        """Consume the switches that match ``path`` and say what to do.

        Precedence: drop, error, rate limit, broken JSON; a delay combines with any.
        """
        with self._lock:
            delay = 0.0
            slow = self._slow
            if slow and path.startswith(slow[2]):
                delay = slow[0]
                if slow[1] is not None:
                    slow[1] -= 1
                    if slow[1] <= 0:
                        self._slow = None
            rate_hit = False
            if self._rate and path.startswith(self._rate[1]):
                self._rate[2] += 1
                rate_hit = self._rate[2] % self._rate[0] == 0
            if self._take("_drops", path):
                return Fault("drop", 0, delay)
            errors = self._errors
            if errors and path.startswith(errors[2]) and errors[3] > 0:
                errors[3] -= 1
            elif errors and path.startswith(errors[2]):
                errors[0] -= 1
                if errors[0] <= 0:
                    self._errors = None
                return Fault("error", errors[1], delay)
            if rate_hit:
                return Fault("rate_limit", 429, delay)
            if self._take("_broken", path):
                return Fault("broken_json", 200, delay)
            corrupt = self._corrupt
            if corrupt and path.startswith(corrupt[1]):
                corrupt[0] -= 1
                if corrupt[0] <= 0:
                    self._corrupt = None
                return Fault("corrupt", 200, delay, corrupt[2])
            return Fault(None, 200, delay) if delay else NO_FAULT

    def _take(self, name, path):
        switch = getattr(self, name)
        if not switch or not path.startswith(switch[1]):
            return False
        if len(switch) > 2 and switch[2] > 0:
            switch[2] -= 1
            return False
        switch[0] -= 1
        if switch[0] <= 0:
            setattr(self, name, None)
        return True
