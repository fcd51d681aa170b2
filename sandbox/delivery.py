"""Webhook delivery the way Billwerk describes it, in one background thread.

- Every webhook (one event for one URL) is POSTed as JSON; an answer 2xx within
  ``timeout`` seconds (10 s, as Billwerk asks) completes it.
- Webhooks of one customer to one URL go out first in, first out: while one
  fails, that customer's later webhooks wait. Other customers are not held up.
- A failed attempt (another status, a timeout, a refused connection) is retried
  after ``backoff[n - 1]`` seconds for the n-th failure; once the schedule is
  used up the webhook is ``failed`` and the customer's next one goes out.
- Every attempt is recorded (``attempts``): url, webhook and event id, status
  or error, elapsed seconds, the state it left the webhook in.

The payload and headers are made at sending time by ``prepare`` (so a new
secret signs every later attempt). Nothing here knows about accounts.
"""

import http.client
import json
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass

# Seconds before retry n (n = 1, 2, ...): an approximation of the hours-long
# schedule of the real service (its alert after four attempts is "1 hour"),
# not a documented one. Tests pass a tiny schedule.
DEFAULT_BACKOFF = (300, 600, 900, 1800, 3600, 7200, 14400, 28800, 43200, 86400)
DEFAULT_TIMEOUT = 10.0
# Webhook states, as the real API names them in its webhook list.
WEBHOOK_STATES = ("pending", "retrying", "disabled", "failed", "completed")


@dataclass
class Webhook:
    """One event for one URL; ``id`` stays the same across retries and replays."""

    id: str
    account_key: str
    url: str
    event: dict
    replay: bool = False
    attempts: int = 0
    state: str = "pending"

    @property
    def queue(self):
        """The FIFO this webhook waits in: per account, URL and customer."""
        return (self.account_key, self.url, self.event.get("customer"))


class Deliverer:
    """The delivery thread and its queues (see the module's docstring)."""

    def __init__(self, prepare, backoff=DEFAULT_BACKOFF, timeout=DEFAULT_TIMEOUT):
        self.prepare = prepare  # (webhook, forged) -> (payload dict, headers)
        self.backoff = tuple(backoff)
        self.timeout = timeout
        self.attempts = []
        self.webhooks = []
        self.completed = []
        self._cond = threading.Condition()
        self._queues = {}  # queue key -> deque of webhooks
        # queue key -> monotonic time its head may go; the order is the round
        # robin over the queues (a served queue moves to the end)
        self._ready = {}
        self._pending = 0  # webhooks neither completed nor failed
        self._paused = False
        self._forge = 0
        self._stopping = False
        self._thread = None
        # Straight to the receiver, as Billwerk does: no proxy from the environment.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    # control ---------------------------------------------------------------

    def start(self):
        with self._cond:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stopping = False
            self._thread = threading.Thread(
                target=self._run, name="billwerk-sandbox-webhooks", daemon=True
            )
            self._thread.start()

    def stop(self):
        """Stop; queued webhooks stay queued. An attempt under way is not
        waited for long (the thread is a daemon and ends after it)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=2)

    def pause(self):
        with self._cond:
            self._paused = True

    def resume(self):
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    def forge(self, count):
        """Sign the next ``count`` attempts with a wrong secret."""
        with self._cond:
            self._forge = max(0, int(count))

    def enqueue(self, webhook):
        with self._cond:
            self.webhooks.append(webhook)
            key = webhook.queue
            if key not in self._queues:
                self._queues[key] = deque()
                self._ready[key] = 0.0
            self._queues[key].append(webhook)
            self._pending += 1
            self._cond.notify_all()

    def wait(self, timeout):
        """True once every queued webhook is completed or failed, else False
        after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def snapshot(self):
        """Copies of the attempts so far."""
        with self._cond:
            return [dict(attempt) for attempt in self.attempts]

    def completed_webhooks(self):
        with self._cond:
            return list(self.completed)

    # the thread ------------------------------------------------------------

    def _run(self):
        while True:
            with self._cond:
                job = None
                while job is None:
                    if self._stopping:
                        return
                    job, wait = self._next()
                    if job is None:
                        self._cond.wait(wait)
                forged = self._forge > 0
                if forged:
                    self._forge -= 1
            attempt = self._attempt(job, forged)
            with self._cond:
                self._finish(job, attempt)
                self._cond.notify_all()

    def _next(self):
        """(webhook to send now or None, seconds to wait or None for ever)."""
        if self._paused:
            return None, None
        now = time.monotonic()
        soonest = None
        for key, ready in self._ready.items():
            if ready <= now:
                self._ready[key] = self._ready.pop(key)  # to the end of the round
                return self._queues[key][0], None
            soonest = ready if soonest is None else min(soonest, ready)
        return None, None if soonest is None else max(0.0, soonest - now)

    def _attempt(self, webhook, forged):
        payload, headers = self.prepare(webhook, forged)
        status = error = None
        started = time.monotonic()
        try:
            request = urllib.request.Request(
                webhook.url,
                data=json.dumps(payload).encode(),
                headers=headers,
                method="POST",
            )
            with self._opener.open(request, timeout=self.timeout) as response:
                status = response.status
                response.read()
        except urllib.error.HTTPError as exc:
            status = exc.code
            exc.close()
        except (OSError, ValueError, http.client.HTTPException) as exc:
            error = f"{type(exc).__name__}: {exc}"  # refused, timed out, bad URL
        return {
            "account": webhook.account_key,
            "url": webhook.url,
            "webhook_id": webhook.id,
            "event_id": webhook.event["id"],
            "event_type": webhook.event["event_type"],
            "customer": webhook.event.get("customer"),
            "attempt": webhook.attempts + 1,
            "status": status,
            "error": error,
            "ok": status is not None and 200 <= status < 300,
            "elapsed": time.monotonic() - started,
            "forged": forged,
            "replay": webhook.replay,
            "signature": payload.get("signature"),
            "state": None,
        }

    def _finish(self, webhook, attempt):
        webhook.attempts += 1
        key = webhook.queue
        if attempt["ok"]:
            webhook.state = "completed"
            self.completed.append(webhook)
        elif webhook.attempts > len(self.backoff):
            webhook.state = "failed"
        else:
            webhook.state = "retrying"
            delay = self.backoff[webhook.attempts - 1]
            self._ready[key] = time.monotonic() + delay
        attempt["state"] = webhook.state
        self.attempts.append(attempt)
        if webhook.state in ("completed", "failed"):
            queue = self._queues[key]
            queue.popleft()
            self._pending -= 1
            if queue:
                self._ready[key] = 0.0
            else:
                del self._queues[key]
                del self._ready[key]
