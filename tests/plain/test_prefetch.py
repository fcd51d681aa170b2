"""List reads fetch the next page in a thread of the client while the caller
works on the current one; against the bundled sandbox over real HTTP.

Nothing here depends on how fast anything runs: a test that waits, waits for a
condition, and its time-out only turns a hang into a failure.
"""

import threading
import time

import pytest

from client import errors
from client.http_client import BillwerkClient
from client.retry import Pacer, RetryPolicy
from sandbox.server import running_sandbox

LATE = "2100-01-01"
FAST_RETRIES = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, budget=5)
PATIENCE = 30.0  # seconds before a wait that should end is called a hang


@pytest.fixture(scope="module")
def sandbox():
    with running_sandbox(seed=5, customers=1000, plans=4, invoices=50) as server:
        yield server


@pytest.fixture(autouse=True)
def clean_sandbox(sandbox):
    sandbox.reset()
    sandbox.limits.enabled = False
    yield
    sandbox.reset()
    assert not fetch_threads(), "a list read left its fetch thread running"


def make_client(sandbox, **options):
    options.setdefault("retry_policy", FAST_RETRIES)
    options.setdefault("pacer", Pacer(rate=1000, burst=1000))
    return BillwerkClient(sandbox.keys[0], sandbox.url, **options)


def fetch_threads():
    return [t for t in threading.enumerate() if t.name.startswith("billwerk-list-")]


def wait_until(condition):
    deadline = time.monotonic() + PATIENCE
    while not condition():
        assert time.monotonic() < deadline, "waited in vain"
        time.sleep(0.005)


def served(sandbox, entity="customer"):
    return sandbox.count(f"/v1/list/{entity}")


def keys(pages):
    return [[c["handle"] for c in page.content] for page in pages]


def test_pages_come_in_order_with_their_tokens_as_without_prefetch(sandbox):
    with make_client(sandbox, prefetch=0) as plain:
        expected = list(plain.iter_list("customer", date_to=LATE))
    for depth in (1, 2):
        with make_client(sandbox, prefetch=depth) as client:
            pages = list(client.iter_list("customer", date_to=LATE))
        assert keys(pages) == keys(expected)
        assert [p.next_page_token for p in pages] == [
            p.next_page_token for p in expected
        ]
    assert len(expected) == 10
    assert expected[-1].next_page_token is None


def test_the_next_page_is_fetched_while_the_caller_holds_this_one(sandbox):
    with make_client(sandbox, prefetch=1) as client:
        pages = client.iter_list("customer", date_to=LATE)
        next(pages)
        # Nothing asked for page 2 yet, and still it comes.
        wait_until(lambda: served(sandbox) == 2)
        assert len(fetch_threads()) == 1
        rest = list(pages)
    assert len(rest) == 9
    assert served(sandbox) == 10


@pytest.mark.parametrize("depth", [1, 2])
def test_fetching_ahead_is_bounded(sandbox, depth):
    seen = []
    with make_client(sandbox, prefetch=depth) as client:
        for number, _page in enumerate(client.iter_list("customer", date_to=LATE), 1):
            # The fetch thread waits for room before each request, so it is
            # never more than `depth` pages ahead of the caller.
            seen.append(served(sandbox) - number)
            if number < 10:
                wait_until(lambda n=number: served(sandbox) == min(n + depth, 10))
    assert max(seen) <= depth
    assert served(sandbox) == 10


def test_by_default_two_pages_are_fetched_ahead(sandbox):
    with make_client(sandbox) as client:
        pages = client.iter_list("customer", date_to=LATE)
        next(pages)
        wait_until(lambda: served(sandbox) == 3)
        assert len(list(pages)) == 9
    assert served(sandbox) == 10


def test_prefetch_zero_fetches_in_the_callers_thread(sandbox):
    with make_client(sandbox, prefetch=0) as client:
        for number, _page in enumerate(client.iter_list("customer", date_to=LATE), 1):
            assert not fetch_threads()
            assert served(sandbox) == number


def test_prefetch_is_a_small_number_of_pages(sandbox):
    for wrong in (-1, 3, 1.5, None):
        with pytest.raises(ValueError):
            make_client(sandbox, prefetch=wrong)


def test_a_resumed_read_starts_at_its_page_token(sandbox):
    with make_client(sandbox) as client:
        pages = list(client.iter_list("customer", date_to=LATE))
        resumed = list(
            client.iter_list(
                "customer", date_to=LATE, page_token=pages[3].next_page_token
            )
        )
    assert keys(resumed) == keys(pages[4:])


def test_a_fetch_error_is_raised_at_the_page_where_it_happened(sandbox):
    sandbox.faults.fail_next(count=10, status=503, after=3, prefix="list/customer")
    got = 0
    with make_client(sandbox) as client, pytest.raises(errors.ServerError) as failed:
        for _page in client.iter_list("customer", date_to=LATE):
            got += 1
    assert got == 3  # pages 1-3 reached the caller, then the error
    assert failed.value.status == 503
    assert served(sandbox) == 3 + FAST_RETRIES.max_attempts


def test_typed_errors_cross_the_thread_unchanged(sandbox):
    with make_client(sandbox) as client:
        with pytest.raises(errors.RequestRejected) as rejected:
            next(client.iter_list("customer", size=5))
        assert rejected.value.status == 400
        sandbox.faults.broken_json_next(prefix="list/customer")
        with pytest.raises(errors.MalformedResponse):
            next(client.iter_list("customer"))


def test_leaving_the_loop_early_stops_the_thread(sandbox):
    with make_client(sandbox) as client:
        for number, _page in enumerate(client.iter_list("customer", date_to=LATE), 1):
            if number == 2:
                break
        # The generator was closed by the loop's end: thread joined.
        assert not fetch_threads()
    assert served(sandbox) <= 3


def test_an_exception_in_the_callers_work_stops_the_thread(sandbox):
    class WriteFailed(Exception):
        pass

    with make_client(sandbox) as client:
        with pytest.raises(WriteFailed):
            for _page in client.iter_list("customer", date_to=LATE):
                raise WriteFailed
        assert not fetch_threads()
    assert served(sandbox) <= 2


def test_closing_cuts_a_back_off_wait_short(sandbox):
    # Page 2 fails and the fetch thread would wait an hour before retrying:
    # closing the read must wake it (done in a helper thread, so that a
    # hang fails the test instead of stalling the suite).
    sandbox.faults.fail_next(count=1, status=503, after=1, prefix="list/customer")
    hour = RetryPolicy(max_attempts=3, base_delay=3600, max_delay=3600, budget=9000)
    with make_client(sandbox, retry_policy=hour) as client:
        pages = client.iter_list("customer", date_to=LATE)
        next(pages)
        wait_until(lambda: sandbox.request_counts["/v1/list/customer"] == 2)
        closer = threading.Thread(target=pages.close)
        closer.start()
        closer.join(PATIENCE)
        assert not closer.is_alive()
        assert not fetch_threads()


def test_closing_the_client_stops_its_open_reads(sandbox):
    client = make_client(sandbox)
    pages = client.iter_list("customer", date_to=LATE)
    next(pages)
    # At least the page fetched ahead: the thread may be on the next one by
    # the time this looks (a poll for exactly 2 could miss it and hang).
    wait_until(lambda: served(sandbox) >= 2)
    client.close()
    assert not fetch_threads()
    # What was fetched may still be read; then the read says it was cut off.
    with pytest.raises(errors.BillwerkError, match="closed"):
        list(pages)


def test_a_dropped_reader_does_not_leak_its_thread(sandbox):
    with make_client(sandbox) as client:
        pages = client.iter_list("customer", date_to=LATE)
        next(pages)
        del pages  # garbage: CPython closes the generator, which joins
        assert not fetch_threads()


def test_the_session_never_serves_two_requests_at_once(sandbox):
    in_flight, most = [0], [0]
    lock = threading.Lock()
    with make_client(sandbox, prefetch=2) as client:
        send = client._session.request

        def counting(*args, **kwargs):
            with lock:
                in_flight[0] += 1
                most[0] = max(most[0], in_flight[0])
            try:
                return send(*args, **kwargs)
            finally:
                with lock:
                    in_flight[0] -= 1

        client._session.request = counting
        for page in client.iter_list("customer", date_to=LATE):
            # Single reads from the caller's thread while the list is fetched.
            assert client.get("customer", page.content[0]["handle"])
    assert most[0] == 1


def test_a_rate_limit_slows_the_pacer_and_success_speeds_it_up(sandbox):
    pacer = Pacer(rate=1000, burst=1000)
    sandbox.faults.rate_limit_every(3, prefix="list/customer")
    with make_client(sandbox, pacer=pacer) as client:
        pages = list(client.iter_list("customer", date_to=LATE))
        assert len(pages) == 10
        assert pacer.throttles == 4  # requests 3, 6, 9 and 12 of 14
        assert pacer.rate < 1000
        sandbox.faults.reset()
        for _ in range(100):
            client.account()
    assert pacer.rate == 1000


def test_the_default_client_reads_under_the_real_limits_without_a_429(sandbox):
    sandbox.limits.enabled = True
    with BillwerkClient(sandbox.keys[0], sandbox.url) as client:
        pages = list(client.iter_list("customer", date_to=LATE))
        assert client.pacer.throttles == 0
    assert len(pages) == 10
    assert served(sandbox) == 10
