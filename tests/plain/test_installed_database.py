"""After the test command's install, on each series: the unique constraints exist.

scripts/test.sh runs this file after installing the addon into each series'
throw-away database (``BILLWERK_INSTALLED_DB``; PGHOST, PGPORT and PGUSER as
it connects): it asks PostgreSQL itself, with psql, whatever the ORM believes.
Odoo 19 ignores ``_sql_constraints`` (a warning, no constraint), so a
declaration the series does not apply leaves a name missing here. The names
are those of tests/test_constraints.py (read from it: the Odoo suite checks
the same list from inside). Skipped in the plain suite's own run.
"""

import ast
import os
import shutil
import subprocess
from pathlib import Path

import pytest

DB = os.environ.get("BILLWERK_INSTALLED_DB")
QUERY = (
    "SELECT rel.relname, con.conname FROM pg_constraint con "
    "JOIN pg_class rel ON rel.oid = con.conrelid WHERE con.contype = 'u'"
)
ODOO_TEST = Path(__file__).resolve().parents[1] / "test_constraints.py"

pytestmark = pytest.mark.skipif(
    not DB, reason="run by scripts/test.sh after each series' install"
)


def expected():
    """EXPECTED of tests/test_constraints.py: {table: {name: definition}}."""
    for node in ast.parse(ODOO_TEST.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and node.targets[0].id == "EXPECTED":
            return ast.literal_eval(node.value)
    raise AssertionError(f"no EXPECTED in {ODOO_TEST}")


def unique_constraints(database):
    """{table: {constraint names}} of the database's unique constraints."""
    if not shutil.which("psql"):
        pytest.fail("psql is needed to read the installed database")
    rows = subprocess.run(
        [
            "psql",
            "-d",
            database,
            "-AtF",
            "\t",
            "-c",
            QUERY,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    found = {}
    for row in rows:
        table, name = row.split("\t")
        found.setdefault(table, set()).add(name)
    return found


def test_the_seventeen_unique_constraints_exist_in_the_installed_database():
    wanted = expected()
    assert sum(len(names) for names in wanted.values()) == 17
    found = unique_constraints(DB)
    missing = {
        table: sorted(set(names) - found.get(table, set()))
        for table, names in wanted.items()
        if set(names) - found.get(table, set())
    }
    assert missing == {}
