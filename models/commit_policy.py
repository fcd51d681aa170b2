"""When the sync may commit: always in production, never under tests.

Runs commit per batch so that a crash resumes at the last saved page; tests
share one transaction that a commit would break.
"""

import threading

from odoo import tools
from odoo.modules import module as odoo_module


def in_test_mode():
    return bool(
        odoo_module.current_test
        or tools.config.get("test_enable")
        or getattr(threading.current_thread(), "testing", False)
    )


def commit_unless_testing(cr):
    if not in_test_mode():
        cr.commit()  # pylint: disable=invalid-commit
