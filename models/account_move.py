from odoo import api, fields, models
from odoo.exceptions import UserError

BINDING_FIELDS = ("billwerk_account", "billwerk_document")


class AccountMove(models.Model):
    """A journal entry knows the Billwerk document it books: exactly once.

    The pair (Billwerk account id, document) is unique in the database, so
    that no rerun, crash or switch back to an account can book a Billwerk
    invoice twice; the posting step finds an entry by it before it creates one.
    """

    _inherit = "account.move"

    billwerk_account = fields.Char(
        string="Billwerk account id", readonly=True, copy=False, index="btree_not_null"
    )
    billwerk_document = fields.Char(
        string="Billwerk document",
        readonly=True,
        copy=False,
        help="invoice/<id>, credit_note/<id> or cancel/<invoice id> in Billwerk.",
    )
    billwerk_invoice_id = fields.Many2one(
        "billwerk.invoice",
        compute="_compute_billwerk_invoice_id",
        string="Billwerk invoice",
        compute_sudo=True,
    )

    _sql_constraints = [
        (
            "billwerk_document_uniq",
            "unique(billwerk_account, billwerk_document)",
            "A Billwerk document is booked once.",
        )
    ]

    @api.depends("billwerk_document")
    def _compute_billwerk_invoice_id(self):
        invoices = self.env["billwerk.invoice"].with_context(active_test=False)
        moves = self.filtered("billwerk_document")
        (self - moves).billwerk_invoice_id = False
        if not moves:
            return
        found = invoices.search(
            ["|", ("move_id", "in", moves.ids), ("reversal_move_id", "in", moves.ids)]
        )
        notes = self.env["billwerk.credit.note"].with_context(active_test=False)
        noted = notes.search([("move_id", "in", moves.ids)])
        by_move = {invoice.move_id.id: invoice for invoice in found}
        by_move.update({invoice.reversal_move_id.id: invoice for invoice in found})
        by_move.update({note.move_id.id: note.invoice_id for note in noted})
        for move in moves:
            move.billwerk_invoice_id = by_move.get(move.id, False)

    def write(self, vals):
        if not self.env.su and any(name in vals for name in BINDING_FIELDS):
            raise UserError(
                self.env._("Only the Billwerk connector links entries to Billwerk.")
            )
        return super().write(vals)

    @api.model_create_multi
    def create(self, vals_list):
        if not self.env.su and any(
            name in vals for vals in vals_list for name in BINDING_FIELDS
        ):
            raise UserError(
                self.env._("Only the Billwerk connector links entries to Billwerk.")
            )
        return super().create(vals_list)

    def action_open_billwerk_invoice(self):
        self.ensure_one()
        invoice = self.billwerk_invoice_id
        invoice.check_access("read")
        return invoice._get_records_action(name=self.env._("Billwerk invoice"))
