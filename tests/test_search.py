"""Typing in a Billwerk list's search box answers, for every member, on every field."""

from lxml import etree

from odoo.tests import tagged
from odoo.tools.safe_eval import safe_eval

from .common import BillwerkSandboxCase
from .web_client import never_hangs

# The lists of the Billwerk menus and the field their search box offers first.
LISTS = {
    "billwerk.plan": "name",
    "billwerk.subscription": "handle",
    "billwerk.customer": "name",
    "billwerk.invoice": "handle",
    "billwerk.credit.note": None,
    "billwerk.transaction": None,
    "billwerk.sync.run": None,
}


@tagged("post_install", "-at_install")
class TestSearch(BillwerkSandboxCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.store_key()
        cls.env["billwerk.sync.run"]._run_for(cls.account, trigger="manual")
        cls.invoice = cls.env["billwerk.invoice"].search(
            [("account_id", "=", cls.account.id)], limit=1
        )

    def search_fields(self, model):
        """The search view's fields, as the member's browser offers them."""
        views = model.get_views([(False, "search")])
        arch = etree.fromstring(views["views"]["search"]["arch"])
        return arch.findall(".//field")

    def domain_for(self, node, text):
        """What the browser sends when the user picks ``node`` for ``text``."""
        if node.get("filter_domain"):
            return safe_eval(node.get("filter_domain"), {"self": text})
        return [(node.get("name"), "ilike", text)]

    def test_every_field_of_every_search_box_answers(self):
        texts = (self.invoice.handle, self.account.billwerk_name, "no such thing")
        for model_name in LISTS:
            model = self.env[model_name].with_user(self.billwerk_user)
            for node in self.search_fields(model):
                for text in texts:
                    field = node.get("name")
                    with self.subTest(model=model_name, field=field), never_hangs():
                        model.search_count(self.domain_for(node, text))

    def test_searching_by_account_name_finds_the_accounts_records(self):
        name = self.account.billwerk_name
        for model_name in LISTS:
            model = self.env[model_name].with_user(self.billwerk_user)
            if "account_id" not in model._fields:
                continue
            with self.subTest(model=model_name), never_hangs():
                found = model.search_count([("account_id", "ilike", name[:5])])
                nothing = model.search_count([("account_id", "ilike", "zz-none")])
                every = model.search_count([("account_id", "=", self.account.id)])
            self.assertEqual(found, every, model_name)
            self.assertTrue(every or model_name == "billwerk.credit.note", model_name)
            self.assertEqual(nothing, 0, model_name)
        accounts = self.env["billwerk.account"].with_user(self.billwerk_user)
        with never_hangs():
            self.assertEqual(
                [row[0] for row in accounts.name_search(name[:5])], [self.account.id]
            )
            self.assertEqual(
                accounts.name_search(self.account.billwerk_handle)[0][0],
                self.account.id,
            )

    def test_every_many2one_to_the_account_answers_a_text_search(self):
        for model_name in self.env.registry:
            model = self.env[model_name]
            for field in model._fields.values():
                if field.type != "many2one" or field.comodel_name != "billwerk.account":
                    continue
                if not field.store or model._abstract:
                    continue
                with self.subTest(model=model_name, field=field.name), never_hangs():
                    model.sudo().search_count([(field.name, "ilike", "x")])

    def test_the_first_field_of_each_search_box_is_what_people_look_for(self):
        for model_name, first in LISTS.items():
            if not first:
                continue
            model = self.env[model_name].with_user(self.billwerk_user)
            with self.subTest(model=model_name):
                self.assertEqual(self.search_fields(model)[0].get("name"), first)

    def test_a_handle_typed_in_the_invoices_search_finds_the_invoice(self):
        invoices = self.env["billwerk.invoice"].with_user(self.billwerk_user)
        first = self.search_fields(invoices)[0]
        found = invoices.search(self.domain_for(first, self.invoice.handle))
        self.assertIn(self.invoice, found)
        customers = self.env["billwerk.customer"].with_user(self.billwerk_user)
        customer = self.invoice.customer_id
        by_handle = customers.search(
            self.domain_for(self.search_fields(customers)[0], customer.handle)
        )
        self.assertIn(customer, by_handle)
        by_name = invoices.search([("customer_id", "ilike", customer.handle)])
        self.assertIn(self.invoice, by_name, "a customer's handle finds its invoices")
