#!/usr/bin/env bash
# The whole test suite: ruff, pylint-odoo (OCA 18.0 settings), the plain suite
# (the wheel's test among it), and the Odoo suite on a throw-away database, into
# which the addon installs from that wheel, when Odoo 18 is importable.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"
[ -x "$PY" ] || { say "No .venv: run scripts/setup.sh first."; exit 1; }

# The wheel's test (tests/plain/test_wheel.py) builds and installs the wheel
# here, and leaves it for the Odoo suite's install.
export BILLWERK_WHEEL_DIR
BILLWERK_WHEEL_DIR="$(mktemp -d)"
DB="" CONF="" WHEEL_CONF="" INSTALL_LOG=""
cleanup() {
    if [ -n "$DB" ]; then
        dropdb -U "$DB_USER" --if-exists "$DB" >/dev/null 2>&1 || true
        rm -rf "$VAR/data/filestore/$DB"
    fi
    rm -rf "$BILLWERK_WHEEL_DIR" "$CONF" "$WHEEL_CONF" "$INSTALL_LOG"
}
trap cleanup EXIT

say "== pre-commit pins (ruff and pylint-odoo as in requirements-dev.txt)"
# .pre-commit-config.yaml installs them on its own: the same versions, or
# `pre-commit run` and this command could judge differently.
for tool in ruff pylint-odoo; do
    pin="$(grep -E "^$tool==" requirements-dev.txt | sed 's/[[:space:]#].*//' || true)"
    used="$(grep -oE "\"$tool==[^\"]+\"" .pre-commit-config.yaml | tr -d '"' | sort -u || true)"
    if [ "$used" != "$pin" ]; then
        say ".pre-commit-config.yaml installs ${used:-no $tool}, requirements-dev.txt $pin: make them agree."
        exit 1
    fi
done

say "== ruff"
"$VENV/bin/ruff" check --no-fix .
"$VENV/bin/ruff" format --check .

say "== pylint-odoo"
"$VENV/bin/pylint" --rcfile=.pylintrc --recursive=y --ignore=.venv .

say "== plain suite (no Odoo)"
# Its own rootdir, so that pytest never imports the addon's __init__ (Odoo);
# --confcutdir, as pytest would otherwise start collecting at the folder of the
# root's pyproject.toml, the addon (a package), and import it.
"$PY" -m pytest -p no:odoo -p no:cacheprovider --rootdir tests/plain --confcutdir tests/plain \
    tests/plain -q

if ! odoo_importable; then
    say "!! ODOO SUITE SKIPPED: Odoo 18 is not importable from .venv. Put an Odoo 18"
    say "!! source tree in /opt/odoo18 (or set ODOO_SRC) and run scripts/setup.sh"
    say "!! again. Only the plain suite ran."
    exit 0
fi

say "== Odoo suite (Odoo 18, pytest-odoo)"
ensure_postgres
DB="billwerk_test_$(date +%s)_$$"
CONF="$(mktemp --suffix=.conf)"
WHEEL_CONF="$(mktemp --suffix=.conf)"
INSTALL_LOG="$(mktemp --suffix=.log)"
# The browser tour needs Odoo's HTTP server: a free port, not run.sh's 8069.
HTTP_PORT="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
write_odoo_config "$CONF" "$DB" "$HTTP_PORT"

# The addon installs from the wheel, as an integrator's pip puts it: the
# odoo/addons of the environment the wheel's test installed it into stands on
# the addons path instead of this checkout.
WHEEL="$(ls "$BILLWERK_WHEEL_DIR"/dist/*.whl 2>/dev/null || true)"
WHEEL_ADDONS=""
[ -x "$BILLWERK_WHEEL_DIR/venv/bin/python" ] &&
    WHEEL_ADDONS="$("$BILLWERK_WHEEL_DIR/venv/bin/python" -c \
        'import sysconfig; print(sysconfig.get_paths()["purelib"])')/odoo/addons"
if [ -z "$WHEEL" ] || [ ! -f "$WHEEL_ADDONS/billwerk_connector/__manifest__.py" ]; then
    say "The wheel's test left no installed wheel in $BILLWERK_WHEEL_DIR (deselected?)."
    exit 1
fi
write_odoo_config "$WHEEL_CONF" "$DB" "$HTTP_PORT" "$WHEEL_ADDONS"

# The addon must install without a warning or an error of its own.
"$PY" "$(odoo_bin)" -c "$WHEEL_CONF" -d "$DB" -i billwerk_connector --stop-after-init \
    --log-level=warn >"$INSTALL_LOG" 2>&1 || {
    cat "$INSTALL_LOG"
    say "The install from $(basename "$WHEEL") failed. The wheel holds the files git"
    say "tracks: a new file that the addon imports or loads must be added (git add)."
    exit 1
}
# The addon's own loggers, or a core logger naming the addon's models in its
# message (not the database's name, which also says billwerk): other core
# warnings are the Odoo tree's business.
if grep -E "^\S+ \S+ [0-9]+ (WARNING|ERROR|CRITICAL) \S+ (odoo\.addons\.billwerk_connector\S*|\S+: .*billwerk)" \
    "$INSTALL_LOG"; then
    say "The install of billwerk_connector logged the warnings or errors above."
    exit 1
fi
check_nothing_left_to_install "$DB"
say "billwerk_connector installed cleanly in $DB from $(basename "$WHEEL"), nothing left to install."

# Paths through the billwerk_connector link: pytest-odoo names test modules
# odoo.addons.<folder name>.tests..., and a checkout may be called anything.
ADDON="$ADDONS_LINK_DIR/billwerk_connector"
# -rs: a skipped test (the browser tour without Chromium) says why.
# --durations: the ten slowest tests, so that a slow one is seen.
"$PY" -m pytest -p no:cacheprovider -W ignore::DeprecationWarning --odoo-http -rs \
    --durations=10 --durations-min=1 \
    --odoo-config "$CONF" --odoo-database "$DB" \
    --rootdir "$ADDON" --ignore "$ADDON/tests/plain" "$ADDON/tests" -q

# Odoo's own runner does not run the suite a second time (README, "Tests"):
# it runs the test that its loader collects every test module and method of
# the addon, and the webhook tests through its own HTTP server.
say "== Odoo's own runner (odoo-bin --test-enable): collection and the webhook route"
RUNNER_LOG="$(mktemp --suffix=.log)"
"$PY" "$(odoo_bin)" -c "$CONF" -d "$DB" --stop-after-init --test-enable \
    --test-tags "/billwerk_connector:TestOdooRunnerSeesEveryTest,/billwerk_connector:TestWebhooks" \
    --log-level=test >"$RUNNER_LOG" 2>&1 ||
    { cat "$RUNNER_LOG"; rm -f "$RUNNER_LOG"; exit 1; }
summary="$(grep -E "odoo.tests.result: .* of [0-9]+ tests" "$RUNNER_LOG" |
    sed 's/.*odoo.tests.result: //' || true)"
# Figures the tests report (not asserted: timings depend on the machine).
grep -oE "webhook route: .*" "$RUNNER_LOG" | sed 's/^/   /' || true
rm -f "$RUNNER_LOG"
say "odoo-bin: $summary"
case "$summary" in
"0 failed, 0 error(s) of "*) ;;
*) say "Odoo's test runner reported failures."; exit 1 ;;
esac

say "== upgrade from the previous version (-u keeps the synchronized data)"
bash "$ROOT/scripts/upgrade_check.sh"
