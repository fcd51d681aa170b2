"""Benchmark, piped into `odoo-bin shell` by benchmark.sh on a throw-away database.

Measures, against the bundled sandbox over HTTP on 127.0.0.1:
- the first load of a 100,000-object account (paced as in production),
- an incremental run in which nothing changed,
- the purge of those 100,000 records (median of 5, each rolled back).
Prints medians and ratios; machines are shared and noisy, so no verdicts.
"""

import os
import statistics
import time

from odoo.addons.billwerk_connector.sandbox.server import running_sandbox

SIZES = {
    "customers": int(os.environ.get("BENCH_CUSTOMERS", "20000")),
    "subscriptions": int(os.environ.get("BENCH_SUBSCRIPTIONS", "30000")),
    "invoices": int(os.environ.get("BENCH_INVOICES", "50000")),
    "plans": 10,
}


class Rollback(Exception):
    pass


def timed(function):
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


with running_sandbox(seed=11, rate_limit=True, **SIZES) as sandbox:
    env = globals()["env"]  # given by odoo-bin shell
    company = env["res.company"].create({"name": "Benchmark company"})
    account = env["billwerk.account"].create(
        {"company_id": company.id, "api_url": sandbox.url}
    )
    wizard = env["billwerk.set.api.key"].create(
        {"account_id": account.id, "api_key": sandbox.keys[0]}
    )
    wizard.action_check_key()
    env.cr.commit()
    Runs = env["billwerk.sync.run"]

    seconds, run = timed(lambda: Runs._run_for(account, trigger="manual"))
    records = sum(account._synchronized_counts().values())
    requests_made = sandbox.count("/v1/")
    print(
        f"first load: {records} records, {requests_made} requests, {seconds:.1f} s "
        f"({records / seconds:.0f} records/s, {requests_made / seconds:.1f} req/s), "
        f"state {run.state}"
    )

    idle = []
    for _ in range(5):
        sandbox.clear_log()
        seconds, run = timed(lambda: Runs._run_for(account, trigger="manual"))
        idle.append(seconds)
    print(
        f"incremental run, nothing changed: median {statistics.median(idle):.2f} s, "
        f"{sandbox.count('/v1/')} requests, "
        f"{run.created_count + run.updated_count + run.archived_count} writes"
    )

    purges = []
    for _ in range(5):
        try:
            with env.cr.savepoint():
                seconds, _result = timed(account._purge_synchronized_data)
                purges.append(seconds)
                raise Rollback
        except Rollback:
            env.invalidate_all()
    print(
        f"purge of {records} records: median {statistics.median(purges):.2f} s "
        f"(min {min(purges):.2f}, max {max(purges):.2f}, n=5)"
    )
    env.cr.rollback()
