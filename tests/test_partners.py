from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from .common import BillwerkSandboxCase


@tagged("post_install", "-at_install")
class TestPartners(BillwerkSandboxCase):
    def customers(self):
        return (
            self.env["billwerk.customer"]
            .with_context(active_test=False)
            .search([("account_id", "=", self.account.id)])
        )

    def first_customer(self):
        return next(iter(self.sandbox.account(self.key).customers.values()))

    def test_each_customer_gets_a_contact_of_its_own_by_default(self):
        # "Mallory" signs up at Billwerk with a known customer's e-mail.
        first = self.first_customer()
        known = self.env["res.partner"].create(
            {"name": "Known customer", "email": first["email"].upper()}
        )
        self.account.create_partners = True
        self.connect()
        self.assertEqual(self.sync().state, "done")
        customers = self.customers()
        self.assertTrue(customers)
        self.assertTrue(all(customer.partner_id for customer in customers))
        self.assertEqual(len(customers.partner_id), len(customers), "one each")
        mallory = customers.filtered(lambda c: c.handle == first["handle"])
        self.assertNotEqual(mallory.partner_id, known)
        for customer in customers:
            contact = customer.partner_id
            self.assertEqual(contact.ref, customer.handle)
            self.assertEqual(contact.company_id, self.account.company_id)
            self.assertEqual(contact.country_id, customer.country_id)
            self.assertEqual(contact.vat or False, customer.vat or False)
            self.assertEqual(
                contact.company_name or False, customer.company_name or False
            )

    def test_matching_reuses_only_safe_contacts(self):
        truth = list(self.sandbox.account(self.key).customers.values())
        with_vat = [c for c in truth if c.get("vat") and c.get("email")]
        plain = [c for c in truth if c.get("email") and not c.get("vat")]
        self.assertTrue(with_vat and len(plain) >= 3, "the sandbox has both kinds")
        partners = self.env["res.partner"]
        same = partners.create({"name": "Same", "email": plain[0]["email"].upper()})
        colleague = new_test_user(
            self.env, login="colleague", email=plain[1]["email"]
        ).partner_id
        other_company = self.env["res.company"].create({"name": "Other company"})
        foreign = partners.create(
            {
                "name": "Foreign",
                "email": plain[2]["email"],
                "company_id": other_company.id,
            }
        )
        other_vat = partners.create(
            {"name": "Other VAT", "email": with_vat[0]["email"], "vat": "XX999"}
        )
        self.account.create_partners = True
        self.account.match_partners = True
        self.connect()
        self.sync()
        by_handle = {c.handle: c.partner_id for c in self.customers()}
        self.assertEqual(by_handle[plain[0]["handle"]], same)
        for refused, customer in (
            (colleague, plain[1]),
            (foreign, plain[2]),
            (other_vat, with_vat[0]),
        ):
            with self.subTest(contact=refused.name):
                self.assertTrue(by_handle[customer["handle"]])
                self.assertNotEqual(by_handle[customer["handle"]], refused)

    def test_only_accounting_managers_switch_matching_on(self):
        with self.assertRaises(AccessError):
            self.account.with_user(self.billwerk_user).match_partners = True

    def test_customers_stay_unlinked_when_the_option_is_off(self):
        partners = self.env["res.partner"].search_count([])
        self.connect()
        self.sync()
        self.assertTrue(self.count("billwerk.customer"))
        self.assertEqual(self.env["res.partner"].search_count([]), partners)

    def test_switching_the_option_on_later_links_them_at_the_next_run(self):
        self.connect()
        self.sync()
        self.account.create_partners = True
        run = self.sync()
        self.assertEqual(run.mode, "incremental")
        customers = self.customers()
        self.assertTrue(all(customer.partner_id for customer in customers))
        partners = self.env["res.partner"].search_count([])
        self.sync()
        self.assertEqual(
            self.env["res.partner"].search_count([]), partners, "linked once"
        )
