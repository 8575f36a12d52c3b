"""Reads of the BC emulator: key lookups, pages of a view ($filter, $select, $expand), entities and listings.

Listings are paged by the server (``$skiptoken``); the next page of the last one served is read
ahead (:meth:`Reader.read_ahead`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any
from urllib.parse import quote, urlencode

import msgspec
import sqlalchemy as sa
from odata_query import ast as oast
from odata_query.grammar import ODataLexer, ODataParser

from include.sandbox.bc import odata
from include.sandbox.bc import tables as t
from include.sandbox.bc.errors import bad_request, method_not_allowed, record_not_found
from include.sandbox.bc.figures import COMPUTED
from include.sandbox.bc.messages import JSON_TYPE, Request, Response
from include.sandbox.bc.records import Ctx
from include.sandbox.bc.views import API, View
from include.sandbox.store import ETAG_COLUMN, ROW_COLUMN, Page, PageAhead, QueryError, Store

log = logging.getLogger(__name__)


class Reader:
    """Serves the reads of one store's views."""

    def __init__(self, store: Store, ctx: Ctx):
        self.store = store
        self.ctx = ctx
        # Read-ahead of listings: while a client receives a page, its next page is computed.
        self._follow: tuple[Request, View, dict[str, Any], str] | None = None
        self._ahead = PageAhead(store)

    def clear(self) -> None:
        """Forget the listing last served and the page read ahead for it (the store is being reset)."""
        self._follow = None
        self._ahead.clear()

    def read_ahead(self) -> None:
        """Compute the next page of the last listing served (see :meth:`Engine.read_ahead`)."""
        follow, self._follow = self._follow, None
        if follow is None:
            return
        req, view, conditions, context = follow
        changes = self.store.changes()
        try:
            response = self.listing(req, view, conditions, context)
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

    def lookup(self, view: View, key: tuple[odata.KeyPart, ...], conditions: dict[str, Any]) -> dict:
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

    def _conditions(self, view: View, conditions: dict[str, Any]) -> list[sa.ColumnElement]:
        table = self.store.tables[view.table]
        return [table.c[c] == v for c, v in {**view.where, **conditions}.items()]

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
        stored, computed = store_select(view, opts.select, needed)
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
            COMPUTED[view.compute][0](self.ctx, rows)
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

    def listing(self, req: Request, view: View, conditions: dict[str, Any], context: str) -> Response:
        if "GET" not in view.methods:
            raise method_not_allowed("GET", view.name)
        response = None if req.in_batch else self._ahead.take(self._key(req))
        if response is not None:
            self._follow_next(req, view, conditions, context, response.payload)
            return Response(response.status, response.payload, dict(response.headers), response.raw)
        opts, pairs = odata.parse_query(req.query)
        if view.needs_document and "Document_Id" not in conditions:
            require_document_filter(view, opts.filter)
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

    def entity_payload(self, req: Request, view: View, row: dict, context: str, opts: odata.Options) -> dict:
        table = self.store.tables[view.table]
        rows, _ = self._read(view, [table.c.SystemId == row["SystemId"]], opts)
        if not rows:
            raise record_not_found(t.caption(view.table), f"Id='{row['SystemId']}'")
        suffix = "(" + ",".join(opts.select) + ")" if opts.select is not None else ""
        return {"@odata.context": f"{context}{suffix}/$entity", **rows[0]}

    def get(self, req: Request, view: View, row: dict, context: str) -> Response:
        if "GET" not in view.methods:
            raise method_not_allowed("GET", view.name)
        opts, _ = odata.parse_query(req.query)
        payload = self.entity_payload(req, view, row, context, opts)
        return Response(200, payload, entity_headers(payload))


def key_text(view: View, row: dict) -> str:
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


def store_select(view: View, select: list[str] | None, needed: set[str]) -> tuple[list[str] | None, list[str]]:
    """Split a $select into stored properties (plus what computed values and $expand need)."""
    if select is None:
        return None, list(view.computed)
    for name in select:
        if name not in view.by_name:
            raise bad_request(f"Could not find a property named '{name}' on type 'Microsoft.NAV.{view.type_name}'.")
    stored = [n for n in select if n in view.mapping]
    computed = [n for n in select if n not in view.mapping]
    if computed and view.compute:
        needed = needed | set(COMPUTED[view.compute][1])
    stored += [n for n in needed if n not in stored]
    return stored, computed


def require_document_filter(view: View, odata_filter: str | None) -> None:
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


def entity_headers(payload: dict) -> dict[str, str]:
    return {"content-type": JSON_TYPE, "odata-version": "4.0", "etag": payload["@odata.etag"]}


def _query_message(exc: QueryError, view: View) -> str:
    """The store's query error in the words of the view (its public names and entity type)."""
    if exc.field and exc.field in view.computed:
        return f"The property '{exc.field}' is computed and cannot be used in $filter or $orderby."
    if exc.field and exc.message.startswith("Could not find a property named"):
        return f"Could not find a property named '{exc.field}' on type 'Microsoft.NAV.{view.type_name}'."
    return exc.message.replace(f"on '{view.table}'", f"on type 'Microsoft.NAV.{view.type_name}'")
