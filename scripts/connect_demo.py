"""Piped into `odoo-bin shell` by run.sh: connect to the sandbox, sync, register
webhooks, post.

It goes through the same dialog and settings a user would, so the demo shows the
real path. The demo company works in the sandbox account's currency (DKK), with a
daily rate for every other currency its plans bill in, and a sales tax per VAT
rate of the sandbox account (the generic chart has only 15 %), as its accountant
would set them up; it posts the last three months of invoices.
"""

import os
from datetime import date, timedelta

# Danish kroner per unit: the euro's ERM II central rate, the others rounded
# market rates of late 2026; the demo books at them, as an accountant would
# with the national bank's rates.
DKK_PER_UNIT = {"EUR": 7.46038, "USD": 6.45, "JPY": 0.0430}
DEMO_DAYS = 90


def work_in_currency(company, code):
    """The company's currency, while it has no journal items yet."""
    currency = env["res.currency"].with_context(active_test=False)  # noqa: F821
    wanted = currency.search([("name", "=", code)], limit=1)
    if not wanted or company.currency_id == wanted:
        return
    lines = env["account.move.line"].search_count(  # noqa: F821
        [("company_id", "=", company.id)], limit=1
    )
    if lines:
        print(f"The demo company keeps {company.currency_id.name}: it has entries.")
        return
    wanted.active = True
    company.currency_id = wanted
    print(f"The demo company works in {code}.")


def daily_rates(company, days):
    """A rate for every day of the demo's period, in the company's currency."""
    if company.currency_id.name != "DKK":
        return
    rates = env["res.currency.rate"]  # noqa: F821
    for code, dkk in DKK_PER_UNIT.items():
        currency = (
            env["res.currency"]  # noqa: F821
            .with_context(active_test=False)
            .search([("name", "=", code)], limit=1)
        )
        currency.active = True
        have = set(
            rates.search(
                [("currency_id", "=", currency.id), ("company_id", "=", company.id)]
            ).mapped("name")
        )
        rates.create(
            [
                {
                    "currency_id": currency.id,
                    "company_id": company.id,
                    "name": day,
                    "rate": 1 / dkk,
                }
                for day in (
                    date.today() - timedelta(days=back) for back in range(days + 1)
                )
                if day not in have
            ]
        )


accounts = env["billwerk.account"]  # noqa: F821 (given by odoo-bin shell)
account = accounts.browse(accounts.action_open_current_company_account()["res_id"])
work_in_currency(account.company_id, "DKK")
daily_rates(account.company_id, DEMO_DAYS + 10)
account.api_url = os.environ["BILLWERK_DEMO_URL"]
wizard = env["billwerk.set.api.key"].create(  # noqa: F821
    {"account_id": account.id, "api_key": os.environ["BILLWERK_DEMO_KEY"]}
)
wizard.action_check_key()
if wizard.step == "confirm_switch":
    wizard.action_switch_delete_data()
env.cr.commit()  # noqa: F821
run = env["billwerk.sync.run"]._run_for(account, trigger="manual")  # noqa: F821
env.cr.commit()  # noqa: F821
print(
    f"Connected to {account.display_name}: {account.plan_count} plans, "
    f"{account.subscription_count} active subscriptions, {account.customer_count} "
    f"customer contracts, {account.invoice_count} invoices (sync {run.state})."
)

# Webhooks from the sandbox into the Odoo that run.sh starts next: a change made
# in the sandbox (e.g. POST /v1/invoice/<id>/manual_settle) shows in seconds.
odoo_url = os.environ.get("BILLWERK_DEMO_ODOO_URL")
if odoo_url:
    env["ir.config_parameter"].set_param("web.base.url", odoo_url)  # noqa: F821
    account.action_register_webhooks()
    env.cr.commit()  # noqa: F821

if os.environ.get("BILLWERK_DEMO_POSTING", "1") == "1" and not account.post_invoices:
    taxes = env["account.tax"]  # noqa: F821
    company = account.company_id
    for rate in (25.0, 0.0):
        if not taxes.search_count(
            [
                ("company_id", "=", company.id),
                ("type_tax_use", "=", "sale"),
                ("amount", "=", rate),
            ]
        ):
            group = env["account.tax.group"].create(  # noqa: F821
                {"name": f"VAT {rate:g}%", "company_id": company.id}
            )
            tax = taxes.create(
                {
                    "name": f"VAT {rate:g}%",
                    "amount": rate,
                    "type_tax_use": "sale",
                    "tax_group_id": group.id,
                    "company_id": company.id,
                }
            )
            # VAT on the chart's tax account, as the chart's own sales tax.
            chart_tax = company.account_sale_tax_id.invoice_repartition_line_ids
            vat_account = chart_tax.filtered("account_id")[:1].account_id
            for lines in (
                tax.invoice_repartition_line_ids,
                tax.refund_repartition_line_ids,
            ):
                lines.filtered(
                    lambda r: r.repartition_type == "tax"
                ).account_id = vat_account
    account.write(
        {"post_invoices": True, "post_from": date.today() - timedelta(days=DEMO_DAYS)}
    )
    # Revenue recognised over the service period, on the chart's deferred
    # revenue account (BILLWERK_DEMO_RECOGNITION=0: booked as invoiced).
    deferred = env["account.account"].search(  # noqa: F821
        [
            *env["account.account"]._check_company_domain(company),  # noqa: F821
            ("account_type", "=", "liability_current"),
            ("name", "=ilike", "deferred revenue"),
        ],
        limit=1,
    )
    if os.environ.get("BILLWERK_DEMO_RECOGNITION", "1") == "1" and deferred:
        account.write(
            {"recognize_revenue": True, "deferred_revenue_account_id": deferred.id}
        )
    # A run posts, as the scheduled action would: the history shows it.
    run = env["billwerk.sync.run"]._run_for(account, trigger="manual")  # noqa: F821
    env.cr.commit()  # noqa: F821
    print(
        f"Posted {run.posted_invoice_count} invoices, {run.posted_credit_note_count} "
        f"credit notes and {run.posted_payment_count} payments "
        f"({account.waiting_invoice_count} invoices wait)."
    )
