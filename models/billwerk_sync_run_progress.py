"""A run's progress as its user sees it: step, share done, time left, cancel.

The run saves its figures with every page or batch; this facet turns them
into a percentage and an estimate, pushes them over Odoo's bus to the users
who may see the account (so that the account screen follows without a
reload), and takes a user's request to cancel.
"""

import time
from datetime import datetime

from odoo import api, fields, models
from odoo.exceptions import UserError

from .odoo_compat import group_members

# At most one push per run and second: a page takes ~60 ms.
PUSH_EVERY = 1.0
BUS_TYPE = "billwerk_sync_progress"
MEMBERS = "billwerk_connector.group_billwerk_account"

_last_push = {}


class BillwerkSyncRunProgress(models.Model):
    _inherit = "billwerk.sync.run"

    read_progress = fields.Float(
        help="Share of the current list's time range read so far (Billwerk "
        "sends lists newest first): the reading step's progress.",
    )
    step_started = fields.Datetime(help="When the current step began.")
    reading_list = fields.Selection(
        selection=lambda self: (
            self.env["billwerk.sync.run.line"]
            ._fields["entity"]
            ._description_selection(self.env)
        ),
        string="List being read",
        help="The list a first load is reading page by page.",
    )
    progress_percent = fields.Float(
        compute="_compute_progress",
        string="Progress",
        help="Share of the current step done: of the time range of the lists "
        "a first load reads, or of the documents to post.",
    )
    progress_text = fields.Char(compute="_compute_progress", string="Now")

    @api.depends(
        "state",
        "progress_step",
        "read_progress",
        "records_read",
        "documents_due",
        "posted_count",
        "step_started",
        "reading_list",
    )
    def _compute_progress(self):
        for run in self:
            run.progress_percent = run._percent()
            run.progress_text = run._describe_progress()

    def _percent(self):
        if self.state not in ("queued", "running"):
            return 100.0 if self.state in ("done", "warning") else 0.0
        if self.progress_step == "posting" and self.documents_due:
            return min(100.0, 100.0 * self.posted_count / self.documents_due)
        if self.progress_step == "reading" and self.mode == "first_load":
            return min(100.0, 100.0 * self.read_progress)
        return 0.0

    def _seconds_left(self):
        """Time left at the step's pace so far; None before there is a pace."""
        share = self._percent() / 100.0
        if not self.step_started or not 0.01 <= share < 1.0:
            return None
        spent = (datetime.now() - self.step_started).total_seconds()
        return spent * (1.0 - share) / share

    def _describe_progress(self):
        account = self.account_id
        if self.state == "queued":
            if self.calls:
                return self.env._(
                    "Continues in the next scheduled call (%(calls)s so far).",
                    calls=self.calls,
                )
            return self.env._("Queued: the scheduled action starts it shortly.")
        if self.state != "running":
            return False
        if self.progress_step == "posting":
            text = self.env._(
                "Posting: %(posted)s of %(due)s documents.",
                posted=account._format_count(self.posted_count),
                due=account._format_count(max(self.documents_due, self.posted_count)),
            )
        elif self.reading_list and self.mode == "first_load":
            lists = dict(self._fields["reading_list"]._description_selection(self.env))
            text = self.env._(
                "Reading Billwerk: %(count)s records so far, now %(list)s.",
                count=account._format_count(self.records_read),
                list=lists[self.reading_list],
            )
        else:
            text = self.env._(
                "Reading Billwerk: %(count)s records so far.",
                count=account._format_count(self.records_read),
            )
        left = self._seconds_left()
        if left is not None:
            minutes = int(left // 60) + 1
            text += " " + self.env._("About %(minutes)s min left.", minutes=minutes)
        return text

    # -- what the run calls --
    def _set_step(self, step):
        """Enter a step; its clock runs across the run's calls.

        Each call of a run that has reached its posting catches up with
        Billwerk first (a few requests): that is not a new reading step.
        """
        if self.progress_step == step or (
            self.progress_step == "posting" and step == "reading"
        ):
            return
        self.write({"progress_step": step, "step_started": fields.Datetime.now()})

    def _push_progress(self, force=False):
        """Tell the members who may see the account where the run stands.

        Sent at the commit, with the figures as committed; the screen reloads
        the account and reads them with the reader's own rights.
        """
        now = time.monotonic()
        if not force and now - _last_push.get(self.id, 0.0) < PUSH_EVERY:
            return
        _last_push[self.id] = now
        company = self.account_id.company_id
        members = group_members(self.env.ref(MEMBERS).sudo())
        members = members.filtered(lambda user: company in user.company_ids)
        payload = {"account_id": self.account_id.id, "run_id": self.id}
        for partner in members.partner_id:
            partner._bus_send(BUS_TYPE, payload)

    def _cancel_requested(self):
        self.env.cr.execute(
            "SELECT 1 FROM billwerk_sync_run_cancellation WHERE run_id = %s LIMIT 1",
            (self.id,),
        )
        return bool(self.env.cr.fetchone())

    # -- the button --
    def action_cancel(self):
        """Cancel a queued or running run; it stops at its next page or batch.

        What it saved stays; the cursors keep their place, so the next run
        goes on from there.
        """
        for run in self:
            run.account_id.check_access("write")
            if run.state not in ("queued", "running"):
                raise UserError(
                    self.env._(
                        "%(run)s has ended; only a queued or running run can be "
                        "cancelled.",
                        run=run.display_name,
                    )
                )
            self.env["billwerk.sync.run.cancellation"].sudo().create(
                {"run_id": run.id, "user_id": self.env.uid}
            )
            if run.state == "queued" and run.account_id._try_lock():
                # Not being worked on: cancelled now, under the account's lock.
                try:
                    run.sudo()._finish_cancelled_in_queue()
                finally:
                    run.account_id._unlock()
        return {"type": "ir.actions.client", "tag": "soft_reload"}

    def _cancelled_by(self):
        return (
            self.env["billwerk.sync.run.cancellation"]
            .sudo()
            .search([("run_id", "=", self.id)], order="id", limit=1)
            .user_id
        )

    def _cancel_words(self):
        """Stored words, in the language of the user who cancelled."""
        user = self._cancelled_by()
        return self.with_context(lang=user.lang or self.env.lang).env._(
            "Cancelled by %(user)s. What the run saved stays; the next run goes "
            "on from there.",
            user=user.name,
        )

    def _finish_cancelled_in_queue(self):
        self.write(
            {
                "state": "cancelled",
                "ended": fields.Datetime.now(),
                "progress_step": False,
                "error_message": self._cancel_words(),
            }
        )
        self._push_progress(force=True)
