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


ADDON = TESTS.parent
# Arrows that must never exist (README, "How it is built").
FORBIDDEN_IMPORTS = {
    "client": {"odoo"},
    "mapping": {"odoo"},
    "crypto": {"odoo"},
    "sandbox": {"odoo"},
    "scheduling": {"odoo"},
    "models": {"requests", "sandbox"},
    "wizards": {"requests", "sandbox"},
    "controllers": {"requests", "sandbox"},
}


def _imported_roots(source, package):
    """Top-level names ``source`` imports; ``package``: its folders in the addon.

    A relative import is resolved inside the addon: ``from ..sandbox import x``
    in ``models/`` imports ``sandbox``.
    """
    roots = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            roots.add(node.module.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1]
            parts = [*base, *(node.module or "").split(".")]
            roots.add(next((part for part in parts if part), ""))
    return roots


def test_plain_code_never_imports_odoo_and_models_never_speak_http():
    crossings = sorted(
        f"{path.relative_to(ADDON)} imports {name}"
        for folder, forbidden in FORBIDDEN_IMPORTS.items()
        for path in (ADDON / folder).rglob("*.py")
        for name in _imported_roots(
            path.read_text(), path.relative_to(ADDON).parts[:-1]
        )
        & forbidden
    )
    assert crossings == []


def test_the_guard_reads_relative_and_absolute_imports():
    assert _imported_roots("from ..sandbox import data", ("models",)) == {"sandbox"}
    assert _imported_roots("from .commit_policy import x", ("models",)) == {"models"}
    assert _imported_roots("import requests.adapters", ("models",)) == {"requests"}
    assert _imported_roots("from odoo import models", ("client",)) == {"odoo"}
