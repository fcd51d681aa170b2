"""The reconciliation with the ledger: Billwerk's documents beside their entries.

A stored table, one row per Billwerk document (see ``mapping/ledger.py`` for
the rows, reasons and months), filled for an account by :meth:`_refresh`:
after each posting, and whenever someone opens the report. Nobody writes it
otherwise (read-only for every user). Refreshing reads each model once
(invoices, credit notes, transactions, bound entries, bound payments) with
SQL, so that it costs the same few queries for ten documents or a hundred
thousand, and the amounts come from the database to the minor unit.
"""

import io
import logging

import psycopg2
from psycopg2 import errors

from odoo import api, fields, models
from odoo.exceptions import AccessError

from ..mapping import ledger
from ..mapping.money import currency_exponent
from .billwerk_account_books import BOOKS_READERS
from .billwerk_ledger_reading import LedgerReading

_logger = logging.getLogger(__name__)

# Per side: field name of each measure of mapping.ledger.Measures.
MEASURES = (
    "invoiced",
    "invoiced_vat",
    "credited",
    "credited_vat",
    "settled",
    "refunded",
    "receivable",
)


def _copy_text(value):
    """A value in COPY's text format (amounts first: most values are)."""
    if isinstance(value, float):
        return repr(value)
    if value is None or value is False:
        return "\\N"
    if isinstance(value, str):
        return (
            value.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )
    return str(value)


def _measure(string, help_text=None):
    return fields.Monetary(string=string, readonly=True, help=help_text)


class BillwerkLedgerLine(models.Model):
    _name = "billwerk.ledger.line"
    _description = "Billwerk document beside the ledger"
    _order = "month desc, currency_id, kind, document, id"
    _rec_name = "document"
    # Recomputed as a whole: when and by whom is the account's
    # ledger_refreshed, and four columns and two foreign keys per row less.
    _log_access = False

    account_id = fields.Many2one(
        "billwerk.account",
        string="Billwerk account",
        required=True,
        readonly=True,
        index=True,
        ondelete="cascade",
    )
    company_id = fields.Many2one(
        "res.company", required=True, readonly=True, index=True
    )
    month = fields.Date(
        required=True,
        readonly=True,
        help="The calendar month, in the Billwerk account's time zone, of the "
        "date the posting gives the entry: an invoice's creation, a credit "
        "note's (never before its invoice's), a payment's settlement or "
        "refund, a cancellation's reversal.",
    )
    period = fields.Char(string="Month (YYYY-MM)", readonly=True)
    currency_id = fields.Many2one("res.currency", readonly=True)
    kind = fields.Selection(
        [
            (ledger.INVOICE, "Invoice"),
            (ledger.CREDIT_NOTE, "Credit note"),
            (ledger.CANCELLATION, "Cancellation"),
            (ledger.SETTLEMENT, "Payment"),
            (ledger.REFUND, "Refund"),
        ],
        required=True,
        readonly=True,
    )
    document = fields.Char(
        string="Billwerk document",
        readonly=True,
        help="Billwerk's number (or handle, or id) of the document.",
    )
    invoice = fields.Char(readonly=True, help="The Billwerk invoice it belongs to.")
    reference = fields.Char(
        string="Binding",
        readonly=True,
        help="invoice/<id>, credit_note/<id>, cancel/<invoice id> or "
        "transaction/<id>: the key of the entry or payment that books it.",
    )
    entry = fields.Char(string="Ledger entry", readonly=True)
    # Indexed: deleting an entry sets its rows' link to NULL.
    move_id = fields.Many2one(
        "account.move",
        string="Journal entry",
        readonly=True,
        ondelete="set null",
        index="btree_not_null",
    )
    payment_id = fields.Many2one(
        "account.payment", readonly=True, ondelete="set null", index="btree_not_null"
    )
    reason = fields.Selection(
        [
            (ledger.MATCHED, "Matched"),
            (ledger.WAITING, "Waiting"),
            (ledger.BEFORE_POSTING, "Before posting started"),
            (ledger.BOOKED_ELSEWHERE, "Booked elsewhere"),
            (ledger.EDITED, "Edited in Odoo"),
            (ledger.UNEXPLAINED, "Unexplained"),
        ],
        required=True,
        readonly=True,
        index=True,
    )
    detail = fields.Selection(
        [
            (ledger.NOT_POSTED, "Entry no longer posted"),
            (ledger.AMOUNTS, "Amounts differ"),
            (ledger.MOVED, "Other month or currency"),
            (ledger.NO_DOCUMENT, "Not in Billwerk"),
        ],
        readonly=True,
    )
    waiting_reason = fields.Char(
        string="Waits because",
        readonly=True,
        help="Why the connector could not post it (or its invoice) yet.",
    )
    billwerk_amount = _measure("Billwerk", "The document's total incl. VAT.")
    ledger_amount = _measure("Ledger", "What the ledger holds for it.")
    difference = _measure("Difference", "Billwerk − ledger.")
    billwerk_vat = _measure("Billwerk VAT")
    ledger_vat = _measure("Ledger VAT")
    vat_difference = _measure("VAT difference")
    billwerk_invoiced = _measure("Invoiced (Billwerk)")
    ledger_invoiced = _measure("Invoiced (ledger)")
    billwerk_invoiced_vat = _measure("VAT invoiced (Billwerk)")
    ledger_invoiced_vat = _measure("VAT invoiced (ledger)")
    billwerk_credited = _measure(
        "Credited (Billwerk)", "Credit notes and cancelled posted invoices."
    )
    ledger_credited = _measure("Credited (ledger)")
    billwerk_credited_vat = _measure("VAT credited (Billwerk)")
    ledger_credited_vat = _measure("VAT credited (ledger)")
    billwerk_settled = _measure("Settled (Billwerk)")
    ledger_settled = _measure("Settled (ledger)")
    billwerk_refunded = _measure("Refunded (Billwerk)")
    ledger_refunded = _measure("Refunded (ledger)")
    billwerk_receivable = _measure(
        "Open receivable (Billwerk)",
        "Invoiced − credited − settled + refunded: per month what the month "
        "adds to the open receivable; over all months, the open receivable.",
    )
    ledger_receivable = _measure("Open receivable (ledger)")
    unexplained_amount = _measure(
        "Unexplained", "The difference of a row no reason explains."
    )

    # -- opening the report --
    @api.model
    def _check_books_reader(self):
        if not self.env.user.has_groups(BOOKS_READERS):
            raise AccessError(
                self.env._(
                    "The reconciliation with the ledger shows the books: it "
                    "needs the Invoicing or accounting read rights."
                )
            )

    @api.model
    def _report_action(self, accounts):
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "billwerk_connector.action_billwerk_ledger_line"
        )
        action["domain"] = [("account_id", "in", accounts.ids)]
        return action

    @api.model
    def action_open_for_companies(self):
        """The menu's entry: the current companies' accounts, refreshed."""
        self._check_books_reader()
        accounts = self.env["billwerk.account"].search(
            [("company_id", "in", self.env.companies.ids)]
        )
        self._refresh(accounts)
        return self._report_action(accounts)

    # -- refreshing --
    @api.model
    def _refresh_after_posting(self, account):
        """After a posting, in the run's transaction. A user refreshing the
        same account at this moment wins: the posting never fails for it."""
        try:
            with self.env.cr.savepoint(flush=False):
                self._refresh(account)
        except (errors.SerializationFailure, errors.LockNotAvailable):
            _logger.info(
                "Ledger reconciliation of Billwerk account %s refreshed "
                "concurrently; left to that refresh.",
                account.id,
            )

    @api.model
    def _refresh(self, accounts):
        """Recompute the rows of ``accounts`` from what Billwerk and the
        ledger hold now.

        The first statement updates the accounts' rows: two refreshes of one
        account never interleave, and under PostgreSQL's repeatable read the
        later one fails on it and is retried by Odoo (a request) or given up
        (:meth:`_refresh_after_posting`), instead of adding its rows to the
        other's.
        """
        if not accounts:
            return
        lines = self.sudo()
        lines.env.flush_all()
        cr = lines.env.cr
        now = cr.now()
        cr.execute(
            "UPDATE billwerk_account SET ledger_refreshed = %s WHERE id IN %s",
            (now, tuple(accounts.ids)),
        )
        cr.execute(
            "DELETE FROM billwerk_ledger_line WHERE account_id IN %s",
            (tuple(accounts.ids),),
        )
        for account in accounts.sudo():
            lines._insert(account, lines._rows(account))
        accounts.invalidate_recordset(["ledger_refreshed"])
        lines.invalidate_model()

    def _insert(self, account, rows):
        """The account's rows in one COPY: tens of thousands of rows in a
        second or two, where the ORM's ``create`` (or an INSERT's per-value
        adaptation) took several times longer. As Odoo's own
        ``_ensure_xml_id`` does, with the asynchronous wait callback off."""
        if not rows:
            return
        columns = ["account_id", "company_id", *rows[0]]
        common = (account.id, account.company_id.id)
        text = "\n".join(
            "\t".join(map(_copy_text, common + tuple(row.values()))) for row in rows
        )
        callback = psycopg2.extensions.get_wait_callback()
        psycopg2.extensions.set_wait_callback(None)
        try:
            self.env.cr.copy_from(io.StringIO(text), table=self._table, columns=columns)
        finally:
            psycopg2.extensions.set_wait_callback(callback)

    def _rows(self, account):
        """The values of the account's rows, each with the same keys."""
        reading = LedgerReading(self.env, account).collect()
        return [
            self._row_values(line, reading)
            for line in ledger.reconcile(reading.documents, reading.orphans)
        ]

    @staticmethod
    def _row_values(line, reading):
        scale = 10 ** currency_exponent(line.currency)

        def amount(minor):
            # The float nearest to the decimal: psycopg2 writes its repr,
            # which is that decimal, so the numeric column holds it exactly
            # (and 25 times faster than through Decimal).
            return minor / scale

        bound = reading.bound.get(line.reference, {})
        info = reading.info.get(line.reference, {})
        waiting = info.get("waiting") if line.reason == ledger.WAITING else None
        values = {
            "month": line.month,
            "period": line.month.strftime("%Y-%m"),
            "currency_id": reading.currency_ids.get(line.currency),
            "kind": line.kind,
            "document": info.get("document") or line.reference,
            "invoice": info.get("invoice"),
            "reference": line.reference,
            "entry": line.entry,
            "move_id": bound.get("move_id"),
            "payment_id": bound.get("payment_id"),
            "reason": line.reason,
            "detail": line.detail,
            "waiting_reason": waiting,
            "billwerk_amount": amount(line.billwerk.total),
            "ledger_amount": amount(line.ledger.total),
            "difference": amount(line.difference),
            "billwerk_vat": amount(line.billwerk.vat),
            "ledger_vat": amount(line.ledger.vat),
            "vat_difference": amount(line.vat_difference),
        }
        for side, measures in (
            ("billwerk", line.billwerk_measures),
            ("ledger", line.ledger_measures),
        ):
            for name in MEASURES:
                values[f"{side}_{name}"] = amount(getattr(measures, name))
        values["unexplained_amount"] = amount(line.unexplained)
        return values
