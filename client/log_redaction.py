"""Keep API keys, webhook secrets and webhook tokens out of log records.

At DEBUG, Odoo writes every RPC call with the repr of its arguments (the
logger of the module holding ``call_kw``: ``odoo.api`` on Odoo 18,
``odoo.service.model`` on Odoo 19), so saving the key dialog would log
``web_save({'api_key': 'priv_…'}, ...)`` in clear; and the access log
(``werkzeug``) writes every request's path, the webhook route's token with it
(whoever holds the token can post to the route). A filter on those loggers
rewrites such records before any handler (file, syslog, database) sees them.
"""

import logging
import re

SECRET_FIELDS = ("api_key", "webhook_secret", "secret", "password")
_NAMES = "|".join(SECRET_FIELDS)
# A Python repr of a value: a (bytes) string in either quote style, escapes
# included, or a bare word such as None, False or a number.
_VALUE = r"""[bBrRuU]{0,2}(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")|[\w.+-]+"""
# ``'api_key': <value>`` in a dict repr, or ``api_key=<value>`` for keywords.
_SECRET_ITEM = re.compile(
    rf"""(?P<name>(?P<quote>['"])(?:{_NAMES})(?P=quote)\s*:|\b(?:{_NAMES})=)(?P<gap>\s*)"""
    rf"""(?:{_VALUE})"""
)
_SECRET_TOKEN = re.compile(r"(priv|whsec)_[A-Za-z0-9]{6,}")
_WEBHOOK_TOKEN = re.compile(r"(/billwerk/webhook/)[^\s/?#\"']+")


def redact(text):
    """``text`` with every secret replaced by ``***``."""
    text = _SECRET_ITEM.sub(r"\g<name>\g<gap>'***'", text)
    text = _SECRET_TOKEN.sub(r"\1_***", text)
    return _WEBHOOK_TOKEN.sub(r"\1***", text)


class SecretRedactingFilter(logging.Filter):
    """Rewrite a record whose message holds a secret; never drop a record."""

    def filter(self, record):
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - any __str__ may fail
            # A broken record is the handler's to report; raising here would
            # break the logging call, and with it the RPC being logged.
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


# The RPC debug loggers of Odoo 18 and 19, and the access log.
LOGGERS = ("odoo.api", "odoo.service.model", "werkzeug")


def install(logger_names=LOGGERS):
    """Add one SecretRedactingFilter to each named logger, never a second one."""
    for name in logger_names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, SecretRedactingFilter) for f in logger.filters):
            logger.addFilter(SecretRedactingFilter())
