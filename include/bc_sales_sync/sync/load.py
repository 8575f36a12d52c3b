"""Loading a chunk's planned writes into Dataverse through ``$batch``, with continue-on-error.

A create that finds its row already there (a rerun after a crash) becomes an update, so a rerun
never duplicates. An update that finds its row gone becomes a create only for a record not synced
since it was coupled (or restored); a synchronized row deleted in Sales is a deletion conflict,
never silently re-created. One failing record never fails its neighbours.
"""

from __future__ import annotations

import logging

from include.bc_sales_sync.sync.plan import (
    ROW_ROLES,
    Operation,
    RecordPlan,
    WritePlan,
    operations,
    required_operations,
)

log = logging.getLogger(__name__)

ATTEMPTS = 3  # a record may switch once, then one of its children once
MODIFIED_ON = "modifiedon"
DELETED = (
    "The record cannot be updated because it is coupled to a deleted record: {entity_set}({id}) no longer "
    "exists in Sales. Re-create it (python -m include.bc_sales_sync.state restore-deleted --mapping '{mapping}' "
    "<bc id>) or remove the coupling (remove-coupling); until then the record is left alone."
)
KEPT_CHANGING = "The Sales row kept changing between create and update; the record is retried next run."


def load(dataverse, plan: WritePlan, *, name: str = "") -> dict[str, str | None]:
    """Write every record plan; rows the records require go first, create-only (one that exists
    already is left alone).

    :param dataverse: the :class:`~include.bc_sales_sync.hooks.DataverseHook`.
    :param plan: the chunk's writes.
    :param name: the job's name, for the log.
    :return: per BC id, ``None`` (written) or the error message. Each written plan's
        ``modified_on`` is the row's ``modifiedon`` after the write, as Dataverse returned it (the
        coupling keeps it, so the Sales → BC direction does not take this write for a user's edit).
    """
    plans = plan.records
    outcomes: dict[str, str | None] = {}
    pending = {bc_id: list(p.operations) for bc_id, p in plans.items()}
    required = required_operations(plan.requires) if plans else []
    for attempt in range(ATTEMPTS):
        flat = [op for ops in pending.values() for op in ops]
        if not flat:
            break
        sent = required + flat
        results = dataverse.batch([batch_operation(op) for op in sent], continue_on_error=True)
        for op, res in zip(required, results, strict=False):
            if not (200 <= res.status < 300 or res.status == 412):
                log.warning("%s: a row the records need was not created: %s", name, describe_failure(op, res))
        required = []
        retry: dict[str, list[Operation]] = {}
        failed: set[str] = set()
        for op, res in zip(flat, results[len(sent) - len(flat) :], strict=True):
            if 200 <= res.status < 300:
                _note_modified_on(plans[op.bc_id], op, res)
                continue
            if op.bc_id in failed or op.bc_id in retry:
                continue
            whole = op.role == "primary"
            may_switch = attempt == 0 if whole else (op.role == "child" and attempt < ATTEMPTS - 1)
            if may_switch and op.create and res.status == 412:
                retry[op.bc_id] = _switch(plans[op.bc_id], op, create=False, cause=describe_failure(op, res))
            elif whole and not op.create and res.status == 404 and not plans[op.bc_id].may_recreate:
                failed.add(op.bc_id)
                plans[op.bc_id].deleted = True
                outcomes[op.bc_id] = DELETED.format(entity_set=op.entity_set, id=op.target_id, mapping=name)
            elif may_switch and not op.create and res.status == 404:
                retry[op.bc_id] = _switch(plans[op.bc_id], op, create=True, cause=describe_failure(op, res))
            else:
                failed.add(op.bc_id)
                outcomes[op.bc_id] = describe_failure(op, res)
                if op.cause:  # e.g. a create refused as a duplicate key, then no row to update
                    outcomes[op.bc_id] = (
                        f"{op.cause} Then, as {'a create' if op.create else 'an update'}: {outcomes[op.bc_id]}"
                    )
        for bc_id in pending:
            if bc_id not in failed and bc_id not in retry:
                outcomes[bc_id] = None
        pending = retry
    for bc_id in pending:  # still conflicting after the last attempt
        outcomes[bc_id] = KEPT_CHANGING
    return outcomes


def _switch(plan: RecordPlan, failed_op: Operation, *, create: bool, cause: str | None = None) -> list[Operation]:
    """Redo a record whose row was not as expected: all of it as create or as update when its
    own row failed; when a child failed, that child and the later ones (the state writes stay
    updates)."""
    if failed_op.role == "primary":
        plan.created = create
        redone = operations(plan.bc_id, failed_op.target, failed_op.row, plan.children, create=create)
    else:
        redone = []
        for op in plan.operations[plan.operations.index(failed_op) :]:
            if op.role == "child":
                redone.append(op.redone(create=create))
            elif op.role == "final":
                redone.append(op)
    for op in redone:
        op.cause = cause
    plan.operations = redone  # what is pending now, so a later switch finds its operation
    return redone


def batch_operation(op: Operation):
    from include.bc_sales_sync.hooks.dataverse import BatchOperation

    headers = {"If-None-Match": "*"} if op.create else {"If-Match": "*"}
    select: tuple[str, ...] = ()
    if op.role in ROW_ROLES:  # the record's own row answers with its new modifiedon, and no more
        headers["Prefer"] = "return=representation"
        select = (MODIFIED_ON,)
    return BatchOperation(
        "PATCH", entity_set=op.entity_set, key=op.target_id, body=op.body, headers=headers, select=select
    )


def _note_modified_on(plan: RecordPlan, op: Operation, result) -> None:
    if op.role in ROW_ROLES and isinstance(result.body, dict) and result.body.get(MODIFIED_ON):
        plan.modified_on = max(filter(None, (plan.modified_on, result.body[MODIFIED_ON])))


def describe_failure(op: Operation, result) -> str:
    what = {"activate": "Activating", "final": "Finishing"}.get(op.role, "Writing")
    code = f" ({result.error_code})" if getattr(result, "error_code", None) else ""
    message = getattr(result, "error_message", None) or f"HTTP {result.status}"
    return f"{what} {op.entity_set}({op.target_id}) failed with HTTP {result.status}{code}: {message}"
