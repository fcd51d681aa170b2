from odoo import fields, models


class BillwerkSyncedMixin(models.AbstractModel):
    """What every synchronized copy has: its account, company and change hash.

    Billwerk is the source of truth, so users only read these records; the sync
    writes them as superuser-free code running with the account's rights.
    """

    _name = "billwerk.synced.mixin"
    _description = "Record copied from Billwerk"

    account_id = fields.Many2one(
        "billwerk.account",
        string="Billwerk account",
        required=True,
        ondelete="cascade",
        index=True,
        readonly=True,
    )
    company_id = fields.Many2one(
        related="account_id.company_id", store=True, index=True, readonly=True
    )
    account_active = fields.Boolean(
        related="account_id.active",
        string="Current account",
        help="Off for the data kept from a Billwerk account the company switched "
        "away from (its Odoo account is archived).",
    )
    active = fields.Boolean(default=True, readonly=True)
    currency_id = fields.Many2one("res.currency", readonly=True)
    created = fields.Datetime(string="Created in Billwerk", readonly=True)
    state_raw = fields.Char(
        string="State in Billwerk",
        readonly=True,
        help="The state as Billwerk sent it; kept when it is one this version of "
        "the connector does not know yet (shown as Other). Customers have "
        "no state.",
    )
    sync_hash = fields.Char(
        readonly=True, copy=False, help="Digest of the last payload applied."
    )
