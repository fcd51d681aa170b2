"""Objects as Billwerk sends them: the account's dicts plus what the API
reference documents on top of the fields the connector reads.

The account's dicts hold what the sandbox generates and changes (the fields of
the reference's summary table). Billwerk's objects are much heavier: a customer
carries per-state counters and amounts of its subscriptions, invoices,
credits and additional costs; a subscription the same invoice and credit
counters and its payment set-up; an invoice its dunning, debtor and accounting
figures. A sandbox that leaves them out measures a lighter job than Billwerk's
(a page of 100 customers 42 KB instead of about 96 KB). They are derived here,
when an object is served, from the account as it is now: counters follow every
change, and the same seed still gives the same bytes.

Counters are computed for the whole account at once and kept until its
``revision`` changes (each change bumps it); the caller holds the account's
lock, as for every read.
"""

from .data import digest

# Invoice states Billwerk counts per customer and subscription, and what each
# amount sums: the open rest for open ones, the paid part of settled ones, the
# whole of cancelled ones.
COUNTED_STATES = ("pending", "dunning", "settled", "failed", "cancelled")
CREDIT_COUNTERS = (
    "pending_credits",
    "pending_credit_amount",
    "transferred_credits",
    "transferred_credit_amount",
    "pending_additional_costs",
    "pending_additional_cost_amount",
    "transferred_additional_costs",
    "transferred_additional_cost_amount",
)
SUBSCRIPTION_COUNTERS = (
    "subscriptions",
    "active_subscriptions",
    "expired_subscriptions",
    "on_hold_subscriptions",
    "non_renewing_subscriptions",
    "trial_active_subscriptions",
    "trial_cancelled_subscriptions",
    "cancelled_subscriptions",
)
INVOICE_COUNTERS = (
    *(f"{state}_invoices" for state in COUNTED_STATES),
    *(f"{state}_amount" for state in COUNTED_STATES),
    "refunded_amount",
)
# A customer's and a subscription's counters, in the reference's order.
CUSTOMER_FIELDS = (*SUBSCRIPTION_COUNTERS, *INVOICE_COUNTERS, *CREDIT_COUNTERS)
SUBSCRIPTION_FIELDS = (*INVOICE_COUNTERS, *CREDIT_COUNTERS)
CHECKOUT = "https://checkout.reepay.com/#/subscription/pay"


def _invoice_share(invoice):
    """(state, amount) an invoice adds to its customer's counters; None: none."""
    state = invoice["state"]
    if state not in COUNTED_STATES:
        return None
    if state == "settled":
        return state, invoice["settled_amount"]
    if state == "cancelled":
        return state, invoice["amount"]
    return state, invoice["amount"] - invoice["settled_amount"]


def _subscription_kinds(sub):
    """The subscription counters ``sub`` adds one to."""
    kinds = ["subscriptions"]
    state = sub["state"]
    if state == "active":
        kinds.append("active_subscriptions")
        if sub["in_trial"]:
            kinds.append("trial_active_subscriptions")
        if sub["is_cancelled"]:
            kinds.append("non_renewing_subscriptions")
    elif state in ("expired", "on_hold"):
        kinds.append(f"{state}_subscriptions")
    if sub["is_cancelled"]:
        kinds.append("cancelled_subscriptions")
        if sub["in_trial"] or (sub["trial_end"] and not sub["current_period_start"]):
            kinds.append("trial_cancelled_subscriptions")
    return kinds


class Counters:
    """Per customer and per subscription: the counters of the account now."""

    def __init__(self, account):
        self.revision = account.revision
        self.customers = {}
        self.subscriptions = {}
        self.invoices_of = {}  # subscription -> its invoices
        for sub in account.subscriptions.values():
            row = self._row(self.customers, sub["customer"], CUSTOMER_FIELDS)
            for kind in _subscription_kinds(sub):
                row[kind] += 1
        for invoice in account.invoices.values():
            share = _invoice_share(invoice)
            rows = [self._row(self.customers, invoice["customer"], CUSTOMER_FIELDS)]
            if invoice["subscription"]:
                handle = invoice["subscription"]
                self.invoices_of[handle] = self.invoices_of.get(handle, 0) + 1
                rows.append(self._row(self.subscriptions, handle, SUBSCRIPTION_FIELDS))
            for row in rows:
                if share:
                    state, amount = share
                    row[f"{state}_invoices"] += 1
                    row[f"{state}_amount"] += amount
                row["refunded_amount"] += invoice["refunded_amount"]

    @staticmethod
    def _row(rows, key, fields):
        row = rows.get(key)
        if row is None:
            row = rows[key] = dict.fromkeys(fields, 0)
        return row


def counters(account):
    """The account's counters, computed again after each change."""
    cached = getattr(account, "_wire_counters", None)
    if cached is None or cached.revision != account.revision:
        cached = account._wire_counters = Counters(account)
    return cached


def _dressed(stored, extra):
    """``stored`` then ``extra``'s fields it does not have (stored ones win)."""
    answer = dict(stored)
    for name, value in extra.items():
        answer.setdefault(name, value)
    return answer


def customer(account, stored):
    row = counters(account).customers.get(stored["handle"])
    return _dressed(stored, row or dict.fromkeys(CUSTOMER_FIELDS, 0))


def subscription(account, stored):
    table = counters(account)
    handle = stored["handle"]
    started = stored["activated"] is not None
    live = stored["state"] in ("active", "on_hold")
    token = digest(account.id, "subscription", handle)
    extra = {
        "timezone": account.timezone,
        "amount_incl_vat": True,
        "renewing": stored["state"] == "active" and not stored["is_cancelled"],
        "renewal_count": max(0, table.invoices_of.get(handle, 0) - 1),
        "has_started": started,
        "first_period_start": (stored["trial_end"] or stored["start_date"])
        if started
        else None,
        "last_period_start": stored["current_period_start"] if started else None,
        "payment_method_added": stored["state"] != "pending",
        "active_payment_methods": [f"ca_{token}"] if live else [],
        "hosted_page_links": {
            "payment_info": f"{CHECKOUT}/{account.locale}/{token}/{handle}"
        },
        "subscription_discounts": [],
        "coupons": [],
    }
    row = table.subscriptions.get(handle)
    extra.update(row if row else dict.fromkeys(SUBSCRIPTION_FIELDS, 0))
    return _dressed(stored, extra)


def invoice(account, stored):
    owner = account.customers.get(stored["customer"]) or {}
    dunning = stored["state"] in ("dunning", "failed")
    extra = {
        "discount_amount": sum(
            line.get("discounted_amount", 0) for line in stored["order_lines"]
        ),
        "accounting_number": None,
        "debtor_id": owner.get("debtor_id"),
        "dunning_start": stored["due"] if dunning else None,
        "dunning_count": (1 + stored["number"] % 3) if dunning else 0,
    }
    return _dressed(stored, extra)


DRESS = {"customer": customer, "subscription": subscription, "invoice": invoice}


def dressed(account, entity, stored):
    """``stored`` (an object of ``entity``) as Billwerk would send it."""
    dress = DRESS.get(entity)
    return dress(account, stored) if dress else stored
