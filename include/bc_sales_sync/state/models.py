"""SQLAlchemy models of the sync state database: couplings, watermarks, work dates, jobs, errors and locks.

The schema itself is created by the Alembic migrations next to this module; these models must match them
(a test compares the two on SQLite and PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Column sizes: a BC key may be composite (e.g. price group + item + unit + start date), so it gets room.
MAPPING_LENGTH = 100
BC_ID_LENGTH = 250
CRM_ID_LENGTH = 100
MESSAGE_LENGTH = 2048

RESULTS = ("success", "failure")
# The directions of a sync, as the watermark and job tables store them.
TO_CRM = "to_crm"  # Business Central -> Sales (Dataverse)
FROM_CRM = "from_crm"  # Sales (Dataverse) -> Business Central
DIRECTIONS = (TO_CRM, FROM_CRM)
# The side of a coupling whose record was found deleted (a deletion conflict, see ``sync_coupling.deleted_side``).
BC_SIDE = "bc"  # the Business Central record is gone (found by a FROM_CRM write)
SALES_SIDE = "sales"  # the Sales (Dataverse) row is gone (found by a TO_CRM write)
SIDES = (BC_SIDE, SALES_SIDE)
# The direction whose write finds a side deleted: the one writing to that side.
FOUND_BY = {SALES_SIDE: TO_CRM, BC_SIDE: FROM_CRM}
JOB_STATUSES = ("running", "succeeded", "failed")
COUNTERS = ("inserted", "modified", "unchanged", "skipped", "failed", "deleted")

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(sa.TypeDecorator[dt.datetime]):
    """A timestamp that is always timezone-aware UTC in Python.

    PostgreSQL stores ``timestamptz``. SQLite has no time zone support, so the value is stored as naive UTC
    (SQLAlchemy's fixed-width text format, which compares correctly as text). Naive input is taken as UTC.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        # pandas Timestamps are datetime subclasses; drivers want the plain type.
        value = dt.datetime(
            value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond, value.tzinfo
        )
        value = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def json_type() -> sa.types.TypeEngine[Any]:
    """JSON on SQLite, JSONB on PostgreSQL; Python ``None`` is stored as SQL NULL."""
    return sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def big_id() -> sa.types.TypeEngine[int]:
    """An auto-increment key: BIGINT on PostgreSQL, INTEGER on SQLite (only INTEGER is a rowid alias there)."""
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


@dataclass(frozen=True)
class ResultColumns:
    """The ``sync_coupling`` columns of one direction's last sync: result, error, job and failure count.

    BC's names are crossed (a write to CRM records in "Last Synch. CRM Result", one from CRM in "Last Synch.
    Result"); here the BC -> Sales direction keeps the original ``last_*`` columns and Sales -> BC has
    ``from_crm_*`` ones.
    """

    result: str
    error: str
    job_id: str
    failed_count: str


RESULT_COLUMNS = {
    TO_CRM: ResultColumns("last_result", "last_error", "last_job_id", "failed_count"),
    FROM_CRM: ResultColumns("from_crm_result", "from_crm_error", "from_crm_job_id", "from_crm_failed_count"),
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class Coupling(Base):
    """One BC record coupled (or trying to be coupled) to one Dataverse row, per mapping (BC's CRM Integration
    Record). ``crm_id`` is null while the first insert keeps failing.

    Each direction keeps its own last result, error, job and failure count (``last_*`` and ``failed_count`` for
    BC -> Sales, ``from_crm_*`` for Sales -> BC, see :data:`RESULT_COLUMNS`); the skipped mark and the two
    modified times are shared. ``deleted_side`` names the side found deleted (a deletion conflict waiting for
    an operator), null otherwise.
    """

    __tablename__ = "sync_coupling"

    mapping: Mapped[str] = mapped_column(sa.String(MAPPING_LENGTH), primary_key=True)
    bc_id: Mapped[str] = mapped_column(sa.String(BC_ID_LENGTH), primary_key=True)
    crm_id: Mapped[str | None] = mapped_column(sa.String(CRM_ID_LENGTH))
    bc_modified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    crm_modified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_result: Mapped[str | None] = mapped_column(sa.String(10))
    last_error: Mapped[str | None] = mapped_column(sa.Text())
    last_job_id: Mapped[str | None] = mapped_column(sa.String(36))
    failed_count: Mapped[int] = mapped_column(sa.Integer(), nullable=False, server_default=sa.text("0"))
    skipped: Mapped[bool] = mapped_column(sa.Boolean(), nullable=False, server_default=sa.false())
    skipped_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    extra: Mapped[dict[str, Any] | None] = mapped_column(json_type())
    from_crm_result: Mapped[str | None] = mapped_column(sa.String(10))
    from_crm_error: Mapped[str | None] = mapped_column(sa.Text())
    from_crm_job_id: Mapped[str | None] = mapped_column(sa.String(36))
    from_crm_failed_count: Mapped[int] = mapped_column(sa.Integer(), nullable=False, server_default=sa.text("0"))
    deleted_side: Mapped[str | None] = mapped_column(sa.String(10))

    __table_args__ = (
        sa.CheckConstraint(_in("last_result", RESULTS), name="last_result"),
        sa.CheckConstraint(_in("from_crm_result", RESULTS), name="from_crm_result"),
        sa.CheckConstraint(_in("deleted_side", SIDES), name="deleted_side"),
        # One-to-one, as BC: a Dataverse row is coupled to at most one BC record per mapping.
        sa.Index(
            "uq_sync_coupling_mapping_crm_id",
            "mapping",
            "crm_id",
            unique=True,
            sqlite_where=sa.text("crm_id IS NOT NULL"),
            postgresql_where=sa.text("crm_id IS NOT NULL"),
        ),
        # failed_not_skipped() (one index per direction) and skipped() read by these columns.
        sa.Index("ix_sync_coupling_mapping_last_result_skipped", "mapping", "last_result", "skipped"),
        sa.Index("ix_sync_coupling_mapping_from_crm_result_skipped", "mapping", "from_crm_result", "skipped"),
        # cleanup() looks up the couplings still failing from a job, in either direction.
        sa.Index("ix_sync_coupling_last_job_id", "last_job_id"),
        sa.Index("ix_sync_coupling_from_crm_job_id", "from_crm_job_id"),
    )


class Watermark(Base):
    """The newest source modified time seen per mapping and direction (BC's modified-on filters)."""

    __tablename__ = "sync_watermark"

    mapping: Mapped[str] = mapped_column(sa.String(MAPPING_LENGTH), primary_key=True)
    direction: Mapped[str] = mapped_column(sa.String(10), primary_key=True)
    value: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)

    __table_args__ = (sa.CheckConstraint(_in("direction", DIRECTIONS), name="direction"),)


class WorkDate(Base):
    """The business day a daily job last ran for, per job (the customer statistics' work date)."""

    __tablename__ = "sync_work_date"

    job: Mapped[str] = mapped_column(sa.String(MAPPING_LENGTH), primary_key=True)
    work_date: Mapped[dt.date] = mapped_column(sa.Date(), nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)


class SyncJob(Base):
    """One run of one mapping in one direction, with its counters (BC's Integration Synch. Job)."""

    __tablename__ = "sync_job"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    mapping: Mapped[str] = mapped_column(sa.String(MAPPING_LENGTH), nullable=False)
    direction: Mapped[str] = mapped_column(sa.String(10), nullable=False)
    run_id: Mapped[str | None] = mapped_column(sa.String(250))
    dag_id: Mapped[str | None] = mapped_column(sa.String(250))
    task_id: Mapped[str | None] = mapped_column(sa.String(250))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(sa.String(10), nullable=False)
    dry_run: Mapped[bool] = mapped_column(sa.Boolean(), nullable=False, server_default=sa.false())
    inserted: Mapped[int] = mapped_column(sa.Integer(), nullable=False, server_default=sa.text("0"))
    modified: Mapped[int] = mapped_column(sa.Integer(), nullable=False, server_default=sa.text("0"))
    unchanged: Mapped[int] = mapped_column(sa.Integer(), nullable=False, server_default=sa.text("0"))
    skipped: Mapped[int] = mapped_column(sa.Integer(), nullable=False, server_default=sa.text("0"))
    failed: Mapped[int] = mapped_column(sa.Integer(), nullable=False, server_default=sa.text("0"))
    deleted: Mapped[int] = mapped_column(sa.Integer(), nullable=False, server_default=sa.text("0"))
    message: Mapped[str | None] = mapped_column(sa.Text())
    window_start: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    window_end: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        sa.CheckConstraint(_in("direction", DIRECTIONS), name="direction"),
        sa.CheckConstraint(_in("status", JOB_STATUSES), name="status"),
        sa.Index("ix_sync_job_mapping_started_at", "mapping", "started_at"),
        sa.Index("ix_sync_job_started_at", "started_at"),
    )


class SyncError(Base):
    """One failed record of one job (BC's Integration Synch. Job Errors)."""

    __tablename__ = "sync_error"

    id: Mapped[int] = mapped_column(big_id(), primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("sync_job.id"), nullable=False)
    mapping: Mapped[str] = mapped_column(sa.String(MAPPING_LENGTH), nullable=False)
    source_id: Mapped[str] = mapped_column(sa.String(BC_ID_LENGTH), nullable=False)
    target_id: Mapped[str | None] = mapped_column(sa.String(CRM_ID_LENGTH))
    field: Mapped[str | None] = mapped_column(sa.String(250))
    message: Mapped[str] = mapped_column(sa.Text(), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)

    __table_args__ = (
        sa.Index("ix_sync_error_job_id", "job_id"),
        sa.Index("ix_sync_error_mapping_created_at", "mapping", "created_at"),
    )


class SyncLock(Base):
    """The holder of a mapping while it syncs; a lock past ``expires_at`` may be taken over."""

    __tablename__ = "sync_lock"

    mapping: Mapped[str] = mapped_column(sa.String(MAPPING_LENGTH), primary_key=True)
    holder: Mapped[str] = mapped_column(sa.String(250), nullable=False)
    acquired_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
