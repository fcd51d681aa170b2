from odoo.tests import tagged

from .common import BillwerkSandboxCase


@tagged("post_install", "-at_install")
class TestPartners(BillwerkSandboxCase):
    def test_customers_become_contacts_when_the_option_is_on(self):
        truth = self.sandbox.account(self.key).customers
        first = next(iter(truth.values()))
        existing = self.env["res.partner"].create(
            {"name": "Known contact", "email": first["email"].upper()}
        )
        self.account.create_partners = True
        self.connect()
        self.assertEqual(self.sync().state, "done")
        customers = self.env["billwerk.customer"].search(
            [("account_id", "=", self.account.id)]
        )
        self.assertTrue(customers)
        self.assertTrue(all(customer.partner_id for customer in customers))
        matched = customers.filtered(lambda c: c.handle == first["handle"])
        self.assertEqual(matched.partner_id, existing)
        other = (customers - matched)[0]
        self.assertEqual(other.partner_id.email, other.email)
        self.assertEqual(other.partner_id.company_id, self.account.company_id)
        self.assertEqual(other.partner_id.country_id, other.country_id)

    def test_customers_stay_unlinked_when_the_option_is_off(self):
        partners = self.env["res.partner"].search_count([])
        self.connect()
        self.sync()
        self.assertTrue(self.count("billwerk.customer"))
        self.assertEqual(self.env["res.partner"].search_count([]), partners)

    def test_switching_the_option_on_later_links_them_at_reconciliation(self):
        self.connect()
        self.sync()
        self.account.create_partners = True
        run = self.sync(mode="reconciliation")
        customers = (
            self.env["billwerk.customer"]
            .with_context(active_test=False)
            .search([("account_id", "=", self.account.id)])
        )
        self.assertTrue(all(customer.partner_id for customer in customers))
        self.assertEqual(run.updated_count, len(customers))
        self.assertEqual(self.sync(mode="reconciliation").updated_count, 0)
