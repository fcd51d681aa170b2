from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from .common import BillwerkSandboxCase

BILLWERK_MODELS = (
    "billwerk.account",
    "billwerk.plan",
    "billwerk.customer",
    "billwerk.subscription",
    "billwerk.invoice",
    "billwerk.sync.run",
    "billwerk.set.api.key",
)


@tagged("post_install", "-at_install")
class TestAccess(BillwerkSandboxCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.plain_user = new_test_user(
            cls.env, login="plain_employee", groups="base.group_user"
        )

    def _visible_menus(self, user):
        menus = self.env["ir.ui.menu"].with_user(user)._visible_menu_ids()
        return self.env["ir.ui.menu"].browse(menus)

    def test_admins_are_in_the_group_after_installation(self):
        self.assertTrue(
            self.env.ref("base.user_admin").has_group(
                "billwerk_connector.group_billwerk_account"
            )
        )

    def test_menu_is_visible_only_to_the_group(self):
        menu = self.env.ref("billwerk_connector.menu_billwerk_account")
        self.assertEqual(menu.complete_name, "Financial/Setup/Billwerk account")
        self.assertIn(menu, self._visible_menus(self.billwerk_user))
        self.assertNotIn(menu, self._visible_menus(self.plain_user))
        root = self.env.ref("billwerk_connector.menu_financial_root")
        self.assertNotIn(root, self._visible_menus(self.plain_user))

    def test_user_without_the_group_gets_access_errors_on_every_model(self):
        for model in BILLWERK_MODELS:
            records = self.env[model].with_user(self.plain_user)
            with self.subTest(model=model), self.assertRaises(AccessError):
                records.check_access("read")
            with (
                self.subTest(model=model, path="web_search_read"),
                self.assertRaises(AccessError),
            ):
                records.web_search_read([], {"display_name": {}})
        with self.assertRaises(AccessError):
            self.account.with_user(self.plain_user).read(["billwerk_name"])
        with self.assertRaises(AccessError):
            self.env["billwerk.account"].with_user(
                self.plain_user
            ).action_open_current_company_account()

    def test_group_member_opens_the_screen_and_reads_synced_data_only(self):
        action = (
            self.env["billwerk.account"]
            .with_user(self.billwerk_user)
            .action_open_current_company_account()
        )
        self.assertEqual(action["res_id"], self.account.id)
        self.env["billwerk.plan"].with_user(self.billwerk_user).check_access("read")
        with self.assertRaises(AccessError):
            self.env["billwerk.plan"].with_user(self.billwerk_user).check_access(
                "write"
            )

    def test_screen_is_created_on_first_open_one_per_company(self):
        company = self.env["res.company"].create({"name": "Second company"})
        user = self.accountant_of(company, "second_company_accountant")
        accounts = self.env["billwerk.account"].with_user(user)
        first = accounts.action_open_current_company_account()["res_id"]
        second = accounts.action_open_current_company_account()["res_id"]
        self.assertEqual(first, second)
        created = self.env["billwerk.account"].browse(first)
        self.assertEqual(created.company_id, company)
        self.assertEqual(created.display_name, "Not connected")
        self.assertFalse(accounts.search([("id", "=", self.account.id)]))

    def test_nobody_reads_the_encrypted_key_through_the_orm(self):
        self.connect()
        for user in (self.billwerk_user, self.env.ref("base.user_admin")):
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                self.account.with_user(user).read(["api_key_encrypted"])
        hint = self.account.with_user(self.billwerk_user).api_key_hint
        self.assertEqual(hint, "priv_…" + self.key[-4:])

    def test_only_administrators_may_redirect_the_api_url(self):
        with self.assertRaises(AccessError):
            self.account.with_user(self.billwerk_user).write(
                {"api_url": "https://collector.example/v1/"}
            )
        admin = self.env.ref("base.user_admin")
        self.account.with_user(admin).write({"api_url": self.sandbox.url})
        # The accountant still uses the connection the administrator set up.
        self.connect()
        self.account.with_user(self.billwerk_user).action_sync_now()
        self.env["billwerk.account"]._cron_sync()
        self.assertEqual(self.account.last_sync_run_id.state, "done")
