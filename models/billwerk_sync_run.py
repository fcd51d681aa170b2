"""One synchronization run of one account: its steps, its cursors, its log.

The whole algorithm is written once and parameterised by the entity
descriptions of ``mapping/entities.py``.
"""

import logging
from datetime import timedelta

import psycopg2

from odoo import api, fields, models, tools
from odoo.exceptions import UserError
from odoo.tools import SQL

from ..client import errors as billwerk_errors
from ..client.http_client import EARLIEST_FROM
from ..mapping.entities import (
    ENTITIES,
    ENTITIES_BY_NAME,
    INVOICE,
    PLAN,
    STORED_ENTITIES,
)
from ..mapping.events import event_values
from ..mapping.readers import MappingError
from ..mapping.timestamps import to_utc_naive
from ..scheduling.budget import OutOfTime, TimeBudget
from .commit_policy import commit_unless_testing, in_test_mode
from .sync_run_state import SyncRunState

_logger = logging.getLogger(__name__)

# Re-read this much before a high-water mark: clocks and commit order differ.
OVERLAP = timedelta(minutes=10)
EVENT_PAGE_SIZE = 100
APPLY_BATCH = 100
# Pages of a first load after which the table's statistics are refreshed.
ANALYZE_AFTER_PAGES = (2, 10, 100)
# Invoices copied without lines that one run re-reads before posting.
MAX_LINE_READS = 1000
# A run's form lists at most this many skipped records; the count is exact.
MAX_LOGGED_SKIPS = 500
# A run whose worker died this many times is given up, in words.
MAX_INTERRUPTIONS = 3
# The states in which a run holds the account's one place in the queue.
ACTIVE_STATES = ("queued", "running")


class RunCancelled(Exception):
    """A user cancelled the run: it stops at the next page or batch."""


class BillwerkSyncRun(models.Model):
    _name = "billwerk.sync.run"
    _description = "Billwerk synchronization run"
    _order = "started desc, id desc"

    account_id = fields.Many2one(
        "billwerk.account", required=True, ondelete="cascade", index=True
    )
    company_id = fields.Many2one(related="account_id.company_id", store=True)
    # The Billwerk account this run read, kept as it was: the Odoo account
    # may be switched to another Billwerk account later.
    billwerk_id = fields.Char(string="Billwerk account id")
    billwerk_name = fields.Char(string="Billwerk account")
    trigger = fields.Selection(
        [
            ("cron", "Scheduled action"),
            ("manual", "Button"),
            ("webhook", "Webhook"),
        ],
        required=True,
        help="What started the run: the scheduled action, a user's click on "
        "Sync now or Full reconciliation (see Started by), or a webhook.",
    )
    user_id = fields.Many2one(
        "res.users",
        string="Started by",
        default=lambda self: self.env.uid,
        help="The user who clicked the button, or the scheduler's user.",
    )
    mode = fields.Selection(
        [
            ("first_load", "First load"),
            ("incremental", "Incremental"),
            ("reconciliation", "Full reconciliation"),
            ("posting", "Posting only"),
        ],
        string="Kind of run",
        required=True,
        default="incremental",
        help="First load: every list read from the account's first day. "
        "Incremental: what was created or changed since the last run. Full "
        "reconciliation: every list read again, and what Billwerk no longer has "
        "archived. Posting only: Post now, without reading Billwerk.",
    )
    state = fields.Selection(
        [
            ("queued", "Queued"),
            ("running", "Running"),
            ("done", "Done"),
            ("warning", "Done with warnings"),
            ("failed", "Failed"),
            ("cancelled", "Cancelled"),
        ],
        required=True,
        default="running",
        help="Queued: waiting for the scheduled action, which a button or the "
        "end of a scheduled call's time has just triggered. Running: a "
        "scheduled call is working on it now.",
    )
    started = fields.Datetime(required=True, default=fields.Datetime.now)
    calls = fields.Integer(
        string="Scheduled calls",
        help="Scheduled calls the run took. Each call works for a share of "
        "the worker's time limit, saves where it is and hands the rest to the "
        "next call.",
    )
    interruptions = fields.Integer(
        help="Times a worker died during the run (killed at its time limit, "
        "restarted); the next call went on from the last saved page.",
    )
    progress_step = fields.Selection(
        [("reading", "Reading Billwerk"), ("posting", "Posting")],
        string="Step",
    )
    documents_due = fields.Integer(
        string="Documents to post",
        help="Documents due for posting when the posting step started.",
    )
    reconciled_entities = fields.Char(
        help="Lists a reconciliation has finished, so that the next call of "
        "the same run goes on with the others."
    )
    ended = fields.Datetime()
    error_message = fields.Text()
    line_ids = fields.One2many("billwerk.sync.run.line", "run_id", string="Counts")
    warning_ids = fields.One2many(
        "billwerk.sync.run.warning", "run_id", string="Skipped records"
    )
    skipped_count = fields.Integer(
        string="Skipped", help="Records Billwerk sent that could not be stored."
    )
    records_read = fields.Integer(
        string="Records read",
        help="Records read from Billwerk so far; saved with every page, so the "
        "account screen shows a running first load's progress.",
    )
    # What the run's posting step put in the books (0 with posting off).
    posted_invoice_count = fields.Integer(string="Invoices posted")
    posted_credit_note_count = fields.Integer(
        string="Credit notes posted",
        help="Billwerk's credit notes, and reversals of cancelled invoices.",
    )
    posted_payment_count = fields.Integer(
        string="Payments posted", help="Settlements and refunds."
    )
    refused_count = fields.Integer(
        string="Refused by Odoo",
        help="Documents Odoo refused to post: each waits with Odoo's words, "
        "the others were posted.",
    )
    posted_count = fields.Integer(
        compute="_compute_posted_count",
        string="Posted",
        help="Documents this run posted in the books.",
    )
    created_count = fields.Integer(compute="_compute_totals", string="Created")
    updated_count = fields.Integer(compute="_compute_totals", string="Updated")
    archived_count = fields.Integer(compute="_compute_totals", string="Archived")

    @api.depends("line_ids.created_count", "line_ids.updated_count")
    def _compute_totals(self):
        for run in self:
            run.created_count = sum(run.line_ids.mapped("created_count"))
            run.updated_count = sum(run.line_ids.mapped("updated_count"))
            run.archived_count = sum(run.line_ids.mapped("archived_count"))

    @api.depends(
        "posted_invoice_count", "posted_credit_note_count", "posted_payment_count"
    )
    def _compute_posted_count(self):
        for run in self:
            run.posted_count = (
                run.posted_invoice_count
                + run.posted_credit_note_count
                + run.posted_payment_count
            )

    @api.depends("billwerk_name", "mode", "started")
    @api.depends_context("tz")
    def _compute_display_name(self):
        modes = dict(self._fields["mode"]._description_selection(self.env))
        # format_datetime takes the naive UTC value and localizes it itself
        # (to the browser's zone, else the user's, else UTC).
        zone = self.env.context.get("tz") or False
        for run in self:
            run.display_name = self.env._(
                "%(mode)s of %(account)s, %(started)s",
                mode=modes.get(run.mode, ""),
                account=run.billwerk_name or self.env._("no account"),
                started=tools.format_datetime(
                    self.env, run.started, tz=zone, dt_format="short"
                ),
            )

    def init(self):
        # One queued or running run per account: two clicks, two servers or
        # a click and the scheduler never queue a second one (_enqueue).
        self.env.cr.execute(
            "CREATE UNIQUE INDEX IF NOT EXISTS billwerk_sync_run_one_active "
            "ON billwerk_sync_run (account_id) WHERE state IN ('queued', 'running')"
        )

    # -- entry points --
    @api.model
    def _enqueue(self, account, trigger, mode="incremental"):
        """Queue a run of ``account`` for the scheduled action; never run it here.

        Returns the run: the new one, or the one already queued or running
        (whatever its mode: it reads and posts what the new one would).
        """
        account.check_access("write")
        account._check_can_run()
        runs = self.sudo()
        if mode == "incremental" and not account._first_load_done():
            mode = "first_load"
        self.env.flush_all()
        # A run this transaction sees active is the answer, without an INSERT:
        # the scheduled call running it updates its row all the time, and an
        # INSERT meeting a row updated since this transaction's snapshot is a
        # serialization failure, which Odoo answers by retrying the whole
        # request after a pause (a click on another server answered in 1.4 s).
        active = runs.search(
            [("account_id", "=", account.id), ("state", "in", ACTIVE_STATES)],
            limit=1,
        )
        if active:
            return self._already_active(active, account, mode)
        # ON CONFLICT on the partial unique index: a run queued by another
        # transaction is found, never doubled. Under REPEATABLE READ a
        # conflicting row this transaction cannot see (a click on another
        # server in the same instant) is a serialization failure: Odoo would
        # retry the whole request after a pause of up to 2 s. It is answered
        # here instead, from what has been committed. The index check also
        # waits for any transaction holding a newer version of the active
        # row: the scheduled call running it, until its next commit (up to a
        # page or a batch). A short lock timeout ends that wait: the run's
        # committed version is the answer.
        try:
            row = self._insert_queued(account, trigger, mode, wait=False)
        except (
            psycopg2.errors.SerializationFailure,
            psycopg2.errors.LockNotAvailable,
        ):
            found = self._active_elsewhere(account, mode)
            if found:
                return found
            # Nothing committed: the holder is another click's INSERT, which
            # commits in milliseconds. Wait for it.
            try:
                row = self._insert_queued(account, trigger, mode, wait=True)
            except psycopg2.errors.SerializationFailure:
                found = self._active_elsewhere(account, mode)
                if not found:  # ended since: the click finds it done
                    raise UserError(
                        self.env._(
                            "A run of %(account)s has just ended. Start it "
                            "again if something is still to do.",
                            account=account.display_name,
                        )
                    ) from None
                return found
        # The account's last run (a computed field) is no longer what the
        # cache holds.
        account.invalidate_recordset()
        if row:
            self.env["billwerk.account"]._scheduled_action("incremental")._trigger()
            return runs.browse(row[0])
        active = runs.search(
            [("account_id", "=", account.id), ("state", "in", ACTIVE_STATES)],
            limit=1,
        )
        return self._already_active(active, account, mode)

    def _insert_queued(self, account, trigger, mode, wait):
        """INSERT the queued run unless one is active; the new id, or None.

        Without ``wait``, a lock held longer than a click should take raises
        ``LockNotAvailable`` (the savepoint restores the lock timeout).
        """
        with self.env.cr.savepoint(flush=False):
            if not wait:
                self.env.cr.execute("SET LOCAL lock_timeout = '200ms'")
            self.env.cr.execute(
                """
                    INSERT INTO billwerk_sync_run
                           (account_id, company_id, trigger, mode, user_id, billwerk_id,
                            billwerk_name, state, started, calls, interruptions,
                            create_uid, create_date, write_uid, write_date)
                    VALUES (%(account)s, %(company)s, %(trigger)s, %(mode)s, %(uid)s,
                            %(billwerk_id)s, %(billwerk_name)s, 'queued',
                            %(now)s, 0, 0, %(uid)s, %(now)s, %(uid)s, %(now)s)
                    ON CONFLICT (account_id) WHERE state IN ('queued', 'running')
                    DO NOTHING
                    RETURNING id
                    """,
                {
                    "account": account.id,
                    "company": account.company_id.id,
                    "trigger": trigger,
                    "mode": mode,
                    "uid": self.env.uid,
                    "billwerk_id": account.billwerk_id or None,
                    "billwerk_name": account.billwerk_name or None,
                    "now": fields.Datetime.now(),
                },
                # Not a bad query: the failure below is an answer.
                log_exceptions=False,
            )
            row = self.env.cr.fetchone()
            if not wait:
                self.env.cr.execute("SET LOCAL lock_timeout TO DEFAULT")
        return row

    def _active_elsewhere(self, account, mode):
        """The active run another transaction committed since this one began,
        or None.

        Read in a cursor of its own (a fresh snapshot, reads only): this
        transaction cannot see the row. The record returned carries its state
        in its context, for the answer (``_queued``), since it cannot be read
        here.
        """
        with self.env.registry.cursor() as cr:
            cr.execute(
                """
                SELECT id, mode, state FROM billwerk_sync_run
                 WHERE account_id = %s AND state IN ('queued', 'running')
                 LIMIT 1
                """,
                (account.id,),
            )
            found = cr.fetchone()
        if not found:
            return None
        run_id, active_mode, state = found
        self._check_same_kind(account, active_mode, mode)
        return self.sudo().browse(run_id).with_context(billwerk_run_state=state)

    def _already_active(self, active, account, mode):
        """The run that holds the account's place, if it does what was asked."""
        self._check_same_kind(account, active.mode, mode)
        return active

    def _check_same_kind(self, account, active_mode, mode):
        reads = ("first_load", "incremental")
        if active_mode != mode and not (active_mode in reads and mode in reads):
            # Another kind of run holds the account's place: this one would
            # not do what the user asked for.
            modes = dict(self._fields["mode"]._description_selection(self.env))
            raise UserError(
                self.env._(
                    "A run of %(account)s (%(mode)s) is queued or running. Nothing "
                    "was queued: start %(asked)s again once it has ended.",
                    account=account.display_name,
                    mode=modes[active_mode],
                    asked=modes[mode],
                )
            )

    @api.model
    def _run_for(self, account, trigger, mode="incremental", budget=None):
        """Run ``account`` now, within ``budget``, unless something holds its lock.

        A run queued or paused earlier is continued rather than a new one
        started: one run, however many calls it takes.
        """
        account.check_access("write")
        account._check_can_run()
        with account._sync_locks():
            # Users may trigger a run but only the sync writes its log and copies.
            runs = self.sudo()
            runs._take_back_interrupted_runs(account)
            run = runs.search(
                [("account_id", "=", account.id), ("state", "=", "queued")], limit=1
            )
            if run and mode == "webhook" and run.mode != "webhook":
                # The webhook action's short budget is not for a first load or
                # a backlog; its events wait until the queued run has ended.
                raise account._busy()
            if not run:
                if mode == "incremental" and not account._first_load_done():
                    mode = "first_load"
                run = runs._create_running(account, trigger, mode)
            run._execute(budget or TimeBudget.unlimited())
            return run

    def _create_running(self, account, trigger, mode):
        try:
            with self.env.cr.savepoint():
                return self.create(
                    {
                        "account_id": account.id,
                        "trigger": trigger,
                        "mode": mode,
                        "user_id": self.env.uid,
                        "billwerk_id": account.billwerk_id,
                        "billwerk_name": account.billwerk_name,
                    }
                )
        except psycopg2.IntegrityError:
            # A button queued a run after this call's snapshot was taken:
            # the next call continues that one.
            raise account._busy() from None

    def _count_posted(self, result, base):
        """This call's posting ``result`` added to what earlier calls posted."""
        self.write(
            {
                "posted_invoice_count": base["invoices"] + result.invoices,
                "posted_credit_note_count": base["credit_notes"]
                + result.credit_notes
                + result.reversals,
                "posted_payment_count": base["payments"] + result.payments,
                "refused_count": base["refused"] + result.refused,
            }
        )

    def _take_back_interrupted_runs(self, account):
        """Continue a run whose worker died; give it up after a few deaths.

        We hold the lock, so a run still marked running lost its worker (a
        time limit, a restart): its saved pages stay, and it goes on as the
        same run rather than as a new one beside an "Interrupted" one.
        """
        for run in self.search(
            [("account_id", "=", account.id), ("state", "=", "running")]
        ):
            if run.interruptions + 1 < MAX_INTERRUPTIONS:
                run.write({"state": "queued", "interruptions": run.interruptions + 1})
                continue
            run.write(
                {
                    "state": "failed",
                    "ended": fields.Datetime.now(),
                    "interruptions": run.interruptions + 1,
                    "error_message": self.env._(
                        "Interrupted %(count)s times: the worker stopped before the "
                        "run ended (a time limit or a restart). What was saved "
                        "stays; the next run resumes from the last saved page.",
                        count=run.interruptions + 1,
                    ),
                }
            )

    def _commit(self):
        commit_unless_testing(self.env.cr)

    # -- the run --
    def _execute(self, budget):
        """One call's share of the run; it ends with a state and words, or
        goes back to the queue for the next call where the budget ran out."""
        self.ensure_one()
        account = self.account_id
        self.write({"state": "running", "calls": self.calls + 1})
        self._commit()
        state = self._load_state(budget)
        error = None
        try:
            if self.mode != "posting":
                self._set_step("reading")
                with account._make_client() as client:
                    state.client = client
                    self._execute_mode(state)
                    self._read_lines_due_for_posting(state)
                self._link_pending_relations()
                self._link_customers_without_contact()
            # The books, after the copies and under the same lock.
            self._post_books(state)
            # The subscription metrics of what the copies now say (never
            # stops the run: billwerk_sync_run_mrr.py).
            self._update_metrics(state)
        except OutOfTime:
            self._pause(state)
            return
        except RunCancelled:
            self._discard_unsaved_work()
            self._finish(state, cancelled=True)
            self._commit()
            return
        except billwerk_errors.KeyRejected as rejection:
            account._mark_key_rejected(rejection)
            error = account.connection_error
        except billwerk_errors.BillwerkError as failure:
            error = self._describe(failure)
        except UserError as refusal:
            error = str(refusal)
        except Exception:  # a run never stays "running"
            _logger.exception("Billwerk sync run %s failed unexpectedly", self.id)
            self._discard_unsaved_work()
            error = self.env._(
                "The run stopped on an unexpected error; what was saved before it "
                "stays and the next run resumes. The server log has the details "
                "(search for 'Billwerk sync run %(run)s').",
                run=self.id,
            )
        self._finish(state, error=error)
        self._commit()

    def _load_state(self, budget):
        """The run's state, with what earlier calls of the run counted."""
        state = SyncRunState.for_entities(entity.name for entity in STORED_ENTITIES)
        state.budget = budget
        for line in self.line_ids:
            if line.entity in state.counts:
                counts = state.counts[line.entity]
                counts.created = line.created_count
                counts.updated = line.updated_count
                counts.archived = line.archived_count
        return state

    def _checkpoint(self, state):
        """Between two pages or batches: stop when cancelled or out of time.

        Called only where the step's progress is committed (a page and its
        token, a list reconciled, a batch of events or documents), so that
        the next call (or the next run) goes on from here, and every call,
        however short, moves the run on.
        """
        self._push_progress()
        if self._cancel_requested():
            raise RunCancelled()
        state.budget.check()

    def _pause(self, state):
        """Save the counts, queue the run again and trigger the next call."""
        self._discard_unsaved_work()
        self._save_counts(state)
        self.write({"state": "queued"})
        self.env["billwerk.account"]._scheduled_action("incremental")._trigger()
        self._push_progress(force=True)
        self._commit()
        _logger.info(
            "Billwerk sync run %s used its share of this scheduled call; "
            "the next call goes on.",
            self.id,
        )

    def _post_books(self, state):
        posting = self.env["billwerk.posting"]
        base = {
            "invoices": self.posted_invoice_count,
            "credit_notes": self.posted_credit_note_count,
            "payments": self.posted_payment_count,
            "refused": self.refused_count,
        }

        def after_batch(result):
            self._count_posted(result, base)
            self._commit()
            self._checkpoint(state)

        due = posting.sudo()._count_due(self.account_id)
        if due or any(base.values()):
            # Documents to post (posting on): the screen follows the posting.
            self._set_step("posting")
            self.documents_due = due + sum(base.values())
            self._commit()
        result = posting._post_account(self.account_id, after_batch=after_batch)
        self._count_posted(result, base)

    def _update_metrics(self, state):
        """After the books: a hook (billwerk_sync_run_mrr.py recomputes MRR)."""

    def _execute_mode(self, state):
        """The run's reads, by mode (a hook: webhook runs add theirs)."""
        if self.mode == "reconciliation":
            self._reconcile(state)
        else:
            self._incremental(state)

    def _discard_unsaved_work(self):
        """Drop the half-done batch so that the run's end can still be written."""
        if in_test_mode():
            # Tests share one transaction; every batch ran in a savepoint.
            self.env.invalidate_all()
            return
        self.env.cr.rollback()
        self.env.invalidate_all()

    def _describe(self, error):
        reasons = {
            billwerk_errors.NetworkError: self.env._("Billwerk could not be reached."),
            billwerk_errors.RateLimited: self.env._(
                "Billwerk kept answering 'too many requests'."
            ),
            billwerk_errors.ServerError: self.env._("Billwerk had a server error."),
            billwerk_errors.MalformedResponse: self.env._(
                "Billwerk sent an answer that could not be read."
            ),
            billwerk_errors.InvalidUrl: self.env._(
                "The API URL is not a valid http(s) address; an administrator "
                "can correct it on the Billwerk account screen."
            ),
            billwerk_errors.UnexpectedRedirect: self.env._(
                "The API URL answered with a redirect, which Billwerk never "
                "does; an administrator can correct it on the Billwerk account "
                "screen."
            ),
        }
        reason = reasons.get(type(error), self.env._("Billwerk refused a request."))
        return self.env._(
            "%(reason)s The run stopped; what was saved stays and the next run "
            "resumes. Details: %(details)s",
            reason=reason,
            details=str(error),
        )

    def _save_counts(self, work):
        """Write the counts and skips so far; the skips are then logged."""
        skips = work.skips
        self.write(
            {
                "skipped_count": self.skipped_count + len(skips),
                "line_ids": [fields.Command.clear()]
                + [
                    fields.Command.create(
                        {
                            "sequence": sequence,
                            "entity": name,
                            "created_count": counts.created,
                            "updated_count": counts.updated,
                            "archived_count": counts.archived,
                        }
                    )
                    for sequence, (name, counts) in enumerate(work.counts.items())
                ],
                "warning_ids": [
                    fields.Command.create(
                        {"entity": entity, "record_key": key, "reason": reason}
                    )
                    for entity, key, reason in skips[
                        : max(MAX_LOGGED_SKIPS - len(self.warning_ids), 0)
                    ]
                ],
            }
        )
        if skips:
            _logger.warning(
                "Billwerk sync run %s skipped %d records Billwerk sent",
                self.id,
                len(skips),
            )
        work.skips = []

    def _finish(self, work, error=None, cancelled=False):
        self._save_counts(work)
        if error:
            state = "failed"
        elif cancelled:
            state = "cancelled"
        elif self.skipped_count or self.refused_count:
            # One document Odoo refused never fails the run: it waits, in words.
            state = "warning"
        else:
            state = "done"
        if cancelled:
            error = self._cancel_words()
        self.write(
            {
                "state": state,
                "ended": fields.Datetime.now(),
                "error_message": error or False,
                "progress_step": False,
            }
        )
        self._push_progress(force=True)
        if state == "failed":
            _logger.warning("Billwerk sync run %s failed: %s", self.id, error)

    def _incremental(self, state):
        account = self.account_id
        if not account.last_event_id and not account.last_event_at:
            self._start_event_cursor(state)
        self._read_whole_list(PLAN, state)
        for entity in ENTITIES:
            if entity is PLAN:
                continue
            cursor = self._cursor(entity, "created")
            if not cursor.first_load_done:
                self._first_load(entity, cursor, state)
            else:
                self._read_since(entity, cursor, "created", state)
            if entity is INVOICE and cursor.first_load_done:
                self._read_since(
                    entity, self._cursor(entity, "settled"), "settled", state
                )
        self._follow_events(state)

    def _read_lines_due_for_posting(self, state):
        """Re-read invoices due for posting that were copied without their lines
        (by a version before posting existed)."""
        account = self.account_id
        if not account.post_invoices or not account.post_from:
            return
        posting = self.env["billwerk.posting"]
        invoices = (
            posting.sudo()
            ._due_invoices(account)
            .filtered(lambda invoice: not isinstance(invoice.order_lines, list))
        )[:MAX_LINE_READS]
        if invoices:
            # Written again even where Billwerk's payload has not changed.
            invoices.sync_hash = False
            self._apply_objects(INVOICE, invoices.mapped("billwerk_id"), state)

    def _reconcile(self, state):
        """Read every list again and archive what Billwerk no longer has.

        A list is read whole within one call (what it has not seen must be
        known before anything is archived); a call out of time stops between
        lists, and the run's next call goes on with the lists not done yet.
        """
        done = set((self.reconciled_entities or "").split(","))
        for entity in ENTITIES:
            if entity.name in done:
                continue
            seen = self._read_whole_list(entity, state)
            model = self.env[entity.model].sudo()
            missing = model.search(
                [
                    ("account_id", "=", self.account_id.id),
                    ("active", "=", True),
                    (entity.key_field, "not in", list(seen)),
                ]
            )
            if missing:
                missing.write({"active": False})
                state.counts[entity.name].archived += len(missing)
            done.add(entity.name)
            self.reconciled_entities = ",".join(sorted(filter(None, done)))
            self._save_counts(state)
            self._commit()
            self._checkpoint(state)

    # -- list reads --
    def _cursor(self, entity, range_name):
        cursor = self.account_id.cursor_ids.filtered(
            lambda c: c.entity == entity.name and c.range_name == range_name
        )
        return cursor or self.env["billwerk.sync.cursor"].create(
            {
                "account_id": self.account_id.id,
                "entity": entity.name,
                "range_name": range_name,
            }
        )

    def _read_whole_list(self, entity, state):
        """Read a list from the account's first day to now; return the keys seen."""
        seen = set()
        account = self.account_id
        pages = state.client.iter_list(
            entity.name,
            date_from=account._first_load_from() or EARLIEST_FROM,
            date_to=account._to_billwerk_time(account._now()),
        )
        for page in pages:
            self._apply_page(
                entity, page.content, state, lambda c=page.content: self._count_read(c)
            )
            seen.update(filter(None, (entity.key_of(item) for item in page.content)))
            self._commit()
        return seen

    def _first_load(self, entity, cursor, state):
        """Page through the whole list, saving the page token after each page."""
        account = self.account_id
        self.reading_list = entity.name
        if not cursor.load_to:
            cursor.load_to = account._to_billwerk_time(account._now())
        pages = state.client.iter_list(
            entity.name,
            date_from=account._first_load_from() or EARLIEST_FROM,
            date_to=cursor.load_to,
            page_token=cursor.page_token or None,
        )
        for number, page in enumerate(pages, start=1):

            def then(page=page):
                cursor.page_token = page.next_page_token or False
                self._count_read(page.content)
                self._note_read_progress(entity, cursor, page.content)

            self._apply_page(entity, page.content, state, then)
            self._commit()
            if number in ANALYZE_AFTER_PAGES:
                self._analyze(entity)
            if page.next_page_token:
                # Not after the last page: the list's end is saved first,
                # or the next call would read it again from its first page.
                self._checkpoint(state)
        self._analyze(entity)
        high_water = self._from_billwerk_time(cursor.load_to)
        cursor.write(
            {"first_load_done": True, "page_token": False, "high_water": high_water}
        )
        if entity is INVOICE:
            self._cursor(entity, "settled").high_water = high_water
        self._commit()

    def _note_read_progress(self, entity, cursor, content):
        """How far back in the account's life this page reached, as a share.

        Lists come newest first, from ``load_to`` back to the account's first
        day: the oldest ``created`` read tells how much of that range is done.
        The lists a first load reads count equally.
        """
        loaded = [item for item in ENTITIES if item is not PLAN]
        start = self.account_id.billwerk_created
        created = [
            item["created"]
            for item in content
            if isinstance(item, dict) and isinstance(item.get("created"), str)
        ]
        if entity not in loaded or not created or not start:
            return
        try:
            # Only an estimate: a record the page's writing skipped may be
            # the one that cannot be read; it never stops the run.
            oldest = min(to_utc_naive(text) for text in created)
        except (MappingError, TypeError, ValueError):
            return
        end = self._from_billwerk_time(cursor.load_to)
        span = (end - start).total_seconds()
        share = (end - oldest).total_seconds() / span if span > 0 else 1.0
        self.read_progress = (loaded.index(entity) + min(max(share, 0.0), 1.0)) / len(
            loaded
        )

    def _analyze(self, entity):
        """Give PostgreSQL statistics of a table a first load is filling.

        A new table has none: the planner then guesses that an account has
        about 90 rows and scans its index, reading ~39,000 rows for a 100-key
        lookup (8.3 ms instead of 0.9 ms per query, measured by EXPLAIN), and
        autovacuum does not come round within a load of a minute.
        """
        self.env.flush_all()
        self.env.cr.execute(
            SQL("ANALYZE %s", SQL.identifier(self.env[entity.model]._table))
        )

    def _read_since(self, entity, cursor, range_name, state):
        """Read what was created (or settled) since the high-water mark."""
        account = self.account_id
        now = account._now()
        since = (cursor.high_water or now) - OVERLAP
        pages = state.client.iter_list(
            entity.name,
            range=range_name,
            date_from=account._to_billwerk_time(since),
            date_to=account._to_billwerk_time(now),
        )
        for page in pages:
            self._apply_page(entity, page.content, state)
        cursor.high_water = now
        self._commit()

    def _count_read(self, content):
        self.records_read += len(content)

    def _from_billwerk_time(self, local_text):
        zone = self.account_id._billwerk_zone()
        moment = fields.Datetime.from_string(local_text.replace("T", " "))
        return to_utc_naive(moment.replace(tzinfo=zone).isoformat())

    # -- events --
    def _start_event_cursor(self, state):
        """Remember the newest event before the first load: later ones are news."""
        account = self.account_id.sudo()
        for event in state.client.events(page=1, size=10)["content"]:
            try:
                event_id, created, _kind, _key = event_values(event)
            except MappingError:
                continue  # _new_events logs it when it reads it
            account.write({"last_event_id": event_id, "last_event_at": created})
            return
        account.last_event_at = account._now()

    def _follow_events(self, state):
        """Fetch and apply every object named by an event since the last one seen."""
        account = self.account_id
        keys = {name: [] for name in ("customer", "subscription", "invoice")}
        newest = None
        for event_id, created, kind, key in self._new_events(state):
            newest = newest or (event_id, created)
            if kind and key and key not in keys[kind]:
                keys[kind].append(key)
        for entity_name, entity_keys in keys.items():
            self._apply_objects(ENTITIES_BY_NAME[entity_name], entity_keys, state)
        if newest:
            account.sudo().write(
                {"last_event_id": newest[0], "last_event_at": newest[1]}
            )
        self._commit()

    def _new_events(self, state):
        """Events newest first, down to the last one seen (or the time mark).

        An event that cannot be read (no id, no time) is logged and passed
        over: the objects it would name are still caught by the list reads.
        """
        account = self.account_id
        oldest_wanted = account.last_event_at and account.last_event_at - OVERLAP
        page = 1
        while True:
            content = state.client.events(page=page, size=EVENT_PAGE_SIZE)["content"]
            for position, event in enumerate(content, start=1):
                try:
                    event_id, created, kind, key = event_values(event)
                except MappingError as error:
                    label = f"page {page}, event {position}"
                    state.skip("event", label, str(error))
                    continue
                if event_id == account.last_event_id or (
                    oldest_wanted and created and created < oldest_wanted
                ):
                    return
                yield event_id, created, kind, key
            if len(content) < EVENT_PAGE_SIZE:
                return
            page += 1

    def _apply_objects(self, entity, keys, state):
        """Read objects one by one; one Billwerk no longer has is archived."""
        client = state.client
        for start in range(0, len(keys), APPLY_BATCH):
            payloads, gone = [], []
            for key in keys[start : start + APPLY_BATCH]:
                try:
                    payloads.append(client.get(entity.name, key))
                except billwerk_errors.NotFound:
                    gone.append(key)
            with self.env.cr.savepoint():
                self._apply(entity, payloads, state)
                self._archive_gone(entity, gone, state)
            self._commit()

    def _archive_gone(self, entity, keys, state):
        if not keys:
            return
        # Events name invoices by handle or by id; the others by handle.
        domain = [("account_id", "=", self.account_id.id), ("active", "=", True)]
        domain += ["|", (entity.key_field, "in", keys), ("handle", "in", keys)]
        gone = self.env[entity.model].sudo().search(domain)
        gone.write({"active": False})
        state.counts[entity.name].archived += len(gone)

    def _queued(self):
        """What a button answers: the run is queued (or was already)."""
        self.ensure_one()
        state = self.env.context.get("billwerk_run_state") or self.state
        if state == "running":
            message = self.env._(
                "A run of this account is already running; this screen shows its "
                "progress."
            )
        else:
            message = self.env._(
                "Queued: the scheduled action starts it shortly, and this screen "
                "shows its progress."
            )
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("Billwerk synchronization"),
                "message": message,
                "type": "info",
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }
