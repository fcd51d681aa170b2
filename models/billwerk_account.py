import logging
import os
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from odoo import api, fields, models, tools
from odoo.exceptions import UserError

from ..client.api_key import key_hint
from ..client.http_client import DEFAULT_BASE_URL, BillwerkClient
from ..crypto.secret_box import SecretBox, SecretBoxError
from ..mapping.entities import ENTITIES
from ..mapping.timestamps import to_utc_naive

_logger = logging.getLogger(__name__)

ENCRYPTION_OPTION = "billwerk_encryption_key"
ENCRYPTION_ENV = "BILLWERK_ENCRYPTION_KEY"
_warned_fallback_databases = set()


class BillwerkAccount(models.Model):
    """The company's connection to one Billwerk+ Optimize account."""

    _name = "billwerk.account"
    _description = "Billwerk account"
    _rec_name = "display_name"

    active = fields.Boolean(default=True)
    company_id = fields.Many2one(
        "res.company",
        required=True,
        default=lambda self: self.env.company,
        ondelete="cascade",
        index=True,
        readonly=True,
    )
    # Administrators only: whoever sets the URL receives the stored key with
    # the next request, so an accountant must not be able to redirect it.
    api_url = fields.Char(
        string="API URL",
        required=True,
        default=DEFAULT_BASE_URL,
        groups="base.group_system",
        help="Billwerk+ Optimize API base URL; change it only for a proxy or the "
        "sandbox.",
    )
    # Encrypted at rest and readable by nobody through the ORM: the group has
    # no members, the addon decrypts as superuser inside the client call only.
    api_key_encrypted = fields.Char(
        groups="billwerk_connector.group_billwerk_secret_storage", copy=False
    )
    api_key_hint = fields.Char(string="API key", readonly=True, copy=False)
    connection_state = fields.Selection(
        [
            ("not_connected", "Not connected"),
            ("connected", "Connected"),
            ("error", "Error"),
        ],
        default="not_connected",
        required=True,
        readonly=True,
        copy=False,
    )
    connection_error = fields.Text(readonly=True, copy=False)
    billwerk_id = fields.Char(string="Billwerk account id", readonly=True, copy=False)
    billwerk_handle = fields.Char(string="Account handle", readonly=True, copy=False)
    billwerk_name = fields.Char(string="Account name", readonly=True, copy=False)
    billwerk_organisation = fields.Char(string="Organisation", readonly=True)
    billwerk_state = fields.Selection(
        [("test", "Test account"), ("live", "Live account"), ("closed", "Closed")],
        string="Account type",
        readonly=True,
        copy=False,
    )
    billwerk_currency = fields.Char(string="Account currency", readonly=True)
    billwerk_timezone = fields.Char(string="Account time zone", readonly=True)
    billwerk_created = fields.Datetime(string="Account created", readonly=True)
    create_partners = fields.Boolean(
        string="Create contacts for customers",
        help="Link every Billwerk customer to a contact of this company: an "
        "existing one with the same e-mail, else a new one. Customers copied "
        "before the option was on are linked at the next full reconciliation.",
    )
    plan_count = fields.Integer(compute="_compute_counts", string="Plans")
    subscription_count = fields.Integer(
        compute="_compute_counts", string="Active subscriptions"
    )
    customer_count = fields.Integer(
        compute="_compute_counts", string="Customer contracts"
    )
    invoice_count = fields.Integer(compute="_compute_counts", string="Invoices")
    cursor_ids = fields.One2many("billwerk.sync.cursor", "account_id", readonly=True)
    last_event_id = fields.Char(readonly=True, copy=False)
    last_event_at = fields.Datetime(readonly=True, copy=False)
    sync_run_ids = fields.One2many("billwerk.sync.run", "account_id", readonly=True)
    last_sync_run_id = fields.Many2one(
        "billwerk.sync.run", compute="_compute_last_sync_run", string="Last sync"
    )
    last_sync_state = fields.Selection(
        [("running", "Running"), ("done", "Done"), ("failed", "Failed")],
        compute="_compute_last_sync_run",
    )
    last_sync_ended = fields.Datetime(compute="_compute_last_sync_run")

    def init(self):
        # One current account per company; archived ones keep old data apart.
        self.env.cr.execute(
            "CREATE UNIQUE INDEX IF NOT EXISTS billwerk_account_company_active_uniq "
            "ON billwerk_account (company_id) WHERE active"
        )

    @api.depends("billwerk_name", "connection_state")
    def _compute_display_name(self):
        for account in self:
            account.display_name = account.billwerk_name or self.env._("Not connected")

    def _compute_counts(self):
        counts = {}
        domains = {
            "plan_count": ("billwerk.plan", []),
            "subscription_count": ("billwerk.subscription", [("state", "=", "active")]),
            "customer_count": ("billwerk.customer", []),
            "invoice_count": ("billwerk.invoice", []),
        }
        for field_name, (model, domain) in domains.items():
            groups = self.env[model]._read_group(
                [("account_id", "in", self.ids)] + domain, ["account_id"], ["__count"]
            )
            counts[field_name] = {account.id: count for account, count in groups}
        for account in self:
            for field_name in domains:
                account[field_name] = counts[field_name].get(account.id, 0)

    def _compute_last_sync_run(self):
        for account in self:
            run = self.env["billwerk.sync.run"].search(
                [("account_id", "=", account.id)],
                limit=1,
                order="started desc, id desc",
            )
            account.last_sync_run_id = run
            account.last_sync_state = run.state
            account.last_sync_ended = run.ended

    # -- opening the screen --
    @api.model
    def action_open_current_company_account(self):
        """The menu's target: the current company's account, made on first open."""
        account = self.search([("company_id", "=", self.env.company.id)], limit=1)
        if not account:
            self.check_access("create")
            account = self.create({"company_id": self.env.company.id})
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Billwerk account"),
            "res_model": self._name,
            "res_id": account.id,
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "current",
        }

    def action_open_set_api_key(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Set API key"),
            "res_model": "billwerk.set.api.key",
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
            "context": {"default_account_id": self.id},
        }

    def _action_open_records(self, model, name, domain=None):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": name,
            "res_model": model,
            "view_mode": "list,form",
            "domain": [("account_id", "=", self.id)] + (domain or []),
            "context": {"create": False},
        }

    def action_open_plans(self):
        return self._action_open_records("billwerk.plan", self.env._("Plans"))

    def action_open_subscriptions(self):
        return self._action_open_records(
            "billwerk.subscription",
            self.env._("Active subscriptions"),
            [("state", "=", "active")],
        )

    def action_open_customers(self):
        return self._action_open_records(
            "billwerk.customer", self.env._("Customer contracts")
        )

    def action_open_invoices(self):
        return self._action_open_records("billwerk.invoice", self.env._("Invoices"))

    def action_open_sync_runs(self):
        return self._action_open_records(
            "billwerk.sync.run", self.env._("Synchronization history")
        )

    # -- the key --
    @api.model
    def _secret_box(self):
        """Secrets from the server config or environment, else from the database.

        The fallback keeps a fresh install working but ties the encryption to
        ``database.secret``; the log says so once per database.
        """
        configured = tools.config.get(ENCRYPTION_OPTION) or os.environ.get(
            ENCRYPTION_ENV
        )
        if configured:
            return SecretBox(configured.split(","))
        dbname = self.env.cr.dbname
        if dbname not in _warned_fallback_databases:
            _warned_fallback_databases.add(dbname)
            _logger.warning(
                "No %s in the server configuration nor %s in the environment: "
                "Billwerk secrets of database %s are encrypted with a secret "
                "derived from the database's own secret.",
                ENCRYPTION_OPTION,
                ENCRYPTION_ENV,
                dbname,
            )
        database_secret = (
            self.env["ir.config_parameter"].sudo().get_param("database.secret")
        )
        return SecretBox([f"billwerk_connector:{database_secret}"])

    def _make_client(self, api_key=None, **options):
        """The one client object models use; the clear key lives only inside it."""
        self.ensure_one()
        if api_key is None:
            token = self.sudo().api_key_encrypted
            if not token:
                raise UserError(self.env._("Set an API key for this Billwerk account."))
            try:
                api_key = self._secret_box().decrypt(token)
            except SecretBoxError:
                raise UserError(
                    self.env._(
                        "The stored API key cannot be decrypted: the encryption "
                        "secret of the server changed. Set the API key again."
                    )
                ) from None
        return BillwerkClient(
            api_key, self.sudo().api_url, **{**self._client_options(), **options}
        )

    @api.model
    def _client_options(self):
        """Time-outs, retry policy and pacer of every client; a hook for tests."""
        return {}

    def _store_api_key(self, api_key, account_info):
        """Save a key already checked against Billwerk, with what it told us."""
        self.ensure_one()
        self.sudo().write(
            {
                "api_key_encrypted": self._secret_box().encrypt(api_key),
                "api_key_hint": key_hint(api_key),
                "connection_state": "connected",
                "connection_error": False,
                **self._values_from_account_info(account_info),
            }
        )

    @api.model
    def _values_from_account_info(self, info):
        return {
            "billwerk_id": info.get("id"),
            "billwerk_handle": info.get("handle"),
            "billwerk_name": info.get("name") or info.get("handle"),
            "billwerk_organisation": info.get("organisation"),
            "billwerk_state": info.get("state")
            if info.get("state") in ("test", "live", "closed")
            else False,
            "billwerk_currency": info.get("currency"),
            "billwerk_timezone": info.get("timezone"),
            "billwerk_created": to_utc_naive(info.get("created")),
        }

    # -- synchronized data --
    def _synchronized_counts(self):
        """Every copied record of this account, archived ones included."""
        self.ensure_one()
        return {
            entity.model: self.env[entity.model]
            .with_context(active_test=False)
            .search_count([("account_id", "=", self.id)])
            for entity in ENTITIES
        }

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
        for entity in reversed(ENTITIES):
            table = self.env[entity.model]._table
            self.env.cr.execute(
                f"DELETE FROM {table} WHERE account_id = %s",
                (self.id,),
            )
        self._reset_sync_cursors()
        self.env.invalidate_all()

    def _detach_synchronized_data(self):
        """Keep the old account's records apart, under an archived account."""
        self.ensure_one()
        self.check_access("write")
        self.env.flush_all()
        archive = self.copy(
            {
                "active": False,
                "billwerk_id": self.billwerk_id,
                "billwerk_handle": self.billwerk_handle,
                "billwerk_name": self.billwerk_name,
                "billwerk_state": self.billwerk_state,
                "api_key_hint": self.api_key_hint,
                "connection_state": "not_connected",
            }
        )
        for entity in ENTITIES:
            table = self.env[entity.model]._table
            self.env.cr.execute(
                f"UPDATE {table} SET account_id = %s WHERE account_id = %s",
                (archive.id, self.id),
            )
        self._reset_sync_cursors()
        self.env.invalidate_all()
        return archive

    def _reset_sync_cursors(self):
        self.sudo().cursor_ids.unlink()
        self.sudo().write({"last_event_id": False, "last_event_at": False})

    # -- time in Billwerk's terms ------------------------------------------------
    def _billwerk_zone(self):
        try:
            return ZoneInfo(self.billwerk_timezone or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            return timezone.utc

    def _to_billwerk_time(self, moment_utc):
        """Naive UTC -> the account-local string Billwerk's ``from``/``to`` expect."""
        local = moment_utc.replace(tzinfo=timezone.utc).astimezone(
            self._billwerk_zone()
        )
        return local.strftime("%Y-%m-%dT%H:%M:%S")

    def _first_load_from(self):
        if not self.billwerk_created:
            return None
        return self._to_billwerk_time(self.billwerk_created)[:10]

    # -- synchronization entry points --
    def action_sync_now(self):
        self.ensure_one()
        run = self.env["billwerk.sync.run"]._run_for(self, trigger="manual")
        return run._notification()

    def action_reconcile_now(self):
        self.ensure_one()
        run = self.env["billwerk.sync.run"]._run_for(
            self, trigger="manual", mode="reconciliation"
        )
        return run._notification()

    @api.model
    def _cron_sync(self, mode="incremental"):
        accounts = self.search([("connection_state", "=", "connected")])
        cron = self.env["ir.cron"]
        for done, account in enumerate(accounts):
            cron._notify_progress(done=done, remaining=len(accounts) - done)
            try:
                self.env["billwerk.sync.run"]._run_for(
                    account, trigger="cron", mode=mode
                )
            except UserError as refusal:
                _logger.info(
                    "Billwerk sync of account %s skipped: %s", account.id, refusal
                )
        cron._notify_progress(done=len(accounts), remaining=0)

    def _mark_key_rejected(self, error):
        self.sudo().write(
            {
                "connection_state": "error",
                "connection_error": self.env._(
                    "Billwerk rejected the API key (%(detail)s). Set a new API key.",
                    detail=str(error),
                ),
            }
        )

    @api.model
    def _now(self):
        """Now, rounded *up* to the second, naive UTC.

        Billwerk's ``to`` has whole seconds and is exclusive: rounding down
        would leave out what was created earlier in the current second.
        """
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        return now.replace(microsecond=0) + timedelta(seconds=1)
