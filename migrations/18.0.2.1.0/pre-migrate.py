"""Webhooks are known by their signed id from 2.1: make the 2.0 rows fit.

2.0 kept one row per (account, event_id), but ``event_id`` is not signed: one
captured body resent with new event ids was stored once per id. 2.1 keeps one
row per (account, webhook_id) and requires the webhook id. Before the ORM
sets NOT NULL and adds that constraint, rows without a webhook id (stored
before 2.0 recorded it) take their event id, and of the rows sharing one
signed delivery only the first stays (the others were resends of it, with
unsigned fields anyone could have changed). The constraint on the event id
goes: the ORM would drop it only at the end of the upgrade.
"""


def migrate(cr, version):
    if not version:
        return
    cr.execute(
        """
        UPDATE billwerk_webhook_event
           SET webhook_id = event_id
         WHERE webhook_id IS NULL OR webhook_id = ''
        """
    )
    cr.execute(
        """
        DELETE FROM billwerk_webhook_event later
         USING billwerk_webhook_event first
         WHERE first.account_id = later.account_id
           AND first.webhook_id = later.webhook_id
           AND first.id < later.id
        """
    )
    cr.execute(
        """
        ALTER TABLE billwerk_webhook_event
        DROP CONSTRAINT IF EXISTS billwerk_webhook_event_event_account_uniq
        """
    )
