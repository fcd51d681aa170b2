"""The account's synchronized data as a whole: counted, purged, kept, taken back."""

from odoo import models

from ..mapping.entities import STORED_ENTITIES


class BillwerkAccountData(models.Model):
    _inherit = "billwerk.account"

    def _synchronized_counts(self):
        """Every copied record of this account, archived ones included."""
        self.ensure_one()
        return {
            entity.model: self.env[entity.model]
            .with_context(active_test=False)
            .search_count([("account_id", "=", self.id)])
            for entity in STORED_ENTITIES
        }

    def _summary_of_data(self):
        """The screen's figures, in its order and the user's number format."""
        self.ensure_one()
        figures = [
            (self.plan_count, self.env._("plans")),
            (self.subscription_count, self.env._("active subscriptions")),
            (self.customer_count, self.env._("customer contracts")),
            (self.invoice_count, self.env._("invoices")),
        ]
        text = ", ".join(
            f"{self._format_count(count)} {label}" for count, label in figures
        )
        counted = ("billwerk.plan", "billwerk.subscription", "billwerk.customer")
        archived = sum(
            count
            for model, count in self._synchronized_counts().items()
            if model in (*counted, "billwerk.invoice")
        ) - sum(count for count, _label in figures)
        if archived:
            text += self.env._(
                "; also %(count)s archived records (deleted plans and customers, "
                "ended subscriptions)",
                count=self._format_count(archived),
            )
        return text

    def _purge_synchronized_data(self):
        """Delete every copied record and reset every cursor, in SQL.

        The ORM would load 100,000 records to unlink them; nothing references
        these tables but themselves, so plain DELETEs in dependency order are
        equivalent: half a second for 100,000 records (scripts/benchmark.sh).
        """
        self.ensure_one()
        # Users never delete copies one by one; managing the account is the right.
        self.check_access("write")
        self.env.flush_all()
        for entity in reversed(STORED_ENTITIES):
            table = self.env[entity.model]._table
            self.env.cr.execute(
                f"DELETE FROM {table} WHERE account_id = %s",
                (self.id,),
            )
        self._reset_sync_cursors()
        self.env.invalidate_all()

    def _detach_synchronized_data(self):
        """Keep the old account's records apart, under an archived account.

        The cursors and the event mark go along, so that switching back can
        take the data back and go on from where it stopped.
        """
        self.ensure_one()
        self.check_access("write")
        self.env.flush_all()
        archive = self.sudo().create(
            {
                "company_id": self.company_id.id,
                "api_url": self.sudo().api_url,
                "create_partners": self.create_partners,
                "active": False,
                "billwerk_id": self.billwerk_id,
                "billwerk_handle": self.billwerk_handle,
                "billwerk_name": self.billwerk_name,
                "billwerk_organisation": self.billwerk_organisation,
                "billwerk_state": self.billwerk_state,
                "billwerk_currency": self.billwerk_currency,
                "billwerk_timezone": self.billwerk_timezone,
                "billwerk_created": self.billwerk_created,
                "api_key_hint": self.api_key_hint,
                "connection_state": "not_connected",
                "last_event_id": self.last_event_id,
                "last_event_at": self.last_event_at,
            }
        )
        self._move_synchronized_data(self, archive)
        self._reset_sync_cursors()
        return archive

    def _kept_account_for(self, billwerk_id):
        """The archived account holding this company's kept data of ``billwerk_id``."""
        self.ensure_one()
        return (
            self.sudo()
            .with_context(active_test=False)
            .search(
                [
                    ("company_id", "=", self.company_id.id),
                    ("active", "=", False),
                    ("billwerk_id", "=", billwerk_id),
                ],
                order="id desc",
                limit=1,
            )
        )

    def _take_back_kept_data(self, kept):
        """Make ``kept``'s data this account's again, cursors included; drop ``kept``.

        The next run then reads only what changed since the data was kept,
        instead of loading everything again beside it.
        """
        self.ensure_one()
        self.check_access("write")
        self._reset_sync_cursors()
        self._move_synchronized_data(kept, self)
        self.sudo().write(
            {"last_event_id": kept.last_event_id, "last_event_at": kept.last_event_at}
        )
        kept.sudo().unlink()

    def _move_synchronized_data(self, source, target):
        """Every copied record and cursor of ``source`` under ``target``, in SQL."""
        self.env.flush_all()
        tables = [self.env[entity.model]._table for entity in STORED_ENTITIES]
        for table in (*tables, "billwerk_sync_cursor"):
            self.env.cr.execute(
                f"UPDATE {table} SET account_id = %s WHERE account_id = %s",
                (target.id, source.id),
            )
        self.env.invalidate_all()

    def _reset_sync_cursors(self):
        self.sudo().cursor_ids.unlink()
        self.sudo().write({"last_event_id": False, "last_event_at": False})
