"""Reading rows: query options, server-driven paging, ``$expand`` and formatted-value annotations.

Supported: ``$select`` (the primary key is always returned), ``$filter`` (parsed by the store
with the ``odata-query`` library), ``$orderby``, ``$top`` (at most 5,000 rows, no paging),
``$count=true`` (``@odata.count``, capped at 5,000 with
``@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded``), ``$expand`` of single-valued
navigation properties (lookups, with a nested ``$select``) and ``Prefer:
odata.include-annotations`` (FormattedValue of options, booleans and lookups;
``lookuplogicalname`` and ``associatednavigationproperty`` of lookups). Pages hold
``Prefer: odata.maxpagesize`` rows (default and maximum 5,000); ``@odata.nextLink`` repeats the
query with a ``$skiptoken`` shaped like Dataverse's paging cookie. ``$skip`` is rejected, as
Dataverse rejects it; ``$apply``, ``$search``, ``fetchXml`` and saved queries are not emulated.

Speed: without ``$expand`` and annotations, SQLite renders each row's JSON itself (``json_object``)
and pages are joined as bytes, so a page of 5,000 rows with a few columns costs about 15 ms; the
other path builds dicts and serialises them with ``msgspec``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote

import msgspec
import sqlalchemy as sa

from include.sandbox.dataverse.errors import odata_error
from include.sandbox.dataverse.schema import BY_LOGICAL, Table
from include.sandbox.dataverse.urls import MAX_PAGE_SIZE, Prefer, paging_cookie, read_paging_cookie
from include.sandbox.store import ROW_COLUMN as ROW
from include.sandbox.store import VERSION_COLUMN as VERSION
from include.sandbox.store import QueryError, Store

FORMATTED = "OData.Community.Display.V1.FormattedValue"
LOOKUP_LOGICAL = "Microsoft.Dynamics.CRM.lookuplogicalname"
ASSOCIATED_NAV = "Microsoft.Dynamics.CRM.associatednavigationproperty"
_encode = msgspec.json.Encoder().encode

_QUERY_OPTIONS = {"$select", "$filter", "$orderby", "$top", "$count", "$expand", "$skiptoken"}
_UNSUPPORTED = {
    "$skip": "The query parameter $skip is not supported. Page with Prefer: odata.maxpagesize and follow "
    "@odata.nextLink instead.",
    "$apply": "Aggregation with $apply is not supported by this service.",
    "$search": "$search is not supported by this service.",
    "$compute": "$compute is not supported by this service.",
    "$deltatoken": "Change tracking ($deltatoken) is not supported by this service.",
    "fetchXml": "FetchXML queries are not supported by this service; use $filter.",
    "savedQuery": "Saved queries are not supported by this service.",
    "userQuery": "User queries are not supported by this service.",
    "sql": "SQL queries are not supported by this service.",
}


@dataclass
class Expand:
    nav: str
    select: list[str] | None


class Reader:
    """Turns query options into store pages and rows into Web API JSON."""

    def __init__(self, store: Store, api_url: str):
        self.store = store
        self.api_url = api_url
        self._expressions: dict[tuple, str] = {}

    # -- options --------------------------------------------------------------------------------

    def select(self, table: Table, text: str | None) -> list[str] | None:
        if not text:
            return None
        names = [n.strip() for n in text.split(",") if n.strip()]
        for name in names:
            if name not in table.by_attribute and name != "versionnumber":
                raise odata_error(
                    f"Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.{table.logical}'."
                    + self._lookup_hint(table, name)
                )
        return names

    @staticmethod
    def _lookup_hint(table: Table, name: str) -> str:
        column = table.by_name.get(name)
        if column is not None and column.kind == "lookup":
            return f" Lookups are read as '{column.attribute}'."
        return ""

    def expand(self, table: Table, text: str | None) -> list[Expand]:
        if not text:
            return []
        out = []
        for item in _split_top_level(text):
            nav, _, rest = item.strip().partition("(")
            nav = nav.strip()
            if nav not in table.navigation:
                raise odata_error(
                    f"Could not find a property named '{nav}' on type 'Microsoft.Dynamics.CRM.{table.logical}'. "
                    "Only single-valued navigation properties (lookups) can be expanded here."
                )
            select = None
            if rest:
                options = rest.rstrip().removesuffix(")")
                for option in options.split(";"):
                    key, _, value = option.partition("=")
                    if key.strip() == "$select":
                        target = BY_LOGICAL[table.navigation[nav][1]]
                        select = self.select(target, value)
                    elif key.strip():
                        raise odata_error(f"The option '{key.strip()}' is not supported inside $expand.")
            out.append(Expand(nav, select))
        return out

    def _columns(self, table: Table, select: list[str] | None) -> list[str] | None:
        if select is None:
            return None
        columns = [table.primary_id] + [s for s in select if s != "versionnumber" and s != table.primary_id]
        return columns

    # -- collections ----------------------------------------------------------------------------

    def query(
        self, table: Table, params: list[tuple[str, str]], prefer: Prefer, link_path: str
    ) -> tuple[bytes, dict[str, str], str | None]:
        """A collection GET: returns the encoded JSON body, extra response headers and the next
        page's target (path and query under the API root) when there is one."""
        options: dict[str, str] = {}
        for key, value in params:
            if key in _UNSUPPORTED:
                raise odata_error(_UNSUPPORTED[key])
            if key.startswith("$") and key not in _QUERY_OPTIONS:
                raise odata_error(f"The query parameter '{key}' is not supported.")
            options[key] = value
        select = self.select(table, options.get("$select"))
        expand = self.expand(table, options.get("$expand"))
        count = _boolean(options.get("$count"), "$count")
        top = None
        if "$top" in options:
            try:
                top = int(options["$top"])
            except ValueError:
                raise odata_error(f"Invalid value '{options['$top']}' for $top query option found.") from None
            if top < 0:
                raise odata_error(f"Invalid value '{top}' for $top query option found.")
            top = min(top, MAX_PAGE_SIZE)
        page_size = prefer.max_page_size or MAX_PAGE_SIZE
        page_number, after, skip = 1, None, 0
        orderby = options.get("$orderby")
        if "$skiptoken" in options:
            cookie = read_paging_cookie(options["$skiptoken"])
            page_number = cookie.page
            kind, value = cookie.position[:1], cookie.position[1:]
            if (kind == "o") != bool(orderby) or not value.isdigit():
                raise odata_error("The $skiptoken doesn't belong to this query. Follow @odata.nextLink as returned.")
            if kind == "o":
                skip = int(value)
            else:
                after = value
        headers: dict[str, str] = {}
        applied = []
        if prefer.max_page_size and top is None:
            applied.append(f"odata.maxpagesize={prefer.max_page_size}")
        if prefer.annotations:
            applied.append(f'odata.include-annotations="{prefer.annotations}"')
        if applied:
            headers["Preference-Applied"] = ",".join(applied)
        es = self.store.sets[table.entity_set]
        t = self.store.tables[table.entity_set]
        try:
            conditions = [self.store.where(es, options["$filter"])] if options.get("$filter") else []
            order = self.store.order_by(es, orderby) if orderby else []
        except QueryError as exc:
            raise odata_error(exc.message) from None
        limit = top if top is not None else page_size
        fast = not expand and not prefer.annotations
        columns = [t.c[ROW], t.c[table.primary_id]]
        if fast:
            # As bytes: the UTF-8 SQLite wrote goes out as it is, never decoded into Python strings.
            columns.append(sa.literal_column(f"CAST({self._json_expression(table, select)} AS BLOB)"))
        else:
            columns += [t.c[c] for c in self._columns(table, select) or table.attributes if c != table.primary_id]
            columns.append(t.c[VERSION])
        statement = sa.select(*columns).where(*conditions).order_by(*order, t.c[ROW])
        if after is not None:
            statement = statement.where(t.c[ROW] > int(after))
        if skip:
            statement = statement.offset(skip)
        result = self.store.conn.execute(statement.limit(limit + 1))
        rows = result.all()
        more = top is None and len(rows) > limit
        rows = rows[:limit]
        total = None
        if count:
            total = self.store.conn_scalar(sa.select(sa.func.count()).select_from(t).where(*conditions))
        head = {"@odata.context": self._context(table, select)}
        if total is not None:
            head["@odata.count"] = min(total, MAX_PAGE_SIZE)
            if total > MAX_PAGE_SIZE:
                head["@Microsoft.Dynamics.CRM.totalrecordcount"] = -1
                head["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] = True
        if fast:
            value = b"[" + b",".join([r[2] for r in rows]) + b"]"
        else:
            keys = list(result.keys())[1:]
            dicts = [dict(zip(keys, r[1:], strict=True)) for r in rows]
            value = _encode(self.rows(table, dicts, select, expand, prefer))
        tail = b""
        next_target = None
        if more:
            position = f"o{skip + len(rows)}" if orderby else f"r{rows[-1][0]}"
            token = paging_cookie(page_number + 1, table.primary_id, rows[0][1], rows[-1][1], position)
            kept = [(k, v) for k, v in params if k != "$skiptoken"] + [("$skiptoken", token)]
            next_target = f"{link_path}?" + "&".join(f"{k}={quote(v, safe=_SAFE)}" for k, v in kept)
            tail = b',"@odata.nextLink":' + _encode(f"{self.api_url}/{next_target}")
        return _encode(head)[:-1] + b',"value":' + value + tail + b"}", headers, next_target

    def _json_expression(self, table: Table, select: list[str] | None) -> str:
        """SQL that renders a row as its Web API JSON inside SQLite (json_object is C, and fast)."""
        key = (table.entity_set, tuple(select) if select is not None else None)
        cached = self._expressions.get(key)
        if cached is not None:
            return cached
        wanted = self._columns(table, select) or table.attributes
        pairs = [("@odata.etag", f"'W/\"' || \"{VERSION}\" || '\"'")]
        for name in wanted:
            column = table.by_attribute[name]
            if column.kind == "bool":
                value = (
                    f"CASE WHEN \"{name}\" IS NULL THEN NULL WHEN \"{name}\" THEN json('true') ELSE json('false') END"
                )
            else:
                value = f'"{name}"'
            pairs.append((name, value))
        if select is None or "versionnumber" in select:
            pairs.append(("versionnumber", f'"{VERSION}"'))
        # SQLite functions take at most 127 arguments: build the object in slices.
        head, rest = pairs[:60], pairs[60:]
        expression = "json_object(" + ", ".join(f"'{k}', {v}" for k, v in head) + ")"
        while rest:
            chunk, rest = rest[:60], rest[60:]
            inserts = ", ".join(f"'$.\"{k}\"', {v}" for k, v in chunk)
            expression = f"json_insert({expression}, {inserts})"
        self._expressions[key] = expression
        return expression

    def count(self, table: Table, params: list[tuple[str, str]]) -> int:
        options = dict(params)
        es = self.store.sets[table.entity_set]
        t = self.store.tables[table.entity_set]
        try:
            conditions = [self.store.where(es, options["$filter"])] if options.get("$filter") else []
        except QueryError as exc:
            raise odata_error(exc.message) from None
        total = self.store.conn_scalar(sa.select(sa.func.count()).select_from(t).where(*conditions))
        return min(total or 0, MAX_PAGE_SIZE)

    def _context(self, table: Table, select: list[str] | None, entity: bool = False) -> str:
        suffix = f"({','.join(select)})" if select else ""
        return f"{self.api_url}/$metadata#{table.entity_set}{suffix}" + ("/$entity" if entity else "")

    # -- single rows ----------------------------------------------------------------------------

    def single(
        self,
        table: Table,
        row: dict,
        select: list[str] | None,
        expand: list[Expand],
        prefer: Prefer,
    ) -> dict:
        if select is not None:
            keep = set(self._columns(table, select)) | {VERSION}
            row = {k: v for k, v in row.items() if k in keep}
        (shaped,) = self.rows(table, [dict(row)], select, expand, prefer)
        return {"@odata.context": self._context(table, select, entity=True), **shaped}

    # -- shaping --------------------------------------------------------------------------------

    def rows(
        self, table: Table, rows: list[dict], select: list[str] | None, expand: list[Expand], prefer: Prefer
    ) -> list[dict]:
        """Store rows -> Web API rows (``@odata.etag`` first, ``versionnumber`` from the row version)."""
        with_version = select is None or "versionnumber" in select
        out = []
        for row in rows:
            version = row.pop(VERSION)
            shaped = {"@odata.etag": f'W/"{version}"'}
            shaped.update(row)
            if with_version:
                shaped["versionnumber"] = version
            out.append(shaped)
        if expand and out:
            self._expand(table, out, expand)
        if prefer.annotations and out:
            self._annotate(table, out, prefer)
        return out

    def _expand(self, table: Table, rows: list[dict], expand: list[Expand]) -> None:
        for item in expand:
            column, target_logical = table.navigation[item.nav]
            target = BY_LOGICAL[target_logical]
            if column.attribute in rows[0]:
                values = {r[table.primary_id]: r.get(column.attribute) for r in rows}
            else:
                values = self._lookup_values(table, column.attribute, [r[table.primary_id] for r in rows])
            if column.type_column:
                # A polymorphic lookup expands only through the navigation property of its target type.
                kinds = self._lookup_values(table, column.type_column, [r[table.primary_id] for r in rows])
                values = {k: v for k, v in values.items() if kinds.get(k) == target_logical}
            ids = set(values.values()) - {None}
            found = {}
            columns = self._columns(target, item.select)
            for chunk in _chunks(sorted(ids), 500):
                page = self.store.page(
                    target.entity_set,
                    conditions=[self.store.tables[target.entity_set].c[target.primary_id].in_(chunk)],
                    select=columns,
                )
                for shaped in self.rows(target, page.rows, item.select, [], Prefer()):
                    found[shaped[target.primary_id]] = shaped
            for r in rows:
                r[item.nav] = found.get(values.get(r[table.primary_id]))

    def _lookup_values(self, table: Table, attribute: str, ids: list[str]) -> dict[str, str | None]:
        t = self.store.tables[table.entity_set]
        out: dict[str, str | None] = {}
        for chunk in _chunks(ids, 500):
            statement = sa.select(t.c[table.primary_id], t.c[attribute]).where(t.c[table.primary_id].in_(chunk))
            out.update(dict(self.store.conn.execute(statement).all()))
        return out

    def _annotate(self, table: Table, rows: list[dict], prefer: Prefer) -> None:
        formatted = prefer.wants(FORMATTED)
        logical = prefer.wants(LOOKUP_LOGICAL)
        associated = prefer.wants(ASSOCIATED_NAV)
        present = [c for c in table.columns if c.attribute in rows[0]]
        for column in present:
            attribute = column.attribute
            if column.kind in ("picklist", "state", "status") and formatted:
                labels = column.options or {}
                for r in rows:
                    value = r.get(attribute)
                    if value is not None:
                        r[f"{attribute}@{FORMATTED}"] = labels.get(value, str(value))
            elif column.kind == "bool" and formatted:
                for r in rows:
                    value = r.get(attribute)
                    if value is not None:
                        r[f"{attribute}@{FORMATTED}"] = "Yes" if value else "No"
            elif column.kind == "lookup" and (formatted or logical or associated):
                ids = {r.get(attribute) for r in rows} - {None}
                found: dict[str, tuple[str, str | None]] = {}
                for target_logical in column.targets:
                    target = BY_LOGICAL[target_logical]
                    for id, name in self._names(target, ids - found.keys()).items():
                        found[id] = (target_logical, name)
                nav_of = {t: nav for nav, t in column.navigation.items()}
                for r in rows:
                    value = r.get(attribute)
                    if value is None or value not in found:
                        continue
                    target_logical, name = found[value]
                    if formatted and name is not None:
                        r[f"{attribute}@{FORMATTED}"] = name
                    if associated:
                        r[f"{attribute}@{ASSOCIATED_NAV}"] = nav_of.get(target_logical, column.name)
                    if logical:
                        r[f"{attribute}@{LOOKUP_LOGICAL}"] = target_logical

    def _names(self, target: Table, ids: Iterable[str]) -> dict[str, str | None]:
        ids = sorted(ids)
        if not ids:
            return {}
        t = self.store.tables[target.entity_set]
        name_column = t.c[target.primary_name] if target.primary_name else sa.null()
        out: dict[str, str | None] = {}
        for chunk in _chunks(ids, 500):
            statement = sa.select(t.c[target.primary_id], name_column).where(t.c[target.primary_id].in_(chunk))
            out.update(dict(self.store.conn.execute(statement).all()))
        return out


_SAFE = "$,'()/:@=;*"


def _boolean(value: str | None, option: str) -> bool:
    if value is None:
        return False
    lowered = value.strip().lower()
    if lowered not in ("true", "false"):
        raise odata_error(f"'{value}' is not a valid value for {option}; use true or false.")
    return lowered == "true"


def _split_top_level(text: str) -> list[str]:
    parts, current, depth = [], [], 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p for p in parts if p.strip()]


def _chunks(items: list, size: int) -> Iterable[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
