"""Runs are queued and continued from 2.2: close what 2.1 left running.

2.2 keeps at most one queued or running run per account (a partial unique
index). No run works while the module is being updated, so a run that 2.1
left "running" lost its worker: it ends as failed, in the words 2.1 used,
before the index is created; its saved pages stay, and the next run resumes.
"""


def migrate(cr, version):
    if not version:
        return
    cr.execute(
        """
        UPDATE billwerk_sync_run
           SET state = 'failed',
               ended = now() at time zone 'UTC',
               error_message = 'Interrupted: the worker stopped before the run '
                   'ended. The next run resumed from the last saved page.'
         WHERE state = 'running'
        """
    )
