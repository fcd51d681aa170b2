#!/usr/bin/env bash
# Measure first load, write path, peak memory, idle incremental run and purge on
# a throw-away database; the sandbox runs in processes of its own (see
# benchmark.py). Prints a summary and writes JSON ($BENCH_JSON, else
# .venv/var/benchmark.json). Then, on a throw-away database of its own, the
# posting of 10,000 invoices, the addon's batches against the naive way (see
# benchmark_posting.py; JSON in $BENCH_POSTING_JSON, else
# .venv/var/benchmark_posting.json). BENCH_SKIP containing "posting" leaves
# the posting part out; BENCH_ONLY=posting runs it alone. Then the subscription
# metrics of a 100,000-invoice account, full and after an incremental run (see
# benchmark_mrr.py; JSON in $BENCH_MRR_JSON); BENCH_SKIP containing "mrr"
# leaves it out, BENCH_ONLY=mrr runs it alone. Takes minutes.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"
odoo_importable || { say "The benchmark needs Odoo 18: see scripts/setup.sh."; exit 1; }
ensure_postgres
DBS=()
CONFS=()
cleanup() {
    local db
    for db in ${DBS[@]+"${DBS[@]}"}; do
        dropdb -U "$DB_USER" --if-exists "$db" >/dev/null 2>&1 || true
    done
    rm -f ${CONFS[@]+"${CONFS[@]}"}
}
trap cleanup EXIT

throwaway_db() {
    # A new database with the addon installed: sets DB and CONF.
    DB="billwerk_bench_$1$(date +%s)_$$"
    CONF="$(mktemp --suffix=.conf)"
    DBS+=("$DB")
    CONFS+=("$CONF")
    write_odoo_config "$CONF" "$DB"
    echo "billwerk_encryption_key = benchmark-only" >>"$CONF"
    "$PY" "$(odoo_bin)" -c "$CONF" -d "$DB" -i billwerk_connector --stop-after-init \
        --log-level=warn
}

SKIP=",${BENCH_SKIP:-},"
ONLY="${BENCH_ONLY:-}"

if [ -z "$ONLY" ]; then
    throwaway_db ""
    BENCH_ODOO_BIN="$(odoo_bin)" BENCH_JSON="${BENCH_JSON:-$VAR/benchmark.json}" \
        "$PY" "$(odoo_bin)" shell -c "$CONF" -d "$DB" --no-http --log-level=warn \
        <scripts/benchmark.py
    dropdb -U "$DB_USER" --if-exists "$DB" >/dev/null 2>&1 || true
fi

if [ "$ONLY" = posting ] || { [ -z "$ONLY" ] && [[ "$SKIP" != *,posting,* ]]; }; then
    throwaway_db "posting_"
    BENCH_POSTING_JSON="${BENCH_POSTING_JSON:-$VAR/benchmark_posting.json}" \
        "$PY" "$(odoo_bin)" shell -c "$CONF" -d "$DB" --no-http --log-level=warn \
        <scripts/benchmark_posting.py
    dropdb -U "$DB_USER" --if-exists "$DB" >/dev/null 2>&1 || true
fi

if [ "$ONLY" = mrr ] || { [ -z "$ONLY" ] && [[ "$SKIP" != *,mrr,* ]]; }; then
    throwaway_db "mrr_"
    BENCH_MRR_JSON="${BENCH_MRR_JSON:-$VAR/benchmark_mrr.json}" \
        "$PY" "$(odoo_bin)" shell -c "$CONF" -d "$DB" --no-http --log-level=warn \
        <scripts/benchmark_mrr.py
fi
