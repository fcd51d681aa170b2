"""The synchronization history: each run opens, and says what it was and did."""

from datetime import datetime

from odoo.tests import new_test_user, tagged

from .common import PostingCase
from .web_client import open_form, open_list


@tagged("post_install", "-at_install")
class TestSyncHistory(PostingCase):
    """PostingCase's setUpClass ran the first load; posting is switched on here."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.first_load = cls.env["billwerk.sync.run"].search(
            [("account_id", "=", cls.account.id)]
        )
        cls.account.with_user(cls.manager).write(
            {"post_invoices": True, "post_from": "2000-01-01", "rate_max_age_days": 0}
        )
        member_account = cls.account.with_user(cls.billwerk_user)
        cls.reconciliation = member_account.env["billwerk.sync.run"]._run_for(
            member_account, "manual", "reconciliation"
        )
        cls.incremental = cls.env["billwerk.sync.run"]._run_for(cls.account, "cron")

    def member_in(self, tz):
        return new_test_user(
            self.env,
            login=f"billwerk_member_{tz or 'no_zone'}",
            groups="base.group_user,billwerk_connector.group_billwerk_account",
            tz=tz,
        )

    def test_a_runs_title_reads_in_the_users_time_zone_or_utc(self):
        self.first_load.sudo().started = datetime(2026, 7, 1, 10, 5)
        for tz, hour in (("Europe/Copenhagen", "12:05"), (False, "10:05")):
            user = self.member_in(tz)
            run = self.first_load.with_user(user)
            with self.subTest(tz=tz):
                title = open_form(run)[0]["display_name"]
                self.assertIn(hour, title)
                self.assertIn(self.account.billwerk_name, title)
                self.assertTrue(title.startswith("First load of "), title)

    def test_every_run_of_the_history_opens_for_a_member(self):
        runs = self.env["billwerk.sync.run"].with_user(self.member_in("Asia/Tokyo"))
        page = open_list(runs, [("account_id", "=", self.account.id)])
        self.assertEqual(len(page["records"]), 3)
        for row in page["records"]:
            form = open_form(runs.browse(row["id"]))[0]
            self.assertIn(self.account.billwerk_name, form["display_name"])

    def test_the_history_names_the_trigger_and_the_kind_of_run(self):
        labels = {
            run: (
                dict(run._fields["trigger"]._description_selection(self.env))[
                    run.trigger
                ],
                dict(run._fields["mode"]._description_selection(self.env))[run.mode],
            )
            for run in (self.first_load, self.reconciliation, self.incremental)
        }
        self.assertEqual(labels[self.first_load], ("Button", "First load"))
        self.assertEqual(labels[self.reconciliation], ("Button", "Full reconciliation"))
        self.assertEqual(labels[self.incremental], ("Scheduled action", "Incremental"))
        self.assertEqual(self.reconciliation.user_id, self.billwerk_user)

    def test_each_run_says_what_it_posted(self):
        self.assertEqual(self.first_load.posted_count, 0, "posting was off")
        posted = self.invoices().filtered("move_id")
        self.assertTrue(posted)
        self.assertEqual(self.reconciliation.posted_invoice_count, len(posted))
        self.assertEqual(
            self.reconciliation.posted_payment_count,
            self.env["account.payment"].search_count(
                [("billwerk_account", "=", self.account.billwerk_id)]
            ),
        )
        self.assertEqual(self.incremental.posted_count, 0, "nothing new to post")
