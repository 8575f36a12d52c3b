"""Couplings: which BC record is coupled to which Dataverse row, per mapping, and how its last sync went.

BC's CRM Integration Records: one-to-one per mapping, modified times that only move forward, the last result
of each direction (:data:`~.models.TO_CRM` in the ``last_*`` columns, :data:`~.models.FROM_CRM` in the
``from_crm_*`` ones), and the skipped mark (set by :meth:`~.record_errors.RecordErrors.record_failure`) that
only an operator clears. Deletion conflicts are in :mod:`.deletions`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any, NoReturn

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from .database import Database, Repository
from .errors import CouplingConflict, StateStoreError
from .models import BC_ID_LENGTH, CRM_ID_LENGTH, RESULT_COLUMNS, TO_CRM, Coupling
from .values import (
    UTC_TS,
    check_direction,
    check_ids,
    chunks,
    json_values,
    require,
    strings,
    timestamps,
    typed_frame,
    unique_strings,
)

log = logging.getLogger(__name__)

_C = Coupling.__table__

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
    "from_crm_result": "str",
    "from_crm_error": "str",
    "from_crm_failed_count": "int64",
    "from_crm_job_id": "str",
    "deleted_side": "str",
}


class Couplings(Repository):
    """The ``sync_coupling`` table: read, record successes, restore, couple and uncouple."""

    def couplings(
        self, mapping: str, *, bc_ids: Iterable[Any] | None = None, crm_ids: Iterable[Any] | None = None
    ) -> pd.DataFrame:
        """The couplings of a mapping, ordered by ``bc_id``.

        :param mapping: the mapping name, e.g. ``ITEM-PRODUCT``.
        :param bc_ids: only these BC records (any number: read in chunks).
        :param crm_ids: only these Dataverse rows; with ``bc_ids`` too, rows must match both.
        :return: columns ``bc_id, crm_id, bc_modified_at, crm_modified_at, last_result, last_error,
            failed_count, skipped, extra, last_job_id, skipped_at, updated_at, from_crm_result, from_crm_error,
            from_crm_failed_count, from_crm_job_id, deleted_side`` (times UTC); an empty frame with the same
            columns and dtypes when there are none. ``last_*`` and ``failed_count`` are the last BC -> Sales
            sync, ``from_crm_*`` the last Sales -> BC one; ``deleted_side`` is ``bc`` or ``sales`` when the
            record on that side was found deleted (see :meth:`~.deletions.Deletions.deleted`), else null.
        """
        where = [_C.c.mapping == mapping]
        if bc_ids is not None:
            key, values = _C.c.bc_id, unique_strings(bc_ids)
        elif crm_ids is not None:
            key, values = _C.c.crm_id, unique_strings(crm_ids)
        else:
            key, values = None, []
        frame = self._couplings_where(where, key, values)
        if bc_ids is not None and crm_ids is not None:
            frame = frame[frame["crm_id"].isin(unique_strings(crm_ids))].reset_index(drop=True)
        return frame

    def _couplings_where(
        self, where: list[Any], key: sa.ColumnElement[Any] | None = None, values: Sequence[str] = ()
    ) -> pd.DataFrame:
        query = sa.select(*(_C.c[name] for name in COUPLING_DTYPES)).where(*where)
        rows: list[Any] = []
        with self.db.read() as conn:
            if key is None:
                rows = conn.execute(query.order_by(_C.c.bc_id)).all()
            else:
                for chunk in chunks(values):
                    rows.extend(conn.execute(query.where(key.in_(chunk))).all())
        frame = typed_frame(rows, COUPLING_DTYPES)
        if key is not None:
            frame = frame.sort_values("bc_id", ignore_index=True)
        return frame

    def failed_not_skipped(self, mapping: str, direction: str = TO_CRM) -> pd.DataFrame:
        """The records to (re)synchronize first in ``direction``: couplings whose last sync there failed, and
        couplings not synchronized since they were made or restored, that are not skipped.

        "Not synchronized since": in TO_CRM a coupling without a result (coupled by hand, or restored after
        its Sales row was deleted), so the next run writes it; in FROM_CRM one without a result and without a
        BC modified time (restored after its BC record was deleted), so the next run re-creates the record.
        A coupling with a deletion conflict (``deleted_side`` set) is left out in both directions: it waits for
        an operator (:meth:`~.deletions.Deletions.resolve_deleted`), not for a retry.

        :param mapping: the mapping name.
        :param direction: :data:`~.models.TO_CRM` (the default, ``last_result``) or :data:`~.models.FROM_CRM`
            (``from_crm_result``).
        :return: the same columns as :meth:`couplings`.
        """
        check_direction(direction)
        result = _C.c[RESULT_COLUMNS[direction].result]
        fresh = result.is_(None) & _C.c.crm_id.is_not(None)
        if direction != TO_CRM:
            fresh = fresh & _C.c.bc_modified_at.is_(None)
        return self._couplings_where(
            [_C.c.mapping == mapping, (result == "failure") | fresh, ~_C.c.skipped, _C.c.deleted_side.is_(None)]
        )

    def skipped(self, mapping: str) -> pd.DataFrame:
        """Couplings marked skipped (the same error twice in a row); they wait for :meth:`restore`.

        :param mapping: the mapping name.
        :return: the same columns as :meth:`couplings`.
        """
        return self._couplings_where([_C.c.mapping == mapping, _C.c.skipped])

    def record_success(
        self, mapping: str, job_id: str, rows: pd.DataFrame, *, forward_only: bool = True, direction: str = TO_CRM
    ) -> None:
        """Upsert the couplings of records that synced: result success, error cleared, no longer skipped.

        The result, error, failure count and job are those of ``direction``; the other direction's stay as
        they are. Both records exist again, so a deletion conflict is cleared. Modified times (shared by both
        directions: each side's after the write) only move forward; one that is null keeps the stored value.
        When a record is now coupled to another Dataverse row than before, that row's modified time is taken as
        given.

        :param mapping: the mapping name.
        :param job_id: the sync job that wrote them.
        :param rows: columns ``bc_id, crm_id, bc_modified_at, crm_modified_at`` and optionally ``extra`` (a
            dict per row, e.g. the id of a secondary target; replaces the stored one when not null). A bc_id
            given twice keeps its last row.
        :param forward_only: ``False`` stores the given modified times even when older (the conflict rule
            that moves a timestamp back so the other direction picks the change up).
        :param direction: the direction that wrote them, :data:`~.models.TO_CRM` (the default) or
            :data:`~.models.FROM_CRM`.
        :raises CouplingConflict: a Dataverse row is already coupled to another BC record of the mapping.
        """
        check_direction(direction)
        columns = RESULT_COLUMNS[direction]
        require(rows, ("bc_id", "crm_id", "bc_modified_at", "crm_modified_at"), "record_success")
        if rows.empty:
            return
        bc_ids = strings(rows["bc_id"])
        check_ids(mapping, "record_success", bc_ids, "bc_id", BC_ID_LENGTH)
        crm_ids = strings(rows["crm_id"])
        check_ids(mapping, "record_success", [v or "" for v in crm_ids], "crm_id", CRM_ID_LENGTH)
        now = self.db.now()
        params = last_per_key(
            [
                {
                    "mapping": mapping,
                    "bc_id": bc_id,
                    "crm_id": crm_id,
                    "bc_modified_at": bc_at,
                    "crm_modified_at": crm_at,
                    columns.result: "success",
                    columns.error: None,
                    columns.job_id: job_id,
                    columns.failed_count: 0,
                    "skipped": False,
                    "skipped_at": None,
                    "updated_at": now,
                    "extra": extra,
                }
                for bc_id, crm_id, bc_at, crm_at, extra in zip(
                    bc_ids,
                    crm_ids,
                    timestamps(rows["bc_modified_at"], "bc_modified_at"),
                    timestamps(rows["crm_modified_at"], "crm_modified_at"),
                    json_values(rows["extra"]) if "extra" in rows.columns else [None] * len(rows),
                    strict=True,
                )
            ]
        )
        check_unique_crm_ids(mapping, params)

        insert = self.db.insert(_C)
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
                **{name: new[name] for name in (columns.result, columns.error, columns.job_id, columns.failed_count)},
                "skipped": new.skipped,
                "skipped_at": new.skipped_at,
                "deleted_side": sa.null(),
                "updated_at": new.updated_at,
                "extra": sa.func.coalesce(new.extra, _C.c.extra),
            },
        ).returning(_C.c.bc_id)  # RETURNING makes SQLAlchemy send multi-row VALUES batches (insertmanyvalues)
        try:
            with self.db.write() as conn:
                for chunk in chunks(params):
                    conn.execute(statement, list(chunk)).all()
        except IntegrityError as exc:
            raise_conflict(self.db, mapping, params, exc)
        log.info("Mapping %s: recorded %d synced record(s) for job %s (%s)", mapping, len(params), job_id, direction)

    def rekey(self, mapping: str, bc_ids: dict[str, str]) -> int:
        """Move couplings to new BC ids (a record re-created in BC gets a new SystemId), keeping the rest.

        :param mapping: the mapping name.
        :param bc_ids: old BC id -> new BC id.
        :return: how many couplings moved.
        """
        check_ids(mapping, "rekey", list(bc_ids.values()), "bc_id", BC_ID_LENGTH)
        count = 0
        with self.db.write() as conn:
            for old, new in bc_ids.items():
                count += conn.execute(
                    sa.update(_C)
                    .where(_C.c.mapping == mapping, _C.c.bc_id == str(old))
                    .values(bc_id=str(new), updated_at=self.db.now())
                ).rowcount
        log.info("Mapping %s: %d coupling(s) moved to re-created BC records", mapping, count)
        return count

    def restore(self, mapping: str, bc_ids: Iterable[Any]) -> int:
        """Clear the skipped mark of couplings (an operator's action); they are retried on the next run.

        :param mapping: the mapping name.
        :param bc_ids: the BC records to restore.
        :return: how many couplings were skipped and are restored now.
        """
        now = self.db.now()
        count = 0
        with self.db.write() as conn:
            for chunk in chunks(unique_strings(bc_ids)):
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
        with self.db.write() as conn:
            for chunk in chunks(unique_strings(bc_ids)):
                count += conn.execute(sa.delete(_C).where(_C.c.mapping == mapping, _C.c.bc_id.in_(chunk))).rowcount
        log.info("Mapping %s: uncoupled %d record(s)", mapping, count)
        return count

    def couple(self, mapping: str, bc_id: str, crm_id: str) -> None:
        """Couple one BC record to one Dataverse row by hand.

        Coupling a record to a different row than before resets its sync history (times, both directions'
        results, skipped, a deletion conflict), so the next run writes it again. Coupling it to the row it has
        already is a no-op.

        :param mapping: the mapping name.
        :param bc_id: the BC record.
        :param crm_id: the Dataverse row id.
        :raises CouplingConflict: the row is coupled to another BC record of the mapping; uncouple that first.
        """
        bc_id, crm_id = str(bc_id), str(crm_id)
        check_ids(mapping, "couple", [bc_id], "bc_id", BC_ID_LENGTH)
        check_ids(mapping, "couple", [crm_id], "crm_id", CRM_ID_LENGTH)
        insert = self.db.insert(_C).values(
            mapping=mapping, bc_id=bc_id, crm_id=crm_id, failed_count=0, skipped=False, updated_at=self.db.now()
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
                "from_crm_result": None,
                "from_crm_error": None,
                "from_crm_failed_count": 0,
                "deleted_side": None,
                "skipped": False,
                "skipped_at": None,
                "updated_at": insert.excluded.updated_at,
            },
            where=_C.c.crm_id.is_distinct_from(insert.excluded.crm_id),
        )
        try:
            with self.db.write() as conn:
                other = conn.execute(
                    sa.select(_C.c.bc_id).where(_C.c.mapping == mapping, _C.c.crm_id == crm_id, _C.c.bc_id != bc_id)
                ).scalar()
                if other is not None:
                    raise CouplingConflict(mapping, bc_id, crm_id, other)
                conn.execute(statement)
        except IntegrityError as exc:  # a concurrent couple() of the same row won the race
            raise_conflict(self.db, mapping, [{"bc_id": bc_id, "crm_id": crm_id}], exc)
        log.info("Mapping %s: coupled a record by hand", mapping)


def raise_conflict(db: Database, mapping: str, params: list[dict[str, Any]], exc: IntegrityError) -> NoReturn:
    """Explain a unique-index violation on (mapping, crm_id) as a CouplingConflict."""
    wanted = {p["crm_id"]: p["bc_id"] for p in params if p.get("crm_id") is not None}
    existing = Couplings(db).couplings(mapping, crm_ids=list(wanted))
    clashes = existing[existing["crm_id"].map(wanted) != existing["bc_id"]]
    if clashes.empty:
        raise StateStoreError(f"mapping {mapping!r}: the couplings could not be written: {exc.orig}") from exc
    first = clashes.iloc[0]
    raise CouplingConflict(
        mapping, wanted[first["crm_id"]], first["crm_id"], first["bc_id"], count=len(clashes)
    ) from None


def _forward(current: sa.ColumnElement[Any], new: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """SQL for 'the newer of two timestamps, a null counting as older'."""
    return sa.case((new.is_(None), current), (current.is_(None), new), (new > current, new), else_=current)


def last_per_key(params: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per bc_id, the last one winning: one upsert statement may not touch a row twice (PostgreSQL)."""
    return list({p["bc_id"]: p for p in params}.values())


def check_unique_crm_ids(mapping: str, params: list[dict[str, Any]]) -> None:
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
