"""The runs keep the MRR rows current: they note what changes, then recompute.

Every write of invoice copies notes the first month it touches, on the
account (``mrr_stale_from``), in the same savepoint as the write: a page
rolled back notes nothing, and a run that fails leaves the note for the next
one. At the end of each run (polling, webhooks, posting only), after the
posting step, ``_update_metrics`` recomputes the rows from that month on (and
the running month, whose MRR is today's). It never stops a run: a failure is
a warning on the run, a call out of time leaves it to the next run.
"""

import logging

from psycopg2.extras import Json as PgJson

from odoo import fields, models

from ..mapping.entities import INVOICE

_logger = logging.getLogger(__name__)

METRICS = "metrics"


class BillwerkSyncRunMrr(models.Model):
    _inherit = "billwerk.sync.run"

    def _upsert(self, entity, incoming, state):
        if entity is INVOICE and incoming:
            self._note_invoices_changing(incoming)
        return super()._upsert(entity, incoming, state)

    def _note_invoices_changing(self, incoming):
        """Note the first month the page's new or changed invoices touch,
        their lines before and after (one query; unchanged copies are not
        rewritten, so they touch nothing)."""
        account = self.account_id
        # Before the query: a field read here may run one on the cursor.
        zone = account._billwerk_zone()
        keys = list(incoming)
        self.env["billwerk.invoice"].flush_model(["sync_hash", "order_lines"])
        self.env.cr.execute(
            """
            SELECT n.key, i.order_lines
              FROM unnest(%s::varchar[], %s::varchar[]) AS n(key, hash)
              LEFT JOIN billwerk_invoice i
                ON i.account_id = %s AND i.billwerk_id = n.key
             WHERE i.id IS NULL OR i.sync_hash IS DISTINCT FROM n.hash
            """,
            (keys, [incoming[key].get("sync_hash") for key in keys], account.id),
        )
        months = []
        for key, old_lines in self.env.cr.fetchall():
            for lines in (old_lines, incoming[key].get("order_lines")):
                if isinstance(lines, PgJson):
                    lines = lines.adapted
                month = account._mrr_first_month(lines, zone)
                if month:
                    months.append(month)
        if months:
            account._mark_mrr_stale(min(months))

    def _update_metrics(self, state):
        """Recompute the account's MRR rows; never stop the run for it."""
        account = self.account_id
        if state.budget.spent():
            # The rows stay marked: the next run recomputes them.
            _logger.info(
                "Billwerk sync run %s leaves the MRR to the next run: out of time",
                self.id,
            )
            return
        try:
            with self.env.cr.savepoint():
                account._recompute_mrr()
        except Exception as error:
            self.env.invalidate_all()
            _logger.exception("Billwerk sync run %s: MRR not recomputed", self.id)
            state.skip(
                METRICS,
                "MRR",
                self.env._(
                    "The subscription metrics were not recomputed (%(error)s); "
                    "the next run tries again.",
                    error=str(error)[:200] or type(error).__name__,
                ),
            )
            return
        state.budget.step_done()
        self._commit()


class BillwerkSyncRunWarningMrr(models.Model):
    _inherit = "billwerk.sync.run.warning"

    entity = fields.Selection(
        selection_add=[(METRICS, "Subscription metrics")],
        ondelete={METRICS: "cascade"},
    )


class BillwerkInvoiceMrr(models.Model):
    _inherit = "billwerk.invoice"

    def write(self, vals):
        if vals.get("active") is False:
            # Archived copies no longer count (Billwerk no longer has them).
            for account in self.account_id:
                zone = account._billwerk_zone()
                months = [
                    account._mrr_first_month(invoice.order_lines, zone)
                    for invoice in self
                    if invoice.account_id == account and invoice.active
                ]
                months = [month for month in months if month]
                if months:
                    account._mark_mrr_stale(min(months))
        return super().write(vals)
