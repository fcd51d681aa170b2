"""Subscription metrics benchmark, piped into `odoo-bin shell` by benchmark.sh.

Issue 21's figures: how long a 100,000-invoice account takes to refresh its
MRR rows after an incremental run, and to compute them from scratch. The
sandbox runs in a process of its own, without its rate limit (the first load
is not what is measured here); the addon's first load makes the copies. Then,
each trial rolled back:

(a) full: every row deleted, ``_recompute_mrr`` from the first month;
(b) incremental: what a polling run's changes leave: a share of the last
    month's invoice copies get a larger plan line (an upgrade each), the
    account is noted stale from the first month they touch (as the run's
    write does), then ``_recompute_mrr``; the rows it leaves are compared,
    to the minor unit, with those a full computation gives.

Medians of ``BENCH_MRR_REPEAT`` trials; JSON in ``BENCH_MRR_JSON`` (else
.venv/var/benchmark_mrr.json). Targets: (a) under 60 s, (b) under 10 s.
Nothing fails on a figure; the equality of the rows is a check and does.
"""

# pylint: disable=print-used
import json
import os
import statistics
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from unittest.mock import patch

from odoo.addons.billwerk_connector.models import billwerk_account_mrr
from odoo.addons.billwerk_connector.models.billwerk_account_mrr import (
    BillwerkAccountMrr,
)
from odoo.addons.billwerk_connector.sandbox.launcher import SandboxProcess, sandbox_args

ADDON = Path(billwerk_account_mrr.__file__).resolve().parents[1]


def _int(name, default):
    return int(os.environ.get(name) or default)


INVOICES = _int("BENCH_MRR_INVOICES", 100_000)
SIZES = {
    "customers": INVOICES // 5,
    "subscriptions": INVOICES * 3 // 10,
    "invoices": INVOICES,
}
REPEAT = _int("BENCH_MRR_REPEAT", 3)
CHANGED_SHARE = 0.02  # of the last month's invoices, upgraded per trial
JSON_PATH = Path(
    os.environ.get("BENCH_MRR_JSON") or ADDON / ".venv" / "var" / "benchmark_mrr.json"
)
FULL_TARGET, INCREMENTAL_TARGET = 60.0, 10.0


def connect_account(env, url, key):
    company = env["res.company"].create({"name": "MRR benchmark company"})
    account = env["billwerk.account"].create({"company_id": company.id, "api_url": url})
    wizard = env["billwerk.set.api.key"].create(
        {"account_id": account.id, "api_key": key}
    )
    wizard.action_check_key()
    env.cr.commit()
    return account


def stored_rows(account):
    """``{(month, customer, currency): comparable}``, without ids."""
    rows, duplicates = account._mrr_stored(None)
    assert not duplicates, duplicates
    return {key: values[1:] for key, values in rows.items()}


def full_trial(env, account):
    env.cr.execute("SAVEPOINT mrr_trial")
    env["billwerk.mrr"].sudo().search([("account_id", "=", account.id)]).unlink()
    account._mark_mrr_stale(billwerk_account_mrr.EVERYTHING)
    started = time.perf_counter()
    _deleted, created = account._recompute_mrr()
    seconds = time.perf_counter() - started
    env.cr.execute("ROLLBACK TO SAVEPOINT mrr_trial")
    env.invalidate_all()
    return seconds, created


def upgrade_last_month(env, account, share):
    """Double the plan line of ``share`` of the invoices whose plan period
    starts last month; the first month their lines touch."""
    zone = account._billwerk_zone()
    current = account._mrr_now().astimezone(zone).date().replace(day=1)
    last = (current - timedelta(days=1)).replace(day=1)
    env["billwerk.invoice"].flush_model()
    env.cr.execute(
        """
        SELECT id FROM billwerk_invoice
         WHERE account_id = %s AND active AND state = 'settled'
           AND EXISTS (SELECT 1 FROM jsonb_array_elements(order_lines) l
                        WHERE l->>'origin' = 'plan'
                          AND left(l->>'period_from', 7) = %s)
         ORDER BY id
        """,
        (account.id, last.isoformat()[:7]),
    )
    ids = [row[0] for row in env.cr.fetchall()]
    chosen = ids[:: max(1, round(1 / share))]
    env.cr.execute(
        """
        UPDATE billwerk_invoice SET order_lines = (
            SELECT jsonb_agg(CASE WHEN l->>'origin' = 'plan'
                THEN jsonb_set(l, '{amount_ex_vat}',
                               to_jsonb((l->>'amount_ex_vat')::bigint * 2))
                ELSE l END)
              FROM jsonb_array_elements(order_lines) l)
         WHERE id = ANY(%s)
        """,
        (chosen,),
    )
    env.invalidate_all()
    return len(chosen), len(ids), last


def incremental_trial(env, account):
    env.cr.execute("SAVEPOINT mrr_trial")
    changed, candidates, last = upgrade_last_month(env, account, CHANGED_SHARE)
    account._mark_mrr_stale(last)
    started = time.perf_counter()
    deleted, created = account._recompute_mrr()
    seconds = time.perf_counter() - started
    incremental = stored_rows(account)
    # The same rows from scratch: the incremental refresh is exact.
    env["billwerk.mrr"].sudo().search([("account_id", "=", account.id)]).unlink()
    account._mark_mrr_stale(billwerk_account_mrr.EVERYTHING)
    account._recompute_mrr()
    full = stored_rows(account)
    exact = full == incremental
    differing = sorted(
        (str(key), incremental.get(key), full.get(key))
        for key in set(full) | set(incremental)
        if full.get(key) != incremental.get(key)
    )
    env.cr.execute("ROLLBACK TO SAVEPOINT mrr_trial")
    env.invalidate_all()
    return seconds, {
        "invoices_upgraded": changed,
        "last_month_invoices": candidates,
        "rows_deleted": deleted,
        "rows_created": created,
        "equal_to_full": exact,
        "differing_rows": len(differing),
        "differing_sample": differing[:10],
    }


def main(env):
    # One instant for the whole run: the running month's MRR is taken at
    # "now", and a full and an incremental computation compared must see
    # the same one.
    instant = datetime.now(timezone.utc).replace(microsecond=0)
    with patch.object(BillwerkAccountMrr, "_mrr_now", lambda _self: instant):
        measure(env)


def measure(env):
    results = {"sizes": SIZES, "repeat": REPEAT, "cpus": os.cpu_count()}
    with SandboxProcess(sandbox_args(SIZES, "--no-rate-limit")) as box:
        account = connect_account(env, box.url, box.key)
        started = time.perf_counter()
        run = env["billwerk.sync.run"]._run_for(account, trigger="manual")
        results["first_load_seconds"] = time.perf_counter() - started
        results["first_load_state"] = run.state
    env.cr.commit()
    counts = account._synchronized_counts()
    results["invoices"] = counts.get("billwerk.invoice")
    env.cr.execute(
        "SELECT count(*), count(DISTINCT month) FROM billwerk_mrr"
        " WHERE account_id = %s",
        (account.id,),
    )
    results["rows"], results["months"] = env.cr.fetchone()
    full, incremental, details = [], [], []
    for _ in range(REPEAT):
        seconds, _created = full_trial(env, account)
        full.append(seconds)
        seconds, detail = incremental_trial(env, account)
        incremental.append(seconds)
        details.append(detail)
    results["full_seconds"] = full
    results["full_median"] = statistics.median(full)
    results["incremental_seconds"] = incremental
    results["incremental_median"] = statistics.median(incremental)
    results["incremental_trials"] = details
    env.cr.rollback()
    JSON_PATH.parent.mkdir(parents=True, exist_ok=True)
    JSON_PATH.write_text(json.dumps(results, indent=2, default=str))
    print(
        f"MRR of {results['invoices']:,} invoices ({results['rows']:,} rows, "
        f"{results['months']} months; first load "
        f"{results['first_load_seconds']:.0f} s, "
        f"{results['first_load_state']})"
    )
    print(
        f"  full recomputation: median {results['full_median']:.2f} s of {REPEAT} "
        f"(target < {FULL_TARGET:g} s)"
    )
    detail = details[0]
    print(
        f"  after an incremental run ({detail['invoices_upgraded']} of "
        f"{detail['last_month_invoices']} last-month invoices upgraded, "
        f"{detail['rows_created']} rows rewritten): median "
        f"{results['incremental_median']:.2f} s (target < {INCREMENTAL_TARGET:g} s)"
    )
    exact = all(detail["equal_to_full"] for detail in details)
    print(f"  incremental rows equal to a full computation: {exact}")
    for detail in details:
        for sample in detail["differing_sample"]:
            print(f"    differs: {sample}")
    print(f"JSON: {JSON_PATH}")
    if not exact:
        raise SystemExit("The incremental refresh differs from a full computation.")


main(globals()["env"])  # given by odoo-bin shell
