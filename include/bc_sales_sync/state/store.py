"""The sync state store: couplings, watermarks, job logs, per-record errors and mapping locks.

Sync tasks keep their state in this database, never in Airflow's metadata DB. Every call is one transaction;
bulk calls take and return pandas DataFrames and write with set-based ``INSERT ... ON CONFLICT`` statements in
chunks, so their statement count depends on the number of rows divided by the chunk size, never on the rows
themselves. SQLite (the default, a file) and PostgreSQL (production) are supported.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import StaticPool

from .errors import CouplingConflict, LockLost, MappingLocked, StateStoreError, UnknownJob
from .models import (
    BC_ID_LENGTH,
    COUNTERS,
    CRM_ID_LENGTH,
    DIRECTIONS,
    MESSAGE_LENGTH,
    Base,
    Coupling,
    SyncError,
    SyncJob,
    SyncLock,
    Watermark,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "sync_alembic_version"
CHUNK_SIZE = 1000
DEFAULT_CONN_ID = "bc_sync_state"
URL_ENV = "BC_SYNC_STATE_URL"
DEFAULT_DB_FILE = "bc_sales_sync_state.db"
# PostgreSQL advisory lock that serialises concurrent migrations (any fixed 32-bit number of our own).
_MIGRATION_LOCK_KEY = zlib.crc32(b"bc_sales_sync.state.migrate")
# libpq options an Airflow connection's extra may carry through to the state database.
_LIBPQ_OPTIONS = frozenset(
    {
        "sslmode",
        "sslrootcert",
        "sslcert",
        "sslkey",
        "sslcrl",
        "connect_timeout",
        "application_name",
        "options",
        "target_session_attrs",
        "keepalives",
        "keepalives_idle",
        "keepalives_interval",
        "keepalives_count",
    }
)

_C = Coupling.__table__
_W = Watermark.__table__
_J = SyncJob.__table__
_E = SyncError.__table__
_L = SyncLock.__table__

UTC_TS = "datetime64[us, UTC]"
COUPLING_DTYPES: dict[str, str] = {
    "bc_id": "str",
    "crm_id": "str",
    "bc_modified_at": UTC_TS,
    "crm_modified_at": UTC_TS,
    "last_result": "str",
    "last_error": "str",
    "failed_count": "int64",
    "skipped": "bool",
    "extra": "object",
    "last_job_id": "str",
    "skipped_at": UTC_TS,
    "updated_at": UTC_TS,
}
JOB_DTYPES: dict[str, str] = {
    "id": "str",
    "mapping": "str",
    "direction": "str",
    "run_id": "str",
    "dag_id": "str",
    "task_id": "str",
    "started_at": UTC_TS,
    "finished_at": UTC_TS,
    "status": "str",
    "dry_run": "bool",
    **dict.fromkeys(COUNTERS, "int64"),
    "message": "str",
    "window_start": UTC_TS,
    "window_end": UTC_TS,
}
ERROR_DTYPES: dict[str, str] = {
    "id": "int64",
    "job_id": "str",
    "mapping": "str",
    "source_id": "str",
    "target_id": "str",
    "field": "str",
    "message": "str",
    "created_at": UTC_TS,
}
LOCK_DTYPES: dict[str, str] = {"mapping": "str", "holder": "str", "acquired_at": UTC_TS, "expires_at": UTC_TS}


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --------------------------------------------------------------------------------------------------- helpers


def _isna(value: Any) -> bool:
    return value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def _utc(value: Any, name: str = "value") -> dt.datetime:
    """A timezone-aware UTC datetime from a datetime or pandas Timestamp (naive values are taken as UTC)."""
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if not isinstance(value, dt.datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _truncate(text: Any, limit: int = MESSAGE_LENGTH) -> str | None:
    if _isna(text):
        return None
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _chunks(items: Sequence[T], size: int = CHUNK_SIZE) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _strings(series: pd.Series) -> list[str | None]:
    return [None if _isna(v) else str(v) for v in series]


def _timestamps(series: pd.Series, column: str) -> list[dt.datetime | None]:
    try:
        converted = pd.to_datetime(series, utc=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"column {column!r} must hold datetimes: {exc}") from None
    return [None if _isna(v) else v.to_pydatetime() for v in converted]


def _json_values(series: pd.Series) -> list[Any]:
    return [None if not isinstance(v, dict | list) and _isna(v) else v for v in series]


def _unique_strings(values: Iterable[Any]) -> list[str]:
    return list(dict.fromkeys(str(v) for v in values if not _isna(v)))


def _require(rows: pd.DataFrame, columns: Sequence[str], call: str) -> None:
    missing = [c for c in columns if c not in rows.columns]
    if missing:
        raise ValueError(f"{call}: the rows lack the column(s) {missing}; they need {list(columns)}")


def _frame(rows: Sequence[Any], dtypes: Mapping[str, str]) -> pd.DataFrame:
    """A DataFrame with fixed columns and dtypes, the same whether ``rows`` is empty or not."""
    frame = pd.DataFrame.from_records(list(rows), columns=list(dtypes))
    for column, dtype in dtypes.items():
        if dtype == UTC_TS:
            frame[column] = pd.to_datetime(frame[column], utc=True).astype(UTC_TS)
        else:
            frame[column] = frame[column].astype(dtype)
    return frame


def _check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")


def _check_ids(mapping: str, call: str, ids: list[str | None], column: str, limit: int) -> None:
    missing = sum(v is None for v in ids)
    if missing:
        raise ValueError(f"{call} for mapping {mapping!r}: {missing} row(s) have no {column}; every row needs one")
    too_long = next((v for v in ids if v is not None and len(v) > limit), None)
    if too_long is not None:
        raise ValueError(
            f"{call} for mapping {mapping!r}: {column} {too_long[:60]!r}... is longer than {limit} characters; "
            "use a shorter key for this record"
        )


# ------------------------------------------------------------------------------------------------ connections


def connection_url(conn: Any) -> URL:
    """The SQLAlchemy URL of an Airflow connection to the state database.

    ``postgres``/``postgresql`` connections become ``postgresql+psycopg2`` URLs (libpq options such as
    ``sslmode`` in the extra are kept); ``sqlite`` connections name the database file in host (or schema).

    :param conn: an Airflow ``Connection`` (anything with ``conn_type``, ``host``, ``login``, ``password``,
        ``port``, ``schema`` and ``extra_dejson``).
    """
    conn_type = (conn.conn_type or "").lower()
    if conn_type == "sqlite":
        return URL.create("sqlite", database=conn.host or conn.schema or None)
    if conn_type in ("postgres", "postgresql") or conn_type.startswith("postgresql+"):
        driver = conn_type if "+" in conn_type else "postgresql+psycopg2"
        extra = getattr(conn, "extra_dejson", None) or {}
        query = {k: str(v) for k, v in extra.items() if k in _LIBPQ_OPTIONS and not isinstance(v, dict | list)}
        return URL.create(
            driver,
            username=conn.login or None,
            password=conn.password or None,
            host=conn.host or None,
            port=conn.port or None,
            database=conn.schema or None,
            query=query,
        )
    raise StateStoreError(
        f"Airflow connection {getattr(conn, 'conn_id', '?')!r} has type {conn_type!r}; the sync state store needs "
        "a 'postgres' or 'sqlite' connection"
    )


def default_sqlite_url() -> URL:
    """``$AIRFLOW_HOME/bc_sales_sync_state.db``, or ``.airflow/bc_sales_sync_state.db`` under the cwd."""
    home = os.environ.get("AIRFLOW_HOME")
    folder = Path(home) if home else Path.cwd() / ".airflow"
    return URL.create("sqlite", database=str(folder / DEFAULT_DB_FILE))


def resolve_url(conn_id: str = DEFAULT_CONN_ID) -> URL:
    """The state database URL: the Airflow connection ``conn_id``; if it does not exist, ``$BC_SYNC_STATE_URL``;
    else the default SQLite file (:func:`default_sqlite_url`)."""
    conn = _airflow_connection(conn_id)
    if conn is not None:
        return connection_url(conn)
    env = os.environ.get(URL_ENV)
    if env:
        return make_url(env)
    return default_sqlite_url()


def _airflow_connection(conn_id: str) -> Any | None:
    try:
        from airflow.sdk import BaseHook
        from airflow.sdk.exceptions import AirflowNotFoundException
    except ImportError:  # used outside Airflow (scripts, tests)
        return None
    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        # Only a missing connection falls through: any other failure must not silently switch databases.
        return None


def _create_engine(url: URL) -> Engine:
    if url.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True)
    memory = url.database in (None, "", ":memory:")
    if memory:
        # One shared connection, or every pooled connection would see its own empty database.
        engine = sa.create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let the "begin" hook below issue BEGIN: the driver's own handling starts transactions late (not before
        # SELECT or DDL), which breaks read consistency and transactional migrations.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        if not memory:
            # WAL: readers never block the writer (and the other way round); the busy timeout queues writers.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the write lock up front: a deferred transaction that turns into a writer later fails at
        # once with 'database is locked' when another writer is active, whatever the busy timeout.
        readonly = conn.get_execution_options().get("bc_sync_readonly", False)
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

    return engine


# ---------------------------------------------------------------------------------------------------- the store


@dataclass
class LockHandle:
    """A held mapping lock, as yielded by :meth:`StateStore.lock`; long runs call :meth:`refresh`."""

    mapping: str
    holder: str
    expires_at: dt.datetime
    ttl: dt.timedelta
    _store: StateStore = field(repr=False)

    def refresh(self, ttl: dt.timedelta | None = None) -> dt.datetime:
        """Push the expiry out to now + ``ttl`` (default: the ttl it was taken with).

        :raises LockLost: the lock expired and was taken over, or was broken.
        """
        self.expires_at = self._store.refresh_lock(self.mapping, self.holder, ttl or self.ttl)
        return self.expires_at


class StateStore:
    """The sync jobs' own state database.

    :param url: an SQLAlchemy URL, ``sqlite:///path/to/file.db`` or ``postgresql+psycopg2://user@host/db``.
    :param migrate: bring the schema to the newest migration on start (idempotent).
    :param clock: returns the current UTC time; tests pass their own to move time forward.
    """

    def __init__(
        self,
        url: str | URL,
        *,
        migrate: bool = True,
        clock: Callable[[], dt.datetime] | None = None,
    ):
        self.url = make_url(url)
        backend = self.url.get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            raise StateStoreError(f"the sync state store runs on SQLite or PostgreSQL, not {backend!r}")
        self.engine = _create_engine(self.url)
        self._insert = sqlite.insert if backend == "sqlite" else postgresql.insert
        self._clock = clock or _utcnow
        if migrate:
            self.migrate()

    @classmethod
    def from_airflow(cls, conn_id: str = DEFAULT_CONN_ID, *, migrate: bool = True) -> StateStore:
        """The store named by the Airflow connection ``conn_id`` (see :func:`resolve_url` for the fallbacks).

        :param conn_id: the Airflow connection id, ``bc_sync_state`` by default.
        :param migrate: bring the schema up to date first.
        """
        return cls(resolve_url(conn_id), migrate=migrate)

    def __repr__(self) -> str:
        return f"StateStore({self.url.render_as_string(hide_password=True)!r})"

    def close(self) -> None:
        """Close the pooled connections."""
        self.engine.dispose()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _now(self) -> dt.datetime:
        return _utc(self._clock(), "clock()")

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn.execution_options(bc_sync_readonly=True)
            with conn.begin():
                yield conn

    # ---------------------------------------------------------------------------------------------- migrations

    def _alembic_config(self) -> Any:
        from alembic.config import Config

        config = Config()
        # configparser interpolation: a '%' in the path must be doubled.
        config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
        config.set_main_option("path_separator", "os")
        config.attributes["target_metadata"] = Base.metadata
        return config

    def schema_revision(self) -> str | None:
        """The migration revision the database is at (``None`` before the first migration)."""
        from alembic.runtime.migration import MigrationContext

        with self._read() as conn:
            heads = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_heads()
        return heads[0] if heads else None

    def migrate(self) -> None:
        """Upgrade the schema to the newest migration (``alembic upgrade head``).

        Idempotent and cheap when already current. Concurrent callers are serialised (an advisory lock on
        PostgreSQL, the write lock on SQLite): the later ones find the schema current and do nothing.
        """
        from alembic import command
        from alembic.script import ScriptDirectory

        config = self._alembic_config()
        scripts = ScriptDirectory.from_config(config)
        head = scripts.get_current_head()
        current = self.schema_revision()
        if current == head:
            return
        if current is not None and current not in {script.revision for script in scripts.walk_revisions()}:
            raise StateStoreError(
                f"the sync state database {self} is at schema revision {current!r}, which this version of the "
                f"package does not know (its newest is {head!r}): a newer version migrated it; run that version "
                "(or newer) against this database"
            )
        with self._write() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
        log.info("Sync state database %s is at schema revision %s", self, head)

    # ----------------------------------------------------------------------------------------------- couplings

    def couplings(
        self, mapping: str, *, bc_ids: Iterable[Any] | None = None, crm_ids: Iterable[Any] | None = None
    ) -> pd.DataFrame:
        """The couplings of a mapping, ordered by ``bc_id``.

        :param mapping: the mapping name, e.g. ``ITEM-PRODUCT``.
        :param bc_ids: only these BC records (any number: read in chunks).
        :param crm_ids: only these Dataverse rows; with ``bc_ids`` too, rows must match both.
        :return: columns ``bc_id, crm_id, bc_modified_at, crm_modified_at, last_result, last_error,
            failed_count, skipped, extra, last_job_id, skipped_at, updated_at`` (times UTC); an empty frame with
            the same columns and dtypes when there are none.
        """
        where = [_C.c.mapping == mapping]
        if bc_ids is not None:
            key, values = _C.c.bc_id, _unique_strings(bc_ids)
        elif crm_ids is not None:
            key, values = _C.c.crm_id, _unique_strings(crm_ids)
        else:
            key, values = None, []
        frame = self._couplings_where(where, key, values)
        if bc_ids is not None and crm_ids is not None:
            frame = frame[frame["crm_id"].isin(_unique_strings(crm_ids))].reset_index(drop=True)
        return frame

    def _couplings_where(
        self, where: list[Any], key: sa.ColumnElement[Any] | None = None, values: Sequence[str] = ()
    ) -> pd.DataFrame:
        query = sa.select(*(_C.c[name] for name in COUPLING_DTYPES)).where(*where)
        rows: list[Any] = []
        with self._read() as conn:
            if key is None:
                rows = conn.execute(query.order_by(_C.c.bc_id)).all()
            else:
                for chunk in _chunks(values):
                    rows.extend(conn.execute(query.where(key.in_(chunk))).all())
        frame = _frame(rows, COUPLING_DTYPES)
        if key is not None:
            frame = frame.sort_values("bc_id", ignore_index=True)
        return frame

    def failed_not_skipped(self, mapping: str) -> pd.DataFrame:
        """Couplings whose last sync failed and that are not skipped: the records to retry first.

        :param mapping: the mapping name.
        :return: the same columns as :meth:`couplings`.
        """
        return self._couplings_where([_C.c.mapping == mapping, _C.c.last_result == "failure", ~_C.c.skipped])

    def skipped(self, mapping: str) -> pd.DataFrame:
        """Couplings marked skipped (the same error twice in a row); they wait for :meth:`restore`.

        :param mapping: the mapping name.
        :return: the same columns as :meth:`couplings`.
        """
        return self._couplings_where([_C.c.mapping == mapping, _C.c.skipped])

    def record_success(self, mapping: str, job_id: str, rows: pd.DataFrame, *, forward_only: bool = True) -> None:
        """Upsert the couplings of records that synced: result success, error cleared, no longer skipped.

        Modified times only move forward; one that is null keeps the stored value. When a record is now
        coupled to another Dataverse row than before, that row's modified time is taken as given.

        :param mapping: the mapping name.
        :param job_id: the sync job that wrote them.
        :param rows: columns ``bc_id, crm_id, bc_modified_at, crm_modified_at`` and optionally ``extra`` (a
            dict per row, e.g. the id of a secondary target; replaces the stored one when not null). A bc_id
            given twice keeps its last row.
        :param forward_only: ``False`` stores the given modified times even when older (the conflict rule
            that moves a timestamp back so the other direction picks the change up).
        :raises CouplingConflict: a Dataverse row is already coupled to another BC record of the mapping.
        """
        _require(rows, ("bc_id", "crm_id", "bc_modified_at", "crm_modified_at"), "record_success")
        if rows.empty:
            return
        bc_ids = _strings(rows["bc_id"])
        _check_ids(mapping, "record_success", bc_ids, "bc_id", BC_ID_LENGTH)
        crm_ids = _strings(rows["crm_id"])
        _check_ids(mapping, "record_success", [v or "" for v in crm_ids], "crm_id", CRM_ID_LENGTH)
        now = self._now()
        params = _last_per_key(
            [
                {
                    "mapping": mapping,
                    "bc_id": bc_id,
                    "crm_id": crm_id,
                    "bc_modified_at": bc_at,
                    "crm_modified_at": crm_at,
                    "last_result": "success",
                    "last_error": None,
                    "last_job_id": job_id,
                    "failed_count": 0,
                    "skipped": False,
                    "skipped_at": None,
                    "updated_at": now,
                    "extra": extra,
                }
                for bc_id, crm_id, bc_at, crm_at, extra in zip(
                    bc_ids,
                    crm_ids,
                    _timestamps(rows["bc_modified_at"], "bc_modified_at"),
                    _timestamps(rows["crm_modified_at"], "crm_modified_at"),
                    _json_values(rows["extra"]) if "extra" in rows.columns else [None] * len(rows),
                    strict=True,
                )
            ]
        )
        _check_unique_crm_ids(mapping, params)

        insert = self._insert(_C)
        new = insert.excluded
        if forward_only:
            bc_at = _forward(_C.c.bc_modified_at, new.bc_modified_at)
            crm_at = _forward(_C.c.crm_modified_at, new.crm_modified_at)
        else:
            bc_at = sa.func.coalesce(new.bc_modified_at, _C.c.bc_modified_at)
            crm_at = sa.func.coalesce(new.crm_modified_at, _C.c.crm_modified_at)
        recoupled = new.crm_id.is_not(None) & _C.c.crm_id.is_distinct_from(new.crm_id)
        # The SET clause takes every value from the inserted row: a bound parameter there would make SQLAlchemy
        # send one statement per row instead of multi-row batches.
        statement = insert.on_conflict_do_update(
            index_elements=[_C.c.mapping, _C.c.bc_id],
            set_={
                "crm_id": sa.func.coalesce(new.crm_id, _C.c.crm_id),
                "bc_modified_at": bc_at,
                "crm_modified_at": sa.case((recoupled, new.crm_modified_at), else_=crm_at),
                "last_result": new.last_result,
                "last_error": new.last_error,
                "last_job_id": new.last_job_id,
                "failed_count": new.failed_count,
                "skipped": new.skipped,
                "skipped_at": new.skipped_at,
                "updated_at": new.updated_at,
                "extra": sa.func.coalesce(new.extra, _C.c.extra),
            },
        ).returning(_C.c.bc_id)  # RETURNING makes SQLAlchemy send multi-row VALUES batches (insertmanyvalues)
        try:
            with self._write() as conn:
                for chunk in _chunks(params):
                    conn.execute(statement, list(chunk)).all()
        except IntegrityError as exc:
            self._raise_conflict(mapping, params, exc)
        log.info("Mapping %s: recorded %d synced record(s) for job %s", mapping, len(params), job_id)

    def record_failure(self, mapping: str, job_id: str, rows: pd.DataFrame) -> pd.DataFrame:
        """Mark records as failed and log their errors.

        The coupling is created when missing (a record whose first insert failed has no Dataverse row yet).
        If its previous result was a failure with the same message, it becomes skipped, as BC does with the
        same error twice in a row. One ``sync_error`` row is written per input row.

        :param mapping: the mapping name.
        :param job_id: the sync job that failed them (must exist).
        :param rows: columns ``bc_id, message`` and optionally ``crm_id`` and ``field``. Messages are stored
            cut to 2,048 characters; they must not contain secrets.
        :return: the rows with a boolean column ``skipped``: true for the records that became skipped now.
        :raises CouplingConflict: a given crm_id is already coupled to another BC record of the mapping.
        :raises UnknownJob: ``job_id`` names no job.
        """
        _require(rows, ("bc_id", "message"), "record_failure")
        result = rows.copy()
        if rows.empty:
            result["skipped"] = pd.Series(dtype=bool)
            return result
        bc_ids = _strings(rows["bc_id"])
        _check_ids(mapping, "record_failure", bc_ids, "bc_id", BC_ID_LENGTH)
        crm_ids = _strings(rows["crm_id"]) if "crm_id" in rows.columns else [None] * len(rows)
        _check_ids(mapping, "record_failure", [v or "" for v in crm_ids], "crm_id", CRM_ID_LENGTH)
        fields = _strings(rows["field"]) if "field" in rows.columns else [None] * len(rows)
        messages = [_truncate(m) or "(no message)" for m in rows["message"]]
        now = self._now()
        errors = [
            {
                "job_id": job_id,
                "mapping": mapping,
                "source_id": bc_id,
                "target_id": crm_id,
                "field": _truncate(fld, 250),
                "message": message,
                "created_at": now,
            }
            for bc_id, crm_id, fld, message in zip(bc_ids, crm_ids, fields, messages, strict=True)
        ]
        params = _last_per_key(
            [
                {
                    "mapping": mapping,
                    "bc_id": bc_id,
                    "crm_id": crm_id,
                    "last_result": "failure",
                    "last_error": message,
                    "last_job_id": job_id,
                    "failed_count": 1,
                    "skipped": False,
                    "updated_at": now,
                }
                for bc_id, crm_id, message in zip(bc_ids, crm_ids, messages, strict=True)
            ]
        )
        _check_unique_crm_ids(mapping, params)

        insert = self._insert(_C)
        new = insert.excluded
        # No bound parameters in the SET clause (see record_success): constants come from the inserted row.
        same_failure = (_C.c.last_result == new.last_result) & (_C.c.last_error == new.last_error)
        statement = insert.on_conflict_do_update(
            index_elements=[_C.c.mapping, _C.c.bc_id],
            set_={
                "crm_id": sa.func.coalesce(new.crm_id, _C.c.crm_id),
                "last_result": new.last_result,
                "last_error": new.last_error,
                "last_job_id": new.last_job_id,
                "failed_count": _C.c.failed_count + new.failed_count,
                "skipped": sa.or_(_C.c.skipped, same_failure),
                "skipped_at": sa.case((same_failure & ~_C.c.skipped, new.updated_at), else_=_C.c.skipped_at),
                "updated_at": new.updated_at,
            },
        ).returning(_C.c.bc_id, _C.c.skipped)
        became_skipped: dict[str, bool] = {}
        try:
            with self._write() as conn:
                for chunk in _chunks(params):
                    # Which were skipped before, read with the rows locked (FOR UPDATE on PostgreSQL; SQLite holds
                    # the write lock already), so "became skipped now" stays exact if two jobs fail a record at once.
                    keys = [row["bc_id"] for row in chunk]
                    before = {
                        bc_id
                        for bc_id, skipped in conn.execute(
                            sa.select(_C.c.bc_id, _C.c.skipped)
                            .where(_C.c.mapping == mapping, _C.c.bc_id.in_(keys))
                            .with_for_update()
                        )
                        if skipped
                    }
                    for bc_id, skipped in conn.execute(statement, list(chunk)):
                        became_skipped[bc_id] = bool(skipped) and bc_id not in before
                for chunk in _chunks(errors):
                    conn.execute(sa.insert(_E), list(chunk))
        except IntegrityError as exc:
            if self._job_row(job_id) is None:
                raise UnknownJob(job_id) from None
            self._raise_conflict(mapping, params, exc)
        result["skipped"] = [became_skipped.get(bc_id, False) for bc_id in bc_ids]
        log.info(
            "Mapping %s: recorded %d failed record(s) for job %s, %d now skipped",
            mapping,
            len(params),
            job_id,
            sum(became_skipped.values()),
        )
        return result

    def _raise_conflict(self, mapping: str, params: list[dict[str, Any]], exc: IntegrityError) -> None:
        """Explain a unique-index violation on (mapping, crm_id) as a CouplingConflict."""
        wanted = {p["crm_id"]: p["bc_id"] for p in params if p.get("crm_id") is not None}
        existing = self.couplings(mapping, crm_ids=list(wanted))
        clashes = existing[existing["crm_id"].map(wanted) != existing["bc_id"]]
        if clashes.empty:
            raise StateStoreError(f"mapping {mapping!r}: the couplings could not be written: {exc.orig}") from exc
        first = clashes.iloc[0]
        raise CouplingConflict(
            mapping, wanted[first["crm_id"]], first["crm_id"], first["bc_id"], count=len(clashes)
        ) from None

    def restore(self, mapping: str, bc_ids: Iterable[Any]) -> int:
        """Clear the skipped mark of couplings (an operator's action); they are retried on the next run.

        :param mapping: the mapping name.
        :param bc_ids: the BC records to restore.
        :return: how many couplings were skipped and are restored now.
        """
        now = self._now()
        count = 0
        with self._write() as conn:
            for chunk in _chunks(_unique_strings(bc_ids)):
                count += conn.execute(
                    sa.update(_C)
                    .where(_C.c.mapping == mapping, _C.c.bc_id.in_(chunk), _C.c.skipped)
                    .values(skipped=False, skipped_at=None, updated_at=now)
                ).rowcount
        log.info("Mapping %s: restored %d skipped coupling(s)", mapping, count)
        return count

    def uncouple(self, mapping: str, bc_ids: Iterable[Any]) -> int:
        """Delete couplings; the records are treated as new (or matched again) on the next run.

        :param mapping: the mapping name.
        :param bc_ids: the BC records to uncouple.
        :return: how many couplings were deleted.
        """
        count = 0
        with self._write() as conn:
            for chunk in _chunks(_unique_strings(bc_ids)):
                count += conn.execute(sa.delete(_C).where(_C.c.mapping == mapping, _C.c.bc_id.in_(chunk))).rowcount
        log.info("Mapping %s: uncoupled %d record(s)", mapping, count)
        return count

    def couple(self, mapping: str, bc_id: str, crm_id: str) -> None:
        """Couple one BC record to one Dataverse row by hand.

        Coupling a record to a different row than before resets its sync history (times, result, skipped), so
        the next run writes it again. Coupling it to the row it has already is a no-op.

        :param mapping: the mapping name.
        :param bc_id: the BC record.
        :param crm_id: the Dataverse row id.
        :raises CouplingConflict: the row is coupled to another BC record of the mapping; uncouple that first.
        """
        bc_id, crm_id = str(bc_id), str(crm_id)
        _check_ids(mapping, "couple", [bc_id], "bc_id", BC_ID_LENGTH)
        _check_ids(mapping, "couple", [crm_id], "crm_id", CRM_ID_LENGTH)
        insert = self._insert(_C).values(
            mapping=mapping, bc_id=bc_id, crm_id=crm_id, failed_count=0, skipped=False, updated_at=self._now()
        )
        statement = insert.on_conflict_do_update(
            index_elements=[_C.c.mapping, _C.c.bc_id],
            set_={
                "crm_id": insert.excluded.crm_id,
                "bc_modified_at": None,
                "crm_modified_at": None,
                "last_result": None,
                "last_error": None,
                "failed_count": 0,
                "skipped": False,
                "skipped_at": None,
                "updated_at": insert.excluded.updated_at,
            },
            where=_C.c.crm_id.is_distinct_from(insert.excluded.crm_id),
        )
        try:
            with self._write() as conn:
                other = conn.execute(
                    sa.select(_C.c.bc_id).where(_C.c.mapping == mapping, _C.c.crm_id == crm_id, _C.c.bc_id != bc_id)
                ).scalar()
                if other is not None:
                    raise CouplingConflict(mapping, bc_id, crm_id, other)
                conn.execute(statement)
        except IntegrityError as exc:  # a concurrent couple() of the same row won the race
            self._raise_conflict(mapping, [{"bc_id": bc_id, "crm_id": crm_id}], exc)
        log.info("Mapping %s: coupled a record by hand", mapping)

    # ---------------------------------------------------------------------------------------------- watermarks

    def watermark(self, mapping: str, direction: str = "to_crm") -> dt.datetime | None:
        """The newest source modified time synced for a mapping and direction, or ``None`` (full read).

        :param mapping: the mapping name.
        :param direction: ``to_crm`` (BC to Dataverse) or ``from_crm``.
        """
        _check_direction(direction)
        with self._read() as conn:
            return conn.execute(
                sa.select(_W.c.value).where(_W.c.mapping == mapping, _W.c.direction == direction)
            ).scalar_one_or_none()

    def advance_watermark(
        self,
        mapping: str,
        value: dt.datetime | None,
        *,
        direction: str = "to_crm",
        cap: dt.datetime | None = None,
    ) -> dt.datetime | None:
        """Move the watermark forward to ``value`` (never back).

        :param mapping: the mapping name.
        :param value: the newest source modified time seen; ``None`` changes nothing.
        :param direction: ``to_crm`` or ``from_crm``.
        :param cap: the job's start time: the watermark never passes it, so records changed while the job ran
            are read again next time.
        :return: the stored watermark after the call.
        """
        _check_direction(direction)
        if _isna(value):
            return self.watermark(mapping, direction)
        value = _utc(value)
        if cap is not None:
            value = min(value, _utc(cap, "cap"))
        insert = self._insert(_W).values(mapping=mapping, direction=direction, value=value, updated_at=self._now())
        statement = insert.on_conflict_do_update(
            index_elements=[_W.c.mapping, _W.c.direction],
            set_={"value": insert.excluded.value, "updated_at": insert.excluded.updated_at},
            where=insert.excluded.value > _W.c.value,
        )
        with self._write() as conn:
            conn.execute(statement)
            return conn.execute(
                sa.select(_W.c.value).where(_W.c.mapping == mapping, _W.c.direction == direction)
            ).scalar_one()

    def reset_watermark(self, mapping: str, direction: str | None = None) -> None:
        """Forget the watermark(s) of a mapping, so its next run reads everything (BC's reset).

        :param mapping: the mapping name.
        :param direction: one direction, or ``None`` for both.
        """
        where = [_W.c.mapping == mapping]
        if direction is not None:
            _check_direction(direction)
            where.append(_W.c.direction == direction)
        with self._write() as conn:
            conn.execute(sa.delete(_W).where(*where))
        log.info("Mapping %s: watermark reset (%s)", mapping, direction or "both directions")

    # ---------------------------------------------------------------------------------------------------- jobs

    def start_job(
        self,
        mapping: str,
        *,
        direction: str = "to_crm",
        run_id: str | None = None,
        dag_id: str | None = None,
        task_id: str | None = None,
        dry_run: bool = False,
        window_start: dt.datetime | None = None,
        window_end: dt.datetime | None = None,
    ) -> str:
        """Log the start of a sync job (one mapping, one direction, one run).

        :param mapping: the mapping name.
        :param direction: ``to_crm`` or ``from_crm``.
        :param run_id: the Airflow run id.
        :param dag_id: the Airflow DAG id.
        :param task_id: the Airflow task id.
        :param dry_run: the job computes changes without writing them.
        :param window_start: start of the modified-time window read (``None``: everything).
        :param window_end: end of that window.
        :return: the new job id (a GUID string).
        """
        _check_direction(direction)
        job_id = str(uuid.uuid4())
        with self._write() as conn:
            conn.execute(
                sa.insert(_J).values(
                    id=job_id,
                    mapping=mapping,
                    direction=direction,
                    run_id=run_id,
                    dag_id=dag_id,
                    task_id=task_id,
                    started_at=self._now(),
                    status="running",
                    dry_run=bool(dry_run),
                    window_start=None if window_start is None else _utc(window_start, "window_start"),
                    window_end=None if window_end is None else _utc(window_end, "window_end"),
                )
            )
        log.info("Mapping %s: started %ssync job %s (%s)", mapping, "dry-run " if dry_run else "", job_id, direction)
        return job_id

    def add_counts(self, job_id: str, **counts: int) -> None:
        """Add to a job's counters, atomically (safe from several workers of one job).

        :param job_id: the job.
        :param counts: any of ``inserted, modified, unchanged, skipped, failed, deleted`` with non-negative
            integers to add.
        :raises UnknownJob: no job has that id.
        """
        unknown = set(counts) - set(COUNTERS)
        if unknown:
            raise ValueError(f"add_counts: unknown counter(s) {sorted(unknown)}; the counters are {list(COUNTERS)}")
        values: dict[str, Any] = {}
        for name, number in counts.items():
            number = int(number)
            if number < 0:
                raise ValueError(f"add_counts: counter {name!r} cannot go down (got {number})")
            if number:
                values[name] = _J.c[name] + number
        if not values:
            return
        with self._write() as conn:
            if conn.execute(sa.update(_J).where(_J.c.id == job_id).values(values)).rowcount == 0:
                raise UnknownJob(job_id)

    def finish_job(self, job_id: str, *, status: str = "succeeded", message: str | None = None) -> dict[str, Any]:
        """Log the end of a job.

        :param job_id: the job.
        :param status: ``succeeded`` or ``failed``.
        :param message: a summary or the reason it failed (cut to 2,048 characters; no secrets).
        :return: the job row (see :meth:`job`).
        :raises UnknownJob: no job has that id.
        """
        if status not in ("succeeded", "failed"):
            raise ValueError(f"finish_job: status must be 'succeeded' or 'failed', got {status!r}")
        with self._write() as conn:
            updated = conn.execute(
                sa.update(_J)
                .where(_J.c.id == job_id)
                .values(finished_at=self._now(), status=status, message=_truncate(message))
            ).rowcount
            if updated == 0:
                raise UnknownJob(job_id)
            row = conn.execute(sa.select(_J).where(_J.c.id == job_id)).one()
        job = dict(row._mapping)
        log.info(
            "Mapping %s: job %s %s (%s)",
            job["mapping"],
            job_id,
            status,
            ", ".join(f"{name} {job[name]}" for name in COUNTERS),
        )
        return job

    def _job_row(self, job_id: str) -> dict[str, Any] | None:
        with self._read() as conn:
            row = conn.execute(sa.select(_J).where(_J.c.id == job_id)).first()
        return None if row is None else dict(row._mapping)

    def job(self, job_id: str) -> dict[str, Any]:
        """One job: id, mapping, direction, run_id, dag_id, task_id, started_at, finished_at, status, dry_run,
        the counters, message, window_start and window_end.

        :raises UnknownJob: no job has that id.
        """
        job = self._job_row(job_id)
        if job is None:
            raise UnknownJob(job_id)
        return job

    def jobs(self, mapping: str | None = None, limit: int = 50) -> pd.DataFrame:
        """The newest jobs first.

        :param mapping: only this mapping's jobs.
        :param limit: at most this many.
        """
        query = sa.select(*(_J.c[name] for name in JOB_DTYPES))
        if mapping is not None:
            query = query.where(_J.c.mapping == mapping)
        query = query.order_by(_J.c.started_at.desc(), _J.c.id.desc()).limit(limit)
        with self._read() as conn:
            return _frame(conn.execute(query).all(), JOB_DTYPES)

    def errors(self, job_id: str | None = None, mapping: str | None = None, limit: int = 500) -> pd.DataFrame:
        """Per-record errors, the newest first.

        :param job_id: only this job's errors.
        :param mapping: only this mapping's errors.
        :param limit: at most this many.
        :return: columns ``id, job_id, mapping, source_id, target_id, field, message, created_at``.
        """
        query = sa.select(*(_E.c[name] for name in ERROR_DTYPES))
        if job_id is not None:
            query = query.where(_E.c.job_id == job_id)
        if mapping is not None:
            query = query.where(_E.c.mapping == mapping)
        query = query.order_by(_E.c.id.desc()).limit(limit)
        with self._read() as conn:
            return _frame(conn.execute(query).all(), ERROR_DTYPES)

    def cleanup(self, older_than: dt.timedelta) -> int:
        """Delete old finished jobs and their errors, as BC's DeleteEntries does.

        A job goes when it finished more than ``older_than`` ago and either had no failed records or none of
        its failures is still open (no coupling's last result is a failure from that job).

        :param older_than: the age of the jobs to delete.
        :return: how many jobs were deleted.
        """
        cutoff = self._now() - older_than
        still_failing = sa.exists().where(_C.c.last_job_id == _J.c.id, _C.c.last_result == "failure")
        condition = sa.and_(
            _J.c.status != "running",
            _J.c.finished_at.is_not(None),
            _J.c.finished_at < cutoff,
            sa.or_(_J.c.failed == 0, ~still_failing),
        )
        with self._write() as conn:
            conn.execute(sa.delete(_E).where(_E.c.job_id.in_(sa.select(_J.c.id).where(condition))))
            count = conn.execute(sa.delete(_J).where(condition)).rowcount
        log.info("Deleted %d sync job(s) finished before %s", count, cutoff.isoformat())
        return count

    # --------------------------------------------------------------------------------------------------- locks

    @contextmanager
    def lock(self, mapping: str, holder: str, ttl: dt.timedelta = dt.timedelta(hours=2)) -> Iterator[LockHandle]:
        """Hold a mapping for one run, so two runs never sync it at the same time.

        A lock past its expiry (its holder died) is taken over; the same holder taking it again (a retried task)
        gets it at once. It is released on exit, also on exceptions.

        :param mapping: the mapping name.
        :param holder: who takes it: the Airflow run id, or host and process id.
        :param ttl: how long the lock lasts unless refreshed (``handle.refresh()``).
        :raises MappingLocked: another live holder has it.
        """
        handle = self.acquire_lock(mapping, holder, ttl)
        try:
            yield handle
        except BaseException:
            try:
                self.release_lock(mapping, holder)
            except Exception:  # never hide the error that ended the run
                log.warning("Could not release the lock of mapping %s; it expires by itself", mapping, exc_info=True)
            raise
        self.release_lock(mapping, holder)

    def acquire_lock(self, mapping: str, holder: str, ttl: dt.timedelta = dt.timedelta(hours=2)) -> LockHandle:
        """Take a mapping's lock (see :meth:`lock`, which also releases it).

        :raises MappingLocked: another live holder has it.
        """
        if ttl <= dt.timedelta(0):
            raise ValueError(f"lock ttl must be positive, got {ttl}")
        now = self._now()
        insert = self._insert(_L).values(mapping=mapping, holder=holder, acquired_at=now, expires_at=now + ttl)
        statement = insert.on_conflict_do_update(
            index_elements=[_L.c.mapping],
            set_={
                "holder": insert.excluded.holder,
                "acquired_at": insert.excluded.acquired_at,
                "expires_at": insert.excluded.expires_at,
            },
            where=(_L.c.expires_at <= insert.excluded.acquired_at) | (_L.c.holder == insert.excluded.holder),
        ).returning(_L.c.holder)
        current = sa.select(_L.c.holder, _L.c.expires_at).where(_L.c.mapping == mapping)
        with self._write() as conn:
            before = conn.execute(current).first()
            if conn.execute(statement).first() is None:
                after = conn.execute(current).one()
                raise MappingLocked(mapping, after.holder, after.expires_at)
        if before is not None and before.holder != holder:
            log.warning(
                "Mapping %s: took over the lock of %r, which expired at %s",
                mapping,
                before.holder,
                before.expires_at.isoformat(),
            )
        return LockHandle(mapping, holder, now + ttl, ttl, self)

    def refresh_lock(self, mapping: str, holder: str, ttl: dt.timedelta = dt.timedelta(hours=2)) -> dt.datetime:
        """Extend a held lock to now + ``ttl``.

        :return: the new expiry.
        :raises LockLost: the holder no longer has the lock.
        """
        expires_at = self._now() + ttl
        with self._write() as conn:
            updated = conn.execute(
                sa.update(_L).where(_L.c.mapping == mapping, _L.c.holder == holder).values(expires_at=expires_at)
            ).rowcount
        if not updated:
            raise LockLost(mapping, holder)
        return expires_at

    def release_lock(self, mapping: str, holder: str) -> bool:
        """Release a lock if ``holder`` still has it.

        :return: whether it was held (and is released now).
        """
        with self._write() as conn:
            released = bool(conn.execute(sa.delete(_L).where(_L.c.mapping == mapping, _L.c.holder == holder)).rowcount)
        if not released:
            log.warning("Mapping %s: the lock of %r was gone before its release (it expired)", mapping, holder)
        return released

    def break_lock(self, mapping: str) -> bool:
        """Remove a mapping's lock whoever holds it (an operator's action, when its run is known to be dead).

        :return: whether there was a lock.
        """
        with self._write() as conn:
            removed = bool(conn.execute(sa.delete(_L).where(_L.c.mapping == mapping)).rowcount)
        log.warning("Mapping %s: lock broken by hand", mapping)
        return removed

    def locks(self) -> pd.DataFrame:
        """The locks held now: columns ``mapping, holder, acquired_at, expires_at``."""
        with self._read() as conn:
            return _frame(
                conn.execute(sa.select(*(_L.c[n] for n in LOCK_DTYPES)).order_by(_L.c.mapping)).all(), LOCK_DTYPES
            )


def _forward(current: sa.ColumnElement[Any], new: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """SQL for 'the newer of two timestamps, a null counting as older'."""
    return sa.case((new.is_(None), current), (current.is_(None), new), (new > current, new), else_=current)


def _last_per_key(params: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per bc_id, the last one winning: one upsert statement may not touch a row twice (PostgreSQL)."""
    return list({p["bc_id"]: p for p in params}.values())


def _check_unique_crm_ids(mapping: str, params: list[dict[str, Any]]) -> None:
    seen: dict[str, str] = {}
    clashes: list[tuple[str, str, str]] = []
    for p in params:
        crm_id = p.get("crm_id")
        if crm_id is None:
            continue
        if crm_id in seen:
            clashes.append((p["bc_id"], crm_id, seen[crm_id]))
        else:
            seen[crm_id] = p["bc_id"]
    if clashes:
        bc_id, crm_id, _first = clashes[0]
        raise CouplingConflict(mapping, bc_id, crm_id, None, count=len(clashes))
