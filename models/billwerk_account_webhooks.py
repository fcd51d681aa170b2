"""The account's webhooks: registered in Billwerk, verified, processed, removed."""

import hashlib
import hmac
import logging
import secrets
import time

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError

from ..client import errors as billwerk_errors
from ..client.retry import RetryPolicy
from ..client.webhook_signature import is_valid_signature
from ..client.webhook_url import base_url_problem
from ..crypto.secret_box import SecretBoxError
from ..mapping.events import WEBHOOK_EVENT_TYPES

_logger = logging.getLogger(__name__)

SECRET_STORAGE = "billwerk_connector.group_billwerk_secret_storage"
WEBHOOK_PATH = "/billwerk/webhook/"
WEBHOOK_CRON = "billwerk_connector.cron_billwerk_webhooks"
# The route's one call to Billwerk (re-reading a rotated secret) must leave
# time to answer within Billwerk's 10 seconds: one attempt, a short time-out.
SECRET_REREAD_OPTIONS = {"timeout": 4.0, "prefetch": 0}
# A delivery whose signature fails makes the route ask Billwerk for the
# secret: at most once per account and worker in this many seconds, so that a
# leaked webhook URL cannot turn this database into a load on Billwerk's API.
SECRET_REREAD_INTERVAL = 30
_secret_rereads = {}  # account id -> time.monotonic() of the last re-read


def token_hash(token):
    return hashlib.sha256(token.encode()).hexdigest()


class BillwerkAccountWebhooks(models.Model):
    _inherit = "billwerk.account"

    # The route's token, hashed: the URL itself is a credential of this
    # database and is never stored in clear where the ORM can read it.
    webhook_token_hash = fields.Char(groups=SECRET_STORAGE, copy=False, index=True)
    webhook_secret_encrypted = fields.Char(groups=SECRET_STORAGE, copy=False)
    # Kept to remove it from Billwerk's settings at the next registration,
    # switch or purge; it holds the token, so it is encrypted like the key.
    webhook_url_encrypted = fields.Char(groups=SECRET_STORAGE, copy=False)
    webhooks_active = fields.Boolean(
        compute="_compute_webhook_status",
        string="Webhooks active",
        help="Billwerk sends this database a webhook for every change of a "
        "customer, subscription or invoice; the scheduled synchronization "
        "stays as the safety net.",
    )
    last_webhook_at = fields.Datetime(
        compute="_compute_webhook_status", string="Last webhook received"
    )
    webhook_pending_count = fields.Integer(
        compute="_compute_webhook_status", string="Webhooks waiting"
    )
    webhook_url_warning = fields.Char(compute="_compute_webhook_url_warning")

    def _compute_webhook_status(self):
        stats = {}
        if self.ids:
            self.env.flush_all()
            self.env.cr.execute(
                """
                SELECT account_id, max(received),
                       count(*) FILTER (WHERE state = 'pending')
                  FROM billwerk_webhook_event
                 WHERE account_id IN %s
                 GROUP BY account_id
                """,
                (tuple(self.ids),),
            )
            stats = {row[0]: row[1:] for row in self.env.cr.fetchall()}
        for account in self:
            last, pending = stats.get(account.id, (False, 0))
            account.webhooks_active = bool(account.sudo().webhook_token_hash)
            account.last_webhook_at = last
            account.webhook_pending_count = pending

    def _compute_webhook_url_warning(self):
        warning = self._webhook_url_warning(self._webhook_base_url())
        for account in self:
            account.webhook_url_warning = warning

    @api.model
    def _webhook_base_url(self):
        return self.env["ir.config_parameter"].sudo().get_param("web.base.url") or ""

    @api.model
    def _webhook_url_warning(self, base_url):
        problem = base_url_problem(base_url)
        if not problem:
            return False
        reasons = {
            "missing": self.env._(
                "The system parameter web.base.url is not set: Billwerk does not "
                "know where to send webhooks."
            ),
            "local": self.env._(
                "web.base.url (%(url)s) names this machine: Billwerk cannot "
                "deliver webhooks to it. Set it to the address Odoo is reached "
                "at from the internet.",
                url=base_url,
            ),
            "private": self.env._(
                "web.base.url (%(url)s) is a private address: Billwerk cannot "
                "deliver webhooks to it from the internet.",
                url=base_url,
            ),
            "plain_http": self.env._(
                "web.base.url (%(url)s) uses plain http: webhooks would travel "
                "unencrypted. Use https.",
                url=base_url,
            ),
        }
        return reasons[problem]

    # -- registration ----------------------------------------------------------
    def action_register_webhooks(self):
        """Add this database's URL to the account's webhook settings in Billwerk.

        Every other integration's URL stays; a URL registered before by this
        account is replaced (its token stops working). The webhook secret
        Billwerk answers is stored encrypted, like the key.
        """
        self.ensure_one()
        if not self.env.is_system():
            raise AccessError(
                self.env._("Only administrators register webhooks in Billwerk.")
            )
        if not self.active or self.connection_state != "connected":
            raise UserError(self.env._("Connect the account with Set API key first."))
        self._lock_for_change()
        account = self.sudo()
        token = secrets.token_urlsafe(32)
        url = self._webhook_base_url().rstrip("/") + WEBHOOK_PATH + token
        previous = self._registered_webhook_url()
        try:
            with self._make_client() as client:
                settings = client.update_webhook_urls(
                    add=url,
                    remove=[previous] if previous else [],
                    event_types=WEBHOOK_EVENT_TYPES,
                )
                secret = settings.get("secret") or client.webhook_settings().get(
                    "secret"
                )
        except billwerk_errors.KeyRejected as rejection:
            self._mark_key_rejected(rejection)
            raise UserError(self.connection_error) from None
        except billwerk_errors.BillwerkError as error:
            raise UserError(
                self.env._(
                    "Billwerk's webhook settings could not be changed (%(error)s); "
                    "nothing was registered.",
                    error=str(error),
                )
            ) from None
        if not isinstance(secret, str) or not secret:
            raise UserError(
                self.env._("Billwerk's webhook settings have no secret to sign with.")
            )
        account.write(
            {
                "webhook_token_hash": token_hash(token),
                "webhook_secret_encrypted": self._secret_box().encrypt(secret),
                "webhook_url_encrypted": self._secret_box().encrypt(url),
            }
        )
        message = self.env._(
            "Billwerk now sends webhooks to this database; other integrations' "
            "webhook addresses were kept."
        )
        if settings.get("disabled"):
            message = self.env._(
                "The address is registered, but webhooks are disabled in "
                "Billwerk's settings: enable them there."
            )
        warning = self._webhook_url_warning(self._webhook_base_url())
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("Webhooks"),
                "message": f"{message} {warning}" if warning else message,
                "type": "warning" if warning or settings.get("disabled") else "success",
                "sticky": bool(warning),
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def write(self, vals):
        leaving = self.browse()
        if "active" in vals and not vals["active"]:
            leaving = self.filtered(
                lambda account: account.active and account.sudo().webhook_url_encrypted
            )
        result = super().write(vals)  # who may archive, and the account's lock
        # An archived account is never synchronized: Billwerk stops posting here.
        for account in leaving:
            account._unregister_webhooks()
        return result

    def unlink(self):
        registered = self.filtered(lambda account: account.sudo().webhook_url_encrypted)
        if registered:
            # Refused (not an administrator, a run going on) before Billwerk is asked.
            registered._unlink_by_administrators_when_idle()
            for account in registered:
                account._unregister_webhooks()
        return super().unlink()

    def _unregister_webhooks(self):
        """Remove our URL from this Billwerk account's settings, with the key
        still stored, and forget token, secret and events; False when Billwerk
        could not be reached (the caller goes on and says so)."""
        self.ensure_one()
        account = self.sudo()
        url = self._registered_webhook_url()
        reached = True
        if account.webhook_url_encrypted and not url:
            # The server's encryption secret changed: the address is unknown
            # here, and the caller says to remove it by hand.
            reached = False
            _logger.warning(
                "The webhook address of Billwerk account %s cannot be decrypted "
                "and stays in its settings in Billwerk.",
                self.id,
            )
        if url and account.api_key_encrypted:
            try:
                with self._make_client() as client:
                    client.update_webhook_urls(remove=[url])
            except (billwerk_errors.BillwerkError, UserError) as error:
                reached = False
                # The URL holds the token: only the error's class and words.
                _logger.warning(
                    "The webhook address of Billwerk account %s could not be "
                    "removed from its settings in Billwerk: %s",
                    self.id,
                    error,
                )
        account.write(
            {
                "webhook_token_hash": False,
                "webhook_secret_encrypted": False,
                "webhook_url_encrypted": False,
            }
        )
        # Events of the previous Billwerk account name its objects, not the
        # next one's: none may be read with the new key.
        self.env.flush_all()
        self.env.cr.execute(
            "DELETE FROM billwerk_webhook_event WHERE account_id = %s", (self.id,)
        )
        self.env.invalidate_all()
        return reached

    # -- the route's side --------------------------------------------------------
    @api.model
    def _for_webhook_token(self, token):
        """The active, connected account whose token this is, or an empty set."""
        digest = token_hash(token)
        self.env.cr.execute(
            """
            SELECT id, webhook_token_hash FROM billwerk_account
             WHERE webhook_token_hash = %s AND active
               AND connection_state = 'connected'
            """,
            (digest,),
        )
        row = self.env.cr.fetchone()
        if not row or not hmac.compare_digest(row[1], digest):
            return self.browse()
        return self.browse(row[0])

    def _webhook_secret(self):
        return self._decrypt_webhook_field("webhook_secret_encrypted")

    def _registered_webhook_url(self):
        """The URL this account registered in Billwerk, or None (none, or the
        server's encryption secret changed since)."""
        return self._decrypt_webhook_field("webhook_url_encrypted")

    def _decrypt_webhook_field(self, name):
        self.ensure_one()
        token = self.sudo()[name]
        try:
            return self._secret_box().decrypt(token) if token else None
        except SecretBoxError:
            return None

    def _webhook_signature_valid(self, values):
        """The body's signature, checked with the stored secret, then once with
        the secret Billwerk has now (it may have been rotated)."""
        self.ensure_one()
        signed = (values["timestamp"], values["id"], values["signature"])
        secret = self._webhook_secret()
        if is_valid_signature(secret, *signed):
            return True
        if not self._may_reread_webhook_secret():
            return False
        fresh = self._reread_webhook_secret()
        return bool(fresh and fresh != secret and is_valid_signature(fresh, *signed))

    def _may_reread_webhook_secret(self):
        now = time.monotonic()
        last = _secret_rereads.get(self.id)
        if last is not None and now - last < SECRET_REREAD_INTERVAL:
            return False
        _secret_rereads[self.id] = now
        return True

    def _reread_webhook_secret(self):
        """Billwerk's current webhook secret, stored when it changed; None when
        Billwerk could not tell."""
        try:
            options = {
                **SECRET_REREAD_OPTIONS,
                "retry_policy": RetryPolicy(max_attempts=1),
            }
            with self._make_client(**options) as client:
                secret = client.webhook_settings().get("secret")
        except (billwerk_errors.BillwerkError, UserError) as error:
            _logger.warning(
                "Billwerk account %s: the webhook secret could not be read again: %s",
                self.id,
                error,
            )
            return None
        if not isinstance(secret, str) or not secret:
            return None
        if secret != self._webhook_secret():
            self.sudo().webhook_secret_encrypted = self._secret_box().encrypt(secret)
        return secret

    @api.model
    def _trigger_webhook_processing(self, when=None):
        self.env.ref(WEBHOOK_CRON).sudo()._trigger(when)
