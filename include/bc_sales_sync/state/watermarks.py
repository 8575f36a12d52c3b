"""Watermarks: how far each mapping has read, per direction (BC's modified-on filters).

A watermark is the newest source modified time synced, capped at the job's start and only ever moving forward;
none means the next run reads everything.
"""

from __future__ import annotations

import datetime as dt
import logging

import sqlalchemy as sa

from .database import Repository
from .models import TO_CRM, Watermark
from .values import check_direction, isna, utc

log = logging.getLogger(__name__)

_W = Watermark.__table__


class Watermarks(Repository):
    """The ``sync_watermark`` table."""

    def watermark(self, mapping: str, direction: str = TO_CRM) -> dt.datetime | None:
        """The newest source modified time synced for a mapping and direction, or ``None`` (full read).

        :param mapping: the mapping name.
        :param direction: :data:`~.models.TO_CRM` (BC to Sales, the default) or :data:`~.models.FROM_CRM`.
        """
        check_direction(direction)
        with self.db.read() as conn:
            return conn.execute(
                sa.select(_W.c.value).where(_W.c.mapping == mapping, _W.c.direction == direction)
            ).scalar_one_or_none()

    def advance_watermark(
        self,
        mapping: str,
        value: dt.datetime | None,
        *,
        direction: str = TO_CRM,
        cap: dt.datetime | None = None,
    ) -> dt.datetime | None:
        """Move the watermark forward to ``value`` (never back).

        :param mapping: the mapping name.
        :param value: the newest source modified time seen; ``None`` changes nothing.
        :param direction: :data:`~.models.TO_CRM` (the default) or :data:`~.models.FROM_CRM`.
        :param cap: the job's start time: the watermark never passes it, so records changed while the job ran
            are read again next time.
        :return: the stored watermark after the call.
        """
        check_direction(direction)
        if isna(value):
            return self.watermark(mapping, direction)
        value = utc(value)
        if cap is not None:
            value = min(value, utc(cap, "cap"))
        insert = self.db.insert(_W).values(mapping=mapping, direction=direction, value=value, updated_at=self.db.now())
        statement = insert.on_conflict_do_update(
            index_elements=[_W.c.mapping, _W.c.direction],
            set_={"value": insert.excluded.value, "updated_at": insert.excluded.updated_at},
            where=insert.excluded.value > _W.c.value,
        )
        with self.db.write() as conn:
            conn.execute(statement)
            return conn.execute(
                sa.select(_W.c.value).where(_W.c.mapping == mapping, _W.c.direction == direction)
            ).scalar_one()

    def reset_watermark(self, mapping: str, direction: str | None = None) -> None:
        """Forget the watermark(s) of a mapping, so its next run reads everything (BC's reset).

        :param mapping: the mapping name.
        :param direction: :data:`~.models.TO_CRM` or :data:`~.models.FROM_CRM`; ``None`` (the default): both.
        """
        where = [_W.c.mapping == mapping]
        if direction is not None:
            check_direction(direction)
            where.append(_W.c.direction == direction)
        with self.db.write() as conn:
            conn.execute(sa.delete(_W).where(*where))
        log.info("Mapping %s: watermark reset (%s)", mapping, direction or "both directions")
