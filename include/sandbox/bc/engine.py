"""The request handler of the BC emulator: authentication, routing, the company, and dispatch to reads and writes.

It works on plain request/response objects (:mod:`include.sandbox.bc.messages`) so that a
``$batch`` can run its operations through the same code as single requests (:meth:`Engine.handle`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

from include.sandbox.bc import metadata, odata
from include.sandbox.bc import tables as t
from include.sandbox.bc.batch import run_batch
from include.sandbox.bc.errors import BCError, bad_request, method_not_allowed, not_found_segment, record_not_found
from include.sandbox.bc.messages import Request, Response, error_response, json_response, only
from include.sandbox.bc.reading import Reader, key_text
from include.sandbox.bc.records import Ctx
from include.sandbox.bc.views import API, WEB_SERVICES, View
from include.sandbox.bc.writing import Writer
from include.sandbox.config import SandboxConfig
from include.sandbox.control import Controls
from include.sandbox.store import VERSION_COLUMN, EntitySet, Field, QueryError, Store
from include.sandbox.tokens import TokenAuthority, TokenError

log = logging.getLogger(__name__)


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


class Engine:
    """Serves the BC API v2.0 and the published web services from one store."""

    def __init__(self, config: SandboxConfig, store: Store, authority: TokenAuthority):
        self.config = config
        self.store = store
        self.authority = authority
        self.ctx = Ctx(store, config)
        self.controls: Controls | None = None
        # One request at a time: the store is a single SQLite connection. Reentrant for $batch.
        self.lock = threading.RLock()
        self.all_sets = {*API, *WEB_SERVICES, "companies", "Company", "$batch", "$metadata"}
        # The environment's one company, in a store of its own so $filter and $select work on it.
        self._companies = Store([COMPANY_SET])
        self._companies.insert_many("companies", [self._company()])
        self.reader = Reader(store, self.ctx)
        self.writer = Writer(store, self.ctx, self.reader)

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
            self.reader.clear()
            self.store.reset()
            load()

    def read_ahead(self) -> None:
        """Compute the next page of the last listing served, so that following its nextLink is quick.

        Run between requests (the app queues it behind the request on its worker). The page is
        kept with the store's count of changed rows and the date, and served only while both are
        the same: any write (or a computed value that depends on the day) makes it stale.
        """
        with self.lock:
            self.reader.read_ahead()

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
        """A valid token of the integration application, the one app set up as a BC user (401 otherwise)."""
        try:
            claims = self.authority.validate(req.headers.get("authorization"), self.config.bc_resource)
        except TokenError as exc:
            messages = {
                "MissingToken": "The request has no bearer token. Send 'Authorization: Bearer <token>' with a token "
                f"issued for {self.config.bc_resource}.",
                "ExpiredAuthTicket": "The access token has expired. Request a new token and retry.",
                "InvalidAudience": "The access token was not issued for Business Central; request it with the scope "
                f"{self.config.bc_resource}/.default.",
            }
            default = "The server has rejected the client credentials: the access token is not valid."
            raise self._unauthorized(messages.get(exc.code, default), exc.code != "MissingToken") from None
        if claims.get("appid") != self.config.client_id:
            raise self._unauthorized(
                f"The server has rejected the client credentials: the application {claims.get('appid')} is not set "
                "up as a user in Business Central (Microsoft Entra Applications).",
                True,
            )

    def _unauthorized(self, message: str, invalid_token: bool) -> BCError:
        challenge = (
            f'Bearer authorization_uri="{self.config.authority}/oauth2/authorize", '
            f'resource_id="{self.config.bc_resource}"'
        )
        if invalid_token:
            challenge += ', error="invalid_token"'
        return BCError(401, "Authentication_InvalidCredentials", message, {"www-authenticate": challenge})

    # -- API v2.0 ----------------------------------------------------------------------------

    def _api_root(self, req: Request) -> str:
        c = self.config
        return f"{req.base}/v2.0/{c.tenant_id}/{c.bc_environment}/api/v2.0"

    def _api(self, req: Request, segs: list[str]) -> Response:
        root = self._api_root(req)
        if not segs:
            only(req, "GET", "service document")
            value = [{"name": "companies", "kind": "EntitySet", "url": "companies"}]
            value += [{"name": name, "kind": "EntitySet", "url": name} for name in API]
            return json_response(200, {"@odata.context": f"{root}/$metadata", "value": value})
        head = odata.parse_segment(segs[0])
        if head.name == "$metadata" and len(segs) == 1:
            only(req, "GET", "$metadata")
            return Response(200, headers={"content-type": "application/xml"}, raw=metadata.api_document())
        if head.name == "$batch" and len(segs) == 1:
            if req.in_batch:
                raise bad_request("A $batch request cannot contain another $batch request.")
            only(req, "POST", "$batch")
            return run_batch(self, req)
        if head.name == "companies":
            if head.key is None:
                if len(segs) > 1:
                    raise not_found_segment(segs[1])
                only(req, "GET", "companies")
                return self._list_companies(req, root)
            company_id = head.key[0].value if len(head.key) == 1 else None
            if not isinstance(company_id, str) or company_id.lower() != self.config.company_id:
                raise BCError(
                    404,
                    "Internal_CompanyNotFound",
                    f"The company with id {company_id} does not exist in this environment.",
                )
            if len(segs) == 1:
                only(req, "GET", "companies")
                opts, _ = odata.parse_query(req.query)
                body = {
                    "@odata.context": f"{root}/$metadata#companies/$entity",
                    **self._select(self._company(), opts.select, "company"),
                }
                return json_response(200, body)
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
        return json_response(200, payload)

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
            only(req, "GET", "service document")
            value = [{"name": "Company", "kind": "EntitySet", "url": "Company"}]
            value += [{"name": name, "kind": "EntitySet", "url": name} for name in WEB_SERVICES]
            return json_response(200, {"@odata.context": f"{root}/$metadata", "value": value})
        head = odata.parse_segment(segs[0])
        if head.name == "$metadata" and len(segs) == 1:
            only(req, "GET", "$metadata")
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
                only(req, "GET", "Company")
                return json_response(200, {"@odata.context": f"{root}/$metadata#Company", "value": [company_entity]})
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
                only(req, "GET", "Company")
                return json_response(200, {"@odata.context": f"{root}/$metadata#Company/$entity", **company_entity})
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
                row = self.reader.lookup(view, key, conditions)
            i += 1
            if i == len(segs):
                break
            seg = segs[i]
            if row is None:
                raise not_found_segment(seg)
            if seg.startswith("Microsoft.NAV."):
                if i != len(segs) - 1:
                    raise not_found_segment(segs[i + 1])
                return self.writer.action(req, view, row, seg[len("Microsoft.NAV.") :])
            nav_seg = odata.parse_segment(seg)
            nav = view.navs_by_name.get(nav_seg.name)
            if nav is None:
                raise not_found_segment(nav_seg.name)
            target = API[nav.target]
            local_value = row[view.mapping[nav.local]]
            remote_column = target.mapping[nav.remote]
            context += f"({key_text(view, row)})/{nav.name}"
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
                return self.reader.listing(req, view, conditions, context)
            if req.method == "POST":
                return self.writer.create(req, view, conditions, context)
            raise method_not_allowed(req.method, view.name)
        return self._entity_response(req, view, row, context, False)

    def _entity_response(self, req: Request, view: View, row: dict, context: str, via_nav: bool) -> Response:
        if req.method == "GET":
            return self.reader.get(req, view, row, context)
        if via_nav:
            raise method_not_allowed(req.method, view.name)
        if req.method == "PATCH":
            return self.writer.update(req, view, row, context)
        if req.method == "DELETE":
            return self.writer.delete(req, view, row)
        raise method_not_allowed(req.method, view.name)

    # -- helpers -----------------------------------------------------------------------------

    def _select(self, entity: dict, select: list[str] | None, type_name: str) -> dict:
        if select is None:
            return entity
        for name in select:
            if name not in entity:
                raise bad_request(f"Could not find a property named '{name}' on type 'Microsoft.NAV.{type_name}'.")
        return {k: v for k, v in entity.items() if k in select}
