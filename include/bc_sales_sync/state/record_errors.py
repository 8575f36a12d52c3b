"""Per-record errors: the records a job failed, why, and the skipped rule (BC's Integration Synch. Job Errors).

A failure is written twice: on the record's coupling (the last result of the failed direction, and the skipped
mark when the same error comes twice in a row in that direction) and as one ``sync_error`` row of the job, in
one transaction. A deletion conflict (:mod:`.deletions`) is written the same way, without the skipped rule.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from .couplings import check_unique_crm_ids, last_per_key, raise_conflict
from .database import Database, Repository
from .errors import UnknownJob
from .jobs import job_row
from .models import BC_ID_LENGTH, CRM_ID_LENGTH, RESULT_COLUMNS, TO_CRM, Coupling, SyncError
from .values import UTC_TS, check_direction, check_ids, chunks, require, strings, truncate, typed_frame

log = logging.getLogger(__name__)

_C = Coupling.__table__
_E = SyncError.__table__

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


class RecordErrors(Repository):
    """The ``sync_error`` table and the failure side of the couplings."""

    def record_failure(self, mapping: str, job_id: str, rows: pd.DataFrame, *, direction: str = TO_CRM) -> pd.DataFrame:
        """Mark records as failed in ``direction`` and log their errors.

        The coupling is created when missing (a record whose first insert failed has no Dataverse row yet).
        If its previous result in the same direction was a failure with the same message, it becomes skipped,
        as BC does with the same error twice in a row; the other direction's result is left as it is. One
        ``sync_error`` row is written per input row.

        :param mapping: the mapping name.
        :param job_id: the sync job that failed them (must exist).
        :param rows: columns ``bc_id, message`` and optionally ``crm_id`` and ``field``. Messages are stored
            cut to 2,048 characters; they must not contain secrets.
        :param direction: the direction whose write failed, :data:`~.models.TO_CRM` (the default) or
            :data:`~.models.FROM_CRM`.
        :return: the rows with a boolean column ``skipped``: true for the records that became skipped now.
        :raises CouplingConflict: a given crm_id is already coupled to another BC record of the mapping.
        :raises UnknownJob: ``job_id`` names no job.
        """
        check_direction(direction)
        require(rows, ("bc_id", "message"), "record_failure")
        result = rows.copy()
        became_skipped = write_failures(self.db, "record_failure", mapping, job_id, rows, direction=direction)
        result["skipped"] = pd.Series(
            [became_skipped.get(bc_id, False) for bc_id in strings(rows["bc_id"])], dtype=bool, index=rows.index
        )
        return result

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
        with self.db.read() as conn:
            return typed_frame(conn.execute(query).all(), ERROR_DTYPES)


def write_failures(
    db: Database,
    call: str,
    mapping: str,
    job_id: str,
    rows: pd.DataFrame,
    *,
    direction: str,
    deleted_side: str | None = None,
) -> dict[str, bool]:
    """Upsert failed couplings and insert their ``sync_error`` rows, in one transaction.

    :param call: the public method, for the messages of bad input.
    :param rows: columns ``bc_id, message`` and optionally ``crm_id`` and ``field`` (checked by the caller).
    :param direction: whose result, error, job and failure count the failure goes to.
    :param deleted_side: set: a deletion conflict, recorded on the coupling; such a failure never marks a
        record skipped (it waits for an operator anyway). ``None``: an ordinary failure and BC's skipped rule.
    :return: ``{bc_id: became skipped now}`` per coupling written (all false with ``deleted_side``).
    """
    if rows.empty:
        return {}
    columns = RESULT_COLUMNS[direction]
    bc_ids = strings(rows["bc_id"])
    check_ids(mapping, call, bc_ids, "bc_id", BC_ID_LENGTH)
    crm_ids = strings(rows["crm_id"]) if "crm_id" in rows.columns else [None] * len(rows)
    check_ids(mapping, call, [v or "" for v in crm_ids], "crm_id", CRM_ID_LENGTH)
    fields = strings(rows["field"]) if "field" in rows.columns else [None] * len(rows)
    messages = [truncate(m) or "(no message)" for m in rows["message"]]
    now = db.now()
    errors = [
        {
            "job_id": job_id,
            "mapping": mapping,
            "source_id": bc_id,
            "target_id": crm_id,
            "field": truncate(fld, 250),
            "message": message,
            "created_at": now,
        }
        for bc_id, crm_id, fld, message in zip(bc_ids, crm_ids, fields, messages, strict=True)
    ]
    params = last_per_key(
        [
            {
                "mapping": mapping,
                "bc_id": bc_id,
                "crm_id": crm_id,
                columns.result: "failure",
                columns.error: message,
                columns.job_id: job_id,
                columns.failed_count: 1,
                "skipped": False,
                "updated_at": now,
                **({} if deleted_side is None else {"deleted_side": deleted_side}),
            }
            for bc_id, crm_id, message in zip(bc_ids, crm_ids, messages, strict=True)
        ]
    )
    check_unique_crm_ids(mapping, params)

    insert = db.insert(_C)
    new = insert.excluded
    result, error = _C.c[columns.result], _C.c[columns.error]
    # No bound parameters in the SET clause (see record_success): constants come from the inserted row.
    set_: dict[str, Any] = {
        "crm_id": sa.func.coalesce(new.crm_id, _C.c.crm_id),
        columns.result: new[columns.result],
        columns.error: new[columns.error],
        columns.job_id: new[columns.job_id],
        columns.failed_count: _C.c[columns.failed_count] + new[columns.failed_count],
        "updated_at": new.updated_at,
    }
    if deleted_side is None:
        # BC's IsSameFailureRepeatedTwice, within the one direction. Null-safe: a coupling without a result in
        # this direction yet (made by hand, or synced the other way only) is no repetition, and never NULL.
        same_failure = result.is_not_distinct_from(new[columns.result]) & error.is_not_distinct_from(new[columns.error])
        set_["skipped"] = sa.or_(_C.c.skipped, same_failure)
        set_["skipped_at"] = sa.case((same_failure & ~_C.c.skipped, new.updated_at), else_=_C.c.skipped_at)
    else:
        set_["deleted_side"] = new.deleted_side
    statement = insert.on_conflict_do_update(index_elements=[_C.c.mapping, _C.c.bc_id], set_=set_).returning(
        _C.c.bc_id, _C.c.skipped
    )
    became_skipped: dict[str, bool] = {}
    try:
        with db.write() as conn:
            for chunk in chunks(params):
                keys = [row["bc_id"] for row in chunk]
                before: set[str] = set()
                if deleted_side is None:
                    # Which were skipped before, read with the rows locked (FOR UPDATE on PostgreSQL; SQLite holds
                    # the write lock already), so "became skipped now" stays exact if two jobs fail a record at once.
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
                    became_skipped[bc_id] = deleted_side is None and bool(skipped) and bc_id not in before
            for chunk in chunks(errors):
                conn.execute(sa.insert(_E), list(chunk))
    except IntegrityError as exc:
        if job_row(db, job_id) is None:
            raise UnknownJob(job_id) from None
        raise_conflict(db, mapping, params, exc)
    log.info(
        "Mapping %s: recorded %d failed record(s) for job %s (%s), %s",
        mapping,
        len(params),
        job_id,
        direction,
        f"{sum(became_skipped.values())} now skipped" if deleted_side is None else f"{deleted_side} side deleted",
    )
    return became_skipped
