from datetime import date, datetime

import pytest

from mapping.entities import (
    customer_values,
    invoice_values,
    plan_values,
    subscription_values,
)
from mapping.events import event_values
from mapping.money import minor_to_amount
from mapping.readers import MappingError


@pytest.mark.parametrize(
    ("minor", "currency", "amount"),
    [
        (12345, "DKK", 123.45),
        (12345, "JPY", 12345.0),
        (12345, "KWD", 12.345),
        (0, "EUR", 0.0),
    ],
)
def test_minor_units_follow_the_currency_exponent(minor, currency, amount):
    assert minor_to_amount(minor, currency) == amount


def test_missing_amount_stays_missing():
    assert minor_to_amount(None, "EUR") is None


def test_invoice_values_convert_amounts_dates_and_keep_handles():
    values = invoice_values(
        {
            "id": "4f1e",
            "handle": "inv-17",
            "customer": "cust-00001",
            "subscription": "sub-00001",
            "plan": "plan-gold",
            "state": "settled",
            "type": "s",
            "amount": 12500,
            "amount_vat": 2500,
            "amount_ex_vat": 10000,
            "settled_amount": 12500,
            "refunded_amount": 0,
            "currency": "DKK",
            "created": "2026-03-01T23:30:00.000+01:00",
            "settled": "2026-03-02T08:00:00.000+01:00",
            "period_from": "2026-03-01T00:00:00.000+01:00",
            "period_to": "2026-04-01",
        }
    )
    assert values["billwerk_id"] == "4f1e"
    assert values["amount"] == 125.0 and values["amount_vat"] == 25.0
    assert values["created"] == datetime(2026, 3, 1, 22, 30)  # naive UTC
    assert values["period_from"] == date(2026, 3, 1)
    assert values["period_to"] == date(2026, 4, 1)
    assert values["customer_handle"] == "cust-00001"
    assert values["currency_code"] == "DKK"


def test_deleted_customers_and_plans_and_expired_subscriptions_are_inactive():
    assert not customer_values({"handle": "c", "deleted": "2026-01-01T00:00:00Z"})[
        "active"
    ]
    assert customer_values({"handle": "c"})["active"]
    assert not plan_values({"handle": "p", "state": "deleted"})["active"]
    assert not subscription_values({"handle": "s", "state": "expired"})["active"]
    assert subscription_values({"handle": "s", "state": "on_hold"})["active"]


def test_customer_name_prefers_company_then_person_then_handle():
    assert (
        customer_values({"handle": "c", "company": "ACME", "first_name": "A"})["name"]
        == "ACME"
    )
    assert (
        customer_values({"handle": "c", "first_name": "Ada", "last_name": "L"})["name"]
        == "Ada L"
    )
    assert customer_values({"handle": "c"})["name"] == "c"


def test_zero_decimal_subscription_amount():
    values = subscription_values({"handle": "s", "amount": 1500, "currency": "JPY"})
    assert values["amount"] == 1500.0


# -- payloads that break the documented types: refused in words, never a crash --
BROKEN_PAYLOADS = [
    (customer_values, None, "not an object"),
    (customer_values, {"email": "a@b.c"}, "'handle' is missing"),
    (customer_values, {"handle": "c", "created": "yesterday"}, "'created'"),
    (customer_values, {"handle": "c", "created": 1700000000}, "'created'"),
    (customer_values, {"handle": "c", "debtor_id": 2**40}, "out of range"),
    (customer_values, {"handle": "c", "email": {"a": 1}}, "'email' is not text"),
    (invoice_values, {"id": "i", "amount": "1000", "currency": "EUR"}, "'amount'"),
    (invoice_values, {"id": "i", "currency": "euro"}, "ISO 4217"),
    (plan_values, {"handle": "p", "vat": "25%"}, "'vat' is not a number"),
    (subscription_values, {"handle": "s", "is_cancelled": "no"}, "true or false"),
]


@pytest.mark.parametrize(("to_values", "payload", "reason"), BROKEN_PAYLOADS)
def test_a_payload_breaking_the_documented_types_is_refused_with_its_reason(
    to_values, payload, reason
):
    with pytest.raises(MappingError, match=reason):
        to_values(payload)


def test_unknown_states_are_kept_not_refused():
    values = subscription_values({"handle": "s", "state": "cancelled"})
    assert values["state"] == "unknown"
    assert values["state_raw"] == "cancelled"
    assert values["active"]
    assert invoice_values({"id": "i", "type": "zz"})["invoice_type"] is False


def test_numbers_where_text_belongs_become_text():
    assert customer_values({"handle": "c", "phone": 4512345678})["phone"] == (
        "4512345678"
    )
    assert invoice_values({"id": 4711})["billwerk_id"] == "4711"


def test_events_without_id_or_time_are_refused_and_others_name_their_object():
    assert event_values(
        {
            "id": "e1",
            "event_type": "invoice_settled",
            "invoice": "inv-1",
            "created": "2026-01-01T10:00:00Z",
        }
    ) == ("e1", datetime(2026, 1, 1, 10, 0), "invoice", "inv-1")
    assert event_values({"id": "e2", "event_type": "account_changed"})[2:] == (
        None,
        None,
    )
    for broken in (None, {"event_type": "invoice_settled"}, {"id": "e", "created": 5}):
        with pytest.raises(MappingError):
            event_values(broken)
