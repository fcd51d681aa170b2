import logging

from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged

from ..client.log_redaction import SecretRedactingFilter
from ..models.odoo_compat import call_kw, server_option
from .common import BillwerkSandboxCase, capture_all_logs


@tagged("post_install", "-at_install")
class TestSwitchQuestionCannotBeSkipped(BillwerkSandboxCase):
    def setUp(self):
        super().setUp()
        self.connect()
        self.sync()
        self.counts = self.account._synchronized_counts()
        self.wizards = self.env["billwerk.set.api.key"].with_user(self.billwerk_user)

    def test_users_never_set_the_step_or_the_summary(self):
        for forged in (
            {"step": "confirm_switch"},
            {"synchronized_summary": "0 invoices"},
            {"new_billwerk_id": "acc_x"},
        ):
            with self.subTest(values=forged), self.assertRaises(AccessError):
                self.wizards.create(
                    {"account_id": self.account.id, "api_key": self.key, **forged}
                )
        wizard = self.wizards.with_context(default_step="confirm_switch").create(
            {"account_id": self.account.id, "api_key": self.key}
        )
        self.assertEqual(wizard.step, "key")
        with self.assertRaises(AccessError):
            wizard.write({"step": "confirm_switch"})

    def test_the_same_key_never_purges(self):
        wizard = self.wizards.create(
            {"account_id": self.account.id, "api_key": self.key}
        )
        with self.assertRaisesRegex(UserError, "Check the API key first"):
            wizard.action_switch_delete_data()
        self.assertEqual(self.account._synchronized_counts(), self.counts)

    def test_a_key_of_the_same_account_at_confirmation_keeps_the_data(self):
        wizard = self.wizards.create(
            {"account_id": self.account.id, "api_key": self.other_key}
        )
        wizard.action_check_key()
        # The user pastes the current account's key into the open dialog.
        wizard.sudo().api_key = self.key
        wizard.action_switch_delete_data()
        self.assertEqual(self.account._synchronized_counts(), self.counts)
        self.assertEqual(self.account.billwerk_id, self.sandbox.account(self.key).id)

    def test_the_dialog_takes_only_an_account_the_user_may_change(self):
        company = self.env["res.company"].create({"name": "Not mine"})
        foreign = self.env["billwerk.account"].create(
            {"company_id": company.id, "api_url": self.sandbox.url}
        )
        self.connect(account=foreign, key=self.other_key)
        with self.assertRaises(AccessError):
            self.wizards.create({"account_id": foreign.id, "api_key": self.key})
        self.assertTrue(foreign.billwerk_name)

    def test_another_users_dialog_is_out_of_reach(self):
        wizard = self.wizards.create(
            {"account_id": self.account.id, "api_key": self.other_key}
        )
        colleague = new_test_user(
            self.env,
            login="colleague",
            groups="base.group_user,billwerk_connector.group_billwerk_account",
        )
        with self.assertRaises(AccessError):
            wizard.with_user(colleague).action_check_key()

    def test_sync_run_counts_follow_the_company_rule(self):
        company = self.env["res.company"].create({"name": "Elsewhere"})
        outsider = self.accountant_of(company, "elsewhere_accountant")
        lines = self.env["billwerk.sync.run.line"].with_user(outsider)
        self.assertFalse(lines.search([]))
        with self.assertRaises(AccessError):
            self.account.last_sync_run_id.line_ids.with_user(outsider).read(["entity"])


@tagged("post_install", "-at_install")
class TestSecretsStayOut(BillwerkSandboxCase):
    def test_saving_the_dialog_never_answers_with_the_key(self):
        result = self.env["billwerk.set.api.key"].web_save(
            {"account_id": self.account.id, "api_key": self.key},
            specification={"api_key": {}, "step": {}},
        )
        self.assertNotIn(self.key, repr(result))
        self.assertFalse(result[0]["api_key"])

    def test_odoo_debug_rpc_logging_does_not_print_the_key(self):
        model = self.env["billwerk.set.api.key"].with_user(self.billwerk_user)
        with capture_all_logs() as logs:
            call_kw(
                model,
                "web_save",
                [[], {"account_id": self.account.id, "api_key": self.key}],
                {"specification": {"step": {}}},
            )
        self.assertIn("web_save", logs.text, "the call itself is logged")
        self.assertNotIn(self.key, logs.text)

    def test_the_logger_of_this_odoos_rpc_line_redacts(self):
        # odoo.api on Odoo 18, odoo.service.model on 19: wherever call_kw is.
        rpc_logger = logging.getLogger(call_kw.__module__)
        self.assertTrue(
            any(isinstance(f, SecretRedactingFilter) for f in rpc_logger.filters),
            f"{rpc_logger.name} writes RPC arguments at DEBUG without the filter",
        )

    def test_keys_no_billwerk_key_can_be_are_refused_in_words(self):
        cases = {
            "priv_€" + "a" * 30: "character that no Billwerk key has",
            "priv_🔑" + "a" * 30: "character that no Billwerk key has",
            "pub_" + "a" * 32: "public key",
        }
        for key, message in cases.items():
            wizard = self.env["billwerk.set.api.key"].create(
                {"account_id": self.account.id, "api_key": key}
            )
            with (
                self.subTest(key=key[:6]),
                capture_all_logs() as logs,
                self.assertRaisesRegex(UserError, message) as refusal,
            ):
                wizard.action_check_key()
            self.assertNotIn(key, str(refusal.exception) + logs.text)
        self.assertEqual(self.sandbox.count("/v1/account"), 0)

    def test_the_api_url_is_shown_to_administrators_only_without_credentials(self):
        self.account.api_url = "http://user:s3cret@127.0.0.1:9/v1/"
        admin = self.env.ref("base.user_admin")
        messages = {}
        for user in (admin, self.billwerk_user):
            wizard = (
                self.env["billwerk.set.api.key"]
                .with_user(user)
                .create({"account_id": self.account.id, "api_key": self.key})
            )
            with self.assertRaises(UserError) as refusal:
                wizard.action_check_key()
            messages[user.login] = str(refusal.exception)
        for message in messages.values():
            self.assertIn("could not be reached", message)
            self.assertNotIn("s3cret", message)
            self.assertNotIn("user:", message)
        self.assertIn("http://127.0.0.1:9/v1/", messages[admin.login])
        self.assertNotIn("127.0.0.1", messages[self.billwerk_user.login])

    def test_administrators_are_warned_while_no_encryption_secret_is_set(self):
        admin_view = self.account.with_user(self.env.ref("base.user_admin"))
        self.assertTrue(admin_view.encryption_secret_missing)
        with server_option("billwerk_encryption_key", "a secret only the server knows"):
            admin_view.invalidate_recordset()
            self.assertFalse(admin_view.encryption_secret_missing)
        with self.assertRaises(AccessError):
            self.account.with_user(self.billwerk_user).read(
                ["encryption_secret_missing"]
            )
