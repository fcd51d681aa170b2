"""The scheduled actions' entry points: polling runs and webhook runs.

Every connected account is synced in turn, fairly; one account's failure or
slowness never stops the others.
"""

import logging
from datetime import timedelta

from odoo import api, fields, models, tools
from odoo.exceptions import UserError

from ..scheduling.budget import (
    SYNC_SHARE,
    WEBHOOK_SHARE,
    TimeBudget,
    limit_is_below_cron_sleep,
    seconds_for,
    worker_limit,
)
from .billwerk_account_lock import SyncAlreadyRunning
from .commit_policy import commit_unless_testing, in_test_mode
from .odoo_compat import report_cron_progress

_logger = logging.getLogger(__name__)

# An administrator's cap on the seconds one scheduled call works (0: none).
MAX_CALL_SECONDS_PARAM = "billwerk_connector.max_call_seconds"
# A busy account's pending webhook events are tried again after this delay.
BUSY_RETRY = timedelta(minutes=1)


class BillwerkAccountScheduler(models.Model):
    _inherit = "billwerk.account"

    @api.model
    def _call_budget(self, share):
        """This scheduled call's time, a share of the worker's real-time limit.

        Under prefork workers the limit includes the cron worker's sleep
        before the call (scheduling/budget.py). An administrator may cap a
        call further with the system parameter ``billwerk_connector.
        max_call_seconds`` (shorter calls on a platform with stricter limits).
        """
        limit = worker_limit(
            tools.config.get("limit_time_real_cron"),
            tools.config.get("limit_time_real"),
        )
        prefork = bool(tools.config.get("workers"))
        if limit_is_below_cron_sleep(limit, prefork):
            _logger.warning(
                "limit_time_real_cron is %s s: Odoo's cron workers sleep up to "
                "70 s between rounds and count the sleep, so Odoo kills them "
                "while idle and cuts woken calls short. Set it to 150 s or more; "
                "Billwerk runs work %.1f s a call meanwhile.",
                limit,
                seconds_for(limit, share, prefork),
            )
        try:
            ceiling = float(
                self.env["ir.config_parameter"]
                .sudo()
                .get_param(MAX_CALL_SECONDS_PARAM, "0")
            )
        except ValueError:
            ceiling = 0.0
        return TimeBudget(seconds_for(limit, share, prefork, ceiling=ceiling or None))

    @api.model
    def _cron_sync(self, mode="incremental"):
        """Sync every account due, the longest-waiting first, then continue
        the queued runs, within this call's time budget.

        Each account runs on its own: its failure, bad data or slowness never
        stops the others. A run that reaches the end of the budget saves
        where it is and goes back to the queue; the call then triggers the
        scheduled action again, whose next call (under a fresh worker time
        limit) continues the same run. An account that failed makes the call
        fail after the others ran, which Odoo counts in the scheduled
        action's failure count.
        """
        budget = self._call_budget(SYNC_SHARE)
        queued = self._accounts_queued()
        # Accounts whose turn it is first, then the runs that wait to go on:
        # one account's long first load never holds up the others' syncs.
        due = (self._accounts_due(mode) - queued) | queued
        done, failed = 0, self.browse()
        for account in due:
            if done and budget.spent():
                break
            if not self._sync_in_cron(account, mode, budget):
                failed |= account
            done += 1
        if done < len(due) or self._accounts_queued():
            self._scheduled_action("incremental")._trigger()
        # Progress as Odoo counts it: this call's work is complete; what is
        # left runs in the call just triggered, under a fresh time limit.
        report_cron_progress(self.env, done)
        commit_unless_testing(self.env.cr)
        if failed:
            raise UserError(
                self.env._(
                    "The Billwerk synchronization failed for: %(accounts)s. Each "
                    "account's screen says why; the other accounts were synced.",
                    accounts=", ".join(failed.mapped("display_name")),
                )
            )

    @api.model
    def _accounts_queued(self):
        """Accounts with a queued run (a button's, or one a budget paused)."""
        self.env.flush_all()
        self.env.cr.execute(
            """
            SELECT r.account_id
              FROM billwerk_sync_run r
              JOIN billwerk_account a ON a.id = r.account_id
             WHERE r.state = 'queued' AND a.active
             ORDER BY r.id
            """
        )
        return self.browse(row[0] for row in self.env.cr.fetchall())

    @api.model
    def _accounts_due(self, mode):
        """Connected accounts without a run of ``mode`` since the last tick ended."""
        self.env.flush_all()
        self.env.cr.execute(
            """
            SELECT a.id
              FROM billwerk_account a
              LEFT JOIN LATERAL (
                   SELECT max(r.started) AS last_started
                     FROM billwerk_sync_run r
                    WHERE r.account_id = a.id AND r.mode = ANY(%(modes)s)
                   ) r ON TRUE
             WHERE a.active AND a.connection_state = 'connected'
               AND (r.last_started IS NULL OR r.last_started < %(since)s)
             ORDER BY r.last_started NULLS FIRST, a.id
            """,
            # Outside a scheduled call (or at its very first call) every
            # connected account is due.
            {
                # A first load is the incremental action's run too.
                "modes": [mode, "first_load"] if mode == "incremental" else [mode],
                "since": self.env.context.get("lastcall") or "infinity",
            },
        )
        return self.browse(row[0] for row in self.env.cr.fetchall())

    @api.model
    def _scheduled_action(self, mode):
        xmlid = {
            "incremental": "billwerk_connector.cron_billwerk_incremental_sync",
            "reconciliation": "billwerk_connector.cron_billwerk_reconciliation",
        }[mode]
        return self.env.ref(xmlid).sudo()

    @api.model
    def _sync_in_cron(self, account, mode, budget):
        """One account's run, whatever happens; False when it failed."""
        try:
            run = self.env["billwerk.sync.run"]._run_for(
                account, trigger="cron", mode=mode, budget=budget
            )
        except SyncAlreadyRunning:
            _logger.info(
                "Billwerk account %s is busy; its turn comes next.", account.id
            )
            return True
        except Exception:  # one account never stops the others
            _logger.exception("Billwerk sync of account %s failed", account.id)
            if not in_test_mode():
                self.env.cr.rollback()
            self.env.invalidate_all()
            return False
        return run.state != "failed"

    # -- webhooks: the objects their events name -----------------------------------
    @api.model
    def _cron_process_webhooks(self):
        """Read the objects named by every account's pending webhooks.

        The account's sync lock decides: a busy account keeps its events
        pending and is tried again shortly; one account's failure never stops
        the others.
        """
        self.env.flush_all()
        self.env.cr.execute(
            """
            SELECT DISTINCT e.account_id
              FROM billwerk_webhook_event e
              JOIN billwerk_account a ON a.id = e.account_id
             WHERE e.state = 'pending' AND a.active
               AND a.connection_state = 'connected'
             ORDER BY e.account_id
            """
        )
        accounts = self.browse(row[0] for row in self.env.cr.fetchall())
        events = self.env["billwerk.webhook.event"].sudo()
        budget = self._call_budget(WEBHOOK_SHARE)
        again = soon = False
        for account in accounts:
            if budget.spent():
                soon = True
                break
            try:
                run = self.env["billwerk.sync.run"]._run_for(
                    account, trigger="webhook", mode="webhook", budget=budget
                )
            except SyncAlreadyRunning:
                _logger.info(
                    "Billwerk account %s is busy; its webhooks wait.", account.id
                )
                again = True
                continue
            except Exception:  # one account never stops the others
                _logger.exception(
                    "Billwerk webhook processing of account %s failed", account.id
                )
                if not in_test_mode():
                    self.env.cr.rollback()
                self.env.invalidate_all()
                continue
            # More than one run takes (MAX_WEBHOOK_EVENTS): the next call goes on.
            more = events.search_count(
                [("account_id", "=", account.id), ("state", "=", "pending")], limit=1
            )
            soon = soon or (run.state not in ("failed", "cancelled") and bool(more))
        if soon:
            self._trigger_webhook_processing()
        elif again:
            self._trigger_webhook_processing(fields.Datetime.now() + BUSY_RETRY)
        commit_unless_testing(self.env.cr)
