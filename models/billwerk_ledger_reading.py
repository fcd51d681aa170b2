"""What Billwerk and the ledger hold for one account, as mapping/ledger.py reads it.

One SQL query per model (invoices, credit notes, transactions, bound entries,
bound payments), never one per document; amounts leave the database as the
numbers stored and become minor units once. The ledger side is found by the
binding (``billwerk_account`` + ``billwerk_document``, unique), not by the
copies' links: the binding is what the books hold, whatever became of the copy.

Which Billwerk documents count, as Billwerk reports them:

- invoices that are claims (the states the posting posts), and cancelled
  invoices that reached the books: invoiced in their month, and taken back by
  a *cancellation* in the month of their reversal;
- every credit note, and the settled payments and refunds (the transactions
  the posting books); those of an invoice still a draft wait for it.

Draft invoices, cancelled ones that were never posted, pending or failed
transactions and archived copies (Billwerk no longer has them) are not
Billwerk figures; an entry bound to such a document is an unexplained row of
its own.
"""

from ..mapping import ledger
from ..mapping.books import POSTED_STATES
from ..mapping.money import currency_exponent

# The entry type and payment direction each kind is booked as; an entry of
# the other type counts negative (it moves the receivable the other way).
MOVE_TYPES = {
    ledger.INVOICE: "out_invoice",
    ledger.CREDIT_NOTE: "out_refund",
    ledger.CANCELLATION: "out_refund",
}
PAYMENT_TYPES = {ledger.SETTLEMENT: "inbound", ledger.REFUND: "outbound"}
POSTED_PAYMENT_STATES = ("in_process", "paid")
ORPHAN_KINDS = {
    "invoice": ledger.INVOICE,
    "credit_note": ledger.CREDIT_NOTE,
    "cancel": ledger.CANCELLATION,
}

INVOICES = """
    SELECT i.id, i.billwerk_id, i.number, i.handle, i.state, i.amount,
           i.amount_vat, i.created, i.post_error, i.booked_elsewhere,
           c.id AS currency_id, c.name AS currency
      FROM billwerk_invoice i
      LEFT JOIN res_currency c ON c.id = i.currency_id
     WHERE i.account_id = %s AND i.active
"""
CREDIT_NOTES = """
    SELECT n.billwerk_id, n.accounting_number, n.invoice_id, n.amount,
           n.amount_vat, n.created, n.post_error, n.booked_elsewhere,
           c.id AS currency_id, c.name AS currency
      FROM billwerk_credit_note n
      LEFT JOIN res_currency c ON c.id = n.currency_id
     WHERE n.account_id = %s AND n.active
"""
# The transactions the posting books (_due_transactions).
TRANSACTIONS = """
    SELECT t.billwerk_id, t.type, t.amount, 0 AS amount_vat, t.settled,
           t.refunded, t.created, t.invoice_id, t.post_error,
           t.booked_elsewhere, c.id AS currency_id, c.name AS currency
      FROM billwerk_transaction t
      LEFT JOIN res_currency c ON c.id = t.currency_id
     WHERE t.account_id = %s AND t.active
       AND ((t.type = 'settle' AND t.state = 'settled')
         OR (t.type = 'refund' AND t.state IN ('refunded', 'settled')))
"""
MOVES = """
    SELECT m.id AS move_id, m.name, m.billwerk_document, m.move_type, m.state,
           m.date, m.amount_total AS total, m.amount_tax AS vat,
           c.id AS currency_id, c.name AS currency
      FROM account_move m
      JOIN res_currency c ON c.id = m.currency_id
     WHERE m.billwerk_account = %s AND m.company_id = %s
       AND m.billwerk_document IS NOT NULL
"""
PAYMENTS = """
    SELECT p.id AS payment_id, p.name, p.billwerk_document, p.payment_type,
           p.state, p.date, p.amount AS total, 0 AS vat,
           c.id AS currency_id, c.name AS currency
      FROM account_payment p
      JOIN res_currency c ON c.id = p.currency_id
     WHERE p.billwerk_account = %s AND p.company_id = %s
       AND p.billwerk_document IS NOT NULL
"""


def minor_units(pair, currency):
    """(total, VAT) as stored (Monetary, in the currency) -> minor units."""
    scale = 10 ** currency_exponent(currency)
    total, vat = pair
    return ledger.Amounts(round((total or 0) * scale), round((vat or 0) * scale))


class LedgerReading:
    """One account's documents and entries; :meth:`collect` fills the results.

    ``documents`` and ``orphans`` are mapping/ledger.py's input; ``info``
    (document name, invoice name, waiting reason) and ``bound`` (move or
    payment id) by binding, and ``currency_ids`` by code, are what the rows
    show beside the figures.
    """

    def __init__(self, env, account):
        self.env = env
        self.account = account
        self.zone = account._billwerk_zone()
        self.today = account._billwerk_today()
        self.post_from = (
            env["billwerk.posting"]._post_from_utc(account)
            if account.post_from
            else None
        )
        self.documents = []
        self.orphans = []
        self.info = {}
        self.bound = {}
        self.currency_ids = {}
        self.moves = {}
        self.payments = {}
        self.invoices = {}

    def collect(self):
        self.env.flush_all()
        binding = (self.account.billwerk_id, self.account.company_id.id)
        self.moves = self._by_binding(MOVES, binding)
        self.payments = self._by_binding(PAYMENTS, binding)
        self.invoices = {row["id"]: row for row in self._fetch(INVOICES)}
        for invoice in self.invoices.values():
            self._add_invoice(invoice)
        for note in self._fetch(CREDIT_NOTES):
            self._add_credit_note(note)
        for transaction in self._fetch(TRANSACTIONS):
            self._add_transaction(transaction)
        for entries in (self.moves, self.payments):
            for reference, row in entries.items():
                kind = self._orphan_kind(reference, row)
                self.orphans.append((reference, kind, self._entry(row, kind)))
        return self

    # -- queries --
    def _fetch(self, query):
        self.env.cr.execute(query, (self.account.id,))
        return self.env.cr.dictfetchall()

    def _by_binding(self, query, params):
        self.env.cr.execute(query, params)
        return {row["billwerk_document"]: row for row in self.env.cr.dictfetchall()}

    # -- documents --
    def _before_posting(self, created):
        """Created before the account's posting started (or it never did)."""
        return self.post_from is None or (
            created is not None and created < self.post_from
        )

    def _add(self, row, reference, kind, day, entry, **flags):
        currency = row["currency"] or ""
        self.currency_ids.setdefault(currency, row["currency_id"])
        self.documents.append(
            ledger.Document(
                reference,
                kind,
                ledger.month_of(day),
                currency,
                minor_units((row["amount"], row["amount_vat"]), currency),
                entry,
                **flags,
            )
        )

    def _take(self, entries, reference, kind):
        """The ledger's entry for ``reference`` (no longer an orphan), or None."""
        row = entries.pop(reference, None)
        return None if row is None else self._entry(row, kind)

    def _add_invoice(self, row):
        row["name"] = row["number"] or row["handle"] or row["billwerk_id"]
        reference = f"invoice/{row['billwerk_id']}"
        move = self.moves.get(reference)
        row["bound"] = move is not None
        cancelled = row["state"] == "cancelled"
        if row["state"] not in POSTED_STATES and not (cancelled and move):
            return
        self.info[reference] = {
            "document": row["name"],
            "invoice": row["name"],
            "waiting": row["post_error"],
        }
        self._add(
            row,
            reference,
            ledger.INVOICE,
            ledger.invoice_day(row["created"], self.zone, self.today),
            self._take(self.moves, reference, ledger.INVOICE),
            waiting=bool(row["post_error"]),
            before_posting=self._before_posting(row["created"]),
            booked_elsewhere=bool(row["booked_elsewhere"]),
        )
        if cancelled:
            cancel = f"cancel/{row['billwerk_id']}"
            reversal = self.moves.get(cancel)
            self.info[cancel] = self.info[reference]
            self._add(
                row,
                cancel,
                ledger.CANCELLATION,
                ledger.cancellation_day(
                    reversal and reversal["date"], move["date"], self.today
                ),
                self._take(self.moves, cancel, ledger.CANCELLATION),
                waiting=bool(row["post_error"]),
            )

    def _invoice_of(self, row):
        """The document's invoice; its currency where Billwerk sent none."""
        invoice = self.invoices.get(row["invoice_id"])
        if invoice and not row["currency"]:
            row["currency"] = invoice["currency"]
            row["currency_id"] = invoice["currency_id"]
        return invoice

    def _invoice_wait(self, invoice):
        """Why a credit note or payment waits for its invoice, or None: the
        connector books it only against the invoice's entry."""
        if invoice is None:
            return self.env._("its invoice is not synchronized yet")
        if invoice["bound"]:
            return None
        if invoice["post_error"]:
            return invoice["post_error"]
        if invoice["state"] == "created":
            return self.env._("its invoice is still a draft in Billwerk")
        return None

    def _dependent_flags(self, row, invoice):
        """A credit note or a payment waits for its invoice, came before
        posting started with it, and is booked elsewhere with it."""
        waiting = row["post_error"] or self._invoice_wait(invoice)
        created = invoice["created"] if invoice else row["created"]
        booked = row["booked_elsewhere"] or (invoice and invoice["booked_elsewhere"])
        return waiting or None, {
            "waiting": bool(waiting),
            "before_posting": self._before_posting(created),
            "booked_elsewhere": bool(booked),
        }

    def _add_credit_note(self, row):
        invoice = self._invoice_of(row)
        reference = f"credit_note/{row['billwerk_id']}"
        waiting, flags = self._dependent_flags(row, invoice)
        self.info[reference] = {
            "document": row["accounting_number"] or row["billwerk_id"],
            "invoice": invoice and invoice["name"],
            "waiting": waiting,
        }
        self._add(
            row,
            reference,
            ledger.CREDIT_NOTE,
            ledger.credit_note_day(
                row["created"], invoice and invoice["created"], self.zone, self.today
            ),
            self._take(self.moves, reference, ledger.CREDIT_NOTE),
            **flags,
        )

    def _add_transaction(self, row):
        invoice = self._invoice_of(row)
        kind = ledger.SETTLEMENT if row["type"] == "settle" else ledger.REFUND
        reference = f"transaction/{row['billwerk_id']}"
        waiting, flags = self._dependent_flags(row, invoice)
        self.info[reference] = {
            "document": row["billwerk_id"],
            "invoice": invoice and invoice["name"],
            "waiting": waiting,
        }
        self._add(
            row,
            reference,
            kind,
            ledger.transaction_day(
                row["settled"], row["refunded"], row["created"], self.zone, self.today
            ),
            self._take(self.payments, reference, kind),
            **flags,
        )

    # -- the ledger's side --
    def _entry(self, row, kind):
        self.currency_ids.setdefault(row["currency"], row["currency_id"])
        self.bound[row["billwerk_document"]] = {
            "move_id": row.get("move_id"),
            "payment_id": row.get("payment_id"),
        }
        if "payment_id" in row:
            posted = row["state"] in POSTED_PAYMENT_STATES
            sign = 1 if row["payment_type"] == PAYMENT_TYPES.get(kind) else -1
        else:
            posted = row["state"] == "posted"
            sign = 1 if row["move_type"] == MOVE_TYPES.get(kind) else -1
        amounts = minor_units((row["total"], row["vat"]), row["currency"])
        name = row["name"] if row["name"] and row["name"] != "/" else None
        return ledger.Entry(
            name or row["billwerk_document"],
            ledger.month_of(row["date"]),
            row["currency"],
            ledger.Amounts(sign * amounts.total, sign * amounts.vat),
            posted,
        )

    @staticmethod
    def _orphan_kind(reference, row):
        prefix = reference.split("/", 1)[0]
        if prefix == "transaction":
            if row.get("payment_type") == "outbound":
                return ledger.REFUND
            return ledger.SETTLEMENT
        return ORPHAN_KINDS.get(prefix, ledger.INVOICE)
