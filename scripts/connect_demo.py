"""Piped into `odoo-bin shell` by run.sh: connect to the sandbox, then sync.

It goes through the same dialog a user would, so the demo shows the real path.
"""

import os

accounts = env["billwerk.account"]  # noqa: F821 (given by odoo-bin shell)
account = accounts.browse(accounts.action_open_current_company_account()["res_id"])
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
