from odoo import fields, models
from odoo.exceptions import UserError, ValidationError

from ..client import errors as billwerk_errors
from ..client.api_key import MAX_KEY_LENGTH, InvalidApiKey, normalize_api_key
from ..mapping.entities import ENTITIES


class BillwerkSetApiKey(models.TransientModel):
    """Check a key against Billwerk before it replaces the stored one."""

    _name = "billwerk.set.api.key"
    _description = "Set the Billwerk API key"

    account_id = fields.Many2one("billwerk.account", required=True, ondelete="cascade")
    # Never stored in clear, not even in this transient table: the inverse
    # encrypts it into `api_key_encrypted` as soon as the dialog is saved.
    # No `size=`: Odoo would silently cut a long key instead of refusing it.
    api_key = fields.Char(
        string="API key",
        compute="_compute_api_key",
        inverse="_inverse_api_key",
    )
    api_key_encrypted = fields.Char(
        groups="billwerk_connector.group_billwerk_secret_storage"
    )
    step = fields.Selection(
        [("key", "Key"), ("confirm_switch", "Confirm account switch")],
        default="key",
        required=True,
    )
    new_account_name = fields.Char(readonly=True)
    current_account_name = fields.Char(related="account_id.billwerk_name")
    synchronized_summary = fields.Text(readonly=True)

    def _compute_api_key(self):
        for wizard in self:
            wizard.api_key = False

    def _inverse_api_key(self):
        for wizard in self:
            token = (
                wizard.account_id._secret_box().encrypt(wizard.api_key)
                if wizard.api_key
                else False
            )
            wizard.sudo().api_key_encrypted = token

    def _read_key(self):
        token = self.sudo().api_key_encrypted
        raw = self.account_id._secret_box().decrypt(token) if token else ""
        try:
            return normalize_api_key(raw)
        except InvalidApiKey as error:
            raise ValidationError(self._invalid_key_message(error, raw)) from None

    def _invalid_key_message(self, error, raw):
        return {
            "empty": self.env._("Enter the API key."),
            "too_long": self.env._(
                "An API key has at most %(max)s characters; this one has %(length)s.",
                max=MAX_KEY_LENGTH,
                length=len(raw.strip()),
            ),
            "control_character": self.env._(
                "The API key contains a line break, a tab or another invisible "
                "character. Copy it again from Billwerk."
            ),
            "inner_space": self.env._(
                "The API key contains a space. Copy it again from Billwerk."
            ),
        }[error.reason]

    def _check_with_billwerk(self, key):
        """GET /account with the new key; any failure leaves everything as it was."""
        account = self.account_id
        url = account.sudo().api_url
        try:
            with account._make_client(key) as client:
                info = client.account()
        except billwerk_errors.KeyRejected:
            raise UserError(
                self.env._(
                    "Billwerk rejected this API key. Check that you copied the "
                    "whole private key of the right account."
                )
            ) from None
        except billwerk_errors.NetworkError:
            raise UserError(
                self.env._(
                    "Billwerk could not be reached at %(url)s. Check the API URL "
                    "and this server's internet access, then try again.",
                    url=url,
                )
            ) from None
        except billwerk_errors.MalformedResponse:
            raise UserError(
                self.env._(
                    "The answer from %(url)s is not Billwerk's. Check the API URL.",
                    url=url,
                )
            ) from None
        except billwerk_errors.BillwerkError as error:
            raise UserError(
                self.env._(
                    "Billwerk could not check the key right now (%(error)s). Try "
                    "again in a moment.",
                    error=str(error),
                )
            ) from None
        if not isinstance(info.get("id"), str) or not info["id"]:
            raise UserError(
                self.env._(
                    "The answer from %(url)s is not Billwerk's. Check the API URL.",
                    url=url,
                )
            )
        return info

    def action_check_key(self):
        self.ensure_one()
        account = self.account_id
        account.check_access("write")
        info = self._check_with_billwerk(self._read_key())
        switching = bool(account.billwerk_id) and account.billwerk_id != info["id"]
        counts = account._synchronized_counts() if switching else {}
        if any(counts.values()):
            self.write(
                {
                    "step": "confirm_switch",
                    "new_account_name": info.get("name") or info.get("handle"),
                    "synchronized_summary": self._summary(counts),
                }
            )
            return {
                "type": "ir.actions.act_window",
                "name": self.env._("Switch Billwerk account?"),
                "res_model": self._name,
                "res_id": self.id,
                "view_mode": "form",
                "views": [(False, "form")],
                "target": "new",
            }
        return self._apply(info, switching=switching)

    def _summary(self, counts):
        labels = {
            "billwerk.plan": self.env._("plans"),
            "billwerk.customer": self.env._("customer contracts"),
            "billwerk.subscription": self.env._("subscriptions"),
            "billwerk.invoice": self.env._("invoices"),
        }
        return ", ".join(
            f"{counts[entity.model]} {labels[entity.model]}" for entity in ENTITIES
        )

    def action_switch_delete_data(self):
        return self._confirmed_switch(purge=True)

    def action_switch_keep_data(self):
        return self._confirmed_switch(purge=False)

    def _confirmed_switch(self, purge):
        self.ensure_one()
        self.account_id.check_access("write")
        if self.step != "confirm_switch":
            raise UserError(self.env._("Check the API key first."))
        # Asked again rather than trusted from the first step: the dialog may
        # have stayed open while the key was revoked.
        key = self._read_key()
        info = self._check_with_billwerk(key)
        account = self.account_id
        if purge:
            account._purge_synchronized_data()
        else:
            account._detach_synchronized_data()
        return self._apply(info, switching=True, key=key)

    def _apply(self, info, switching, key=None):
        account = self.account_id
        if switching:
            account._reset_sync_cursors()
        account._store_api_key(key or self._read_key(), info)
        self.sudo().api_key_encrypted = False
        # The first load can take minutes: start it in a cron worker now
        # rather than in this request or at the next scheduled time.
        self.env.ref(
            "billwerk_connector.cron_billwerk_incremental_sync"
        ).sudo()._trigger()
        return {"type": "ir.actions.act_window_close"}
