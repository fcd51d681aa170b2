"""Every member of *Access Billwerk account* opens every Billwerk screen.

The screens are read as the web client reads them (the view's fields, for the
user's groups): what a member may not see is not in their view, and nothing
they are shown raises an AccessError.
"""

from odoo.tests import new_test_user, tagged

from .common import PostingCase
from .web_client import open_form, open_list

ACCOUNTING_FIGURES = (
    "posted_invoice_count",
    "paid_invoice_count",
    "open_invoice_count",
    "waiting_invoice_count",
)


@tagged("post_install", "-at_install")
class TestMemberScreens(PostingCase):
    """Posting on, documents posted and paid: the screens at their fullest."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.account.with_user(cls.manager).write(
            {"post_invoices": True, "post_from": "2000-01-01", "rate_max_age_days": 0}
        )
        cls.env["billwerk.posting"]._post_account(cls.account)
        cls.invoicing_user = new_test_user(
            cls.env,
            login="billwerk_invoicing_clerk",
            groups="base.group_user,account.group_account_invoice,"
            "billwerk_connector.group_billwerk_account",
        )

    def as_member(self, records):
        return records.with_user(self.billwerk_user)

    def test_a_member_opens_the_account_screen_with_posting_on(self):
        account = self.as_member(self.account)
        screen = open_form(account)[0]
        self.assertEqual(screen["display_name"], self.account.billwerk_name)
        self.assertEqual(screen["invoice_count"], self.count("billwerk.invoice"))
        for name in ACCOUNTING_FIGURES:
            self.assertNotIn(name, screen, "accounting figures are hidden")
        self.assertNotIn("tax_mapping_ids", screen, "accounting settings are hidden")

    def test_a_member_opens_every_list_and_form_the_screen_leads_to(self):
        account = self.as_member(self.account)
        for action in (
            account.action_open_plans(),
            account.action_open_subscriptions(),
            account.action_open_customers(),
            account.action_open_invoices(),
            account.action_open_sync_runs(),
        ):
            model = self.as_member(self.env[action["res_model"]])
            with self.subTest(model=model._name):
                page = open_list(model, action["domain"])
                self.assertTrue(page["records"], f"{model._name}: an empty list")
                first = model.browse(page["records"][0]["id"])
                self.assertEqual(open_form(first)[0]["id"], first.id)

    def test_a_member_opens_a_posted_invoice_and_its_credit_notes(self):
        invoice = self.invoices().filtered("move_id")[:1]
        self.assertTrue(invoice, "the sandbox has a posted invoice")
        screen = open_form(self.as_member(invoice))[0]
        self.assertEqual(screen["handle"], invoice.handle)
        notes = self.as_member(self.env["billwerk.credit.note"])
        open_list(notes, [("account_id", "=", self.account.id)])
        transactions = self.as_member(self.env["billwerk.transaction"])
        open_list(transactions, [("account_id", "=", self.account.id)])

    def test_a_member_opens_the_set_api_key_dialog(self):
        dialog = self.as_member(self.env["billwerk.set.api.key"]).create(
            {"account_id": self.account.id}
        )
        self.assertEqual(open_form(dialog)[0]["account_id"]["id"], self.account.id)

    def test_invoicing_users_see_the_accounting_figures_each_opening_its_list(self):
        account = self.account.with_user(self.invoicing_user)
        screen = open_form(account)[0]
        for name in ACCOUNTING_FIGURES:
            self.assertIn(name, screen)
        self.assertGreater(screen["posted_invoice_count"], 0)
        opened = {
            "posted_invoice_count": account.action_open_posted_invoices(),
            "paid_invoice_count": account.action_open_paid_invoices(),
            "open_invoice_count": account.action_open_open_invoices(),
            "waiting_invoice_count": account.action_open_waiting_invoices(),
        }
        for name, action in opened.items():
            with self.subTest(figure=name):
                listed = self.env[action["res_model"]].with_user(self.invoicing_user)
                self.assertEqual(listed.search_count(action["domain"]), screen[name])
