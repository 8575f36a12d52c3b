"""Coupling a chunk's records to Sales rows: pure functions, frames in and frames out.

Records are coupled through the state's couplings first; new records that match an existing,
uncoupled Sales row on the mapping's match columns (product number, ISO code, name...) are
coupled to it instead of creating a second row (BC's match-based coupling).
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import pandas as pd

from include.bc_sales_sync.transforms.base import TransformResult, deterministic_ids

# BC treats modified times closer than 10 ms as equal (TypeHelper.CompareDateTime).
SAME_TIME = pd.Timedelta(milliseconds=10)
COUPLING_COLUMNS = [
    "bc_id",
    "crm_id",
    "bc_modified_at",
    "crm_modified_at",
    "last_result",
    "from_crm_result",
    "skipped",
    "deleted_side",
    "extra",
]


def couple(
    chunk: pd.DataFrame, couplings: pd.DataFrame, *, name: str, modified: str, full_sync: bool
) -> tuple[pd.DataFrame, Counter]:
    """The chunk's records with their couplings, less the skipped ones and (unless ``full_sync``)
    the ones unchanged since they were last synced.

    :return: the records to transform, with ``crm_id``, ``existing`` and ``target_id`` (the coupled
        Sales id, or the deterministic id a new row gets), and the counts of those left out.
    """
    counts: Counter = Counter()
    frame = chunk.merge(couplings[COUPLING_COLUMNS], on="bc_id", how="left")
    # Skipped couplings and deletion conflicts wait for the operator: counted skipped, not synchronized.
    waiting = frame["skipped"].fillna(False).astype(bool) | frame["deleted_side"].notna()
    counts["skipped"] += int(waiting.sum())
    frame = frame[~waiting]
    if not full_sync:
        changed_at = pd.to_datetime(frame[modified], utc=True, errors="coerce")
        synced_at = pd.to_datetime(frame["bc_modified_at"], utc=True, errors="coerce")
        same = (
            frame["crm_id"].notna() & (frame["last_result"] == "success") & ((changed_at - synced_at).abs() < SAME_TIME)
        )
        counts["unchanged"] += int(same.sum())
        frame = frame[~same]
    frame = frame.copy()
    frame["existing"] = frame["crm_id"].notna()
    frame["target_id"] = frame["crm_id"].where(frame["existing"], deterministic_ids(name, frame["bc_id"]))
    return frame, counts


def bind_column(key: str) -> str | None:
    """``_pricelevelid_value`` (how Dataverse reads a lookup) -> ``pricelevelid@odata.bind``."""
    if key.startswith("_") and key.endswith("_value"):
        return key[1:-6] + "@odata.bind"
    return None


def target_index(rows: list[dict], key: str, match_on: tuple[str, ...]) -> pd.DataFrame:
    """Existing Sales rows as ``found_id`` and their match columns (lookup ids as lower-case GUIDs)."""
    index = pd.DataFrame(rows, columns=[key, *match_on])
    for column in match_on:
        if bind_column(column):
            index[column] = index[column].map(lambda v: v.lower() if isinstance(v, str) else v)
    return index.rename(columns={key: "found_id"})


def match(
    frame: pd.DataFrame, result: TransformResult, index: pd.DataFrame, taken: set[str], match_on: tuple[str, ...]
) -> dict[str, str]:
    """New records whose transformed match values equal those of an existing Sales row that no
    other record is coupled to: ``{bc_id: Sales id}``."""
    keys = list(match_on)
    if not keys or index.empty:
        return {}
    rows = result.primary.rows
    new = _match_values(rows[rows["bc_id"].isin(frame.loc[~frame["existing"], "bc_id"])], keys)
    if new is None or new.empty:
        return {}
    found = new.merge(index, on=keys, how="inner")
    found = found[(found["found_id"] != found["target_id"]) & ~found["found_id"].isin(taken)]
    found = found.drop_duplicates("bc_id").drop_duplicates("found_id")
    return dict(zip(found["bc_id"], found["found_id"], strict=True))


def retarget(frame: pd.DataFrame, found: dict[str, str]) -> pd.DataFrame:
    """The records coupled by match, now pointing at the Sales rows they matched."""
    hit = frame[frame["bc_id"].isin(found)].copy()
    hit["target_id"] = hit["bc_id"].map(found)
    hit["existing"] = True
    return hit


def replace_records(result: TransformResult, redone: TransformResult) -> TransformResult:
    """``result`` with the records of ``redone`` taken from ``redone`` instead."""
    ids = set(redone.primary.rows["bc_id"]) | set(redone.errors["bc_id"])
    kept = drop_records(result, ids)
    children = list(kept.children)
    for position, child in enumerate(redone.children):
        if position < len(children) and children[position].entity_set == child.entity_set:
            children[position] = _with_rows(children[position], child.rows)
        else:
            children.append(child)
    return dataclasses.replace(
        kept,
        primary=_with_rows(kept.primary, redone.primary.rows),
        children=children,
        errors=pd.concat([kept.errors, redone.errors], ignore_index=True),
        requires=[*kept.requires, *redone.requires],
    )


def _with_rows(target, rows: pd.DataFrame):
    return dataclasses.replace(target, rows=pd.concat([target.rows, rows], ignore_index=True))


def drop_records(result: TransformResult, bc_ids: set[str]) -> TransformResult:
    def keep(target):
        return dataclasses.replace(target, rows=target.rows[~target.rows["bc_id"].isin(bc_ids)])

    return dataclasses.replace(
        result,
        primary=keep(result.primary),
        children=[keep(c) for c in result.children],
        errors=result.errors[~result.errors["bc_id"].isin(bc_ids)],
    )


def _match_values(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame | None:
    """``bc_id``, ``target_id`` and the match values of rows; a lookup key (``_x_value``) takes the
    GUID the row binds in ``x@odata.bind``. None when a key is missing from the rows."""
    out = rows[["bc_id", "target_id"]].copy()
    for key in keys:
        if key in rows:
            out[key] = rows[key]
        elif (column := bind_column(key)) and column in rows:
            out[key] = rows[column].map(
                lambda v: v[v.rfind("(") + 1 : -1].lower() if isinstance(v, str) and v.endswith(")") else None
            )
        else:
            return None
    return out
