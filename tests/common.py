"""A TransactionCase with the bundled Billwerk sandbox served on 127.0.0.1."""

import logging
from contextlib import ExitStack, contextmanager
from unittest.mock import patch

import psycopg2

from odoo import sql_db
from odoo.tests import TransactionCase, new_test_user

from ..client.retry import Pacer, RetryPolicy
from ..mapping.money import currency_exponent
from ..models.billwerk_account import BillwerkAccount
from ..models.billwerk_account_lock import LOCK_NAMESPACE
from ..sandbox.server import running_sandbox
from ..sandbox.taxes import sales_taxes


# Faults are provoked on purpose; waiting seconds between retries proves nothing.
# Odoo's test request guard compares the time-out with a number: no tuple here.
# A pacer per client: a 429 provoked in one test must not slow the next ones.
def fast_client_options(_account=None):
    return {
        "timeout": 10.0,
        "retry_policy": RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05),
        "pacer": Pacer(rate=1000, burst=1000),
    }


class BillwerkSandboxCase(TransactionCase):
    """Each class gets its own sandbox; ``sandbox_options`` sizes its accounts."""

    sandbox_options = {"customers": 40, "plans": 4, "invoices": 120}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        stack = ExitStack()
        cls.addClassCleanup(stack.close)
        cls.sandbox = stack.enter_context(
            running_sandbox(seed=7, rate_limit=False, **cls.sandbox_options)
        )
        stack.enter_context(
            patch.object(BillwerkAccount, "_client_options", fast_client_options)
        )
        cls.key, cls.other_key = cls.sandbox.keys[:2]
        cls.billwerk_user = new_test_user(
            cls.env,
            login="billwerk_accountant",
            groups="base.group_user,billwerk_connector.group_billwerk_account",
        )
        cls.account = cls.env["billwerk.account"].create(
            {"company_id": cls.env.company.id, "api_url": cls.sandbox.url}
        )

    def setUp(self):
        super().setUp()
        self.sandbox.reset()

    def accountant_of(self, company, login):
        """A member of the group who works in ``company`` only."""
        return new_test_user(
            self.env,
            login=login,
            groups="base.group_user,billwerk_connector.group_billwerk_account",
            company_id=company.id,
            company_ids=[company.id],
        )

    def dialog(self, key, account=None):
        """The Set API key dialog, opened and filled in by the accountant."""
        return (
            self.env["billwerk.set.api.key"]
            .with_user(self.billwerk_user)
            .create({"account_id": (account or self.account).id, "api_key": key})
        )

    def connect(self, account=None, key=None):
        """Set a key through the dialog, as a user does."""
        account = account or self.account
        wizard = self.env["billwerk.set.api.key"].create(
            {"account_id": account.id, "api_key": key or self.key}
        )
        return wizard.action_check_key()

    @classmethod
    def store_key(cls, account=None, key=None):
        """What the dialog stores after its check, without the dialog's lock.

        A change holds the account's lock until its transaction ends, and a
        test's transaction never ends: tests that need another worker to
        hold the lock set the key up this way.
        """
        account = account or cls.account
        key = key or cls.key
        with account._make_client(key) as client:
            account._store_api_key(key, client.account())

    def sync(self, account=None, mode="incremental", trigger="manual"):
        return self.env["billwerk.sync.run"]._run_for(
            account or self.account, trigger=trigger, mode=mode
        )

    def count(self, model, account=None, **extra):
        domain = [("account_id", "=", (account or self.account).id)]
        domain += [(field, "=", value) for field, value in extra.items()]
        return self.env[model].with_context(active_test=False).search_count(domain)


@contextmanager
def lock_held_elsewhere(account):
    """The account's sync lock, held by another connection (another worker).

    Released explicitly before the connection closes: the server frees a
    dead connection's locks only when its backend has exited, which is not
    immediate, and a test must not depend on when that happens.
    """
    _name, dsn = sql_db.connection_info_for(account.env.cr.dbname)
    other = psycopg2.connect(**dsn)
    other.autocommit = True
    try:
        with other.cursor() as cr:
            cr.execute(
                "SELECT pg_try_advisory_lock(%s, %s)", (LOCK_NAMESPACE, account.id)
            )
            if not cr.fetchone()[0]:
                # Never wait: the test's own transaction holds it (a change
                # keeps it until the commit a test never makes).
                raise AssertionError("the test transaction holds the lock already")
        yield
        with other.cursor() as cr:
            cr.execute(
                "SELECT pg_advisory_unlock(%s, %s)", (LOCK_NAMESPACE, account.id)
            )
    finally:
        other.close()


class capture_all_logs:
    """Every log record of the block, down to DEBUG, as one text."""

    LOGGERS = ("", "odoo", "odoo.addons.billwerk_connector", "urllib3", "requests")

    def __enter__(self):
        self.records = []
        self.handler = logging.Handler(level=logging.DEBUG)
        self.handler.emit = self.records.append
        self.levels = {}
        for name in self.LOGGERS:
            logger = logging.getLogger(name)
            self.levels[name] = logger.level
            logger.setLevel(logging.DEBUG)
        logging.getLogger().addHandler(self.handler)
        return self

    def __exit__(self, *exc_info):
        logging.getLogger().removeHandler(self.handler)
        for name, level in self.levels.items():
            logging.getLogger(name).setLevel(level)
        return False

    @property
    def text(self):
        return "\n".join(
            f"{record.getMessage()} {record.exc_text or ''}" for record in self.records
        )


def minor(amount, currency):
    return round(amount * 10 ** currency_exponent(currency.name))


class PostingCase(BillwerkSandboxCase):
    """A company with a sales tax per Billwerk rate, connected and synced."""

    # The third sandbox account bills in KWD (three decimals) too.
    # Berlin Bikes is a test account, which never posts: live here.
    sandbox_options = {
        "customers": 20,
        "plans": 4,
        "invoices": 60,
        "accounts": [{}, {}, {"state": "live"}],
    }
    # True: the class's tests all start from the first posting of the
    # account (default settings), made once in ``setUpClass`` and rolled back
    # to after each test; its result is ``first_post``.
    post_in_setup = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # KWD has three decimals: prices need them too (a database setting).
        cls.env.ref("product.decimal_price").digits = 3
        cls.taxes = cls.sales_taxes(cls.env.company)
        cls.give_rates(cls.env.company)
        cls.store_key()
        cls.env["billwerk.sync.run"]._run_for(cls.account, trigger="manual")
        cls.manager = new_test_user(
            cls.env,
            login="billwerk_chief_accountant",
            groups="base.group_user,account.group_account_manager,"
            "billwerk_connector.group_billwerk_account",
        )
        if cls.post_in_setup:
            cls.switch_posting_on()
            cls.first_post = cls.post()

    # Units per company currency unit, from the year 2000 on: the sandbox's
    # documents are never without a rate (tests of rates make their own).
    RATES_2000 = {"DKK": 6.5, "EUR": 0.9, "USD": 1.0, "JPY": 150.0, "KWD": 0.31}

    @classmethod
    def give_rates(cls, company):
        currencies = cls.env["res.currency"].with_context(active_test=False)
        for code, rate in cls.RATES_2000.items():
            currency = currencies.search([("name", "=", code)])
            if currency == company.currency_id:
                continue
            cls.env["res.currency.rate"].create(
                {
                    "currency_id": currency.id,
                    "company_id": company.id,
                    "name": "2000-01-01",
                    "rate": rate / cls.RATES_2000[company.currency_id.name],
                }
            )

    @classmethod
    def sales_taxes(cls, company):
        """One excluded sales tax per rate the sandbox bills (sandbox/taxes.py)."""
        return sales_taxes(cls.env, company, "test")

    def connected_company(self, key, name):
        """Another company with a chart, its taxes and an account on ``key``."""
        company = self.env["res.company"].create({"name": name})
        self.env["account.chart.template"].try_loading(
            "generic_coa", company=company, install_demo=False
        )
        taxes = self.sales_taxes(company)
        self.give_rates(company)
        account = self.env["billwerk.account"].create(
            {"company_id": company.id, "api_url": self.sandbox.url}
        )
        self.store_key(account, key)
        self.sync(account)
        self.manager.company_ids |= company
        return account, taxes

    @classmethod
    def switch_posting_on(cls, account=None, post_from="2000-01-01"):
        account = account or cls.account
        account.with_user(cls.manager).write(
            {"post_invoices": True, "post_from": post_from, "rate_max_age_days": 0}
        )

    @classmethod
    def post(cls, account=None):
        return cls.env["billwerk.posting"]._post_account(account or cls.account)

    @classmethod
    def invoices(cls, account=None, **extra):
        domain = [("account_id", "=", (account or cls.account).id)]
        domain += [(name, "=", value) for name, value in extra.items()]
        return cls.env["billwerk.invoice"].search(domain)

    def assert_exact(self, invoice):
        move = invoice.move_id
        currency = invoice.currency_id
        self.assertEqual(move.state, "posted", invoice.handle)
        self.assertEqual(move.currency_id, currency, invoice.handle)
        self.assertEqual(
            (
                minor(move.amount_untaxed, currency),
                minor(move.amount_tax, currency),
                minor(move.amount_total, currency),
            ),
            (
                minor(invoice.amount_ex_vat, currency),
                minor(invoice.amount_vat, currency),
                minor(invoice.amount, currency),
            ),
            f"{invoice.handle} in {currency.name}",
        )
