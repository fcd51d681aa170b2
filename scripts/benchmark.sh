#!/usr/bin/env bash
# Measure first load, write path, peak memory, idle incremental run and purge on
# a throw-away database; the sandbox runs in processes of its own (see
# benchmark.py). Prints a summary and writes JSON ($BENCH_JSON, else
# .venv/var/benchmark.json). Takes minutes.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"
odoo_importable || { say "The benchmark needs Odoo 18: see scripts/setup.sh."; exit 1; }
ensure_postgres
DB="billwerk_bench_$(date +%s)_$$"
CONF="$(mktemp --suffix=.conf)"
trap 'dropdb -U "$DB_USER" --if-exists "$DB" >/dev/null 2>&1 || true; rm -f "$CONF"' EXIT
write_odoo_config "$CONF" "$DB"
echo "billwerk_encryption_key = benchmark-only" >>"$CONF"
"$PY" "$(odoo_bin)" -c "$CONF" -d "$DB" -i billwerk_connector --stop-after-init \
    --log-level=warn
BENCH_ODOO_BIN="$(odoo_bin)" BENCH_JSON="${BENCH_JSON:-$VAR/benchmark.json}" \
    "$PY" "$(odoo_bin)" shell -c "$CONF" -d "$DB" --no-http --log-level=warn \
    <scripts/benchmark.py
