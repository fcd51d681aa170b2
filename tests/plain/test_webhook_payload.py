"""What the route accepts of a webhook's body (``mapping.events.webhook_values``)."""

from datetime import datetime, timedelta

import pytest

from mapping.events import (
    MAX_WEBHOOK_TEXT,
    WEBHOOK_CLOCK_SKEW,
    WEBHOOK_REPLAY_WINDOW,
    WEBHOOK_RETENTION,
    webhook_timing_problem,
    webhook_values,
)
from mapping.readers import MappingError

VALID = {
    "id": "wh-1",
    "event_id": "ev-1",
    "event_type": "invoice_settled",
    "timestamp": "2026-12-02T10:00:00.000Z",
    "signature": "ab" * 32,
    "customer": "cust-1",
    "invoice": "inv-7",
}


def test_a_valid_body_names_the_object_to_read():
    values = webhook_values(dict(VALID))
    assert (values["kind"], values["key"]) == ("invoice", "inv-7")
    assert (values["customer"], values["subscription"]) == ("cust-1", None)
    assert values["event_id"] == "ev-1"


def test_a_type_the_connector_does_not_read_names_nothing():
    values = webhook_values({**VALID, "event_type": "account_changed"})
    assert (values["kind"], values["key"]) == (None, None)


def test_an_event_about_an_object_without_its_handle_names_nothing():
    values = webhook_values({**VALID, "event_type": "subscription_renewal"})
    assert values["kind"] is None


@pytest.mark.parametrize(
    "field", ["id", "event_id", "event_type", "timestamp", "signature"]
)
@pytest.mark.parametrize(
    "value", [None, "", "   ", 5, ["x"], "x" * (MAX_WEBHOOK_TEXT + 1)]
)
def test_a_missing_or_odd_required_field_is_refused_by_name(field, value):
    with pytest.raises(MappingError) as refused:
        webhook_values({**VALID, field: value})
    assert field in str(refused.value)
    if isinstance(value, str) and value.strip():
        assert value not in str(refused.value), "the reason never echoes the value"


@pytest.mark.parametrize("body", [None, [], "text", 3])
def test_a_body_that_is_no_object_is_refused(body):
    with pytest.raises(MappingError):
        webhook_values(body)


def test_an_oversized_or_odd_handle_is_dropped_not_kept():
    values = webhook_values({**VALID, "invoice": "i" * (MAX_WEBHOOK_TEXT + 1)})
    assert (values["invoice"], values["kind"]) == (None, None)
    values = webhook_values({**VALID, "customer": {"handle": "c"}})
    assert values["customer"] is None


# the signed timestamp --------------------------------------------------------


def test_the_signed_timestamp_is_read_as_naive_utc():
    values = webhook_values({**VALID, "timestamp": "2026-12-02T11:00:00.64+01:00"})
    assert values["signed_at"] == datetime(2026, 12, 2, 10, 0, 0, 640000)
    assert values["timestamp"] == "2026-12-02T11:00:00.64+01:00", "signed as sent"


@pytest.mark.parametrize("value", ["yesterday", "2026-13-40T00:00:00Z", "12:00"])
def test_a_timestamp_that_is_no_date_time_is_refused_without_echo(value):
    with pytest.raises(MappingError) as refused:
        webhook_values({**VALID, "timestamp": value})
    assert "timestamp" in str(refused.value)
    assert value not in str(refused.value)


NOW = datetime(2026, 12, 2, 10, 0)


@pytest.mark.parametrize(
    ("signed_at", "problem"),
    [
        (NOW, None),
        (NOW - WEBHOOK_REPLAY_WINDOW, None),
        (NOW - WEBHOOK_REPLAY_WINDOW - timedelta(seconds=1), "old"),
        (NOW - timedelta(days=400), "old"),
        (NOW + WEBHOOK_CLOCK_SKEW, None),
        (NOW + WEBHOOK_CLOCK_SKEW + timedelta(seconds=1), "ahead"),
    ],
)
def test_a_delivery_is_timely_within_the_replay_window_and_the_skew(signed_at, problem):
    assert webhook_timing_problem(signed_at, NOW) == problem


def test_the_window_covers_billwerks_retries_and_the_ids_outlive_it():
    # Billwerk retries a failed webhook for days; a delivery is refused
    # only once it is older than the window. An id is kept at least as long
    # as a delivery carrying it could still be accepted (received up to the
    # skew before its signed time, accepted up to the window after it).
    assert WEBHOOK_REPLAY_WINDOW >= timedelta(days=3)
    assert timedelta(0) < WEBHOOK_CLOCK_SKEW <= timedelta(minutes=15)
    assert WEBHOOK_RETENTION >= WEBHOOK_REPLAY_WINDOW + WEBHOOK_CLOCK_SKEW
