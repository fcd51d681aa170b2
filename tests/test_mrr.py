"""Subscription metrics: the stored MRR rows are mapping/mrr.py's, to the minor unit.

After a sync, every account's rows equal the plain arithmetic over the
sandbox's own invoices (not over the copies: the copies are what is tested);
a later run rewrites exactly the rows its changes touch; each company reads
its own rows, nobody writes them; the account screen shows the last complete
month's figures.
"""

import copy
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from unittest.mock import patch

from odoo.exceptions import AccessError
from odoo.tests import tagged

from ..mapping.money import amount_to_minor, currency_exponent
from ..mapping.mrr import first_month, month_summaries, monthly_rows
from ..models.billwerk_account_mrr import BillwerkAccountMrr, month_last_day
from ..models.billwerk_mrr import round_minor
from .common import PostingCase, new_test_user


def row_key(row):
    return (row.month, row.customer_id.handle, row.currency_id.name)


def stored(rows):
    """``{(month, customer, currency): (mrr, movement, movement, plan, running)}``,
    the amounts in minor units."""
    return {
        row_key(row): (
            amount_to_minor(row.mrr, row.currency_id.name),
            row.movement,
            amount_to_minor(row.movement_amount, row.currency_id.name),
            row.plan_id.handle or None,
            row.running,
        )
        for row in rows
    }


def expected(computed):
    return {
        (row.month, row.customer, row.currency): (
            round_minor(row.mrr),
            row.movement,
            round_minor(row.movement_amount),
            row.plan,
            row.running,
        )
        for row in computed
    }


class MrrCase(PostingCase):
    """The three sandbox accounts (DKK in Copenhagen, JPY in Tokyo, EUR and
    KWD in Berlin), synced once, the running month taken at one instant."""

    @classmethod
    def setUpClass(cls):
        # Before the first sync (in PostingCase's set-up): the instant the
        # running month is taken at is the sandbox's, fixed for the class.
        cls.now = datetime.now(timezone.utc).replace(microsecond=0)
        stack = patch.object(BillwerkAccountMrr, "_mrr_now", lambda _self: cls.now)
        stack.start()
        cls.addClassCleanup(stack.stop)
        super().setUpClass()
        cls.now = max(cls.now, cls.sandbox.clock.now().replace(microsecond=0))
        cls.accounts = [cls.account]
        for number, key in enumerate(cls.sandbox.keys[1:3], start=2):
            # One Billwerk account per company; no chart needed for MRR.
            company = cls.env["res.company"].create({"name": f"MRR company {number}"})
            cls.give_rates(company)
            account = cls.env["billwerk.account"].create(
                {"company_id": company.id, "api_url": cls.sandbox.url}
            )
            cls.store_key(account, key)
            cls.env["billwerk.sync.run"]._run_for(account, trigger="manual")
            cls.accounts.append(account)
        # The first account's rows, recomputed at the class's instant (the
        # first sync ran before the sandbox's clock was read).
        cls.account._mark_mrr_stale(datetime(1900, 1, 1).date())
        cls.env["billwerk.sync.run"]._run_for(cls.account, trigger="manual")
        # What the sandbox had when the copies were made (its data lives on
        # between tests; Odoo's is rolled back).
        cls.sandbox_invoices = {
            account: copy.deepcopy(list(cls.sandbox.account(key).invoices.values()))
            for account, key in zip(cls.accounts, cls.sandbox.keys, strict=False)
        }

    def rows(self, account=None, **extra):
        domain = [("account_id", "=", (account or self.account).id)]
        domain += [(name, "=", value) for name, value in extra.items()]
        return self.env["billwerk.mrr"].search(domain)

    def computed(self, account, invoices=None):
        if invoices is None:
            invoices = self.sandbox_invoices[account]
        return monthly_rows(invoices, account._billwerk_zone(), self.now)


@tagged("post_install", "-at_install")
class TestMrrRows(MrrCase):
    def test_the_rows_are_the_arithmetic_over_every_sandbox_invoice(self):
        currencies, movements = set(), set()
        for account in self.accounts:
            want = expected(self.computed(account))
            got = stored(self.rows(account))
            self.assertTrue(want, account.display_name)
            self.assertEqual(got, want, account.display_name)
            self.assertFalse(account.mrr_stale_from)
            currencies |= {currency for _month, _customer, currency in got}
            movements |= {values[1] for values in got.values()}
        self.assertLessEqual({"DKK", "JPY", "EUR", "KWD"}, currencies)
        self.assertLessEqual({"new", "churn", "retained"}, movements)

    def test_the_company_figure_is_converted_at_the_months_last_day(self):
        company = self.accounts[2].company_id
        checked = 0
        for row in self.rows(self.accounts[2]):
            if row.currency_id == company.currency_id or checked > 20:
                continue
            self.assertEqual(
                row.mrr_company,
                row.currency_id._convert(
                    row.mrr, company.currency_id, company, month_last_day(row.month)
                ),
            )
            checked += 1
        self.assertTrue(checked)

    def test_the_stored_rows_are_read_whole_from_an_empty_cache(self):
        # Reading the company's currency after the query, from an empty
        # cache, once replaced the rows not yet fetched with its own.
        count = len(self.rows())
        self.env.invalidate_all()
        stored_rows, duplicates = self.account._mrr_stored(None)
        self.assertEqual(len(stored_rows) + len(duplicates), count)

    def test_a_rerun_without_changes_keeps_every_row(self):
        before = {row.id: stored(row) for row in self.rows()}
        run = self.sync()
        self.assertEqual(run.state, "done")
        self.assertEqual({row.id: stored(row) for row in self.rows()}, before)

    def test_the_account_screen_shows_the_last_complete_month(self):
        for account in self.accounts:
            zone = account._billwerk_zone()
            month = (self.now.astimezone(zone).date().replace(day=1)) - timedelta(
                days=1
            )
            month = month.replace(day=1)
            rows = self.rows(account, month=month)
            self.assertEqual(account.mrr_month, month)
            self.assertIn(str(month.year), account.mrr_month_name)
            if len(rows.currency_id) > 1:
                currency = account.company_id.currency_id
                self.assertEqual(account.mrr_currency_id, currency)
                self.assertAlmostEqual(
                    account.mrr_amount,
                    currency.round(sum(rows.mapped("mrr_company"))),
                )
                # The movements pivot's total in the company's currency.
                self.assertAlmostEqual(
                    account.mrr_net_movement,
                    currency.round(sum(rows.mapped("movement_company"))),
                )
                continue
            # One currency: the figures are month_summaries' over the rows,
            # to the minor unit.
            [summary] = [
                summary
                for summary in month_summaries(self.computed(account))
                if summary.month == month
            ]
            code = summary.currency
            self.assertEqual(account.mrr_currency_id.name, code)

            def minor(value, code=code):
                return amount_to_minor(value, code)

            self.assertEqual(minor(account.mrr_amount), round_minor(summary.mrr))
            self.assertEqual(minor(account.arr_amount), 12 * minor(account.mrr_amount))
            self.assertEqual(account.mrr_active_customers, summary.active_customers)
            if summary.arpu is not None:
                self.assertLessEqual(
                    abs(minor(account.mrr_arpu) - summary.arpu), 1, account.display_name
                )
            self.assertEqual(
                minor(account.mrr_net_movement),
                sum(minor(value) for value in rows.mapped("movement_amount")),
            )
            if summary.churn_rate is not None:
                self.assertAlmostEqual(
                    account.mrr_churn_rate,
                    float(100 * summary.churn_rate),
                    delta=10 ** -currency_exponent(code),
                )

    def test_each_figure_opens_the_rows_it_is_made_of(self):
        for account in self.accounts:
            one = len(self.rows(account, month=account.mrr_month).currency_id) == 1
            currency = account.mrr_currency_id
            action = account.action_open_mrr_report()
            self.assertEqual(action["res_model"], "billwerk.mrr")
            self.assertEqual(action["views"][0][1], "pivot")
            self.assertIn(account.mrr_month_name, action["display_name"])
            rows = self.env["billwerk.mrr"].search(action["domain"])
            self.assertEqual(set(rows.mapped("month")), {account.mrr_month})
            self.assertEqual(len(rows.customer_id), account.mrr_active_customers)
            self.assertAlmostEqual(
                account.mrr_amount,
                currency.round(sum(rows.mapped("mrr" if one else "mrr_company"))),
            )
            movements = account.action_open_mrr_movements()
            self.assertEqual(movements["views"][0][1], "pivot")
            rows = self.env["billwerk.mrr"].search(movements["domain"])
            self.assertEqual(set(rows.mapped("month")), {account.mrr_month})
            self.assertAlmostEqual(
                account.mrr_net_movement,
                currency.round(
                    sum(rows.mapped("movement_amount" if one else "movement_company"))
                ),
            )

    def test_a_failure_is_a_warning_and_the_next_run_catches_up(self):
        self.account._mark_mrr_stale(self.rows()[-1].month)
        with patch.object(
            BillwerkAccountMrr, "_recompute_mrr", side_effect=ZeroDivisionError("x")
        ):
            run = self.sync()
        self.assertEqual(run.state, "warning")
        self.assertEqual(run.warning_ids.mapped("entity"), ["metrics"])
        self.assertTrue(self.account.mrr_stale_from)
        self.assertEqual(self.sync().state, "done")
        self.assertFalse(self.account.mrr_stale_from)

    def test_a_call_out_of_time_leaves_the_rows_to_the_next_run(self):
        run = self.sync()
        self.account._mark_mrr_stale(self.rows()[-1].month)
        spent = SimpleNamespace(budget=SimpleNamespace(spent=lambda: True))
        with patch.object(BillwerkAccountMrr, "_recompute_mrr") as recompute:
            run._update_metrics(spent)
        recompute.assert_not_called()
        self.assertTrue(self.account.mrr_stale_from)


@tagged("post_install", "-at_install")
class TestMrrAccess(MrrCase):
    def test_nobody_writes_the_rows(self):
        row = self.rows()[0]
        for user in (self.billwerk_user, self.manager):
            rows = self.env["billwerk.mrr"].with_user(user)
            with self.assertRaises(AccessError):
                rows.browse(row.id).write({"mrr": 1.0})
            with self.assertRaises(AccessError):
                rows.create({"account_id": self.account.id, "month": row.month})
            with self.assertRaises(AccessError):
                rows.browse(row.id).unlink()

    def test_a_member_without_accounting_rights_reads_the_metrics(self):
        member = self.billwerk_user
        self.assertFalse(member.has_group("account.group_account_invoice"))
        rows = self.env["billwerk.mrr"].with_user(member).search([])
        self.assertEqual(
            len(rows),
            self.env["billwerk.mrr"].search_count(
                [("company_id", "=", self.env.company.id)]
            ),
        )
        self.assertTrue(rows)
        account = self.account.with_user(member)
        self.assertTrue(account.mrr_amount)
        self.assertEqual(account.action_open_mrr_report()["res_model"], "billwerk.mrr")

    def test_another_company_sees_none(self):
        company = self.env["res.company"].create({"name": "Elsewhere ApS"})
        outsider = new_test_user(
            self.env,
            login="mrr_outsider",
            groups="base.group_user,account.group_account_invoice,"
            "billwerk_connector.group_billwerk_account",
            company_id=company.id,
            company_ids=[company.id],
        )
        self.assertTrue(self.rows())
        self.assertFalse(self.env["billwerk.mrr"].with_user(outsider).search([]))


@tagged("post_install", "-at_install")
class TestMrrIncremental(MrrCase):
    def after_first_month(self, account, invoice):
        """Whether ``invoice`` starts after the account's first month of MRR
        (changing it must not recompute everything)."""
        zone = account._billwerk_zone()
        first = min(row.month for row in self.computed(account))
        return (first_month(invoice["order_lines"], zone) or first) > first

    def test_an_upgrade_a_cancellation_and_a_signup_change_only_their_rows(self):
        account = self.account
        sandbox_account = self.sandbox.account(self.key)
        zone = account._billwerk_zone()
        current = self.now.astimezone(zone).date().replace(day=1)
        last = (current - timedelta(days=1)).replace(day=1)

        def local(day):
            return datetime(day.year, day.month, day.day, tzinfo=zone).isoformat()

        before_rows = self.rows()
        before = {
            row_key(row): (row.id, stored(row)[row_key(row)]) for row in before_rows
        }
        before_computed = expected(self.computed(account))
        # An upgrade: a customer paying last month pays more for it.
        paying = sorted(
            key[1]
            for key, values in before_computed.items()
            if key[0] == last and key[2] == "DKK" and values[0] > 0
        )
        self.sandbox.create_invoice(
            self.key,
            paying[0],
            lines=[
                {
                    "text": "Upgrade",
                    "amount": 25000,
                    "origin": "plan",
                    "period_from": local(last),
                    "period_to": local(current),
                }
            ],
            state="settled",
            currency="DKK",
        )
        # A cancellation: an open invoice whose MRR shows in some row.
        invoices = list(sandbox_account.invoices.values())
        # The sandbox now (another test of the class may have changed it).
        baseline = expected(self.computed(account, invoices))

        def without(invoice):
            cancelled = [
                {**other, "state": "cancelled"} if other is invoice else other
                for other in invoices
            ]
            return expected(self.computed(account, cancelled))

        open_invoice = next(
            invoice
            for invoice in invoices
            if invoice["state"] in ("pending", "dunning", "authorized")
            and invoice["customer"] != paying[0]
            and without(invoice) != baseline
            and self.after_first_month(account, invoice)
        )
        self.sandbox.cancel_invoice(self.key, open_invoice["id"])
        # A signup: a new customer paying for this month.
        customer = self.sandbox.create_customer(self.key)["handle"]
        self.sandbox.create_invoice(
            self.key,
            customer,
            lines=[
                {
                    "text": "Basic",
                    "amount": 10000,
                    "origin": "plan",
                    "period_from": local(current),
                    "period_to": local((current + timedelta(days=32)).replace(day=1)),
                }
            ],
            state="settled",
            currency="DKK",
        )
        self.assertLessEqual(
            datetime.fromisoformat(local(current)), self.now, "the signup counts now"
        )
        after_computed = expected(
            self.computed(account, list(sandbox_account.invoices.values()))
        )
        asked, read = [], []

        def spy(invoices, zone, today, months=None, **known):
            asked.append(months)
            read.append(len(invoices))
            return monthly_rows(invoices, zone, today, months=months, **known)

        with patch(f"{BillwerkAccountMrr.__module__}.monthly_rows", spy):
            run = self.sync()
        self.assertEqual(run.state, "done")
        after_rows = self.rows()
        after = {
            row_key(row): (row.id, stored(row)[row_key(row)]) for row in after_rows
        }
        self.assertEqual(
            {key: values for key, (_id, values) in after.items()}, after_computed
        )
        changed = {
            key
            for key in set(before_computed) | set(after_computed)
            if before_computed.get(key) != after_computed.get(key)
        }
        self.assertIn((last, paying[0], "DKK"), changed)
        self.assertIn((current, customer, "DKK"), changed)
        self.assertTrue(
            any(key[1] == open_invoice["customer"] for key in changed),
            "the cancelled invoice's customer",
        )
        # Recomputed from the first month a change touched, not from the start.
        [months] = asked
        self.assertTrue(months)
        self.assertLessEqual(months[0], min(key[0] for key in changed))
        self.assertGreater(months[0], min(before_computed)[0])
        # ... and from the invoices reaching into those months only.
        self.assertLess(read[0], len(sandbox_account.invoices))
        for key, (row_id, _values) in after.items():
            if key in changed:
                self.assertNotIn(row_id, {row_id for row_id, _v in before.values()})
            else:
                self.assertEqual(row_id, before[key][0], key)
        self.assertEqual(
            set(before) - set(after), {k for k in changed if k not in after}
        )

    def test_a_webhook_run_recomputes_what_its_events_changed(self):
        account = self.account
        invoices = copy.deepcopy(self.sandbox_invoices[account])
        before = expected(self.computed(account, invoices))
        ids = {row_key(row): row.id for row in self.rows()}
        candidates = [
            invoice
            for invoice in invoices
            if invoice["state"] in ("pending", "dunning", "authorized")
            and self.after_first_month(account, invoice)
        ]
        for invoice in reversed(candidates):
            invoice["state"] = "cancelled"
            after = expected(self.computed(account, invoices))
            if after != before:
                break
            invoice["state"] = "pending"
        self.assertNotEqual(after, before)
        self.sandbox.cancel_invoice(self.key, invoice["id"])
        self.env["billwerk.webhook.event"].sudo().create(
            {
                "account_id": account.id,
                "event_id": "mrr-webhook-1",
                "webhook_id": "mrr-webhook-1",
                "event_type": "invoice_cancelled",
                "customer": invoice["customer"],
                "invoice": invoice["handle"],
            }
        )
        run = self.env["billwerk.sync.run"]._run_for(
            account, trigger="webhook", mode="webhook"
        )
        self.assertEqual(run.state, "done")
        rows = self.rows()
        self.assertEqual(stored(rows), after)
        for row in rows:
            key = row_key(row)
            if before.get(key) == after.get(key):
                self.assertEqual(row.id, ids[key], key)
