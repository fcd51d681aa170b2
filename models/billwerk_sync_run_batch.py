"""Writing one page of Billwerk objects: the upsert, its references, its skips.

One search and one ``create`` per page, a write only where the payload's
digest changed; a record that cannot be stored is skipped with its reason.
"""

from operator import itemgetter

from psycopg2.extras import Json as PgJson

from odoo import models
from odoo.tools import SQL

from ..mapping.digest import payload_digest
from ..mapping.entities import ENTITIES_BY_NAME
from ..mapping.readers import MappingError
from .sync_run_state import EntityCounts

# Customers given a contact per savepoint and commit after a run.
CONTACT_BATCH = 100

# (many2one field, handle field, related model): resolved by handle.
RELATIONS = {
    "billwerk.subscription": (
        ("customer_id", "customer_handle", "billwerk.customer"),
        ("plan_id", "plan_handle", "billwerk.plan"),
    ),
    "billwerk.invoice": (
        ("customer_id", "customer_handle", "billwerk.customer"),
        ("subscription_id", "subscription_handle", "billwerk.subscription"),
        ("plan_id", "plan_handle", "billwerk.plan"),
    ),
    "billwerk.credit.note": (
        ("customer_id", "customer_handle", "billwerk.customer"),
        ("invoice_id", "invoice_handle", "billwerk.invoice"),
    ),
    "billwerk.transaction": (("invoice_id", "invoice_handle", "billwerk.invoice"),),
}


def skip_reason(error):
    """A skipped record's reason: the database's first line, else the message."""
    text = getattr(error, "pgerror", None) or str(error) or type(error).__name__
    return text.strip().splitlines()[0][:300]


def _row_maker(fields, columns, common):
    """A function giving one record's column values, in ``columns``' order.

    A value the mapping leaves out is NULL (``common`` fills the account's
    columns); False is NULL but for booleans, as the ORM stores it; JSON
    columns are sent as JSON. Per column, not per value: a page is some 4,000
    values, and composing them one by one cost a quarter of the page's time.
    """
    base = dict.fromkeys(columns)
    base.update((name, value) for name, value in common.items() if name in base)
    pick = itemgetter(*columns) if len(columns) > 1 else lambda row: (row[columns[0]],)
    nullable = [
        index for index, name in enumerate(columns) if fields[name].type != "boolean"
    ]
    as_json = [
        index for index, name in enumerate(columns) if fields[name].type == "json"
    ]

    def row(values):
        merged = base.copy()
        merged.update(values)
        cells = list(pick(merged))
        for index in nullable:
            if cells[index] is False:
                cells[index] = None
        for index in as_json:
            if cells[index] is not None:
                cells[index] = PgJson(cells[index])
        return cells

    return row


class BillwerkSyncRunBatch(models.Model):
    _inherit = "billwerk.sync.run"

    def _apply_page(self, entity, payloads, state, then=None):
        """Store one page and ``then()`` (its page token...) in one savepoint.

        First without a savepoint per entity: a page of invoices with its
        transactions and credit notes would take three more, six round trips
        to the database, a third of the page's queries. Should the database
        refuse anything, the attempt is rolled back and the page written
        again the careful way (``_apply``), where only the culprits are
        skipped.
        """
        mark = state.mark()
        try:
            with self.env.cr.savepoint():
                self._apply(entity, payloads, state, guarded=False)
                if then:
                    then()
            return
        except Exception:  # noqa: BLE001 - written again below, record by record
            self.env.invalidate_all()
            state.restore(mark)
        with self.env.cr.savepoint():
            self._apply(entity, payloads, state)
            if then:
                then()

    def _apply(self, entity, payloads, state, guarded=True):
        """Store one page; a record that cannot be stored is skipped, not fatal.

        The page is written in one go; should the database refuse it (a value
        no check foresaw), each record is written alone so that only the
        culprits are skipped, with their reason in the run's log. Not
        ``guarded``, the page's own savepoint is left out and a refusal is
        raised (``_apply_page`` then starts again, guarded).
        """
        incoming = self._map_payloads(entity, payloads, state)
        if not incoming:
            return
        if not guarded:
            state.counts[entity.name].add(self._upsert(entity, incoming, state))
            self._apply_children(entity, payloads, state, guarded)
            return
        try:
            with self.env.cr.savepoint():
                done = self._upsert(entity, incoming, state)
        except Exception:  # any failure: retried record by record below
            self.env.invalidate_all()
            done = EntityCounts()
            stored = 0
            for key, values in incoming.items():
                try:
                    with self.env.cr.savepoint():
                        one = self._upsert(entity, {key: values}, state)
                except Exception as error:  # noqa: BLE001 - skipped, reason on the run
                    self.env.invalidate_all()
                    state.skip(entity.name, key, skip_reason(error))
                    continue
                stored += 1
                done.add(one)
            if not stored and len(incoming) > 1:
                # Nothing at all could be stored: the database, not the data.
                raise
        state.counts[entity.name].add(done)
        self._apply_children(entity, payloads, state, guarded)

    def _apply_children(self, entity, payloads, state, guarded):
        for field, child_name in entity.children:
            # Embedded objects may leave out the invoice they sit in.
            embedded = [
                {"invoice": payload.get("handle"), **item}
                if isinstance(item, dict) and not item.get("invoice")
                else item
                for payload in payloads
                if isinstance(payload, dict) and isinstance(payload.get(field), list)
                for item in payload[field]
            ]
            if embedded:
                self._apply(ENTITIES_BY_NAME[child_name], embedded, state, guarded)

    def _map_payloads(self, entity, payloads, state):
        """Field values by key; payloads breaking the documented types are skipped."""
        incoming = {}
        for position, payload in enumerate(payloads, start=1):
            try:
                if entity.is_current and not entity.is_current(payload):
                    continue
                values = entity.to_values(payload)
            except MappingError as error:
                key = entity.key_of(payload) or self.env._(
                    "item %(position)s of a page", position=position
                )
                state.skip(entity.name, key, str(error))
                continue
            values["sync_hash"] = payload_digest(payload)
            incoming[values[entity.key_field]] = values
        return incoming

    def _upsert(self, entity, incoming, state):
        """One search, one create, a write per changed record; returns the counts.

        Works on copies: a failed attempt must leave ``incoming`` as it was
        for the record-by-record retry.
        """
        account = self.account_id
        model = self.env[entity.model].sudo().with_context(active_test=False)
        link_partners = entity.name == "customer" and account.create_partners
        existing = self._rows_by_key(
            model,
            entity.key_field,
            incoming,
            ["sync_hash", "active"] + (["partner_id"] if link_partners else []),
        )

        def needs_partner(key):
            # Also customers copied before the option was switched on.
            return link_partners and not (existing.get(key) or {}).get("partner_id")

        changed = {
            key: dict(values)
            for key, values in incoming.items()
            if key not in existing
            or existing[key]["sync_hash"] != values["sync_hash"]
            or needs_partner(key)
        }
        counts = EntityCounts()
        if not changed:
            return counts
        self._resolve_references(entity, list(changed.values()), state)
        if link_partners:
            self._link_partners([v for k, v in changed.items() if needs_partner(k)])
        to_create = []
        for key, values in changed.items():
            if key in existing:
                model.browse(existing[key]["id"]).write(values)
                counts.updated += 1
                if existing[key]["active"] and not values["active"]:
                    counts.archived += 1
            else:
                values["account_id"] = account.id
                to_create.append(values)
        if to_create:
            self._insert(model, to_create, state)
            counts.created += len(to_create)
        return counts

    def _insert(self, model, values_list, state=None):
        """The page's new records in one multi-row INSERT.

        The ORM's ``create`` spends about twice the whole page's budget on
        per-value conversions (Monetary, Selection, an environment per value)
        and cache bookkeeping; these models have nothing for it to run: no
        defaults left (the mapping gives every value), no overrides, no stored
        computes but ``company_id``, which is the account's. Measured by
        scripts/benchmark.sh, write path (b).
        """
        fields = model._fields
        now = self.env.cr.now()
        common = {
            "company_id": self.account_id.company_id.id,
            "create_uid": self.env.uid,
            "write_uid": self.env.uid,
            "create_date": now,
            "write_date": now,
        }
        columns = sorted(set().union(*values_list) | set(common))
        for name in columns:
            if not (fields[name].store and fields[name].column_type):
                raise ValueError(f"{model._name}.{name} is not a column")
        row = _row_maker(fields, columns, common)
        params = []
        for values in values_list:
            params.extend(row(values))
        # One statement, its values as parameters: psycopg2 quotes them in C.
        placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
        model.flush_model()
        handles = "handle" in columns and state is not None
        if handles:
            state.inserted.pop(model._name, None)
        self.env.cr.execute(
            SQL(
                "INSERT INTO %s (%s) VALUES %s %s",
                SQL.identifier(model._table),
                SQL(", ").join(SQL.identifier(name) for name in columns),
                SQL(", ".join([placeholders] * len(values_list)), *params),
                SQL("RETURNING handle, id") if handles else SQL(),
            )
        )
        if handles:
            state.inserted[model._name] = dict(self.env.cr.fetchall())
        # Rows the ORM did not write: the model's cache, the one2many sides
        # (a plan's subscriptions...) and the account's computed figures may
        # be stale. Not the run nor the account's stored fields (refetched,
        # they cost a query or two on every page).
        model.invalidate_model()
        account = self.account_id
        account.invalidate_recordset(
            [name for name, field in account._fields.items() if not field.store]
        )
        for _field, _handle_field, related in RELATIONS.get(model._name, ()):
            self.env[related].invalidate_model()

    def _resolve_references(self, entity, values_list, state):
        """Turn codes and handles into ids: one search per kind for the batch."""
        currencies = state.currencies
        self._fill_cache(
            currencies,
            "res.currency",
            "name",
            {v.get("currency_code") for v in values_list},
        )
        countries = state.countries
        self._fill_cache(
            countries,
            "res.country",
            "code",
            {v.get("country_code") for v in values_list},
        )
        for values in values_list:
            if "currency_code" in values:
                values["currency_id"] = currencies.get(values.pop("currency_code"))
            if "country_code" in values:
                values["country_id"] = countries.get(values["country_code"])
        wanted = {}
        for _field, handle_field, related_model in RELATIONS.get(entity.model, ()):
            handles = {v[handle_field] for v in values_list if v.get(handle_field)}
            known = state.inserted.get(related_model, {})
            wanted[related_model] = {
                handle for handle in handles if handle not in known
            }
        found = self._ids_by_handle(wanted)
        for field_name, handle_field, related_model in RELATIONS.get(entity.model, ()):
            ids = {**state.inserted.get(related_model, {}), **found[related_model]}
            for values in values_list:
                values[field_name] = ids.get(values.get(handle_field)) or False

    def _ids_by_handle(self, wanted):
        """``{model: {handle: id}}`` of this account's records (archived ones
        too) for ``{model: handles}``, in one query: a page of invoices names
        customers, subscriptions and plans, and each query is a round trip.
        """
        found = {model_name: {} for model_name in wanted}
        parts = []
        for model_name, handles in wanted.items():
            if not handles:
                continue
            model = self.env[model_name]
            model.flush_model(["account_id", "handle"])
            parts.append(
                SQL(
                    "SELECT %s AS model, handle, id FROM %s "
                    "WHERE account_id = %s AND handle = ANY(%s)",
                    model_name,
                    SQL.identifier(model._table),
                    self.account_id.id,
                    list(handles),
                )
            )
        if parts:
            self.env.cr.execute(SQL(" UNION ALL ").join(parts))
            for model_name, handle, record_id in self.env.cr.fetchall():
                found[model_name][handle] = record_id
        return found

    def _rows_by_key(self, model, key_field, keys, columns=()):
        """This account's records of ``model`` (archived ones too) whose
        ``key_field`` is one of ``keys``: ``{key: {"id": ..., column: ...}}``.

        One query, without the ORM's search and read (an environment, a
        domain, the cache for each): a page makes three to five of them.
        """
        model.flush_model([key_field, "account_id", *columns])
        self.env.cr.execute(
            SQL(
                "SELECT %s AS key, id, %s FROM %s WHERE account_id = %s "
                "AND %s = ANY(%s)",
                SQL.identifier(key_field),
                SQL(", ").join(SQL.identifier(name) for name in columns)
                if columns
                else SQL("NULL AS nothing"),
                SQL.identifier(model._table),
                self.account_id.id,
                SQL.identifier(key_field),
                list(keys),
            )
        )
        return {row.pop("key"): row for row in self.env.cr.dictfetchall()}

    def _fill_cache(self, cache, model, code_field, codes):
        missing = {code for code in codes if code and code not in cache}
        if not missing:
            return
        records = (
            self.env[model]
            .sudo()
            .with_context(active_test=False)
            .search([(code_field, "in", list(missing))])
        )
        if model == "res.currency":
            # Odoo formats amounts (symbol, decimals) only in active
            # currencies: a currency Billwerk bills in is one the company uses.
            records.filtered(lambda currency: not currency.active).active = True
        for record in records:
            cache[record[code_field]] = record.id
        for code in missing:
            cache.setdefault(code, False)

    def _link_partners(self, values_list):
        self.env["billwerk.customer"]._link_partners(values_list, self.account_id)

    def _link_customers_without_contact(self):
        """With the option on, every customer has a contact after each run,
        also those no run has read since the option was switched on."""
        account = self.account_id
        if not account.create_partners:
            return
        customers = self.env["billwerk.customer"].sudo().with_context(active_test=False)
        missing = customers.search(
            [("account_id", "=", account.id), ("partner_id", "=", False)]
        )
        for start in range(0, len(missing), CONTACT_BATCH):
            customers._link_existing_partners(
                missing[start : start + CONTACT_BATCH], account
            )
            self._commit()

    def _link_pending_relations(self):
        """Resolve handles whose record arrived after the record naming them."""
        self.env.flush_all()
        for model_name, relations in RELATIONS.items():
            table = self.env[model_name]._table
            for field_name, handle_field, related_model in relations:
                related_table = self.env[related_model]._table
                self.env.cr.execute(
                    f"""
                    UPDATE {table} AS t SET {field_name} = r.id
                      FROM {related_table} AS r
                     WHERE t.account_id = %(account)s
                       AND t.{field_name} IS NULL
                       AND r.account_id = t.account_id
                       AND r.handle = t.{handle_field}
                    """,
                    {"account": self.account_id.id},
                )
            self.env[model_name].invalidate_model()
