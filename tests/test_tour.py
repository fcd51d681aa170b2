import json

from odoo.tests import HttpCase, tagged

from .common import BillwerkSandboxCase


@tagged("post_install", "-at_install")
class TestAccountTour(BillwerkSandboxCase, HttpCase):
    """The accountant's way through the screens, in Chromium (skipped without it)."""

    def facts(self, key):
        truth = self.sandbox.account(key)
        return {"key": key, "name": truth.name, "invoices": f"{len(truth.invoices):,}"}

    def test_set_key_drill_down_switch_keep_take_back_and_delete(self):
        facts = {"first": self.facts(self.key), "second": self.facts(self.other_key)}
        stored = json.dumps(json.dumps(facts))
        self.start_tour(
            "/odoo",
            "billwerk_account_tour",
            login="admin",
            code=(
                f"sessionStorage.setItem('billwerk_tour', {stored});"
                "odoo.startTour('billwerk_account_tour', {stepDelay: 0});"
            ),
        )
        self.account.invalidate_recordset()
        self.assertEqual(self.account.billwerk_name, facts["second"]["name"])
        self.assertFalse(
            self.env["billwerk.account"]
            .with_context(active_test=False)
            .search([("active", "=", False)]),
            "the first account's data was deleted, the second's taken back",
        )
