from odoo import fields, models

from .odoo_compat import Constraint


class BillwerkCreditNote(models.Model):
    """A Billwerk credit note: a refund's document, or a credit on an invoice."""

    _name = "billwerk.credit.note"
    _inherit = ["billwerk.synced.mixin", "billwerk.document.mixin"]
    _description = "Billwerk credit note"
    _order = "created desc, id desc"
    _rec_name = "billwerk_id"

    billwerk_id = fields.Char(string="Billwerk id", required=True, readonly=True)
    invoice_handle = fields.Char(readonly=True)
    customer_handle = fields.Char(readonly=True)
    subscription_handle = fields.Char(readonly=True)
    invoice_id = fields.Many2one(
        "billwerk.invoice", readonly=True, index=True, ondelete="set null"
    )
    customer_id = fields.Many2one(
        "billwerk.customer", readonly=True, index=True, ondelete="set null"
    )
    amount = fields.Monetary(string="Amount incl. VAT", readonly=True)
    amount_vat = fields.Monetary(string="VAT", readonly=True)
    amount_ex_vat = fields.Monetary(string="Amount excl. VAT", readonly=True)
    refund_transaction = fields.Char(
        string="Refund transaction",
        readonly=True,
        help="Billwerk's id of the refund this credit note documents; empty "
        "for a credit on an unpaid invoice.",
    )
    accounting_number = fields.Char(readonly=True)
    # Minor units, as Billwerk sent them (mapping/books.py reads them).
    credit_note_lines = fields.Json(readonly=True)
    move_id = fields.Many2one(
        "account.move",
        string="Journal entry",
        readonly=True,
        copy=False,
        index="btree_not_null",
        ondelete="restrict",
        help="The customer credit note this Billwerk credit note was posted as.",
    )
    post_error = fields.Char(string="Waits because", readonly=True, copy=False)

    _billwerk_id_account_uniq = Constraint(
        "unique(account_id, billwerk_id)",
        "A Billwerk credit note id is unique per account.",
    )
    _move_uniq = Constraint(
        "unique(move_id)",
        "A journal entry belongs to one Billwerk credit note.",
    )

    def action_open_move(self):
        self.ensure_one()
        return self.move_id._get_records_action(name=self.env._("Journal entry"))
