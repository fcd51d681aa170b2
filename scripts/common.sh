# Shared by setup.sh, test.sh and run.sh: paths, the Odoo source tree and a
# PostgreSQL server to talk to. Sourced, never run.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
ADDONS_LINK_DIR="$VENV/addons"           # holds billwerk_connector -> $ROOT
VAR="$VENV/var"                          # data dir, logs, local PostgreSQL
DB_USER="${BILLWERK_DB_USER:-billwerk_odoo}"

say() { printf '%s\n' "$*" >&2; }

odoo_src_ok() {
    # An Odoo 18 source tree: ODOO_SRC/odoo/release.py says 18.
    [ -n "${ODOO_SRC:-}" ] && [ -f "$ODOO_SRC/odoo/release.py" ] &&
        grep -q "^version_info = (18, 0" "$ODOO_SRC/odoo/release.py"
}

odoo_importable() {
    "$PY" -c 'import odoo.release as r, sys; sys.exit(r.version_info[:2] != (18, 0))' \
        >/dev/null 2>&1
}

odoo_bin() {
    # setup/odoo-bin in a source tree; the .pth file makes `odoo` importable.
    local src
    src="$("$PY" -c 'import odoo, os; print(os.path.dirname(os.path.dirname(odoo.__file__)))')"
    if [ -f "$src/odoo-bin" ]; then echo "$src/odoo-bin"; else echo "$src/setup/odoo-bin"; fi
}

odoo_addons_path() {
    # odoo/addons (base, and every addon in a nightly tree), plus the top-level
    # addons/ folder of a git checkout of Odoo, when there is one.
    "$PY" - <<'PY'
import os, odoo.addons
core = os.path.dirname(odoo.addons.__file__)
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
    # $1: config path, $2: database name, $3: http port (optional)
    mkdir -p "$VAR/data"
    cat >"$1" <<CONF
[options]
db_host = $PGHOST
db_port = $PGPORT
db_user = $DB_USER
db_name = $2
dbfilter = ^$2\$
addons_path = $(odoo_addons_path),$ADDONS_LINK_DIR
data_dir = $VAR/data
http_interface = 127.0.0.1
http_port = ${3:-8069}
without_demo = all
CONF
}
