from odoo import fields, models


class BillwerkSyncRunLine(models.Model):
    _name = "billwerk.sync.run.line"
    _description = "Billwerk sync counts per entity"
    _order = "run_id, sequence"

    run_id = fields.Many2one(
        "billwerk.sync.run", required=True, ondelete="cascade", index=True
    )
    company_id = fields.Many2one(related="run_id.company_id", store=True)
    sequence = fields.Integer()
    entity = fields.Selection(
        [
            ("plan", "Plans"),
            ("customer", "Customers"),
            ("subscription", "Subscriptions"),
            ("invoice", "Invoices"),
            ("credit_note", "Credit notes"),
            ("transaction", "Transactions"),
        ],
        required=True,
    )
    created_count = fields.Integer(string="Created")
    updated_count = fields.Integer(string="Updated")
    archived_count = fields.Integer(string="Archived")
