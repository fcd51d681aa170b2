"""How each Billwerk object becomes field values, and how the sync finds it.

Relations stay handles here (``customer_handle`` ...); the models resolve them
to ids in bulk, so that this module needs no database.
"""

from dataclasses import dataclass

from .money import minor_to_amount
from .timestamps import to_date, to_utc_naive

# Raise it whenever a *_values function changes what it returns.
MAPPING_VERSION = 1


def _money(payload, field):
    return minor_to_amount(payload.get(field), payload.get("currency"))


def plan_values(payload):
    return {
        "handle": payload["handle"],
        "version": payload.get("version") or 1,
        "name": payload.get("name") or payload["handle"],
        "description": payload.get("description") or False,
        "amount": _money(payload, "amount") or 0.0,
        "currency_code": payload.get("currency"),
        "state": payload.get("state") or "active",
        "vat": payload.get("vat") or 0.0,
        "schedule_type": payload.get("schedule_type") or False,
        "interval_length": payload.get("interval_length") or 0,
        "created": to_utc_naive(payload.get("created")),
        "deleted": to_utc_naive(payload.get("deleted")),
        "active": payload.get("state") != "deleted",
    }


def customer_values(payload):
    first, last = payload.get("first_name") or "", payload.get("last_name") or ""
    person = " ".join(part for part in (first, last) if part)
    return {
        "handle": payload["handle"],
        "name": payload.get("company") or person or payload["handle"],
        "email": payload.get("email") or False,
        "first_name": first or False,
        "last_name": last or False,
        "company_name": payload.get("company") or False,
        "address": payload.get("address") or False,
        "address2": payload.get("address2") or False,
        "postal_code": payload.get("postal_code") or False,
        "city": payload.get("city") or False,
        "country_code": (payload.get("country") or "").upper() or False,
        "phone": payload.get("phone") or False,
        "vat": payload.get("vat") or False,
        "debtor_id": payload.get("debtor_id") or 0,
        "active_subscriptions": payload.get("active_subscriptions") or 0,
        "test": bool(payload.get("test")),
        "created": to_utc_naive(payload.get("created")),
        "deleted": to_utc_naive(payload.get("deleted")),
        "active": not payload.get("deleted"),
    }


def subscription_values(payload):
    return {
        "handle": payload["handle"],
        "customer_handle": payload.get("customer") or False,
        "plan_handle": payload.get("plan") or False,
        "plan_version": payload.get("plan_version") or 0,
        "state": payload.get("state") or "pending",
        "is_cancelled": bool(payload.get("is_cancelled")),
        "amount": _money(payload, "amount") or 0.0,
        "quantity": payload.get("quantity") or 1,
        "currency_code": payload.get("currency"),
        "created": to_utc_naive(payload.get("created")),
        "activated": to_utc_naive(payload.get("activated")),
        "start_date": to_utc_naive(payload.get("start_date")),
        "end_date": to_utc_naive(payload.get("end_date")),
        "current_period_start": to_utc_naive(payload.get("current_period_start")),
        "next_period_start": to_utc_naive(payload.get("next_period_start")),
        "expires": to_utc_naive(payload.get("expires")),
        "in_trial": bool(payload.get("in_trial")),
        "trial_end": to_utc_naive(payload.get("trial_end")),
        "expired_date": to_utc_naive(payload.get("expired_date")),
        "expire_reason": payload.get("expire_reason") or False,
        "active": payload.get("state") != "expired",
    }


def invoice_values(payload):
    return {
        "billwerk_id": payload["id"],
        "handle": payload.get("handle") or False,
        "customer_handle": payload.get("customer") or False,
        "subscription_handle": payload.get("subscription") or False,
        "plan_handle": payload.get("plan") or False,
        "state": payload.get("state") or "created",
        "invoice_type": payload.get("type") or False,
        "number": payload.get("number") or False,
        "amount": _money(payload, "amount") or 0.0,
        "amount_vat": _money(payload, "amount_vat") or 0.0,
        "amount_ex_vat": _money(payload, "amount_ex_vat") or 0.0,
        "settled_amount": _money(payload, "settled_amount") or 0.0,
        "refunded_amount": _money(payload, "refunded_amount") or 0.0,
        "currency_code": payload.get("currency"),
        "created": to_utc_naive(payload.get("created")),
        "due": to_utc_naive(payload.get("due")),
        "settled": to_utc_naive(payload.get("settled")),
        "period_from": to_date(payload.get("period_from")),
        "period_to": to_date(payload.get("period_to")),
        # Billwerk never deletes invoices; one that vanished and came back
        # (seen by reconciliation) is active again.
        "active": True,
    }


@dataclass(frozen=True)
class Entity:
    """What the one sync algorithm needs to know about one kind of object."""

    name: str  # Billwerk's list path segment and single-read kind
    model: str  # Odoo model holding the copy
    key_field: str  # unique per account, in the model and in `values`
    payload_key: str  # the payload field holding that key
    to_values: callable
    ranges: tuple = ("created",)
    # Lists may hold versions that are not the object's current state.
    is_current: callable = None  # None: every payload is current


# Plan lists hold every version; only the current one (never "superseded")
# is the plan, as `/plan/{handle}/current` would return it.
PLAN = Entity(
    "plan",
    "billwerk.plan",
    "handle",
    "handle",
    plan_values,
    is_current=lambda payload: payload.get("state") != "superseded",
)
CUSTOMER = Entity("customer", "billwerk.customer", "handle", "handle", customer_values)
SUBSCRIPTION = Entity(
    "subscription", "billwerk.subscription", "handle", "handle", subscription_values
)
INVOICE = Entity(
    "invoice",
    "billwerk.invoice",
    "billwerk_id",
    "id",
    invoice_values,
    ("created", "settled"),
)
# Load order: related records first, so most relations resolve in the same run.
ENTITIES = (PLAN, CUSTOMER, SUBSCRIPTION, INVOICE)
ENTITIES_BY_NAME = {entity.name: entity for entity in ENTITIES}
