#!/usr/bin/env bash
# Create .venv with the addon's runtime, the test and packaging tools (whool,
# pre-commit and its hooks) and, wherever an Odoo 18 is found (see find_odoo18
# in common.sh), Odoo 18 and its requirements; and .venv19 with Odoo 19 and its
# requirements wherever a 19.0 tree is (ODOO19_SRC, /opt/odoo19: find_odoo19).
set -euo pipefail
source "$(dirname "$0")/common.sh"

PYTHON="${PYTHON:-python3}"
found="$(find_odoo18 "$PYTHON")" || exit 1
venv_options=()
# An Odoo installed into that Python (pip, Debian): the venv sees its packages.
[ "$found" = python ] && venv_options+=(--system-site-packages)
[ -x "$PY" ] || "$PYTHON" -m venv "${venv_options[@]}" "$VENV"
"$PY" -m pip install -q --upgrade pip wheel
mkdir -p "$VAR"
site="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
rm -f "$site/odoo18-src.pth" # found again below, or not at all

case "$found" in
"tree "*)
    ODOO_TREE="${found#tree }"
    say "Odoo 18: the source tree $ODOO_TREE. Installing its requirements ..."
    install_odoo_requirements "$PY" "$ODOO_TREE"
    (cd "$ODOO_TREE" && pwd) >"$site/odoo18-src.pth"
    ;;
python)
    say "Odoo 18: the one $PYTHON imports ($("$PYTHON" -c 'import odoo, os; print(os.path.dirname(odoo.__file__))'))."
    ;;
*)
    say "Odoo 18 is not installed: only the plain suite will run. Put an Odoo 18"
    say "source tree in /opt/odoo18 (or set ODOO_SRC) and run this again."
    ;;
esac

"$PY" -m pip install -q -r "$ROOT/requirements.txt" -r "$ROOT/requirements-dev.txt"

# The git hooks of .pre-commit-config.yaml: their tools (from PyPI, prettier
# from npm) are installed now, so that `pre-commit run` works offline later.
# `.venv/bin/pre-commit install` enables them in a clone.
if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    say "Preparing the pre-commit hooks ..."
    (cd "$ROOT" && "$VENV/bin/pre-commit" install-hooks) >"$VAR/pre-commit-hooks.log" 2>&1 ||
        say "Could not prepare the pre-commit hooks ($VAR/pre-commit-hooks.log); pre-commit tries again at its first run."
fi

# The Odoo suite's browser tour runs in Debian's Chromium (HttpCase); Odoo
# skips it where no Chromium is found, and the test command says so.
if [ "$found" != "" ] && ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "Installing Debian's chromium for the browser tour ..."
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
            >"$VAR/apt-chromium.log" 2>&1 ||
            say "Could not install chromium ($VAR/apt-chromium.log): the browser tour will be skipped."
    else
        say "No chromium: the browser tour will be skipped (apt-get install chromium)."
    fi
fi

# Odoo finds addons by folder name: expose this checkout as billwerk_connector.
mkdir -p "$ADDONS_LINK_DIR"
ln -sfn "$ROOT" "$ADDONS_LINK_DIR/billwerk_connector"
if odoo_importable; then say "Set up with Odoo 18."; else say "Set up without Odoo 18."; fi

# Odoo 19.0, where a 19.0 tree is (ODOO19_SRC, /opt/odoo19): .venv19, with
# that tree's requirements and what the Odoo suite needs (pytest-odoo ...).
if ODOO19_TREE="$(find_odoo19)"; then
    say "Odoo 19: the source tree $ODOO19_TREE. Setting up $VENV19 ..."
    [ -x "$VENV19/bin/python" ] || "$PYTHON" -m venv "$VENV19"
    "$VENV19/bin/python" -m pip install -q --upgrade pip wheel
    install_odoo_requirements "$VENV19/bin/python" "$ODOO19_TREE"
    site19="$("$VENV19/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    (cd "$ODOO19_TREE" && pwd) >"$site19/odoo19-src.pth"
    suite_pins="$(mktemp)"
    grep -E '^(pytest|pytest-odoo|websocket-client)==' "$ROOT/requirements-dev.txt" |
        sed 's/[[:space:]#].*//' >"$suite_pins"
    "$VENV19/bin/python" -m pip install -q -r "$ROOT/requirements.txt" -r "$suite_pins"
    rm -f "$suite_pins"
    mkdir -p "$VENV19/addons"
    ln -sfn "$ROOT" "$VENV19/addons/billwerk_connector"
    if odoo19_importable; then say "Set up with Odoo 19."; else say "Odoo 19 does not import from $VENV19."; fi
else
    say "No Odoo 19.0 tree (ODOO19_SRC or /opt/odoo19): the test command will skip"
    say "the 19.0 series. Put one there and run this again to test both."
fi
