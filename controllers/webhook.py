"""Billwerk's webhooks: verify, store, acknowledge, trigger; never sync here.

Billwerk wants a 2xx within 10 seconds and holds a customer's later webhooks
while one fails: every valid delivery is acknowledged at once (a redelivery
and a type the connector does not handle too) and the scheduled action reads
the objects afterwards, under the account's sync lock.

Billwerk signs only a webhook's ``id`` and ``timestamp``: a delivery is stored
once per signed id (whatever ``event_id`` and handles a resent body carries),
and a signed timestamp outside the replay window is refused, so a captured
body stops working once its id could have been pruned.
"""

import json
import logging
import re
from datetime import UTC, datetime

from odoo import SUPERUSER_ID, http
from odoo.http import request

from ..mapping.events import webhook_timing_problem, webhook_values
from ..mapping.readers import MappingError

_logger = logging.getLogger(__name__)

# Billwerk's webhook bodies are a few hundred bytes.
MAX_BODY = 64 * 1024
# What secrets.token_urlsafe(32) makes (43 characters); anything else is unknown.
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{32,128}")
TIMING_REASONS = {
    "old": "the signed timestamp is older than the replay window",
    "ahead": "the signed timestamp is ahead of this server's clock",
}


def _answer(status, outcome):
    return request.make_json_response({"status": outcome}, status=status)


class BillwerkWebhookController(http.Controller):
    @http.route(
        "/billwerk/webhook/<string:token>",
        type="http",
        auth="none",
        methods=["POST"],
        csrf=False,
        save_session=False,
        # auth="none" routes start read-only; every valid delivery writes.
        readonly=False,
    )
    def billwerk_webhook(self, token, **_params):
        env = request.env(user=SUPERUSER_ID)
        account = (
            env["billwerk.account"]._for_webhook_token(token)
            if TOKEN_PATTERN.fullmatch(token)
            else env["billwerk.account"]
        )
        if not account:
            return _answer(404, "unknown")
        httprequest = request.httprequest
        length = httprequest.content_length
        if length is not None and length > MAX_BODY:
            return self._refuse(account, 413, "too_large", "the body is too large")
        # Without a length (chunked), WSGI gives an empty body: "malformed".
        # Cached: when two servers store one webhook at once, the later
        # insert fails to serialize and Odoo replays this request, which
        # must read the same body again.
        body = httprequest.get_data()
        if httprequest.mimetype != "application/json":
            return self._refuse(account, 415, "not_json", "the body is not JSON")
        try:
            values = webhook_values(json.loads(body))
        except (ValueError, MappingError) as error:
            # MappingError says which field, never its value.
            reason = str(error) if isinstance(error, MappingError) else "invalid JSON"
            return self._refuse(account, 400, "malformed", reason)
        # Before the signature: a stale body never costs a secret re-read.
        # 400, not 401: the request is refused for what its timestamp says,
        # whatever its signature; 401 stays "the signature does not match".
        now = datetime.now(UTC).replace(tzinfo=None)
        problem = webhook_timing_problem(values["signed_at"], now)
        if problem:
            return self._refuse(account, 400, "stale", TIMING_REASONS[problem], values)
        if not account._webhook_signature_valid(values):
            return self._refuse(
                account, 401, "bad_signature", "the signature does not match", values
            )
        if not values["kind"]:
            return _answer(200, "ignored")
        stored = env["billwerk.webhook.event"]._store(account, values)
        if not stored:
            return _answer(200, "duplicate")
        account._trigger_webhook_processing()
        return _answer(200, "stored")

    def _refuse(self, account, status, outcome, reason, values=None):
        """Log who was refused and why: ids only, never the body or a secret."""
        _logger.warning(
            "Billwerk webhook refused for account %s (HTTP %s): %s%s",
            account.id,
            status,
            reason,
            f"; webhook {values['id'][:64]}, event {values['event_id'][:64]}"
            if values
            else "",
        )
        return _answer(status, outcome)
