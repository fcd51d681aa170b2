"""The registered webhook URL is encrypted from 2.1; 2.0 kept it in clear.

The URL holds the route's token: each account's clear ``webhook_url_registered``
is encrypted into ``webhook_url_encrypted`` with the account's secret box (as
the webhook secret is), and the clear column is dropped here rather than at
the end of the upgrade. (PostgreSQL frees the old row versions at its next
vacuum.)
"""

from odoo import SUPERUSER_ID, api
from odoo.tools.sql import column_exists


def migrate(cr, version):
    if not version or not column_exists(
        cr, "billwerk_account", "webhook_url_registered"
    ):
        return
    env = api.Environment(cr, SUPERUSER_ID, {})
    box = env["billwerk.account"]._secret_box()
    cr.execute(
        """
        SELECT id, webhook_url_registered FROM billwerk_account
         WHERE webhook_url_registered IS NOT NULL AND webhook_url_registered != ''
        """
    )
    for account_id, url in cr.fetchall():
        cr.execute(
            "UPDATE billwerk_account SET webhook_url_encrypted = %s WHERE id = %s",
            (box.encrypt(url), account_id),
        )
    cr.execute("ALTER TABLE billwerk_account DROP COLUMN webhook_url_registered")
    env["billwerk.account"].invalidate_model(["webhook_url_encrypted"])
