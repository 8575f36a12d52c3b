"""Deletion conflicts: a coupled record found deleted on one side, waiting for an operator (BC's Deletion-Conflict
Resolution, "None").

A coupled record deleted in Business Central or in Sales is never re-created silently. The write that finds the
other side gone fails the record with "coupled to a deleted record" and :meth:`Deletions.mark_deleted` records
which side it was (``sync_coupling.deleted_side``). Such a coupling is left out of the retries
(:meth:`~.couplings.Couplings.failed_not_skipped`) until an operator resolves it, per record or for the whole
mapping, with :meth:`Deletions.resolve_deleted`: **restore** (the next write of the record re-creates the
deleted side) or **remove** the coupling (both sides stay as they are, uncoupled).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

import pandas as pd
import sqlalchemy as sa

from .couplings import COUPLING_DTYPES
from .database import Repository
from .models import FOUND_BY, RESULT_COLUMNS, SALES_SIDE, SIDES, Coupling
from .record_errors import write_failures
from .values import chunks, require, typed_frame, unique_strings

log = logging.getLogger(__name__)

_C = Coupling.__table__

RESTORE = "restore"
REMOVE = "remove"
RESOLUTIONS = (RESTORE, REMOVE)

DELETED_DTYPES: dict[str, str] = {"mapping": "str", **COUPLING_DTYPES, "message": "str"}


def check_side(side: str) -> None:
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES} (the side whose record is deleted), got {side!r}")


def _modified_at(side: str) -> str:
    """The coupling's modified time of a side's record."""
    return "crm_modified_at" if side == SALES_SIDE else "bc_modified_at"


class Deletions(Repository):
    """Deletion conflicts of the ``sync_coupling`` table: mark, list and resolve them."""

    def mark_deleted(self, mapping: str, job_id: str, rows: pd.DataFrame, side: str) -> int:
        """Record that the coupled record on ``side`` no longer exists: a deletion conflict.

        The failure goes to the direction whose write found the record gone (``sales``: BC -> Sales,
        :data:`~.models.TO_CRM`; ``bc``: Sales -> BC, :data:`~.models.FROM_CRM`): result failure, the message,
        the job, the failure count up by one, and one ``sync_error`` row per input row. The record is never
        marked skipped (it waits for an operator anyway, see :meth:`resolve_deleted`) and is no longer retried.

        :param mapping: the mapping name.
        :param job_id: the sync job that found it (must exist).
        :param rows: columns ``bc_id, crm_id, message`` and optionally ``field``. Messages are stored cut to
            2,048 characters; they must not contain secrets.
        :param side: ``bc`` (:data:`~.models.BC_SIDE`) or ``sales`` (:data:`~.models.SALES_SIDE`).
        :return: how many couplings were marked.
        :raises CouplingConflict: a given crm_id is already coupled to another BC record of the mapping.
        :raises UnknownJob: ``job_id`` names no job.
        """
        check_side(side)
        require(rows, ("bc_id", "crm_id", "message"), "mark_deleted")
        marked = write_failures(
            self.db, "mark_deleted", mapping, job_id, rows, direction=FOUND_BY[side], deleted_side=side
        )
        return len(marked)

    def deleted(self, mapping: str | None = None) -> pd.DataFrame:
        """Couplings with a deletion conflict, waiting for :meth:`resolve_deleted`.

        :param mapping: only this mapping's; ``None``: every mapping's.
        :return: column ``mapping``, the columns of :meth:`~.couplings.Couplings.couplings` (``deleted_side``
            names the deleted side) and ``message``, the error recorded when the deletion was found; ordered by
            mapping and ``bc_id``.
        """
        message = sa.case(
            *((_C.c.deleted_side == side, _C.c[RESULT_COLUMNS[FOUND_BY[side]].error]) for side in SIDES)
        ).label("message")
        query = sa.select(_C.c.mapping, *(_C.c[name] for name in COUPLING_DTYPES), message).where(
            _C.c.deleted_side.is_not(None)
        )
        if mapping is not None:
            query = query.where(_C.c.mapping == mapping)
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(_C.c.mapping, _C.c.bc_id)).all()
        return typed_frame(rows, DELETED_DTYPES)

    def resolve_deleted(self, mapping: str, bc_ids: Iterable[Any] | None = None, *, action: str) -> int:
        """Resolve deletion conflicts, as an operator does.

        ``restore``: the conflict is cleared and the history of the direction that found it is reset (result,
        error and failure count; the job id stays for the record), with the deleted side's modified time set
        to null. ``crm_id`` stays: a deleted Sales row is re-created under the same id. The next write of the
        record re-creates the deleted side. ``remove``: the couplings are deleted; both records stay as they
        are, uncoupled.

        :param mapping: the mapping name.
        :param bc_ids: the BC records to resolve; ``None``: every deletion conflict of the mapping. Records
            without a deletion conflict are left alone.
        :param action: ``restore`` or ``remove``.
        :return: how many couplings were restored or removed.
        """
        if action not in RESOLUTIONS:
            raise ValueError(f"resolve_deleted: action must be one of {RESOLUTIONS}, got {action!r}")
        now = self.db.now()
        count = 0
        with self.db.write() as conn:
            for where in _selections(mapping, bc_ids):
                if action == REMOVE:
                    count += conn.execute(sa.delete(_C).where(*where)).rowcount
                    continue
                for side in SIDES:
                    columns = RESULT_COLUMNS[FOUND_BY[side]]
                    reset = {
                        columns.result: None,
                        columns.error: None,
                        columns.failed_count: 0,
                        _modified_at(side): None,
                    }
                    count += conn.execute(
                        sa.update(_C)
                        .where(*where, _C.c.deleted_side == side)
                        .values(deleted_side=None, updated_at=now, **reset)
                    ).rowcount
        verb = "restored" if action == RESTORE else "removed the coupling of"
        log.info("Mapping %s: %s %d record(s) coupled to a deleted record", mapping, verb, count)
        return count


def _selections(mapping: str, bc_ids: Iterable[Any] | None) -> Iterator[list[Any]]:
    """The WHERE clauses of the deletion conflicts to resolve: all of the mapping, or the given ones in chunks."""
    where = [_C.c.mapping == mapping, _C.c.deleted_side.is_not(None)]
    if bc_ids is None:
        yield where
        return
    for chunk in chunks(unique_strings(bc_ids)):
        yield [*where, _C.c.bc_id.in_(chunk)]
