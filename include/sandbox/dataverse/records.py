"""Creating, updating and deleting Dataverse rows, with the platform rules the sync depends on.

Request bodies are checked the way the Web API checks them: unknown properties, writes to
``_x_value`` read names, undeclared or mistyped navigation properties in ``@odata.bind``,
values of the wrong type, strings over their maximum length, numbers out of range, option set
values that are not options, SystemRequired columns missing on create, and state/status pairs.
Rules beyond single columns (all in :class:`Records`):

- every row gets ``createdon``/``modifiedon`` (whole seconds), ``_createdby_value`` and
  ``_modifiedby_value`` (the calling user) and a new ``versionnumber`` (its ETag) per change;
  user-owned rows get ``_ownerid_value`` (default: the caller) and ``_owningbusinessunit_value``;
- tables with money columns default ``transactioncurrencyid`` to the organization's base currency
  (lines: to their header's currency) and copy the currency's ``exchangerate``;
- a unit group (uomschedule) creates its base unit from ``baseuomname`` (default
  ``Primary Unit``): quantity 1, ``isschedulebaseuom`` true, ``baseuom`` itself.
  ``baseuomname`` can only be set on create; the base unit cannot be deleted and its quantity
  stays 1; unit names are unique within their group; a new unit's ``baseuom`` defaults to the
  group's base unit;
- a product starts as Draft (statecode 2, statuscode 0) unless the create sets statecode;
  ``defaultuomid`` needs ``defaultuomscheduleid`` and must be a unit of that group;
  ``productnumber`` is unique (and an alternate key);
- a price list item (productpricelevel) takes ``transactioncurrencyid`` and ``exchangerate``
  from its price list (sending it on create is rejected; the price list must have a currency),
  takes ``productnumber`` from its product, defaults ``uomscheduleid`` from its unit, requires a
  unit of the product's unit group, and (price list, product, unit) is unique;
- price list names and currency ISO codes are unique;
- quotes, orders and invoices get an automatic number (``QUO-``, ``ORD-``, ``INV-``) when none
  is sent; ``customerid`` fills the read-only ``_accountid_value``/``_contactid_value``; the
  price list's currency must match the document's. Rows outside their editable state (quote
  not Draft, order not Active, invoice Paid/Canceled, opportunity closed) are read-only except
  for state changes (a paid or canceled invoice only back to Active); closed quotes, orders and
  invoices cannot be deleted, and the lines of a closed header cannot change;
- lines (quote/order/invoice details) inherit the header's currency; an existing-product line
  needs ``productid`` and ``uomid``, the product must be Active and the unit must belong to
  its unit group; a write-in line (``isproductoverridden``) needs ``productdescription``;
  ``baseamount``/``extendedamount`` are computed when not sent;
- contact and user ``fullname`` is ``firstname lastname``;
- the base currency cannot be deleted, deactivated or given another exchange rate; users,
  business units and the organization cannot be deleted;
- deleting a row deletes its parental children (lines, price list items, units of a group,
  notes) and clears every other lookup that pointed to it.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from include.sandbox.dataverse import errors
from include.sandbox.dataverse.errors import DataverseError, bad_request, not_found
from include.sandbox.dataverse.schema import BY_LOGICAL, BY_SET, TABLES, Column, Table
from include.sandbox.dataverse.urls import parse_key, split_path, split_segment
from include.sandbox.store import DuplicateKeyError, Store, StoreError, format_datetime

API_PREFIX = "/api/data/v9.2/"


@dataclass
class Context:
    """One request (or one ``$batch``): who calls, and the ``$n`` references made so far."""

    user_id: str
    business_unit_id: str
    content_ids: dict[str, tuple[Table, str]] = field(default_factory=dict)
    # (entity set, id) known to exist, to spare repeated look-ups inside a batch.
    known: set[tuple[str, str]] = field(default_factory=set)
    # Exchange rates and alternate-key references resolved during this request.
    rates: dict[str, float | None] = field(default_factory=dict)
    references: dict[tuple[str, str], str] = field(default_factory=dict)

    def changed(self, table: Table) -> None:
        """A row of ``table`` changed: alternate-key references to it may now differ."""
        if self.references:
            self.references = {k: v for k, v in self.references.items() if k[0] != table.entity_set}


@dataclass
class Bind:
    column: Column
    target: Table
    id: str


class Records:
    """Row writes on top of the record store.

    :param store: the store holding every table of :mod:`schema`.
    :param api_url: ``https://host:port/api/data/v9.2`` (for URLs in headers and bodies).
    """

    def __init__(self, store: Store, api_url: str):
        self.store = store
        self.api_url = api_url
        self._base_currency: str | None = None
        # table logical name -> [(referencing table, lookup column)], for deletes.
        self.references: dict[str, list[tuple[Table, Column]]] = {}
        for t in TABLES:
            for c in t.columns:
                if c.kind == "lookup" and c.name not in ("createdby", "modifiedby"):
                    for target in c.targets:
                        self.references.setdefault(target, []).append((t, c))

    # -- look-ups -------------------------------------------------------------------------------

    def table_for_set(self, name: str) -> Table:
        table = BY_SET.get(name)
        if table is None:
            raise errors.segment_not_found(name)
        return table

    def get(self, table: Table, id: str) -> dict | None:
        return self.store.get(table.entity_set, id)

    def exists(self, table: Table, id: str, ctx: Context | None = None) -> bool:
        if ctx is not None and (table.entity_set, id) in ctx.known:
            return True
        t = self.store.tables[table.entity_set]
        found = self.store.conn_scalar(sa.select(t.c[table.primary_id]).where(t.c[table.primary_id] == id))
        if found is not None and ctx is not None:
            ctx.known.add((table.entity_set, id))
        return found is not None

    def find(self, table: Table, key: str | Mapping[str, Any]) -> dict | None:
        """A row by GUID or by alternate key values (already parsed)."""
        if isinstance(key, str):
            return self.get(table, key)
        names = tuple(sorted(key))
        if names not in {tuple(sorted(k)) for k in table.alternate_keys}:
            declared = "; ".join(",".join(k) for k in table.alternate_keys) or "none"
            raise bad_request(
                f"'{','.join(key)}' is not an alternate key of {table.logical}. Declared keys: {declared}.",
                errors.ODATA,
            )
        values = {}
        for name, value in key.items():
            column = table.by_name[name]
            values[column.attribute] = self._coerce(table, column, value)
        rows = self.store.find(table.entity_set, **values)
        return rows[0] if rows else None

    def base_currency(self) -> str:
        if self._base_currency is None:
            orgs = self.store.page("organizations", page_size=1).rows
            if not orgs or not orgs[0].get("_basecurrencyid_value"):
                raise DataverseError(500, errors.UNEXPECTED, "The organization has no base currency.")
            self._base_currency = orgs[0]["_basecurrencyid_value"]
        return self._base_currency

    def forget_caches(self) -> None:
        self._base_currency = None

    def entity_url(self, table: Table, id: str) -> str:
        return f"{self.api_url}/{table.entity_set}({id})"

    def resolve_reference(self, value: Any, ctx: Context, where: str) -> tuple[Table, str]:
        """``/accounts(<id>)``, an absolute URL, ``accounts(accountnumber='A1')`` or ``$1``."""
        if not isinstance(value, str) or not value.strip():
            raise bad_request(f"The value of '{where}' must be a URL such as '/accounts(<guid>)'.", errors.ODATA)
        text = value.strip()
        if text.startswith("$"):
            ref, _, rest = text.partition("/")
            if ref not in ctx.content_ids or rest:
                raise bad_request(f"Content-ID Reference: '{ref}' does not exist in the batch context.", errors.ODATA)
            return ctx.content_ids[ref]
        if "://" in text:
            text = urlsplit(text).path
        if API_PREFIX in text:
            text = text.split(API_PREFIX, 1)[1]
        segments = split_path(text)
        if len(segments) != 1:
            raise bad_request(f"'{value}' in '{where}' is not a reference to a single record.", errors.ODATA)
        name, key = split_segment(segments[0])
        table = BY_SET.get(name)
        if table is None or key is None:
            raise bad_request(f"'{value}' in '{where}' is not a reference to a single record.", errors.ODATA)
        parsed = parse_key(key)
        if isinstance(parsed, str):
            if not self.exists(table, parsed, ctx):
                raise not_found(table.logical, parsed)
            return table, parsed
        cache_key = (table.entity_set, key)
        if cache_key not in ctx.references:
            row = self.find(table, parsed)
            if row is None:
                raise not_found(table.logical, key)
            ctx.references[cache_key] = row[table.primary_id]
        return table, ctx.references[cache_key]

    # -- body parsing -----------------------------------------------------------------------------

    def parse_body(self, table: Table, body: Any, ctx: Context, *, creating: bool) -> tuple[dict[str, Any], list[Bind]]:
        """Validate a create/update body: returns store values and the lookups it binds."""
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object with the record's columns.", errors.ODATA)
        values: dict[str, Any] = {}
        binds: list[Bind] = []
        for name, value in body.items():
            if "@" in name:
                prop, _, annotation = name.partition("@")
                if annotation != "odata.bind" or not prop:
                    continue  # instance annotations such as @odata.type or @odata.etag
                nav = table.navigation.get(prop)
                if nav is None:
                    raise bad_request(
                        f"An undeclared property '{prop}' which only has property annotations in the payload but "
                        "no property value was found in the payload. In OData, only declared navigation "
                        "properties and declared named streams can be represented as properties without values."
                        f" Navigation properties of {table.logical}: {', '.join(sorted(table.navigation))}.",
                        errors.ODATA,
                    )
                column, target_logical = nav
                self._check_writable(table, column, creating)
                if value is None:
                    values[column.attribute] = None
                    if column.type_column:
                        values[column.type_column] = None
                    continue
                target, id = self.resolve_reference(value, ctx, name)
                if target.logical != target_logical:
                    raise bad_request(
                        f"'{name}' must refer to a {target_logical} record, not to {target.entity_set}. "
                        f"Use '/{BY_LOGICAL[target_logical].entity_set}(<guid>)'.",
                        errors.ODATA,
                    )
                values[column.attribute] = id
                if column.type_column:
                    values[column.type_column] = target.logical
                binds.append(Bind(column, target, id))
                continue
            column = table.by_name.get(name)
            if column is None or column.kind == "lookup":
                self._unknown_property(table, name, value)
            self._check_writable(table, column, creating)
            values[column.attribute] = self._coerce(table, column, value)
        return values, binds

    def _unknown_property(self, table: Table, name: str, value: Any) -> None:
        if name in table.by_attribute:
            raise bad_request(
                "CRM do not support direct update of Entity Reference properties, Use Navigation properties "
                f"instead. Set '{table.by_attribute[name].name}@odata.bind' to '/<entityset>(<guid>)' "
                f"instead of '{name}'.",
                errors.ODATA,
            )
        if name in table.navigation:
            raise bad_request(
                f"'{name}' is a navigation property of {table.logical}: set it with "
                f"'{name}@odata.bind': '/{BY_LOGICAL[table.navigation[name][1]].entity_set}(<guid>)'.",
                errors.ODATA,
            )
        raise bad_request(
            f"The property '{name}' does not exist on type 'Microsoft.Dynamics.CRM.{table.logical}'. "
            "Make sure to only use property names that are defined by the type.",
            errors.ODATA,
        )

    def _check_writable(self, table: Table, column: Column, creating: bool) -> None:
        if creating and not column.create:
            if table.logical == "productpricelevel" and column.name == "transactioncurrencyid":
                raise bad_request(
                    "transactioncurrencyid of a productpricelevel can't be set on create: it is taken from the "
                    "price list. Remove it and set the currency on the price list (pricelevel) instead."
                )
            raise bad_request(
                f"The '{column.name}' column of {table.logical} is read-only on create (IsValidForCreate is "
                "false). Remove it from the request."
            )
        if not creating and not column.update:
            raise bad_request(
                f"The '{column.name}' column of {table.logical} can't be changed after the record is created "
                "(IsValidForUpdate is false). Remove it from the request."
            )

    def _coerce(self, table: Table, column: Column, value: Any) -> Any:
        if value is None:
            if column.required:
                raise bad_request(
                    f"The '{column.name}' column of {table.logical} is required and can't be null. Send a value for it."
                )
            return None
        kind = column.kind
        if kind in ("string", "memo", "entityname"):
            if not isinstance(value, str):
                raise self._type_error(column, value, "Edm.String")
            if column.max_length is not None and len(value) > column.max_length:
                raise bad_request(
                    f"A validation error occurred.  The length of the '{column.name}' attribute of the "
                    f"'{table.logical}' entity exceeded the maximum allowed length of '{column.max_length}'.",
                    errors.VALIDATION,
                )
            return value
        if kind in ("int", "bigint", "picklist", "state", "status"):
            if isinstance(value, bool) or not isinstance(value, int):
                if isinstance(value, float) and value.is_integer():
                    value = int(value)
                else:
                    raise self._type_error(column, value, "Edm.Int32")
            if column.options is not None and value not in column.options:
                accepted = ",".join(str(o) for o in column.options)
                raise bad_request(
                    f"A validation error occurred. The value {value} of '{column.name}' on record of type "
                    f"'{table.logical}' is outside the valid range. Accepted Values: {accepted}",
                    errors.OPTION_RANGE,
                )
            self._check_range(table, column, value)
            return value
        if kind in ("decimal", "money", "double"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                if isinstance(value, str):
                    try:
                        value = float(value)
                    except ValueError:
                        raise self._type_error(column, value, "Edm.Decimal") from None
                else:
                    raise self._type_error(column, value, "Edm.Decimal")
            if not math.isfinite(value):
                raise self._type_error(column, value, "Edm.Decimal")
            self._check_range(table, column, value)
            return float(value)
        if kind == "bool":
            if not isinstance(value, bool):
                raise self._type_error(column, value, "Edm.Boolean")
            return value
        if kind == "datetime":
            try:
                parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            except ValueError:
                raise self._type_error(column, value, "Edm.DateTimeOffset") from None
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=dt.UTC)
            return format_datetime(parsed, "seconds")
        if kind == "date":
            text = str(value)
            try:
                return dt.date.fromisoformat(text[:10]).isoformat()
            except ValueError:
                raise self._type_error(column, value, "Edm.Date") from None
        if kind in ("guid", "lookup"):
            try:
                return str(uuid.UUID(str(value)))
            except ValueError:
                raise self._type_error(column, value, "Edm.Guid") from None
        raise DataverseError(500, errors.UNEXPECTED, f"Unknown column kind {kind}.")

    @staticmethod
    def _type_error(column: Column, value: Any, edm: str) -> DataverseError:
        return bad_request(
            f"Cannot convert the literal '{value}' to the expected type '{edm}' (column '{column.name}').",
            errors.ODATA,
        )

    @staticmethod
    def _check_range(table: Table, column: Column, value: float) -> None:
        if (column.minimum is not None and value < column.minimum) or (
            column.maximum is not None and value > column.maximum
        ):
            low = _number(column.minimum)
            high = _number(column.maximum)
            raise bad_request(
                f"A validation error occurred. The value {_number(value)} of '{column.name}' on record of type "
                f"'{table.logical}' is outside the valid range. Accepted range: {low} to {high}.",
                errors.VALIDATION,
            )

    # -- writes ---------------------------------------------------------------------------------

    def create(
        self,
        table: Table,
        body: Any,
        ctx: Context,
        *,
        id: str | None = None,
        key_values: Mapping[str, Any] | None = None,
    ) -> dict:
        """Create a row; ``id`` or ``key_values`` come from an upsert URL."""
        values, binds = self.parse_body(table, body, ctx, creating=True)
        if id is not None:
            given = values.get(table.primary_id)
            if given is not None and given != id:
                raise bad_request(
                    f"The {table.primary_id} in the body ({given}) differs from the id in the URL ({id})."
                )
            values[table.primary_id] = id
        for name, value in (key_values or {}).items():
            column = table.by_name[name]
            coerced = self._coerce(table, column, value)
            if values.get(column.attribute) not in (None, coerced):
                raise bad_request(
                    f"The value of '{name}' in the body differs from the alternate key in the URL ({value!r})."
                )
            values[column.attribute] = coerced
        if table.logical != "uomschedule":
            # One INSERT is atomic by itself; only a unit group writes more (its base unit).
            return self._insert(table, values, binds, ctx)
        with self.store.transaction():
            return self._insert(table, values, binds, ctx)

    def _insert(self, table: Table, values: dict[str, Any], binds: list[Bind], ctx: Context) -> dict:
        if values.get(table.primary_id) is None:
            values[table.primary_id] = str(uuid.uuid4())
        for column in table.columns:
            if column.default is not None and column.attribute not in values:
                values[column.attribute] = column.default
        self._defaults(table, values, ctx)
        self._states(table, None, values)
        self._rules(table, None, values, binds, ctx)
        missing = [
            c for c in table.columns if c.required and c.name != table.primary_id and values.get(c.attribute) is None
        ]
        if missing:
            column = missing[0]
            how = f"'{column.name}@odata.bind'" if column.kind == "lookup" else f"'{column.name}'"
            raise bad_request(
                f"A value for '{column.name}' is required to create a {table.logical} record "
                f"({table.display}). Set {how} in the request body."
            )
        values["_createdby_value"] = values["_modifiedby_value"] = ctx.user_id
        try:
            row = self.store.insert(table.entity_set, values, trusted=True)
        except DuplicateKeyError as exc:
            raise self._duplicate(table, values, exc) from None
        except StoreError as exc:
            raise bad_request(exc.message) from None
        ctx.known.add((table.entity_set, row[table.primary_id]))
        self._after_insert(table, row, ctx)
        return row

    def update(self, table: Table, current: dict, body: Any, ctx: Context) -> dict:
        values, binds = self.parse_body(table, body, ctx, creating=False)
        values.pop(table.primary_id, None)
        return self._update(table, current, values, binds, ctx)

    def _update(self, table: Table, current: dict, values: dict[str, Any], binds: list[Bind], ctx: Context) -> dict:
        self._editable(table, current, values)
        self._states(table, current, values)
        self._rules(table, current, values, binds, ctx)
        for column in table.columns:
            if column.required and column.attribute in values and values[column.attribute] is None:
                raise bad_request(f"The '{column.name}' column of {table.logical} is required and can't be cleared.")
        values["_modifiedby_value"] = ctx.user_id
        ctx.changed(table)
        try:
            return self.store.update(table.entity_set, current[table.primary_id], values, trusted=True)
        except DuplicateKeyError as exc:
            raise self._duplicate(table, {**current, **values}, exc) from None
        except StoreError as exc:
            raise bad_request(exc.message) from None

    def delete(self, table: Table, current: dict, ctx: Context) -> None:
        id = current[table.primary_id]
        if table.logical in ("systemuser", "businessunit", "organization"):
            raise bad_request(
                f"{table.display} records can't be deleted"
                + (" (disable the user with isdisabled instead)." if table.logical == "systemuser" else ".")
            )
        if table.logical == "transactioncurrency" and id == self.base_currency():
            raise bad_request("The base currency of the organization can't be deleted.")
        if table.logical == "uom" and current.get("isschedulebaseuom"):
            raise bad_request(
                f"The unit '{current.get('name')}' is the base unit of its unit group and can't be deleted. "
                "Delete the unit group (uomschedule) instead."
            )
        if table.autonumber:
            self._check_state_allows_change(table, current, "deleted")
        if table.parent:
            self._check_parent_editable(table, current)
        with self.store.transaction():
            self._cascade(table, id, ctx)
            self.store.delete(table.entity_set, id)
        ctx.known.discard((table.entity_set, id))
        ctx.changed(table)

    def _cascade(self, table: Table, id: str, ctx: Context) -> None:
        for child, column in self.references.get(table.logical, []):
            t = self.store.tables[child.entity_set]
            where = t.c[column.attribute] == id
            if column.cascade == "delete":
                ids = [r[0] for r in self.store.conn.execute(sa.select(t.c[child.primary_id]).where(where))]
                for child_id in ids:
                    self._cascade(child, child_id, ctx)
                    self.store.delete(child.entity_set, child_id)
                    ctx.known.discard((child.entity_set, child_id))
            else:
                cleared = {column.attribute: None}
                if column.type_column:
                    cleared[column.type_column] = None
                self.store.conn.execute(t.update().where(where).values(cleared))

    # -- rules ----------------------------------------------------------------------------------

    def _defaults(self, table: Table, values: dict[str, Any], ctx: Context) -> None:
        if "ownerid" in table.by_name:
            owner = values.get("_ownerid_value") or ctx.user_id
            values["_ownerid_value"] = owner
            values["owneridtype"] = "systemuser"
            values["_owningbusinessunit_value"] = self._business_unit_of(owner, ctx)
        if table.autonumber:
            column, prefix = table.autonumber
            if not values.get(column):
                n = self.store.count(table.entity_set) + 1001
                values[column] = f"{prefix}-{n:05d}-{values[table.primary_id][:6].upper()}"

    def _business_unit_of(self, user_id: str, ctx: Context) -> str:
        if user_id == ctx.user_id:
            return ctx.business_unit_id
        user = self.store.get("systemusers", user_id)
        return user["_businessunitid_value"] if user else ctx.business_unit_id

    def _states(self, table: Table, current: dict | None, values: dict[str, Any]) -> None:
        if not table.states:
            return
        state = values.get("statecode")
        status = values.get("statuscode")
        if current is None:
            if state is None:
                state = table.status_state(status) if status is not None else table.default_state
            if status is None:
                status = table.states[state][0]
        else:
            if state is None and status is None:
                return
            if state is None:
                state = current["statecode"]
                if status not in table.states[state][1]:
                    # A status alone moves the row to the status's state, as SetState does.
                    state = table.status_state(status)
            if status is None:
                status = current["statuscode"] if state == current["statecode"] else table.states[state][0]
        if state not in table.states or status not in table.states[state][1]:
            allowed = ", ".join(str(s) for s in table.states.get(state, (0, ()))[1])
            raise bad_request(
                f"{status} is not a valid status code for state code {table.logical}State.{state} on "
                f"{table.logical}"
                + (f"; valid statuscode values for statecode {state}: {allowed}." if allowed else ".")
            )
        values["statecode"], values["statuscode"] = state, status

    def _editable(self, table: Table, current: dict, values: dict[str, Any]) -> None:
        if table.parent:
            self._check_parent_editable(table, current)
        if table.editable_states is None or current.get("statecode") in table.editable_states:
            return
        changes = {k for k in values if k not in ("statecode", "statuscode")}
        new_state = values.get("statecode")
        if new_state is None and values.get("statuscode") is not None:
            new_state = table.status_state(values["statuscode"])
        # A closed row only changes state. Orders, quotes and opportunities may move between closed
        # states (submitted -> invoiced); a paid or canceled invoice only goes back to active.
        if changes or (table.logical == "invoice" and new_state not in table.editable_states):
            self._check_state_allows_change(table, current, "changed")

    def _check_state_allows_change(self, table: Table, current: dict, verb: str) -> None:
        if table.editable_states is None or current.get("statecode") in table.editable_states:
            return
        state = current.get("statecode")
        label = (table.state_labels or {}).get(state, str(state))
        editable = min(table.editable_states)
        name = current.get(table.autonumber[0]) if table.autonumber else current.get(table.primary_name or "")
        raise bad_request(
            f"The {table.display.lower()} {name or current[table.primary_id]} is {label} (statecode {state}) and "
            f"can't be {verb}. Set statecode {editable} ({(table.state_labels or {}).get(editable)}) with a "
            "matching statuscode first."
        )

    def _check_parent_editable(self, table: Table, current: dict) -> None:
        column = table.by_name[table.parent]
        parent_table = BY_LOGICAL[column.targets[0]]
        parent_id = current.get(column.attribute)
        parent = self.get(parent_table, parent_id) if parent_id else None
        if parent is not None:
            self._check_state_allows_change(parent_table, parent, "changed (its lines are read-only)")

    def _rules(
        self, table: Table, current: dict | None, values: dict[str, Any], binds: list[Bind], ctx: Context
    ) -> None:
        merged = {**(current or {}), **values}
        logical = table.logical
        currency = table.by_name.get("transactioncurrencyid")
        if currency is not None and currency.kind == "lookup" and logical != "productpricelevel":
            self._currency(table, current, values, merged, ctx)
        if logical in ("contact", "systemuser") and ("firstname" in values or "lastname" in values or not current):
            values["fullname"] = " ".join(p for p in (merged.get("firstname"), merged.get("lastname")) if p) or None
        if table.autonumber:
            self._customer(values)
            self._price_list_currency(table, merged)
        if table.parent and current is None:
            self._check_parent_editable(table, merged)
        handler = getattr(self, f"_rules_{logical}", None)
        if handler is not None:
            handler(table, current, values, merged, ctx)

    def _currency(self, table: Table, current: dict | None, values: dict, merged: dict, ctx: Context) -> None:
        has_money = any(c.kind == "money" for c in table.columns)
        if current is None and has_money and not values.get("_transactioncurrencyid_value"):
            parent_currency = None
            if table.parent:
                column = table.by_name[table.parent]
                parent_id = values.get(column.attribute)
                parent = self.get(BY_LOGICAL[column.targets[0]], parent_id) if parent_id else None
                parent_currency = parent.get("_transactioncurrencyid_value") if parent else None
            values["_transactioncurrencyid_value"] = parent_currency or self.base_currency()
        if "_transactioncurrencyid_value" in values and "exchangerate" in table.by_name:
            values["exchangerate"] = self._exchange_rate(values["_transactioncurrencyid_value"], ctx)

    def _exchange_rate(self, currency_id: str | None, ctx: Context) -> float | None:
        if not currency_id:
            return None
        if currency_id not in ctx.rates:
            currency = self.store.get("transactioncurrencies", currency_id)
            ctx.rates[currency_id] = currency["exchangerate"] if currency else None
        return ctx.rates[currency_id]

    @staticmethod
    def _customer(values: dict) -> None:
        if "_customerid_value" not in values:
            return
        kind = values.get("customeridtype")
        values["_accountid_value"] = values["_customerid_value"] if kind == "account" else None
        values["_contactid_value"] = values["_customerid_value"] if kind == "contact" else None

    def _price_list_currency(self, table: Table, merged: dict) -> None:
        price_list_id = merged.get("_pricelevelid_value")
        currency_id = merged.get("_transactioncurrencyid_value")
        if not price_list_id or not currency_id:
            return
        price_list = self.store.get("pricelevels", price_list_id)
        if price_list and price_list.get("_transactioncurrencyid_value") not in (None, currency_id):
            raise bad_request(
                f"The currency of the price list '{price_list['name']}' differs from the currency of the "
                f"{table.logical}. Use a price list in the {table.logical}'s currency."
            )

    def _rules_transactioncurrency(self, table, current, values, merged, ctx) -> None:
        if current is not None:
            ctx.rates.pop(current["transactioncurrencyid"], None)
        if current is None or current["transactioncurrencyid"] != self.base_currency():
            return
        if "exchangerate" in values and values["exchangerate"] != 1.0:
            raise bad_request("The exchange rate of the base currency is always 1 and can't be changed.")
        if values.get("statecode") not in (None, 0):
            raise bad_request("The base currency of the organization can't be deactivated.")

    def _rules_uomschedule(self, table, current, values, merged, ctx) -> None:
        if current is None and not values.get("baseuomname"):
            values["baseuomname"] = "Primary Unit"

    def _rules_uom(self, table, current, values, merged, ctx) -> None:
        if current is None:
            values["isschedulebaseuom"] = bool(values.get("isschedulebaseuom"))
            if not values.get("_baseuom_value"):
                schedule_id = values.get("_uomscheduleid_value")
                base = self._base_unit(schedule_id) if schedule_id else None
                values["_baseuom_value"] = base["uomid"] if base else values["uomid"]
        elif current.get("isschedulebaseuom") and values.get("quantity") not in (None, 1.0):
            raise bad_request(f"The quantity of the base unit '{current['name']}' of a unit group is always 1.")
        base_id = merged.get("_baseuom_value")
        if base_id and base_id != merged["uomid"]:
            base = self.store.get("uoms", base_id)
            if base and base["_uomscheduleid_value"] != merged.get("_uomscheduleid_value"):
                raise bad_request(
                    f"The base unit of '{merged.get('name')}' must belong to the same unit group (uomscheduleid)."
                )

    def _base_unit(self, schedule_id: str) -> dict | None:
        rows = self.store.find("uoms", _uomscheduleid_value=schedule_id, isschedulebaseuom=True)
        return rows[0] if rows else None

    def _rules_product(self, table, current, values, merged, ctx) -> None:
        unit_id = merged.get("_defaultuomid_value")
        schedule_id = merged.get("_defaultuomscheduleid_value")
        if ("_defaultuomid_value" in values or "_defaultuomscheduleid_value" in values) and unit_id:
            if not schedule_id:
                raise bad_request(
                    f"Product {merged.get('productnumber')}: defaultuomid needs defaultuomscheduleid. "
                    "Bind 'defaultuomscheduleid@odata.bind' to the unit group of the unit."
                )
            unit = self.store.get("uoms", unit_id)
            if unit and unit["_uomscheduleid_value"] != schedule_id:
                raise bad_request(
                    f"Product {merged.get('productnumber')}: the default unit '{unit['name']}' doesn't belong to the "
                    "product's unit group (defaultuomscheduleid). Use a unit of that group.",
                )

    def _rules_productpricelevel(self, table, current, values, merged, ctx) -> None:
        price_list = (
            self.store.get("pricelevels", merged["_pricelevelid_value"]) if merged.get("_pricelevelid_value") else None
        )
        if price_list is not None:
            currency_id = price_list.get("_transactioncurrencyid_value")
            if not currency_id:
                raise bad_request(
                    f"The price list '{price_list['name']}' has no currency, so its items can't be priced. "
                    "Set transactioncurrencyid on the price list first."
                )
            given = values.get("_transactioncurrencyid_value")
            if given is not None and given != currency_id:
                raise bad_request(
                    "The currency of a price list item is the currency of its price list "
                    f"'{price_list['name']}'; it can't be set to another one."
                )
            if current is None or given is not None or "_pricelevelid_value" in values:
                values["_transactioncurrencyid_value"] = currency_id
                values["exchangerate"] = self._exchange_rate(currency_id, ctx)
        product = self.store.get("products", merged["_productid_value"]) if merged.get("_productid_value") else None
        if product is not None and (current is None or "_productid_value" in values):
            values["productnumber"] = product["productnumber"]
        unit_id = merged.get("_uomid_value")
        if unit_id and (current is None or "_uomid_value" in values or "_productid_value" in values):
            unit = self.store.get("uoms", unit_id)
            if unit is not None:
                if not merged.get("_uomscheduleid_value") or "_uomid_value" in values:
                    values["_uomscheduleid_value"] = unit["_uomscheduleid_value"]
                group = product.get("_defaultuomscheduleid_value") if product else None
                if group and unit["_uomscheduleid_value"] != group:
                    raise bad_request(
                        f"The unit '{unit['name']}' doesn't belong to the unit group of product "
                        f"{product['productnumber']}. You have to use a product unit that belongs to the unit "
                        "group of the product."
                    )

    def _line_rules(self, table: Table, current: dict | None, values: dict, merged: dict) -> None:
        overridden = bool(merged.get("isproductoverridden"))
        touched = current is None or any(
            k in values for k in ("isproductoverridden", "_productid_value", "_uomid_value", "productdescription")
        )
        if touched:
            if overridden:
                if merged.get("_productid_value"):
                    raise bad_request(
                        f"A write-in {table.display.lower()} (isproductoverridden true) can't reference an existing "
                        "product; remove productid or set isproductoverridden to false."
                    )
                if not merged.get("productdescription"):
                    raise bad_request(
                        f"A write-in {table.display.lower()} needs productdescription (the product name)."
                    )
            else:
                if not merged.get("_productid_value"):
                    raise bad_request(
                        f"A {table.display.lower()} for an existing product needs 'productid@odata.bind' "
                        "(or set isproductoverridden to true with a productdescription for a write-in line)."
                    )
                product = self.store.get("products", merged["_productid_value"])
                if product is not None and product.get("statecode") != 0:
                    raise bad_request(
                        f"The product {product['productnumber']} is not active (statecode {product['statecode']}) "
                        f"and can't be added to a {table.display.lower()}. Activate it first (statecode 0, "
                        "statuscode 1)."
                    )
                if not merged.get("_uomid_value"):
                    raise bad_request(
                        f"A {table.display.lower()} for an existing product needs a unit: set 'uomid@odata.bind'."
                    )
                unit = self.store.get("uoms", merged["_uomid_value"])
                group = product.get("_defaultuomscheduleid_value") if product else None
                if unit is not None and group and unit["_uomscheduleid_value"] != group:
                    raise bad_request(
                        f"The unit '{unit['name']}' doesn't belong to the unit group of product "
                        f"{product['productnumber']}. Use a unit of the product's unit group."
                    )
        price, quantity = merged.get("priceperunit"), merged.get("quantity")
        if price is not None and quantity is not None:
            if "baseamount" not in values and (current is None or {"priceperunit", "quantity"} & values.keys()):
                values["baseamount"] = round(price * quantity, 2)
            base = values.get("baseamount", merged.get("baseamount")) or 0.0
            if "extendedamount" not in values and (current is None or values.keys() & {"baseamount", "tax"}):
                discount = (merged.get("manualdiscountamount") or 0.0) + (merged.get("volumediscountamount") or 0.0)
                values["extendedamount"] = round(base - discount + (merged.get("tax") or 0.0), 2)

    def _rules_invoicedetail(self, table, current, values, merged, ctx) -> None:
        self._line_rules(table, current, values, merged)

    def _rules_salesorderdetail(self, table, current, values, merged, ctx) -> None:
        self._line_rules(table, current, values, merged)

    def _rules_quotedetail(self, table, current, values, merged, ctx) -> None:
        self._line_rules(table, current, values, merged)

    def _after_insert(self, table: Table, row: dict, ctx: Context) -> None:
        if table.logical == "uomschedule":
            unit_id = str(uuid.uuid4())
            self._insert(
                BY_LOGICAL["uom"],
                {
                    "uomid": unit_id,
                    "name": row["baseuomname"],
                    "_uomscheduleid_value": row["uomscheduleid"],
                    "_baseuom_value": unit_id,
                    "quantity": 1.0,
                    "isschedulebaseuom": True,
                },
                [],
                ctx,
            )

    def _duplicate(self, table: Table, values: Mapping[str, Any], exc: DuplicateKeyError) -> DataverseError:
        for group in (*table.alternate_keys, *table.unique):
            attributes = [table.by_name[n].attribute for n in group]
            if exc.field in attributes:
                described = ", ".join(f"{n}={values.get(a)!r}" for n, a in zip(group, attributes, strict=True))
                return errors.duplicate(f"{table.logical} ({described}) already exists.")
        return errors.duplicate(f"{table.logical} {values.get(table.primary_id)} already exists.")


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)
