"""Revenue recognised over the service period: schedules and their entries.

With ``recognize_revenue`` on, a posted invoice's lines whose service reaches
past its month are booked on the deferred revenue account (the posting book
decides, ``billwerk_posting_book.py``). In the same transaction this model
splits each such line into monthly shares (``mapping/revenue.py``), stores
them (``billwerk.revenue.share``, unique per line, month and source: a rerun
or a crash never schedules twice) and books them in the month's recognition
entry: one entry per Billwerk account and month, in the recognition journal,
dated the month's last day in the account's time zone, its lines grouped by
income account, analytic distribution and currency, the deferred revenue
account on the other side. An entry whose day has come is posted at the end
of the posting pass; the later ones wait as drafts that Odoo's own scheduled
action posts on their day (``auto_post = 'at_date'``). Shares added to a month
whose entry is posted already go to a second entry of that month.

A credit note or a cancellation takes the credited amount out of what is
still deferred first, latest months first, and out of recognised revenue
only for the rest (``_absorb_credit``), so that no deferred revenue is left
for a period nobody pays for.
"""

import json
from collections import defaultdict

from odoo import Command, api, models
from odoo.exceptions import UserError

from ..mapping.money import amount_to_minor, minor_to_amount
from ..mapping.revenue import (
    ServicePeriod,
    deferral_shares,
    month_end,
    take_latest_first,
)
from .billwerk_posting_book import new_named_journal

PREFIX = "recognition"


class BillwerkRevenueRecognition(models.AbstractModel):
    _name = "billwerk.revenue.recognition"
    _description = "Billwerk revenue recognition"

    # -- set-up --
    def _journal(self, account):
        if account.recognition_journal_id:
            return account.recognition_journal_id
        journal = new_named_journal(
            self.env,
            account.company_id,
            lambda env: env._("Billwerk revenue"),
            "BWR",
            "general",
        )
        account.recognition_journal_id = journal
        return journal

    # -- around the posting of a batch --
    def _before_post(self, moves):
        """Move the deferred lines' analytic distribution to their schedule.

        Odoo gave each line the distribution of its product, partner and
        account; a deferred line's account is the deferred revenue account,
        whose analytic lines would count the revenue at the invoice's date and
        again at each recognition. The distribution the income account would
        have is kept for the recognition entries; the deferred line has none.
        Returns ``{line id: distribution}``.
        """
        lines = moves.line_ids.filtered("billwerk_income_account_id")
        if not lines:
            return {}
        models_ = self.env["account.analytic.distribution.model"]
        found = {}
        for line in lines:
            found[line.id] = (
                models_._get_distribution(
                    {
                        "product_id": line.product_id.id,
                        "product_categ_id": line.product_id.categ_id.id,
                        "partner_id": line.partner_id.id,
                        "partner_category_id": line.partner_id.category_id.ids,
                        "account_prefix": line.billwerk_income_account_id.code,
                        "company_id": line.company_id.id,
                    }
                )
                or line.analytic_distribution
                or {}
            )
        lines.filtered("analytic_distribution").analytic_distribution = False
        return found

    def _after_post(self, account, moves, distributions):
        """Schedule the posted invoices' deferred lines; absorb the credit notes'."""
        invoices = moves.filtered(lambda m: m.move_type == "out_invoice")
        self._schedule(account, invoices, distributions)
        for note in moves.filtered(
            lambda m: m.move_type == "out_refund" and m.reversed_entry_id
        ):
            self._absorb_credit(account, note.reversed_entry_id, note, cancel=False)

    def _schedule(self, account, moves, distributions):
        """Schedule and book the deferred lines of ``moves``, just posted."""
        lines = moves.line_ids.filtered("billwerk_income_account_id")
        if not lines:
            return
        # The copies are linked to their entries after the batch: found by
        # the entries' binding (invoice/<Billwerk id>).
        move_of = {
            move.billwerk_document.split("/", 1)[1]: move.id
            for move in moves
            if (move.billwerk_document or "").startswith("invoice/")
        }
        plans = {
            move_of[invoice.billwerk_id]: invoice.plan_id
            for invoice in self.env["billwerk.invoice"].search(
                [("account_id", "=", account.id), ("billwerk_id", "in", list(move_of))]
            )
        }
        rows = []
        for line in lines:
            rows.extend(
                self._share_rows(
                    account,
                    line,
                    plans.get(line.move_id.id),
                    distributions.get(line.id),
                )
            )
        if rows:
            self._book_shares(account, self.env["billwerk.revenue.share"].create(rows))

    def _share_rows(self, account, line, plan, distribution):
        currency, company_currency = line.currency_id, line.company_currency_id
        period = ServicePeriod(line.billwerk_period_start, line.billwerk_period_end)
        # Revenue is a credit: the shares are positive amounts to recognise.
        amount = amount_to_minor(-line.amount_currency, currency.name)
        company_amount = amount_to_minor(-line.balance, company_currency.name)
        day = line.move_id.invoice_date
        shares = deferral_shares(amount, period, day) or []
        company_shares = dict(deferral_shares(company_amount, period, day) or [])
        return [
            {
                "account_id": account.id,
                "source_line_id": line.id,
                "plan_id": plan.id if plan else False,
                "income_account_id": line.billwerk_income_account_id.id,
                "analytic_distribution": distribution or False,
                "currency_id": currency.id,
                "month": month,
                "date": month_end(month),
                "booked_on": day,
                "kind": "share",
                "key": "share",
                "amount_currency": minor_to_amount(share, currency.name),
                "balance": minor_to_amount(
                    company_shares[month], company_currency.name
                ),
            }
            for month, share in shares
        ]

    # -- recognition entries --
    def _book_shares(self, account, shares):
        """Add ``shares`` to their months' draft entries (made where none)."""
        by_month = defaultdict(lambda: self.env["billwerk.revenue.share"])
        for share in shares:
            by_month[share.month] |= share
        drafts = self._drafts(account, list(by_month))
        for month, month_shares in sorted(by_month.items()):
            entry = drafts.get(month)
            commands = self._line_commands(account, entry, month_shares)
            if entry:
                entry.write({"line_ids": commands})
            else:
                entry = self.env["account.move"].create(
                    self._entry_values(account, month, commands)
                )
            month_shares.recognition_move_id = entry
            zero = entry.line_ids.filtered(
                lambda line: (
                    line.currency_id.is_zero(line.amount_currency)
                    and line.company_currency_id.is_zero(line.balance)
                )
            )
            if zero == entry.line_ids:
                # All of the month was credited: nothing left to recognise.
                entry.unlink()
            elif zero:
                entry.write({"line_ids": [Command.unlink(line.id) for line in zero]})

    def _entries(self, account):
        return self.env["account.move"].search(
            [
                ("billwerk_account", "=", account.billwerk_id),
                ("billwerk_document", "=like", f"{PREFIX}/%"),
                ("company_id", "=", account.company_id.id),
            ]
        )

    def _drafts(self, account, months):
        """The draft recognition entry of each month, where there is one."""
        names = {month.strftime("%Y-%m"): month for month in months}
        drafts = {}
        for entry in self._entries(account).filtered(lambda m: m.state == "draft"):
            month = names.get(entry.billwerk_document.split("/")[1])
            if month:
                drafts[month] = entry
        return drafts

    def _entry_values(self, account, month, commands):
        label = month.strftime("%Y-%m")
        taken = self.env["account.move"].search_count(
            [
                ("billwerk_account", "=", account.billwerk_id),
                ("billwerk_document", "=like", f"{PREFIX}/{label}/%"),
            ]
        )
        return {
            "move_type": "entry",
            "journal_id": self._journal(account).id,
            "date": month_end(month),
            "auto_post": "at_date",
            "ref": self.env._("Billwerk revenue recognised in %(month)s", month=label),
            "billwerk_account": account.billwerk_id,
            "billwerk_document": f"{PREFIX}/{label}/{taken + 1}",
            "line_ids": commands,
        }

    def _line_commands(self, account, entry, shares):
        """Commands adding ``shares`` to ``entry``'s grouped lines."""
        income, liability = (
            defaultdict(lambda: [0.0, 0.0]),
            defaultdict(lambda: [0.0, 0.0]),
        )
        for share in shares:
            key = (
                share.income_account_id.id,
                json.dumps(share.analytic_distribution or {}, sort_keys=True),
                share.currency_id.id,
            )
            income[key][0] -= share.amount_currency
            income[key][1] -= share.balance
            liability[(share.source_line_id.account_id.id, share.currency_id.id)][
                0
            ] += share.amount_currency
            liability[(share.source_line_id.account_id.id, share.currency_id.id)][
                1
            ] += share.balance
        existing = {}
        for line in entry.line_ids if entry else ():
            if line.account_id.account_type.startswith("liability"):
                existing[("liability", line.account_id.id, line.currency_id.id)] = line
            else:
                key = (
                    line.account_id.id,
                    json.dumps(line.analytic_distribution or {}, sort_keys=True),
                    line.currency_id.id,
                )
                existing[("income", *key)] = line
        commands = []
        groups = [("income", key, amounts) for key, amounts in income.items()] + [
            ("liability", key, amounts) for key, amounts in liability.items()
        ]
        for side, key, (amount_currency, balance) in groups:
            line = existing.get((side, *key))
            if line:
                commands.append(
                    Command.update(
                        line.id,
                        {
                            "amount_currency": line.amount_currency + amount_currency,
                            "balance": line.balance + balance,
                        },
                    )
                )
                continue
            values = {
                "account_id": key[0],
                "currency_id": key[-1],
                "amount_currency": amount_currency,
                "balance": balance,
                "name": self.env._("Revenue recognised")
                if side == "income"
                else self.env._("Deferred revenue released"),
            }
            if side == "income" and key[1] != "{}":
                values["analytic_distribution"] = json.loads(key[1])
            commands.append(Command.create(values))
        return commands

    @api.model
    def _post_due(self, account):
        """Post the recognition entries whose day has come.

        One that Odoo refuses (a period locked since) stays a draft with
        Odoo's words in its chatter, and never stops the others nor the run.
        """
        today = account._billwerk_today()
        due = self._entries(account).filtered(
            lambda m: m.state == "draft" and m.date <= today
        )
        empty = due.filtered(lambda m: not m.line_ids)
        empty.unlink()
        due -= empty
        try:
            with self.env.cr.savepoint():
                due.action_post()
        except UserError:
            for entry in due:
                try:
                    with self.env.cr.savepoint():
                        entry.action_post()
                except UserError as refusal:
                    entry.message_post(
                        body=self.env._(
                            "Not posted by the Billwerk connector: %(words)s",
                            words=str(refusal),
                        )
                    )
        return due.filtered(lambda m: m.state == "posted")

    # -- credits --
    def _absorb_credit(self, account, invoice_move, credit_move, *, cancel):
        """Take a credit note's or a cancellation's amount out of the deferral.

        What is still deferred (shares whose entry is not posted) is taken
        first, latest months first; only the rest comes out of recognised
        revenue. A credit note books its lines on the income accounts: an
        adjustment moves the part taken from the deferral back onto the
        deferred revenue account. A cancellation reverses the invoice's lines,
        the deferred revenue account included: the adjustment takes the part
        that was recognised already out of income.
        """
        Share = self.env["billwerk.revenue.share"]
        schedule = Share.search([("invoice_move_id", "=", invoice_move.id)])
        if not schedule:
            return
        day = credit_move.date
        # What is still deferred on the credit's day: the months that had not
        # ended by then (a month that had, keeps its revenue even where its
        # entry waits for the end of this pass to be posted).
        open_shares = schedule.filtered(lambda s: not s.recognised and s.date >= day)
        lines = schedule.source_line_id
        credit_key = f"credit/{credit_move.id}"
        rows, adjust = [], defaultdict(lambda: [0.0, 0.0])
        reversed_amounts = (
            self._reversed_amounts(invoice_move, credit_move) if cancel else {}
        )
        for line in lines:
            currency = line.currency_id
            company_currency = line.company_currency_id
            own = open_shares.filtered(lambda s, line=line: s.source_line_id == line)
            deferred = self._open_by_month(own)
            if cancel:
                wanted = sum(amount for _m, amount, _c in deferred.values())
            else:
                wanted = self._credited(credit_move, line, schedule)
            if wanted <= 0:
                continue
            taken = take_latest_first(
                [(month, a, c, line.id) for month, (month, a, c) in deferred.items()],
                wanted,
            )
            first = schedule.filtered(lambda s, line=line: s.source_line_id == line)[:1]
            taken_amount = taken_company = 0
            for month, part, company_part, _line in taken:
                taken_amount += part
                taken_company += company_part
                rows.append(
                    {
                        "account_id": account.id,
                        "source_line_id": line.id,
                        "plan_id": first.plan_id.id,
                        "income_account_id": first.income_account_id.id,
                        "analytic_distribution": first.analytic_distribution or False,
                        "currency_id": currency.id,
                        "month": month,
                        "date": month_end(month),
                        "booked_on": day,
                        "kind": "credit",
                        "key": credit_key,
                        "credit_move_id": credit_move.id,
                        "amount_currency": -minor_to_amount(part, currency.name),
                        "balance": -minor_to_amount(
                            company_part, company_currency.name
                        ),
                    }
                )
            if cancel:
                # The reversal took the whole line off the deferred account
                # (at its own rate): what was recognised comes back onto it,
                # out of income.
                total, total_company = reversed_amounts[line.id]
                moved = (taken_amount - total, taken_company - total_company)
            else:
                moved = (taken_amount, taken_company)
            if moved != (0, 0):
                key = (
                    first.income_account_id.id,
                    json.dumps(first.analytic_distribution or {}, sort_keys=True),
                    currency.id,
                    line.account_id.id,
                )
                adjust[key][0] += minor_to_amount(moved[0], currency.name)
                adjust[key][1] += minor_to_amount(moved[1], company_currency.name)
        if rows:
            self._book_shares(account, Share.create(rows))
        if adjust:
            self._adjustment(account, credit_move, adjust, cancel=cancel)

    def _reversed_amounts(self, invoice_move, reversal):
        """What the reversal of ``invoice_move`` debits per deferred line, in
        minor units ``(currency, company)``: Odoo copies the lines in order."""
        originals = invoice_move.invoice_line_ids.sorted(lambda l: (l.sequence, l.id))
        copies = reversal.invoice_line_ids.sorted(lambda l: (l.sequence, l.id))
        amounts = {}
        for original, copy in zip(originals, copies, strict=True):
            if original.billwerk_income_account_id:
                amounts[original.id] = (
                    amount_to_minor(copy.amount_currency, copy.currency_id.name),
                    amount_to_minor(copy.balance, copy.company_currency_id.name),
                )
        return amounts

    def _open_by_month(self, shares):
        """``{month: (month, amount, company amount)}`` still deferred (minor units)."""
        open_ = {}
        for share in shares:
            amount, company = open_.get(share.month, (share.month, 0, 0))[1:]
            open_[share.month] = (
                share.month,
                amount + amount_to_minor(share.amount_currency, share.currency_id.name),
                company
                + amount_to_minor(share.balance, share.company_currency_id.name),
            )
        return {month: row for month, row in open_.items() if row[1] > 0}

    def _credited(self, credit_move, line, schedule):
        """What a credit note credits of ``line``, in its currency's minor units.

        A credit note's lines are matched to the invoice's deferred lines by
        income account; where several deferred lines share one, the credit
        is spread over them in the order of the invoice, each up to its own
        amount.
        """
        income = schedule.filtered(lambda s: s.source_line_id == line).income_account_id
        currency = line.currency_id
        credited = sum(
            amount_to_minor(note_line.amount_currency, currency.name)
            for note_line in credit_move.invoice_line_ids
            if note_line.account_id == income
        )
        siblings = schedule.filtered(
            lambda s: s.income_account_id == income
        ).source_line_id.sorted(lambda s: (s.sequence, s.id))
        for sibling in siblings:
            own = amount_to_minor(-sibling.amount_currency, currency.name)
            if sibling == line:
                return min(credited, own)
            credited -= min(credited, own)
        return 0

    def _adjustment(self, account, credit_move, adjust, *, cancel):
        """One posted entry moving amounts between income and deferred revenue.

        ``adjust``: per (income account, distribution, currency, deferred
        account), ``(amount, balance)`` to debit on the deferred revenue
        account and credit on income (negative: the other way round).
        """
        name = (
            self.env._("Recognised revenue of a cancelled invoice")
            if cancel
            else self.env._("Credited revenue that was still deferred")
        )
        commands = []
        for key, (amount, balance) in adjust.items():
            income, distribution, currency, deferred = key
            income_values = {
                "account_id": income,
                "currency_id": currency,
                "amount_currency": -amount,
                "balance": -balance,
                "name": name,
            }
            if distribution != "{}":
                income_values["analytic_distribution"] = json.loads(distribution)
            commands.append(Command.create(income_values))
            commands.append(
                Command.create(
                    {
                        "account_id": deferred,
                        "currency_id": currency,
                        "amount_currency": amount,
                        "balance": balance,
                        "name": name,
                    }
                )
            )
        entry = self.env["account.move"].create(
            {
                "move_type": "entry",
                "journal_id": self._journal(account).id,
                "date": credit_move.date,
                "ref": self.env._(
                    "Deferred revenue of %(entry)s", entry=credit_move.name
                ),
                "billwerk_account": account.billwerk_id,
                "billwerk_document": f"deferral/{credit_move.billwerk_document}",
                "line_ids": commands,
            }
        )
        # Posted as Odoo posts one entry (not as the batch of invoices).
        entry.with_context(billwerk_batch_post=False).action_post()
        return entry
