"""How each Billwerk object becomes field values, and how the sync finds it.

Relations stay handles here (``customer_handle`` ...); the models resolve them
to ids in bulk, so that this module needs no database.
"""

from dataclasses import dataclass

from . import books
from . import readers as read

# Raise it whenever a *_values function changes what it returns.
MAPPING_VERSION = 3

PLAN_STATES = ("active", "superseded", "deleted")
SUBSCRIPTION_STATES = ("pending", "active", "on_hold", "expired")
INVOICE_STATES = (
    "created",
    "pending",
    "authorized",
    "dunning",
    "settled",
    "cancelled",
    "failed",
)
INVOICE_TYPES = ("s", "so", "soi", "co", "ch")


def _require_object(payload):
    if not isinstance(payload, dict):
        raise read.MappingError("the list item is not an object")


def plan_values(payload):
    _require_object(payload)
    handle = read.key(payload, "handle")
    state = read.choice(payload, "state", PLAN_STATES, "active")
    return {
        "handle": handle,
        "version": read.integer(payload, "version") or 1,
        "name": read.text(payload, "name") or handle,
        "description": read.text(payload, "description"),
        "amount": read.money(payload, "amount"),
        "currency_code": read.currency(payload),
        "state": state,
        "state_raw": read.text(payload, "state"),
        "vat": read.fraction(payload, "vat"),
        "schedule_type": read.text(payload, "schedule_type"),
        "interval_length": read.integer(payload, "interval_length"),
        "created": read.timestamp(payload, "created"),
        "deleted": read.timestamp(payload, "deleted"),
        "active": state != "deleted",
    }


def customer_values(payload):
    _require_object(payload)
    handle = read.key(payload, "handle")
    first = read.text(payload, "first_name") or ""
    last = read.text(payload, "last_name") or ""
    person = " ".join(part for part in (first, last) if part)
    company = read.text(payload, "company")
    deleted = read.timestamp(payload, "deleted")
    return {
        "handle": handle,
        "name": company or person or handle,
        "email": read.text(payload, "email"),
        "first_name": first or False,
        "last_name": last or False,
        "company_name": company,
        "address": read.text(payload, "address"),
        "address2": read.text(payload, "address2"),
        "postal_code": read.text(payload, "postal_code"),
        "city": read.text(payload, "city"),
        "country_code": (read.text(payload, "country") or "").upper() or False,
        "phone": read.text(payload, "phone"),
        "vat": read.text(payload, "vat"),
        "debtor_id": read.integer(payload, "debtor_id"),
        "active_subscriptions": read.integer(payload, "active_subscriptions"),
        "test": read.boolean(payload, "test"),
        "created": read.timestamp(payload, "created"),
        "deleted": deleted,
        "active": not deleted,
    }


def subscription_values(payload):
    _require_object(payload)
    state = read.choice(payload, "state", SUBSCRIPTION_STATES, "pending")
    return {
        "handle": read.key(payload, "handle"),
        "customer_handle": read.text(payload, "customer"),
        "plan_handle": read.text(payload, "plan"),
        "plan_version": read.integer(payload, "plan_version"),
        "state": state,
        "state_raw": read.text(payload, "state"),
        "is_cancelled": read.boolean(payload, "is_cancelled"),
        "amount": read.money(payload, "amount"),
        "quantity": read.integer(payload, "quantity") or 1,
        "currency_code": read.currency(payload),
        "created": read.timestamp(payload, "created"),
        "activated": read.timestamp(payload, "activated"),
        "start_date": read.timestamp(payload, "start_date"),
        "end_date": read.timestamp(payload, "end_date"),
        "current_period_start": read.timestamp(payload, "current_period_start"),
        "next_period_start": read.timestamp(payload, "next_period_start"),
        "expires": read.timestamp(payload, "expires"),
        "in_trial": read.boolean(payload, "in_trial"),
        "trial_end": read.timestamp(payload, "trial_end"),
        "expired_date": read.timestamp(payload, "expired_date"),
        "expire_reason": read.text(payload, "expire_reason"),
        "active": state != "expired",
    }


def invoice_values(payload):
    _require_object(payload)
    return {
        "billwerk_id": read.key(payload, "id"),
        "handle": read.text(payload, "handle"),
        "customer_handle": read.text(payload, "customer"),
        "subscription_handle": read.text(payload, "subscription"),
        "plan_handle": read.text(payload, "plan"),
        "state": read.choice(payload, "state", INVOICE_STATES, "created"),
        "state_raw": read.text(payload, "state"),
        "invoice_type": read.choice(
            payload, "type", INVOICE_TYPES, False, unknown=False
        ),
        "number": read.text(payload, "number"),
        "amount": read.money(payload, "amount"),
        "amount_vat": read.money(payload, "amount_vat"),
        "amount_ex_vat": read.money(payload, "amount_ex_vat"),
        "settled_amount": read.money(payload, "settled_amount"),
        "refunded_amount": read.money(payload, "refunded_amount"),
        "currency_code": read.currency(payload),
        "created": read.timestamp(payload, "created"),
        "due": read.timestamp(payload, "due"),
        "settled": read.timestamp(payload, "settled"),
        "period_from": read.day(payload, "period_from"),
        "period_to": read.day(payload, "period_to"),
        "credited_amount": read.money(payload, "credited_amount"),
        "order_lines": books.stored_lines(payload),
        # Billwerk never deletes invoices; one that vanished and came back
        # (seen by reconciliation) is active again.
        "active": True,
    }


def credit_note_values(payload):
    _require_object(payload)
    return {
        "billwerk_id": read.key(payload, "id"),
        "invoice_handle": read.text(payload, "invoice"),
        "customer_handle": read.text(payload, "customer"),
        "subscription_handle": read.text(payload, "subscription"),
        "amount": read.money(payload, "amount"),
        "amount_vat": read.money(payload, "amount_vat"),
        "amount_ex_vat": read.money(payload, "amount_ex_vat"),
        "currency_code": read.currency(payload),
        "refund_transaction": read.text(payload, "transaction"),
        "accounting_number": read.text(payload, "accounting_number"),
        "created": read.timestamp(payload, "created"),
        "credit_note_lines": books.credit_note_lines(payload),
        "active": True,
    }


TRANSACTION_TYPES = ("settle", "refund", "authorization")
TRANSACTION_STATES = (
    "pending",
    "processing",
    "authorized",
    "settled",
    "refunded",
    "failed",
    "cancelled",
)


def transaction_values(payload):
    _require_object(payload)
    return {
        "billwerk_id": read.key(payload, "id"),
        "invoice_handle": read.text(payload, "invoice"),
        "type": read.choice(payload, "type", TRANSACTION_TYPES, "unknown"),
        "state": read.choice(payload, "state", TRANSACTION_STATES, "unknown"),
        "state_raw": read.text(payload, "state"),
        "amount": read.money(payload, "amount"),
        "currency_code": read.currency(payload),
        "payment_type": read.text(payload, "payment_type"),
        "created": read.timestamp(payload, "created"),
        "settled": read.timestamp(payload, "settled"),
        "refunded": read.timestamp(payload, "refunded"),
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
    # Objects a payload embeds, stored as their own entity: (field, entity name).
    children: tuple = ()

    def key_of(self, payload):
        """The payload's key as text, or None when it has none (a broken item)."""
        key = payload.get(self.payload_key) if isinstance(payload, dict) else None
        return str(key) if isinstance(key, str | int) and key != "" else None


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
    children=(("credit_notes", "credit_note"), ("transactions", "transaction")),
)
# The credit note list documents no `range`: it is read by `created` alone.
CREDIT_NOTE = Entity(
    "credit_note",
    "billwerk.credit.note",
    "billwerk_id",
    "id",
    credit_note_values,
    (None,),
)
# Read only inside their invoice (at most 100 each): never listed on their own.
TRANSACTION = Entity(
    "transaction",
    "billwerk.transaction",
    "billwerk_id",
    "id",
    transaction_values,
    (),
)
# Load order: related records first, so most relations resolve in the same run.
ENTITIES = (PLAN, CUSTOMER, SUBSCRIPTION, INVOICE, CREDIT_NOTE)
# Everything an account's copy holds: the lists read, and what they embed.
STORED_ENTITIES = (*ENTITIES, TRANSACTION)
ENTITIES_BY_NAME = {entity.name: entity for entity in STORED_ENTITIES}
