"""The sync state store: couplings and their deletion conflicts, watermarks, work dates, job logs, per-record errors and mapping locks.

Sync tasks keep their state in this database, never in Airflow's metadata DB. Every call is one transaction;
bulk calls take and return pandas DataFrames and write with set-based ``INSERT ... ON CONFLICT`` statements in
chunks, so their statement count depends on the number of rows divided by the chunk size, never on the rows
themselves. SQLite (the default, a file) and PostgreSQL (production) are supported.

:class:`StateStore` is what callers use. Each concern is a part of its own over one shared
:class:`~.database.Database` (its module next to this one); the store is those parts together.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy.engine import URL, Engine

from .couplings import Couplings
from .database import DEFAULT_CONN_ID, Database, resolve_url
from .deletions import Deletions
from .jobs import Jobs
from .locks import Locks
from .record_errors import RecordErrors
from .watermarks import Watermarks
from .work_dates import WorkDates


class StateStore(Couplings, RecordErrors, Deletions, Watermarks, WorkDates, Jobs, Locks):
    """The sync jobs' own state database, with the methods of all its parts.

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
        super().__init__(Database(url, clock=clock))
        if migrate:
            self.migrate()

    @classmethod
    def from_airflow(cls, conn_id: str = DEFAULT_CONN_ID, *, migrate: bool = True) -> StateStore:
        """The store named by the Airflow connection ``conn_id`` (see :func:`resolve_url` for the fallbacks).

        :param conn_id: the Airflow connection id, ``bc_sync_state`` by default.
        :param migrate: bring the schema up to date first.
        """
        return cls(resolve_url(conn_id), migrate=migrate)

    @property
    def url(self) -> URL:
        return self.db.url

    @property
    def engine(self) -> Engine:
        return self.db.engine

    def migrate(self) -> None:
        """Upgrade the schema to the newest migration (see :meth:`Database.migrate`)."""
        self.db.migrate()

    def schema_revision(self) -> str | None:
        """The migration revision the database is at (``None`` before the first migration)."""
        return self.db.schema_revision()

    def close(self) -> None:
        """Close the pooled connections."""
        self.db.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"StateStore({str(self.db)!r})"
