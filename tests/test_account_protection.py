from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import new_test_user, tagged

from ..client.http_client import DEFAULT_BASE_URL
from .common import BillwerkSandboxCase

HOSTILE_URL = "https://collector.example/v1/"
# Fields that only look read-only in the form: the connector alone writes them.
CONNECTOR_FIELDS = {
    "active": False,
    "connection_state": "error",
    "connection_error": "Billwerk rejected the API key. Set a new API key.",
    "billwerk_id": "acc_forged",
    "billwerk_name": "Forged account",
    "api_key_hint": "priv_…beef",
    "last_event_id": "evt_forged",
}


@tagged("post_install", "-at_install")
class TestAccountProtection(BillwerkSandboxCase):
    """What a member of the group can do through RPC, not only through the form."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.other_company = cls.env["res.company"].create({"name": "Company C"})
        cls.admin = cls.env.ref("base.user_admin")
        cls.admin.company_ids |= cls.other_company
        cls.billwerk_user.company_ids |= cls.other_company

    def as_member(self, records=None):
        return (records or self.env["billwerk.account"]).with_user(self.billwerk_user)

    def test_a_member_cannot_point_a_new_account_at_another_server(self):
        self.account.active = False  # room for a new one in this company
        self.env.flush_all()
        with self.assertRaisesRegex(AccessError, "API URL"):
            self.as_member().create({"api_url": HOSTILE_URL})
        # Nor through a context default: Odoo 18 creates the account with the
        # fields' own defaults (default_get drops the member's), Odoo 19
        # refuses the keys (create() checks default_* against field groups).
        # Either way no account of the member's points elsewhere or is archived.
        member = self.as_member().with_context(
            default_api_url=HOSTILE_URL, default_active=False
        )
        try:
            created = member.create({})
        except AccessError:
            created = member.browse()
        for account in created.sudo():
            self.assertEqual(account.api_url, DEFAULT_BASE_URL)
            self.assertTrue(account.active)
        accounts = self.env["billwerk.account"].with_context(active_test=False)
        self.assertFalse(accounts.search([("api_url", "=", HOSTILE_URL)]))
        # Nor through a user default.
        self.env["ir.default"].set(
            "billwerk.account", "api_url", HOSTILE_URL, user_id=self.billwerk_user.id
        )
        defaults = self.as_member().default_get(["api_url", "billwerk_name"])
        self.assertEqual(defaults["api_url"], DEFAULT_BASE_URL)

    def test_a_member_cannot_plant_an_archived_account(self):
        for values in ({"active": False}, {"connection_state": "error"}):
            with self.subTest(values=values), self.assertRaises(AccessError):
                self.as_member().create({"company_id": self.other_company.id, **values})

    def test_a_member_cannot_copy_an_account(self):
        with self.assertRaisesRegex(UserError, "cannot be duplicated"):
            self.as_member(self.account).copy({"company_id": self.other_company.id})

    def test_a_member_cannot_write_what_the_connector_owns(self):
        self.connect()
        before = self.account.read(list(CONNECTOR_FIELDS))[0]
        for field_name, value in CONNECTOR_FIELDS.items():
            with self.subTest(field=field_name), self.assertRaises(AccessError):
                self.as_member(self.account).write({field_name: value})
        self.account.invalidate_recordset()
        self.assertEqual(self.account.read(list(CONNECTOR_FIELDS))[0], before)
        # What the form offers stays open to the member.
        self.as_member(self.account).write({"create_partners": True})
        self.assertTrue(self.account.create_partners)

    def test_an_account_never_moves_to_another_company(self):
        for user in (self.billwerk_user, self.admin):
            with self.subTest(user=user.login), self.assertRaises(UserError):
                self.account.with_user(user).write(
                    {"company_id": self.other_company.id}
                )
        with self.assertRaisesRegex(UserError, "never moves"):
            self.account.write({"company_id": self.other_company.id})

    def test_archiving_restoring_and_deleting_are_for_administrators(self):
        with self.assertRaises(AccessError):
            self.as_member(self.account).action_archive()
        with self.assertRaises(AccessError):
            self.as_member(self.account).unlink()
        self.account.with_user(self.admin).action_archive()
        self.assertFalse(self.account.active)
        with self.assertRaises(AccessError):
            self.as_member(self.account).action_unarchive()
        self.account.with_user(self.admin).action_unarchive()
        self.assertTrue(self.account.active)

    def test_an_archived_account_is_never_synchronized(self):
        self.connect()
        first_load = self.account.sync_run_ids
        self.assertEqual(first_load.state, "queued")
        self.account.active = False
        self.assertEqual(first_load.state, "cancelled")
        self.assertIn("archived", first_load.error_message)
        with self.assertRaisesRegex(UserError, "archived"):
            self.as_member(self.account).action_sync_now()
        self.assertEqual(self.account.sync_run_ids, first_load)

    def test_import_cannot_set_the_api_url(self):
        self.account.active = False
        self.env.flush_all()
        result = self.as_member().load(["api_url"], [[HOSTILE_URL]])
        self.assertFalse(result["ids"])
        self.assertFalse(
            self.env["billwerk.account"]
            .with_context(active_test=False)
            .search([("api_url", "=", HOSTILE_URL)])
        )

    def test_administrators_set_only_http_urls(self):
        for url in ("ftp://billwerk.example/", "api.reepay.com/v1", "http://"):
            with self.subTest(url=url), self.assertRaises(ValidationError):
                self.account.with_user(self.admin).write({"api_url": url})
        self.account.with_user(self.admin).write({"api_url": self.sandbox.url})

    def test_the_planted_account_attack_of_the_review_fails_at_every_step(self):
        """Company B's member prepares an account for company C's accountant."""
        attacker = new_test_user(
            self.env,
            login="company_b_member",
            groups="base.group_user,billwerk_connector.group_billwerk_account",
            company_ids=[self.env.company.id, self.other_company.id],
        )
        accounts = self.env["billwerk.account"].with_user(attacker)
        with self.assertRaises(AccessError):
            accounts.create({"active": False, "api_url": HOSTILE_URL})
        planted = accounts.with_context(allowed_company_ids=[self.env.company.id])
        with self.assertRaises(AccessError):
            planted.browse(self.account.id).write(
                {"connection_state": "error", "connection_error": "Set a new key"}
            )
        with self.assertRaises(UserError):
            planted.browse(self.account.id).write({"company_id": self.other_company.id})
        c_account = (
            self.env["billwerk.account"]
            .with_user(self.billwerk_user)
            .with_context(allowed_company_ids=[self.other_company.id])
            .action_open_current_company_account()
        )
        opened = self.env["billwerk.account"].browse(c_account["res_id"])
        self.assertEqual(opened.company_id, self.other_company)
        self.assertEqual(opened.sudo().api_url, DEFAULT_BASE_URL)
