"""Secrets never reach a handler through Odoo's debug RPC log."""

import logging

import pytest

from client.log_redaction import SecretRedactingFilter, install

KEY = "priv_0123456789abcdef0123456789ab3df3"


class Params:
    """Stand-in for ``odoo.api.Params``: its ``__str__`` is Odoo 18's."""

    def __init__(self, args, kwargs):
        self.args = args
        self.kwargs = kwargs

    def __str__(self):
        params = [repr(arg) for arg in self.args]
        params += [f"{name}={value!r}" for name, value in sorted(self.kwargs.items())]
        return ", ".join(params)


def make_record(msg, *args, logger="odoo.api"):
    return logging.LogRecord(logger, logging.DEBUG, __file__, 1, msg, args, None)


def rpc_record(*args, **kwargs):
    """A record as ``call_kw`` logs it at DEBUG (Odoo 18's and 19's alike)."""
    params = Params(args, kwargs)
    return make_record("call %s.%s(%s)", "billwerk.set.api.key(7,)", "web_save", params)


def filtered(record):
    assert SecretRedactingFilter().filter(record) is True  # never drops a record
    return record.getMessage()


def test_the_key_in_a_web_save_call_is_redacted():
    record = rpc_record(
        {"account_id": 3, "api_key": KEY},
        specification={"account_id": {"fields": {"display_name": {}}}},
    )
    assert filtered(record) == (
        "call billwerk.set.api.key(7,).web_save({'account_id': 3, 'api_key': '***'}, "
        "specification={'account_id': {'fields': {'display_name': {}}}})"
    )
    assert record.args == ()


@pytest.mark.parametrize(
    ("values", "shown"),
    [
        ({"password": "it's"}, """{'password': '***'}"""),  # repr in double quotes
        ({"secret": "a'\"b"}, "{'secret': '***'}"),  # escaped quote inside
        ({"webhook_secret": b"raw"}, "{'webhook_secret': '***'}"),
        ({"api_key": False}, "{'api_key': '***'}"),
    ],
)
def test_any_value_of_a_secret_field_is_redacted(values, shown):
    assert filtered(rpc_record(values)).endswith(f".web_save({shown})")


def test_secrets_passed_as_keywords_are_redacted():
    message = filtered(rpc_record(api_key=KEY, password="hunter2"))
    assert message.endswith(".web_save(api_key='***', password='***')")


def test_tokens_are_redacted_wherever_they_appear():
    record = make_record("keys %s and %s", KEY, "whsec_9f8e7d6c5b")
    assert filtered(record) == "keys priv_*** and whsec_***"


def test_the_webhook_routes_token_is_redacted_from_access_log_lines():
    token = "u8VlVupq4LOjNYpwSLvNVjt32aTbxhFzwlLurMrtPmE"
    record = make_record(
        '%s - - [%s] "%s" %s -',
        "127.0.0.1",
        "02/Dec/2026 06:27:21",
        f"POST /billwerk/webhook/{token}?x=1 HTTP/1.1",
        200,
    )
    message = filtered(record)
    assert token not in message
    assert '"POST /billwerk/webhook/***?x=1 HTTP/1.1" 200 -' in message


def test_records_without_secrets_are_untouched():
    record = rpc_record({"secret_count": 3, "name": "priv_", "api_key_hint": "…3df3"})
    msg, args = record.msg, record.args
    filtered(record)
    assert record.msg is msg
    assert record.args is args


def test_a_record_that_cannot_be_formatted_is_passed_on():
    record = make_record("%s and %s", "one")
    assert SecretRedactingFilter().filter(record) is True
    assert record.args == ("one",)


def test_install_redacts_what_handlers_see_and_adds_one_filter(caplog):
    name = "test.log_redaction"
    logger = logging.getLogger(name)
    try:
        install((name,))
        install((name,))
        with caplog.at_level(logging.DEBUG, logger=name):
            logger.debug(
                "call %s.%s(%s)", "m()", "write", Params(({"api_key": KEY},), {})
            )
    finally:
        filters = list(logger.filters)
        for added in filters:
            logger.removeFilter(added)
    assert len(filters) == 1
    assert KEY not in caplog.text
    assert "'api_key': '***'" in caplog.text


RPC_LOGGERS = ("odoo.api", "odoo.service.model")  # call_kw's on Odoo 18, on 19


def test_install_defaults_to_odoos_rpc_and_access_loggers():
    names = (*RPC_LOGGERS, "werkzeug")
    loggers = [logging.getLogger(name) for name in names]
    before = {logger.name: list(logger.filters) for logger in loggers}
    added = {}
    try:
        install()
        for logger in loggers:
            added[logger.name] = [
                type(f) for f in logger.filters if f not in before[logger.name]
            ]
    finally:
        for logger in loggers:
            for extra in [f for f in logger.filters if f not in before[logger.name]]:
                logger.removeFilter(extra)
    assert added == {name: [SecretRedactingFilter] for name in names}


@pytest.mark.parametrize("logger", RPC_LOGGERS)
def test_the_rpc_line_of_either_series_reaches_handlers_redacted(caplog, logger):
    """Odoo 19 moved call_kw, and its DEBUG line, to ``odoo.service.model``."""
    log = logging.getLogger(logger)
    before = list(log.filters)
    try:
        install()
        with caplog.at_level(logging.DEBUG, logger=logger):
            log.debug(
                "call %s.%s(%s)",
                "billwerk.set.api.key()",
                "web_save",
                Params(([], {"api_key": KEY}), {"specification": {}}),
            )
    finally:
        for extra in [f for f in log.filters if f not in before]:
            log.removeFilter(extra)
    assert "web_save" in caplog.text
    assert KEY not in caplog.text
