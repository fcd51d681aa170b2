"""The payment history of generated invoices: settlements, refunds, credit notes.

Runs once the invoices have their final state and handle. It draws from an RNG
of its own, so the rest of the generated data does not move with it:

- every settled invoice has its settlement(s): about 10 % in two partial
  transactions (sometimes of two payment types), about 5 % settled ``manual``
  (outside the acquirer), the rest by card, MobilePay or SEPA;
- the invoices the generator marked refunded (about 3 %, half of them in full)
  get a refund transaction and its credit note some days later;
- about 12 % of pending and dunning invoices are partly settled;
- about 2 % of the other open invoices carry a credit note without a refund.

With enough invoices (20+) each of these occurs at least once.
"""

from datetime import datetime

from . import books

OPEN_STATES = ("created", "pending", "dunning", "authorized", "failed")
DAY = 86400


def _seconds(stamp):
    return int(datetime.fromisoformat(stamp).timestamp())


class History:
    """One pass over the invoices of one generated account."""

    def __init__(self, rng, anchor, fmt):
        self.rng = rng
        self.full_refunds = set()  # invoice ids refunded to make sure one is
        self.anchor = anchor  # epoch seconds; every time stays before it
        self.fmt = fmt

    def hex(self):
        return f"{self.rng.getrandbits(128):032x}"

    def moment(self, low, high):
        """Random whole second in [low, high), never past the anchor."""
        high = min(high, self.anchor)
        if high <= low:
            return min(low, self.anchor - 1)
        return low + self.rng.randrange(high - low)

    def payment_type(self):
        roll = self.rng.random()
        if roll < 0.7:
            return "card"
        return "mobilepay" if roll < 0.9 else "sepa"

    def part(self, amount, low, high):
        """A share of ``amount`` in [1, amount - 1]."""
        share = round(amount * self.rng.uniform(low, high))
        return min(max(share, 1), amount - 1)

    def build(self, invoices):
        plans = self.plan(invoices)
        for invoice in invoices:
            refunded = invoice["refunded_amount"]
            if invoice["id"] in self.full_refunds:
                refunded = invoice["amount"]
            books.init_books(invoice)
            action = plans.get(invoice["id"])
            if invoice["state"] == "settled":
                self.settle(invoice, action)
                if refunded:
                    self.refund(invoice, refunded)
            elif action == "partial":
                self.partly_settle(invoice)
            elif action == "credit":
                self.credit(invoice)

    def plan(self, invoices):
        """Invoice id -> what happens to it (single, split, manual, partial,
        credit); makes sure each kind occurs in a large enough account."""
        rng, plans = self.rng, {}
        for invoice in invoices:
            state, amount = invoice["state"], invoice["amount"]
            if state == "settled":
                roll = rng.random()
                if roll < 0.05:
                    plans[invoice["id"]] = "manual"
                elif roll < 0.15 and amount >= 2:
                    plans[invoice["id"]] = "split"
                else:
                    plans[invoice["id"]] = "single"
            elif (
                state in ("pending", "dunning") and amount >= 2 and rng.random() < 0.12
            ):
                plans[invoice["id"]] = "partial"
            elif state in OPEN_STATES and amount >= 1 and rng.random() < 0.02:
                plans[invoice["id"]] = "credit"
        if len(invoices) < 20:
            return plans
        chosen = set(plans.values())
        single = [i for i in invoices if plans.get(i["id"]) == "single"]
        unplanned = [i for i in invoices if i["id"] not in plans]
        wanted = (
            ("manual", single),
            ("split", [i for i in single if i["amount"] >= 2]),
            (
                "partial",
                [
                    i
                    for i in unplanned
                    if i["state"] in ("pending", "dunning") and i["amount"] >= 2
                ],
            ),
            ("credit", [i for i in unplanned if i["state"] in OPEN_STATES]),
        )
        for action, candidates in wanted:
            candidates = [
                i for i in candidates if plans.get(i["id"]) in (None, "single")
            ]
            if action not in chosen and candidates:
                plans[rng.choice(candidates)["id"]] = action
        settled = [i for i in invoices if i["state"] == "settled" and i["amount"]]
        if settled and not any(i["refunded_amount"] for i in settled):
            self.full_refunds.add(rng.choice(settled)["id"])
        return plans

    def settle(self, invoice, action):
        amount = invoice["amount"]
        if amount <= 0:
            return
        done = invoice["settled"]  # the last settlement sets it again
        if action == "split":
            first = self.part(amount, 0.3, 0.7)
            when = self.fmt(self.moment(_seconds(invoice["created"]), _seconds(done)))
            kind = self.payment_type()
            books.settle(invoice, self.hex(), first, kind, when)
            if self.rng.random() < 0.5:
                kind = self.rng.choice([t for t in books.PAYMENT_TYPES if t != kind])
            books.settle(invoice, self.hex(), None, kind, done)
        else:
            kind = "manual" if action == "manual" else self.payment_type()
            books.settle(invoice, self.hex(), None, kind, done)

    def refund(self, invoice, amount):
        low = _seconds(invoice["settled"]) + 3600
        when = self.fmt(self.moment(low, low + 20 * DAY))
        books.refund(invoice, self.hex(), self.hex(), amount, when)

    def partly_settle(self, invoice):
        amount = self.part(invoice["amount"], 0.2, 0.6)
        low = _seconds(invoice["created"])
        when = self.fmt(self.moment(low, low + 15 * DAY))
        books.settle(invoice, self.hex(), amount, self.payment_type(), when)

    def credit(self, invoice):
        total = invoice["amount"]
        if self.rng.random() < 0.5 or total < 2:
            amount = total
        else:
            largest = max(line["amount"] for line in invoice["order_lines"])
            amount = max(1, round(largest * self.rng.uniform(0.1, 0.5)))
        low = _seconds(invoice["created"]) + 60
        when = self.fmt(self.moment(low, low + 10 * DAY))
        books.credit(invoice, self.hex(), amount, when)
