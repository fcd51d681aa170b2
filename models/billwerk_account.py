import logging
import os
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg2

from odoo import api, fields, models, tools
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools.safe_eval import safe_eval

from ..client.api_key import key_hint
from ..client.http_client import DEFAULT_BASE_URL, BillwerkClient
from ..crypto.secret_box import SecretBox, SecretBoxError
from ..mapping import readers as read
from ..mapping.entities import ENTITIES
from ..mapping.readers import MappingError
from .transaction import commit_unless_testing, in_test_mode

_logger = logging.getLogger(__name__)

ENCRYPTION_OPTION = "billwerk_encryption_key"
ENCRYPTION_ENV = "BILLWERK_ENCRYPTION_KEY"
_warned_fallback_databases = set()
# First key of this addon's advisory locks; the second is the account id.
LOCK_NAMESPACE = 742_117
# What a user's create or write may set; every other stored field (the
# connection, the Billwerk account's identity, cursors, event marks) is the
# connector's own and is written only by its code, as superuser.
USER_FIELDS = frozenset({"create_partners"})
# Administrators also decide where the key is sent and whether the account
# is in use: a member of the group could otherwise plant an account whose URL
# collects the next key typed into it.
ADMIN_FIELDS = frozenset({"api_url", "active"})
CREATE_FIELDS = frozenset({"company_id"})
# Seconds one scheduled call may spend starting runs before it hands the
# remaining accounts to a new call (Odoo's worker limit is 120 s by default).
CRON_BUDGET = 60


class SyncAlreadyRunning(UserError):
    """The account's sync lock is held: by a run, a switch or a purge."""


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
        [
            ("running", "Running"),
            ("done", "Done"),
            ("warning", "Done with warnings"),
            ("failed", "Failed"),
        ],
        compute="_compute_last_sync_run",
    )
    encryption_secret_missing = fields.Boolean(
        compute="_compute_encryption_secret_missing",
        groups="base.group_system",
        help="No encryption secret in the server configuration: the keys are "
        "encrypted with one derived from the database, which a copy of the "
        "database alone can decrypt.",
    )
    last_sync_ended = fields.Datetime(compute="_compute_last_sync_run")
    last_sync_error = fields.Text(compute="_compute_last_sync_run")
    sync_status = fields.Char(compute="_compute_last_sync_run")

    def init(self):
        # One current account per company; archived ones keep old data apart.
        self.env.cr.execute(
            "CREATE UNIQUE INDEX IF NOT EXISTS billwerk_account_company_active_uniq "
            "ON billwerk_account (company_id) WHERE active"
        )

    # -- who may set what: every path (form, RPC, import, copy) ends here --
    def _check_user_values(self, vals, allowed):
        """Refuse values a user may not set; the connector's own code is sudo."""
        if self.env.su:
            return
        allowed = allowed | (ADMIN_FIELDS if self.env.is_system() else frozenset())
        refused = sorted(
            name for name in vals if name not in allowed and name in self._fields
        )
        if refused:
            labels = ", ".join(self._fields[name].string for name in refused)
            raise AccessError(
                self.env._(
                    "Only the connector sets these fields of a Billwerk account: "
                    "%(fields)s. Administrators set the API URL and archive "
                    "accounts; the API key is set with Set API key.",
                    fields=labels,
                )
            )

    @api.model
    def default_get(self, fields_list):
        # Context defaults and user defaults (ir.default) are values a user
        # chose too: only those the user could have typed pass; the others
        # fall back to the field's own default (all scalars here).
        defaults = super().default_get(fields_list)
        if not self.env.su:
            allowed = USER_FIELDS | CREATE_FIELDS
            if self.env.is_system():
                allowed |= ADMIN_FIELDS
            for name in set(defaults) - allowed:
                field = self._fields.get(name)
                if field and field.default:
                    defaults[name] = field.default(self)
                elif field:
                    defaults.pop(name)
        return defaults

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            self._check_user_values(vals, USER_FIELDS | CREATE_FIELDS)
            if "api_url" in vals:
                vals["api_url"] = self._clean_api_url(vals["api_url"])
        return super().create(vals_list)

    def write(self, vals):
        self._check_user_values(vals, USER_FIELDS)
        if "company_id" in vals and any(
            account.company_id.id != vals["company_id"] for account in self
        ):
            raise UserError(
                self.env._("A Billwerk account never moves to another company.")
            )
        if "api_url" in vals:
            vals["api_url"] = self._clean_api_url(vals["api_url"])
        if "active" in vals or "api_url" in vals:
            # Archiving or redirecting mid-run would mix or strand a run.
            self._lock_for_change()
        return super().write(vals)

    def copy(self, default=None):
        if not self.env.su:
            raise UserError(
                self.env._(
                    "A Billwerk account cannot be duplicated: each company has "
                    "one, and Set API key connects it."
                )
            )
        return super().copy(default)

    @api.ondelete(at_uninstall=False)
    def _unlink_by_administrators_when_idle(self):
        if not self.env.su and not self.env.is_system():
            raise AccessError(
                self.env._("Only administrators delete a Billwerk account.")
            )
        self._lock_for_change()

    def _clean_api_url(self, url):
        """An http(s) URL with a host; anything else would only fail later."""
        url = (url or "").strip() or DEFAULT_BASE_URL
        parsed = urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValidationError(
                self.env._(
                    "The API URL must be an http:// or https:// address, such as "
                    "%(default)s.",
                    default=DEFAULT_BASE_URL,
                )
            )
        return url

    # -- the account's sync lock --
    @contextmanager
    def _sync_locks(self):
        """Hold the accounts' locks for a run, or refuse before changing anything.

        Session-level: a run commits per batch and keeps the lock throughout;
        a dead worker's connection takes it along.
        """
        locked = self.browse()
        try:
            for account in self:
                if not account._try_lock():
                    raise account._busy()
                locked |= account
            yield
        finally:
            for account in locked:
                account._unlock()

    def _lock_for_change(self):
        """Take the accounts' locks until this transaction ends, or refuse.

        Switches, purges, archiving and deletion take them, so none of them
        ever overlaps a run (one that would write the old account's records
        under a new key, for one). Held until the commit, a worker cannot
        start a run on what is not committed yet.
        """
        for account in self:
            self.env.cr.execute(
                "SELECT pg_try_advisory_xact_lock(%s, %s)", (LOCK_NAMESPACE, account.id)
            )
            if not self.env.cr.fetchone()[0]:
                raise account._busy()

    def _busy(self):
        return SyncAlreadyRunning(
            self.env._(
                "A synchronization of %(account)s is running. Nothing was "
                "changed: wait until it has finished (the Billwerk account "
                "screen shows its progress), then try again.",
                account=self.display_name,
            )
        )

    def _try_lock(self):
        # A session-level lock survives the run's per-batch commits and dies
        # with the connection, so a crashed worker cannot block the account.
        self.env.cr.execute(
            "SELECT pg_try_advisory_lock(%s, %s)", (LOCK_NAMESPACE, self.id)
        )
        return self.env.cr.fetchone()[0]

    def _unlock(self):
        query = "SELECT pg_advisory_unlock(%s, %s)"
        try:
            self.env.cr.execute(query, (LOCK_NAMESPACE, self.id))
        except psycopg2.Error:
            # An aborted transaction refuses every statement: end it first.
            self.env.cr.rollback()
            self.env.cr.execute(query, (LOCK_NAMESPACE, self.id))

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

    def _compute_encryption_secret_missing(self):
        missing = not self._configured_encryption_secret()
        for account in self:
            account.encryption_secret_missing = missing

    @api.model
    def _configured_encryption_secret(self):
        return tools.config.get(ENCRYPTION_OPTION) or os.environ.get(ENCRYPTION_ENV)

    @api.depends("billwerk_id")
    def _compute_last_sync_run(self):
        for account in self:
            # The runs of *this* Billwerk account: after a switch, the previous
            # account's "Done" must not stand beside the new one's zero figures.
            run = self.env["billwerk.sync.run"].search(
                [
                    ("account_id", "=", account.id),
                    ("billwerk_id", "=", account.billwerk_id or False),
                ],
                limit=1,
                order="started desc, id desc",
            )
            account.last_sync_run_id = run
            account.last_sync_state = run.state
            account.last_sync_ended = run.ended
            account.last_sync_error = run.error_message
            account.sync_status = account._sync_status(run)

    def _sync_status(self, run):
        """One sentence for the screen: where the synchronization stands."""
        if not self.active:
            return self.env._(
                "Kept data of the Billwerk account %(name)s, as it was when the "
                "company switched to another account. It is no longer synchronized.",
                name=self.billwerk_name or "",
            )
        if self.connection_state != "connected":
            return False
        loaded = self.cursor_ids and all(
            cursor.first_load_done
            for cursor in self.cursor_ids
            if cursor.range_name == "created"
        )
        if run.state == "running":
            if loaded:
                return self.env._("Synchronizing now…")
            return self.env._(
                "First load running: %(count)s records read so far.",
                count=self._format_count(run.records_read),
            )
        if not loaded and not run:
            return self.env._(
                "First load pending: the scheduler starts it within a minute."
            )
        if not loaded:
            return self.env._(
                "First load interrupted; the next run resumes it where it stopped."
            )
        return False

    def _format_count(self, number):
        """``1,500`` in the user's language, as the screen's figures show it."""
        lang = self.env["res.lang"]._lang_get(self.env.lang or "en_US")
        return lang.format("%d", number, grouping=True)

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

    @api.model
    def _synced_records_action(self, xmlid):
        """A Billwerk menu's list: the current account's records first.

        Kept data (of an account switched away from) hides behind a filter;
        the account column shows only where the user's companies have kept
        data, so that a single-account user sees nothing new.
        """
        action = self.env["ir.actions.act_window"]._for_xml_id(xmlid)
        several = (
            self.with_context(active_test=False).search_count(
                [("company_id", "in", self.env.companies.ids)], limit=2
            )
            > 1
        )
        action["context"] = {
            **safe_eval(action.get("context") or "{}"),
            "search_default_filter_current_account": 1,
            "billwerk_several_accounts": several,
        }
        return action

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
        configured = self._configured_encryption_secret()
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
        """What ``GET /account`` told us; a field of the wrong type is left empty."""

        def safely(reader, field):
            try:
                return reader(info, field)
            except MappingError:
                return False

        return {
            "billwerk_id": safely(read.key, "id"),
            "billwerk_handle": safely(read.text, "handle"),
            "billwerk_name": safely(read.text, "name") or safely(read.text, "handle"),
            "billwerk_organisation": safely(read.text, "organisation"),
            "billwerk_state": safely(
                lambda payload, field: read.choice(
                    payload, field, ("test", "live", "closed"), False, unknown=False
                ),
                "state",
            ),
            "billwerk_currency": safely(read.text, "currency"),
            "billwerk_timezone": safely(read.text, "timezone"),
            "billwerk_created": safely(read.timestamp, "created") or False,
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
        archived = sum(self._synchronized_counts().values()) - sum(
            count for count, _label in figures
        )
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
        for entity in reversed(ENTITIES):
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
        tables = [self.env[entity.model]._table for entity in ENTITIES]
        for table in (*tables, "billwerk_sync_cursor"):
            self.env.cr.execute(
                f"UPDATE {table} SET account_id = %s WHERE account_id = %s",
                (target.id, source.id),
            )
        self.env.invalidate_all()

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
        """Sync every connected account once per tick, the longest-waiting first.

        Each account runs on its own: its failure, bad data or slowness never
        stops the others. After ``CRON_BUDGET`` seconds the call stops
        starting runs and triggers the scheduled action again, so a worker's
        time limit never cuts the loop and every account gets its turn. An
        account that failed makes the call fail after the others ran, which
        Odoo counts in the scheduled action's failure count.
        """
        started = time.monotonic()
        due = self._accounts_due(mode)
        done, failed = 0, self.browse()
        for account in due:
            if done and time.monotonic() - started > CRON_BUDGET:
                break
            if not self._sync_in_cron(account, mode):
                failed |= account
            done += 1
        if done < len(due):
            self._scheduled_action(mode)._trigger(
                fields.Datetime.now() + timedelta(seconds=1)
            )
        # Progress as Odoo counts it: this call's work is complete; what is
        # left runs in the call just triggered, under a fresh time limit.
        self.env["ir.cron"]._notify_progress(done=done, remaining=0)
        commit_unless_testing(self.env.cr)
        if failed:
            raise UserError(
                self.env._(
                    "The Billwerk synchronization failed for: %(accounts)s. Each "
                    "account's screen says why; the other accounts were synced.",
                    accounts=", ".join(failed.mapped("display_name")),
                )
            )

    @api.model
    def _accounts_due(self, mode):
        """Connected accounts without a run of ``mode`` since the last tick ended."""
        self.env.flush_all()
        self.env.cr.execute(
            """
            SELECT a.id
              FROM billwerk_account a
              LEFT JOIN LATERAL (
                   SELECT max(r.started) AS last_started
                     FROM billwerk_sync_run r
                    WHERE r.account_id = a.id AND r.mode = %(mode)s
                   ) r ON TRUE
             WHERE a.active AND a.connection_state = 'connected'
               AND (r.last_started IS NULL OR r.last_started < %(since)s)
             ORDER BY r.last_started NULLS FIRST, a.id
            """,
            # Outside a scheduled call (or at its very first call) every
            # connected account is due.
            {"mode": mode, "since": self.env.context.get("lastcall") or "infinity"},
        )
        return self.browse(row[0] for row in self.env.cr.fetchall())

    @api.model
    def _scheduled_action(self, mode):
        xmlid = {
            "incremental": "billwerk_connector.cron_billwerk_incremental_sync",
            "reconciliation": "billwerk_connector.cron_billwerk_reconciliation",
        }[mode]
        return self.env.ref(xmlid).sudo()

    @api.model
    def _sync_in_cron(self, account, mode):
        """One account's run, whatever happens; False when it failed."""
        try:
            run = self.env["billwerk.sync.run"]._run_for(
                account, trigger="cron", mode=mode
            )
        except SyncAlreadyRunning:
            _logger.info(
                "Billwerk account %s is busy; its turn comes next.", account.id
            )
            return True
        except Exception:  # one account never stops the others
            _logger.exception("Billwerk sync of account %s failed", account.id)
            if not in_test_mode():
                self.env.cr.rollback()
            self.env.invalidate_all()
            return False
        return run.state != "failed"

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
