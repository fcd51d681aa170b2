#!/usr/bin/env bash
# The whole test suite: ruff, pylint-odoo (OCA 18.0 settings), the plain suite
# (the wheels' test among it), and the Odoo suite on a throw-away database of
# every series found (18.0: .venv, see find_odoo18; 19.0: .venv19, see
# find_odoo19), into which the addon installs from that series' wheel. A series
# not found is skipped, and said so loudly.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"
[ -x "$PY" ] || { say "No .venv: run scripts/setup.sh first."; exit 1; }

# The wheels' test (tests/plain/test_wheel.py) builds and installs the wheel
# of each series here (<dir>/18.0, <dir>/19.0), and leaves them for the Odoo
# suites' installs.
export BILLWERK_WHEEL_DIR
BILLWERK_WHEEL_DIR="$(mktemp -d)"
DBS=() TMP_FILES=()
cleanup() {
    for db in "${DBS[@]}"; do
        dropdb -U "$DB_USER" --if-exists "$db" >/dev/null 2>&1 || true
        rm -rf "$VAR/data/filestore/$db"
    done
    rm -rf "$BILLWERK_WHEEL_DIR" "${TMP_FILES[@]}"
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

odoo_suite() {
    # The Odoo suite of series $1 (18.0 or 19.0) on a throw-away database.
    local series="$1" db conf wheel_conf install_log wheel wheel_addons http_port state
    use_series "$series"
    say "== Odoo suite (Odoo $series, pytest-odoo)"
    db="billwerk_test_${series%%.*}_$(date +%s)_$$"
    DBS+=("$db")
    conf="$(mktemp --suffix=.conf)"
    wheel_conf="$(mktemp --suffix=.conf)"
    install_log="$(mktemp --suffix=.log)"
    TMP_FILES+=("$conf" "$wheel_conf" "$install_log")
    # The browser tour needs Odoo's HTTP server: a free port, not run.sh's 8069.
    http_port="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    write_odoo_config "$conf" "$db" "$http_port"

    # The addon installs from the series' wheel, as an integrator's pip puts
    # it: the odoo/addons of the environment the wheel's test installed it into
    # stands on the addons path instead of this checkout.
    wheel="$(ls "$BILLWERK_WHEEL_DIR/$series"/dist/*.whl 2>/dev/null || true)"
    wheel_addons=""
    [ -x "$BILLWERK_WHEEL_DIR/$series/venv/bin/python" ] &&
        wheel_addons="$("$BILLWERK_WHEEL_DIR/$series/venv/bin/python" -c \
            'import sysconfig; print(sysconfig.get_paths()["purelib"])')/odoo/addons"
    if [ -z "$wheel" ] || [ ! -f "$wheel_addons/billwerk_connector/__manifest__.py" ]; then
        say "The wheel's test left no installed $series wheel in $BILLWERK_WHEEL_DIR (deselected?)."
        exit 1
    fi
    write_odoo_config "$wheel_conf" "$db" "$http_port" "$wheel_addons"

    # The addon must install without a warning or an error of its own.
    "$PY" "$(odoo_bin)" -c "$wheel_conf" -d "$db" -i billwerk_connector --stop-after-init \
        --log-level=warn >"$install_log" 2>&1 || {
        cat "$install_log"
        say "The install from $(basename "$wheel") failed. The wheel holds the files git"
        say "tracks: a new file that the addon imports or loads must be added (git add)."
        exit 1
    }
    # odoo-bin -i exits 0 even when it leaves the module uninstalled (Odoo
    # 19 with an 18.0 version: "not installable").
    state="$(psql -U "$DB_USER" -d "$db" -Atc \
        "SELECT state FROM ir_module_module WHERE name = 'billwerk_connector'")"
    if [ "$state" != installed ]; then
        cat "$install_log"
        say "billwerk_connector is '${state:-unknown}' in $db after -i, not installed (Odoo $series)."
        exit 1
    fi
    # The addon's own loggers, a core logger naming the addon's models in its
    # message (not the database's name, which also says billwerk), or a model
    # attribute the series does not support (Odoo 19 ignores _sql_constraints
    # with such a warning, naming no addon): other core warnings are the Odoo
    # tree's business.
    if grep -E "^\S+ \S+ [0-9]+ (WARNING|ERROR|CRITICAL) \S+ (odoo\.addons\.billwerk_connector\S*|\S+: .*billwerk|\S+: .*[Mm]odel attribute .*(not|no longer) supported)" \
        "$install_log"; then
        say "The install of billwerk_connector on Odoo $series logged the warnings or errors above."
        exit 1
    fi
    check_nothing_left_to_install "$db"
    say "billwerk_connector installed cleanly in $db from $(basename "$wheel"), nothing left to install."
    # The unique constraints behind the exactly-once guarantees, in the
    # database (plain: read with psql, whatever the ORM believes).
    BILLWERK_INSTALLED_DB="$db" PGUSER="$DB_USER" "$ROOT/.venv/bin/python" -m pytest \
        -p no:odoo -p no:cacheprovider --rootdir tests/plain --confcutdir tests/plain \
        tests/plain/test_installed_database.py -q

    # Paths through the billwerk_connector link: pytest-odoo names test modules
    # odoo.addons.<folder name>.tests..., and a checkout may be called anything.
    local addon="$ADDONS_LINK_DIR/billwerk_connector"
    # -rs: a skipped test (the browser tour without Chromium) says why.
    # --durations: the ten slowest tests, so that a slow one is seen.
    "$PY" -m pytest -p no:cacheprovider -W ignore::DeprecationWarning --odoo-http -rs \
        --durations=10 --durations-min=1 \
        --odoo-config "$conf" --odoo-database "$db" \
        --rootdir "$addon" --ignore "$addon/tests/plain" "$addon/tests" -q

    # Odoo's own runner does not run the suite a second time (README, "Tests"):
    # it runs the test that its loader collects every test module and method of
    # the addon, and the webhook tests through its own HTTP server.
    say "== Odoo $series's own runner (odoo-bin --test-enable): collection and the webhook route"
    local runner_log summary
    runner_log="$(mktemp --suffix=.log)"
    TMP_FILES+=("$runner_log")
    "$PY" "$(odoo_bin)" -c "$conf" -d "$db" --stop-after-init --test-enable \
        --test-tags "/billwerk_connector:TestOdooRunnerSeesEveryTest,/billwerk_connector:TestWebhooks" \
        --log-level=test >"$runner_log" 2>&1 ||
        { cat "$runner_log"; exit 1; }
    summary="$(grep -E "odoo.tests.result: .* of [0-9]+ tests" "$runner_log" |
        sed 's/.*odoo.tests.result: //' || true)"
    # Figures the tests report (not asserted: timings depend on the machine).
    grep -oE "webhook route: .*" "$runner_log" | sed 's/^/   /' || true
    say "odoo-bin ($series): $summary"
    case "$summary" in
    "0 failed, 0 error(s) of "*) ;;
    *) say "Odoo $series's test runner reported failures."; exit 1 ;;
    esac
}

SERIES_RUN=() SERIES_SKIPPED=()
if odoo_importable; then SERIES_RUN+=(18.0); else SERIES_SKIPPED+=(18.0); fi
if odoo19_importable; then SERIES_RUN+=(19.0); else SERIES_SKIPPED+=(19.0); fi
for series in "${SERIES_SKIPPED[@]}"; do
    say "!! ODOO $series SUITE SKIPPED: no Odoo $series environment (18.0: .venv with an"
    say "!! Odoo 18 tree in /opt/odoo18 or ODOO_SRC; 19.0: .venv19 with a tree in"
    say "!! /opt/odoo19 or ODOO19_SRC). Put the tree there and run scripts/setup.sh again."
done
if [ "${#SERIES_RUN[@]}" = 0 ]; then
    say "!! Only the plain suite ran."
    exit 0
fi
ensure_postgres
for series in "${SERIES_RUN[@]}"; do
    odoo_suite "$series"
done
use_series 18.0

if odoo_importable; then
    say "== upgrade from the previous version (-u keeps the synchronized data, Odoo 18)"
    bash "$ROOT/scripts/upgrade_check.sh"
fi
say "Odoo suites run: ${SERIES_RUN[*]}${SERIES_SKIPPED:+; SKIPPED: ${SERIES_SKIPPED[*]}}."
