"""Odoo's own runner sees only the test modules ``tests/__init__.py`` imports."""

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent


def test_every_odoo_test_module_is_imported_for_odoo_bin():
    tree = ast.parse((TESTS / "__init__.py").read_text())
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    modules = {path.stem for path in TESTS.glob("test_*.py")}
    assert modules - imported == set()
