"""Work dates: the business day a daily job last ran for (the customer statistics' "today"), per job.

Like a watermark, a work date only moves forward; unlike one, it is a calendar date, not a modified time.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from .database import Repository
from .models import WorkDate

_D = WorkDate.__table__


class WorkDates(Repository):
    """The ``sync_work_date`` table."""

    def work_date(self, job: str) -> dt.date | None:
        """The work date the job last ran for, or ``None`` before its first run.

        :param job: the job name, e.g. ``CUSTOMER STATISTICS``.
        """
        with self.db.read() as conn:
            return conn.execute(sa.select(_D.c.work_date).where(_D.c.job == job)).scalar_one_or_none()

    def set_work_date(self, job: str, value: dt.date) -> None:
        """Store the work date a job ran for; it only moves forward (an earlier date changes nothing).

        :param job: the job name.
        :param value: the date. A ``datetime`` is refused: which day it is depends on the time zone.
        """
        if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
            raise TypeError(f"set_work_date: the work date must be a date, got {type(value).__name__}")
        insert = self.db.insert(_D).values(job=job, work_date=value, updated_at=self.db.now())
        statement = insert.on_conflict_do_update(
            index_elements=[_D.c.job],
            set_={"work_date": insert.excluded.work_date, "updated_at": insert.excluded.updated_at},
            where=insert.excluded.work_date > _D.c.work_date,
        )
        with self.db.write() as conn:
            conn.execute(statement)
