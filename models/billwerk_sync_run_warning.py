from odoo import fields, models


class BillwerkSyncRunWarning(models.Model):
    """A record Billwerk sent that the run could not store, and why.

    The run goes on without it and ends "Done with warnings"; the record is
    read again by the next reconciliation, so a fixed cause heals by itself.
    """

    _name = "billwerk.sync.run.warning"
    _description = "Billwerk record skipped by a sync run"
    _order = "run_id, id"

    run_id = fields.Many2one(
        "billwerk.sync.run", required=True, ondelete="cascade", index=True
    )
    company_id = fields.Many2one(related="run_id.company_id", store=True)
    entity = fields.Selection(
        [
            ("plan", "Plan"),
            ("customer", "Customer"),
            ("subscription", "Subscription"),
            ("invoice", "Invoice"),
            ("credit_note", "Credit note"),
            ("transaction", "Transaction"),
            ("event", "Event"),
        ],
        required=True,
    )
    record_key = fields.Char(string="Handle or id", required=True)
    reason = fields.Char(required=True)
