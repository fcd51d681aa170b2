"""A scheduled call's time budget, read from Odoo's worker limits.

Production Odoo kills a cron worker whose work between two heartbeats takes
longer than ``limit_time_real_cron`` seconds (``-1``: ``limit_time_real``;
``0``: no limit). A run therefore works for a share of that limit, stops at a
page or batch boundary, saves where it is and hands the rest to a new
scheduled call, whose worker starts with a fresh limit.

The share leaves room for what else the worker does before its next
heartbeat: Odoo runs every job that is due in one database in a row, and
this addon's webhook action may be one of them. A step is only started when
the time left is longer than the longest step seen so far, so that the last
page or batch never runs past the limit either.
"""

import time
from dataclasses import dataclass, field

# Odoo's defaults: limit_time_real 120 s, limit_time_real_cron -1.
DEFAULT_LIMIT = 120
# Prefork (--workers): a cron worker tells Odoo it is alive before it sleeps,
# and sleeps up to SLEEP_INTERVAL + 9 s (odoo/service/server.py, WorkerCron);
# the limit counts from that moment. A call woken by a trigger has what is
# left: the limit minus up to 69 s, and a margin for the other jobs of the
# worker's round.
PREFORK_CRON_SLEEP = 70
PREFORK_MARGIN = 10
# Where the limit leaves nothing after the sleep, a call still works this
# share of it (Odoo kills such workers when idle anyway; the run goes on).
FLOOR_SHARE = 0.25
# A call without any limit (threaded server with the limits off) still hands
# over now and then, so that one account's backlog never holds the cron
# thread for hours and the run's history shows its calls.
UNLIMITED_SLICE = 600
# The polling and reconciliation runs' share of the limit, and the webhook
# runs' (both may run in one heartbeat of the same worker).
SYNC_SHARE = 0.5
WEBHOOK_SHARE = 0.2


class OutOfTime(Exception):
    """The call's budget is spent: save, hand over, continue in a new call."""


def worker_limit(limit_time_real_cron, limit_time_real):
    """Seconds a cron worker may work, as Odoo reads its options; 0: none."""
    limit = limit_time_real_cron
    if limit is None or limit < 0:
        limit = limit_time_real if limit_time_real is not None else DEFAULT_LIMIT
    return max(limit or 0, 0)


def seconds_for(limit, share, prefork=False, ceiling=None):
    """The budget of one scheduled call under a worker limit of ``limit``.

    ``prefork``: Odoo runs cron workers (--workers), whose limit includes
    the sleep before the call. ``ceiling``: an operator's maximum per call.
    """
    if not limit:
        seconds = UNLIMITED_SLICE
    else:
        seconds = limit * share
        if prefork:
            after_sleep = limit - PREFORK_CRON_SLEEP - PREFORK_MARGIN
            floor = limit * FLOOR_SHARE * share
            seconds = min(seconds, max(after_sleep * share, floor))
    if ceiling:
        seconds = min(seconds, ceiling)
    return seconds


def limit_is_below_cron_sleep(limit, prefork):
    """Whether Odoo itself kills idle cron workers under this limit."""
    return bool(prefork and limit and limit <= PREFORK_CRON_SLEEP + PREFORK_MARGIN)


@dataclass
class TimeBudget:
    """Seconds a scheduled call may still spend, and the longest step so far."""

    seconds: float
    clock: object = time.monotonic
    started: float = field(default=None)
    longest_step: float = 0.0
    _step_started: float = field(default=None, repr=False)

    def __post_init__(self):
        if self.started is None:
            self.started = self.clock()
        self._step_started = self.started

    @classmethod
    def unlimited(cls):
        return cls(float("inf"))

    def left(self):
        return self.seconds - (self.clock() - self.started)

    def step_done(self):
        """A page or batch ended: remember how long it took."""
        now = self.clock()
        self.longest_step = max(self.longest_step, now - self._step_started)
        self._step_started = now

    def spent(self):
        """Whether the next step could end after the budget: stop before it."""
        return self.left() <= self.longest_step

    def check(self):
        """End the step; raise ``OutOfTime`` where the next one may not fit."""
        self.step_done()
        if self.spent():
            raise OutOfTime()
