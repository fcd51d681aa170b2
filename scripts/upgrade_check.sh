#!/usr/bin/env bash
# `-u` from the last released version keeps the synchronized data: install the
# previous manifest version (from git history) in a throw-away database, sync it
# against the sandbox, upgrade it to this checkout, compare. Called by test.sh;
# skipped, loudly, where git history or Odoo is missing.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"
odoo_importable || { say "upgrade check skipped: no Odoo 18."; exit 0; }

# The version Odoo 18 installs: a manifest version without series (2.1.0,
# since the tree serves 18.0 and 19.0) is prefixed with 18.0, as Odoo does.
on_18() { case "$1" in 18.0.*) echo "$1" ;; ?*) echo "18.0.$1" ;; esac; }
version_at() { on_18 "$(git show "$1:__manifest__.py" 2>/dev/null | sed -n 's/.*"version": "\([^"]*\)".*/\1/p')"; }
current="$(on_18 "$(sed -n 's/.*"version": "\([^"]*\)".*/\1/p' __manifest__.py)")"
previous_rev=""
# The last commit of the previous version (not the commit that bumped it: the
# version's own later commits are part of what its users run).
for rev in $(git log --first-parent --format=%H 2>/dev/null); do
    version="$(version_at "$rev")"
    if [ -n "$version" ] && [ "$version" != "$current" ]; then
        previous_rev="$rev"
        previous="$version"
        break
    fi
done
if [ -z "$previous_rev" ]; then
    say "!! UPGRADE CHECK SKIPPED: no earlier manifest version in the git history (shallow clone?)."
    exit 0
fi
say "== upgrade check: $previous (${previous_rev:0:8}) -> $current"

ensure_postgres
WORK="$(mktemp -d)"
DB="billwerk_upgrade_$(date +%s)_$$"
SANDBOX_PID=""
cleanup() {
    [ -n "$SANDBOX_PID" ] && kill "$SANDBOX_PID" 2>/dev/null || true
    dropdb -U "$DB_USER" --if-exists "$DB" >/dev/null 2>&1 || true
    rm -rf "$WORK" "$VAR/data/filestore/$DB"
}
trap cleanup EXIT
mkdir -p "$WORK/old/billwerk_connector"
git archive "$previous_rev" | tar -x -C "$WORK/old/billwerk_connector"
write_odoo_config "$WORK/old.conf" "$DB" 8069 "$WORK/old"
write_odoo_config "$WORK/new.conf" "$DB"
echo "billwerk_encryption_key = upgrade-check-only" | tee -a "$WORK/old.conf" >>"$WORK/new.conf"

# The previous version's own sandbox, as its users had it.
(cd "$WORK/old/billwerk_connector" && exec "$PY" -m sandbox --customers 60 --seed 5) \
    >"$WORK/sandbox.out" &
SANDBOX_PID=$!
for _ in $(seq 100); do
    grep -q "^account" "$WORK/sandbox.out" 2>/dev/null && break
    sleep 0.2
done
url="$(awk -F'\t' '$1 == "url" {print $2; exit}' "$WORK/sandbox.out")"
key="$(awk -F'\t' '$1 == "account" {print $2; exit}' "$WORK/sandbox.out")"

"$PY" "$(odoo_bin)" -c "$WORK/old.conf" -d "$DB" -i billwerk_connector --stop-after-init \
    --log-level=warn
BILLWERK_DEMO_URL="$url" BILLWERK_DEMO_KEY="$key" \
    "$PY" "$(odoo_bin)" shell -c "$WORK/old.conf" -d "$DB" --no-http --log-level=warn \
    <"$WORK/old/billwerk_connector/scripts/connect_demo.py" >/dev/null

counts() {
    psql -U "$DB_USER" -d "$DB" -Atc "SELECT
        (SELECT count(*) FROM billwerk_plan) || ' plans, ' ||
        (SELECT count(*) FROM billwerk_customer) || ' customers, ' ||
        (SELECT count(*) FROM billwerk_subscription) || ' subscriptions, ' ||
        (SELECT count(*) FROM billwerk_invoice) || ' invoices, ' ||
        (SELECT count(*) FROM billwerk_sync_run) || ' runs, ' ||
        (SELECT count(*) FROM billwerk_account WHERE api_key_encrypted IS NOT NULL) || ' keys'"
}
before="$(counts)"
"$PY" "$(odoo_bin)" -c "$WORK/new.conf" -d "$DB" -u billwerk_connector --stop-after-init \
    --log-level=warn
after="$(counts)"
installed="$(psql -U "$DB_USER" -d "$DB" -Atc "SELECT latest_version FROM ir_module_module
    WHERE name = 'billwerk_connector' AND state = 'installed'")"
check_nothing_left_to_install "$DB"
say "before: $before"
say "after:  $after (installed: $installed)"
if [ "$before" != "$after" ] || [ "$installed" != "$current" ]; then
    say "The upgrade from $previous lost data or did not install $current."
    exit 1
fi
# The upgraded database still syncs with its stored key: against this
# checkout's sandbox (same seed, so the same account and key), which serves
# what the new version reads.
kill "$SANDBOX_PID" 2>/dev/null || true
"$PY" -m sandbox --customers 60 --seed 5 >"$WORK/sandbox.out" &
SANDBOX_PID=$!
for _ in $(seq 100); do
    grep -q "^account" "$WORK/sandbox.out" 2>/dev/null && break
    sleep 0.2
done
url="$(awk -F'\t' '$1 == "url" {print $2; exit}' "$WORK/sandbox.out")"
BILLWERK_DEMO_URL="$url" "$PY" "$(odoo_bin)" shell -c "$WORK/new.conf" -d "$DB" --no-http \
    --log-level=warn <<'PY'
import os
account = env["billwerk.account"].search([], limit=1)
account.sudo().api_url = os.environ["BILLWERK_DEMO_URL"]
run = env["billwerk.sync.run"]._run_for(account, trigger="manual")
assert run.state in ("done", "warning"), run.error_message
env.cr.commit()
print(f"upgraded database synced again: {run.state}")
PY
say "Upgrade from $previous keeps the data."
