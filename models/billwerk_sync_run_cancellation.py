"""A user's request to cancel a run, kept apart from the run's own row.

A running run writes its row (records read, documents posted) after every
page; a cancel button writing the same row would make one of the two
transactions fail on a serialization error under Odoo's REPEATABLE READ. The
request is therefore a row of its own, inserted once and read by the run at
its next page or batch boundary.
"""

from odoo import fields, models


class BillwerkSyncRunCancellation(models.Model):
    _name = "billwerk.sync.run.cancellation"
    _description = "Request to cancel a Billwerk synchronization run"
    _log_access = False

    run_id = fields.Many2one(
        "billwerk.sync.run", required=True, ondelete="cascade", index=True
    )
    user_id = fields.Many2one("res.users", string="Cancelled by", required=True)
    requested = fields.Datetime(required=True, default=fields.Datetime.now)
