from odoo import fields, models

from .odoo_compat import Constraint


class BillwerkSyncCursor(models.Model):
    """Where the sync of one list stands, so that a crash resumes, not restarts.

    ``load_to`` and ``page_token`` pin a first load that is under way (Billwerk
    wants every parameter unchanged between pages); ``high_water`` is the UTC
    moment up to which the list has been read.
    """

    _name = "billwerk.sync.cursor"
    _description = "Billwerk sync cursor"
    _order = "account_id, entity, range_name"

    account_id = fields.Many2one(
        "billwerk.account", required=True, ondelete="cascade", index=True
    )
    company_id = fields.Many2one(related="account_id.company_id", store=True)
    entity = fields.Char(required=True)
    range_name = fields.Char(required=True, default="created")
    load_to = fields.Char()
    page_token = fields.Char()
    first_load_done = fields.Boolean()
    high_water = fields.Datetime(help="UTC")

    _cursor_uniq = Constraint(
        "unique(account_id, entity, range_name)",
        "One cursor per account, list and range.",
    )
