from odoo import api, fields, models
from odoo.exceptions import AccessError

from .odoo_compat import Constraint


class BillwerkInvoice(models.Model):
    _name = "billwerk.invoice"
    _inherit = ["billwerk.synced.mixin", "billwerk.document.mixin"]
    _description = "Billwerk invoice"
    _order = "created desc, id desc"
    _rec_name = "handle"
    _rec_names_search = ["handle", "number"]

    billwerk_id = fields.Char(string="Billwerk id", required=True, readonly=True)
    handle = fields.Char(readonly=True)
    number = fields.Char(readonly=True)
    customer_handle = fields.Char(readonly=True)
    subscription_handle = fields.Char(readonly=True)
    plan_handle = fields.Char(readonly=True)
    customer_id = fields.Many2one(
        "billwerk.customer", readonly=True, index=True, ondelete="set null"
    )
    subscription_id = fields.Many2one(
        "billwerk.subscription", readonly=True, index=True, ondelete="set null"
    )
    plan_id = fields.Many2one(
        "billwerk.plan", readonly=True, index=True, ondelete="set null"
    )
    state = fields.Selection(
        [
            ("created", "Created"),
            ("pending", "Pending"),
            ("authorized", "Authorized"),
            ("dunning", "Dunning"),
            ("settled", "Settled"),
            ("cancelled", "Cancelled"),
            ("failed", "Failed"),
            ("unknown", "Other"),
        ],
        readonly=True,
        index=True,
    )
    invoice_type = fields.Selection(
        [
            ("s", "Subscription"),
            ("so", "Subscription one-off"),
            ("soi", "Subscription instant"),
            ("co", "Customer one-off"),
            ("ch", "Charge"),
        ],
        string="Type",
        readonly=True,
    )
    amount = fields.Monetary(string="Amount incl. VAT", readonly=True)
    amount_vat = fields.Monetary(string="VAT", readonly=True)
    amount_ex_vat = fields.Monetary(string="Amount excl. VAT", readonly=True)
    settled_amount = fields.Monetary(readonly=True)
    refunded_amount = fields.Monetary(readonly=True)
    due = fields.Datetime(readonly=True)
    settled = fields.Datetime(readonly=True)
    period_from = fields.Date(readonly=True)
    period_to = fields.Date(readonly=True)
    credited_amount = fields.Monetary(readonly=True)
    # Minor units, as Billwerk sent them (mapping/books.py reads them).
    order_lines = fields.Json(readonly=True)
    transaction_ids = fields.One2many(
        "billwerk.transaction", "invoice_id", string="Transactions", readonly=True
    )
    credit_note_ids = fields.One2many(
        "billwerk.credit.note", "invoice_id", string="Credit notes", readonly=True
    )
    move_id = fields.Many2one(
        "account.move",
        string="Journal entry",
        readonly=True,
        copy=False,
        index="btree_not_null",
        ondelete="restrict",
        help="The customer invoice this Billwerk invoice was posted as.",
    )
    reversal_move_id = fields.Many2one(
        "account.move",
        string="Reversal",
        readonly=True,
        copy=False,
        index="btree_not_null",
        ondelete="restrict",
        help="The credit note that reversed the posted invoice when Billwerk "
        "cancelled it.",
    )
    post_error = fields.Char(
        string="Waits because",
        readonly=True,
        copy=False,
        help="Why this invoice is not posted yet; the next run tries again.",
    )
    post_requested = fields.Boolean(
        string="Posted although earlier",
        readonly=True,
        copy=False,
        help="Created before posting started, but an accountant had it posted "
        "with its payments and credit notes.",
    )
    payment_state = fields.Selection(
        related="move_id.payment_state", string="Payment in Odoo"
    )
    posting_state = fields.Selection(
        [
            ("not_posted", "Not posted"),
            ("waiting", "Waiting"),
            ("posted", "Posted"),
            ("reversed", "Reversed"),
        ],
        compute="_compute_posting_state",
    )

    _billwerk_id_account_uniq = Constraint(
        "unique(account_id, billwerk_id)",
        "A Billwerk invoice id is unique per account.",
    )
    _move_uniq = Constraint(
        "unique(move_id)",
        "A journal entry belongs to one Billwerk invoice.",
    )

    @api.depends("move_id", "reversal_move_id", "post_error")
    def _compute_posting_state(self):
        for invoice in self:
            if invoice.reversal_move_id:
                invoice.posting_state = "reversed"
            elif invoice.move_id:
                invoice.posting_state = "posted"
            elif invoice.post_error:
                invoice.posting_state = "waiting"
            else:
                invoice.posting_state = "not_posted"

    # -- documents of invoices from before posting started --
    def _check_accounting_manager(self):
        if not self.env.user.has_group("account.group_account_manager"):
            raise AccessError(
                self.env._("Only accounting managers decide what is posted.")
            )
        self.check_access("read")

    def action_post_with_documents(self):
        """Post these invoices, created before posting started, with their
        payments and credit notes, at the next run or Post now."""
        self._check_accounting_manager()
        self.sudo().filtered(lambda i: not i.move_id).write(
            {"post_requested": True, "booked_elsewhere": False}
        )
        return {"type": "ir.actions.client", "tag": "soft_reload"}

    def action_mark_booked_elsewhere(self):
        """These invoices and their payments and credit notes are in the books
        some other way: the connector never posts them, and says so."""
        self._check_accounting_manager()
        invoices = self.sudo().filtered(lambda i: not i.move_id)
        invoices.write({"booked_elsewhere": True, "post_requested": False})
        invoices.credit_note_ids.filtered(lambda n: not n.move_id).write(
            {"booked_elsewhere": True}
        )
        invoices.transaction_ids.filtered(lambda t: not t.payment_id).write(
            {"booked_elsewhere": True}
        )
        return {"type": "ir.actions.client", "tag": "soft_reload"}

    def action_open_move(self):
        self.ensure_one()
        return self.move_id._get_records_action(name=self.env._("Journal entry"))
