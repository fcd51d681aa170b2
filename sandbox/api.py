"""Reading the books over HTTP: routing, single objects, lists and the event log.

``ApiMixin`` is one side of ``SandboxServer``: it answers every ``/v1/...``
request the handler admitted, from the account's dicts as they are now. Lists
follow the API reference: ``size`` 10..100, ``from`` inclusive and ``to``
exclusive in the account's time zone (``from`` defaults to a month before
``to``), newest first, and a signed ``next_page_token`` that only works with the
very same other parameters.
"""

import base64
import hashlib
import hmac
import json
from bisect import bisect_left
from datetime import datetime
from urllib.parse import unquote

from .books import TRANSACTION_STATES, TRANSACTION_TYPES
from .data import (
    ENTITIES,
    INVOICE_STATES,
    INVOICE_TYPES,
    PLAN_STATES,
    SUBSCRIPTION_STATES,
    add_months,
    fmt_ts,
)
from .handler import ApiError, int_param, parse_params, parse_when, single_param
from .wire import dressed

# Lists: the four of the reference summary, credit notes and transactions.
LIST_ENTITIES = (*ENTITIES, "credit_note", "transaction")
LIST_RANGES = {
    "plan": ("created",),
    "subscription": ("created",),
    "customer": ("created",),
    "invoice": ("created", "settled"),
    # No range is documented for credit notes: ``created`` is accepted.
    "credit_note": ("created",),
    "transaction": ("created", "settled"),
}
LIST_FILTERS = {
    "plan": {"state", "handle", "currency"},
    "subscription": {"state", "customer", "plan", "handle"},
    "customer": {"handle", "email", "name"},
    "invoice": {
        "state",
        "exclude_state",
        "customer",
        "subscription",
        "plan",
        "type",
        "currency",
    },
    "credit_note": {"customer", "subscription", "invoice", "currency"},
    "transaction": {"type", "state", "payment_type", "invoice", "currency"},
}
LIST_STATES = {
    "plan": PLAN_STATES,
    "subscription": SUBSCRIPTION_STATES,
    "invoice": INVOICE_STATES,
    "transaction": TRANSACTION_STATES,
}
LIST_TYPES = {"invoice": INVOICE_TYPES, "transaction": TRANSACTION_TYPES}
# Objects of a list with an ``id`` (the others are keyed by ``handle``).
BY_ID = ("invoice", "credit_note", "transaction")
SINGLE = {
    "customer": "Customer",
    "subscription": "Subscription",
    "invoice": "Invoice",
    "credit_note": "Credit note",
}


class ApiMixin:
    """Request handling of ``SandboxServer`` (see the module's docstring)."""

    # request handling ------------------------------------------------------

    def _authenticate(self, header):
        if not header or not header.startswith("Basic "):
            raise ApiError("unauthorized", "Missing HTTP Basic authentication")
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
        except ValueError:
            raise ApiError("unauthorized", "Malformed Authorization header") from None
        key, _sep, password = decoded.partition(":")
        account = self._by_key.get(key)
        if account is None or password:
            raise ApiError("unauthorized", "Unknown or invalid private key")
        return account

    def _route(self, account, method, path, query, body):
        parts = [unquote(part) for part in path.strip("/").split("/")]
        if not parts or parts[0] != "v1":
            raise ApiError("not_found", f"No such path: {path}")
        parts = parts[1:]
        params = parse_params(query)
        routes = self._match(parts)
        if routes is None:
            raise ApiError("not_found", f"No such path: {path}")
        handler = routes.get(method)
        if handler is None:
            exc = ApiError("method_not_allowed", f"{method} is not allowed on {path}")
            exc.headers["Allow"] = ", ".join(sorted(routes))
            raise exc
        return handler(account, parts, params, body)

    def _match(self, parts):
        """Allowed methods -> handler for a path, or None if the path is unknown."""
        routes = {}
        if parts == ["account"]:
            routes = {"GET": lambda a, p, q, b: (200, a.info())}
        elif parts == ["account", "webhook_settings"]:
            routes = {
                "GET": lambda a, p, q, b: (200, dict(a.webhook_settings)),
                "PUT": self._put_webhook_settings,
            }
        elif parts == ["account", "webhook_settings", "secret"]:
            routes = {"POST": self._post_webhook_secret}
        elif len(parts) == 2 and parts[0] == "list" and parts[1] in LIST_ENTITIES:
            routes = {"GET": self._list}
        elif len(parts) == 2 and parts[0] in SINGLE:
            routes = {"GET": self._get_one}
        elif len(parts) == 3 and parts[0] == "invoice" and parts[2] == "manual_settle":
            routes = {"POST": self._post_manual_settle}
        elif len(parts) == 4 and parts[0] == "invoice" and parts[2] == "transaction":
            routes = {"GET": self._get_transaction}
        elif 2 <= len(parts) <= 3 and parts[0] == "plan":
            routes = {"GET": self._get_plan}
        elif parts == ["event"]:
            routes = {"GET": self._events}
        elif len(parts) == 2 and parts[0] == "event":
            routes = {"GET": self._get_event}
        return routes or None

    def _get_one(self, account, parts, params, body):
        entity, key = parts
        if entity == "customer":
            found = account.customers.get(key)
        elif entity == "subscription":
            found = account.subscriptions.get(key)
        elif entity == "credit_note":
            found = account.credit_notes.get(key)
        else:
            found = self._find_invoice(account, key)
        if found is None:
            error = f"{SINGLE[entity]} not found"
            raise ApiError("not_found", f"{error}: {key}", error=error)
        return 200, dressed(account, entity, found)

    def _get_transaction(self, account, parts, params, body):
        """``GET /v1/invoice/{id or handle}/transaction/{id}``."""
        invoice = self._find_invoice(account, parts[1])
        if invoice is not None:
            for transaction in invoice["transactions"]:
                if transaction["id"] == parts[3]:
                    return 200, transaction
        error = "Transaction not found" if invoice else "Invoice not found"
        raise ApiError("not_found", f"{error}: {parts[3]}", error=error)

    def _post_manual_settle(self, account, parts, params, body):
        """``POST /v1/invoice/{id}/manual_settle``: the open rest, paid outside
        the acquirer (the body's method, date, comment and reference are not
        kept); answers the invoice."""
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            raise ApiError("invalid_request", "Body is not valid JSON") from None
        if not isinstance(data, dict):
            raise ApiError("invalid_request", "Body must be an object")
        if self._find_invoice(account, parts[1]) is None:
            raise ApiError(
                "not_found",
                f"Invoice not found: {parts[1]}",
                error="Invoice not found",
            )
        try:
            settled = self.manual_settle(account.key, parts[1])
            return 200, dressed(account, "invoice", settled)
        except ValueError as exc:
            raise ApiError("invalid_request", str(exc)) from None

    def _get_plan(self, account, parts, params, body):
        versions = account.plan_versions.get(parts[1])
        if versions is None:
            raise ApiError(
                "not_found", f"Plan not found: {parts[1]}", error="Plan not found"
            )
        if len(parts) == 2:
            return 200, versions
        if parts[2] == "current":
            return 200, versions[-1]
        for version in versions:
            if str(version["version"]) == parts[2]:
                return 200, version
        raise ApiError("not_found", f"No version {parts[2]}", error="Plan not found")

    def _find_invoice(self, account, key):
        found = account.invoices.get(key)
        if found is None and key in account.invoice_ids:
            found = account.invoices.get(account.invoice_ids[key])
        return found

    # lists -----------------------------------------------------------------

    def _index(self, account, entity, range_name):
        """Sorted (range value, key...) tuples and objects; rebuilt after changes."""
        cache_key = (account.key, entity, range_name)
        cached = self._indexes.get(cache_key)
        if cached and cached[0] == account.revision:
            return cached[1], cached[2]
        if entity == "plan":
            rows = [
                ((row[range_name], row["handle"], row["version"]), row)
                for versions in account.plan_versions.values()
                for row in versions
            ]
        else:
            objects = {
                "customer": account.customers,
                "subscription": account.subscriptions,
                "invoice": account.invoices,
                "credit_note": account.credit_notes,
                "transaction": account.transactions,
            }[entity]
            tie = "id" if entity in BY_ID else "handle"
            rows = [
                ((obj[range_name], obj[tie]), obj)
                for obj in objects.values()
                if obj.get(range_name)
            ]
        rows.sort(key=lambda row: row[0])
        keys = [row[0] for row in rows]
        objs = [row[1] for row in rows]
        self._indexes[cache_key] = (account.revision, keys, objs)
        return keys, objs

    def _fingerprint(self, entity, params):
        rest = sorted((k, v) for k, v in params.items() if k != "next_page_token")
        text = json.dumps([entity, rest])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def _make_token(self, cursor, from_s, to_s, fingerprint):
        raw = json.dumps(
            {"c": list(cursor), "f": from_s, "t": to_s, "p": fingerprint},
            separators=(",", ":"),
        ).encode()
        sig = hmac.new(self._token_secret, raw, hashlib.sha256).hexdigest()[:16]
        return base64.urlsafe_b64encode(raw).decode().rstrip("=") + "." + sig

    def _read_token(self, token, fingerprint):
        try:
            body, sig = token.rsplit(".", 1)
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            expected = hmac.new(self._token_secret, raw, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(sig, expected[:16]):
                raise ValueError
            data = json.loads(raw)
        except ValueError:
            raise ApiError("invalid_parameter", "Invalid next_page_token") from None
        if data["p"] != fingerprint:
            raise ApiError(
                "invalid_parameter",
                "next_page_token must be used with the same other parameters",
            )
        return tuple(data["c"]), data["f"], data["t"]

    def _list(self, account, parts, params, body):
        entity = parts[1]
        size = int_param(params, "size", 20, 10, 100)
        range_name = single_param(params, "range", "created")
        if range_name not in LIST_RANGES[entity]:
            allowed = ", ".join(LIST_RANGES[entity])
            raise ApiError("invalid_parameter", f"range must be one of: {allowed}")
        predicates = self._filters(account, entity, params)
        fingerprint = self._fingerprint(entity, params)
        token = single_param(params, "next_page_token")
        tz = account.tz
        if token:
            cursor, from_s, to_s = self._read_token(token, fingerprint)
        else:
            raw_to = single_param(params, "to")
            to_dt = parse_when(raw_to, tz, "to") if raw_to else self.clock.now()
            raw_from = single_param(params, "from")
            if raw_from:
                from_dt = parse_when(raw_from, tz, "from")
            else:
                from_dt = add_months(to_dt.astimezone(tz), -1)
            cursor, from_s, to_s = (fmt_ts(to_dt),), fmt_ts(from_dt), fmt_ts(to_dt)
        keys, objs = self._index(account, entity, range_name)
        pos = bisect_left(keys, cursor)
        page, last, more = [], None, False
        while pos > 0:
            pos -= 1
            if keys[pos][0] < from_s:
                break
            obj = objs[pos]
            if all(check(obj) for check in predicates):
                if len(page) == size:
                    more = True
                    break
                page.append(obj)
                last = keys[pos]
        envelope = {
            "size": size,
            "count": len(page),
            "from": datetime.fromisoformat(from_s)
            .astimezone(tz)
            .isoformat(timespec="milliseconds"),
            "to": datetime.fromisoformat(to_s)
            .astimezone(tz)
            .isoformat(timespec="milliseconds"),
            "range": range_name,
            "content": [dressed(account, entity, obj) for obj in page],
        }
        if more:
            envelope["next_page_token"] = self._make_token(
                last, from_s, to_s, fingerprint
            )
        return 200, envelope

    def _filters(self, account, entity, params):
        """Predicates for the list filters the real API offers per entity."""
        states = LIST_STATES.get(entity, ())
        checks = []
        for name in sorted(LIST_FILTERS[entity] & params.keys()):
            values = params[name]
            if name in ("state", "exclude_state"):
                bad = [value for value in values if value not in states]
                if bad:
                    raise ApiError("invalid_parameter", f"Unknown {name}: {bad[0]}")
                wanted = set(values)
                if name == "state":
                    checks.append(lambda obj, w=wanted: obj["state"] in w)
                else:
                    checks.append(lambda obj, w=wanted: obj["state"] not in w)
            elif name == "type":
                bad = [value for value in values if value not in LIST_TYPES[entity]]
                if bad:
                    raise ApiError("invalid_parameter", f"Unknown type: {bad[0]}")
                checks.append(lambda obj, w=set(values): obj["type"] in w)
            elif name in ("payment_type", "currency"):  # any value (many exist)
                checks.append(lambda obj, n=name, w=set(values): obj[n] in w)
            elif name == "invoice":  # credit notes and transactions name the handle
                found = self._find_invoice(account, values[-1])
                wanted = found["handle"] if found else values[-1]
                checks.append(lambda obj, w=wanted: obj["invoice"] == w)
            elif name == "email":
                wanted = values[-1].lower()
                checks.append(lambda obj, w=wanted: (obj["email"] or "").lower() == w)
            elif name == "name":
                wanted = values[-1].lower()
                checks.append(
                    lambda obj, w=wanted: (
                        w
                        in " ".join(
                            filter(
                                None,
                                (obj["first_name"], obj["last_name"], obj["company"]),
                            )
                        ).lower()
                    )
                )
            else:
                checks.append(lambda obj, n=name, w=values[-1]: str(obj[n]) == w)
        return checks

    # events ----------------------------------------------------------------

    def _events(self, account, parts, params, body):
        page = int_param(params, "page", 1, 1, 10**9)
        size = int_param(params, "size", 20, 1, 100)
        wanted = {}
        for name in ("customer", "subscription", "invoice"):
            value = single_param(params, name)
            if value is not None:
                if name == "invoice" and value in account.invoices:
                    value = account.invoices[value]["handle"]
                wanted[name] = value
        types = set(params.get("event_type", ()))
        matches = [
            event
            for event in reversed(account.events)
            if all(event[name] == value for name, value in wanted.items())
            and (not types or event["event_type"] in types)
        ]
        content = matches[(page - 1) * size : page * size]
        return 200, {
            "page": page,
            "size": size,
            "count": len(content),
            "total": len(matches),
            "content": content,
        }

    def _get_event(self, account, parts, params, body):
        for event in account.events:
            if event["id"] == parts[1]:
                return 200, event
        raise ApiError(
            "not_found", f"Event not found: {parts[1]}", error="Event not found"
        )
