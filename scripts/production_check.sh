#!/usr/bin/env bash
# The production proof of issue 19 (see scripts/production_check.py): Odoo with
# --workers=2 --max-cron-threads=1 and 20 s limits, two servers on one
# throw-away database, the sandbox in its own process, driven through HTTP
# only. Prints the figures; exits 1 with a sentence per failed check. Takes a
# few minutes: CI runs it as its own step, never the test command.
# PRODUCTION_CHECK_PORTS="A,B,SANDBOX" pins the ports (free ones otherwise).
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"
odoo_importable || { say "The production check needs Odoo 18: see scripts/setup.sh."; exit 1; }
ensure_postgres
DB="billwerk_prodcheck_$(date +%s)_$$"
CONF="$(mktemp --suffix=.conf)"
cleanup() {
    # The script drops its database itself; this is for a script killed hard.
    dropdb -U "$DB_USER" --if-exists "$DB" >/dev/null 2>&1 || true
    rm -f "$CONF"
}
trap cleanup EXIT
write_odoo_config "$CONF" "$DB"
echo "billwerk_encryption_key = production-check-only" >>"$CONF"
# Odoo restarts a worker's interpreter as "python" found on PATH.
export PATH="$VENV/bin:$PATH"
PYTHONPATH="$ROOT" PRODUCTION_CHECK_CONF="$CONF" PRODUCTION_CHECK_DB="$DB" \
    PRODUCTION_CHECK_ODOO_BIN="$(odoo_bin)" \
    PRODUCTION_CHECK_LOGS="${PRODUCTION_CHECK_LOGS:-$VAR/production-check}" \
    "$PY" scripts/production_check.py
