from odoo import fields, models

from .odoo_compat import Constraint


class BillwerkPaymentJournal(models.Model):
    """The journal that books one Billwerk payment type, where it is not the
    account's payment journal (MobilePay paid out apart from cards, say, or
    offline payments straight to the bank)."""

    _name = "billwerk.payment.journal"
    _description = "Billwerk payment type to journal"
    _order = "account_id, payment_type"

    account_id = fields.Many2one(
        "billwerk.account", required=True, ondelete="cascade", index=True
    )
    company_id = fields.Many2one(related="account_id.company_id", store=True)
    payment_type = fields.Char(
        required=True,
        help="As Billwerk names it: card, mobilepay, sepa, manual (settled "
        "outside Billwerk's acquirer) ...",
    )
    journal_id = fields.Many2one(
        "account.journal",
        required=True,
        check_company=True,
        domain="[('type', 'in', ('bank', 'cash'))]",
        ondelete="restrict",
    )

    _payment_type_uniq = Constraint(
        "unique(account_id, payment_type)",
        "A payment type has one journal per account.",
    )
