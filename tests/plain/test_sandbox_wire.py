"""The sandbox sends objects as heavy as Billwerk's: every field the API notes
(/work/shared/billwerk-api.md) document, with values that agree with the rest
of the account and follow its changes."""

import base64
import json
import urllib.request

import pytest

from sandbox.server import running_sandbox

# The fields the notes document, on top of those the connector reads.
CUSTOMER = (
    *("handle", "email", "first_name", "last_name", "company", "address"),
    *("address2", "postal_code", "city", "country", "phone", "vat", "debtor_id"),
    *("created", "deleted", "active_subscriptions", "test"),
)
COUNTERS = (
    *("pending_invoices", "settled_invoices", "dunning_invoices"),
    *("failed_invoices", "cancelled_invoices", "pending_amount"),
    *("settled_amount", "dunning_amount", "failed_amount", "cancelled_amount"),
    *("refunded_amount", "pending_credits", "pending_credit_amount"),
    *("transferred_credits", "transferred_credit_amount"),
    *("pending_additional_costs", "pending_additional_cost_amount"),
    *("transferred_additional_costs", "transferred_additional_cost_amount"),
)
CUSTOMER_COUNTERS = (
    *("subscriptions", "active_subscriptions", "expired_subscriptions"),
    *("on_hold_subscriptions", "non_renewing_subscriptions"),
    *("trial_active_subscriptions", "trial_cancelled_subscriptions"),
    "cancelled_subscriptions",
    *COUNTERS,
)
SUBSCRIPTION = (
    *("handle", "customer", "plan", "plan_version", "state", "is_cancelled"),
    *("expires", "amount", "quantity", "currency", "created", "activated"),
    *("start_date", "end_date", "current_period_start", "next_period_start"),
    *("in_trial", "trial_end", "expired_date", "expire_reason"),
    *COUNTERS,
    *("amount_incl_vat", "renewing", "renewal_count", "first_period_start"),
    *("last_period_start", "has_started", "payment_method_added"),
    *("active_payment_methods", "hosted_page_links", "subscription_discounts"),
    *("coupons", "timezone"),
)
INVOICE = (
    *("id", "handle", "customer", "subscription", "plan", "state", "type"),
    *("amount", "amount_vat", "amount_ex_vat", "settled_amount"),
    *("refunded_amount", "currency", "number", "created", "due", "settled"),
    *("period_from", "period_to", "order_lines", "discount_amount"),
    *("credited_amount", "credit_notes", "transactions", "accounting_number"),
    *("debtor_id", "dunning_start", "dunning_count"),
)
ORDER_LINE = (
    *("id", "ordertext", "amount", "vat", "quantity", "origin", "amount_vat"),
    *("amount_ex_vat", "unit_amount", "unit_amount_vat", "unit_amount_ex_vat"),
    *("amount_defined_incl_vat", "discounted_amount", "origin_handle"),
    *("period_from", "period_to"),
)
TRANSACTION = (
    *("id", "state", "type", "amount", "currency", "created", "settled"),
    *("refunded", "payment_type", "accounting_invoice"),
)
PLAN = (
    *("handle", "version", "name", "description", "amount", "currency", "state"),
    *("created", "deleted", "vat", "schedule_type", "interval_length"),
)
SIZES = {"customers": 300, "plans": 10, "subscriptions": 450, "invoices": 900}


def fetch(server, path, key=None, method="GET"):
    key = key or server.keys[0]
    request = urllib.request.Request(
        server.url + path,
        method=method,
        data=b"{}" if method == "POST" else None,
        headers={
            "Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode(),
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.read()


def read_all(server, entity, **filters):
    query = "&".join(f"{name}={value}" for name, value in filters.items())
    path = f"list/{entity}?size=100&from=2000-01-01&to=2100-01-01&{query}"
    objects, token = [], None
    while True:
        page = json.loads(
            fetch(server, path + (f"&next_page_token={token}" if token else ""))
        )
        objects += page["content"]
        token = page.get("next_page_token")
        if not token:
            return objects


@pytest.fixture(scope="module")
def server():
    with running_sandbox(seed=11, rate_limit=False, accounts=1, **SIZES) as served:
        yield served


def test_every_documented_field_is_sent(server):
    for entity, fields in (
        ("customer", (*CUSTOMER, *CUSTOMER_COUNTERS)),
        ("subscription", SUBSCRIPTION),
        ("invoice", INVOICE),
        ("plan", PLAN),
    ):
        for obj in read_all(server, entity):
            assert set(fields) <= set(obj), (entity, set(fields) - set(obj))
    invoices = read_all(server, "invoice")
    for invoice in invoices:
        for line in invoice["order_lines"]:
            assert set(ORDER_LINE) <= set(line)
        for transaction in invoice["transactions"]:
            assert set(TRANSACTION) <= set(transaction)
    assert any(invoice["transactions"] for invoice in invoices)


def test_customer_counters_agree_with_its_subscriptions_and_invoices(server):
    customers = read_all(server, "customer")
    subscriptions = read_all(server, "subscription")
    invoices = read_all(server, "invoice")
    checked = 0
    for customer in customers:
        handle = customer["handle"]
        subs = [sub for sub in subscriptions if sub["customer"] == handle]
        own = [invoice for invoice in invoices if invoice["customer"] == handle]
        assert customer["subscriptions"] == len(subs)
        assert customer["expired_subscriptions"] == sum(
            sub["state"] == "expired" for sub in subs
        )
        assert customer["non_renewing_subscriptions"] == sum(
            sub["state"] == "active" and sub["is_cancelled"] for sub in subs
        )
        settled = [invoice for invoice in own if invoice["state"] == "settled"]
        assert customer["settled_invoices"] == len(settled)
        assert customer["settled_amount"] == sum(i["amount"] for i in settled)
        pending = [invoice for invoice in own if invoice["state"] == "pending"]
        assert customer["pending_amount"] == sum(
            i["amount"] - i["settled_amount"] for i in pending
        )
        assert customer["refunded_amount"] == sum(i["refunded_amount"] for i in own)
        checked += bool(own)
    assert checked > 100
    assert any(c["dunning_invoices"] for c in customers)
    assert any(c["refunded_amount"] for c in customers)


def test_subscription_figures_agree_with_its_state_and_invoices(server):
    invoices = read_all(server, "invoice")
    for sub in read_all(server, "subscription"):
        own = [i for i in invoices if i["subscription"] == sub["handle"]]
        assert sub["settled_invoices"] == sum(i["state"] == "settled" for i in own)
        assert sub["renewal_count"] == max(0, len(own) - 1)
        assert sub["renewing"] == (sub["state"] == "active" and not sub["is_cancelled"])
        assert sub["has_started"] == (sub["activated"] is not None)
        assert sub["timezone"] == "Europe/Copenhagen"
        assert bool(sub["active_payment_methods"]) == (
            sub["state"] in ("active", "on_hold")
        )
        assert sub["hosted_page_links"]["payment_info"].startswith("https://")
        assert server.keys[0] not in json.dumps(sub)


def test_counters_follow_a_payment(server):
    account = server.accounts[0]
    invoice = next(
        i
        for i in account.invoices.values()
        if i["state"] == "pending" and i["settled_amount"] == 0
    )
    handle = invoice["customer"]
    before = json.loads(fetch(server, f"customer/{handle}"))
    fetch(server, f"invoice/{invoice['id']}/manual_settle", method="POST")
    after = json.loads(fetch(server, f"customer/{handle}"))
    assert after["settled_invoices"] == before["settled_invoices"] + 1
    assert after["settled_amount"] == before["settled_amount"] + invoice["amount"]
    assert after["pending_invoices"] == before["pending_invoices"] - 1
    assert after["pending_amount"] == before["pending_amount"] - invoice["amount"]
    answer = json.loads(fetch(server, f"invoice/{invoice['id']}"))
    assert (answer["state"], answer["dunning_count"]) == ("settled", 0)


def test_same_seed_same_bytes_and_pages_weigh_what_billwerk_sends():
    pages = []
    for _run in range(2):
        with running_sandbox(seed=11, rate_limit=False, accounts=1, **SIZES) as box:
            pages.append(
                {
                    entity: fetch(
                        box, f"list/{entity}?size=100&from=2000-01-01&to=2100-01-01"
                    )
                    for entity in ("customer", "subscription", "invoice")
                }
            )
    assert pages[0] == pages[1]
    kilobytes = {entity: len(body) / 1000 for entity, body in pages[0].items()}
    # Billwerk: about 100, 125 and 150 KB a page of 100 (the API notes).
    assert 85 < kilobytes["customer"] < 120, kilobytes
    assert 110 < kilobytes["subscription"] < 160, kilobytes
    assert 120 < kilobytes["invoice"] < 170, kilobytes
