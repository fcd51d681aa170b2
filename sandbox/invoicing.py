"""Changing invoices: create, settle (also partly or manually), refund, credit,
cancel, update.

``InvoicingMixin`` is one side of ``SandboxServer``. Every method holds the
account's lock, keeps the invoice's books consistent (see ``books``), appends
the events the real API logs (``invoice_settled`` for every settlement, also a
partial one; ``invoice_refund`` and ``invoice_credited`` for a refund;
``invoice_credited`` for a credit) and returns a deep copy of the invoice. A
move the invoice does not allow raises ``ValueError``.
"""

import copy

from . import books
from .data import INVOICE_STATES
from .handler import norm_ts

LINE_KEYS = frozenset(
    (
        "text",
        "ordertext",
        "amount",
        "unit_amount",
        "quantity",
        "vat",
        "origin",
        "origin_handle",
        "period_from",
        "period_to",
    )
)


class InvoicingMixin:
    """Invoice mutations of ``SandboxServer`` (see the module's docstring)."""

    def create_invoice(
        self,
        account_key,
        customer,
        subscription=None,
        amount=None,
        *,
        handle=None,
        state="created",
        lines=None,
        currency=None,
        vat_rounding="lines",
        **fields,
    ):
        """Add an invoice (``s`` with a subscription, else one-off ``co``); appends
        ``invoice_created`` (and ``invoice_settled`` when created settled, with
        its card settlement).

        ``amount`` (incl. VAT; default the subscription's amount times its
        quantity, else 10000) makes one line. ``lines`` gives the lines instead:
        dicts with ``text``, ``amount`` (the unit amount incl. VAT) and optional
        ``quantity`` (1), ``vat`` (the default rate), ``origin`` (``plan`` with a
        subscription, else ``ondemand``), ``origin_handle`` and ``period_from``/
        ``period_to`` (plan and add-on lines only; default: the subscription's
        current period). The default rate is the plan's (else the account's),
        0.0 for a customer in another EU member state with a VAT number.
        ``currency`` defaults to the subscription's (else the account's).
        ``vat_rounding="invoice"`` rounds the invoice's VAT once over the lines'
        fractional VAT, as the API reference documents; the default sums the
        lines' rounded VAT.
        """
        account = self.account(account_key)
        if state not in INVOICE_STATES:
            raise ValueError(f"Unknown invoice state {state!r}")
        if vat_rounding not in books.VAT_ROUNDINGS:
            raise ValueError(f"Unknown vat_rounding {vat_rounding!r}")
        if lines is not None and amount is not None:
            raise ValueError("Give either amount or lines")
        fields = self._check_fields("invoice", fields)
        with account.lock:
            self._customer(account, customer)
            sub = self._subscription(account, subscription) if subscription else None
            plan = self._plan(account, sub["plan"]) if sub else None
            vat = plan["vat"] if plan else account.vat
            if account.reverse_charge(customer):
                vat = 0.0
            if handle in account.invoice_ids:
                raise ValueError(f"Invoice {handle!r} exists")
            default = self._next_handle(
                account, "invoice", "inv-{}", account.invoice_ids
            )
            handle = handle or default
            now = fields.get("created") or self._now()
            if lines is None:
                if amount is None:
                    amount = sub["amount"] * sub["quantity"] if sub else 10000
                text = plan["name"] if plan else "One-off charge"
                lines = [{"text": text, "amount": amount}]
            order_lines = [
                self._order_line(account, line, sub, vat, now) for line in lines
            ]
            invoice = {
                "id": account.new_id(),
                "handle": handle,
                "customer": customer,
                "subscription": subscription,
                "plan": sub["plan"] if sub else None,
                "state": "created",
                "type": "s" if sub else "co",
                "amount": 0,
                "amount_vat": 0,
                "amount_ex_vat": 0,
                "settled_amount": 0,
                "refunded_amount": 0,
                "credited_amount": 0,
                "currency": currency or (sub["currency"] if sub else account.currency),
                "number": account.counters["invoice"],
                "created": now,
                "due": now,
                "settled": None,
                "period_from": sub["current_period_start"] if sub else None,
                "period_to": sub["next_period_start"] if sub else None,
                "order_lines": order_lines,
                "transactions": [],
                "credit_notes": [],
            }
            books.invoice_totals(invoice, vat_rounding)
            if vat_rounding != "lines":
                account.invoice_rounding[invoice["id"]] = vat_rounding
            settlement = None
            if state == "settled" and invoice["amount"] > 0:
                settlement = books.settle(invoice, account.new_id(), None, "card", now)
            elif state == "settled":  # nothing to pay
                invoice.update(state="settled", settled=now)
            else:
                invoice["state"] = state
            invoice.update(fields)
            account.invoices[invoice["id"]] = invoice
            account.invoice_ids[handle] = invoice["id"]
            account.index_books(invoice)
            self._changed(account)
            key = (customer, subscription, handle)
            self.add_event(account.key, "invoice_created", *key)
            if state == "settled":
                extra = {"transaction": settlement["id"]} if settlement else {}
                self.add_event(account.key, "invoice_settled", *key, **extra)
            return copy.deepcopy(invoice)

    def _order_line(self, account, line, sub, vat, now):
        unknown = set(line) - LINE_KEYS
        if unknown:
            raise ValueError(f"Unknown line key(s): {', '.join(sorted(unknown))}")
        unit = line.get("amount", line.get("unit_amount"))
        if isinstance(unit, bool) or not isinstance(unit, int):
            raise TypeError("A line needs an integer amount (unit, incl. VAT)")
        origin = line.get("origin") or ("plan" if sub else "ondemand")
        if origin not in books.LINE_ORIGINS:
            raise ValueError(f"Unknown line origin {origin!r}")
        handle = line.get("origin_handle")
        if handle is None and origin == "plan" and sub:
            handle = sub["plan"]
        period_from = line.get("period_from") or (
            sub["current_period_start"] if sub else None
        )
        period_to = line.get("period_to") or (sub["next_period_start"] if sub else None)
        return books.order_line(
            account.new_id(),
            line.get("text") or line.get("ordertext") or "Order line",
            origin,
            unit,
            line.get("quantity", 1),
            line.get("vat", vat),
            now,
            period_from=norm_ts(period_from),
            period_to=norm_ts(period_to),
            origin_handle=handle,
        )

    def _invoice_event(self, account, invoice, event_type, **extra):
        self._changed(account)
        key = (invoice["customer"], invoice["subscription"], invoice["handle"])
        self.add_event(account.key, event_type, *key, **extra)
        return copy.deepcopy(invoice)

    def settle_invoice(self, account_key, key, amount=None, payment_type="card"):
        """Settle ``amount`` now (default: the open rest, i.e. in full); a
        partial settlement keeps the open state. Appends ``invoice_settled``
        with the transaction's id."""
        account = self.account(account_key)
        with account.lock:
            invoice = self._invoice(account, key)
            transaction = books.settle(
                invoice, account.new_id(), amount, payment_type, self._now()
            )
            account.index_books(invoice)
            return self._invoice_event(
                account, invoice, "invoice_settled", transaction=transaction["id"]
            )

    def manual_settle(self, account_key, key, amount=None):
        """Settle outside the acquirer (``POST /v1/invoice/{id}/manual_settle``):
        a settlement of payment type ``manual``."""
        return self.settle_invoice(account_key, key, amount, payment_type="manual")

    def refund_invoice(self, account_key, key, amount=None):
        """Refund ``amount`` (default: all settled and not refunded yet): a
        refund transaction and its credit note. Appends ``invoice_refund`` and
        ``invoice_credited``; refuses (ValueError) more than is refundable."""
        account = self.account(account_key)
        with account.lock:
            invoice = self._invoice(account, key)
            transaction, note = books.refund(
                invoice, account.new_id(), account.new_id(), amount, self._now()
            )
            account.index_books(invoice)
            self._changed(account)
            key = (invoice["customer"], invoice["subscription"], invoice["handle"])
            self.add_event(
                account.key,
                "invoice_refund",
                *key,
                transaction=transaction["id"],
                credit_note=note["id"],
            )
            return self._invoice_event(
                account, invoice, "invoice_credited", credit_note=note["id"]
            )

    def credit_invoice(self, account_key, key, amount=None):
        """A credit note without a refund for ``amount`` (default: all not
        credited yet); appends ``invoice_credited``."""
        account = self.account(account_key)
        with account.lock:
            invoice = self._invoice(account, key)
            note = books.credit(invoice, account.new_id(), amount, self._now())
            account.index_books(invoice)
            return self._invoice_event(
                account, invoice, "invoice_credited", credit_note=note["id"]
            )

    def cancel_invoice(self, account_key, key):
        """Cancel an open invoice (what was partly settled stays recorded);
        appends ``invoice_cancelled``. A settled invoice is refunded instead."""
        account = self.account(account_key)
        with account.lock:
            invoice = self._invoice(account, key)
            if invoice["state"] == "settled":
                raise books.BooksError("A settled invoice is refunded, not cancelled")
            invoice["state"] = "cancelled"
            return self._invoice_event(account, invoice, "invoice_cancelled")

    def update_invoice(self, account_key, key, **changes):
        """Change fields; a new ``amount`` replaces the order lines so totals stay
        consistent. Appends ``invoice_changed``."""
        account = self.account(account_key)
        changes = self._check_fields("invoice", changes)
        for name in ("id", "handle"):
            changes.pop(name, None)
        with account.lock:
            invoice = self._invoice(account, key)
            if "amount" in changes and "order_lines" not in changes:
                vat = invoice["order_lines"][0]["vat"] if invoice["order_lines"] else 0
                changes["order_lines"] = [
                    books.order_line(
                        account.new_id(),
                        "Adjusted amount",
                        "ondemand",
                        changes["amount"],
                        1,
                        vat,
                        self._now(),
                    )
                ]
            invoice.update(changes)
            if "order_lines" in changes:
                rounding = account.invoice_rounding.get(invoice["id"], "lines")
                books.invoice_totals(invoice, rounding)
                if invoice["state"] == "settled":
                    invoice["settled_amount"] = invoice["amount"]
            return self._invoice_event(account, invoice, "invoice_changed")
