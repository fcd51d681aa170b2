from . import controllers
from . import models
from . import wizards
from .client import log_redaction

# Odoo's debug RPC log prints every call's arguments, the key dialog's too.
log_redaction.install()
