"""A small typed record store on SQLite, with OData query options applied by ``odata-query``.

Both API emulators keep their tables here. Records go in and come out as JSON-ready dicts; the
emulators add their own protocol (URLs, ETags, errors) on top.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import re
import uuid
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from odata_query.exceptions import ODataException
from odata_query.grammar import ODataLexer, ODataParser
from odata_query.sqlalchemy.core import AstToSqlAlchemyCoreVisitor

# odata-query logs a warning for every untyped identifier it meets; the emulators type-check
# values themselves, so that is noise here.
logging.getLogger("odata_query").setLevel(logging.ERROR)

VERSION_COLUMN = "_version"
# The ETag of a row's version, kept beside it when the store is given an ETag function: listings
# then read it like any column instead of calling back into Python once per row.
ETAG_COLUMN = "_etag"
ROW_COLUMN = "_row"  # insertion order: the keyset that pages walk

_SQL_TYPES: dict[str, Any] = {
    "string": sa.String,
    "int": sa.Integer,
    "decimal": sa.Float,
    "bool": sa.Boolean,
    # Times and dates are kept as fixed-width ISO strings: they compare correctly as text and
    # need no conversion on the way out, which keeps large pages fast.
    "datetime": sa.String(30),
    "date": sa.String(10),
    "guid": sa.String(36),
}


class StoreError(Exception):
    """Base class of store errors; ``field`` names the offending field when there is one."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class QueryError(StoreError):
    """A query option ($filter, $select, $orderby, $top, $skip) is malformed or names no field."""


class ValidationError(StoreError):
    """A value does not fit its field (type, length, option set, required)."""


class DuplicateKeyError(StoreError):
    """The primary key or an alternate key already exists."""


class NotFoundError(StoreError):
    """No record has that key."""


@dataclass(frozen=True)
class Field:
    """One column of an entity set.

    :param type: ``string``, ``int``, ``decimal``, ``bool``, ``datetime``, ``date`` or ``guid``.
    :param required: must be given on create and can never be null.
    :param read_only: clients cannot write it (the server maintains it).
    :param options: the allowed values (an option set or an enum).
    """

    name: str
    type: str = "string"
    max_length: int | None = None
    required: bool = False
    read_only: bool = False
    options: tuple | None = None
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class EntitySet:
    """A table: its entity set name, primary key, fields, alternate keys and modified-time field."""

    name: str
    key: str
    fields: tuple[Field, ...]
    alternate_keys: tuple[tuple[str, ...], ...] = ()
    modified_field: str | None = None
    created_field: str | None = None
    indexes: tuple[str, ...] = ()
    by_name: dict[str, Field] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {f.name: f for f in self.fields})
        if self.key not in self.by_name:
            raise ValueError(f"entity set {self.name}: key {self.key} is not a field")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def parse_datetime(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def format_datetime(value: dt.datetime, precision: str = "milliseconds") -> str:
    """ISO 8601 in UTC with a ``Z``, as both APIs write it."""
    value = value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return value.replace(tzinfo=None).isoformat(timespec=precision) + "Z"


_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def is_guid(value: Any) -> bool:
    return isinstance(value, str) and bool(_GUID.match(value))


_CANONICAL_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_CANONICAL_DATETIME = {
    "milliseconds": re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"),
    "seconds": re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"),
}


def _is_canonical_datetime(value: str, precision: str) -> bool:
    """True for a UTC time already written as :func:`format_datetime` writes it."""
    pattern = _CANONICAL_DATETIME.get(precision)
    if pattern is None or not pattern.match(value):
        return False
    try:
        dt.datetime.fromisoformat(value[:-1])  # the shape is right; is the date real?
    except ValueError:
        return False
    return True


def coerce(f: Field, value: Any, datetime_precision: str = "milliseconds") -> Any:
    """Convert a JSON value to the field's Python type, or raise :class:`ValidationError`."""
    if value is None:
        if f.required:
            raise ValidationError(f"The field '{f.name}' is required and cannot be null.", f.name)
        return None
    try:
        if f.type == "string":
            if not isinstance(value, str):
                raise TypeError
            if f.max_length is not None and len(value) > f.max_length:
                raise ValidationError(
                    f"The value of '{f.name}' is {len(value)} characters long; the maximum is {f.max_length}.",
                    f.name,
                )
        elif f.type == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError
        elif f.type == "decimal":
            if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
                raise TypeError
            # 15 significant digits: what a float holds exactly, and what SQLite writes in JSON.
            value = float(f"{float(value):.15g}")
        elif f.type == "bool":
            if not isinstance(value, bool):
                raise TypeError
        elif f.type == "datetime":
            # Already canonical (bulk loads, values read back from the store): keep as it is.
            if not (isinstance(value, str) and _is_canonical_datetime(value, datetime_precision)):
                value = format_datetime(
                    value if isinstance(value, dt.datetime) else parse_datetime(value), datetime_precision
                )
        elif f.type == "date":
            value = (value if isinstance(value, dt.date) else dt.date.fromisoformat(value)).isoformat()
        elif f.type == "guid" and not (isinstance(value, str) and _CANONICAL_GUID.match(value)):
            value = str(uuid.UUID(str(value)))
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"The value {value!r} is not a valid {f.type} for the field '{f.name}'.", f.name) from exc
    if f.options is not None and value not in f.options:
        allowed = ", ".join(str(o) for o in f.options)
        raise ValidationError(f"{value!r} is not a valid option for '{f.name}'. Allowed values: {allowed}.", f.name)
    if (f.minimum is not None and value < f.minimum) or (f.maximum is not None and value > f.maximum):
        raise ValidationError(
            f"The value {value!r} of '{f.name}' is outside the range {f.minimum} to {f.maximum}.", f.name
        )
    return value


class _FilterVisitor(AstToSqlAlchemyCoreVisitor):
    """Compares times and dates as the store keeps them (canonical ISO strings) and resolves
    the public names of a view to table columns."""

    def __init__(self, table: sa.Table, datetime_precision: str, view: Mapping[str, str] | None = None):
        super().__init__(table)
        self.datetime_precision = datetime_precision
        self.view = view

    def visit_Identifier(self, node):
        if self.view is not None:
            if node.name not in self.view:
                raise QueryError(f"Could not find a property named '{node.name}' ($filter).", node.name)
            return self.table.c[self.view[node.name]]
        return super().visit_Identifier(node)

    def visit_DateTime(self, node):
        try:
            return sa.literal(format_datetime(parse_datetime(node.val), self.datetime_precision))
        except ValueError as exc:
            raise QueryError(f"'{node.val}' is not a valid date and time.") from exc

    def visit_Date(self, node):
        try:
            return sa.literal(dt.date.fromisoformat(node.val).isoformat())
        except ValueError as exc:
            raise QueryError(f"'{node.val}' is not a valid date.") from exc

    def visit_GUID(self, node):
        # GUIDs are stored in canonical lower case; clients may write them in upper case.
        return sa.literal(node.val.lower())


@dataclass
class Page:
    rows: list[dict]
    count: int | None = None
    next_after: str | None = None
    next_offset: int | None = None


class PageAhead:
    """A page of a listing computed before it is asked for, while the client reads the page before it.

    It is served once, to the request it was computed for (``key`` holds whatever else the page
    depends on, such as the caller or the date), and only while the store is unchanged since.
    """

    def __init__(self, store: Store):
        self.store = store
        self._kept: tuple[Hashable, int, Any] | None = None

    def keep(self, key: Hashable, page: Any, changes: int) -> None:
        """Keep ``page`` for ``key``; ``changes`` is :meth:`Store.changes` from before it was computed."""
        self._kept = (key, changes, page)

    def take(self, key: Hashable) -> Any | None:
        """The page kept for ``key`` if the store is unchanged; a request for anything else leaves it."""
        if self._kept is None or self._kept[0] != key:
            return None
        _, changes, page = self._kept
        self._kept = None
        return page if changes == self.store.changes() else None

    def clear(self) -> None:
        self._kept = None


class Store:
    """SQLite-backed entity sets. Every write stamps a row version and the modified time.

    :param path: a SQLite file, or ``None`` for memory.
    :param datetime_precision: how modified times are written (``milliseconds`` for BC,
        ``seconds`` for Dataverse).
    :param case_insensitive: text compares, sorts and is unique without regard to (ASCII) case,
        as on a SQL Server with its default collation (Dataverse).
    :param etag: the ETag of a row version; when given, every row keeps its ETag in
        :data:`ETAG_COLUMN`, written with the version.
    """

    def __init__(
        self,
        entity_sets: Iterable[EntitySet],
        path: Path | None = None,
        datetime_precision: str = "milliseconds",
        *,
        case_insensitive: bool = False,
        etag: Callable[[int], str] | None = None,
    ):
        self.sets = {es.name: es for es in entity_sets}
        self.datetime_precision = datetime_precision
        self.etag = etag
        url = f"sqlite:///{path}" if path else "sqlite://"
        self.engine = sa.create_engine(url, poolclass=sa.pool.StaticPool, connect_args={"check_same_thread": False})
        sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        # Let SQLAlchemy, not the sqlite3 module, issue BEGIN, so SAVEPOINTs work (change sets).
        sa.event.listen(self.engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
        self._atomic = 0
        self.metadata = sa.MetaData()
        self.tables: dict[str, sa.Table] = {}
        self._get_statements: dict[str, sa.Select] = {}
        self._update_statements: dict[str, sa.Update] = {}
        for es in self.sets.values():
            columns = [sa.Column(ROW_COLUMN, sa.Integer, primary_key=True, autoincrement=True)]
            columns += [
                sa.Column(
                    f.name,
                    sa.String(collation="NOCASE") if case_insensitive and f.type == "string" else _SQL_TYPES[f.type],
                    unique=f.name == es.key,
                    nullable=f.name != es.key,
                )
                for f in es.fields
            ]
            columns.append(sa.Column(VERSION_COLUMN, sa.Integer, nullable=False, index=True))
            if etag is not None:
                columns.append(sa.Column(ETAG_COLUMN, sa.String, nullable=False))
            table = sa.Table(es.name, self.metadata, *columns)
            for n, alt in enumerate(es.alternate_keys):
                sa.Index(f"ak_{es.name}_{n}", *(table.c[c] for c in alt), unique=True)
            for name in {*es.indexes, *(x for x in (es.modified_field,) if x)}:
                sa.Index(f"ix_{es.name}_{name}", table.c[name])
            self.tables[es.name] = table
        self.metadata.create_all(self.engine)
        self.conn = self.engine.connect()
        latest = max(
            (self.conn_scalar(sa.select(sa.func.max(t.c[VERSION_COLUMN]))) or 0 for t in self.tables.values()),
            default=0,
        )
        self._version = itertools.count(latest + 1)
        self.conn.commit()

    def changes(self) -> int:
        """Rows written so far (SQLite's ``total_changes``): an equal count means no write in between."""
        return self.conn.connection.driver_connection.total_changes

    def conn_scalar(self, statement: sa.Executable) -> Any:
        return self.conn.execute(statement).scalar()

    # -- reading -----------------------------------------------------------------------------

    def entity_set(self, name: str) -> EntitySet:
        try:
            return self.sets[name]
        except KeyError:
            raise NotFoundError(f"There is no entity set named '{name}'.") from None

    def _rows(self, statement: sa.Select) -> list[dict]:
        result = self.conn.execute(statement)
        keys = list(result.keys())
        return [dict(zip(keys, r, strict=True)) for r in result.fetchall()]

    def _columns(self, es: EntitySet, select: Iterable[str] | None = None) -> list[sa.Column]:
        table = self.tables[es.name]
        names = list(select) if select else [f.name for f in es.fields]
        return [table.c[n] for n in names] + [table.c[VERSION_COLUMN]]

    def where(self, es: EntitySet, odata_filter: str, view: Mapping[str, str] | None = None) -> sa.ColumnElement:
        """Translate an OData ``$filter`` expression into a SQL condition."""
        try:
            ast = ODataParser().parse(ODataLexer().tokenize(odata_filter))
            return _FilterVisitor(self.tables[es.name], self.datetime_precision, view).visit(ast)
        except QueryError:
            raise
        except ODataException as exc:
            raise QueryError(f"Invalid $filter '{odata_filter}': {exc}") from exc
        except (NotImplementedError, TypeError, ValueError, AttributeError) as exc:
            raise QueryError(f"Unsupported $filter '{odata_filter}': {exc}") from exc

    def check_fields(
        self, es: EntitySet, names: Iterable[str], option: str, view: Mapping[str, str] | None = None
    ) -> list[str]:
        names = [n.strip() for n in names if n.strip()]
        for n in names:
            if n not in (es.by_name if view is None else view):
                raise QueryError(f"Could not find a property named '{n}' on '{es.name}' ({option}).", n)
        return names

    def order_by(self, es: EntitySet, orderby: str, view: Mapping[str, str] | None = None) -> list[sa.ColumnElement]:
        table, clauses = self.tables[es.name], []
        for part in orderby.split(","):
            words = part.split()
            if not words or len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
                raise QueryError(f"Invalid $orderby '{orderby}'.")
            (name,) = self.check_fields(es, [words[0]], "$orderby", view)
            column = table.c[view[name] if view is not None else name]
            clauses.append(column.desc() if len(words) == 2 and words[1].lower() == "desc" else column.asc())
        return clauses

    def page(
        self,
        name: str,
        *,
        odata_filter: str | None = None,
        conditions: Iterable[sa.ColumnElement] = (),
        select: Iterable[str] | None = None,
        orderby: str | None = None,
        top: int | None = None,
        skip: int = 0,
        page_size: int | None = None,
        after: str | None = None,
        count: bool = False,
        view: Mapping[str, str] | None = None,
    ) -> Page:
        """Read one page. Without ``$orderby`` pages are keyset-paged in insertion order
        (``after`` = ``next_after`` of the previous page); with it, by offset (``skip``).

        :param view: public name -> column; names in the query options and in the returned
            rows are the public ones (BC's API pages and web services are views of one table).
        """
        es = self.entity_set(name)
        table = self.tables[name]
        where = list(conditions)
        if odata_filter:
            where.append(self.where(es, odata_filter, view))
        total = None
        if count:
            total = self.conn_scalar(sa.select(sa.func.count()).select_from(table).where(*where))
        if view is None:
            fields = self.check_fields(es, select, "$select") if select else None
            columns = self._columns(es, fields)
        else:
            public = self.check_fields(es, select, "$select", view) if select else list(view)
            columns = [table.c[view[n]].label(n) for n in public] + [table.c[VERSION_COLUMN]]
        statement = sa.select(*columns, table.c[ROW_COLUMN]).where(*where)
        if orderby:
            statement = statement.order_by(*self.order_by(es, orderby, view), table.c[ROW_COLUMN])
        else:
            statement = statement.order_by(table.c[ROW_COLUMN])
            if after is not None:
                statement = statement.where(table.c[ROW_COLUMN] > int(after))
        limit = top
        if page_size is not None and (limit is None or page_size < limit):
            limit = page_size
        if skip:
            statement = statement.offset(skip)
        if limit is not None:
            statement = statement.limit(limit + 1)
        rows = self._rows(statement)
        more = limit is not None and len(rows) > limit and (top is None or limit < top)
        rows = rows[:limit] if limit is not None else rows
        page = Page(rows, count=total)
        if more:
            if orderby:
                page.next_offset = skip + len(rows)
            else:
                page.next_after = str(rows[-1][ROW_COLUMN])
        for row in rows:
            del row[ROW_COLUMN]
        return page

    def iter_rows(self, name: str, **kwargs: Any) -> Iterator[dict]:
        """Every matching record, read in pages (for server-side computations)."""
        after = None
        while True:
            page = self.page(name, page_size=5000, after=after, **kwargs)
            yield from page.rows
            if page.next_after is None:
                return
            after = page.next_after

    def get(self, name: str, key: Any) -> dict | None:
        statement = self._get_statements.get(name)
        if statement is None:
            # Built once per table: constructing a wide SELECT costs more than running it.
            es = self.entity_set(name)
            table = self.tables[name]
            statement = sa.select(*self._columns(es)).where(table.c[es.key] == sa.bindparam("key"))
            self._get_statements[name] = statement
        result = self.conn.execute(statement, {"key": key})
        keys = list(result.keys())
        row = result.fetchone()
        return dict(zip(keys, row, strict=True)) if row is not None else None

    def find(self, name: str, **values: Any) -> list[dict]:
        es = self.entity_set(name)
        table = self.tables[name]
        conditions = [
            table.c[k] == coerce(es.by_name[k], v, self.datetime_precision) if v is not None else table.c[k].is_(None)
            for k, v in values.items()
        ]
        return self._rows(sa.select(*self._columns(es)).where(*conditions))

    def find_by_alternate_key(self, name: str, values: Mapping[str, Any]) -> dict | None:
        es = self.entity_set(name)
        if tuple(sorted(values)) not in {tuple(sorted(k)) for k in es.alternate_keys}:
            raise QueryError(f"'{', '.join(values)}' is not an alternate key of '{name}'.")
        rows = self.find(name, **values)
        return rows[0] if rows else None

    def count(self, name: str) -> int:
        return self.conn_scalar(sa.select(sa.func.count()).select_from(self.tables[name]))

    # -- writing -----------------------------------------------------------------------------

    def _prepare(self, es: EntitySet, values: Mapping[str, Any], *, creating: bool, trusted: bool) -> dict:
        out = {}
        for name, value in values.items():
            if name in (VERSION_COLUMN, ETAG_COLUMN):
                continue
            f = es.by_name.get(name)
            if f is None:
                raise ValidationError(f"The property '{name}' does not exist on '{es.name}'.", name)
            if f.read_only and not trusted:
                raise ValidationError(f"The property '{name}' of '{es.name}' is read-only.", name)
            out[name] = coerce(f, value, self.datetime_precision)
        if creating:
            for f in es.fields:
                if f.name not in out and f.default is not None:
                    out[f.name] = f.default() if callable(f.default) else f.default
            missing = [f.name for f in es.fields if f.required and out.get(f.name) is None and f.name != es.key]
            if missing:
                raise ValidationError(f"The required field '{missing[0]}' of '{es.name}' is missing.", missing[0])
        return out

    def _stamp(self, es: EntitySet, values: dict, *, creating: bool, now: dt.datetime | str | None) -> None:
        # Bulk loads pass a row's own modified time, usually a canonical string already.
        if isinstance(now, str):
            now = now if _is_canonical_datetime(now, self.datetime_precision) else parse_datetime(now)
        if not isinstance(now, str):
            now = format_datetime(now or utcnow(), self.datetime_precision)
        if es.modified_field:
            values[es.modified_field] = now
        if creating and es.created_field:
            values.setdefault(es.created_field, now)
        values[VERSION_COLUMN] = version = next(self._version)
        if self.etag is not None:
            values[ETAG_COLUMN] = self.etag(version)

    def insert(
        self, name: str, values: Mapping[str, Any], *, trusted: bool = False, now: dt.datetime | None = None
    ) -> dict:
        """Create a record. ``trusted`` writes read-only fields too (the server's own logic)."""
        es = self.entity_set(name)
        row = self._prepare(es, values, creating=True, trusted=trusted)
        key_field = es.by_name[es.key]
        if row.get(es.key) is None:
            if key_field.type != "guid":
                raise ValidationError(f"The key field '{es.key}' of '{name}' is required.", es.key)
            row[es.key] = str(uuid.uuid4())
        self._check_unique(es, row, None)
        self._stamp(es, row, creating=True, now=now)
        self._write(self.tables[name].insert(), row)
        return self.get(name, row[es.key])

    def insert_many(self, name: str, rows: Iterable[Mapping[str, Any]], *, now: dt.datetime | None = None) -> int:
        """Bulk load trusted rows (seeding and generated data sets); skips per-row checks."""
        es = self.entity_set(name)
        defaults = [f for f in es.fields if f.default is not None]
        # Plain DB-API executemany with positional rows: SQLAlchemy's per-row parameter processing
        # would cost more than SQLite's insert itself. Rows may differ in keys; absent ones are NULL.
        columns = [f.name for f in es.fields] + [VERSION_COLUMN]
        if self.etag is not None:
            columns.append(ETAG_COLUMN)
        sql = 'INSERT INTO "{}" ({}) VALUES ({})'.format(
            name, ", ".join(f'"{c}"' for c in columns), ", ".join("?" * len(columns))
        )
        done = 0
        batch: list[tuple] = []
        with self.transaction():
            cursor = self.conn.connection.driver_connection.cursor()
            for values in rows:
                row = {k: coerce(es.by_name[k], v, self.datetime_precision) for k, v in values.items()}
                for f in defaults:
                    if f.name not in row:
                        row[f.name] = f.default() if callable(f.default) else f.default
                row.setdefault(es.key, str(uuid.uuid4()))
                self._stamp(es, row, creating=True, now=now or row.get(es.modified_field or "") or None)
                batch.append(tuple(row.get(c) for c in columns))
                if len(batch) == 5000:
                    cursor.executemany(sql, batch)
                    done += len(batch)
                    batch = []
            if batch:
                cursor.executemany(sql, batch)
                done += len(batch)
        return done

    def update(
        self, name: str, key: Any, changes: Mapping[str, Any], *, trusted: bool = False, now: dt.datetime | None = None
    ) -> dict:
        es = self.entity_set(name)
        if self.get(name, key) is None:
            raise NotFoundError(f"{name} With Id = {key} Does Not Exist")
        row = self._prepare(es, changes, creating=False, trusted=trusted)
        row.pop(es.key, None)
        for f in es.fields:
            if f.required and f.name in row and row[f.name] is None:
                raise ValidationError(f"The required field '{f.name}' cannot be cleared.", f.name)
        self._check_unique(es, row, key)
        self._stamp(es, row, creating=False, now=now)
        statement = self._update_statements.get(name)
        if statement is None:
            table = self.tables[name]
            statement = table.update().where(table.c[es.key] == sa.bindparam("_store_key"))
            self._update_statements[name] = statement
        self._write(statement, {**row, "_store_key": key})
        return self.get(name, key)

    def delete(self, name: str, key: Any) -> None:
        es = self.entity_set(name)
        table = self.tables[name]
        if self._write(table.delete().where(table.c[es.key] == key)).rowcount == 0:
            raise NotFoundError(f"{name} With Id = {key} Does Not Exist")

    def _check_unique(self, es: EntitySet, row: dict, current_key: Any) -> None:
        table = self.tables[es.name]
        if current_key is None and self.get(es.name, row[es.key]) is not None:
            raise DuplicateKeyError(f"A record with the key {row[es.key]} already exists in '{es.name}'.", es.key)
        for alt in es.alternate_keys:
            if not any(c in row for c in alt):
                continue
            if current_key is not None:
                existing = self.get(es.name, current_key)
                values = {c: row.get(c, existing[c]) for c in alt}
                values = {c: coerce(es.by_name[c], v, self.datetime_precision) for c, v in values.items()}
            else:
                values = {c: row.get(c) for c in alt}
            if any(v is None for v in values.values()):
                continue
            statement = sa.select(table.c[es.key]).where(*(table.c[c] == v for c, v in values.items()))
            if current_key is not None:
                statement = statement.where(table.c[es.key] != current_key)
            if self.conn_scalar(statement) is not None:
                described = ", ".join(f"{c}={v!r}" for c, v in values.items())
                raise DuplicateKeyError(
                    f"A record with matching key values already exists in '{es.name}' ({described}).", alt[0]
                )

    def _write(self, statement: sa.Executable, params: Mapping[str, Any] | None = None) -> sa.CursorResult:
        if self._atomic:
            # Inside a transaction already: one statement is atomic by itself, no savepoint needed.
            return self.conn.execute(statement, params)
        with self.transaction():
            return self.conn.execute(statement, params)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """An all-or-nothing block (a Dataverse change set, a BC isolated batch); nests."""
        outermost = self._atomic == 0
        self._atomic += 1
        try:
            with self.conn.begin_nested():
                yield
        finally:
            self._atomic -= 1
        if outermost:
            self.conn.commit()

    def reset(self) -> None:
        with self.transaction():
            for table in reversed(self.metadata.sorted_tables):
                self.conn.execute(table.delete())

    def close(self) -> None:
        self.conn.close()
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=OFF")
    # Up to 128 MiB of pages in memory (the default is 2 MiB): large listings read from the cache.
    cursor.execute("PRAGMA cache_size=-131072")
    cursor.close()
    dbapi_connection.isolation_level = None
