#!/usr/bin/env bash
# Regenerate i18n/billwerk_connector.pot from the committed addon.
# Odoo walks the addon's folder, and .venv/ holds a link back to it: export
# from a clean copy (git archive of HEAD) so the walk ends.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"
odoo_importable || { say "Exporting the template needs Odoo 18: see scripts/setup.sh."; exit 1; }
ensure_postgres
WORK="$(mktemp -d)"
DB="billwerk_pot_$(date +%s)_$$"
trap 'dropdb -U "$DB_USER" --if-exists "$DB" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/addons/billwerk_connector"
git archive HEAD | tar -x -C "$WORK/addons/billwerk_connector"
write_odoo_config "$WORK/odoo.conf" "$DB"
sed -i "s#^addons_path = .*#addons_path = $(odoo_addons_path),$WORK/addons#" "$WORK/odoo.conf"
"$PY" "$(odoo_bin)" -c "$WORK/odoo.conf" -d "$DB" -i billwerk_connector --stop-after-init \
    --log-level=warn
"$PY" "$(odoo_bin)" -c "$WORK/odoo.conf" -d "$DB" --modules=billwerk_connector \
    --i18n-export="$ROOT/i18n/billwerk_connector.pot" --stop-after-init --log-level=warn
say "Wrote i18n/billwerk_connector.pot; update i18n/de.po and i18n/da.po to match."
