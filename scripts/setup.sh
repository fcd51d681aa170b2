#!/usr/bin/env bash
# Create .venv with the addon's runtime, the test tools and, when ODOO_SRC
# points at an Odoo 18 source tree, Odoo 18 and its requirements.
set -euo pipefail
source "$(dirname "$0")/common.sh"

PYTHON="${PYTHON:-python3}"
[ -x "$PY" ] || "$PYTHON" -m venv "$VENV"
"$PY" -m pip install -q --upgrade pip wheel

if odoo_src_ok; then
    say "Installing Odoo 18 requirements from $ODOO_SRC ..."
    # python-ldap needs LDAP headers and serves only auth_ldap; psycopg2 is
    # replaced by its wheel. Old sdists pinned by Odoo still import
    # pkg_resources, which setuptools >= 70 no longer ships.
    filtered="$(mktemp)"
    grep -v -i -E '^(python-ldap|psycopg2)\b' "$ODOO_SRC/requirements.txt" >"$filtered"
    constraints="$(mktemp)"
    echo 'setuptools<70' >"$constraints"
    "$PY" -m pip install -q --build-constraint "$constraints" -r "$filtered" psycopg2-binary
    rm -f "$filtered" "$constraints"
    site="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    (cd "$ODOO_SRC" && pwd) >"$site/odoo18-src.pth"
elif [ -n "${ODOO_SRC:-}" ]; then
    say "ODOO_SRC=$ODOO_SRC is not an Odoo 18 source tree (no odoo/release.py saying 18.0)."
    exit 1
else
    say "ODOO_SRC is not set: Odoo 18 is not installed, only the plain suite will run."
    say "Point ODOO_SRC at an Odoo 18 source tree and run this again to add it."
fi

"$PY" -m pip install -q -r "$ROOT/requirements.txt" -r "$ROOT/requirements-dev.txt"

# Odoo finds addons by folder name: expose this checkout as billwerk_connector.
mkdir -p "$ADDONS_LINK_DIR" "$VAR"
ln -sfn "$ROOT" "$ADDONS_LINK_DIR/billwerk_connector"
if odoo_importable; then say "Set up with Odoo 18."; else say "Set up without Odoo."; fi
