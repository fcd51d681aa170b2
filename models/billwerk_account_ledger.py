from odoo import fields, models

from .billwerk_account_books import BOOKS_READERS


class BillwerkAccountLedger(models.Model):
    """The account screen's way to the reconciliation with the ledger."""

    _inherit = "billwerk.account"

    ledger_refreshed = fields.Datetime(
        string="Reconciled with the ledger",
        readonly=True,
        copy=False,
        groups=BOOKS_READERS,
        help="When the reconciliation with the ledger was last computed: "
        "after each posting, and each time it is opened.",
    )

    def action_open_ledger_reconciliation(self):
        """Billwerk beside the ledger for this account, computed now."""
        self.ensure_one()
        lines = self.env["billwerk.ledger.line"]
        lines._check_books_reader()
        self.check_access("read")
        lines._refresh(self)
        return lines._report_action(self)
