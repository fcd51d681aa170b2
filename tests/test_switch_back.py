from odoo.tests import tagged

from .common import BillwerkSandboxCase


@tagged("post_install", "-at_install")
class TestSwitchAndBack(BillwerkSandboxCase):
    """What the screen, the lists and the history say across switches."""

    sandbox_options = {"customers": 300, "plans": 4, "invoices": 1200}

    def switch(self, key, keep=True, take_back=True):
        wizard = self.dialog(key)
        wizard.action_check_key()
        if wizard.step == "confirm_switch":
            wizard.take_back_kept_data = take_back
            if keep:
                wizard.action_switch_keep_data()
            else:
                wizard.action_switch_delete_data()
        self.account.invalidate_recordset()
        return wizard

    def screen_figures(self):
        self.account.invalidate_recordset()
        account = self.account
        return (
            account.plan_count,
            account.subscription_count,
            account.customer_count,
            account.invoice_count,
        )

    def test_switching_back_takes_the_kept_data_back_instead_of_loading_it_again(self):
        self.connect()
        first_run = self.sync()
        first_name = self.account.billwerk_name
        figures = self.screen_figures()
        total = sum(self.account._synchronized_counts().values())

        self.switch(self.other_key)
        self.assertEqual(self.screen_figures(), (0, 0, 0, 0))
        # The new account's first load waits, not the old account's Done.
        self.assertEqual(self.account.last_sync_state, "queued")
        self.assertIn("Queued", self.account.run_progress_text)
        self.sync()
        other_figures = self.screen_figures()
        self.assertEqual(first_run.billwerk_name, first_name, "history keeps its name")

        wizard = self.switch(self.key)
        self.assertTrue(wizard.kept_summary, "the question offered the kept data")
        self.assertIn(f"{figures[3]:,} invoices", wizard.kept_summary)
        self.assertEqual(self.screen_figures(), figures)
        self.assertEqual(sum(self.account._synchronized_counts().values()), total)
        self.assertFalse(
            self.account._kept_account_for(self.account.billwerk_id), "kept once"
        )
        self.sandbox.clear_log()
        run = self.sync()
        self.assertEqual(run.created_count, 0, "nothing loaded again beside it")
        self.assertEqual(self.sandbox.count("/v1/list/invoice"), 2, "created, settled")
        self.assertEqual(self.account.sync_status, False)
        self.assertEqual(self.account.last_sync_state, "done")

        # The other account's data is kept in its turn; delete it on the way.
        self.switch(self.other_key, keep=False)
        self.assertEqual(self.screen_figures(), other_figures, "its kept data is back")
        self.assertFalse(
            self.env["billwerk.account"]
            .with_context(active_test=False)
            .search([("active", "=", False)]),
            "the first account's data was deleted, the other's taken back",
        )

    def test_the_question_uses_the_screens_figures_and_names_what_is_deleted(self):
        self.connect()
        self.sync()
        wizard = self.dialog(self.other_key)
        wizard.action_check_key()
        plans, subscriptions, customers, invoices = self.screen_figures()
        self.assertTrue(
            wizard.synchronized_summary.startswith(
                f"{plans} plans, {subscriptions} active subscriptions, "
                f"{customers} customer contracts, {invoices:,} invoices"
            ),
            wizard.synchronized_summary,
        )
        self.assertIn("archived records", wizard.synchronized_summary)

    def test_the_menus_show_the_current_account_and_an_account_column_when_kept(self):
        self.connect()
        self.sync()
        action = self.env["billwerk.account"]._synced_records_action(
            "billwerk_connector.action_billwerk_invoice"
        )
        self.assertEqual(action["context"]["search_default_filter_current_account"], 1)
        self.assertFalse(action["context"]["billwerk_several_accounts"])
        self.switch(self.other_key)
        action = self.env["billwerk.account"]._synced_records_action(
            "billwerk_connector.action_billwerk_invoice"
        )
        self.assertTrue(action["context"]["billwerk_several_accounts"])
        kept = self.env["billwerk.invoice"].search([("account_id.active", "=", False)])
        self.assertTrue(kept)
        self.assertFalse(
            self.env["billwerk.invoice"].search([("account_id.active", "=", True)])
        )
        archived = kept.account_id
        self.assertIn("Kept data of", archived.sync_status)
