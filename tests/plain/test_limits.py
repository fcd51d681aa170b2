"""The sandbox enforces Billwerk's documented limits: 25 GET/s, bursts to 50,
10 writes/s and 10 requests in flight per key (arithmetic on a fake clock; the
HTTP side in test_sandbox.py)."""

import base64
import http.client
import json
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from sandbox.launcher import SandboxProcess
from sandbox.limits import Limiter, LimitExceeded, RateLimits
from sandbox.server import running_sandbox

ROOT = Path(__file__).resolve().parents[2]


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def limiter(**limits):
    clock = FakeClock()
    return clock, Limiter(RateLimits(**limits), clock=clock)


def admit(limiter_, key="key", method="GET"):
    """True when one request is admitted (and done at once)."""
    try:
        with limiter_.enter(key, method):
            return True
    except LimitExceeded as exc:
        assert exc.kind == "rate_limit"
        return False


def test_documented_defaults():
    limits = RateLimits()
    assert (limits.get_rate, limits.get_burst) == (25.0, 50)
    assert (limits.write_rate, limits.write_burst) == (10.0, 10)
    assert limits.max_concurrent == 10


def test_a_burst_of_fifty_gets_then_the_fifty_first_is_refused():
    _clock, gate = limiter()
    assert [admit(gate) for _ in range(51)] == [True] * 50 + [False]
    assert gate.refused[("key", "rate_limit")] == 1


def test_after_the_burst_twenty_five_gets_per_second():
    clock, gate = limiter()
    passed = 0
    # Hammer every millisecond for 10 s: the burst, then 25 a second.
    for step in range(10_000):
        clock.now = step / 1000
        passed += admit(gate)
    # 250 tokens come in 10 s; the last one is due at 10.0 s, at the edge.
    assert 50 + 250 - 1 <= passed <= 50 + 250


def test_refused_requests_spend_no_token():
    clock, gate = limiter()
    for _ in range(50):
        admit(gate)
    for _ in range(100):
        assert not admit(gate)
    clock.now = 0.04  # one token's worth
    assert admit(gate)
    assert not admit(gate)


def test_buckets_are_per_key_and_writes_have_their_own():
    _clock, gate = limiter()
    for _ in range(50):
        admit(gate)
    assert not admit(gate)
    assert admit(gate, key="other")
    assert [admit(gate, method="PUT") for _ in range(11)] == [True] * 10 + [False]


def test_an_idle_key_refills_to_the_burst_and_no_more():
    clock, gate = limiter()
    for _ in range(50):
        admit(gate)
    clock.now = 3600.0
    assert [admit(gate) for _ in range(51)] == [True] * 50 + [False]


def test_at_most_ten_requests_in_flight_per_key():
    _clock, gate = limiter()
    with ExitStack() as in_flight:
        for _ in range(10):
            in_flight.enter_context(gate.enter("key", "GET"))
        assert gate.active("key") == 10
        with pytest.raises(LimitExceeded) as refused:
            in_flight.enter_context(gate.enter("key", "GET"))
        assert refused.value.kind == "concurrency_limit"
        assert admit(gate, key="other")
    assert gate.active("key") == 0
    assert admit(gate)


def test_switched_off_limits_admit_everything():
    _clock, gate = limiter(enabled=False)
    assert all(admit(gate) for _ in range(1000))


def test_retry_after_goes_with_a_429_when_configured():
    _clock, gate = limiter(retry_after=2)
    for _ in range(50):
        admit(gate)
    with pytest.raises(LimitExceeded) as refused, gate.enter("key", "GET"):
        pass
    assert refused.value.headers == {"Retry-After": "2"}


def get(url, path, key=None, method="GET"):
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    headers = {}
    if key:
        headers["Authorization"] = (
            "Basic " + base64.b64encode(f"{key}:".encode()).decode()
        )
    try:
        conn.request(method, path, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        conn.close()


def test_stats_tell_another_process_what_was_served_and_refused():
    with running_sandbox(customers=20, accounts=1) as server:
        server.limits.get_rate, server.limits.get_burst = 0.001, 3
        statuses = [get(server.url, "/v1/account", server.keys[0])[0] for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        status, stats = get(server.url, "/_sandbox/stats?prefix=/v1/account")
        assert status == 200
        assert stats == {
            "requests": 4,
            "statuses": {"200": 3, "429": 1},
            "refused": {"rate_limit": 1},
        }
        # Asking does not count.
        assert get(server.url, "/_sandbox/stats")[1]["statuses"] == stats["statuses"]
        assert get(server.url, "/_sandbox/clear_log", method="POST")[0] == 200
        assert get(server.url, "/_sandbox/stats")[1]["requests"] == 0
        assert get(server.url, "/_sandbox/nothing")[0] == 404


def test_cli_sets_the_limits_it_is_given():
    args = ["--customers", "20", "--get-rate", "0.001", "--get-burst", "2"]
    box = SandboxProcess([*args, "--max-concurrent", "3"], accounts=1)
    try:
        statuses = [get(box.url, "/v1/account", box.key)[0] for _ in range(3)]
        assert statuses == [200, 200, 429]
        assert box.stats()["refused"] == {"rate_limit": 1}
    finally:
        assert box.stop() == 0
