"""Changing the truth: customers, subscriptions, plans and the event log.

``MutationsMixin`` is one side of ``SandboxServer``. Each mutation holds the
account's lock, bumps its revision (the list indexes are rebuilt), appends the
event the real API would log (plans have none) and returns a deep copy. The
invoice mutations are in ``invoicing``.
"""

import copy
from datetime import datetime

from .data import fmt_ts, period_start, words
from .handler import norm_ts

FIELDS = {
    "customer": words(
        "handle email first_name last_name company address address2 postal_code city"
        " country phone vat debtor_id created deleted active_subscriptions test"
    ),
    "subscription": words(
        "handle customer plan plan_version state is_cancelled expires amount quantity"
        " currency created activated start_date end_date current_period_start"
        " next_period_start in_trial trial_end expired_date expire_reason"
    ),
    "invoice": words(
        "id handle customer subscription plan state type amount amount_vat"
        " amount_ex_vat settled_amount refunded_amount currency number created due"
        " settled period_from period_to order_lines"
    ),
    "plan": words(
        "handle version name description amount currency state created deleted vat"
        " schedule_type interval_length"
    ),
}
TIMESTAMP_FIELDS = frozenset(
    words(
        "created deleted expires activated start_date end_date current_period_start"
        " next_period_start trial_end expired_date due settled period_from"
        " period_to"
    )
)


class MutationsMixin:
    """Mutations of ``SandboxServer`` (see the module's docstring)."""

    # mutations -------------------------------------------------------------

    def _now(self):
        return fmt_ts(self.clock.now())

    def _check_fields(self, entity, fields):
        unknown = set(fields) - set(FIELDS[entity])
        if unknown:
            raise ValueError(f"Unknown {entity} field(s): {', '.join(sorted(unknown))}")
        return {
            name: norm_ts(value) if name in TIMESTAMP_FIELDS else value
            for name, value in fields.items()
        }

    def _changed(self, account):
        account.revision += 1

    def _next_handle(self, account, entity, pattern, existing):
        while True:
            account.counters[entity] += 1
            handle = pattern.format(account.counters[entity])
            if handle not in existing:
                return handle

    def add_event(
        self,
        account_key,
        event_type,
        customer=None,
        subscription=None,
        invoice=None,
        **extra,
    ):
        """Append an event (any type, e.g. ``subscription_renewal``); returns it.

        ``extra`` adds fields some events carry (``transaction``, ``credit_note``).
        The event goes out as a webhook when the account's settings ask for it.
        """
        account = self.account(account_key)
        with account.lock:
            event = {
                "id": account.new_id(),
                "event_type": event_type,
                "customer": customer,
                "subscription": subscription,
                "invoice": invoice,
            }
            event.update(extra)
            event["created"] = self._now()
            account.events.append(event)
            self._webhook_event(account, event)
            return dict(event)

    def _customer(self, account, handle):
        try:
            return account.customers[handle]
        except KeyError:
            raise KeyError(f"No customer {handle!r}") from None

    def _subscription(self, account, handle):
        try:
            return account.subscriptions[handle]
        except KeyError:
            raise KeyError(f"No subscription {handle!r}") from None

    def _invoice(self, account, key):
        found = self._find_invoice(account, key)
        if found is None:
            raise KeyError(f"No invoice {key!r}")
        return found

    def _plan(self, account, handle):
        try:
            return account.plan_versions[handle][-1]
        except KeyError:
            raise KeyError(f"No plan {handle!r}") from None

    def create_customer(self, account_key, handle=None, **fields):
        """Add a customer (defaults filled in); appends ``customer_created``."""
        account = self.account(account_key)
        fields = self._check_fields("customer", fields)
        with account.lock:
            if handle is None:
                handle = self._next_handle(
                    account, "customer", "cust-{:05d}", account.customers
                )
            elif handle in account.customers:
                raise ValueError(f"Customer {handle!r} exists")
            customer = {
                "handle": handle,
                "email": f"{handle}@example.com",
                "first_name": "Test",
                "last_name": handle,
                "company": None,
                "address": "Testvej 1",
                "address2": None,
                "postal_code": "1000",
                "city": "Testby",
                "country": account.country,
                "phone": None,
                "vat": None,
                "debtor_id": len(account.customers) + 1,
                "created": self._now(),
                "deleted": None,
                "active_subscriptions": 0,
                "test": account.state == "test",
            }
            customer.update(fields)
            customer["handle"] = handle
            account.customers[handle] = customer
            account.count_active(handle)
            self._changed(account)
            self.add_event(account.key, "customer_created", handle)
            return copy.deepcopy(customer)

    def update_customer(self, account_key, handle, **changes):
        """Change customer fields; appends ``customer_changed``."""
        account = self.account(account_key)
        changes = self._check_fields("customer", changes)
        changes.pop("handle", None)
        with account.lock:
            customer = self._customer(account, handle)
            customer.update(changes)
            self._changed(account)
            self.add_event(account.key, "customer_changed", handle)
            return copy.deepcopy(customer)

    def delete_customer(self, account_key, handle):
        """Soft delete: sets ``deleted``, stays listed; appends ``customer_deleted``."""
        account = self.account(account_key)
        with account.lock:
            customer = self._customer(account, handle)
            customer["deleted"] = self._now()
            self._changed(account)
            self.add_event(account.key, "customer_deleted", handle)
            return copy.deepcopy(customer)

    def create_subscription(self, account_key, customer, plan, handle=None, **fields):
        """Start an active subscription on the plan's current version."""
        account = self.account(account_key)
        fields = self._check_fields("subscription", fields)
        with account.lock:
            self._customer(account, customer)
            plan_row = self._plan(account, plan)
            if handle is None:
                handle = self._next_handle(
                    account, "subscription", "sub-{:05d}", account.subscriptions
                )
            elif handle in account.subscriptions:
                raise ValueError(f"Subscription {handle!r} exists")
            created = fields.get("created") or self._now()
            start = datetime.fromisoformat(created)
            following = period_start(
                start, 1, plan_row["schedule_type"], plan_row["interval_length"]
            )
            sub = {
                "handle": handle,
                "customer": customer,
                "plan": plan,
                "plan_version": plan_row["version"],
                "state": "active",
                "is_cancelled": False,
                "expires": None,
                "amount": plan_row["amount"],
                "quantity": 1,
                "currency": plan_row["currency"],
                "created": created,
                "activated": created,
                "start_date": created,
                "end_date": None,
                "current_period_start": created,
                "next_period_start": fmt_ts(following),
                "in_trial": False,
                "trial_end": None,
                "expired_date": None,
                "expire_reason": None,
            }
            sub.update(fields)
            sub["handle"] = handle
            account.subscriptions[handle] = sub
            account.count_active(customer)
            self._changed(account)
            self.add_event(account.key, "subscription_created", customer, handle)
            return copy.deepcopy(sub)

    def change_subscription(self, account_key, handle, **changes):
        """Change fields (a new ``plan`` takes its current version); appends
        ``subscription_changed``."""
        account = self.account(account_key)
        changes = self._check_fields("subscription", changes)
        changes.pop("handle", None)
        with account.lock:
            sub = self._subscription(account, handle)
            if "plan" in changes and "plan_version" not in changes:
                changes["plan_version"] = self._plan(account, changes["plan"])[
                    "version"
                ]
            if "customer" in changes:
                self._customer(account, changes["customer"])
            old_customer = sub["customer"]
            sub.update(changes)
            account.count_active(old_customer)
            account.count_active(sub["customer"])
            self._changed(account)
            self.add_event(account.key, "subscription_changed", sub["customer"], handle)
            return copy.deepcopy(sub)

    def expire_subscription(self, account_key, handle, reason="ondemand"):
        """Expire now; appends ``subscription_expired``."""
        account = self.account(account_key)
        with account.lock:
            sub = self._subscription(account, handle)
            now = self._now()
            sub.update(
                state="expired",
                expired_date=now,
                expires=now,
                end_date=now,
                next_period_start=None,
                in_trial=False,
                expire_reason=reason,
            )
            account.count_active(sub["customer"])
            self._changed(account)
            self.add_event(account.key, "subscription_expired", sub["customer"], handle)
            return copy.deepcopy(sub)

    def cancel_subscription(self, account_key, handle):
        """Cancel at the end of the period; appends ``subscription_cancelled``."""
        account = self.account(account_key)
        with account.lock:
            sub = self._subscription(account, handle)
            ends = sub["next_period_start"] or self._now()
            sub.update(is_cancelled=True, expires=ends, end_date=ends)
            self._changed(account)
            self.add_event(
                account.key, "subscription_cancelled", sub["customer"], handle
            )
            return copy.deepcopy(sub)

    def create_plan(self, account_key, handle=None, **fields):
        """Add a plan at version 1 (no event: the real API has no plan events)."""
        account = self.account(account_key)
        fields = self._check_fields("plan", fields)
        with account.lock:
            if handle is None:
                handle = self._next_handle(
                    account, "plan", "plan-{:03d}", account.plan_versions
                )
            elif handle in account.plan_versions:
                raise ValueError(f"Plan {handle!r} exists")
            plan = {
                "handle": handle,
                "version": 1,
                "name": f"Plan {handle}",
                "description": None,
                "amount": 1000 if account.currency == "JPY" else 10000,
                "currency": account.currency,
                "state": "active",
                "created": self._now(),
                "deleted": None,
                "vat": account.vat,
                "schedule_type": "month_startdate",
                "interval_length": 1,
            }
            plan.update(fields)
            plan.update(handle=handle, version=1)
            account.plan_versions[handle] = [plan]
            self._changed(account)
            return copy.deepcopy(plan)

    def change_plan(self, account_key, handle, **changes):
        """Make a new version from the current one; the old one is superseded."""
        account = self.account(account_key)
        changes = self._check_fields("plan", changes)
        with account.lock:
            current = self._plan(account, handle)
            if current["state"] == "deleted":
                raise ValueError(f"Plan {handle!r} is deleted")
            plan = copy.deepcopy(current)
            plan.update(created=self._now(), state="active", deleted=None)
            plan.update(changes)
            plan.update(handle=handle, version=current["version"] + 1)
            current["state"] = "superseded"
            account.plan_versions[handle].append(plan)
            self._changed(account)
            return copy.deepcopy(plan)

    def delete_plan(self, account_key, handle):
        """Soft delete: the current version gets state ``deleted``."""
        account = self.account(account_key)
        with account.lock:
            plan = self._plan(account, handle)
            plan.update(state="deleted", deleted=self._now())
            self._changed(account)
            return copy.deepcopy(plan)

    def hard_delete(self, account_key, entity, key):
        """Remove an object entirely (it vanishes from lists); no event.

        ``entity`` is customer, subscription, invoice (id or handle) or plan (all
        versions). Returns what was removed.
        """
        account = self.account(account_key)
        with account.lock:
            if entity == "customer":
                removed = account.customers.pop(self._customer(account, key)["handle"])
            elif entity == "subscription":
                removed = account.subscriptions.pop(
                    self._subscription(account, key)["handle"]
                )
                account.count_active(removed["customer"])
            elif entity == "invoice":
                removed = account.invoices.pop(self._invoice(account, key)["id"])
                account.invoice_ids.pop(removed["handle"], None)
                account.forget_books(removed)
            elif entity == "plan":
                self._plan(account, key)
                removed = account.plan_versions.pop(key)
            else:
                raise ValueError(f"Unknown entity {entity!r}")
            self._changed(account)
            return removed
