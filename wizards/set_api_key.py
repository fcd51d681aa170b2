from urllib.parse import urlsplit

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError

from ..client import errors as billwerk_errors
from ..client.api_key import MAX_KEY_LENGTH, InvalidApiKey, normalize_api_key

# What a user types into the dialog; the rest (the step, what Billwerk said
# about the key) is the server's, so that the switch question cannot be
# skipped by creating the dialog in its second step.
USER_FIELDS = frozenset({"account_id", "api_key", "take_back_kept_data"})


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
        readonly=True,
    )
    # What the question was about: the switch is done only if both still hold.
    old_billwerk_id = fields.Char(readonly=True)
    new_billwerk_id = fields.Char(readonly=True)
    new_account_name = fields.Char(readonly=True)
    current_account_name = fields.Char(compute="_compute_current_account_name")
    synchronized_summary = fields.Text(readonly=True)
    # What the books hold of the current account: it stays, whatever is chosen.
    posted_summary = fields.Text(string="Posted from this account", readonly=True)
    current_posts = fields.Boolean(string="Posts to accounting", readonly=True)
    current_has_data = fields.Boolean(readonly=True)
    # Data kept from the new key's account at an earlier switch, if any.
    kept_account_id = fields.Many2one("billwerk.account", readonly=True)
    kept_summary = fields.Text(readonly=True)
    take_back_kept_data = fields.Boolean(
        string="Take the kept data back",
        default=True,
        help="Use the data kept when the company switched away from this "
        "account, and read only what changed since; otherwise it stays apart "
        "and everything is loaded again.",
    )

    # -- who may set what --
    def _check_user_values(self, vals):
        if self.env.su:
            return
        refused = sorted(set(vals) - USER_FIELDS)
        if refused:
            raise AccessError(
                self.env._(
                    "The Set API key dialog takes only the API key; the "
                    "connector fills in the rest (%(fields)s).",
                    fields=", ".join(refused),
                )
            )

    @api.model
    def default_get(self, fields_list):
        defaults = super().default_get(fields_list)
        if not self.env.su:
            for name in set(defaults) - USER_FIELDS - {"step"}:
                defaults.pop(name)
            if "step" in fields_list:
                defaults["step"] = "key"
        return defaults

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            self._check_user_values(vals)
        wizards = super().create(vals_list)
        # Only an account the user may change: another company's is refused
        # here, before its name or figures could be read through the dialog.
        wizards.account_id.check_access("write")
        return wizards

    def write(self, vals):
        self._check_user_values(vals)
        if "account_id" in vals and not self.env.su:
            raise AccessError(self.env._("The dialog's account cannot be changed."))
        return super().write(vals)

    # -- the key, never readable --
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
        # The value written stays in the cache and `web_save` would read it
        # back into its answer: forget it, the compute says False.
        self.invalidate_recordset(["api_key"])

    def _compute_current_account_name(self):
        # Not sudo: the user reads the name with their own rights.
        for wizard in self:
            wizard.current_account_name = wizard.account_id.billwerk_name

    def _read_key(self):
        token = self.sudo().api_key_encrypted
        raw = self.account_id._secret_box().decrypt(token) if token else ""
        try:
            return normalize_api_key(raw)
        except InvalidApiKey as error:
            raise UserError(self._invalid_key_message(error, raw)) from None

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
            "not_ascii": self.env._(
                "The API key contains a character that no Billwerk key has "
                "(keys are letters, digits and '_'). Copy it again from Billwerk."
            ),
            "public_key": self.env._(
                "This is a public key; the connector needs the private key (priv_…)."
            ),
        }[error.reason]

    # -- asking Billwerk --
    def _where(self):
        """The API URL for administrators (without credentials), else nothing."""
        if not self.env.is_system():
            return ""
        parts = urlsplit(self.account_id.sudo().api_url or "")
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        return " " + self.env._(
            "(API URL: %(url)s)",
            url=parts._replace(netloc=host).geturl(),
        )

    def _check_with_billwerk(self, key):
        """GET /account with the new key; any failure leaves everything as it was."""
        account = self.account_id
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
                    "Billwerk could not be reached%(where)s. Check the API URL "
                    "and this server's internet access, then try again.",
                    where=self._where(),
                )
            ) from None
        except (
            billwerk_errors.MalformedResponse,
            billwerk_errors.InvalidUrl,
            billwerk_errors.UnexpectedRedirect,
        ):
            raise UserError(self._not_billwerk_message()) from None
        except billwerk_errors.BillwerkError as error:
            raise UserError(
                self.env._(
                    "Billwerk could not check the key right now (%(error)s). Try "
                    "again in a moment.",
                    error=str(error),
                )
            ) from None
        if not isinstance(info.get("id"), str) or not info["id"]:
            raise UserError(self._not_billwerk_message())
        return info

    def _check_not_held_elsewhere(self, info):
        """One Billwerk account feeds one company's books, never two."""
        holder = (
            self.env["billwerk.account"]
            .sudo()
            .search(
                [
                    ("billwerk_id", "=", info["id"]),
                    ("company_id", "!=", self.account_id.company_id.id),
                ],
                limit=1,
            )
        )
        if holder:
            raise UserError(
                self.env._(
                    "The Billwerk account %(name)s is already connected to another "
                    "company of this database. One Billwerk account feeds the "
                    "books of one company: disconnect it there first.",
                    name=info.get("name") or info.get("handle") or info["id"],
                )
            )

    def _not_billwerk_message(self):
        return self.env._(
            "The API URL does not answer like Billwerk%(where)s. An administrator "
            "can check it on the Billwerk account screen.",
            where=self._where(),
        )

    # -- the steps --
    def action_check_key(self):
        self.ensure_one()
        account = self.account_id
        account.check_access("write")
        info = self._check_with_billwerk(self._read_key())
        self._check_not_held_elsewhere(info)
        switching = account.billwerk_id != info["id"]
        has_data = switching and any(account._synchronized_counts().values())
        kept = account._kept_account_for(info["id"]) if switching else account.browse()
        if has_data or kept:
            self.sudo().write(
                {
                    "step": "confirm_switch",
                    "old_billwerk_id": account.billwerk_id,
                    "new_billwerk_id": info["id"],
                    "new_account_name": info.get("name") or info.get("handle"),
                    "current_has_data": has_data,
                    "synchronized_summary": has_data and account._summary_of_data(),
                    "posted_summary": account._posted_summary(),
                    "current_posts": account.post_invoices,
                    "kept_account_id": kept.id,
                    "kept_summary": kept and kept._summary_of_data(),
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
        account._lock_for_change()
        return self._apply(info, switching=switching and bool(account.billwerk_id))

    def action_switch_delete_data(self):
        return self._confirmed_switch(purge=True)

    def action_switch_keep_data(self):
        return self._confirmed_switch(purge=False)

    def _confirmed_switch(self, purge):
        """Switch only what the question was about, asking Billwerk again.

        The dialog may have stayed open while the key was revoked, or while
        someone else switched the account: then nothing is deleted or moved.
        """
        self.ensure_one()
        account = self.account_id
        account.check_access("write")
        if self.step != "confirm_switch":
            raise UserError(self.env._("Check the API key first."))
        key = self._read_key()
        info = self._check_with_billwerk(key)
        self._check_not_held_elsewhere(info)
        account._lock_for_change()
        if account.billwerk_id != self.old_billwerk_id:
            raise UserError(
                self.env._(
                    "The Billwerk account was changed since the question was "
                    "asked; nothing was deleted or moved. Set the API key again."
                )
            )
        if info["id"] == account.billwerk_id:
            # The same account after all: its data stays where it is.
            return self._apply(info, switching=False, key=key)
        if info["id"] != self.new_billwerk_id:
            raise UserError(
                self.env._(
                    "The key now belongs to another Billwerk account than the "
                    "one the question named; nothing was deleted or moved. "
                    "Set the API key again."
                )
            )
        if purge:
            account._purge_synchronized_data()
        elif any(account._synchronized_counts().values()):
            account._detach_synchronized_data()
        result = self._apply(info, switching=True, key=key)
        kept = self.kept_account_id.sudo().with_context(active_test=False)
        if self.take_back_kept_data and kept.exists() and not kept.active:
            account._take_back_kept_data(kept)
        return result

    def _apply(self, info, switching, key=None):
        """Store the key; the caller holds the account's lock for the transaction."""
        account = self.account_id
        webhooks_removed = True
        if switching:
            # With the old key, before it is replaced: our address leaves the
            # old account's webhook settings (and a purge, which only happens
            # in a switch, goes through here too).
            webhooks_removed = account._unregister_webhooks()
            account._reset_sync_cursors()
            account._stop_posting()
            account._cancel_queued_runs()
        account._store_api_key(key or self._read_key(), info)
        self.sudo().api_key_encrypted = False
        # The first load can take minutes: queued for a cron worker now
        # rather than run in this request or at the next scheduled time.
        self.env["billwerk.sync.run"]._enqueue(account, trigger="manual")
        close = {"type": "ir.actions.act_window_close"}
        if webhooks_removed:
            return close
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("Webhooks"),
                "message": self.env._(
                    "The account was switched, but Billwerk could not be reached "
                    "to remove this database's webhook address from the previous "
                    "account's settings: remove it there (its deliveries are "
                    "refused)."
                ),
                "type": "warning",
                "sticky": True,
                "next": close,
            },
        }
