"""A payload's digest (mapping/digest.py) tells a changed Billwerk object from
an unchanged one, whichever way the object was read."""

import copy
import json

import pytest

from client.http_client import BillwerkClient
from client.retry import Pacer
from mapping.digest import payload_digest
from mapping.timestamps import to_utc_naive
from sandbox.server import running_sandbox


@pytest.fixture(scope="module")
def invoices():
    with running_sandbox(seed=3, customers=60, invoices=200, accounts=1) as server:
        server.limits.enabled = False
        client = BillwerkClient(
            server.keys[0], server.url, pacer=Pacer(rate=1000, burst=1000)
        )
        with client:
            listed = [
                invoice
                for page in client.iter_list("invoice", date_to="2100-01-01")
                for invoice in page.content
            ]
            alone = {
                invoice["id"]: client.get("invoice", invoice["id"])
                for invoice in listed[:20]
            }
    return listed, alone


def test_same_object_same_digest_through_a_list_or_alone(invoices):
    listed, alone = invoices
    for invoice in listed[:20]:
        assert payload_digest(invoice) == payload_digest(alone[invoice["id"]])


def test_same_digest_from_compact_or_spaced_json(invoices):
    invoice = invoices[0][0]
    compact = json.loads(json.dumps(invoice, separators=(",", ":")))
    spaced = json.loads(json.dumps(invoice, indent=2))
    assert payload_digest(compact) == payload_digest(spaced) == payload_digest(invoice)


def _changed(payload, path, value):
    changed = copy.deepcopy(payload)
    target = changed
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return changed


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("amount",), "amount+1"),
        (("state",), "cancelled-or-settled"),
        (("settled",), None),
        (("order_lines", 0, "vat"), 0.19),
        (("order_lines", 0, "quantity"), 1.0),  # a float where an int was
        (("order_lines", 0, "amount_defined_incl_vat"), 1),  # 1 where true was
        (("dunning_count",), "count+1"),
    ],
)
def test_any_changed_value_changes_the_digest(invoices, path, value):
    invoice = next(i for i in invoices[0] if i["settled"] and i["order_lines"])
    old = invoice
    for step in path[:-1]:
        old = old[step]
    old = old[path[-1]]
    if value == "amount+1" or value == "count+1":
        value = old + 1
    elif value == "cancelled-or-settled":
        value = "cancelled" if old != "cancelled" else "settled"
    assert value != old or type(value) is not type(old)
    assert payload_digest(_changed(invoice, path, value)) != payload_digest(invoice)


def test_a_missing_field_is_not_a_null_one():
    assert payload_digest({"handle": "c-1", "vat": None}) != payload_digest(
        {"handle": "c-1"}
    )


def test_utc_timestamps_read_as_any_other_offset():
    assert to_utc_naive("2024-10-23T11:24:13.000+00:00") == to_utc_naive(
        "2024-10-23T13:24:13.000+02:00"
    )
    assert to_utc_naive("2024-10-23T11:24:13Z") == to_utc_naive(
        "2024-10-23T11:24:13.000+00:00"
    )
    assert to_utc_naive("2024-10-23T11:24:13.000+00:00").tzinfo is None
