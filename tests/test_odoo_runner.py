"""Odoo's own runner finds every test of this addon.

The test command runs the suite once, through pytest-odoo, and asks
``odoo-bin --test-enable`` only for this class and the webhook route's (its
HTTP server, not pytest-odoo's): the loader checked here is the one that
runner uses, so a test module it would not see fails the suite instead of
silently never running under Odoo.
"""

import inspect
from pathlib import Path

from odoo.tests import TransactionCase, tagged
from odoo.tests.loader import get_module_test_cases, get_test_modules

TESTS = Path(__file__).resolve().parent


@tagged("post_install", "-at_install")
class TestOdooRunnerSeesEveryTest(TransactionCase):
    def test_every_test_module_and_test_method_is_collected(self):
        modules = {
            module.__name__.rsplit(".", 1)[-1]: module
            for module in get_test_modules("billwerk_connector")
        }
        on_disk = {path.stem for path in TESTS.glob("test_*.py")}
        self.assertEqual(set(modules), on_disk)
        for name, module in modules.items():
            with self.subTest(module=name):
                collected = {
                    f"{type(test).__name__}.{test._testMethodName}"
                    for test in get_module_test_cases(module)
                }
                written = {
                    f"{cls.__name__}.{attribute}"
                    for cls in vars(module).values()
                    if isinstance(cls, type)
                    and cls.__module__ == module.__name__
                    and issubclass(cls, TransactionCase)
                    for attribute, value in vars(cls).items()
                    if attribute.startswith("test") and inspect.isfunction(value)
                }
                self.assertTrue(collected, "a test module with no test")
                self.assertEqual(collected, written)
