"""A webhook run: read only the objects named by the account's pending webhooks.

Same lock, same upsert (``_apply``), same archiving of what Billwerk no longer
has and the same posting step as the runs that poll; each event is marked
done in the transaction that stored its object.
"""

from odoo import fields, models

from ..client import errors as billwerk_errors
from ..mapping.entities import ENTITIES_BY_NAME
from ..mapping.events import EVENT_OBJECTS
from .billwerk_sync_run import APPLY_BATCH

# Events one run takes; the scheduled action is triggered again for the rest.
MAX_WEBHOOK_EVENTS = 5000


class BillwerkSyncRunWebhooks(models.Model):
    _inherit = "billwerk.sync.run"

    mode = fields.Selection(
        selection_add=[("webhook", "Webhooks")],
        ondelete={"webhook": "set default"},
    )

    def _execute_mode(self, state):
        if self.mode == "webhook":
            return self._process_webhook_events(state)
        return super()._execute_mode(state)

    def _process_webhook_events(self, state):
        """Fetch each object once for all its pending events, in batches.

        An object Billwerk no longer has is archived; one it fails to give
        (after the client's retries) fails its events with the reason and the
        others go on. A rejected key stops the run: its events stay pending.
        """
        events = (
            self.env["billwerk.webhook.event"]
            .sudo()
            .search(
                [("account_id", "=", self.account_id.id), ("state", "=", "pending")],
                order="id",
                limit=MAX_WEBHOOK_EVENTS,
            )
        )
        named = {kind: {} for kind in EVENT_OBJECTS}
        unnamed = events.browse()
        for event in events:
            kind = event.event_type.split("_", 1)[0]
            key = kind in named and event[kind]
            if not key:
                unnamed |= event
                continue
            named[kind].setdefault(key, events.browse())
            named[kind][key] |= event
        unnamed.write(
            {"state": "failed", "error": self.env._("The event names no object.")}
        )
        for kind, by_key in named.items():
            keys = list(by_key)
            for start in range(0, len(keys), APPLY_BATCH):
                self._apply_webhook_batch(
                    ENTITIES_BY_NAME[kind],
                    {key: by_key[key] for key in keys[start : start + APPLY_BATCH]},
                    state,
                )
                # The events not reached stay pending for the next call.
                self._checkpoint(state)

    def _apply_webhook_batch(self, entity, events_by_key, state):
        client = state.client
        payloads, gone, failed = [], [], {}
        for key in events_by_key:
            try:
                payloads.append(client.get(entity.name, key))
            except billwerk_errors.NotFound:
                gone.append(key)
            except billwerk_errors.KeyRejected:
                raise
            except billwerk_errors.BillwerkError as error:
                failed[key] = self._describe(error)
        with self.env.cr.savepoint():
            self._apply(entity, payloads, state)
            self._archive_gone(entity, gone, state)
            self._count_read(payloads)
            for key, events in events_by_key.items():
                if key in failed:
                    events.write({"state": "failed", "error": failed[key]})
                else:
                    events.write({"state": "done", "error": False})
        self._commit()
