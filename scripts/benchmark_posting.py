"""Posting benchmark, piped into `odoo-bin shell` by benchmark.sh on a
throw-away database of its own.

What it measures: how fast Billwerk invoices become posted customer invoices,
the addon's way (``billwerk.posting._post_account``: batches of 100, one
``create`` and one ``action_post`` per batch, a commit per batch, chatter
quiet) against the naive way (per invoice: one ``create``, one
``action_post``, a commit), in invoices per second, side by side in the same
run on the same data; then, the same way, how fast Billwerk's settlements
become posted and reconciled payments (the addon's
``_post_all(book, TRANSACTIONS, ...)``: per batch of 100 one ``create``,
one ``action_post``, one ``_reconcile_plan``, a commit; against one payment at
a time), in payments per second. Why: a first posting of an account's history
is thousands of invoices and payments and runs under the sync's lock; the
target is at least 3x the naive way, for each.

How:

1. the bundled sandbox runs in a process of its own (``python -m sandbox``,
   one account, the DK one, seed fixed, rate limit off: only the posting is
   timed) with enough invoices that >= 11,000 are in states that are posted
   (pending, authorized, dunning, settled, failed);
2. a company with the generic chart, one excluded sales tax per Billwerk rate
   (25, 19, 10, 0 %), each in a tax group of its own, prices with 3 decimals,
   connected and synced, contacts made by the sync (so neither way pays for
   them), the company in DKK as the account's, a rate a day for each foreign
   currency (EUR, JPY, USD; the book refuses a missing or stale rate), the
   VAT mapping prefilled, posting switched on from 2000-01-01;
3. NAIVE, first, on the oldest BENCH_POSTING_NAIVE (1,000) due invoices: the
   move values come from the addon's own ``PostingBook`` (same lines, taxes,
   accounts, partner), without the Billwerk number as name (the journal's
   sequence names it) and without the quiet context; ``create``, Billwerk's
   VAT forced where Odoo's rounding differs and checked (as the batch does,
   so that both give the same books), ``action_post``, the link, a commit.
   The naive way runs on a smaller sample because it is much slower; its
   journal is emptier than the batch's, which favours it;
4. BATCH: ``_post_account`` posts every other due invoice (>= 10,000); it
   is timed up to the end of its invoices and stopped there (after its last
   commit): what follows (reversals, payments, credit notes, refunds) is
   measured apart (payments) or left out;
5. PAYMENTS, once every invoice is posted, on the due settle transactions
   (settled, their invoice posted), oldest first. NAIVE, first, on
   BENCH_POSTING_NAIVE_PAYMENTS (500): per transaction the values from the
   addon's own ``PostingBook.payment_values`` (same journal, method line, amount,
   binding), ``create``, ``action_post``, the payment's receivable line
   reconciled with the invoice's, the link, a commit; chatter on, as for the
   naive invoices. BATCH: the addon's ``_post_all(book, TRANSACTIONS,
   ...)`` on a ``PostingBook`` set up as ``_post_as_connector`` sets it up, on the
   next BENCH_POSTING_PAYMENTS (5,000; 0: all the rest) due transactions
   (``_due_transactions`` is narrowed to them, the addon's loop is
   unchanged). The payment journal is made before either is timed;
6. ``BENCH_POSTING_REST=1``: then the rest of ``_post_account`` (reversals,
   the settlements left, credit notes, refunds), timed apart, not compared;
7. exactness: per currency, the posted moves' totals against Billwerk's
   amounts, in minor units, and the invoices whose net, VAT or total differ;
   for payments: every booked transaction has a posted payment of its amount
   with its receivable line reconciled, and every invoice whose settlements
   are all booked reads ``paid`` in Odoo when Billwerk says settled (partly
   settled ones: ``partial``); for the entries (``entry_checks``): the
   numbers Odoo's sequences give (payments, exchange differences) gap-free
   and unique, each payment numbered as its entry, every posted invoice
   ticked checked and followed by its customer, as Odoo's own posting leaves
   them.

Figures are printed and written to ``BENCH_POSTING_JSON`` (else
.venv/var/benchmark_posting.json); nothing fails on a figure. The machine is
often shared: the load average is reported beside the figures.
"""

# pylint: disable=print-used
import json
import os
import platform
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from unittest.mock import patch

from odoo.addons.billwerk_connector.mapping.books import POSTED_STATES
from odoo.addons.billwerk_connector.mapping.money import currency_exponent
from odoo.addons.billwerk_connector.models import (
    billwerk_posting,
    billwerk_posting_book,
)
from odoo.addons.billwerk_connector.sandbox.launcher import SandboxProcess, sandbox_args
from odoo.addons.billwerk_connector.sandbox.taxes import sales_taxes

ADDON = Path(billwerk_posting.__file__).resolve().parents[1]


def _int(name, default):
    return int(os.environ.get(name, default))


SIZES = {
    "customers": _int("BENCH_POSTING_CUSTOMERS", 3000),
    "subscriptions": _int("BENCH_POSTING_SUBSCRIPTIONS", 4000),
    "invoices": _int("BENCH_POSTING_INVOICES", 12000),
    "plans": 10,
}
NAIVE = _int("BENCH_POSTING_NAIVE", 1000)
MIN_DUE = _int("BENCH_POSTING_MIN_DUE", 11000)
NAIVE_PAYMENTS = _int("BENCH_POSTING_NAIVE_PAYMENTS", 500)
# Batch payments after the naive ones; 0: every due one (~10,000 at 16-25/s
# is 7-10 minutes: the whole run would pass 20 on a shared 2-core machine).
PAYMENTS = _int("BENCH_POSTING_PAYMENTS", 5000)
REST = bool(os.environ.get("BENCH_POSTING_REST"))  # the rest of _post_account
# Invoices posted the addon's way with revenue recognition on, after the naive
# sample and before the batch (which runs with it off): same run, same data.
RECOGNITION = _int("BENCH_POSTING_RECOGNITION", 1000)
EXAMPLES = 5
TARGET = 3.0
JSON_PATH = Path(
    os.environ.get("BENCH_POSTING_JSON")
    or ADDON / ".venv" / "var" / "benchmark_posting.json"
)


def machine():
    model = None
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "load_average_start": os.getloadavg(),
    }


def provenance(env):
    def git(*args):
        try:
            return subprocess.run(
                ["git", *args], cwd=ADDON, capture_output=True, text=True, check=True
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return None

    env.cr.execute("SELECT current_setting('server_version')")
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "uncommitted": git("status", "--porcelain", "--untracked-files=no"),
        "postgresql": env.cr.fetchone()[0],
    }


# -- set-up ---------------------------------------------------------------------
def set_up_company(env, url, key):
    company = env["res.company"].create({"name": "Posting benchmark company"})
    env["account.chart.template"].try_loading(
        "generic_coa", company=company, install_demo=False
    )
    # The sandbox account is a Danish one: its company keeps its books in DKK
    # (EUR, JPY and USD documents are foreign, as they would be). After the
    # chart, which sets its own currency.
    danish = env.ref("base.DKK")
    danish.active = True
    company.currency_id = danish
    taxes = sales_taxes(env, company, "benchmark")
    # VAT on an account of its own, as in any chart: a line deferred with a
    # tax booking VAT on the line's account would wait.
    vat = env["account.account"].create(
        {
            "name": "VAT payable (benchmark)",
            "code": "261100",
            "account_type": "liability_current",
            "company_ids": [company.id],
        }
    )
    for tax in taxes.values():
        for lines in (
            tax.invoice_repartition_line_ids,
            tax.refund_repartition_line_ids,
        ):
            lines.filtered(lambda r: r.repartition_type == "tax").account_id = vat
    env.ref("product.decimal_price").digits = 3
    account = env["billwerk.account"].create(
        {"company_id": company.id, "api_url": url, "create_partners": True}
    )
    wizard = env["billwerk.set.api.key"].create(
        {"account_id": account.id, "api_key": key}
    )
    wizard.action_check_key()
    env.cr.commit()
    return account, taxes


def sync(env, account):
    started = time.perf_counter()
    run = env["billwerk.sync.run"]._run_for(account, trigger="manual")
    env.cr.commit()
    return {
        "seconds": time.perf_counter() - started,
        "state": run.state,
        "error": run.error_message or None,
        "records": account._synchronized_counts(),
    }


def invoice_states(env, account):
    env.cr.execute(
        "SELECT state, count(*) FROM billwerk_invoice WHERE account_id = %s "
        "GROUP BY state ORDER BY state",
        [account.id],
    )
    return dict(env.cr.fetchall())


# Units per USD: a rate for every day against the company's currency, as a company
# posting in foreign currencies keeps them (the book refuses a rate older than
# the account's limit, 7 days by default).
UNITS_PER_USD = {"DKK": 6.5, "EUR": 0.9, "JPY": 150.0, "USD": 1.0}


def daily_rates(env, account):
    """A rate per day and foreign currency, from the first invoice to today."""
    company = account.company_id
    env.cr.execute(
        "SELECT DISTINCT currency_id, min(created) OVER (), max(created) OVER () "
        "FROM billwerk_invoice WHERE account_id = %s",
        [account.id],
    )
    rows = env.cr.fetchall()
    if not rows:
        return 0
    first = rows[0][1].date() - timedelta(days=7)
    last = max(rows[0][2].date(), datetime.now(timezone.utc).date()) + timedelta(1)
    currencies = env["res.currency"].browse({row[0] for row in rows})
    base = UNITS_PER_USD[company.currency_id.name]
    values = []
    for currency in currencies - company.currency_id:
        currency.active = True
        day, number = first, 0
        while day <= last:
            # A little movement, so that a wrong day's rate would show.
            wobble = 1 + 0.002 * ((number % 11) - 5)
            values.append(
                {
                    "currency_id": currency.id,
                    "company_id": company.id,
                    "name": day,
                    "rate": UNITS_PER_USD[currency.name] / base * wobble,
                }
            )
            day += timedelta(days=1)
            number += 1
    env["res.currency.rate"].create(values)
    env.cr.commit()
    return len(values)


def switch_posting_on(env, account, taxes):
    """Posting on from 2000-01-01, the VAT mapping prefilled (and completed)."""
    account.write({"post_invoices": True, "post_from": "2000-01-01"})
    posting = env["billwerk.posting"].sudo().with_company(account.company_id)
    posting._add_tax_rows(account)
    for mapping in account.tax_mapping_ids.filtered(lambda m: not m.tax_id):
        rate = round(mapping.vat_rate, 6)
        if rate in taxes:
            mapping.tax_id = taxes[rate]
    env.cr.commit()
    return {
        f"{m.vat_rate * 100:g} %": m.tax_id.name or None
        for m in account.tax_mapping_ids
    }


# -- naive: one create and one action_post per invoice, a commit each ---------
def naive_posting(env, account, invoices):
    """Oldest due invoices, one by one; the book is the addon's own."""
    posting = env["billwerk.posting"].sudo().with_company(account.company_id)
    account = account.with_env(posting.env)
    book = billwerk_posting_book.PostingBook(posting.env, account)
    book.journal = posting._sale_journal(account)
    book.load_taxes()
    env.cr.commit()
    moves = posting.env["account.move"]
    waiting, posted = {}, []
    queries = env.cr.sql_log_count
    started = time.perf_counter()
    for invoice in invoices.with_env(posting.env):
        try:
            _invoice, values, booking = book.invoice_move(invoice)
        except billwerk_posting_book.Waiting as reason:
            waiting[str(reason)] = waiting.get(str(reason), 0) + 1
            continue
        values.pop("name", None)  # the journal's sequence names it
        move = moves.create(values)
        problem = book.force_vat(move, booking) or book.difference(
            move, booking.document
        )
        if problem:
            move.unlink()
            waiting[problem] = waiting.get(problem, 0) + 1
            env.cr.commit()
            continue
        move.action_post()
        invoice.write({"move_id": move.id, "post_error": False})
        env.cr.commit()
        posted.append(invoice.id)
    seconds = time.perf_counter() - started
    queries = env.cr.sql_log_count - queries
    return {
        "invoices": len(posted),
        "seconds": seconds,
        "invoices_per_s": len(posted) / seconds,
        "queries_per_invoice": queries / max(len(posted), 1),
        "waiting": waiting,
        "ids": posted,
        "load_average_after": os.getloadavg(),
    }


# -- batch: the addon's posting ------------------------------------------------
class InvoicesDone(Exception):
    """Raised where ``_post_account`` turns from invoices to the rest."""


def batch_posting(env, account):
    """``_post_account``, timed up to where its invoices are done.

    The invoices end where the reversals of cancelled ones begin; there the
    call stops (every batch is committed by then): payments are measured
    apart, and the rest runs at the end with BENCH_POSTING_REST.
    """
    model = type(env["billwerk.posting"])
    marks = {}

    def reverse_cancelled(self, _book, result):
        marks["invoices"] = (time.perf_counter(), self.env.cr.sql_log_count)
        marks["result"] = result
        raise InvoicesDone

    queries = env.cr.sql_log_count
    started = time.perf_counter()
    with patch.object(model, "_reverse_cancelled", reverse_cancelled):
        try:
            result = env["billwerk.posting"]._post_account(account)
        except InvoicesDone:
            result = marks["result"]
    env.cr.commit()
    ended, ended_queries = marks["invoices"]
    invoice_seconds = ended - started
    return {
        "invoices": result.invoices,
        "waiting": result.waiting,
        "reasons": result.reasons,
        "invoice_seconds": invoice_seconds,
        "invoices_per_s": result.invoices / invoice_seconds,
        "queries_per_invoice": (ended_queries - queries) / max(result.invoices, 1),
        "load_average_after": os.getloadavg(),
    }


# -- revenue recognition: the addon's posting with the option on -------------
def recognition_posting(env, account, invoices):
    """``_post_account`` on ``invoices`` with revenue recognised over the
    service period, timed as ``batch_posting`` and up to its recognition
    entries of ended months posted; then the option goes off again."""
    company = account.company_id
    deferred = env["account.account"].create(
        {
            "name": "Deferred revenue (benchmark)",
            "code": "249100",
            "account_type": "liability_current",
            "company_ids": [company.id],
        }
    )
    account.write(
        {"recognize_revenue": True, "deferred_revenue_account_id": deferred.id}
    )
    env.cr.commit()
    model = type(env["billwerk.posting"])
    ids = invoices.ids

    def due_invoices(self, _account):
        return self.env["billwerk.invoice"].browse(ids)

    started = time.perf_counter()
    with patch.object(model, "_due_invoices", due_invoices):
        result = batch_posting(env, account)
    recognition = env["billwerk.revenue.recognition"].sudo().with_company(company)
    ended = time.perf_counter()
    recognition._post_due(account.with_env(recognition.env))
    env.cr.commit()
    due_seconds = time.perf_counter() - ended
    seconds = result["invoice_seconds"] + due_seconds
    account.write({"recognize_revenue": False})
    env.cr.commit()
    shares = env["billwerk.revenue.share"].search([("account_id", "=", account.id)])
    return {
        "invoices": result["invoices"],
        "waiting": result["waiting"],
        "reasons": result["reasons"],
        "seconds": seconds,
        "post_due_seconds": due_seconds,
        "invoices_per_s": result["invoices"] / seconds,
        "deferred_invoices": len(shares.invoice_move_id),
        "shares": len(shares),
        "entries": len(shares.recognition_move_id),
        "total_seconds": time.perf_counter() - started,
        "load_average_after": os.getloadavg(),
    }


# -- payments: naive, then the addon's batches -----------------------------------
def due_settlements(env, account):
    """Due settle transactions, oldest first, as ``_due_transactions`` finds them."""
    return env["billwerk.posting"]._due_transactions(account, "settle")


def payment_book(posting, account):
    """A ``PostingBook`` set up as ``_post_as_connector`` sets it up; the payment
    journal made (once, on first use) before anything is timed."""
    account = account.with_env(posting.env)
    book = billwerk_posting_book.PostingBook(posting.env, account)
    posting._add_tax_rows(account)
    book.journal = posting._sale_journal(account)
    book.load_taxes()
    book.default_payment_journal()
    posting.env.cr.commit()
    return book


def naive_payments(env, account, transactions):
    """One payment at a time: create, post, reconcile, link, commit."""
    posting = env["billwerk.posting"].sudo().with_company(account.company_id)
    book = payment_book(posting, account)
    payments = posting.env["account.payment"]
    waiting, booked = {}, []
    queries = env.cr.sql_log_count
    started = time.perf_counter()
    for transaction in transactions.with_env(posting.env):
        try:
            _transaction, values, target = book.payment_values(transaction)
        except billwerk_posting_book.Waiting as reason:
            waiting[str(reason)] = waiting.get(str(reason), 0) + 1
            continue
        payment = payments.create(values)
        payment.action_post()
        (payment.move_id.line_ids | target.line_ids).filtered(
            lambda line: (
                line.account_id.account_type == "asset_receivable"
                and not line.reconciled
            )
        ).reconcile()
        transaction.write({"payment_id": payment.id, "post_error": False})
        env.cr.commit()
        booked.append(transaction.id)
    seconds = time.perf_counter() - started
    queries = env.cr.sql_log_count - queries
    return {
        "transactions": len(transactions),
        "payments": len(booked),
        "seconds": seconds,
        "payments_per_s": len(booked) / seconds,
        "queries_per_payment": queries / max(len(booked), 1),
        "waiting": waiting,
        "ids": booked,
        "load_average_after": os.getloadavg(),
    }


def batch_payments(env, account, transactions):
    """The addon's ``_post_all(book, TRANSACTIONS, result)``, on
    ``transactions`` only: ``_due_transactions`` is narrowed to them."""
    posting = (
        env["billwerk.posting"]
        .sudo()
        .with_company(account.company_id)
        .with_context(**billwerk_posting.QUIET)
    )
    book = payment_book(posting, account)
    model = type(posting)
    original = model._due_transactions

    def due_transactions(self, due_account, kind):
        due = original(self, due_account, kind)
        return due & transactions.with_env(self.env) if kind == "settle" else due

    result = billwerk_posting.PostingResult()
    queries = env.cr.sql_log_count
    started = time.perf_counter()
    with patch.object(model, "_due_transactions", due_transactions):
        posting._post_all(
            book,
            billwerk_posting.TRANSACTIONS,
            posting._due_transactions(book.account, "settle"),
            result,
        )
    seconds = time.perf_counter() - started
    queries = env.cr.sql_log_count - queries
    env.cr.commit()
    return {
        "transactions": len(transactions),
        "payments": result.payments,
        "seconds": seconds,
        "payments_per_s": result.payments / seconds,
        "queries_per_payment": queries / max(result.payments, 1),
        "waiting": result.waiting,
        "reasons": result.reasons,
        "load_average_after": os.getloadavg(),
    }


def payments_part(env, account):
    due = due_settlements(env, account)
    due_count = len(due)
    naive = naive_payments(env, account, due[:NAIVE_PAYMENTS])
    print(
        f"naive payments: {naive['payments']} in {naive['seconds']:.1f} s, "
        f"{naive['payments_per_s']:.1f}/s",
        flush=True,
    )
    env.invalidate_all()
    due = due_settlements(env, account)
    capped = due[:PAYMENTS] if PAYMENTS > 0 else due
    batch = batch_payments(env, account, capped)
    print(
        f"batch payments: {batch['payments']} in {batch['seconds']:.1f} s, "
        f"{batch['payments_per_s']:.1f}/s",
        flush=True,
    )
    env.invalidate_all()
    return {
        "due_settle_transactions": due_count,
        "naive": naive,
        "batch": batch,
        "ratio": batch["payments_per_s"] / naive["payments_per_s"],
        "left_due": len(due_settlements(env, account)),
        "cap": PAYMENTS or None,
    }


def rest_posting(env, account):
    """BENCH_POSTING_REST: ``_post_account`` again: no invoice is due, so it
    runs its rest (reversals, settlements left, credit notes, refunds)."""
    queries = env.cr.sql_log_count
    started = time.perf_counter()
    result = env["billwerk.posting"]._post_account(account)
    env.cr.commit()
    return {
        "seconds": time.perf_counter() - started,
        "invoices": result.invoices,
        "reversals": result.reversals,
        "payments": result.payments,
        "credit_notes": result.credit_notes,
        "waiting": result.waiting,
        "reasons": result.reasons,
        "queries": env.cr.sql_log_count - queries,
    }


def leftovers(env, account):
    """Due invoices without a move, by reason."""
    env.invalidate_all()
    due = env["billwerk.invoice"].search(
        [
            ("account_id", "=", account.id),
            ("state", "in", POSTED_STATES),
            ("move_id", "=", False),
        ]
    )
    reasons = {}
    for invoice in due:
        reason = invoice.post_error or "(no reason)"
        reasons[reason] = reasons.get(reason, 0) + 1
    return {"count": len(due), "reasons": reasons}


# -- exactness -------------------------------------------------------------------
def exactness(env, account, naive_ids):
    """Posted moves against Billwerk's amounts, per currency, in minor units."""
    env.flush_all()
    env.cr.execute(
        """
        SELECT i.id, c.name, i.amount, i.amount_vat, i.amount_ex_vat,
               m.amount_total, m.amount_tax, m.amount_untaxed, m.state,
               m.currency_id = i.currency_id
          FROM billwerk_invoice i
          JOIN account_move m ON m.id = i.move_id
          JOIN res_currency c ON c.id = i.currency_id
         WHERE i.account_id = %s
        """,
        [account.id],
    )
    naive_ids = set(naive_ids)
    currencies, mismatches = {}, {"naive": 0, "batch": 0}
    for row in env.cr.fetchall():
        invoice_id, currency, *amounts, state, same_currency = row
        scale = 10 ** currency_exponent(currency)
        billwerk = [round(float(value or 0) * scale) for value in amounts[:3]]
        odoo = [round(float(value or 0) * scale) for value in amounts[3:]]
        sums = currencies.setdefault(
            currency, {"invoices": 0, "billwerk_minor": 0, "odoo_minor": 0}
        )
        sums["invoices"] += 1
        sums["billwerk_minor"] += billwerk[0]
        sums["odoo_minor"] += odoo[0]
        if billwerk != odoo or state != "posted" or not same_currency:
            mismatches["naive" if invoice_id in naive_ids else "batch"] += 1
    for sums in currencies.values():
        sums["difference_minor"] = sums["odoo_minor"] - sums["billwerk_minor"]
    exact = not any(mismatches.values()) and not any(
        sums["difference_minor"] for sums in currencies.values()
    )
    return {"per_currency": currencies, "invoices_off": mismatches, "exact": exact}


def payment_checks(env, account, naive_ids):
    """Booked transactions against their payments; settled invoices read paid."""
    env.flush_all()
    env.cr.execute(
        """
        SELECT t.id, t.billwerk_id, t.amount, p.amount, p.state, m.state,
               p.currency_id = COALESCE(t.currency_id, p.currency_id),
               EXISTS (
                   SELECT 1 FROM account_move_line l
                     JOIN account_account a ON a.id = l.account_id
                    WHERE l.move_id = p.move_id
                      AND a.account_type = 'asset_receivable'
                      AND NOT l.reconciled
               )
          FROM billwerk_transaction t
          JOIN account_payment p ON p.id = t.payment_id
          LEFT JOIN account_move m ON m.id = p.move_id
         WHERE t.account_id = %s
        """,
        [account.id],
    )
    naive_ids = set(naive_ids)
    booked = {"naive": 0, "batch": 0}
    payment_states = {}
    off = {"not_posted": [], "amount_or_currency": [], "unreconciled": []}
    for row in env.cr.fetchall():
        tx_id, billwerk_id, amount, paid, pay_state, move_state, same, open_ = row
        way = "naive" if tx_id in naive_ids else "batch"
        booked[way] += 1
        payment_states[pay_state] = payment_states.get(pay_state, 0) + 1
        example = f"{billwerk_id} ({way}: {amount} -> {paid}, {pay_state}/{move_state})"
        if pay_state not in ("in_process", "paid") or move_state != "posted":
            off["not_posted"].append(example)
        if float(amount or 0) != float(paid or 0) or not same:
            off["amount_or_currency"].append(example)
        if open_:
            off["unreconciled"].append(example)
    env.cr.execute(
        """
        WITH tx AS (
            SELECT invoice_id, count(*) AS n, count(payment_id) AS booked,
                   sum(amount) AS amount
              FROM billwerk_transaction
             WHERE account_id = %s AND type = 'settle' AND state = 'settled'
             GROUP BY invoice_id
        )
        SELECT i.billwerk_id, i.state, i.amount, tx.n, tx.amount,
               m.name, m.payment_state, m.amount_total, m.amount_residual
          FROM billwerk_invoice i
          JOIN account_move m ON m.id = i.move_id
          JOIN tx ON tx.invoice_id = i.id
         WHERE i.account_id = %s AND tx.booked = tx.n
        """,
        [account.id, account.id],
    )
    settled = {"checked": 0, "paid": 0, "not_paid": [], "states": {}}
    partly = {"checked": 0, "partial": 0, "not_partial": [], "states": {}}
    for row in env.cr.fetchall():
        billwerk_id, state, amount, count, tx_amount, name, pay_state = row[:7]
        example = (
            f"{billwerk_id} {name}: Billwerk {state} {amount} ({count} settlements "
            f"{tx_amount}), Odoo {pay_state}, total {row[7]}, residual {row[8]}"
        )
        if state == "settled":
            group, expected, wrong = settled, "paid", "not_paid"
        else:
            group, expected, wrong = partly, "partial", "not_partial"
        group["checked"] += 1
        group["states"][pay_state] = group["states"].get(pay_state, 0) + 1
        if pay_state == expected:
            group[expected] += 1
        else:
            group[wrong].append(example)
    env.cr.execute(
        "SELECT count(*) FROM billwerk_invoice WHERE account_id = %s "
        "AND state = 'settled' AND move_id IS NOT NULL",
        [account.id],
    )
    settled["settled_invoices_posted"] = env.cr.fetchone()[0]
    mismatches = {name: len(rows) for name, rows in off.items()}
    mismatches["settled_not_paid"] = len(settled["not_paid"])
    mismatches["partly_settled_not_partial"] = len(partly["not_partial"])
    return {
        "booked": booked,
        "payment_states": payment_states,
        "mismatches": mismatches,
        "examples": {
            **{name: rows[:EXAMPLES] for name, rows in off.items()},
            "settled_not_paid": settled.pop("not_paid")[:EXAMPLES],
            "partly_settled_not_partial": partly.pop("not_partial")[:EXAMPLES],
        },
        "settled": settled,
        "partly_settled": partly,
        "exact": not any(mismatches.values()),
    }


def entry_checks(env, account):
    """What Odoo would have made one entry at a time, checked on every entry.

    Numbers Odoo gives (payments, exchange differences, credit notes; not
    the invoices, which carry Billwerk's numbers) are gap-free and unique per
    sequence (the batches number them, the naive way Odoo); a payment's
    number is its entry's; every posted invoice and credit note is ticked
    checked where its journal says so and followed by its customer.
    """
    env.flush_all()
    company = account.company_id.id
    env.cr.execute(
        """
        SELECT j.code, m.sequence_prefix, count(*),
               count(*) FILTER (WHERE m.made_sequence_gap),
               count(DISTINCT m.name),
               max(m.sequence_number) - min(m.sequence_number) + 1
          FROM account_move m
          JOIN account_journal j ON j.id = m.journal_id
         WHERE m.company_id = %s AND m.state = 'posted'
           AND m.move_type <> 'out_invoice'
         GROUP BY j.code, m.sequence_prefix
        """,
        [company],
    )
    sequences, gaps = {}, 0
    for code, prefix, count, gap, names, span in env.cr.fetchall():
        sequences[prefix] = {"journal": code, "entries": count}
        if gap or names != count or span != count:
            gaps += 1
            sequences[prefix].update(gaps=gap, distinct=names, span=span)
    env.cr.execute(
        """
        SELECT count(*) FILTER (WHERE p.name IS DISTINCT FROM m.name),
               count(*) FILTER (WHERE m.state <> 'posted')
          FROM account_payment p JOIN account_move m ON m.id = p.move_id
         WHERE p.company_id = %s
        """,
        [company],
    )
    payment_names_off, payment_moves_unposted = env.cr.fetchone()
    env.cr.execute(
        """
        SELECT count(*) FILTER (WHERE j.autocheck_on_post AND NOT m.checked),
               count(*) FILTER (WHERE m.partner_id IS NOT NULL AND NOT EXISTS (
                   SELECT 1 FROM mail_followers f
                    WHERE f.res_model = 'account.move' AND f.res_id = m.id
                      AND f.partner_id = m.partner_id))
          FROM account_move m JOIN account_journal j ON j.id = m.journal_id
         WHERE m.company_id = %s AND m.state = 'posted'
           AND m.move_type IN ('out_invoice', 'out_refund')
        """,
        [company],
    )
    unchecked, unfollowed = env.cr.fetchone()
    mismatches = {
        "sequences_with_gaps_or_duplicates": gaps,
        "payment_names_off": payment_names_off,
        "payment_entries_not_posted": payment_moves_unposted,
        "invoices_not_checked": unchecked,
        "invoices_not_followed_by_customer": unfollowed,
    }
    return {
        "sequences": sequences,
        "mismatches": mismatches,
        "exact": not any(mismatches.values()),
    }


# -- report ------------------------------------------------------------------------
def summary(results):
    naive, batch = results["naive"], results["batch"]
    ratio = results["ratio"]
    states = results["invoice_states"]
    due = sum(states.get(state, 0) for state in POSTED_STATES)
    lines = [
        "== Billwerk connector posting benchmark: naive vs the addon's batches ==",
        (
            f"sandbox: DK account, seed 11, {SIZES['customers']} customers, "
            f"{SIZES['subscriptions']} subscriptions, {SIZES['invoices']} invoices; "
            f"{due} in posted states "
            f"({', '.join(f'{k} {v}' for k, v in states.items())})"
        ),
        (
            f"sync (not timed for the figures): {results['sync']['seconds']:.1f} s, "
            f"state {results['sync']['state']}"
        ),
        (
            f"naive (create + action_post + commit per invoice, chatter on, "
            f"sequence names): {naive['invoices']} invoices in "
            f"{naive['seconds']:.1f} s = {naive['invoices_per_s']:.1f} invoices/s, "
            f"{naive['queries_per_invoice']:.0f} queries an invoice"
        ),
        "      (the oldest invoices, first, on an emptier journal: favours naive)",
        (
            f"batch (billwerk.posting._post_account, {billwerk_posting.BATCH} a "
            f"batch): {batch['invoices']} invoices in "
            f"{batch['invoice_seconds']:.1f} s = {batch['invoices_per_s']:.1f} "
            f"invoices/s, {batch['queries_per_invoice']:.0f} queries an invoice"
        ),
        *(
            [
                (
                    f"batch with revenue recognised over the service period: "
                    f"{r['invoices']} invoices in {r['seconds']:.1f} s = "
                    f"{r['invoices_per_s']:.1f} invoices/s "
                    f"({r['against_batch']:.2f}x the batch without it; "
                    f"{r['deferred_invoices']} deferred, {r['shares']} monthly "
                    f"shares, {r['entries']} recognition entries, "
                    f"{r['post_due_seconds']:.1f} s posting the ended months)"
                )
            ]
            if (r := results.get("recognition"))
            else []
        ),
        (
            f"ratio: batch = {ratio:.1f}x naive (target >= {TARGET:g}x: "
            f"{'met' if ratio >= TARGET else 'NOT met'})"
        ),
    ]
    lines.append(
        "      (stopped after the invoices: payments below; reversals, credit "
        "notes, refunds left out unless BENCH_POSTING_REST=1)"
    )
    lines += payment_summary(results["payments"])
    rest = results.get("rest")
    if rest:
        lines.append(
            f"then the rest of _post_account (not compared): {rest['reversals']} "
            f"reversals, {rest['payments']} payments (settlements left, "
            f"refunds), {rest['credit_notes']} credit notes in "
            f"{rest['seconds']:.1f} s; waiting {rest['waiting']}"
        )
    left = results["left_waiting"]
    lines.append(
        f"due invoices left without a move: {left['count']}"
        + (f" ({left['reasons']})" if left["count"] else "")
    )
    if naive["waiting"] or batch["waiting"]:
        lines.append(f"waiting: naive {naive['waiting']}, batch {batch['reasons']}")
    entries = results["entries"]
    lines.append(
        f"entries: {'EXACT' if entries['exact'] else 'NOT EXACT'}; "
        f"mismatches {entries['mismatches']}; "
        f"{len(entries['sequences'])} Odoo-numbered sequences checked"
    )
    exact = results["exactness"]
    lines.append(
        f"exactness: {'EXACT' if exact['exact'] else 'NOT EXACT'}; invoices off "
        f"{exact['invoices_off']}; per currency (Odoo = Billwerk, minor units):"
    )
    for currency, sums in sorted(exact["per_currency"].items()):
        lines.append(
            f"      {currency}: {sums['invoices']} invoices, Odoo "
            f"{sums['odoo_minor']} vs Billwerk {sums['billwerk_minor']} "
            f"(difference {sums['difference_minor']})"
        )
    host = results["machine"]
    lines.append(
        f"machine: {host['cpus']} CPUs ({host['cpu_model']}), load average "
        f"start {fmt_load(host['load_average_start'])}, after naive "
        f"{fmt_load(naive['load_average_after'])}, after batch "
        f"{fmt_load(batch['load_average_after'])}, after naive payments "
        f"{fmt_load(results['payments']['naive']['load_average_after'])}, after "
        f"batch payments "
        f"{fmt_load(results['payments']['batch']['load_average_after'])}; "
        f"{results['date']}; total {results['total_seconds']:.0f} s"
    )
    return "\n".join(lines)


def payment_summary(payments):
    naive, batch, ratio = payments["naive"], payments["batch"], payments["ratio"]
    checks = payments["checks"]
    settled, partly = checks["settled"], checks["partly_settled"]
    cap = f"capped at {payments['cap']}" if payments["cap"] else "all of them"
    lines = [
        (
            f"payments: {payments['due_settle_transactions']} settle transactions "
            f"due once every invoice is posted; naive on the oldest "
            f"{naive['transactions']}, batch on the next {batch['transactions']} "
            f"({cap}); {payments['left_due']} left due"
        ),
        (
            f"naive payments (payment_values + create + action_post + reconcile "
            f"+ commit per transaction, chatter on): {naive['payments']} in "
            f"{naive['seconds']:.1f} s = {naive['payments_per_s']:.1f} "
            f"payments/s, {naive['queries_per_payment']:.0f} queries a payment"
        ),
        (
            f"batch payments (billwerk.posting._post_all settlements, "
            f"{billwerk_posting.BATCH} a batch): {batch['payments']} in "
            f"{batch['seconds']:.1f} s = {batch['payments_per_s']:.1f} "
            f"payments/s, {batch['queries_per_payment']:.0f} queries a payment"
        ),
        (
            f"payments ratio: batch = {ratio:.1f}x naive (target >= {TARGET:g}x: "
            f"{'met' if ratio >= TARGET else 'NOT met'})"
        ),
    ]
    if naive["waiting"] or batch["waiting"]:
        lines.append(
            f"payments waiting: naive {naive['waiting']}, batch {batch['reasons']}"
        )
    lines.append(
        f"payment checks: {'EXACT' if checks['exact'] else 'NOT EXACT'}; booked "
        f"transactions {checks['booked']}, payment states "
        f"{checks['payment_states']}, mismatches {checks['mismatches']}"
    )
    lines.append(
        f"      settled in Billwerk, every settlement booked: {settled['checked']} "
        f"of {settled['settled_invoices_posted']} posted settled invoices, "
        f"{settled['paid']} read paid ({settled['states']}); partly settled, "
        f"every settlement booked: {partly['checked']}, {partly['partial']} read "
        f"partial ({partly['states']})"
    )
    for name, rows in checks["examples"].items():
        for row in rows:
            lines.append(f"      {name}: {row}")
    return lines


def fmt_load(load):
    return " / ".join(f"{value:.2f}" for value in load)


def main(env):
    started = time.perf_counter()
    results = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "provenance": provenance(env),
        "sizes": SIZES,
    }
    with SandboxProcess(sandbox_args(SIZES, "--no-rate-limit")) as box:
        account, taxes = set_up_company(env, box.url, box.key)
        results["sync"] = sync(env, account)
    results["exchange_rates"] = daily_rates(env, account)
    results["invoice_states"] = states = invoice_states(env, account)
    due_count = sum(states.get(state, 0) for state in POSTED_STATES)
    print(f"synced: {results['sync']}; invoices by state: {states}", flush=True)
    if due_count < MIN_DUE:
        raise RuntimeError(f"{due_count} invoices to post, {MIN_DUE} needed.")
    results["tax_mapping"] = switch_posting_on(env, account, taxes)
    due = env["billwerk.posting"]._due_invoices(account)
    results["due_invoices"] = len(due)
    print(f"VAT mapping: {results['tax_mapping']}; due: {len(due)}", flush=True)
    naive = naive_posting(env, account, due[:NAIVE])
    print(
        f"naive: {naive['invoices']} in {naive['seconds']:.1f} s, "
        f"{naive['invoices_per_s']:.1f}/s",
        flush=True,
    )
    if RECOGNITION:
        results["recognition"] = recognised = recognition_posting(
            env, account, due[NAIVE : NAIVE + RECOGNITION]
        )
        print(
            f"with revenue recognition: {recognised['invoices']} in "
            f"{recognised['seconds']:.1f} s, {recognised['invoices_per_s']:.1f}/s "
            f"({recognised['deferred_invoices']} deferred, "
            f"{recognised['shares']} monthly shares, "
            f"{recognised['entries']} recognition entries)",
            flush=True,
        )
    results["batch"] = batch = batch_posting(env, account)
    results["naive"] = naive
    results["ratio"] = batch["invoices_per_s"] / naive["invoices_per_s"]
    if RECOGNITION:
        results["recognition"]["against_batch"] = (
            results["recognition"]["invoices_per_s"] / batch["invoices_per_s"]
        )
    print(
        f"batch: {batch['invoices']} in {batch['invoice_seconds']:.1f} s, "
        f"{batch['invoices_per_s']:.1f}/s",
        flush=True,
    )
    results["left_waiting"] = leftovers(env, account)
    results["payments"] = payments = payments_part(env, account)
    payments["checks"] = payment_checks(env, account, payments["naive"].pop("ids"))
    if REST:
        results["rest"] = rest_posting(env, account)
    results["exactness"] = exactness(env, account, naive.pop("ids"))
    results["entries"] = entry_checks(env, account)
    results["total_seconds"] = time.perf_counter() - started
    results["naive_sample_note"] = (
        "naive runs first on the oldest invoices, on an emptier journal: "
        "that favours the naive way"
    )
    JSON_PATH.parent.mkdir(parents=True, exist_ok=True)
    JSON_PATH.write_text(json.dumps(results, indent=2, default=str))
    print(summary(results))
    print(f"JSON: {JSON_PATH}")


main(globals()["env"])  # given by odoo-bin shell
