"""The request handler of the BC emulator: routing, reads with paging and $expand, writes, $batch.

It works on plain request/response objects so that a ``$batch`` can run its operations through
the same code as single requests (:meth:`Engine.handle`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import msgspec
import sqlalchemy as sa
from odata_query import ast as oast
from odata_query.grammar import ODataLexer, ODataParser

from include.sandbox.bc import logic, metadata, odata
from include.sandbox.bc import tables as t
from include.sandbox.bc.errors import (
    BCError,
    bad_request,
    error_body,
    field_error,
    method_not_allowed,
    not_found_segment,
    record_not_found,
)
from include.sandbox.bc.views import API, WEB_SERVICES, View
from include.sandbox.config import SandboxConfig
from include.sandbox.control import Controls
from include.sandbox.store import (
    ETAG_COLUMN,
    ROW_COLUMN,
    VERSION_COLUMN,
    DuplicateKeyError,
    EntitySet,
    Field,
    NotFoundError,
    Page,
    PageAhead,
    QueryError,
    Store,
    ValidationError,
    is_guid,
)
from include.sandbox.tokens import TokenAuthority, TokenError

log = logging.getLogger(__name__)

JSON_TYPE = "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8"
MAX_BATCH = 100
COMPANY_FIELDS = ("id", "systemVersion", "timestamp", "name", "displayName", "businessProfileId")
_encoder = msgspec.json.Encoder()


@dataclass
class Request:
    method: str
    path: str  # still percent-encoded, no query
    query: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    base: str  # https://host:port
    in_batch: bool = False


@dataclass
class Response:
    status: int
    payload: Any = None  # JSON-ready object
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # a non-JSON body ($metadata), or the payload already encoded

    def encode(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return b"" if self.payload is None else _encoder.encode(self.payload)


COMPANY_SET = EntitySet(
    "companies",
    key="id",
    fields=(
        Field("id", "guid"),
        Field("systemVersion"),
        Field("timestamp", "int"),
        Field("name"),
        Field("displayName"),
        Field("businessProfileId"),
        Field("systemCreatedAt", "datetime"),
        Field("systemCreatedBy", "guid"),
        Field("systemModifiedAt", "datetime"),
        Field("systemModifiedBy", "guid"),
    ),
)


class _Rollback(Exception):
    """Undo an isolated batch in which an operation failed."""


def error_response(exc: BCError) -> Response:
    return Response(exc.status, exc.body(), {"content-type": JSON_TYPE, **exc.headers})


class Engine:
    """Serves the BC API v2.0 and the published web services from one store."""

    def __init__(self, config: SandboxConfig, store: Store, authority: TokenAuthority):
        self.config = config
        self.store = store
        self.authority = authority
        self.ctx = logic.Ctx(store, config)
        self.controls: Controls | None = None
        # One request at a time: the store is a single SQLite connection. Reentrant for $batch.
        self.lock = threading.RLock()
        self.all_sets = {*API, *WEB_SERVICES, "companies", "Company", "$batch", "$metadata"}
        # The environment's one company, in a store of its own so $filter and $select work on it.
        self._companies = Store([COMPANY_SET])
        self._companies.insert_many("companies", [self._company()])
        # Read-ahead of listings: while a client receives a page, its next page is computed.
        self._follow: tuple[Request, View, dict[str, Any], str] | None = None
        self._ahead = PageAhead(store)

    # -- entry points ------------------------------------------------------------------------

    def entity_of(self, path: str) -> str | None:
        """The entity set a URL addresses, for request statistics (``items``, ``Resources``, ``$batch``)."""
        for part in reversed(odata.split_path(urlsplit(path).path)):
            name = part.partition("(")[0]
            if name in self.all_sets:
                return name
        return None

    def handle(self, req: Request) -> Response:
        """Answer one request (also one operation of a ``$batch``); never raises."""
        with self.lock:
            try:
                return self._route(req)
            except BCError as exc:
                return error_response(exc)
            except Exception:
                # A defect of the emulator, not of the request: say so the way BC says it, and log it.
                log.exception("The Business Central emulator failed on %s %s", req.method, req.path)
                return error_response(
                    BCError(500, "Internal_ServerError", "An unexpected error occurred in the sandbox; see its log.")
                )

    def reset(self, load: Callable[[], None]) -> None:
        """Wipe the store and load ``load``'s data, between requests."""
        with self.lock:
            self._follow = None
            self._ahead.clear()
            self.store.reset()
            load()

    def read_ahead(self) -> None:
        """Compute the next page of the last listing served, so that following its nextLink is quick.

        Run between requests (the app queues it behind the request on its worker). The page is
        kept with the store's count of changed rows and the date, and served only while both are
        the same: any write (or a computed value that depends on the day) makes it stale.
        """
        with self.lock:
            follow, self._follow = self._follow, None
            if follow is None:
                return
            req, view, conditions, context = follow
            changes = self.store.changes()
            try:
                response = self._list(req, view, conditions, context)
            except Exception:  # the request itself will meet (and report) the same problem
                log.debug("Reading ahead %s failed", req.path, exc_info=True)
                return
            self._follow = None  # only pages that clients ask for lead further
            response.raw = response.encode()
            self._ahead.keep(self._key(req), response, changes)

    def _key(self, req: Request) -> tuple:
        """What a listing page depends on besides the data: the request, and the day (computed values)."""
        h = req.headers
        return (req.base, req.path, req.query, h.get("prefer"), h.get("company"), self.ctx.today)

    def _route(self, req: Request) -> Response:
        segs = odata.split_path(req.path)
        if not req.in_batch:
            self._authenticate(req)
        c = self.config
        if len(segs) < 3 or segs[0] != "v2.0":
            raise BCError(
                404,
                "BadRequest_NotFound",
                f"The URL path '{req.path}' does not exist. BC URLs start with /v2.0/{{tenant}}/{{environment}}/.",
            )
        if segs[1] != c.tenant_id:
            raise BCError(
                404, "BadRequest_NotFound", f"The tenant '{segs[1]}' was not found. Check the tenant id in the URL."
            )
        if segs[2] != c.bc_environment:
            raise BCError(
                404,
                "BadRequest_NotFound",
                f"The environment '{segs[2]}' was not found in tenant {segs[1]}. Check the environment name in the URL.",
            )
        rest = segs[3:]
        if rest[:2] == ["api", "v2.0"]:
            return self._api(req, rest[2:])
        if rest[:1] == ["ODataV4"]:
            return self._odata_v4(req, rest[1:])
        raise not_found_segment(rest[0] if rest else segs[2])

    def _authenticate(self, req: Request) -> None:
        try:
            self.authority.validate(req.headers.get("authorization"), self.config.bc_resource)
        except TokenError as exc:
            messages = {
                "MissingToken": "The request has no bearer token. Send 'Authorization: Bearer <token>' with a token "
                f"issued for {self.config.bc_resource}.",
                "ExpiredAuthTicket": "The access token has expired. Request a new token and retry.",
                "InvalidAudience": "The access token was not issued for Business Central; request it with the scope "
                f"{self.config.bc_resource}/.default.",
            }
            challenge = (
                f'Bearer authorization_uri="{self.config.authority}/oauth2/authorize", '
                f'resource_id="{self.config.bc_resource}"'
            )
            if exc.code != "MissingToken":
                challenge += ', error="invalid_token"'
            raise BCError(
                401,
                "Authentication_InvalidCredentials",
                messages.get(
                    exc.code, "The server has rejected the client credentials: the access token is not valid."
                ),
                {"www-authenticate": challenge},
            ) from None

    # -- API v2.0 ----------------------------------------------------------------------------

    def _api_root(self, req: Request) -> str:
        c = self.config
        return f"{req.base}/v2.0/{c.tenant_id}/{c.bc_environment}/api/v2.0"

    def _api(self, req: Request, segs: list[str]) -> Response:
        root = self._api_root(req)
        if not segs:
            self._only(req, "GET", "service document")
            value = [{"name": "companies", "kind": "EntitySet", "url": "companies"}]
            value += [{"name": name, "kind": "EntitySet", "url": name} for name in API]
            return self._json(200, {"@odata.context": f"{root}/$metadata", "value": value})
        head = odata.parse_segment(segs[0])
        if head.name == "$metadata" and len(segs) == 1:
            self._only(req, "GET", "$metadata")
            return Response(200, headers={"content-type": "application/xml"}, raw=metadata.api_document())
        if head.name == "$batch" and len(segs) == 1:
            if req.in_batch:
                raise bad_request("A $batch request cannot contain another $batch request.")
            self._only(req, "POST", "$batch")
            return self._batch(req)
        if head.name == "companies":
            if head.key is None:
                if len(segs) > 1:
                    raise not_found_segment(segs[1])
                self._only(req, "GET", "companies")
                return self._list_companies(req, root)
            company_id = head.key[0].value if len(head.key) == 1 else None
            if not isinstance(company_id, str) or company_id.lower() != self.config.company_id:
                raise BCError(
                    404,
                    "Internal_CompanyNotFound",
                    f"The company with id {company_id} does not exist in this environment.",
                )
            if len(segs) == 1:
                self._only(req, "GET", "companies")
                opts, _ = odata.parse_query(req.query)
                body = {
                    "@odata.context": f"{root}/$metadata#companies/$entity",
                    **self._select(self._company(), opts.select, "company"),
                }
                return self._json(200, body)
            context = f"{root}/$metadata#companies({self.config.company_id})"
            return self._resource(req, segs[1:], API, context)
        # The company may also come from a Company header or ?company= (used inside $batch).
        opts, _ = odata.parse_query(req.query)
        company = req.headers.get("company") or opts.extra.get("company")
        if head.name in API and company is not None:
            self._check_company_name(company)
            return self._resource(req, segs, API, f"{root}/$metadata#companies({self.config.company_id})")
        raise not_found_segment(head.name)

    def _list_companies(self, req: Request, root: str) -> Response:
        """``companies`` with the usual query options (clients look their company up by name)."""
        opts, _ = odata.parse_query(req.query)
        try:
            page = self._companies.page(
                "companies",
                odata_filter=opts.filter,
                select=opts.select,
                orderby=opts.orderby,
                top=opts.top,
                skip=opts.skip,
                count=opts.count,
            )
        except QueryError as exc:
            raise bad_request(exc.message.replace("on 'companies'", "on type 'Microsoft.NAV.company'")) from None
        for row in page.rows:
            row.pop(VERSION_COLUMN)
        context = f"{root}/$metadata#companies" + (f"({','.join(opts.select)})" if opts.select else "")
        payload: dict[str, Any] = {"@odata.context": context}
        if opts.count:
            payload["@odata.count"] = page.count
        payload["value"] = page.rows
        return self._json(200, payload)

    def _company(self) -> dict:
        c = self.config
        return {
            "id": c.company_id,
            "systemVersion": "27.0.38460.41205",
            "timestamp": 1000,
            "name": c.company_name,
            "displayName": c.company_name,
            "businessProfileId": "",
            "systemCreatedAt": "2024-01-01T00:00:00.000Z",
            "systemCreatedBy": "00000000-0000-0000-0000-000000000001",
            "systemModifiedAt": "2024-01-01T00:00:00.000Z",
            "systemModifiedBy": "00000000-0000-0000-0000-000000000001",
        }

    def _check_company_name(self, name: str) -> None:
        if name not in (self.config.company_name, self.config.company_id):
            raise BCError(
                404,
                "Internal_CompanyNotFound",
                f"Cannot open company '{name}'. Company names are case-sensitive; this environment has "
                f"'{self.config.company_name}'.",
            )

    # -- published web services (ODataV4) ----------------------------------------------------

    def _odata_v4(self, req: Request, segs: list[str]) -> Response:
        c = self.config
        root = f"{req.base}/v2.0/{c.tenant_id}/{c.bc_environment}/ODataV4"
        if not segs:
            self._only(req, "GET", "service document")
            value = [{"name": "Company", "kind": "EntitySet", "url": "Company"}]
            value += [{"name": name, "kind": "EntitySet", "url": name} for name in WEB_SERVICES]
            return self._json(200, {"@odata.context": f"{root}/$metadata", "value": value})
        head = odata.parse_segment(segs[0])
        if head.name == "$metadata" and len(segs) == 1:
            self._only(req, "GET", "$metadata")
            return Response(200, headers={"content-type": "application/xml"}, raw=metadata.web_services_document())
        if head.name == "$batch":
            raise bad_request(
                "JSON $batch is served by the API v2.0 endpoint (.../api/v2.0/$batch); send the batch there."
            )
        company_entity = {
            "Name": c.company_name,
            "Evaluation_Company": False,
            "Display_Name": c.company_name,
            "Id": c.company_id,
            "Business_Profile_Id": "",
        }
        quoted = quote(c.company_name, safe="")
        if head.name == "Company":
            if head.key is None:
                self._only(req, "GET", "Company")
                return self._json(200, {"@odata.context": f"{root}/$metadata#Company", "value": [company_entity]})
            part = head.key[0]
            if len(head.key) != 1 or (part.name not in (None, "Name", "Id")):
                raise bad_request(odata.SYNTAX_ERROR, "BadRequest_NotFound")
            if part.name == "Id" or part.kind == "guid":
                if str(part.value).lower() != c.company_id:
                    raise BCError(
                        404,
                        "Internal_CompanyNotFound",
                        f"The company with id {part.value} does not exist in this environment.",
                    )
            else:
                self._check_company_name(str(part.value))
            if len(segs) == 1:
                self._only(req, "GET", "Company")
                return self._json(200, {"@odata.context": f"{root}/$metadata#Company/$entity", **company_entity})
            return self._resource(req, segs[1:], WEB_SERVICES, f"{root}/$metadata#Company('{quoted}')")
        opts, _ = odata.parse_query(req.query)
        company = opts.extra.get("company") or req.headers.get("company")
        if head.name in WEB_SERVICES:
            if company is None:
                raise bad_request(
                    f"The web service '{head.name}' needs a company: use .../ODataV4/Company('{quoted}')/{head.name} "
                    "or add ?company=<name>."
                )
            self._check_company_name(company.strip("'"))
            return self._resource(req, segs, WEB_SERVICES, f"{root}/$metadata#Company('{quoted}')")
        raise not_found_segment(head.name)

    # -- resources ---------------------------------------------------------------------------

    def _resource(self, req: Request, segs: list[str], views: dict[str, View], context: str) -> Response:
        """Walk ``set(key)/nav(key)/...`` and serve the collection, entity or action it ends at."""
        first = odata.parse_segment(segs[0])
        view = views.get(first.name)
        if view is None:
            raise not_found_segment(first.name)
        conditions: dict[str, Any] = {}
        key = first.key
        context += f"/{first.name}"
        row: dict | None = None
        i = 0
        while True:
            if key is not None:
                row = self._lookup(view, key, conditions)
            i += 1
            if i == len(segs):
                break
            seg = segs[i]
            if row is None:
                raise not_found_segment(seg)
            if seg.startswith("Microsoft.NAV."):
                if i != len(segs) - 1:
                    raise not_found_segment(segs[i + 1])
                return self._action(req, view, row, seg[len("Microsoft.NAV.") :])
            nav_seg = odata.parse_segment(seg)
            nav = view.navs_by_name.get(nav_seg.name)
            if nav is None:
                raise not_found_segment(nav_seg.name)
            target = API[nav.target]
            local_value = row[view.mapping[nav.local]]
            remote_column = target.mapping[nav.remote]
            context += f"({self._key_text(view, row)})/{nav.name}"
            if nav.many:
                view, conditions, key, row = target, {remote_column: local_value}, nav_seg.key, None
            else:
                if nav_seg.key is not None:
                    raise not_found_segment(seg)
                related = self.store.find(target.table, **{remote_column: local_value})
                if not related:
                    raise record_not_found(t.caption(target.table), f"{nav.remote}='{local_value}'")
                if i != len(segs) - 1:
                    raise not_found_segment(segs[i + 1])
                return self._entity_response(req, target, related[0], context, True)
        if row is None:
            if req.method == "GET":
                return self._list(req, view, conditions, context)
            if req.method == "POST":
                return self._create(req, view, conditions, context)
            raise method_not_allowed(req.method, view.name)
        return self._entity_response(req, view, row, context, False)

    def _entity_response(self, req: Request, view: View, row: dict, context: str, via_nav: bool) -> Response:
        if req.method == "GET":
            return self._get(req, view, row, context)
        if via_nav:
            raise method_not_allowed(req.method, view.name)
        if req.method == "PATCH":
            return self._update(req, view, row, context)
        if req.method == "DELETE":
            return self._delete(req, view, row)
        raise method_not_allowed(req.method, view.name)

    def _only(self, req: Request, method: str, what: str) -> None:
        if req.method != method:
            raise method_not_allowed(req.method, what)

    def _key_text(self, view: View, row: dict) -> str:
        if view.kind == "api":
            return row["SystemId"]
        parts = []
        for name in view.key:
            column = view.mapping[name]
            kind = view.es.by_name[column].type
            kind = {"string": "string", "date": "date", "decimal": "decimal", "int": "int", "bool": "bool"}.get(
                kind, "string"
            )
            parts.append((name, row[column], kind))
        return odata.format_key(parts, named=len(parts) > 1)[1:-1]

    def _lookup(self, view: View, key: tuple[odata.KeyPart, ...], conditions: dict[str, Any]) -> dict:
        """The table row a URL key names (404 when there is none in this view)."""
        if view.kind == "api":
            part = key[0]
            if len(key) != 1 or part.name not in (None, "id"):
                raise bad_request(odata.SYNTAX_ERROR, "BadRequest_NotFound")
            if part.kind != "guid":
                raise bad_request(
                    f"'{part.value}' is not a valid id: {view.name} are keyed by a GUID such as items(5a3e7c1d-2b4f-4a6e-8c9d-0e1f2a3b4c5d).",
                    "BadRequest_NotFound",
                )
            row = self.store.get(view.table, part.value)
            wanted = {**view.where, **conditions}
            if row is None or any(row[c] != v for c, v in wanted.items()):
                raise record_not_found(t.caption(view.table), f"Id='{part.value}'")
            return row
        if all(p.name is None for p in key):
            if len(key) != len(view.key):
                raise bad_request(
                    f"{view.name} records are keyed by {', '.join(view.key)}; give {len(view.key)} key value(s).",
                    "BadRequest_NotFound",
                )
            named = dict(zip(view.key, key, strict=True))
        else:
            if any(p.name is None for p in key):
                raise bad_request(odata.SYNTAX_ERROR, "BadRequest_NotFound")
            named = {p.name: p for p in key}
            if set(named) != set(view.key):
                raise bad_request(
                    f"{view.name} records are keyed by {', '.join(view.key)}; the URL gave {', '.join(named)}.",
                    "BadRequest_NotFound",
                )
        values = {}
        for name, part in named.items():
            column = view.mapping[name]
            f = view.es.by_name[column]
            value = part.value
            if f.type == "decimal" and part.kind in ("int", "decimal"):
                value = float(value)
            elif f.type == "date" and part.kind != "date":
                raise bad_request(f"The key value of {name} must be a date like 2024-01-31.", "BadRequest_NotFound")
            elif f.type == "string" and part.kind != "string":
                raise bad_request(
                    f"The key value of {name} must be a quoted string like '{value}'.", "BadRequest_NotFound"
                )
            values[column] = value
        rows = self.store.find(view.table, **values, **view.where, **conditions)
        if not rows:
            described = ",".join(f"{t.field_caption(c)}='{v}'" for c, v in values.items())
            raise record_not_found(t.caption(view.table), described)
        return rows[0]

    # -- reading -----------------------------------------------------------------------------

    def _conditions(self, view: View, conditions: dict[str, Any]) -> list[sa.ColumnElement]:
        table = self.store.tables[view.table]
        return [table.c[c] == v for c, v in {**view.where, **conditions}.items()]

    def _store_select(
        self, view: View, select: list[str] | None, needed: set[str]
    ) -> tuple[list[str] | None, list[str]]:
        """Split a $select into stored properties (plus what computed values and $expand need)."""
        if select is None:
            return None, list(view.computed)
        for name in select:
            if name not in view.by_name:
                raise bad_request(f"Could not find a property named '{name}' on type 'Microsoft.NAV.{view.type_name}'.")
        stored = [n for n in select if n in view.mapping]
        computed = [n for n in select if n not in view.mapping]
        if computed and view.compute:
            needed = needed | set(logic.COMPUTED[view.compute][1])
        stored += [n for n in needed if n not in stored]
        return stored, computed

    def _read(
        self,
        view: View,
        conditions: list[sa.ColumnElement],
        opts: odata.Options,
        *,
        page_size: int | None = None,
        after: str | None = None,
        skip: int | None = None,
        top: int | None = None,
        as_json: bool = False,
    ) -> tuple[list[dict] | msgspec.Raw, Page]:
        """Read rows of a view as public dicts that start with ``@odata.etag``.

        With ``as_json``, rows that need nothing computed or expanded come back as one JSON array
        written by SQLite (the same JSON the dicts encode to), without Python objects per row.
        """
        needed = {nav.local for nav in (view.navs_by_name.get(name) for name, _ in opts.expand) if nav}
        for name, _ in opts.expand:
            if name not in view.navs_by_name:
                raise bad_request(f"Could not find a property named '{name}' on type 'Microsoft.NAV.{view.type_name}'.")
        stored, computed = self._store_select(view, opts.select, needed)
        public = stored if stored is not None else list(view.mapping)
        as_json = as_json and not computed and not opts.expand
        try:
            page = self._page(
                view,
                public,
                conditions,
                opts,
                top=opts.top if top is None else top,
                skip=opts.skip if skip is None else skip,
                page_size=page_size,
                after=after,
                as_json=as_json,
            )
        except QueryError as exc:
            raise bad_request(_query_message(exc, view)) from None
        if as_json:
            return msgspec.Raw(b"[" + b",".join([r[0] for r in page.rows]) + b"]"), page
        keys = ("@odata.etag", *public)
        # zip stops at the keys: the trailing row number column is left out
        rows = [dict(zip(keys, r, strict=False)) for r in page.rows]
        flags = [name for name in public if view.es.by_name[view.mapping[name]].type == "bool"]
        if flags:
            for row in rows:
                for name in flags:
                    row[name] = row[name] == 1
        if computed and view.compute:
            logic.COMPUTED[view.compute][0](self.ctx, rows)
        for name, sub in opts.expand:
            self._expand(view, view.navs_by_name[name], sub, rows)
        if opts.select is not None:
            keep = ["@odata.etag", *opts.select, *(name for name, _ in opts.expand if name not in opts.select)]
            if rows and len(keep) != len(rows[0]):  # drop what only computed values and $expand needed
                rows = [{k: row[k] for k in keep} for row in rows]
        return rows, page

    def _page(
        self,
        view: View,
        public: list[str],
        conditions: list[sa.ColumnElement],
        opts: odata.Options,
        *,
        top: int | None,
        skip: int,
        page_size: int | None,
        after: str | None,
        as_json: bool = False,
    ) -> Page:
        """One page of raw rows (ETag, public values..., row number), keyset-paged like ``Store.page``.

        The SQL is built with the store's own ``$filter`` and ``$orderby`` translation (odata-query)
        and run on the SQLite connection directly: large pages skip the ORM-level row objects.
        """
        store = self.store
        table = store.tables[view.table]
        where = list(conditions)
        if opts.filter:
            where.append(store.where(view.es, opts.filter, view.mapping))
        total = None
        if opts.count:
            total = store.conn_scalar(sa.select(sa.func.count()).select_from(table).where(*where))
        row_column = table.c[ROW_COLUMN]
        columns = [table.c[view.mapping[n]].label(n) for n in public]
        # The ETag is kept with the row: no Python per row, so SQLite runs without holding the GIL.
        etag = table.c[ETAG_COLUMN].label("_etag")
        if as_json:
            # As bytes: the UTF-8 SQLite wrote goes out as it is, never decoded into Python strings.
            statement = sa.select(sa.cast(self._json_object(view, public, etag), sa.LargeBinary), row_column).where(
                *where
            )
        else:
            statement = sa.select(etag, *columns, row_column).where(*where)
        if opts.orderby:
            statement = statement.order_by(*store.order_by(view.es, opts.orderby, view.mapping), row_column)
        else:
            statement = statement.order_by(row_column)
            if after is not None:
                statement = statement.where(row_column > int(after))
        limit = top
        if page_size is not None and (limit is None or page_size < limit):
            limit = page_size
        if skip:
            statement = statement.offset(skip)
        if limit is not None:
            statement = statement.limit(limit + 1)
        compiled = statement.compile(store.engine, compile_kwargs={"render_postcompile": True})
        params = [compiled.params[name] for name in compiled.positiontup or ()]
        rows = store.conn.connection.driver_connection.execute(str(compiled), params).fetchall()
        more = limit is not None and len(rows) > limit and (top is None or limit < top)
        if limit is not None:
            rows = rows[:limit]
        page = Page(rows, count=total)
        if more:
            if opts.orderby:
                page.next_offset = skip + len(rows)
            else:
                page.next_after = str(rows[-1][-1])
        return page

    def _json_object(self, view: View, public: list[str], etag: sa.ColumnElement) -> sa.ColumnElement:
        """SQLite's ``json_object`` of a row, with the values and in the form msgspec writes them."""
        table = self.store.tables[view.table]
        parts: list[Any] = [sa.literal_column("'@odata.etag'"), etag]
        for name in public:
            column = table.c[view.mapping[name]]
            kind = view.es.by_name[view.mapping[name]].type
            if kind == "bool":
                value = sa.func.json(
                    sa.case((column == 1, sa.literal_column("'true'")), else_=sa.literal_column("'false'"))
                )
            else:  # decimals too: the store keeps 15 significant digits, which SQLite writes exactly
                value = column
            parts += [sa.literal_column(f"'{name}'"), value]
        return sa.func.json_object(*parts)

    def _expand(self, view: View, nav: Any, sub: odata.Options, rows: list[dict]) -> None:
        target = API[nav.target]
        values = list({r[nav.local] for r in rows})
        remote_column = target.mapping[nav.remote]
        sub_opts = odata.Options(filter=sub.filter, select=sub.select, orderby=sub.orderby)
        if sub.select is not None and nav.remote not in sub.select:
            sub_opts.select = [*sub.select, nav.remote]
        if nav.many and sub_opts.orderby is None and "sequence" in target.by_name:
            sub_opts.orderby = "sequence"
        found: dict[Any, list[dict]] = defaultdict(list)
        table = self.store.tables[target.table]
        for start in range(0, len(values), 900):
            chunk = values[start : start + 900]
            conditions = [*self._conditions(target, {}), table.c[remote_column].in_(chunk)]
            related, _ = self._read(target, conditions, sub_opts)
            for r in related:
                found[r[nav.remote]].append(r)
        drop_remote = sub.select is not None and nav.remote not in sub.select
        for r in rows:
            matches = found.get(r[nav.local], [])
            if drop_remote:
                matches = [{k: v for k, v in m.items() if k != nav.remote} for m in matches]
            if nav.many:
                r[nav.name] = matches[sub.skip :][: sub.top] if sub.top is not None else matches[sub.skip :]
            else:
                r[nav.name] = matches[0] if matches else None

    def _list(self, req: Request, view: View, conditions: dict[str, Any], context: str) -> Response:
        if "GET" not in view.methods:
            raise method_not_allowed("GET", view.name)
        response = None if req.in_batch else self._ahead.take(self._key(req))
        if response is not None:
            self._follow_next(req, view, conditions, context, response.payload)
            return Response(response.status, response.payload, dict(response.headers), response.raw)
        opts, pairs = odata.parse_query(req.query)
        if view.needs_document and "Document_Id" not in conditions:
            self._require_document_filter(view, opts.filter)
        page_size, applied = odata.max_page_size(req.headers.get("prefer"))
        fingerprint = odata.query_fingerprint(req.path, pairs)
        after, skip, served = None, opts.skip, 0
        if opts.skiptoken is not None:
            state = odata.decode_token(opts.skiptoken, fingerprint)
            after, served = state.get("a"), int(state.get("n", 0))
            skip = int(state.get("o") or 0)
        top = None if opts.top is None else max(opts.top - served, 0)
        rows, page = self._read(
            view,
            self._conditions(view, conditions),
            opts,
            page_size=page_size,
            after=after,
            skip=skip,
            top=top,
            as_json=True,
        )
        suffix = "(" + ",".join(opts.select) + ")" if opts.select is not None else ""
        payload: dict[str, Any] = {"@odata.context": context + suffix}
        if opts.count:
            payload["@odata.count"] = page.count
        payload["value"] = rows
        if page.next_after is not None or page.next_offset is not None:
            token = odata.encode_token(
                {"a": page.next_after, "o": page.next_offset, "n": served + len(page.rows), "h": fingerprint}
            )
            kept = [(k, v) for k, v in pairs if k != "$skiptoken"] + [("$skiptoken", token)]
            query = urlencode(kept, quote_via=quote, safe="$'(),:")
            payload["@odata.nextLink"] = f"{req.base}{req.path}?{query}"
        headers = {"content-type": JSON_TYPE, "odata-version": "4.0"}
        if applied:
            headers["preference-applied"] = f"odata.maxpagesize={page_size}"
        self._follow_next(req, view, conditions, context, payload)
        return Response(200, payload, headers)

    def _follow_next(self, req: Request, view: View, conditions: dict[str, Any], context: str, payload: dict) -> None:
        """Remember the nextLink of a page served to a client, for :meth:`read_ahead`."""
        link = payload.get("@odata.nextLink")
        if link is None or req.in_batch:
            self._follow = None
            return
        nxt = Request("GET", req.path, link.partition("?")[2], req.headers, b"", req.base)
        self._follow = (nxt, view, conditions, context)

    def _require_document_filter(self, view: View, odata_filter: str | None) -> None:
        """BC's line pages refuse to list lines across documents."""

        def pins(node) -> bool:
            if isinstance(node, oast.BoolOp) and isinstance(node.op, oast.And):
                return pins(node.left) or pins(node.right)
            return (
                isinstance(node, oast.Compare)
                and isinstance(node.comparator, oast.Eq)
                and isinstance(node.left, oast.Identifier)
                and node.left.name in ("documentId", "id")
            )

        if odata_filter:
            try:
                if pins(ODataParser().parse(ODataLexer().tokenize(odata_filter))):
                    return
            except Exception:  # a malformed filter is reported by the store with its own message
                return
        raise bad_request(
            f"You must specify an Id or a Document Id to get the lines: add $filter=documentId eq <id> to "
            f"{view.name}, or read them through the document (with $expand={view.name})."
        )

    def _entity_payload(self, req: Request, view: View, row: dict, context: str, opts: odata.Options) -> dict:
        table = self.store.tables[view.table]
        rows, _ = self._read(view, [table.c.SystemId == row["SystemId"]], opts)
        if not rows:
            raise record_not_found(t.caption(view.table), f"Id='{row['SystemId']}'")
        suffix = "(" + ",".join(opts.select) + ")" if opts.select is not None else ""
        return {"@odata.context": f"{context}{suffix}/$entity", **rows[0]}

    def _entity_headers(self, payload: dict) -> dict[str, str]:
        return {"content-type": JSON_TYPE, "odata-version": "4.0", "etag": payload["@odata.etag"]}

    def _get(self, req: Request, view: View, row: dict, context: str) -> Response:
        if "GET" not in view.methods:
            raise method_not_allowed("GET", view.name)
        opts, _ = odata.parse_query(req.query)
        payload = self._entity_payload(req, view, row, context, opts)
        return Response(200, payload, self._entity_headers(payload))

    # -- writing -----------------------------------------------------------------------------

    def _body(self, req: Request) -> dict:
        try:
            body = json.loads(req.body or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise bad_request(f"The request body is not valid JSON: {exc}.") from None
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object with the properties to set.")
        return body

    def _convert(self, view: View, body: dict, creating: bool) -> dict:
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
            out[prop.column] = self._value(view, prop.name, view.es.by_name[prop.column], value)
        return out

    def _value(self, view: View, name: str, f: Any, value: Any) -> Any:
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
            raise bad_request(
                f"The property '{name}' of {view.type_name} cannot be null; send a value or leave it out."
            )
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

    def _create(self, req: Request, view: View, conditions: dict[str, Any], context: str) -> Response:
        if "POST" not in view.methods:
            raise method_not_allowed("POST", view.name)
        body = self._body(req)
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
        values = self._convert(view, body, creating=True)
        values.update(view.where)
        values.update(conditions)
        with self.store.transaction():
            row = self._insert(view, values)
            for name, items in nested.items():
                nav = view.navs_by_name[name]
                target = API[nav.target]
                link = {target.mapping[nav.remote]: row[view.mapping[nav.local]]}
                for item in items:
                    child = self._convert(target, item, creating=True)
                    self._insert(target, {**child, **target.where, **link})
        opts, _ = odata.parse_query(req.query)
        payload = self._entity_payload(req, view, row, context, opts)
        headers = self._entity_headers(payload)
        headers["location"] = f"{context.replace('/$metadata#', '/')}({self._key_text(view, row)})"
        return Response(201, payload, headers)

    def _insert(self, view: View, values: dict) -> dict:
        logic.before_write(self.ctx, view.table, values, None)
        self._check_keys(view.table, values, None)
        try:
            row = self.store.insert(view.table, values, trusted=True)
        except (ValidationError, DuplicateKeyError) as exc:
            raise self._store_error(exc, view) from None
        logic.after_write(self.ctx, view.table, row, None)
        return row

    def _check_if_match(self, req: Request, row: dict) -> None:
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

    def _update(self, req: Request, view: View, row: dict, context: str) -> Response:
        if "PATCH" not in view.methods:
            raise method_not_allowed("PATCH", view.name)
        self._check_if_match(req, row)
        values = self._convert(view, self._body(req), creating=False)
        with self.store.transaction():
            logic.before_write(self.ctx, view.table, values, row)
            self._check_keys(view.table, values, row)
            try:
                new = self.store.update(view.table, row["SystemId"], values, trusted=True)
            except (ValidationError, DuplicateKeyError) as exc:
                raise self._store_error(exc, view) from None
            except NotFoundError:
                raise record_not_found(t.caption(view.table), f"Id='{row['SystemId']}'") from None
            logic.after_write(self.ctx, view.table, new, row)
        opts, _ = odata.parse_query(req.query)
        payload = self._entity_payload(req, view, new, context, opts)
        return Response(200, payload, self._entity_headers(payload))

    def _delete(self, req: Request, view: View, row: dict) -> Response:
        if "DELETE" not in view.methods:
            raise method_not_allowed("DELETE", view.name)
        self._check_if_match(req, row)
        with self.store.transaction():
            logic.before_delete(self.ctx, view.table, row)
            self.store.delete(view.table, row["SystemId"])
            logic.after_delete(self.ctx, view.table, row)
        return Response(204)

    def _action(self, req: Request, view: View, row: dict, name: str) -> Response:
        function = view.actions.get(name)
        if function is None:
            raise not_found_segment(f"Microsoft.NAV.{name}")
        self._only(req, "POST", f"Microsoft.NAV.{name}")
        with self.store.transaction():
            logic.ACTIONS[function](self.ctx, row)
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

    def _store_error(self, exc: Exception, view: View) -> BCError:
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

    # -- $batch ------------------------------------------------------------------------------

    def _batch(self, req: Request) -> Response:
        content_type = req.headers.get("content-type", "")
        if "json" not in content_type:
            raise bad_request(
                "Send the $batch in the JSON batch format (Content-Type: application/json, body "
                '{"requests": [...]}); the multipart format is not served here.'
            )
        body = self._body(req)
        requests_ = body.get("requests")
        if not isinstance(requests_, list):
            raise bad_request('The $batch body must be a JSON object with a "requests" array.')
        if len(requests_) > MAX_BATCH:
            raise bad_request(
                f"The batch has {len(requests_)} operations; the maximum is {MAX_BATCH}. Split it into smaller batches."
            )
        isolated = req.headers.get("isolation", "").strip().lower() == "snapshot"
        base_path = req.path[: -len("$batch")]
        responses: list[dict] = []
        try:
            with self.store.transaction():
                failed = False
                for op in requests_:
                    if failed:
                        responses.append(self._not_run(op))
                        continue
                    result = self._batch_operation(req, op, base_path)
                    responses.append(result)
                    if isolated and result["status"] >= 400:
                        failed = True
                if failed:
                    raise _Rollback
        except _Rollback:
            pass
        return self._json(200, {"responses": responses})

    def _not_run(self, op: Any) -> dict:
        op_id = op.get("id") if isinstance(op, dict) else None
        return {
            "id": op_id,
            "status": 424,
            "headers": {"content-type": JSON_TYPE},
            "body": error_body(
                "BadRequest_FailedDependency",
                "This operation was not run: an earlier operation of this isolated batch failed and the batch was rolled back.",
            ),
        }

    def _batch_operation(self, req: Request, op: Any, base_path: str) -> dict:
        if not isinstance(op, dict):
            return {
                "id": None,
                "status": 400,
                "headers": {"content-type": JSON_TYPE},
                "body": error_body("BadRequest", "Each batch request must be a JSON object with method and url."),
            }
        op_id = op.get("id")
        method = str(op.get("method", "")).upper()
        url = op.get("url")
        if method not in ("GET", "POST", "PATCH", "DELETE", "PUT") or not isinstance(url, str):
            return {
                "id": op_id,
                "status": 400,
                "headers": {"content-type": JSON_TYPE},
                "body": error_body(
                    "BadRequest", "A batch request needs a method (GET, POST, PATCH, DELETE) and a url."
                ),
            }
        parts = urlsplit(url)
        # absolute URLs and absolute paths are taken as they are; others are relative to api/v2.0/
        path = parts.path if parts.scheme or url.startswith("/") else base_path + parts.path
        headers = {str(k).lower(): str(v) for k, v in (op.get("headers") or {}).items()}
        body = op.get("body")
        raw = b"" if body is None else json.dumps(body).encode()
        if self.controls is not None:
            self.controls.count_operation(method, self.entity_of(path))
        sub = Request(method, path, parts.query, headers, raw, req.base, in_batch=True)
        try:
            with self.store.transaction():
                response = self.handle(sub)
                if response.status >= 400:
                    raise _Rollback
        except _Rollback:
            pass
        out = {"id": op_id, "status": response.status, "headers": response.headers}
        if response.payload is not None:
            out["body"] = response.payload
        return out

    # -- helpers -----------------------------------------------------------------------------

    def _json(self, status: int, payload: Any) -> Response:
        return Response(status, payload, {"content-type": JSON_TYPE, "odata-version": "4.0"})

    def _select(self, entity: dict, select: list[str] | None, type_name: str) -> dict:
        if select is None:
            return entity
        for name in select:
            if name not in entity:
                raise bad_request(f"Could not find a property named '{name}' on type 'Microsoft.NAV.{type_name}'.")
        return {k: v for k, v in entity.items() if k in select}


def _query_message(exc: QueryError, view: View) -> str:
    """The store's query error in the words of the view (its public names and entity type)."""
    if exc.field and exc.field in view.computed:
        return f"The property '{exc.field}' is computed and cannot be used in $filter or $orderby."
    if exc.field and exc.message.startswith("Could not find a property named"):
        return f"Could not find a property named '{exc.field}' on type 'Microsoft.NAV.{view.type_name}'."
    return exc.message.replace(f"on '{view.table}'", f"on type 'Microsoft.NAV.{view.type_name}'")
