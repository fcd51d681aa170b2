"""The account's sync lock: one run, switch, purge or archiving at a time."""

from contextlib import contextmanager

import psycopg2

from odoo import models
from odoo.exceptions import UserError

# First key of this addon's advisory locks; the second is the account id.
LOCK_NAMESPACE = 742_117


class SyncAlreadyRunning(UserError):
    """The account's sync lock is held: by a run, a switch or a purge."""


class BillwerkAccountLock(models.Model):
    _inherit = "billwerk.account"

    @contextmanager
    def _sync_locks(self):
        """Hold the accounts' locks for a run, or refuse before changing anything.

        Session-level: a run commits per batch and keeps the lock throughout;
        a dead worker's connection takes it along.
        """
        locked = self.browse()
        try:
            for account in self:
                if not account._try_lock():
                    raise account._busy()
                locked |= account
            yield
        finally:
            for account in locked:
                account._unlock()

    def _lock_for_change(self):
        """Take the accounts' locks until this transaction ends, or refuse.

        Switches, purges, archiving and deletion take them, so none of them
        ever overlaps a run (one that would write the old account's records
        under a new key, for one). Held until the commit, a worker cannot
        start a run on what is not committed yet.
        """
        for account in self:
            self.env.cr.execute(
                "SELECT pg_try_advisory_xact_lock(%s, %s)", (LOCK_NAMESPACE, account.id)
            )
            if not self.env.cr.fetchone()[0]:
                raise account._busy()

    def _busy(self):
        return SyncAlreadyRunning(
            self.env._(
                "A synchronization of %(account)s is running. Nothing was "
                "changed: wait until it has finished (the Billwerk account "
                "screen shows its progress), then try again.",
                account=self.display_name,
            )
        )

    def _try_lock(self):
        # A session-level lock survives the run's per-batch commits and dies
        # with the connection, so a crashed worker cannot block the account.
        self.env.cr.execute(
            "SELECT pg_try_advisory_lock(%s, %s)", (LOCK_NAMESPACE, self.id)
        )
        return self.env.cr.fetchone()[0]

    def _unlock(self):
        query = "SELECT pg_advisory_unlock(%s, %s)"
        try:
            self.env.cr.execute(query, (LOCK_NAMESPACE, self.id))
        except psycopg2.Error:
            # An aborted transaction refuses every statement: end it first.
            self.env.cr.rollback()
            self.env.cr.execute(query, (LOCK_NAMESPACE, self.id))
