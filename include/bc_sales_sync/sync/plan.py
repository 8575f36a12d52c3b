"""Planning the writes of a chunk: per record, the Dataverse operations it needs, or none.

A record whose payload (hashed) is what was last written successfully needs no write. Otherwise its
operations are, in order: the row, [its state after creation], its children, [its final
columns], each a create (``If-None-Match: *``) or an update (``If-Match: *``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from include.bc_sales_sync.transforms.base import TargetRows, TransformResult


def payload_hash(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:20]


ROW_ROLES = ("primary", "activate", "final")  # the operations that write the record's own row


@dataclass
class Operation:
    """One planned Dataverse write, tied to the BC record and the target row it comes from."""

    bc_id: str
    target: TargetRows
    row: dict
    create: bool  # If-None-Match: * (create only) or If-Match: * (update only)
    role: str  # primary | activate | child | final | require
    cause: str | None = None  # why it is redone: the failure of the first attempt

    @property
    def entity_set(self) -> str:
        return self.target.entity_set

    @property
    def target_id(self) -> str:
        return self.row["target_id"]

    @property
    def columns(self) -> list[str]:
        t = self.target
        if self.role == "activate":
            return list(t.after_insert)
        if self.role == "final":
            return list(t.final)
        if self.create:
            return [c for c in t.value_columns if c not in t.after_insert and c not in t.final]
        return [c for c in t.value_columns if c not in t.insert_only and c not in t.final]

    @property
    def body(self) -> dict:
        not_null = self.target.not_null
        return {c: self.row[c] for c in self.columns if not (c in not_null and _missing(self.row[c]))}

    def redone(self, *, create: bool) -> Operation:
        return Operation(self.bc_id, self.target, self.row, create, self.role)


@dataclass
class RecordPlan:
    """The writes of one record, and what to remember of it once they succeed."""

    bc_id: str
    primary_id: str
    created: bool
    hash: str
    operations: list[Operation]
    children: list[tuple[TargetRows, dict]] = field(default_factory=list)
    modified_on: str | None = None  # the row's modifiedon after its last write, as Dataverse returned it
    may_recreate: bool = True  # False once synced: a coupled row gone from Sales is a deletion conflict
    deleted: bool = False  # set by the load: the coupled row was found deleted in Sales


@dataclass
class WritePlan:
    """A chunk's writes: the record plans and the rows they require first (created when missing)."""

    records: dict[str, RecordPlan]
    requires: list[TargetRows] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.records)


def plan_writes(frame: pd.DataFrame, result: TransformResult) -> tuple[dict[str, RecordPlan], dict[str, str]]:
    """Per record: the writes it needs, or nothing when its payload is what was last written.

    :param frame: the chunk, with ``existing``, ``extra`` (the last write's hash) and ``last_result``.
    :return: the plans by BC id, and the unchanged records' hashes by BC id.
    """
    existing = dict(zip(frame["bc_id"], frame["existing"], strict=True))
    last_hash = dict(zip(frame["bc_id"], frame["extra"].map(hash_of), strict=True))
    last_ok = dict(zip(frame["bc_id"], frame["last_result"] == "success", strict=True))
    # Never synced since it was coupled (by hand, or restored after a deletion): its row may be created.
    fresh = dict(zip(frame["bc_id"], frame["last_result"].isna(), strict=True))
    children: dict[str, list[tuple[TargetRows, dict]]] = {}
    for target in result.children:
        for row in target.rows.to_dict("records"):
            children.setdefault(row["bc_id"], []).append((target, row))
    primary = result.primary
    update_columns = [c for c in primary.value_columns if c not in primary.insert_only]
    plans: dict[str, RecordPlan] = {}
    unchanged: dict[str, str] = {}
    for row in primary.rows.to_dict("records"):
        bc_id = row["bc_id"]
        is_new = not existing[bc_id]
        digest = payload_hash(
            {
                "primary": _body(row, update_columns),
                "children": [
                    _body(r, [c for c in t.value_columns if c not in t.insert_only]) for t, r in children.get(bc_id, [])
                ],
            }
        )
        if not is_new and last_ok[bc_id] and last_hash[bc_id] == digest:
            unchanged[bc_id] = digest
            continue
        ops = operations(bc_id, primary, row, children.get(bc_id, []), create=is_new)
        plans[bc_id] = RecordPlan(
            bc_id, row["target_id"], is_new, digest, ops, children.get(bc_id, []), may_recreate=is_new or fresh[bc_id]
        )
    return plans, unchanged


def operations(
    bc_id: str, primary: TargetRows, row: dict, children: list[tuple[TargetRows, dict]], *, create: bool
) -> list[Operation]:
    """The writes of one record, in order: the row, [its state after creation], its children,
    [its final columns]."""
    ops = [Operation(bc_id, primary, row, create, "primary")]
    if create and primary.after_insert:
        ops.append(Operation(bc_id, primary, row, False, "activate"))
    ops += [Operation(bc_id, target, child, create, "child") for target, child in children]
    if primary.final:
        ops.append(Operation(bc_id, primary, row, False, "final"))
    return ops


def required_operations(requires: Iterable[TargetRows]) -> list[Operation]:
    """Create-only writes of the rows records require, each row once."""
    ops, seen = [], set()
    for target in requires:
        for row in target.rows.to_dict("records"):
            key = (target.entity_set, row["target_id"])
            if key not in seen:
                seen.add(key)
                ops.append(Operation(row.get("bc_id"), target, row, True, "require"))
    return ops


def hash_of(extra: Any) -> str | None:
    """The payload hash kept in a coupling's ``extra``."""
    if isinstance(extra, str):
        try:
            extra = json.loads(extra)
        except ValueError:
            return None
    return extra.get("hash") if isinstance(extra, dict) else None


def _body(row: dict, columns: Iterable[str]) -> dict:
    return {c: row[c] for c in columns}


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)
