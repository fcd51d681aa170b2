import socket

from odoo.exceptions import UserError
from odoo.tests import tagged

from ..crypto.secret_box import SecretBox
from ..models.odoo_compat import server_option
from .common import BillwerkSandboxCase, capture_all_logs


@tagged("post_install", "-at_install")
class TestSetApiKey(BillwerkSandboxCase):
    def stored_token(self, account=None):
        self.env.flush_all()
        self.env.cr.execute(
            "SELECT api_key_encrypted FROM billwerk_account WHERE id = %s",
            ((account or self.account).id,),
        )
        return self.env.cr.fetchone()[0]

    def assert_unchanged(self):
        self.assertFalse(self.stored_token())
        self.assertEqual(self.account.connection_state, "not_connected")
        self.assertFalse(self.account.billwerk_id)
        self.assertEqual(self.account.display_name, "Not connected")

    def cron_triggers(self):
        cron = self.env.ref("billwerk_connector.cron_billwerk_incremental_sync")
        return self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)])

    def test_first_connection_stores_the_key_encrypted_and_shows_the_account(self):
        triggers = self.cron_triggers()
        with capture_all_logs() as logs:
            result = self.connect()
        self.assertEqual(result["type"], "ir.actions.act_window_close")
        truth = self.sandbox.account(self.key)
        self.assertEqual(self.account.display_name, truth.name)
        self.assertEqual(self.account.billwerk_id, truth.id)
        self.assertEqual(self.account.billwerk_state, truth.state)
        self.assertEqual(self.account.connection_state, "connected")
        token = self.stored_token()
        self.assertNotIn(self.key, token)
        self.assertEqual(self.account._secret_box().decrypt(token), self.key)
        self.assertNotIn(self.key, logs.text)
        self.assertEqual(
            self.cron_triggers(), triggers + 1, "the first load starts at once"
        )

    def test_encryption_secret_from_the_server_configuration(self):
        with server_option("billwerk_encryption_key", "a secret only the server knows"):
            self.connect()
            token = self.stored_token()
            box = SecretBox(["a secret only the server knows"])
            self.assertEqual(box.decrypt(token), self.key)

    def test_surrounding_spaces_are_stripped(self):
        self.connect(key=f"  {self.key} \n")
        self.assertEqual(
            self.account._secret_box().decrypt(self.stored_token()), self.key
        )

    def test_malformed_keys_are_refused_with_a_message_and_nothing_stored(self):
        cases = {
            "x" * 256: "at most 255 characters",
            "": "Enter the API key",
            "priv_abc\ndef": "line break",
        }
        for key, message in cases.items():
            wizard = self.env["billwerk.set.api.key"].create(
                {"account_id": self.account.id, "api_key": key}
            )
            with (
                self.subTest(key=key[:10]),
                capture_all_logs() as logs,
                self.assertRaisesRegex(UserError, message),
            ):
                wizard.action_check_key()
            if key:
                self.assertNotIn(key, logs.text)
            self.assert_unchanged()
        self.assertEqual(self.sandbox.count("/v1/account"), 0)

    def test_rejected_key_says_so_and_changes_nothing(self):
        wrong = "priv_" + "f" * 32
        with capture_all_logs() as logs, self.assertRaises(UserError) as refusal:
            self.connect(key=wrong)
        self.assertIn("rejected", str(refusal.exception))
        self.assertNotIn(wrong, str(refusal.exception) + logs.text)
        self.assert_unchanged()

    def test_network_failure_says_so_and_changes_nothing(self):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.account.api_url = f"http://127.0.0.1:{port}/v1/"
        with capture_all_logs() as logs, self.assertRaises(UserError) as refusal:
            self.connect()
        self.assertIn("could not be reached", str(refusal.exception))
        self.assertNotIn(self.key, logs.text)
        self.assert_unchanged()

    def test_malformed_answer_says_so_and_changes_nothing(self):
        self.sandbox.faults.broken_json_next(count=1, prefix="account")
        with self.assertRaises(UserError) as refusal:
            self.connect()
        self.assertIn("does not answer like Billwerk", str(refusal.exception))
        self.assert_unchanged()

    def test_same_account_replaces_the_key_without_a_question(self):
        self.connect()
        self.sync()
        before = self.count("billwerk.customer")
        result = self.connect(key=f" {self.key} ")
        self.assertEqual(result["type"], "ir.actions.act_window_close")
        self.assertEqual(self.count("billwerk.customer"), before)
        self.assertTrue(self.account.cursor_ids)

    def test_switching_without_synchronized_data_asks_nothing(self):
        self.connect()
        result = self.connect(key=self.other_key)
        self.assertEqual(result["type"], "ir.actions.act_window_close")
        self.assertEqual(
            self.account.billwerk_id, self.sandbox.account(self.other_key).id
        )

    def _start_switch(self):
        """As the accountant, who may switch but not edit copies directly."""
        self.connect()
        self.sync()
        old_id = self.account.billwerk_id
        wizard = self.dialog(self.other_key)
        with capture_all_logs() as logs:
            action = wizard.action_check_key()
        self.assertNotIn(self.other_key, logs.text)
        return wizard, action, old_id

    def test_switch_with_data_asks_first_and_names_both_accounts_and_counts(self):
        wizard, action, old_id = self._start_switch()
        self.assertEqual(action["res_id"], wizard.id)
        self.assertEqual(wizard.step, "confirm_switch")
        self.assertEqual(
            wizard.new_account_name, self.sandbox.account(self.other_key).name
        )
        self.assertEqual(
            wizard.current_account_name, self.sandbox.account(self.key).name
        )
        customers = self.account.customer_count  # the screen's figure
        self.assertIn(f"{customers} customer contracts", wizard.synchronized_summary)
        # Cancel = closing the dialog: nothing changed yet.
        self.assertEqual(self.account.billwerk_id, old_id)
        self.assertEqual(
            self.account._secret_box().decrypt(self.stored_token()), self.key
        )

    def test_switch_deleting_the_data(self):
        wizard, _action, _old_id = self._start_switch()
        self.assertTrue(self.count("billwerk.invoice"))
        wizard.action_switch_delete_data()
        for model in ("plan", "customer", "subscription", "invoice"):
            self.assertEqual(self.count(f"billwerk.{model}"), 0, model)
        self.assertFalse(self.account.cursor_ids)
        self.assertFalse(self.account.last_event_id)
        self.assertEqual(
            self.account.display_name, self.sandbox.account(self.other_key).name
        )
        self.assertEqual(
            self.account._secret_box().decrypt(self.stored_token()), self.other_key
        )

    def test_switch_keeping_the_data_apart(self):
        wizard, _action, old_id = self._start_switch()
        customers = self.count("billwerk.customer")
        wizard.action_switch_keep_data()
        self.assertEqual(self.count("billwerk.customer"), 0)
        self.assertEqual(self.account.customer_count, 0)
        archived = (
            self.env["billwerk.account"]
            .with_context(active_test=False)
            .search([("billwerk_id", "=", old_id), ("active", "=", False)])
        )
        self.assertEqual(self.count("billwerk.customer", account=archived), customers)
        self.sync()
        self.assertEqual(
            self.count("billwerk.customer"),
            len(self.sandbox.account(self.other_key).customers),
        )

    def test_a_key_revoked_while_the_question_is_open_switches_nothing(self):
        wizard, _action, old_id = self._start_switch()
        customers = self.count("billwerk.customer")
        self.sandbox.faults.fail_next(count=1, status=401, prefix="account")
        with self.assertRaisesRegex(UserError, "rejected"):
            wizard.action_switch_delete_data()
        self.assertEqual(self.account.billwerk_id, old_id)
        self.assertEqual(self.count("billwerk.customer"), customers)
