from odoo import models


class AccountPayment(models.Model):
    """A payment knows the Billwerk transaction it books (see the mixin)."""

    _name = "account.payment"
    _inherit = ["account.payment", "billwerk.binding.mixin"]

    def _billwerk_post(self):
        """``action_post`` for a batch of new payments, their entries made once.

        Odoo makes the entries of the batch in one create, then links each
        payment to its entry with a write of its own, and every such write
        searches what depends on the payment. Here the entries are made the
        same way (``_generate_move_vals``), the links are set in the cache and
        what depends on them is marked once; ``action_post`` then finds every
        entry made and posts them together, as it would.
        """
        need_move = self.filtered(lambda p: not p.move_id and p.outstanding_account_id)
        if need_move:
            moves = self.env["account.move"].create(
                [payment._generate_move_vals() for payment in need_move]
            )
            with self.env.protecting([self._fields["move_id"]], need_move):
                for payment, move in zip(need_move, moves, strict=True):
                    payment.move_id = move
            need_move.modified(["move_id"])
        return self.action_post()
