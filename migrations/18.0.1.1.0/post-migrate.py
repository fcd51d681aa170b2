"""Runs keep the Billwerk account they read: fill it in for the runs before 1.1.

Before this version a run showed its Odoo account's current Billwerk name,
which a switch rewrote; the best that can be recovered is the account's
identity at upgrade time, for the runs of accounts that were never switched
(archived accounts hold the runs of the account they kept).
"""


def migrate(cr, version):
    cr.execute(
        """
        UPDATE billwerk_sync_run r
           SET billwerk_id = a.billwerk_id, billwerk_name = a.billwerk_name
          FROM billwerk_account a
         WHERE a.id = r.account_id AND r.billwerk_name IS NULL
        """
    )
