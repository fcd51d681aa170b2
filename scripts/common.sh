#!/usr/bin/env bash
# Shared by setup.sh, test.sh and run.sh: paths, the Odoo source tree and a
# PostgreSQL server to talk to. Sourced, never run.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
ADDONS_LINK_DIR="$VENV/addons"           # holds billwerk_connector -> $ROOT
VAR="$VENV/var"                          # data dir, logs, local PostgreSQL
DB_USER="${BILLWERK_DB_USER:-billwerk_odoo}"
# Odoo 19.0: a virtual environment of its own (its requirements differ), set
# up by setup.sh wherever a 19.0 tree is found (find_odoo19).
VENV19="$ROOT/.venv19"

say() { printf '%s\n' "$*" >&2; }

is_odoo18_tree() {
    # An Odoo 18 source tree: $1/odoo/release.py says 18.0.
    [ -f "$1/odoo/release.py" ] && grep -q "^version_info = (18, 0" "$1/odoo/release.py"
}

python_has_odoo18() {
    "$1" -c 'import odoo.release as r, sys; sys.exit(r.version_info[:2] != (18, 0))' \
        >/dev/null 2>&1
}

find_odoo18() {
    # Where Odoo 18 is, in this order: $ODOO_SRC; an odoo that the Python
    # building the venv imports and that says 18.0 (pip or Debian package);
    # odoo* folders under /opt, the home folder and beside the checkout.
    # Prints "tree PATH" or "python", or nothing; says where it looked.
    local python="$1" candidate looked=()
    if [ -n "${ODOO_SRC:-}" ]; then
        is_odoo18_tree "$ODOO_SRC" && { echo "tree $ODOO_SRC"; return; }
        say "ODOO_SRC=$ODOO_SRC is not an Odoo 18 source tree (no odoo/release.py saying 18.0)."
        return 1
    fi
    looked+=("ODOO_SRC (not set)")
    if python_has_odoo18 "$python"; then echo python; return; fi
    looked+=("'import odoo' with $python")
    for candidate in /opt/odoo* "${HOME:-/root}"/odoo* "$(dirname "$ROOT")"/odoo*; do
        [ -d "$candidate" ] || continue
        if is_odoo18_tree "$candidate"; then echo "tree $candidate"; return; fi
        looked+=("$candidate")
    done
    looked+=("/opt/odoo*" "${HOME:-/root}/odoo*" "$(dirname "$ROOT")/odoo*")
    say "No Odoo 18 found. Looked at: ${looked[*]}"
}

odoo_importable() {
    "$PY" -c 'import odoo.release as r, sys; sys.exit(r.version_info[:2] != (18, 0))' \
        >/dev/null 2>&1
}

is_odoo19_tree() {
    [ -f "$1/odoo/release.py" ] && grep -q "^version_info = (19, 0" "$1/odoo/release.py"
}

find_odoo19() {
    # An Odoo 19.0 source tree: $ODOO19_SRC, else /opt/odoo19. Prints its path.
    if [ -n "${ODOO19_SRC:-}" ]; then
        is_odoo19_tree "$ODOO19_SRC" && { echo "$ODOO19_SRC"; return; }
        say "ODOO19_SRC=$ODOO19_SRC is not an Odoo 19.0 source tree (no odoo/release.py saying 19.0)."
        return 1
    fi
    is_odoo19_tree /opt/odoo19 && { echo /opt/odoo19; return; }
    return 1
}

odoo19_importable() {
    "$VENV19/bin/python" -c 'import odoo.release as r, sys; sys.exit(r.version_info[:2] != (19, 0))' \
        >/dev/null 2>&1
}

use_series() {
    # Point PY, VENV and ADDONS_LINK_DIR (odoo_bin, odoo_addons_path,
    # write_odoo_config) at the environment of series $1: 18.0 or 19.0.
    case "$1" in
    18.0) VENV="$ROOT/.venv" ;;
    19.0) VENV="$VENV19" ;;
    *) say "unknown series $1"; return 1 ;;
    esac
    PY="$VENV/bin/python"
    ADDONS_LINK_DIR="$VENV/addons"
}

install_odoo_requirements() {
    # $1: python, $2: Odoo source tree. python-ldap needs LDAP headers and
    # serves only auth_ldap; psycopg2 is replaced by its wheel. Old sdists
    # pinned by Odoo still import pkg_resources, which setuptools >= 70 no
    # longer ships.
    local filtered constraints
    filtered="$(mktemp)"
    grep -v -i -E '^(python-ldap|psycopg2)\b' "$2/requirements.txt" >"$filtered"
    constraints="$(mktemp)"
    echo 'setuptools<70' >"$constraints"
    "$1" -m pip install -q --build-constraint "$constraints" -r "$filtered" psycopg2-binary
    rm -f "$filtered" "$constraints"
    # With --workers, Odoo runs its bus in a gevent process; gevent finds
    # zope.interface through pkg_resources, and the venv's own setuptools
    # (65) does not know the normalized name of its dist-info folder
    # (zope_interface-*.dist-info): that process died at every start, 4 s
    # apart. A setuptools that still ships pkg_resources and reads the name.
    "$1" -m pip install -q 'setuptools>=75,<80'
}

odoo_bin() {
    # setup/odoo-bin (or odoo-bin) of a source tree; for a pip or Debian
    # install, a launcher of our own doing what odoo-bin does.
    local src
    # (odoo.__path__: Odoo 19's odoo is a namespace package, without __file__.)
    src="$("$PY" -c 'import odoo, os; print(os.path.dirname(list(odoo.__path__)[0]))')"
    if [ -f "$src/odoo-bin" ]; then
        echo "$src/odoo-bin"
    elif [ -f "$src/setup/odoo-bin" ]; then
        echo "$src/setup/odoo-bin"
    else
        printf '%s\n' "__import__('os').environ['TZ'] = 'UTC'" \
            "import odoo.cli" "odoo.cli.main()" >"$VENV/odoo-launcher.py"
        echo "$VENV/odoo-launcher.py"
    fi
}

odoo_addons_path() {
    # odoo/addons (base, and every addon in a nightly tree), plus the top-level
    # addons/ folder of a git checkout of Odoo, when there is one.
    "$PY" - <<'PY'
import os, odoo.addons
core = list(odoo.addons.__path__)[0]  # Odoo 19: a namespace package
extra = os.path.join(os.path.dirname(os.path.dirname(core)), "addons")
print(core + ("," + extra if os.path.isdir(os.path.join(extra, "web")) else ""))
PY
}

# PostgreSQL: the one answering on PGHOST:PGPORT (default 127.0.0.1:5432), or
# one started here from the machine's binaries, in $VAR/pgdata on port 5439.
ensure_postgres() {
    export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}"
    if pg_isready -q -h "$PGHOST" -p "$PGPORT" 2>/dev/null; then
        ensure_db_role
        return
    fi
    say "No PostgreSQL answers on $PGHOST:$PGPORT: starting a local one in $VAR/pgdata (port 5439)."
    local bindir initdb pg_ctl run_as=()
    bindir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    initdb="$(command -v initdb || echo "$bindir/initdb")"
    pg_ctl="$(command -v pg_ctl || echo "$bindir/pg_ctl")"
    [ -x "$initdb" ] || { say "No PostgreSQL binaries (initdb) found: install PostgreSQL."; return 1; }
    mkdir -p "$VAR"
    if [ "$(id -u)" = 0 ]; then
        # PostgreSQL refuses to run as root: use its own system user.
        id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
        run_as=(runuser -u postgres --)
        chown postgres "$VAR"
    fi
    if [ ! -f "$VAR/pgdata/PG_VERSION" ]; then
        "${run_as[@]}" "$initdb" -D "$VAR/pgdata" -U postgres --auth=trust >/dev/null
    fi
    export PGHOST=127.0.0.1 PGPORT=5439
    if ! pg_isready -q -h "$PGHOST" -p "$PGPORT"; then
        "${run_as[@]}" "$pg_ctl" -D "$VAR/pgdata" -l "$VAR/pgdata/server.log" -w \
            -o "-p $PGPORT -k /tmp -c listen_addresses=127.0.0.1" start >/dev/null
    fi
    ensure_db_role
}

ensure_db_role() {
    # Odoo refuses to connect as `postgres`: a role of its own, allowed to create
    # throw-away databases.
    if psql -U "$DB_USER" -d postgres -Atc 'select 1' >/dev/null 2>&1; then
        return
    fi
    psql -U postgres -d postgres -qc "CREATE ROLE \"$DB_USER\" LOGIN CREATEDB" >/dev/null 2>&1 ||
        psql -d postgres -qc "CREATE ROLE \"$DB_USER\" LOGIN CREATEDB" >/dev/null 2>&1 || {
        say "Cannot create the PostgreSQL role $DB_USER; create it (LOGIN CREATEDB) or set BILLWERK_DB_USER."
        return 1
    }
}

write_odoo_config() {
    # $1: config path, $2: database name, $3: http port (optional), $4: the
    # folder holding billwerk_connector (optional: this checkout's link; the
    # test command gives the odoo/addons of an environment the wheel went to).
    mkdir -p "$VAR/data"
    cat >"$1" <<CONF
[options]
db_host = $PGHOST
db_port = $PGPORT
db_user = $DB_USER
db_name = $2
dbfilter = ^$2\$
addons_path = $(odoo_addons_path),${4:-$ADDONS_LINK_DIR}
data_dir = $VAR/data
http_interface = 127.0.0.1
http_port = ${3:-8069}
without_demo = True
CONF
}

check_nothing_left_to_install() {
    # Odoo's cron worker skips a database that has modules still "to install"
    # (an auto-install module whose dependencies the Odoo tree lacks): no
    # scheduled sync would ever run, silently. Say so, loudly.
    local pending
    pending="$(psql -U "$DB_USER" -d "$1" -Atc "SELECT string_agg(name || ' (' || state || ')', ', ')
        FROM ir_module_module WHERE state IN ('to install', 'to upgrade', 'to remove')")"
    if [ -n "$pending" ]; then
        say "!! Database $1 has modules left to install or upgrade: $pending."
        say "!! Odoo's scheduled actions skip such a database. Remove those modules from"
        say "!! the Odoo tree's addons, or the addons their dependencies need, and retry."
        return 1
    fi
}
