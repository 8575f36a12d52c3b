"""Change and conflict rules shared by both directions (pure): what differs, and who wins (facts §4, §5).

A record changed on both sides since its last synchronization is an update conflict only when a
field synchronized both ways would get another value (BC's rule); a change to one-way fields
alone goes through. The mapping's policy then decides: fail the record (BC's default), keep
Business Central's values, or keep Sales' values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import pandas as pd

from include.bc_sales_sync.mappings import ConflictPolicy, Direction, Mapping

# BC treats modified times closer than 10 ms as equal (TypeHelper.CompareDateTime).
SAME_TIME = pd.Timedelta(milliseconds=10)
# After a conflict resolved one way, the other side's stored time is moved back (BC: 999 ms for
# the Sales row, 10 ms for the BC record) so that the next run also carries that side's one-way
# changes across.
REWIND = {Direction.TO_CRM: pd.Timedelta(milliseconds=999), Direction.FROM_CRM: pd.Timedelta(milliseconds=10)}

FAIL, WRITE, SKIP = "fail", "write", "skip"


def changed_since(modified: pd.Series, synced: pd.Series) -> pd.Series:
    """Per record: modified at least 10 ms after the time last synchronized (or never synced)."""
    modified = pd.to_datetime(modified, utc=True, errors="coerce")
    synced = pd.to_datetime(synced, utc=True, errors="coerce")
    return synced.isna().to_numpy() | ((modified - synced) >= SAME_TIME).fillna(False).to_numpy()


def sales_changed(modified: pd.Series, synced: pd.Series, modified_by: pd.Series, integration_user: str):
    """Per Sales row: changed since the last synchronization. Sales keeps modified times to the
    second, so a row modified in the very second the integration last wrote it counts as changed
    when its last modifier is someone else."""
    same_second = (
        pd.to_datetime(modified, utc=True, errors="coerce").to_numpy()
        == pd.to_datetime(synced, utc=True, errors="coerce").to_numpy()
    )
    by_other = modified_by.astype(str).str.lower().to_numpy() != integration_user.lower()
    return changed_since(modified, synced) | (same_second & by_other)


def same_value(a: Any, b: Any) -> bool:
    """Values equal as BC compares them when it transfers a field: blanks alike, text trimmed,
    numbers to four decimals."""
    a, b = _blank_to_none(a), _blank_to_none(b)
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a) == bool(b)
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(float(a), float(b), abs_tol=1e-4)
    return str(a).strip() == str(b).strip()


def differing(wanted: dict, current: dict, columns: Iterable[str]) -> list[str]:
    """The columns whose wanted value differs from the current one."""
    return [c for c in columns if c in wanted and not same_value(wanted[c], current.get(c))]


def both_way_columns(mapping: Mapping, side: str) -> set[str]:
    """The columns of ``side`` (``"bc"`` or ``"sales"``) whose field is synchronized both ways."""
    return {(f.source if side == "bc" else f.target) for f in mapping.fields if f.direction is Direction.BIDIRECTIONAL}


def resolve(policy: ConflictPolicy, direction: str) -> str:
    """What a record in conflict does in ``direction``: ``fail``, ``write`` (its side wins) or
    ``skip`` (the other side wins; that side's run writes it)."""
    if policy is ConflictPolicy.FAIL:
        return FAIL
    source_wins = (policy is ConflictPolicy.BC_WINS) == (direction == Direction.TO_CRM)
    return WRITE if source_wins else SKIP


def conflict_message(what: str, fields: list[str], mapping: Mapping) -> str:
    pairs = ", ".join(_pair(mapping, f) for f in fields)
    return (
        f"{what} changed both in Business Central and in Sales since the last synchronization, and "
        f"{'the field' if len(fields) == 1 else 'the fields'} {pairs} "
        f"{'is' if len(fields) == 1 else 'are'} synchronized both ways. Make both sides equal, or set the "
        f"mapping's conflict_policy to bc_wins or sales_wins; the record is retried on the next run."
    )


def _pair(mapping: Mapping, column: str) -> str:
    for f in mapping.fields:
        if column in (f.source, f.target):
            return f"{f.source} <-> {f.target}"
    return column


def _blank_to_none(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str) and not value.strip():
        return None
    return value
