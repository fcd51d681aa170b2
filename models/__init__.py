# What Odoo 18 and 19 spell differently (constraints, groups, loggers).
from . import odoo_compat

# The account: the connection, its key, its screen and its scheduling.
from . import billwerk_account
from . import billwerk_account_lock
from . import billwerk_account_data
from . import billwerk_account_scheduler
from . import billwerk_account_webhooks

# The copies of Billwerk's objects.
from . import billwerk_synced_mixin
from . import billwerk_document_mixin
from . import billwerk_plan
from . import billwerk_customer
from . import billwerk_subscription
from . import billwerk_invoice
from . import billwerk_credit_note
from . import billwerk_transaction

# The sync: runs, their steps, cursors and log.
from . import billwerk_sync_cursor
from . import billwerk_sync_run
from . import billwerk_sync_run_webhooks
from . import billwerk_sync_run_batch
from . import billwerk_sync_run_line
from . import billwerk_sync_run_warning
from . import billwerk_sync_run_cancellation
from . import billwerk_sync_run_progress

# The books: settings, posting, the entries' links back, the ledger check.
from . import billwerk_tax_mapping
from . import billwerk_line_product
from . import billwerk_payment_journal
from . import billwerk_account_books
from . import billwerk_posting
from . import billwerk_binding_mixin
from . import account_move
from . import analytic_distribution_model
from . import account_payment

# Revenue recognised over the service period: the option, the schedule, the
# entries, the report.
from . import account_move_line
from . import billwerk_account_revenue
from . import billwerk_revenue_share
from . import billwerk_revenue_recognition
from . import billwerk_revenue_report
from . import billwerk_ledger_line
from . import billwerk_account_ledger

# Webhooks: the deliveries stored by the controller.
from . import billwerk_webhook_event

# Subscription metrics: MRR rows per month and customer, kept by the runs,
# and the account screen's figures.
from . import billwerk_mrr
from . import billwerk_account_mrr
from . import billwerk_sync_run_mrr
