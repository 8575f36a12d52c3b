"""Writes of the BC emulator: bodies converted and checked as BC checks them, creates, updates, deletes, actions."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from include.sandbox.bc import logic, odata
from include.sandbox.bc import tables as t
from include.sandbox.bc.errors import (
    BCError,
    UnknownRelatedId,
    bad_request,
    field_error,
    method_not_allowed,
    not_found_segment,
    record_not_found,
)
from include.sandbox.bc.messages import Request, Response, only
from include.sandbox.bc.posting import ACTIONS
from include.sandbox.bc.reading import Reader, entity_headers, key_text
from include.sandbox.bc.records import Ctx
from include.sandbox.bc.views import API, View
from include.sandbox.store import VERSION_COLUMN, DuplicateKeyError, NotFoundError, Store, ValidationError, is_guid


class Writer:
    """Serves the writes and actions of one store's views; answers with the entity as read back."""

    def __init__(self, store: Store, ctx: Ctx, reader: Reader):
        self.store = store
        self.ctx = ctx
        self.reader = reader

    def create(self, req: Request, view: View, conditions: dict[str, Any], context: str) -> Response:
        if "POST" not in view.methods:
            raise method_not_allowed("POST", view.name)
        body = request_body(req)
        # Deep insert (a document with its lines in one POST), as BC's API pages allow.
        nested = {}
        for name in [k for k, v in body.items() if isinstance(v, list)]:
            nav = view.navs_by_name.get(name)
            if nav is None or not nav.many or not all(isinstance(item, dict) for item in body[name]):
                raise bad_request(
                    f"The property '{name}' of {view.type_name} cannot be set in a create; only "
                    f"{', '.join(n.name for n in view.navs if n.many) or 'nothing'} can be inserted with it."
                )
            nested[name] = body.pop(name)
        values = convert(view, body, creating=True)
        values.update(view.where)
        values.update(conditions)
        with self.store.transaction():
            row = self._insert(view, values)
            for name, items in nested.items():
                nav = view.navs_by_name[name]
                target = API[nav.target]
                link = {target.mapping[nav.remote]: row[view.mapping[nav.local]]}
                for item in items:
                    child = convert(target, item, creating=True)
                    self._insert(target, {**child, **target.where, **link})
        opts, _ = odata.parse_query(req.query)
        payload = self.reader.entity_payload(req, view, row, context, opts)
        headers = entity_headers(payload)
        headers["location"] = f"{context.replace('/$metadata#', '/')}({key_text(view, row)})"
        return Response(201, payload, headers)

    def _insert(self, view: View, values: dict) -> dict:
        _before_write(self.ctx, view, values, None)
        self._check_keys(view.table, values, None)
        try:
            row = self.store.insert(view.table, values, trusted=True)
        except (ValidationError, DuplicateKeyError) as exc:
            raise _store_error(exc, view) from None
        logic.after_write(self.ctx, view.table, row, None)
        return row

    def update(self, req: Request, view: View, row: dict, context: str) -> Response:
        if "PATCH" not in view.methods:
            raise method_not_allowed("PATCH", view.name)
        _check_if_match(req, row)
        values = convert(view, request_body(req), creating=False)
        with self.store.transaction():
            _before_write(self.ctx, view, values, row)
            self._check_keys(view.table, values, row)
            try:
                new = self.store.update(view.table, row["SystemId"], values, trusted=True)
            except (ValidationError, DuplicateKeyError) as exc:
                raise _store_error(exc, view) from None
            except NotFoundError:
                raise record_not_found(t.caption(view.table), f"Id='{row['SystemId']}'") from None
            logic.after_write(self.ctx, view.table, new, row)
        opts, _ = odata.parse_query(req.query)
        payload = self.reader.entity_payload(req, view, new, context, opts)
        return Response(200, payload, entity_headers(payload))

    def delete(self, req: Request, view: View, row: dict) -> Response:
        if "DELETE" not in view.methods:
            raise method_not_allowed("DELETE", view.name)
        _check_if_match(req, row)
        with self.store.transaction():
            logic.before_delete(self.ctx, view.table, row)
            self.store.delete(view.table, row["SystemId"])
            logic.after_delete(self.ctx, view.table, row)
        return Response(204)

    def action(self, req: Request, view: View, row: dict, name: str) -> Response:
        function = view.actions.get(name)
        if function is None:
            raise not_found_segment(f"Microsoft.NAV.{name}")
        only(req, "POST", f"Microsoft.NAV.{name}")
        with self.store.transaction():
            ACTIONS[function](self.ctx, row)
        return Response(204)

    def _check_keys(self, table: str, values: dict, old: dict | None) -> None:
        """Duplicate primary/alternate keys give BC's Internal_EntityWithSameKeyExists."""
        es = t.BY_NAME[table]
        for alt in es.alternate_keys:
            if not any(c in values for c in alt):
                continue
            merged = {c: values.get(c, old[c] if old else None) for c in alt}
            if any(v is None for v in merged.values()):
                continue
            for other in self.store.find(table, **merged):
                if old is None or other["SystemId"] != old["SystemId"]:
                    described = ",".join(f"{t.field_caption(c)}='{v}'" for c, v in merged.items())
                    raise BCError(
                        409,
                        "Internal_EntityWithSameKeyExists",
                        f"The record in table {t.caption(table)} already exists. Identification fields and values: {described}",
                    )


def _before_write(ctx: Ctx, view: View, values: dict, old: dict | None) -> None:
    """The table's rules; an unknown related id is reported by the view's property name."""
    try:
        logic.before_write(ctx, view.table, values, old)
    except UnknownRelatedId as exc:
        raise exc.named(view.by_column.get(exc.column, exc.column)) from None


def request_body(req: Request) -> dict:
    try:
        body = json.loads(req.body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise bad_request(f"The request body is not valid JSON: {exc}.") from None
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object with the properties to set.")
    return body


def convert(view: View, body: dict, creating: bool) -> dict:
    """Public properties -> table columns, checked the way BC checks them."""
    out: dict[str, Any] = {}
    for name, value in body.items():
        if name.startswith("@odata.") or name.startswith("@"):
            continue
        prop = view.by_name.get(name)
        if prop is None:
            raise bad_request(
                f"The property '{name}' does not exist on type 'Microsoft.NAV.{view.type_name}'. "
                "Make sure to only use property names that are defined by the type."
            )
        if (
            prop.column is None
            or not (prop.writable or (creating and prop.create_only))
            or (prop.create_only and not creating)
        ):
            raise bad_request(
                f"The property '{name}' of {view.type_name} is read-only and cannot be set. Remove it from the request body.",
                "BadRequest_InvalidRequestUrl" if prop.create_only else "BadRequest",
            )
        out[prop.column] = _value(view, prop.name, view.es.by_name[prop.column], value)
    return out


def _value(view: View, name: str, f: Any, value: Any) -> Any:
    edm = {
        "string": "Edm.String",
        "decimal": "Edm.Decimal",
        "int": "Edm.Int32",
        "bool": "Edm.Boolean",
        "guid": "Edm.Guid",
        "date": "Edm.Date",
        "datetime": "Edm.DateTimeOffset",
    }[f.type]
    bad = bad_request(f"Cannot convert the literal '{value}' to the expected type '{edm}' of property '{name}'.")
    if value is None:
        raise bad_request(f"The property '{name}' of {view.type_name} cannot be null; send a value or leave it out.")
    if f.type == "string":
        if not isinstance(value, str):
            raise bad
        if f.options is not None:
            if value not in f.options:
                # BC reports a wrong enum value with the code "Unknown" (see its $batch documentation).
                raise BCError(
                    400, "Unknown", f"'{value}' is not an option. The existing options are: {','.join(f.options)}"
                )
            return value
        if f.max_length is not None and len(value) > f.max_length:
            raise BCError(
                400,
                "Application_StringExceededLength",
                f"The length of the string is {len(value)}, but it must be less than or equal to {f.max_length} "
                f"characters. Value: {value} (property '{name}' of {view.type_name}).",
            )
        return value.upper() if t.is_code(f.name) else value
    if f.type == "decimal":
        if isinstance(value, bool):
            raise bad
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise bad from None
        if not isinstance(value, (int, float)):
            raise bad
        value = float(value)
        if (f.minimum is not None and value < f.minimum) or (f.maximum is not None and value > f.maximum):
            bounds = f"at least {f.minimum:g}" if f.maximum is None else f"between {f.minimum:g} and {f.maximum:g}"
            raise field_error(f"The value {value:g} of '{name}' is not valid: it must be {bounds}.")
        return value
    if f.type == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if f.type == "bool":
        if not isinstance(value, bool):
            raise bad
        return value
    if f.type == "guid":
        if not is_guid(value):
            raise bad
        return value.lower()
    if f.type == "date":
        if not isinstance(value, str):
            raise bad
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError:
            raise bad from None
    raise bad


def _check_if_match(req: Request, row: dict) -> None:
    header = req.headers.get("if-match")
    if not header:
        raise BCError(
            400,
            "BadRequest_InvalidToken",
            "Could not validate the client concurrency token required by the service. Please provide a valid "
            "token in the client request (If-Match: <@odata.etag> or If-Match: *).",
        )
    if not odata.etag_matches(header, odata.etag(row[VERSION_COLUMN])):
        raise BCError(
            412,
            "Request_EntityChanged",
            "Another user has already changed the record. Read it again and retry with its new @odata.etag.",
        )


def _store_error(exc: Exception, view: View) -> BCError:
    if isinstance(exc, DuplicateKeyError):
        return BCError(
            409,
            "Internal_EntityWithSameKeyExists",
            f"The record in table {t.caption(view.table)} already exists. {exc}",
        )
    column = getattr(exc, "field", None)
    name = view.by_column.get(column, column)
    message = str(exc)
    if column and "required" in message:
        return field_error(
            f"{t.field_caption(column)} must have a value in {t.caption(view.table)}. It cannot be zero or empty ('{name}')."
        )
    return field_error(f"{message} (property '{name}' of {view.type_name}).")
