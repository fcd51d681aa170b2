#!/usr/bin/env bash
# The main job: Odoo 18 with billwerk_connector installed, connected to the
# bundled Billwerk sandbox and synced, served on http://127.0.0.1:8069.
# BILLWERK_ODOO_SERIES=19.0: the same with Odoo 19 (.venv19, database
# billwerk_demo19).
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"
SERIES="${BILLWERK_ODOO_SERIES:-18.0}"
use_series "$SERIES"
case "$SERIES" in
18.0)
    odoo_importable || {
        say "Odoo 18 is not installed in .venv: put an Odoo 18 source tree in /opt/odoo18"
        say "(or set ODOO_SRC) and run scripts/setup.sh."
        exit 1
    }
    DEFAULT_DB=billwerk_demo
    ;;
19.0)
    odoo19_importable || {
        say "Odoo 19 is not installed in .venv19: put an Odoo 19.0 source tree in"
        say "/opt/odoo19 (or set ODOO19_SRC) and run scripts/setup.sh."
        exit 1
    }
    DEFAULT_DB=billwerk_demo19
    ;;
esac
ensure_postgres

DB="${BILLWERK_DEMO_DB:-$DEFAULT_DB}"
HTTP_PORT="${BILLWERK_HTTP_PORT:-8069}"
SANDBOX_PORT="${BILLWERK_SANDBOX_PORT:-8070}"
CUSTOMERS="${BILLWERK_DEMO_CUSTOMERS:-500}"
CONF="$VAR/demo.conf"
mkdir -p "$VAR"
write_odoo_config "$CONF" "$DB" "$HTTP_PORT"
# The demo's encryption secret, made once: the documented server option.
[ -s "$VAR/encryption.secret" ] ||
    "$PY" -c 'import secrets; print(secrets.token_urlsafe(32))' >"$VAR/encryption.secret"
echo "billwerk_encryption_key = $(cat "$VAR/encryption.secret")" >>"$CONF"

# The sandbox: same seed, same accounts and keys at every start.
"$PY" -m sandbox --port "$SANDBOX_PORT" --customers "$CUSTOMERS" >"$VAR/sandbox.out" &
SANDBOX_PID=$!
trap 'kill "$SANDBOX_PID" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    grep -q "^account" "$VAR/sandbox.out" 2>/dev/null && break
    kill -0 "$SANDBOX_PID" 2>/dev/null || { say "The sandbox did not start."; exit 1; }
    sleep 0.2
done
SANDBOX_URL="$(awk -F'\t' '$1 == "url" {print $2; exit}' "$VAR/sandbox.out")"
SANDBOX_KEY="$(awk -F'\t' '$1 == "account" {print $2; exit}' "$VAR/sandbox.out")"
say "Billwerk sandbox: $SANDBOX_URL"

ODOO_BIN="$(odoo_bin)"
if ! psql -U "$DB_USER" -d postgres -Atc "select 1 from pg_database where datname = '$DB'" |
    grep -q 1; then
    say "Creating database $DB with billwerk_connector ..."
    "$PY" "$ODOO_BIN" -c "$CONF" -d "$DB" -i billwerk_connector --stop-after-init \
        --log-level=warn
else
    # The database of an earlier run: bring it to this checkout's version.
    say "Updating billwerk_connector in $DB ..."
    "$PY" "$ODOO_BIN" -c "$CONF" -d "$DB" -u billwerk_connector --stop-after-init \
        --log-level=warn
fi
check_nothing_left_to_install "$DB"
BILLWERK_DEMO_URL="$SANDBOX_URL" BILLWERK_DEMO_KEY="$SANDBOX_KEY" \
    BILLWERK_DEMO_ODOO_URL="http://127.0.0.1:$HTTP_PORT" \
    "$PY" "$ODOO_BIN" shell -c "$CONF" -d "$DB" --no-http --log-level=warn \
    <scripts/connect_demo.py

# Odoo restarts itself (after a worker limit, or a module install) by running
# "python" again, found on PATH: the environment's, not the machine's.
export PATH="$VENV/bin:$PATH"
say ""
say "Odoo is starting on http://127.0.0.1:$HTTP_PORT  (login: admin, password: admin)"
say "Financial > Setup > Billwerk account. Ctrl-C stops Odoo and the sandbox."
"$PY" "$ODOO_BIN" -c "$CONF" -d "$DB" --log-level=info
