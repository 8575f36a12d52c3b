"""Routing and handlers of the Web API under ``/api/data/v9.2/``, shared by plain requests and
the requests inside a ``$batch``.

Resources:

- ``<set>``: GET (query), POST (create: 204 + ``OData-EntityId``, or 201 with
  ``Prefer: return=representation`` honouring ``$select``); PATCH/PUT/DELETE -> 405;
- ``<set>(<guid>)`` and ``<set>(<key>='<value>')``: GET (``If-None-Match`` -> 304), PATCH
  (update or upsert: ``If-Match: *`` forbids the create, ``If-None-Match: *`` the update,
  ``If-Match: W/"<version>"`` must match), DELETE (``If-Match`` honoured);
- ``<set>(<id>)/<column>`` (GET, PUT ``{"value": ...}``, DELETE), ``<set>(<id>)/<column>/$value``,
  ``<set>(<id>)/<lookup>`` (GET the related row), ``<set>(<id>)/<lookup>/$ref`` (PUT, DELETE);
- ``<set>/$count``; ``<set>/Microsoft.Dynamics.CRM.CreateMultiple|UpdateMultiple|UpsertMultiple``
  (all or nothing); ``BulkDelete`` (primary-key ``In`` conditions, executed at once);
- ``WhoAmI``, ``EntityDefinitions...``, ``$metadata``, the service document and ``$batch``
  (up to 1,000 operations, change sets with ``Content-ID``/``$n`` references and all-or-nothing
  semantics, ``Prefer: odata.continue-on-error``; without it processing stops at the first
  failure and the batch answers 400 with that failure).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import msgspec

from include.sandbox.dataverse import batch as wire
from include.sandbox.dataverse import errors
from include.sandbox.dataverse.errors import DataverseError, bad_request, odata_error
from include.sandbox.dataverse.metadata import Metadata
from include.sandbox.dataverse.reading import Reader
from include.sandbox.dataverse.records import API_PREFIX, Context, Records
from include.sandbox.dataverse.schema import BY_LOGICAL, Table
from include.sandbox.dataverse.urls import Prefer, format_key, parse_key, split_path, split_segment
from include.sandbox.store import PageAhead, Store

log = logging.getLogger(__name__)

JSON = "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8"
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode
_ACTIONS = ("CreateMultiple", "UpdateMultiple", "UpsertMultiple")


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = JSON
    # The row a write created or changed (for Content-ID references in change sets).
    entity: tuple[Table, str] | None = None
    # A page's next page (path and query under the API root): what :meth:`Service.read_ahead` computes.
    next_target: str | None = None


def _page_key(target: str, headers: dict[str, str], ctx: Context) -> tuple:
    """What a page of a listing depends on besides the data: the URL, the preferences and the caller."""
    return (target, headers.get("prefer"), ctx.user_id)


def json_reply(status: int, payload: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, _encode(payload), headers or {})


def error_reply(error: DataverseError) -> Reply:
    return Reply(error.status, _encode(error.body()), dict(error.headers))


class Service:
    """The Web API on one store.

    :param api_url: ``https://host:port/api/data/v9.2``.
    :param organization_id: the organization row's id (for ``WhoAmI``).
    :param count_operation: called with (method, entity set) for each request inside a batch.
    """

    def __init__(
        self,
        store: Store,
        api_url: str,
        organization_id: str,
        count_operation: Callable[[str, str | None], None] = lambda method, entity: None,
    ):
        self.store = store
        self.api_url = api_url
        self.organization_id = organization_id
        self.records = Records(store, api_url)
        self.reader = Reader(store, api_url)
        self.metadata = Metadata(api_url)
        self.count_operation = count_operation
        # One request at a time: the store has a single connection.
        self.lock = threading.Lock()
        # Read-ahead of listings: while a client receives a page, its next page is computed.
        self._follow: tuple[str, dict[str, str], Context] | None = None
        self._ahead = PageAhead(store)

    # -- entry points ---------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes, ctx: Context) -> Reply:
        """Serve one request; ``target`` is the part after ``/api/data/v9.2/`` (path and query)."""
        with self.lock:
            path, _, query = target.partition("?")
            if split_path(path) == ["$batch"]:
                return self._guard(lambda: self.batch(method, headers, body, ctx))
            if method != "GET":
                return self._guard(lambda: self.dispatch(method, path, query, headers, body, ctx))
            reply = self._ahead.take(_page_key(target, headers, ctx))
            if reply is None:
                reply = self._guard(lambda: self.dispatch(method, path, query, headers, body, ctx))
            if reply.next_target:
                self._follow = (reply.next_target, headers, ctx)
            return reply

    def read_ahead(self) -> None:
        """Compute the next page of the last page served, so that following its nextLink is quick.

        Run between requests, while the client receives the page. The page is kept with the store's
        count of changes and served only while that is the same: any write makes it stale.
        """
        with self.lock:
            follow, self._follow = self._follow, None
            if follow is None:
                return
            target, headers, ctx = follow
            path, _, query = target.partition("?")
            changes = self.store.changes()
            try:
                reply = self.dispatch("GET", path, query, headers, b"", ctx)
            except Exception:  # the request itself will meet (and report) the same problem
                log.debug("Reading ahead %s failed", target, exc_info=True)
                return
            self._ahead.keep(_page_key(target, headers, ctx), reply, changes)

    def forget_caches(self) -> None:
        """Drop what was computed from the store (after a reset)."""
        self.records.forget_caches()
        self._follow = None
        self._ahead.clear()

    def _guard(self, call: Callable[[], Reply]) -> Reply:
        try:
            return call()
        except DataverseError as exc:
            return error_reply(exc)
        except Exception as exc:  # a bug here must still answer like the service does
            log.exception("Dataverse emulator failed")
            return error_reply(DataverseError(500, errors.UNEXPECTED, f"Unexpected error: {exc}"))

    # -- routing --------------------------------------------------------------------------------

    def dispatch(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes, ctx: Context) -> Reply:
        segments = split_path(path)
        params = parse_qsl(query, keep_blank_values=True)
        prefer = Prefer.parse(headers.get("prefer"))
        if not segments:
            self._allow(method, "GET", "the service document")
            return json_reply(200, self.metadata.service_document())
        head, key = split_segment(segments[0])
        if head == "$metadata" and len(segments) == 1:
            self._allow(method, "GET", "$metadata")
            return Reply(200, self.metadata.csdl(), content_type="application/xml")
        if head == "$batch":
            raise odata_error("A $batch request can't be nested inside another $batch.")
        if head == "WhoAmI" and len(segments) == 1 and key in (None, ""):
            self._allow(method, "GET", "WhoAmI")
            return json_reply(
                200,
                {
                    "@odata.context": f"{self.api_url}/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
                    "BusinessUnitId": ctx.business_unit_id,
                    "UserId": ctx.user_id,
                    "OrganizationId": self.organization_id,
                },
            )
        if head == "EntityDefinitions":
            self._allow(method, "GET", "EntityDefinitions")
            return json_reply(200, self.metadata.entity_definitions(segments, dict(params)))
        if head == "BulkDelete" and len(segments) == 1:
            self._allow(method, "POST", "BulkDelete")
            return self._bulk_delete(self._json(body), ctx)
        table = self.records.table_for_set(head)
        if key is None:
            return self._collection(method, table, segments, params, headers, body, prefer, ctx)
        row_key = parse_key(key)
        if len(segments) == 1:
            return self._record(method, table, row_key, params, headers, body, prefer, ctx)
        return self._property(method, table, row_key, segments[1:], params, body, prefer, ctx)

    @staticmethod
    def _allow(method: str, allowed: str, what: str) -> None:
        if method != allowed:
            raise DataverseError(
                405, errors.ODATA, f"The HTTP method '{method}' is not allowed for {what}; use {allowed}."
            )

    @staticmethod
    def _json(body: bytes) -> Any:
        if not body.strip():
            raise bad_request("The request body is empty; send a JSON object.", errors.ODATA)
        try:
            return _decode(body)
        except msgspec.DecodeError as exc:
            raise bad_request(f"The request body is not valid JSON: {exc}.", errors.ODATA) from None

    # -- collections ----------------------------------------------------------------------------

    def _collection(
        self,
        method: str,
        table: Table,
        segments: list[str],
        params: list[tuple[str, str]],
        headers: dict[str, str],
        body: bytes,
        prefer: Prefer,
        ctx: Context,
    ) -> Reply:
        if len(segments) == 2 and segments[1] == "$count":
            self._allow(method, "GET", f"{table.entity_set}/$count")
            return Reply(200, str(self.reader.count(table, params)).encode(), content_type="text/plain")
        if len(segments) == 2 and segments[1].startswith("Microsoft.Dynamics.CRM."):
            action = segments[1].removeprefix("Microsoft.Dynamics.CRM.")
            if action in _ACTIONS:
                self._allow(method, "POST", action)
                return self._multiple(action, table, self._json(body), ctx)
        if len(segments) > 1:
            raise errors.segment_not_found(segments[1])
        if method == "GET":
            payload, extra, next_target = self.reader.query(table, params, prefer, table.entity_set)
            return Reply(200, payload, extra, next_target=next_target)
        if method == "POST":
            row = self.records.create(table, self._json(body), ctx)
            return self._written(table, row, params, prefer, created=True)
        raise DataverseError(
            405,
            errors.ODATA,
            f"The HTTP method '{method}' is not allowed on the collection {table.entity_set}. "
            f"Address one record, e.g. {table.entity_set}(<guid>).",
        )

    def _written(
        self, table: Table, row: dict, params: list[tuple[str, str]], prefer: Prefer, *, created: bool
    ) -> Reply:
        id = row[table.primary_id]
        url = self.records.entity_url(table, id)
        headers = {"OData-EntityId": url}
        if prefer.return_representation:
            options = dict(params)
            select = self.reader.select(table, options.get("$select"))
            payload = self.reader.single(table, row, select, [], prefer)
            headers["Preference-Applied"] = "return=representation"
            headers["ETag"] = payload["@odata.etag"]
            reply = json_reply(201 if created else 200, payload, headers)
        else:
            reply = Reply(204, headers=headers, content_type=None)
        reply.entity = (table, id)
        return reply

    # -- single records -------------------------------------------------------------------------

    def _record(
        self,
        method: str,
        table: Table,
        key: str | dict,
        params: list[tuple[str, str]],
        headers: dict[str, str],
        body: bytes,
        prefer: Prefer,
        ctx: Context,
    ) -> Reply:
        row = self.records.find(table, key)
        described = key if isinstance(key, str) else format_key(key)
        if method == "GET":
            if row is None:
                raise errors.not_found(table.logical, described)
            options = dict(params)
            for name in options:
                if name.startswith("$") and name not in ("$select", "$expand"):
                    raise odata_error(f"The query option '{name}' is not allowed when retrieving a single record.")
            select = self.reader.select(table, options.get("$select"))
            expand = self.reader.expand(table, options.get("$expand"))
            etag = _etag(row)
            if headers.get("if-none-match") == etag and not expand and not prefer.annotations:
                return Reply(304, headers={"ETag": etag}, content_type=None)
            payload = self.reader.single(table, row, select, expand, prefer)
            extra = {"ETag": etag}
            if prefer.annotations:
                extra["Preference-Applied"] = f'odata.include-annotations="{prefer.annotations}"'
            return json_reply(200, payload, extra)
        if method == "PATCH":
            self._preconditions(table, row, described, headers)
            data = self._json(body)
            if row is not None:
                updated = self.records.update(table, row, data, ctx)
                return self._written(table, updated, params, prefer, created=False)
            created = self.records.create(
                table,
                data,
                ctx,
                id=key if isinstance(key, str) else None,
                key_values=key if isinstance(key, dict) else None,
            )
            return self._written(table, created, params, prefer, created=True)
        if method == "DELETE":
            if row is None:
                raise errors.not_found(table.logical, described)
            self._preconditions(table, row, described, headers)
            self.records.delete(table, row, ctx)
            return Reply(204, content_type=None)
        raise DataverseError(
            405,
            errors.ODATA,
            f"The HTTP method '{method}' is not allowed on a single {table.logical} record; use GET, PATCH or DELETE.",
        )

    def _preconditions(self, table: Table, row: dict | None, described: str, headers: dict[str, str]) -> None:
        if_match = headers.get("if-match")
        if_none_match = headers.get("if-none-match")
        if if_match:
            if row is None:
                raise errors.not_found(table.logical, described)
            if if_match.strip() != "*" and not _etag_matches(if_match, row):
                raise DataverseError(
                    412,
                    errors.VERSION_MISMATCH,
                    "The version of the existing record doesn't match the RowVersion property provided. "
                    f"The current ETag of {table.logical} {described} is {_etag(row)}; read it again and retry.",
                )
        if if_none_match and if_none_match.strip() == "*" and row is not None:
            raise errors.duplicate()

    # -- properties and references --------------------------------------------------------------

    def _property(
        self,
        method: str,
        table: Table,
        key: str | dict,
        rest: list[str],
        params: list[tuple[str, str]],
        body: bytes,
        prefer: Prefer,
        ctx: Context,
    ) -> Reply:
        row = self.records.find(table, key)
        described = key if isinstance(key, str) else format_key(key)
        if row is None:
            raise errors.not_found(table.logical, described)
        name = rest[0]
        if name in table.navigation:
            if len(rest) == 2 and rest[1] == "$ref":
                if method == "PUT":
                    data = self._json(body)
                    target = data.get("@odata.id") if isinstance(data, dict) else None
                    updated = self.records.update(table, row, {f"{name}@odata.bind": target}, ctx)
                    return self._written(table, updated, [], Prefer(), created=False)
                if method == "DELETE":
                    updated = self.records.update(table, row, {f"{name}@odata.bind": None}, ctx)
                    return Reply(204, content_type=None, entity=(table, updated[table.primary_id]))
                self._allow(method, "PUT", f"{name}/$ref")
            if len(rest) == 1:
                self._allow(method, "GET", name)
                expand = self.reader.expand(table, name)
                shaped = self.reader.single(table, row, None, expand, prefer)
                related = shaped.get(name)
                if related is None:
                    return Reply(204, content_type=None)
                target = BY_LOGICAL[table.navigation[name][1]]
                context = f"{self.api_url}/$metadata#{target.entity_set}/$entity"
                return json_reply(200, {"@odata.context": context, **related})
            raise errors.segment_not_found(rest[-1])
        column = table.by_attribute.get(name) or table.by_name.get(name)
        if column is None or (column.kind == "lookup" and name == column.name):
            raise errors.segment_not_found(name)
        if len(rest) == 2 and rest[1] == "$value":
            self._allow(method, "GET", f"{name}/$value")
            value = row.get(column.attribute)
            if value is None:
                return Reply(204, content_type=None)
            text = str(value).lower() if isinstance(value, bool) else str(value)
            return Reply(200, text.encode(), content_type="text/plain")
        if len(rest) != 1:
            raise errors.segment_not_found(rest[-1])
        if method == "GET":
            value = row.get(column.attribute)
            if value is None:
                return Reply(204, content_type=None)
            context = f"{self.api_url}/$metadata#{table.entity_set}({row[table.primary_id]})/{name}"
            return json_reply(200, {"@odata.context": context, "value": value})
        if column.kind == "lookup":
            raise bad_request(
                f"'{name}' is a lookup: change it with PUT {table.entity_set}(<id>)/{column.name}/$ref or "
                f"'{column.name}@odata.bind'.",
                errors.ODATA,
            )
        if method == "PUT":
            data = self._json(body)
            if not isinstance(data, dict) or "value" not in data:
                raise bad_request('A single-property PUT needs the body {"value": <new value>}.', errors.ODATA)
            updated = self.records.update(table, row, {column.name: data["value"]}, ctx)
            return Reply(204, content_type=None, entity=(table, updated[table.primary_id]))
        if method == "DELETE":
            updated = self.records.update(table, row, {column.name: None}, ctx)
            return Reply(204, content_type=None, entity=(table, updated[table.primary_id]))
        raise DataverseError(405, errors.ODATA, f"The HTTP method '{method}' is not allowed on a property.")

    # -- bulk actions ---------------------------------------------------------------------------

    def _multiple(self, action: str, table: Table, data: Any, ctx: Context) -> Reply:
        targets = data.get("Targets") if isinstance(data, dict) else None
        if not isinstance(targets, list) or not targets:
            raise bad_request(f'{action} needs a body {{"Targets": [...]}} with at least one record.')
        ids: list[str] = []
        with self.store.transaction():
            for target in targets:
                if not isinstance(target, dict):
                    raise bad_request(f"Every item of Targets in {action} must be a JSON object.")
                odata_type = target.get("@odata.type")
                if odata_type and odata_type.lstrip("#") != f"Microsoft.Dynamics.CRM.{table.logical}":
                    raise bad_request(
                        f"Targets of {action} on {table.entity_set} must have @odata.type "
                        f"'Microsoft.Dynamics.CRM.{table.logical}', not '{odata_type}'."
                    )
                record = {k: v for k, v in target.items() if k not in ("@odata.type", "@odata.id")}
                if action == "CreateMultiple":
                    ids.append(self.records.create(table, record, ctx)[table.primary_id])
                    continue
                key: str | dict | None = None
                if target.get("@odata.id"):
                    _, key_text = split_segment(split_path(str(target["@odata.id"]).split(API_PREFIX)[-1])[-1])
                    key = parse_key(key_text or "")
                elif record.get(table.primary_id):
                    key = str(record[table.primary_id])
                if key is None:
                    raise bad_request(
                        f"Every target of {action} needs {table.primary_id}"
                        + (" or an @odata.id with an alternate key." if action == "UpsertMultiple" else ".")
                    )
                row = self.records.find(table, key)
                if row is not None:
                    ids.append(self.records.update(table, row, record, ctx)[table.primary_id])
                elif action == "UpdateMultiple":
                    raise errors.not_found(table.logical, key if isinstance(key, str) else format_key(key))
                else:
                    created = self.records.create(
                        table,
                        record,
                        ctx,
                        id=key if isinstance(key, str) else None,
                        key_values=key if isinstance(key, dict) else None,
                    )
                    ids.append(created[table.primary_id])
        if action == "UpdateMultiple":
            return Reply(204, content_type=None)
        context = f"{self.api_url}/$metadata#Microsoft.Dynamics.CRM.{action}Response"
        return json_reply(200, {"@odata.context": context, "Ids": ids})

    def _bulk_delete(self, data: Any, ctx: Context) -> Reply:
        try:
            query = data["QuerySet"][0]
            table = BY_LOGICAL[query["EntityName"]]
            (condition,) = query["Criteria"]["Conditions"]
            if condition["AttributeName"] != table.primary_id or condition["Operator"] != "In":
                raise KeyError
            ids = [str(uuid.UUID(str(v["Value"]))) for v in condition["Values"]]
        except (KeyError, IndexError, TypeError, ValueError):
            raise bad_request(
                "Only BulkDelete with one QueryExpression whose single condition is '<primary key> In [...]' is "
                "supported by this service."
            ) from None
        with self.store.transaction():
            for id in ids:
                row = self.records.get(table, id)
                if row is not None:
                    self.records.delete(table, row, ctx)
        return json_reply(
            200,
            {
                "@odata.context": f"{self.api_url}/$metadata#Microsoft.Dynamics.CRM.BulkDeleteResponse",
                "JobId": str(uuid.uuid4()),
            },
        )

    # -- $batch ---------------------------------------------------------------------------------

    def batch(self, method: str, headers: dict[str, str], body: bytes, ctx: Context) -> Reply:
        self._allow(method, "POST", "$batch")
        items = wire.parse(body, headers.get("content-type"))
        continue_on_error = Prefer.parse(headers.get("prefer")).continue_on_error
        out: list[wire.Response | list[wire.Response]] = []
        failure: wire.Response | None = None
        with self.store.transaction():
            for item in items:
                if isinstance(item, wire.ChangeSet):
                    responses, failure = self._changeset(item, ctx)
                    out.append(responses if failure is None else failure)
                else:
                    response = self._inner(item, ctx)
                    out.append(response)
                    failure = response if response.status >= 400 else None
                if failure is not None and not continue_on_error:
                    break
        if failure is not None and not continue_on_error:
            content_type, payload = wire.render([failure])
            return Reply(400, payload, content_type=content_type)
        content_type, payload = wire.render(out)
        headers_out = {"Preference-Applied": "odata.continue-on-error"} if continue_on_error else {}
        return Reply(200, payload, headers_out, content_type=content_type)

    def _changeset(self, changeset: wire.ChangeSet, ctx: Context) -> tuple[list[wire.Response], wire.Response | None]:
        responses: list[wire.Response] = []
        known, content_ids, references = set(ctx.known), dict(ctx.content_ids), dict(ctx.references)
        try:
            with self.store.transaction():
                for request in changeset.requests:
                    if request.method == "GET":
                        response = _response(
                            error_reply(odata_error("GET requests are not allowed inside a change set.")),
                            request.content_id,
                        )
                    else:
                        response = self._inner(request, ctx)
                    responses.append(response)
                    if response.status >= 400:
                        raise _Rollback(response)
        except _Rollback as rollback:
            # The change set fails as a whole: its earlier changes are undone, and so are its references.
            ctx.known, ctx.content_ids, ctx.references = known, content_ids, references
            ctx.rates.clear()
            return responses, rollback.response
        return responses, None

    def _inner(self, request: wire.Request, ctx: Context) -> wire.Response:
        target = request.url
        if target.startswith("$"):
            ref, _, rest = target.partition("/")
            if ref not in ctx.content_ids:
                reply = error_reply(odata_error(f"Content-ID Reference: '{ref}' does not exist in the batch context."))
                return _response(reply, request.content_id)
            table, id = ctx.content_ids[ref]
            target = f"{table.entity_set}({id})" + (f"/{rest}" if rest else "")
        else:
            if "://" in target:
                parts = urlsplit(target)
                target = parts.path + (f"?{parts.query}" if parts.query else "")
            if API_PREFIX in target:
                target = target.split(API_PREFIX, 1)[1]
            target = target.lstrip("/")
        path, _, query = target.partition("?")
        segments = split_path(path)
        entity = split_segment(segments[0])[0] if segments else None
        self.count_operation(request.method, entity)
        reply = self._guard(lambda: self.dispatch(request.method, path, query, request.headers, request.body, ctx))
        if reply.entity is not None and request.content_id is not None:
            ctx.content_ids[f"${request.content_id}"] = reply.entity
        if "OData-EntityId" in reply.headers:
            reply.headers["Location"] = reply.headers["OData-EntityId"]
        return _response(reply, request.content_id)


class _Rollback(Exception):
    def __init__(self, response: wire.Response):
        super().__init__(response.status)
        self.response = response


def _response(reply: Reply, content_id: str | None) -> wire.Response:
    headers = {"OData-Version": "4.0"}
    headers.update(reply.headers)
    if reply.body and reply.content_type:
        headers["Content-Type"] = reply.content_type.split("; odata.streaming")[0]
    return wire.Response(reply.status, headers, reply.body, content_id)


def _etag(row: dict) -> str:
    return f'W/"{row["_version"]}"'


def _etag_matches(header: str, row: dict) -> bool:
    version = str(row["_version"])
    for candidate in header.split(","):
        value = candidate.strip().removeprefix("W/").strip('"')
        if value == version:
            return True
    return False
