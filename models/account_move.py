from odoo import Command, api, fields, models

from .billwerk_posting import BATCH_POST


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

    # -- posting in batches --
    def _post(self, soft=True):
        # Where the posting is tracked (a company keeping Odoo's audit trail),
        # Odoo's own path runs: it tracks each entry's number and tick.
        context = self.env.context
        if (
            not self
            or not context.get(BATCH_POST)
            or not context.get("tracking_disable")
        ):
            return super()._post(soft)
        to_post = self.filtered(lambda m: m.state == "draft")
        if soft:
            # Entries dated in the future wait for their day, unnumbered.
            today = fields.Date.context_today(self)
            to_post = to_post.filtered(lambda m: m.date <= today)
        to_post._billwerk_number()
        to_post._billwerk_follow()
        # Odoo ticks "checked" one entry at a time, a full write each (the
        # lines' synchronization, the balance check ...) that changes nothing
        # else: protected, the tick is stored with the batch's state instead.
        with self.env.protecting([self._fields["checked"]], to_post):
            return super()._post(soft)

    def _billwerk_number(self):
        """Number the entries Odoo would number at post, in one go.

        Odoo numbers each entry at post on its own: it reads the journal's
        last number (a search and a query per entry) and takes the next one.
        Here the last number is read once per sequence (journal, kind, period)
        and the batch is numbered on from it, in Odoo's order (date, reference,
        id), in Odoo's format: gap-free, in date order, the year of the name
        the entry's (Odoo refuses a name whose year is not the date's). The
        names are unique because the posted ones are (a concurrent poster in
        the same journal makes the batch fail on that constraint; it is then
        posted one by one, numbered by Odoo). Entries named already (the
        Billwerk number) keep their name.
        """
        todo = self.filtered(
            lambda m: (
                m.date
                and m.journal_id
                and (not m.name or m.name == "/")
                # Odoo moves an entry out of a locked period before numbering
                # it: such an entry (the book lets none through) is Odoo's.
                and not m._get_violated_lock_dates(m.date, m._affect_tax_report())
            )
        ).sorted(lambda m: (m.date, m.ref or "", m.id))
        if not todo:
            return
        formats, last = {}, {}
        name_fields = [self._fields[name] for name in ("name", *SPLIT)]
        with self.env.protecting(name_fields, todo):
            for move in todo:
                key = (
                    move.journal_id.id,
                    move.move_type in ("out_refund", "in_refund"),
                    bool(move.origin_payment_id),
                    move.date.year,
                    move.date.month,
                )
                if key not in formats:
                    # Odoo's own reading of the last number and its format;
                    # the names given so far are flushed first, so that it
                    # counts them.
                    todo.flush_recordset(["name", *SPLIT])
                    pattern, values = move._get_next_sequence_format()
                    number = values.pop("seq")
                    identity = pattern.format(**values, seq=0)
                    formats[key] = (pattern, values, identity)
                    last[identity] = max(last.get(identity, number), number)
                pattern, values, identity = formats[key]
                last[identity] += 1
                move.name = pattern.format(**values, seq=last[identity])
            todo._compute_split_sequence()
        # What depends on the name (the payment's number ...) follows it.
        todo.modified(["name"])
        # Odoo keeps the last number it gave per sequence for the rest of
        # the transaction: it reads the journal again instead (a rollback of
        # this batch would leave a remembered number too high, and a gap).
        cache = self._get_sequence_cache()
        for key in [key for key in cache if key[0] in last]:
            del cache[key]

    def _billwerk_follow(self):
        """The customer follows its document, as ``_post`` subscribes it.

        One insert for the batch instead of a subscription per entry, with
        the subtypes Odoo's default subscription gives; ``_post`` then finds
        the customer following and subscribes nobody.
        """
        moves = self.filtered(
            lambda m: (
                m.partner_id.active and m.partner_id not in m.sudo().message_partner_ids
            )
        )
        if not moves:
            return
        default, _internal, external = self.env[
            "mail.message.subtype"
        ].default_subtypes(self._name)
        self.env["mail.followers"].sudo().with_context(default_partner_id=False).create(
            [
                {
                    "res_model": self._name,
                    "res_id": move.id,
                    "partner_id": move.partner_id.id,
                    "subtype_ids": [
                        Command.set(
                            (external if move.partner_id.partner_share else default).ids
                        )
                    ],
                }
                for move in moves
            ]
        )
        moves.invalidate_recordset(["message_follower_ids", "message_partner_ids"])


SPLIT = ("sequence_prefix", "sequence_number")
