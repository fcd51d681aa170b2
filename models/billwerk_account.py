import logging
import os
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from odoo import api, fields, models, tools
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools.safe_eval import safe_eval

from ..client.api_key import key_hint
from ..client.http_client import DEFAULT_BASE_URL, BillwerkClient
from ..crypto.secret_box import SecretBox, SecretBoxError
from ..mapping import readers as read
from ..mapping.readers import MappingError

_logger = logging.getLogger(__name__)

ENCRYPTION_OPTION = "billwerk_encryption_key"
ENCRYPTION_ENV = "BILLWERK_ENCRYPTION_KEY"
_warned_fallback_databases = set()
# What a user's create or write may set; every other stored field (the
# connection, the Billwerk account's identity, cursors, event marks) is the
# connector's own and is written only by its code, as superuser.
USER_FIELDS = frozenset({"create_partners"})
# Administrators also decide where the key is sent and whether the account
# is in use: a member of the group could otherwise plant an account whose URL
# collects the next key typed into it.
ADMIN_FIELDS = frozenset({"api_url", "active"})
# Accounting managers set up the Accounting section (billwerk_account_books.py).
ACCOUNTING_FIELDS = frozenset(
    {
        "post_invoices",
        "post_from",
        "match_partners",
        "rate_max_age_days",
        "sale_journal_id",
        "tax_mapping_ids",
        "line_product_ids",
        "payment_journal_id",
        "payment_journal_ids",
        "recognize_revenue",
        "deferred_revenue_account_id",
        "recognition_journal_id",
    }
)
ACCOUNTING_MANAGER = "account.group_account_manager"
CREATE_FIELDS = frozenset({"company_id"})


class BillwerkAccount(models.Model):
    """The company's connection to one Billwerk+ Optimize account."""

    _name = "billwerk.account"
    _description = "Billwerk account"
    # A stored, indexed name: searching "Billwerk account" in any list (or a
    # many2one to it) is a plain ilike on a column. The computed display_name
    # as _rec_name made every name search search itself again, forever.
    _rec_name = "billwerk_name"
    _rec_names_search = ["billwerk_name", "billwerk_handle"]

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
    billwerk_name = fields.Char(
        string="Account name", readonly=True, copy=False, index="trigram"
    )
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
        help="Give every Billwerk customer a contact of this company, with "
        "Billwerk's handle as its reference, its address and VAT number; "
        "checked at every run, so customers copied before the option was on "
        "get theirs at the next run.",
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
        selection=lambda self: (
            self.env["billwerk.sync.run"]
            ._fields["state"]
            ._description_selection(self.env)
        ),
        compute="_compute_last_sync_run",
    )
    encryption_secret_missing = fields.Boolean(
        compute="_compute_encryption_secret_missing",
        groups="base.group_system",
        help="No encryption secret in the server configuration: the keys are "
        "encrypted with one derived from the database, which a copy of the "
        "database alone can decrypt.",
    )
    run_progress = fields.Float(
        compute="_compute_last_sync_run",
        string="Progress",
        help="Share of the running step done.",
    )
    run_progress_text = fields.Char(
        compute="_compute_last_sync_run", string="Where the run stands"
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
        allowed = allowed | self._fields_of_user_role()
        refused = sorted(
            name for name in vals if name not in allowed and name in self._fields
        )
        if refused:
            labels = ", ".join(self._fields[name].string for name in refused)
            raise AccessError(
                self.env._(
                    "Only the connector sets these fields of a Billwerk account: "
                    "%(fields)s. Administrators set the API URL and archive "
                    "accounts, accounting managers the Accounting section; the "
                    "API key is set with Set API key.",
                    fields=labels,
                )
            )

    def _fields_of_user_role(self):
        """What the user's roles add to what every member may set."""
        allowed = set()
        if self.env.is_system():
            allowed |= ADMIN_FIELDS
        if self.env.user.has_group(ACCOUNTING_MANAGER):
            allowed |= ACCOUNTING_FIELDS
        return frozenset(allowed)

    @api.model
    def default_get(self, fields_list):
        # Context defaults and user defaults (ir.default) are values a user
        # chose too: only those the user could have typed pass; the others
        # fall back to the field's own default (all scalars here).
        defaults = super().default_get(fields_list)
        if not self.env.su:
            allowed = USER_FIELDS | CREATE_FIELDS | self._fields_of_user_role()
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
        if "active" in vals and not vals["active"]:
            # An archived account is never synchronized: its queued run goes.
            self._cancel_queued_runs(
                self.env._("Cancelled: the account was archived before the run ended.")
            )
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
            account.run_progress = run.progress_percent
            account.run_progress_text = run.progress_text
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
        loaded = self._first_load_done()
        if run.state in ("queued", "running"):
            # The run's own panel says where it stands.
            return False
        if not loaded and not run:
            return self.env._(
                "First load pending: the scheduler starts it within a minute."
            )
        if not loaded:
            return self.env._(
                "First load interrupted; the next run resumes it where it stopped."
            )
        return False

    def _first_load_done(self):
        """Every list of the account has been read once from its first day."""
        self.ensure_one()
        return bool(self.cursor_ids) and all(
            cursor.first_load_done
            for cursor in self.cursor_ids
            if cursor.range_name == "created"
        )

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
        """Queue a run for the scheduled action; the screen follows its progress.

        A run can take minutes, longer than a web worker may work: it never
        runs in this request.
        """
        self.ensure_one()
        return self.env["billwerk.sync.run"]._enqueue(self, trigger="manual")._queued()

    def action_reconcile_now(self):
        self.ensure_one()
        run = self.env["billwerk.sync.run"]._enqueue(
            self, trigger="manual", mode="reconciliation"
        )
        return run._queued()

    def action_cancel_run(self):
        """Cancel the account's queued or running run (the screen's button)."""
        self.ensure_one()
        run = self.env["billwerk.sync.run"].search(
            [("account_id", "=", self.id), ("state", "in", ("queued", "running"))],
            limit=1,
        )
        if not run:
            raise UserError(self.env._("No run of this account is queued or running."))
        return run.action_cancel()

    def _cancel_queued_runs(self, reason=None):
        """Runs queued for what the account no longer is never run (a switch
        of Billwerk account, archiving).

        The caller holds the account's lock, so none of them is running.
        """
        runs = self.env["billwerk.sync.run"].sudo()
        runs.search([("account_id", "in", self.ids), ("state", "=", "queued")]).write(
            {
                "state": "cancelled",
                "ended": fields.Datetime.now(),
                "progress_step": False,
                "error_message": reason
                or self.env._(
                    "Cancelled: the account was switched to another Billwerk "
                    "account before the run ended."
                ),
            }
        )

    def _check_can_run(self):
        if not self.active:
            raise UserError(
                self.env._(
                    "%(account)s is archived: it keeps the data of a previous "
                    "Billwerk account and is no longer synchronized.",
                    account=self.display_name,
                )
            )

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
