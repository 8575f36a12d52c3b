"""Sync jobs: one run of one mapping in one direction, its counters and its end (BC's Integration Synch. Job)."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

import pandas as pd
import sqlalchemy as sa

from .database import Database, Repository
from .errors import UnknownJob
from .models import COUNTERS, RESULT_COLUMNS, TO_CRM, Coupling, SyncError, SyncJob
from .values import UTC_TS, check_direction, truncate, typed_frame, utc

log = logging.getLogger(__name__)

_C = Coupling.__table__
_J = SyncJob.__table__
_E = SyncError.__table__

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


class Jobs(Repository):
    """The ``sync_job`` table: start, count, finish, list and clean up jobs."""

    def start_job(
        self,
        mapping: str,
        *,
        direction: str = TO_CRM,
        run_id: str | None = None,
        dag_id: str | None = None,
        task_id: str | None = None,
        dry_run: bool = False,
        window_start: dt.datetime | None = None,
        window_end: dt.datetime | None = None,
    ) -> str:
        """Log the start of a sync job (one mapping, one direction, one run).

        :param mapping: the mapping name.
        :param direction: :data:`~.models.TO_CRM` (the default) or :data:`~.models.FROM_CRM`.
        :param run_id: the Airflow run id.
        :param dag_id: the Airflow DAG id.
        :param task_id: the Airflow task id.
        :param dry_run: the job computes changes without writing them.
        :param window_start: start of the modified-time window read (``None``: everything).
        :param window_end: end of that window.
        :return: the new job id (a GUID string).
        """
        check_direction(direction)
        job_id = str(uuid.uuid4())
        with self.db.write() as conn:
            conn.execute(
                sa.insert(_J).values(
                    id=job_id,
                    mapping=mapping,
                    direction=direction,
                    run_id=run_id,
                    dag_id=dag_id,
                    task_id=task_id,
                    started_at=self.db.now(),
                    status="running",
                    dry_run=bool(dry_run),
                    window_start=None if window_start is None else utc(window_start, "window_start"),
                    window_end=None if window_end is None else utc(window_end, "window_end"),
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
        with self.db.write() as conn:
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
        with self.db.write() as conn:
            updated = conn.execute(
                sa.update(_J)
                .where(_J.c.id == job_id)
                .values(finished_at=self.db.now(), status=status, message=truncate(message))
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

    def job(self, job_id: str) -> dict[str, Any]:
        """One job: id, mapping, direction, run_id, dag_id, task_id, started_at, finished_at, status, dry_run,
        the counters, message, window_start and window_end.

        :raises UnknownJob: no job has that id.
        """
        job = job_row(self.db, job_id)
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
        with self.db.read() as conn:
            return typed_frame(conn.execute(query).all(), JOB_DTYPES)

    def cleanup(self, older_than: dt.timedelta) -> int:
        """Delete old finished jobs and their errors, as BC's DeleteEntries does.

        A job goes when it finished more than ``older_than`` ago and either had no failed records or none of
        its failures is still open (no coupling's last result, in either direction, is a failure from that job).

        :param older_than: the age of the jobs to delete.
        :return: how many jobs were deleted.
        """
        cutoff = self.db.now() - older_than
        still_failing = sa.exists().where(
            sa.or_(
                *(
                    (_C.c[columns.job_id] == _J.c.id) & (_C.c[columns.result] == "failure")
                    for columns in RESULT_COLUMNS.values()
                )
            )
        )
        condition = sa.and_(
            _J.c.status != "running",
            _J.c.finished_at.is_not(None),
            _J.c.finished_at < cutoff,
            sa.or_(_J.c.failed == 0, ~still_failing),
        )
        with self.db.write() as conn:
            conn.execute(sa.delete(_E).where(_E.c.job_id.in_(sa.select(_J.c.id).where(condition))))
            count = conn.execute(sa.delete(_J).where(condition)).rowcount
        log.info("Deleted %d sync job(s) finished before %s", count, cutoff.isoformat())
        return count


def job_row(db: Database, job_id: str) -> dict[str, Any] | None:
    """The job's row as a dict, or ``None`` when no job has that id."""
    with db.read() as conn:
        row = conn.execute(sa.select(_J).where(_J.c.id == job_id)).first()
    return None if row is None else dict(row._mapping)
