"""The account screen's Accounting section: what is posted, where, and why not."""

from datetime import datetime, timezone

from odoo import fields, models, tools
from odoo.exceptions import AccessError, ValidationError

# The account screen lists this many reasons; the list of waiting invoices
# has them all.
SHOWN_REASONS = 5
# Who sees what the books hold: the figures read journal entries, which a
# member of the Billwerk group alone may not read; for them they are hidden.
BOOKS_READERS = "account.group_account_invoice,account.group_account_readonly"


class BillwerkAccountBooks(models.Model):
    _inherit = "billwerk.account"

    post_invoices = fields.Boolean(
        string="Post to accounting",
        help="Post every Billwerk invoice and credit note as a customer invoice "
        "or credit note of this company, once, after each synchronization.",
    )
    post_from = fields.Date(
        string="Post invoices created on or after",
        help="Invoices created earlier in Billwerk are never posted: they are in "
        "the books already, some other way. Set when posting is switched on "
        "(that day, in the Billwerk account's time zone).",
    )
    sale_journal_id = fields.Many2one(
        "account.journal",
        string="Sales journal",
        check_company=True,
        domain="[('type', '=', 'sale')]",
        help="Empty: a journal 'Billwerk' of type sale is made for the company "
        "when the first invoice is posted. Keep it for Billwerk's invoices "
        "alone: they are posted with Billwerk's invoice numbers.",
    )
    rate_max_age_days = fields.Integer(
        string="Exchange rates valid for (days)",
        default=7,
        help="A document in another currency than the company's waits while the "
        "company's last rate of that currency before the document's date is "
        "older than this. 0: any earlier rate will do.",
    )
    match_partners = fields.Boolean(
        string="Reuse contacts with the customer's e-mail",
        help="Off: every Billwerk customer gets a contact of its own, since an "
        "e-mail typed at a self-service signup proves nothing. On: an existing "
        "contact of this company with the same e-mail is reused, never a "
        "user's contact nor one whose VAT number differs from Billwerk's.",
    )
    tax_mapping_ids = fields.One2many(
        "billwerk.tax.mapping", "account_id", string="VAT mapping"
    )
    payment_journal_id = fields.Many2one(
        "account.journal",
        string="Payment journal",
        check_company=True,
        domain="[('type', 'in', ('bank', 'cash'))]",
        help="Where Billwerk's payments and refunds are booked: the money its "
        "acquirer holds until the payout. Empty: a bank journal 'Billwerk "
        "payments' is made for the company on first use. Reconcile it with the "
        "acquirer's payouts to your bank account.",
    )
    payment_journal_ids = fields.One2many(
        "billwerk.payment.journal",
        "account_id",
        string="Journals per payment type",
        help="Payment types booked to another journal than the payment journal.",
    )
    line_product_ids = fields.One2many(
        "billwerk.line.product", "account_id", string="Products of other lines"
    )
    posted_invoice_count = fields.Integer(
        compute="_compute_posting_summary",
        string="Posted invoices",
        groups=BOOKS_READERS,
    )
    waiting_invoice_count = fields.Integer(
        compute="_compute_posting_summary",
        string="Waiting invoices",
        groups=BOOKS_READERS,
    )
    waiting_summary = fields.Text(
        compute="_compute_posting_summary", groups=BOOKS_READERS
    )
    paid_invoice_count = fields.Integer(
        compute="_compute_posting_summary",
        string="Paid invoices",
        groups=BOOKS_READERS,
    )
    open_invoice_count = fields.Integer(
        compute="_compute_posting_summary",
        string="Open invoices",
        groups=BOOKS_READERS,
    )

    before_start_count = fields.Integer(
        compute="_compute_before_start",
        string="Documents of earlier invoices",
        groups=BOOKS_READERS,
    )
    before_start_summary = fields.Text(
        string="Earlier invoices' documents by kind",
        compute="_compute_before_start",
        groups=BOOKS_READERS,
    )

    differing_entry_count = fields.Integer(
        compute="_compute_differing_entries",
        string="Entries that differ from Billwerk",
        groups=BOOKS_READERS,
    )
    differing_entries = fields.Text(
        string="Entries that differ, with both figures",
        compute="_compute_differing_entries",
        groups=BOOKS_READERS,
    )

    def _differing_entries(self):
        """Bound invoices and credit notes no longer posted, or whose total is
        not Billwerk's: an accountant reset them to draft and changed them."""
        self.ensure_one()
        self.env["account.move"].flush_model()
        self.env["billwerk.invoice"].flush_model()
        self.env["billwerk.credit.note"].flush_model()
        self.env.cr.execute(
            """
            SELECT m.id, d.amount FROM account_move m
              JOIN billwerk_invoice d
                ON m.billwerk_document = 'invoice/' || d.billwerk_id
             WHERE m.billwerk_account = %(billwerk)s AND d.account_id = %(account)s
               AND m.company_id = %(company)s
               AND (m.state != 'posted' OR m.amount_total != d.amount)
            UNION ALL
            SELECT m.id, d.amount FROM account_move m
              JOIN billwerk_credit_note d
                ON m.billwerk_document = 'credit_note/' || d.billwerk_id
             WHERE m.billwerk_account = %(billwerk)s AND d.account_id = %(account)s
               AND m.company_id = %(company)s
               AND (m.state != 'posted' OR m.amount_total != d.amount)
             ORDER BY 1
            """,
            {
                "billwerk": self.billwerk_id,
                "account": self.id,
                "company": self.company_id.id,
            },
        )
        rows = self.env.cr.fetchall()
        moves = self.env["account.move"].sudo().browse([row[0] for row in rows])
        return [(move, amount) for move, (_id, amount) in zip(moves, rows, strict=True)]

    def _compute_differing_entries(self):
        for account in self:
            rows = account._differing_entries() if account.billwerk_id else []
            account.differing_entry_count = len(rows)
            account.differing_entries = "\n".join(
                self.env._(
                    "%(move)s (%(state)s): %(odoo)s in Odoo, %(billwerk)s in Billwerk",
                    move=move.name,
                    state=dict(move._fields["state"]._description_selection(self.env))[
                        move.state
                    ],
                    odoo=tools.formatLang(
                        self.env, move.amount_total, currency_obj=move.currency_id
                    ),
                    billwerk=tools.formatLang(
                        self.env, amount, currency_obj=move.currency_id
                    ),
                )
                for move, amount in rows[:SHOWN_REASONS]
            )

    def action_open_differing_entries(self):
        self.ensure_one()
        moves = self.env["account.move"].browse(
            [move.id for move, _amount in self._differing_entries()]
        )
        return moves._get_records_action(
            name=self.env._("Entries that differ from Billwerk")
        )

    def _before_start_invoice_domain(self):
        """Invoices created before posting started, not posted, not marked."""
        self.ensure_one()
        start = self.env["billwerk.posting"]._post_from_utc(self)
        return [
            ("account_id", "=", self.id),
            ("move_id", "=", False),
            ("booked_elsewhere", "=", False),
            ("post_requested", "=", False),
            ("created", "<", start),
        ]

    def _compute_before_start(self):
        """Payments, refunds and credit notes the books would silently miss.

        They belong to invoices created before posting started, which are
        never posted on their own: the screen counts them, in each currency,
        until each is posted with its invoice or marked booked elsewhere.
        """
        for account in self:
            account.before_start_count = 0
            account.before_start_summary = False
            if not account.post_invoices or not account.post_from:
                continue
            invoices = [
                ("invoice_id." + name, operator, value)
                for name, operator, value in account._before_start_invoice_domain()
                if name != "account_id"
            ]
            common = [("account_id", "=", account.id), ("booked_elsewhere", "=", False)]
            payments = self.env["billwerk.transaction"]._read_group(
                common
                + invoices
                + [
                    ("type", "in", ("settle", "refund")),
                    ("state", "in", ("settled", "refunded")),
                ],
                ["currency_id"],
                ["__count", "amount:sum"],
            )
            notes = self.env["billwerk.credit.note"]._read_group(
                common + invoices, ["currency_id"], ["__count", "amount:sum"]
            )
            count = sum(row[1] for row in payments) + sum(row[1] for row in notes)
            if not count:
                continue
            account.before_start_count = count
            payment_count = sum(row[1] for row in payments)
            note_count = sum(row[1] for row in notes)
            # Name only what there is: "0 credit notes (0)" reads like a fault.
            if payment_count and note_count:
                message = self.env._(
                    "%(payments)s payments and refunds (%(payment_amounts)s) and "
                    "%(notes)s credit notes (%(note_amounts)s) belong to invoices "
                    "created before posting started: post them with their invoice, "
                    "or mark them booked elsewhere.",
                    payments=payment_count,
                    payment_amounts=account._amounts_text(payments),
                    notes=note_count,
                    note_amounts=account._amounts_text(notes),
                )
            elif payment_count:
                message = self.env._(
                    "%(payments)s payments and refunds (%(payment_amounts)s) belong "
                    "to invoices created before posting started: post them with "
                    "their invoice, or mark them booked elsewhere.",
                    payments=payment_count,
                    payment_amounts=account._amounts_text(payments),
                )
            else:
                message = self.env._(
                    "%(notes)s credit notes (%(note_amounts)s) belong to invoices "
                    "created before posting started: post them with their invoice, "
                    "or mark them booked elsewhere.",
                    notes=note_count,
                    note_amounts=account._amounts_text(notes),
                )
            account.before_start_summary = message

    def _amounts_text(self, rows):
        """``1,234.00 DKK, 50.00 EUR``: one amount per currency."""
        return (
            ", ".join(
                tools.formatLang(self.env, amount, currency_obj=currency)
                for currency, _count, amount in rows
            )
            or "0"
        )

    def action_open_before_start(self):
        self.ensure_one()
        domain = self._before_start_invoice_domain() + [
            "|",
            ("transaction_ids.state", "in", ("settled", "refunded")),
            ("credit_note_ids", "!=", False),
        ]
        return self._action_open_records(
            "billwerk.invoice",
            self.env._("Invoices created before posting started"),
            domain[1:],
        )

    def _compute_posting_summary(self):
        invoices = self.env["billwerk.invoice"]
        notes = self.env["billwerk.credit.note"]
        posted = dict(
            invoices._read_group(
                [("account_id", "in", self.ids), ("move_id", "!=", False)],
                ["account_id"],
                ["__count"],
            )
        )
        paid = dict(
            invoices._read_group(
                [
                    ("account_id", "in", self.ids),
                    ("move_id.payment_state", "in", ("paid", "in_payment", "reversed")),
                ],
                ["account_id"],
                ["__count"],
            )
        )
        reasons = {}
        kinds = (
            (invoices, "invoice"),
            (notes, "credit_note"),
            (self.env["billwerk.transaction"], "transaction"),
        )
        for model, kind in kinds:
            for account, reason, count in model._read_group(
                [("account_id", "in", self.ids), ("post_error", "!=", False)],
                ["account_id", "post_error"],
                ["__count"],
            ):
                reasons.setdefault(account, []).append((count, kind, reason))
        for account in self:
            account.posted_invoice_count = posted.get(account, 0)
            account.paid_invoice_count = paid.get(account, 0)
            account.open_invoice_count = posted.get(account, 0) - paid.get(account, 0)
            rows = sorted(reasons.get(account, []), key=lambda row: -row[0])
            account.waiting_invoice_count = sum(
                count for count, kind, _reason in rows if kind == "invoice"
            )
            account.waiting_summary = "\n".join(
                account._waiting_line(count, kind, reason)
                for count, kind, reason in rows[:SHOWN_REASONS]
            )

    def _waiting_line(self, count, kind, reason):
        if kind == "invoice":
            return self.env._(
                "%(count)s invoices wait: %(reason)s", count=count, reason=reason
            )
        if kind == "credit_note":
            return self.env._(
                "%(count)s credit notes wait: %(reason)s", count=count, reason=reason
            )
        return self.env._(
            "%(count)s payments wait: %(reason)s", count=count, reason=reason
        )

    def write(self, vals):
        if not vals.get("post_invoices"):
            return super().write(vals)
        self._check_posting_allowed()
        switched_on = self.filtered(lambda account: not account.post_invoices)
        for account in switched_on:
            # Customers are posted on their contact: linking comes on too.
            extra = {"create_partners": True}
            if not vals.get("post_from") and not account.post_from:
                extra["post_from"] = account._billwerk_today()
            super(BillwerkAccountBooks, account).write({**vals, **extra})
        others = self - switched_on
        return super(BillwerkAccountBooks, others).write(vals) if others else True

    def _check_posting_allowed(self):
        """Only a connected live account posts into the company's books."""
        for account in self:
            if account.billwerk_state == "test":
                raise ValidationError(
                    self.env._(
                        "%(name)s is a Billwerk test account: its invoices are "
                        "no claims on anyone, so they are never posted in the "
                        "books. Set the API key of the live account to post.",
                        name=account.billwerk_name,
                    )
                )
            if account.connection_state != "connected" or not account.billwerk_id:
                raise ValidationError(
                    self.env._(
                        "Connect a Billwerk account with Set API key before "
                        "switching posting on."
                    )
                )

    def _stop_posting(self):
        """After a switch: the new Billwerk account's documents are not posted
        until an accounting manager switches posting on for it, by its name."""
        self.sudo().write({"post_invoices": False, "post_from": False})

    def _posted_summary(self):
        """What the books hold of this Billwerk account, in words."""
        self.ensure_one()
        moves = self.env["account.move"].sudo()
        bound = [
            ("billwerk_account", "=", self.billwerk_id),
            ("company_id", "=", self.company_id.id),
        ]
        invoices = moves.search_count(bound + [("move_type", "=", "out_invoice")])
        notes = moves.search_count(bound + [("move_type", "=", "out_refund")])
        payments = self.env["account.payment"].sudo().search_count(bound)
        if not (invoices or notes or payments):
            return False
        return self.env._(
            "%(invoices)s invoices, %(notes)s credit notes and %(payments)s "
            "payments and refunds",
            invoices=self._format_count(invoices),
            notes=self._format_count(notes),
            payments=self._format_count(payments),
        )

    def _billwerk_today(self):
        now = datetime.now(timezone.utc).astimezone(self._billwerk_zone())
        return now.date()

    # -- posting --
    def action_post_now(self):
        """Queue a run that posts what waits, under the account's lock, as
        after a sync; the scheduled action runs it."""
        self.ensure_one()
        if not self.env.user.has_group("account.group_account_invoice"):
            raise AccessError(
                self.env._("Posting to accounting needs the Invoicing rights.")
            )
        self.check_access("write")
        run = self.env["billwerk.sync.run"]._enqueue(
            self, trigger="manual", mode="posting"
        )
        return run._queued()

    def action_open_waiting_invoices(self):
        self.ensure_one()
        return self._action_open_records(
            "billwerk.invoice",
            self.env._("Invoices waiting to be posted"),
            [("post_error", "!=", False)],
        )

    def action_open_paid_invoices(self):
        self.ensure_one()
        return self._action_open_records(
            "billwerk.invoice",
            self.env._("Paid invoices"),
            [("move_id.payment_state", "in", ("paid", "in_payment", "reversed"))],
        )

    def action_open_open_invoices(self):
        self.ensure_one()
        return self._action_open_records(
            "billwerk.invoice",
            self.env._("Open invoices"),
            [
                ("move_id", "!=", False),
                ("move_id.payment_state", "not in", ("paid", "in_payment", "reversed")),
            ],
        )

    def action_open_posted_invoices(self):
        self.ensure_one()
        return self._action_open_records(
            "billwerk.invoice",
            self.env._("Posted invoices"),
            [("move_id", "!=", False)],
        )
