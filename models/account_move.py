from odoo import api, fields, models


class AccountMove(models.Model):
    """A journal entry knows the Billwerk document it books (see the mixin)."""

    _name = "account.move"
    _inherit = ["account.move", "billwerk.binding.mixin"]

    billwerk_invoice_id = fields.Many2one(
        "billwerk.invoice",
        compute="_compute_billwerk_invoice_id",
        string="Billwerk invoice",
        compute_sudo=True,
    )

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

    def action_open_billwerk_invoice(self):
        self.ensure_one()
        invoice = self.billwerk_invoice_id
        invoice.check_access("read")
        return invoice._get_records_action(name=self.env._("Billwerk invoice"))
