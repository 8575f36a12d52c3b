"""Mapping locks: one run syncs a mapping at a time; a lock whose holder died expires and is taken over."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pandas as pd
import sqlalchemy as sa

from .database import Repository
from .errors import LockLost, MappingLocked
from .models import SyncLock
from .values import UTC_TS, typed_frame

log = logging.getLogger(__name__)

_L = SyncLock.__table__

LOCK_DTYPES: dict[str, str] = {"mapping": "str", "holder": "str", "acquired_at": UTC_TS, "expires_at": UTC_TS}


@dataclass
class LockHandle:
    """A held mapping lock, as yielded by :meth:`Locks.lock`; long runs call :meth:`refresh`."""

    mapping: str
    holder: str
    expires_at: dt.datetime
    ttl: dt.timedelta
    _locks: Locks = field(repr=False)

    def refresh(self, ttl: dt.timedelta | None = None) -> dt.datetime:
        """Push the expiry out to now + ``ttl`` (default: the ttl it was taken with).

        :raises LockLost: the lock expired and was taken over, or was broken.
        """
        self.expires_at = self._locks.refresh_lock(self.mapping, self.holder, ttl or self.ttl)
        return self.expires_at


class Locks(Repository):
    """The ``sync_lock`` table."""

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
        now = self.db.now()
        insert = self.db.insert(_L).values(mapping=mapping, holder=holder, acquired_at=now, expires_at=now + ttl)
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
        with self.db.write() as conn:
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
        expires_at = self.db.now() + ttl
        with self.db.write() as conn:
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
        with self.db.write() as conn:
            released = bool(conn.execute(sa.delete(_L).where(_L.c.mapping == mapping, _L.c.holder == holder)).rowcount)
        if not released:
            log.warning("Mapping %s: the lock of %r was gone before its release (it expired)", mapping, holder)
        return released

    def break_lock(self, mapping: str) -> bool:
        """Remove a mapping's lock whoever holds it (an operator's action, when its run is known to be dead).

        :return: whether there was a lock.
        """
        with self.db.write() as conn:
            removed = bool(conn.execute(sa.delete(_L).where(_L.c.mapping == mapping)).rowcount)
        log.warning("Mapping %s: lock broken by hand", mapping)
        return removed

    def locks(self) -> pd.DataFrame:
        """The locks held now: columns ``mapping, holder, acquired_at, expires_at``."""
        with self.db.read() as conn:
            return typed_frame(
                conn.execute(sa.select(*(_L.c[n] for n in LOCK_DTYPES)).order_by(_L.c.mapping)).all(), LOCK_DTYPES
            )
