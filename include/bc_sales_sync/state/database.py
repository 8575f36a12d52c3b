"""Where the state database is and how it is opened: URL resolution, the engine, transactions, migrations.

:class:`Database` is what every part of the store works over: one engine, one clock, read and write
transactions, and the Alembic migrations that create and upgrade the schema.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import StaticPool

from .errors import StateStoreError
from .models import Base
from .values import utc, utcnow

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "sync_alembic_version"
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


# ----------------------------------------------------------------------------------------------- the database


class Database:
    """One state database: its engine, its clock, transactions and schema migrations.

    :param url: an SQLAlchemy URL, ``sqlite:///path/to/file.db`` or ``postgresql+psycopg2://user@host/db``.
    :param clock: returns the current UTC time; tests pass their own to move time forward.
    """

    def __init__(self, url: str | URL, *, clock: Callable[[], dt.datetime] | None = None):
        self.url = make_url(url)
        backend = self.url.get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            raise StateStoreError(f"the sync state store runs on SQLite or PostgreSQL, not {backend!r}")
        self.engine = _create_engine(self.url)
        #: The dialect's ``INSERT``, the one with ``on_conflict_do_update``.
        self.insert = sqlite.insert if backend == "sqlite" else postgresql.insert
        self._clock = clock or utcnow

    def __str__(self) -> str:
        return self.url.render_as_string(hide_password=True)

    def close(self) -> None:
        """Close the pooled connections."""
        self.engine.dispose()

    def now(self) -> dt.datetime:
        """The current time, timezone-aware UTC."""
        return utc(self._clock(), "clock()")

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction, committed on exit (rolled back on an exception)."""
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction: one consistent view, and no write lock on SQLite."""
        with self.engine.connect() as conn:
            conn.execution_options(bc_sync_readonly=True)
            with conn.begin():
                yield conn

    # ---------------------------------------------------------------------------------------------- migrations

    def alembic_config(self) -> Any:
        """The Alembic configuration of the migrations (no ``alembic.ini``); set ``attributes["connection"]``."""
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

        with self.read() as conn:
            heads = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_heads()
        return heads[0] if heads else None

    def migrate(self) -> None:
        """Upgrade the schema to the newest migration (``alembic upgrade head``).

        Idempotent and cheap when already current. Concurrent callers are serialised (an advisory lock on
        PostgreSQL, the write lock on SQLite): the later ones find the schema current and do nothing.
        """
        from alembic import command
        from alembic.script import ScriptDirectory

        config = self.alembic_config()
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
        with self.write() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
        log.info("Sync state database %s is at schema revision %s", self, head)


class Repository:
    """A part of the state store over a shared :class:`Database`: the tables of one concern and their rules.

    :param db: the database it works in.
    """

    def __init__(self, db: Database):
        self.db = db
