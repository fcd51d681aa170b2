"""Benchmark, piped into `odoo-bin shell` by benchmark.sh on a throw-away database.

The sandbox runs in a process of its own (``python -m sandbox``, Billwerk's
documented limits on: 25 GET/s, bursts to 50, 10 requests in flight per key),
so that it does not share Odoo's interpreter lock. Measured in one run:

(a) the first load of a 100,000-object account (20,000 customers, 30,000
    subscriptions, 50,000 invoices) with the production client (adaptive pacer,
    two pages fetched ahead): objects/s and the share of 2,500/s (25 pages of
    100 a second), records/s with the transactions invoices embed, the Odoo
    process's CPU per page and the machine's load average;
(b) the write path alone, on invoice pages fetched beforehand: the addon's
    batch upsert (``billwerk.sync.run._apply``), the naive way (per record:
    mapping, reference look-ups, a search, a create) and one multi-row
    ``INSERT ... ON CONFLICT`` per page through psycopg2 (same mapping, one
    look-up query per relation); each trial writes distinct pages into an
    account of its own that holds copies of the loaded plans, customers and
    subscriptions and no invoice (statistics fresh), and is rolled back;
    rounds alternate the variants; medians and ratios;
(c) the peak RSS of the Odoo process for the first load of a 1,000- and of a
    100,000-invoice account, each in an ``odoo-bin shell`` of its own (VmHWM of
    /proc/self/status, reset through /proc/self/clear_refs just before the
    load, so the registry's start-up peak hides nothing); the growth is the
    difference of the two peaks;
(d) an incremental run in which nothing changed, and the purge of the loaded
    records (median of 5, each rolled back).

Everything goes to a JSON file (``BENCH_JSON``, else .venv/var/benchmark.json).
Machines are shared and noisy: figures are medians where repeating is cheap,
targets are printed beside them, nothing fails on a figure.

``BENCH_MODE=rss-probe`` is the child mode of (c); ``BENCH_SKIP=rss,write``
leaves parts out; sizes and repeats come from the BENCH_* variables below.
"""

# pylint: disable=print-used
import contextlib
import itertools
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from unittest.mock import patch

from psycopg2 import sql
from psycopg2.extras import Json, execute_values

from odoo.tools import SQL, config

from odoo.addons.billwerk_connector.client.http_client import (
    EARLIEST_FROM,
    PAGE_SIZE,
)
from odoo.addons.billwerk_connector.client.retry import READ_BURST, READ_RATE, Pacer
from odoo.addons.billwerk_connector.mapping.entities import (
    ENTITIES,
    INVOICE,
    STORED_ENTITIES,
)
from odoo.addons.billwerk_connector.models import billwerk_sync_run_batch
from odoo.addons.billwerk_connector.models.billwerk_account import BillwerkAccount
from odoo.addons.billwerk_connector.models.sync_run_state import SyncRunState
from odoo.addons.billwerk_connector.sandbox.launcher import SandboxProcess, sandbox_args

ADDON = Path(billwerk_sync_run_batch.__file__).resolve().parents[1]
CEILING = READ_RATE * PAGE_SIZE  # records/s at Billwerk's documented GET rate


def _int(name, default):
    return int(os.environ.get(name, default))


SIZES = {
    "customers": _int("BENCH_CUSTOMERS", 20000),
    "subscriptions": _int("BENCH_SUBSCRIPTIONS", 30000),
    "invoices": _int("BENCH_INVOICES", 50000),
    "plans": 10,
}
WRITE_PAGES = _int("BENCH_WRITE_PAGES", 20)  # pages of 100 invoices per trial
REPEAT = _int("BENCH_REPEAT", 3)
RSS_SIZES = (_int("BENCH_RSS_SMALL", 1000), _int("BENCH_RSS_LARGE", 100000))
# The probes' accounts differ in invoices only (invoices need subscriptions).
RSS_BASE = {"customers": 5000, "subscriptions": 10000, "plans": 10}
SKIP = set(filter(None, os.environ.get("BENCH_SKIP", "").split(",")))
JSON_PATH = Path(
    os.environ.get("BENCH_JSON") or ADDON / ".venv" / "var" / "benchmark.json"
)


class Rollback(Exception):
    pass


def timed(function):
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def cpu_seconds():
    times = os.times()
    return times.user + times.system


def memory_kb():
    """VmRSS and VmHWM (peak) of this process, in kB."""
    status = Path("/proc/self/status").read_text()
    return {
        name: int(re.search(rf"^{name}:\s+(\d+) kB", status, re.MULTILINE).group(1))
        for name in ("VmRSS", "VmHWM")
    }


def reset_peak_memory():
    """Set VmHWM back to the current RSS (Linux 4.0+); False if refused."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def connect_account(env, url, key, name):
    company = env["res.company"].create({"name": name})
    account = env["billwerk.account"].create({"company_id": company.id, "api_url": url})
    wizard = env["billwerk.set.api.key"].create(
        {"account_id": account.id, "api_key": key}
    )
    wizard.action_check_key()
    env.cr.commit()
    return account


@contextlib.contextmanager
def client_options(**options):
    """Client options of every run (a hook the addon's tests use too)."""
    if not options:
        yield
        return
    with patch.object(BillwerkAccount, "_client_options", lambda self: options):
        yield


# -- (a) first load, (d) idle run and purge -----------------------------------
def first_load(env, account, box):
    """The first load's pace. ``objects`` are what the lists hold (100 a page,
    the ceiling's unit); ``records`` add the transactions invoices embed."""
    runs = env["billwerk.sync.run"]
    box.clear_log()
    load_before = os.getloadavg()
    cpu = cpu_seconds()
    seconds, run = timed(lambda: runs._run_for(account, trigger="manual"))
    cpu = cpu_seconds() - cpu
    counts = account._synchronized_counts()
    records = sum(counts.values())
    objects = sum(counts[entity.model] for entity in ENTITIES)
    stats = box.stats()
    return {
        "objects": objects,
        "records": records,
        "seconds": seconds,
        "objects_per_s": objects / seconds,
        "share_of_ceiling": objects / seconds / CEILING,
        "records_per_s": records / seconds,
        "ceiling_records_per_s": CEILING,
        "requests": stats["requests"],
        "requests_per_s": stats["requests"] / seconds,
        "answered_429": stats["statuses"].get("429", 0),
        "odoo_cpu_seconds": cpu,
        "odoo_cpu_ms_per_request": cpu * 1000 / max(1, stats["requests"]),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "state": run.state,
        "error": run.error_message or None,
    }


def idle_runs(env, account, box, repeat=5):
    runs = env["billwerk.sync.run"]
    seconds, requests = [], []
    for _ in range(repeat):
        box.clear_log()
        took, run = timed(lambda: runs._run_for(account, trigger="manual"))
        seconds.append(took)
        requests.append(box.stats()["requests"])
    return {
        "median_seconds": statistics.median(seconds),
        "seconds": seconds,
        "requests": statistics.median(requests),
        "writes": run.created_count + run.updated_count + run.archived_count,
        "state": run.state,
    }


def purges(env, account, records, repeat=5):
    seconds = []
    for _ in range(repeat):
        try:
            with env.cr.savepoint():
                took, _result = timed(account._purge_synchronized_data)
                seconds.append(took)
                raise Rollback
        except Rollback:
            env.invalidate_all()
    return {
        "records": records,
        "median_seconds": statistics.median(seconds),
        "min_seconds": min(seconds),
        "max_seconds": max(seconds),
        "n": repeat,
    }


# -- (b) the write path alone --------------------------------------------------
def _digest(payload):
    return billwerk_sync_run_batch.payload_digest(payload)


def _sync_state():
    return SyncRunState.for_entities(entity.name for entity in STORED_ENTITIES)


def _mapped(page):
    rows = []
    for payload in page:
        values = INVOICE.to_values(payload)
        values["sync_hash"] = _digest(payload)
        rows.append(values)
    return rows


def _raw_value(field, value):
    """As the addon stores it: False is NULL but for booleans, JSON as JSON."""
    if value is False and field.type != "boolean":
        return None
    if field.type == "json" and value is not None:
        return Json(value)
    return value


class WriteVariants:
    """Three ways to store a page of invoice payloads into ``account``."""

    def __init__(self, env, account, run):
        self.env = env
        self.account = account
        self.run = run
        self.model = env["billwerk.invoice"].sudo().with_context(active_test=False)
        self.state = _sync_state()
        self._columns = None

    def addon(self, page):
        self.run._apply(INVOICE, page, self.state)

    def naive(self, page):
        model, account = self.model, self.account
        for values in _mapped(page):
            self.run._resolve_references(INVOICE, [values], self.state)
            existing = model.search(
                [
                    ("account_id", "=", account.id),
                    ("billwerk_id", "=", values["billwerk_id"]),
                ],
                limit=1,
            )
            if existing:
                existing.write(values)
            else:
                model.create(dict(values, account_id=account.id))

    def mapping_only(self, page):
        _mapped(page)

    def raw_sql(self, page):
        cr = self.env.cr
        rows = _mapped(page)
        self._resolve_raw(rows)
        columns, fields = self._raw_columns(rows[0])
        now = self.env.cr.now()
        uid = self.env.uid
        fixed = [self.account.id, self.account.company_id.id, uid, now, uid, now]
        data = [
            fixed + [_raw_value(field, values.get(name)) for name, field in fields]
            for values in rows
        ]
        execute_values(cr._obj, self._insert_sql(columns), data, page_size=len(data))

    def _resolve_raw(self, rows):
        cr, account = self.env.cr, self.account
        currencies = self.state.currencies
        codes = {v.get("currency_code") for v in rows} - set(currencies) - {None}
        if codes:
            cr.execute(
                "SELECT name, id FROM res_currency WHERE name = ANY(%s)", [list(codes)]
            )
            currencies.update(cr.fetchall())
        for values in rows:
            values["currency_id"] = currencies.get(values.pop("currency_code", None))
        relations = billwerk_sync_run_batch.RELATIONS[INVOICE.model]
        for field, handle_field, related in relations:
            handles = list({v[handle_field] for v in rows if v.get(handle_field)})
            ids = {}
            if handles:
                cr.execute(
                    SQL(
                        "SELECT handle, id FROM %s WHERE account_id = %s "
                        "AND handle = ANY(%s)",
                        SQL.identifier(self.env[related]._table),
                        account.id,
                        handles,
                    )
                )
                ids = dict(cr.fetchall())
            for values in rows:
                values[field] = ids.get(values.get(handle_field)) or None

    def _raw_columns(self, sample):
        if self._columns is None:
            fields = [
                (name, self.model._fields[name])
                for name in sample
                if name in self.model._fields
                and self.model._fields[name].store
                and self.model._fields[name].column_type
            ]
            meta = [
                "account_id",
                "company_id",
                "create_uid",
                "create_date",
                "write_uid",
                "write_date",
            ]
            self._columns = (meta + [name for name, _field in fields], fields)
        return self._columns

    def _insert_sql(self, columns):
        keep = {"account_id", "billwerk_id", "create_uid", "create_date"}
        query = sql.SQL(
            "INSERT INTO {table} ({columns}) VALUES %s "
            "ON CONFLICT (account_id, billwerk_id) DO UPDATE SET {updates}"
        ).format(
            table=sql.Identifier(self.model._table),
            columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
            updates=sql.SQL(", ").join(
                sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(name))
                for name in columns
                if name not in keep
            ),
        )
        return query.as_string(self.env.cr._obj)


def fetch_invoice_pages(account, number):
    with account._make_client() as client:
        pages = client.iter_list(
            "invoice", date_from=EARLIEST_FROM, date_to="2100-01-01"
        )
        with contextlib.closing(pages):
            return [page.content for page in itertools.islice(pages, number)]


def _stored(env, account):
    env.flush_all()
    env.cr.execute(
        "SELECT count(*), count(customer_id), count(subscription_id), "
        "count(*) FILTER (WHERE company_id = %s) "
        "FROM billwerk_invoice WHERE account_id = %s",
        [account.company_id.id, account.id],
    )
    return env.cr.fetchone()


def _twin_account(env, account, number):
    """A new account (company of its own) holding raw copies of ``account``'s
    plans, customers and subscriptions and no invoice, statistics fresh: what
    a first load meets when it reaches the invoices, the same for every trial.
    """
    company = env["res.company"].create({"name": f"Write path {number}"})
    twin = env["billwerk.account"].create(
        {"company_id": company.id, "api_url": account.api_url}
    )
    env.flush_all()
    for model in ("billwerk.plan", "billwerk.customer", "billwerk.subscription"):
        table = env[model]._table
        env.cr.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = %s AND column_name NOT IN "
            "('id', 'account_id', 'company_id')",
            [table],
        )
        columns = SQL(", ").join(SQL.identifier(row[0]) for row in env.cr.fetchall())
        env.cr.execute(
            SQL(
                "INSERT INTO %s (account_id, company_id, %s) "
                "SELECT %s, %s, %s FROM %s WHERE account_id = %s",
                SQL.identifier(table),
                columns,
                twin.id,
                company.id,
                columns,
                SQL.identifier(table),
                account.id,
            )
        )
    for model in ("billwerk.plan", "billwerk.customer", "billwerk.subscription"):
        env.cr.execute(SQL("ANALYZE %s", SQL.identifier(env[model]._table)))
    env.cr.execute(SQL("ANALYZE %s", SQL.identifier(env["billwerk.invoice"]._table)))
    env.invalidate_all()
    return twin


def write_path(env, account):
    names = ("addon", "naive", "raw_sql", "mapping_only")
    trials = REPEAT * len(names)
    pages = fetch_invoice_pages(account, trials * WRITE_PAGES)
    if len(pages) < trials * WRITE_PAGES:
        raise RuntimeError(f"{trials * WRITE_PAGES} invoice pages needed.")
    chunks = iter(
        pages[start : start + WRITE_PAGES]
        for start in range(0, len(pages), WRITE_PAGES)
    )
    seconds = {name: [] for name in names}
    page_ms = {name: [] for name in names}
    stored = {}
    number = 0
    for _round in range(REPEAT):
        for name in names:
            number += 1
            took, per_page, found = _write_trial(
                env, account, name, next(chunks), number
            )
            seconds[name].append(took)
            page_ms[name].extend(per_page)
            stored.setdefault(name, found)
    invoices = WRITE_PAGES * PAGE_SIZE
    result = {
        name: {
            "invoices_per_trial": invoices,
            "seconds": seconds[name],
            "invoices_per_s": invoices / statistics.median(seconds[name]),
            "median_ms_per_page": statistics.median(page_ms[name]),
            "p90_ms_per_page": statistics.quantiles(page_ms[name], n=10)[-1],
            "stored_rows_with_customer_subscription_company": stored[name],
        }
        for name in names
    }
    rate = {name: result[name]["invoices_per_s"] for name in names}
    result["ratios"] = {
        "addon_share_of_raw_sql": rate["addon"] / rate["raw_sql"],
        "addon_vs_naive": rate["addon"] / rate["naive"],
        "raw_sql_vs_naive": rate["raw_sql"] / rate["naive"],
    }
    result["page_budget_ms"] = 1000 / READ_RATE
    return result


def _write_trial(env, account, name, chunk, number):
    """Seconds for ``chunk`` (pages), per-page milliseconds, rows stored."""
    per_page = []
    try:
        with env.cr.savepoint():
            twin = _twin_account(env, account, number)
            run = (
                env["billwerk.sync.run"]
                .sudo()
                .create({"account_id": twin.id, "trigger": "manual"})
            )
            env.flush_all()
            write = getattr(WriteVariants(env, twin, run), name)
            started = time.perf_counter()
            for page in chunk:
                page_started = time.perf_counter()
                with env.cr.savepoint():  # as the sync does, per page
                    write(page)
                per_page.append((time.perf_counter() - page_started) * 1000)
            env.flush_all()
            took = time.perf_counter() - started
            found = _stored(env, twin)
            raise Rollback
    except Rollback:
        env.invalidate_all()
    return took, per_page, found


# -- (c) peak memory, in processes of their own -----------------------------------
def rss_probe(env):
    """Child mode: first load of an account with BENCH_RSS_INVOICES invoices."""
    invoices = _int("BENCH_RSS_INVOICES", 1000)
    sizes = dict(RSS_BASE, invoices=invoices)
    # One Billwerk account feeds one company, and every sandbox of this script
    # serves the same one: the companies of earlier parts and probes let go of
    # it first (a throw-away database; no Billwerk to tell about webhooks).
    env.cr.execute("UPDATE billwerk_account SET active = FALSE")
    env.invalidate_all()
    with SandboxProcess(sandbox_args(sizes, "--no-rate-limit")) as box:
        account = connect_account(env, box.url, box.key, f"RSS {invoices}")
        # Memory does not depend on pace: no waiting for the rate limit here.
        with client_options(pacer=Pacer(rate=1000, burst=1000)):
            before = memory_kb()
            reset = reset_peak_memory()
            seconds, run = timed(
                lambda: env["billwerk.sync.run"]._run_for(account, trigger="manual")
            )
            after = memory_kb()
    result = {
        "invoices": invoices,
        "records": sum(account._synchronized_counts().values()),
        "seconds": seconds,
        "state": run.state,
        "rss_before_kb": before["VmRSS"],
        "peak_before_kb": before["VmHWM"],
        "peak_reset": reset,
        "peak_kb": after["VmHWM"],
        "rss_after_kb": after["VmRSS"],
        "peak_growth_kb": after["VmHWM"] - before["VmRSS"],
    }
    Path(os.environ["BENCH_RSS_OUT"]).write_text(json.dumps(result))


def rss_probes(env):
    odoo_bin = os.environ.get("BENCH_ODOO_BIN") or sys.argv[0]
    command = [
        sys.executable,
        odoo_bin,
        "shell",
        "-c",
        config.rcfile,
        "-d",
        env.cr.dbname,
        "--no-http",
        "--log-level=warn",
    ]
    script = (ADDON / "scripts" / "benchmark.py").read_text()
    probes = {}
    for invoices in RSS_SIZES:
        out = JSON_PATH.with_name(f"rss-probe-{invoices}.json")
        out.unlink(missing_ok=True)
        environ = dict(
            os.environ,
            BENCH_MODE="rss-probe",
            BENCH_RSS_INVOICES=str(invoices),
            BENCH_RSS_OUT=str(out),
        )
        subprocess.run(
            command, input=script, text=True, env=environ, check=True, cwd=ADDON
        )
        probes[invoices] = json.loads(out.read_text())
        out.unlink()
    small, large = (probes[size] for size in RSS_SIZES)
    return {
        "method": "VmHWM of /proc/self/status in one odoo-bin shell per size, "
        "reset through /proc/self/clear_refs right before the load",
        "account_base": RSS_BASE,
        "small": small,
        "large": large,
        "peak_growth_mb": (large["peak_kb"] - small["peak_kb"]) / 1024,
        "target_mb": 150,
    }


# -- report ----------------------------------------------------------------------
HEADER = (
    "== Billwerk connector benchmark: sandbox in its own process, 25 GET/s, "
    "bursts to 50, 10 in flight per key =="
)


def summary(results, header=True):
    lines = [HEADER] if header else []
    load = results.get("first_load")
    if load:
        lines.append(
            f"(a) first load: {load['objects']} objects in {load['seconds']:.1f} s = "
            f"{load['objects_per_s']:.0f} objects/s, "
            f"{load['share_of_ceiling']:.1%} of {CEILING:.0f}/s "
            f"({load['records']} records with embedded transactions: "
            f"{load['records_per_s']:.0f}/s); "
            f"{load['requests']} requests ({load['requests_per_s']:.1f}/s), "
            f"{load['answered_429']} answered 429; Odoo CPU "
            f"{load['odoo_cpu_seconds']:.1f} s "
            f"({load['odoo_cpu_ms_per_request']:.0f} ms a page); load average "
            f"{load['load_average_before'][0]:.1f} -> "
            f"{load['load_average_after'][0]:.1f}; state {load['state']}"
        )
    write = results.get("write_path")
    if write:
        ratios = write["ratios"]
        lines.append(
            f"(b) write path, {WRITE_PAGES} pages of {PAGE_SIZE} invoices per trial, "
            f"median of {REPEAT} (budget {write['page_budget_ms']:.0f} ms a page):"
        )
        for name in ("addon", "naive", "raw_sql", "mapping_only"):
            row = write[name]
            lines.append(
                f"      {name:<13}{row['invoices_per_s']:>8.0f} invoices/s, "
                f"{row['median_ms_per_page']:6.1f} ms a page "
                f"(p90 {row['p90_ms_per_page']:.1f})"
            )
        lines.append(
            f"      addon = {ratios['addon_share_of_raw_sql']:.0%} of raw SQL "
            f"(target >= 40 %), {ratios['addon_vs_naive']:.1f}x naive "
            f"(target >= 5x); raw SQL = {ratios['raw_sql_vs_naive']:.1f}x naive"
        )
    rss = results.get("rss")
    if rss:
        small, large = rss["small"], rss["large"]
        lines.append(
            f"(c) peak RSS of the first load: {small['invoices']} invoices "
            f"{small['peak_kb'] / 1024:.0f} MB, {large['invoices']} invoices "
            f"{large['peak_kb'] / 1024:.0f} MB: growth {rss['peak_growth_mb']:.0f} MB "
            f"(target < {rss['target_mb']} MB); within each load +"
            f"{small['peak_growth_kb'] / 1024:.0f} / "
            f"+{large['peak_growth_kb'] / 1024:.0f} MB"
        )
    idle = results.get("incremental_idle")
    if idle:
        lines.append(
            f"(d) incremental run, nothing changed: median "
            f"{idle['median_seconds']:.2f} s, {idle['requests']:.0f} requests, "
            f"{idle['writes']} writes"
        )
    purge = results.get("purge")
    if purge:
        lines.append(
            f"    purge of {purge['records']} records: median "
            f"{purge['median_seconds']:.2f} s (min {purge['min_seconds']:.2f}, "
            f"max {purge['max_seconds']:.2f}, n={purge['n']})"
        )
    return "\n".join(lines)


def provenance(env):
    """What the figures depend on: the code measured and the database server."""

    def git(*args):
        try:
            return subprocess.run(
                ["git", *args], cwd=ADDON, capture_output=True, text=True, check=True
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return None

    env.cr.execute(
        "SELECT current_setting('server_version'), current_setting('autovacuum')"
    )
    version, autovacuum = env.cr.fetchone()
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "uncommitted": git("status", "--porcelain", "--untracked-files=no"),
        "postgresql": version,
        "autovacuum": autovacuum,
    }


def main(env):
    results = {
        "provenance": provenance(env),
        "sizes": SIZES,
        "client": {
            "rate": READ_RATE,
            "burst": READ_BURST,
            "prefetch": os.environ.get("BENCH_PREFETCH", "default (2)"),
        },
        "cpus": os.cpu_count(),
    }
    extra = {}
    if os.environ.get("BENCH_PREFETCH"):
        extra["prefetch"] = int(os.environ["BENCH_PREFETCH"])
    with SandboxProcess(sandbox_args(SIZES)) as box, client_options(**extra):
        account = connect_account(env, box.url, box.key, "Benchmark company")
        results["first_load"] = load = first_load(env, account, box)
        print(summary({"first_load": load}, header=False), flush=True)
        results["incremental_idle"] = idle_runs(env, account, box)
        if "write" not in SKIP:
            results["write_path"] = write_path(env, account)
            print(summary({"write_path": results["write_path"]}, header=False))
        results["purge"] = purges(env, account, load["records"])
    env.cr.rollback()
    if "rss" not in SKIP:
        results["rss"] = rss_probes(env)
    JSON_PATH.parent.mkdir(parents=True, exist_ok=True)
    JSON_PATH.write_text(json.dumps(results, indent=2, default=str))
    print(summary(results))
    print(f"JSON: {JSON_PATH}")


if os.environ.get("BENCH_MODE") == "rss-probe":
    rss_probe(globals()["env"])  # given by odoo-bin shell
else:
    main(globals()["env"])
