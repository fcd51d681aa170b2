"""Everything that differs between Odoo 18.0 and Odoo 19.0, in one place.

The addon runs on both series from one tree. The models, views, security files
and tests say what they mean once; where the two series spell it differently,
they go through this module, and only this module looks at which Odoo runs
(what it has, never a version number):

- unique constraints: ``Constraint`` is 19's ``models.Constraint``; on 18 the
  same declaration becomes an ``_sql_constraints`` row. Either way the
  database constraint is called ``<table>_<name>`` (the class attribute's name
  without its underscore), so both series create the same constraints;
- groups: 18 files a group under ``category_id`` and lists its members in
  ``users``; 19 files it under a privilege (``privilege_id``, a
  ``res.groups.privilege`` of that category) and lists them in ``user_ids``.
  The security file calls :meth:`BillwerkOdooCompat.place_group`;
- the groups of an ``ir.actions.server``: ``groups_id`` on 18, ``group_ids`` on
  19 (:meth:`BillwerkOdooCompat.restrict_to_groups`);
- ``call_kw``, which writes the RPC debug line with the call's arguments: in
  ``odoo.api`` on 18, ``odoo.service.model`` on 19 (its module's logger is
  the one client/log_redaction.py must cover: both are);
- setting a server option for a while (tests): 18's ``config.options`` is a
  dict, 19's layers (a ``ChainMap``) and ``config`` itself has no ``pop``
  (:func:`server_option`);
- the company setting that keeps Odoo's audit trail of journal entries:
  ``check_account_audit_trail`` on 18, ``restrictive_audit_trail`` on 19
  (:func:`audit_trail_field`);
- an account no longer to be used: ``deprecated`` on 18, archived
  (``active`` False) on 19 (:func:`account_retired`, :func:`retire_account`);
- telling Odoo's cron how far a call got: ``_notify_progress`` on 18,
  deprecated on 19 for ``_commit_progress``, which commits
  (:func:`report_cron_progress`);
- HttpCase: 19 refuses requests without its test cookie, and the test thread
  holds the test cursor's lock but while it serves its own requests; the
  sandbox's webhook deliveries come from another thread, cookie-less
  (:func:`allow_requests_without_test_cookie`, :func:`release_test_cursor`);
- the tours write out the one step they took from web_tour's ``stepUtils``,
  which 19 moved (``@web_tour/tour_utils``): see ``static/tests/tours``.
"""

from contextlib import contextmanager, nullcontext
from unittest.mock import patch

from odoo import api, models
from odoo.tools import config

from .commit_policy import in_test_mode

try:  # Odoo 19
    from odoo.service.model import call_kw
except ImportError:  # Odoo 18
    from odoo.api import call_kw

__all__ = [
    "BillwerkOdooCompat",
    "Constraint",
    "account_retired",
    "allow_requests_without_test_cookie",
    "audit_trail_field",
    "call_kw",
    "group_members",
    "release_test_cursor",
    "report_cron_progress",
    "retire_account",
    "server_option",
    "unique_constraints",
]


#: Does this Odoo know ``models.Constraint`` (19)? Else ``_sql_constraints`` (18).
HAS_TABLE_OBJECTS = hasattr(models, "Constraint")


@contextmanager
def server_option(name, value):
    """``odoo.tools.config[name]`` is ``value`` inside the block, as before after."""
    missing = object()
    before = config.options.get(name, missing)
    config[name] = value
    try:
        yield
    finally:
        config.options.pop(name, None)  # 19: the runtime layer it was set in
        if before is not missing and config.get(name) != before:
            config[name] = before


def account_retired(account):
    """Is the ``account.account`` one to book nothing on any more?"""
    if "deprecated" in account._fields:
        return account.deprecated  # 18
    return not account.active  # 19: archived


def retire_account(account):
    """Deprecate (18) or archive (19) the ``account.account``."""
    account.write(
        {"deprecated": True} if "deprecated" in account._fields else {"active": False}
    )


def audit_trail_field(company):
    """The ``res.company`` field saying the company keeps an audit trail."""
    if "check_account_audit_trail" in company._fields:
        return "check_account_audit_trail"  # 18
    return "restrictive_audit_trail"  # 19: the trail's deletion is refused


def report_cron_progress(env, done):
    """Tell Odoo's cron that this call did ``done`` items and leaves none.

    18: ``ir.cron._notify_progress``. 19 deprecates it for ``_commit_progress``,
    which commits: called only inside a cron run, never under tests.
    """
    cron = env["ir.cron"]
    if not hasattr(cron, "_commit_progress"):  # 18
        cron._notify_progress(done=done, remaining=0)
    elif env.context.get("ir_cron_progress_id") and not in_test_mode():
        cron._commit_progress(done, remaining=0)


def allow_requests_without_test_cookie(case):
    """For the rest of the HttpCase test, requests without its cookie get in.

    19 answers 400 to a request without the test's cookie; 18 lets every
    request of the test's server use the test's cursor.
    """
    if hasattr(case, "http_request_allow_all"):
        case.startPatcher(patch.object(case, "http_request_allow_all", True))


def release_test_cursor():
    """A block in which requests served by other threads may use the test cursor.

    19's test thread holds the test cursor's lock, released only while it
    waits for requests; 18 takes it per request. Wrap the waiting in this.
    """
    try:
        from odoo.tests.common import release_test_lock
    except ImportError:  # Odoo 18
        return nullcontext()
    return release_test_lock()


def _users_field(group):
    """The members of a group: ``users`` on 18, ``user_ids`` on 19."""
    return "user_ids" if "user_ids" in group._fields else "users"


def group_members(group):
    """The users a group lists directly (``users`` on 18, ``user_ids`` on 19)."""
    return group[_users_field(group)]


class _SqlConstraint:
    """Odoo 18: a ``models.Constraint`` declaration turned into ``_sql_constraints``.

    Declared as a class attribute (``_handle_uniq = Constraint("unique(x)",
    "message")``), it adds ``("handle_uniq", "unique(x)", "message")`` to the
    class's own ``_sql_constraints`` and removes itself from the class: 18
    names the database constraint ``<table>_handle_uniq``, as 19 does.
    """

    def __init__(self, definition, message=""):
        self.definition = definition
        self.message = message

    def __set_name__(self, owner, name):
        assert name.startswith("_"), "constraint attributes start with '_'"
        own = list(vars(owner).get("_sql_constraints", ()))
        own.append((name[1:], self.definition, self.message))
        owner._sql_constraints = own
        delattr(owner, name)


Constraint = models.Constraint if HAS_TABLE_OBJECTS else _SqlConstraint


def unique_constraints(model):
    """``{database name: definition}`` of the table constraints ``model`` declares."""
    if HAS_TABLE_OBJECTS:
        return {
            name: cons.get_definition(model.pool)
            for name, cons in model._table_objects.items()
            if isinstance(cons, models.Constraint)
        }
    return {
        f"{model._table}_{key}": definition
        for key, definition, _message in model._sql_constraints
    }


class BillwerkOdooCompat(models.AbstractModel):
    """What the data files call where 18 and 19 name fields differently."""

    _name = "billwerk.odoo.compat"
    _description = "Billwerk connector: Odoo 18/19 differences"

    @api.model
    def place_group(self, group_xmlid, category_xmlid, user_xmlids=()):
        """File the group under the category and add the users to it.

        18: the group's ``category_id``. 19: a privilege of the group's own
        (``<group>_privilege``, same name as the category) in that category;
        a group in ``base.module_category_hidden`` gets none, which is how 19
        hides a group from the user form.
        """
        group = self.env.ref(group_xmlid)
        category = self.env.ref(category_xmlid)
        values = {}
        if "privilege_id" not in group._fields:
            values["category_id"] = category.id
        elif category != self.env.ref("base.module_category_hidden"):
            module, name = group_xmlid.split(".")
            privilege = self.env["res.groups.privilege"]._load_records(
                [
                    {
                        "xml_id": f"{module}.{name}_privilege",
                        "values": {
                            "name": category.name,
                            "description": category.description,
                            "category_id": category.id,
                            "sequence": category.sequence,
                        },
                        "noupdate": False,
                    }
                ],
                update=True,
            )
            values["privilege_id"] = privilege.id
        users = [self.env.ref(xmlid).id for xmlid in user_xmlids]
        if users:
            values[_users_field(group)] = [(4, user_id) for user_id in users]
        group.write(values)
        return True

    @api.model
    def restrict_to_groups(self, action_xmlids, group_xmlids):
        """Let only the groups' members run the actions (server or window)."""
        links = [(4, self.env.ref(xmlid).id) for xmlid in group_xmlids]
        for xmlid in action_xmlids:
            action = self.env.ref(xmlid)
            field = "group_ids" if "group_ids" in action._fields else "groups_id"
            action.write({field: links})
        return True
