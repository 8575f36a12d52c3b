"""The transform contract and the helpers every transform uses.

The engine hands a transform a chunk of source records with two columns of its own:
``bc_id`` (the BC record id) and ``target_id`` (the coupled Dataverse id, or the deterministic id
a new row will get). The transform returns :class:`TransformResult`: the primary target rows,
optional child rows written right after them (e.g. a product's price list item) and one error
row per record it rejects.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from include.bc_sales_sync.mappings import Mapping

# Deterministic ids: the same BC record always maps to the same Dataverse id, so a rerun after a
# crash upserts instead of duplicating.
ID_NAMESPACE = uuid.UUID("0b6f3c52-5d0e-4a43-9f4a-7d2c1e8b9a10")

ERROR_COLUMNS = ["bc_id", "field", "message"]


def load_function(path: str):
    """The function a mapping names by dotted path, ``module:name`` (its transforms)."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def deterministic_id(*parts: Any) -> str:
    return str(uuid.uuid5(ID_NAMESPACE, "|".join(str(p) for p in parts)))


def deterministic_ids(prefix: str, values: pd.Series) -> pd.Series:
    return values.map(lambda v: deterministic_id(prefix, v))


def bind(entity_set: str, ids: pd.Series) -> pd.Series:
    """``@odata.bind`` values for a column of GUIDs (None stays None)."""
    return ids.map(lambda v: f"/{entity_set}({v})" if isinstance(v, str) and v else None)


@dataclass
class TargetRows:
    """Rows for one Dataverse table.

    :param rows: ``bc_id``, ``target_id`` and one column per Dataverse column (or ``x@odata.bind``).
    :param insert_only: columns sent only when the row is created.
    :param after_insert: columns sent in a second request right after creation (a new product
        starts as Draft; its state is set once it exists).
    :param final: columns sent in a request of their own after the record's children, on create
        and on update (an invoice's totals and state: once it is paid, neither the invoice nor
        its lines can change).
    :param not_null: columns left out of a request when their value is None, so Sales keeps
        what it has (BC's "Not Null" field option: a blank salesperson leaves the owner alone).
    """

    entity_set: str
    rows: pd.DataFrame
    insert_only: frozenset[str] = frozenset()
    after_insert: tuple[str, ...] = ()
    final: tuple[str, ...] = ()
    not_null: frozenset[str] = frozenset()

    @property
    def value_columns(self) -> list[str]:
        return [c for c in self.rows.columns if c not in ("bc_id", "target_id")]


@dataclass
class TransformResult:
    """What a transform returns.

    :param requires: rows the records refer to that may not exist yet (the price list of an
        invoice's currency): created before the records when missing, left as they are when they
        exist. Their ``bc_id`` is not used.
    :param ignored: BC ids of records the mapping does not synchronize although the source filter
        let them through (a person whose company is no customer's): counted skipped, not written.
    """

    primary: TargetRows
    children: list[TargetRows] = field(default_factory=list)
    errors: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=ERROR_COLUMNS))
    requires: list[TargetRows] = field(default_factory=list)
    ignored: frozenset[str] = frozenset()


@dataclass
class TransformContext:
    """What a transform may look up: frames and constants loaded by the engine once per run."""

    mapping: Mapping
    lookups: dict[str, pd.DataFrame] = field(default_factory=dict)
    constants: dict[str, Any] = field(default_factory=dict)


class ErrorCollector:
    """Collects per-record errors; the first error of a record wins."""

    def __init__(self) -> None:
        self._frames: list[pd.DataFrame] = []

    def add(self, bc_ids: pd.Series, field_name: str, messages: pd.Series | str) -> None:
        if bc_ids.empty:
            return
        if isinstance(messages, str):
            messages = pd.Series(messages, index=bc_ids.index)
        self._frames.append(pd.DataFrame({"bc_id": bc_ids.values, "field": field_name, "message": messages.values}))

    def frame(self) -> pd.DataFrame:
        if not self._frames:
            return pd.DataFrame(columns=ERROR_COLUMNS)
        return pd.concat(self._frames, ignore_index=True).drop_duplicates("bc_id", keep="first")


def apply_field_maps(src: pd.DataFrame, mapping: Mapping) -> pd.DataFrame:
    """Copy mapped source columns and constants into a frame keyed like ``src``."""
    out = pd.DataFrame({"bc_id": src["bc_id"], "target_id": src["target_id"]}, index=src.index)
    for f in mapping.fields:
        if f.source is not None:
            out[f.target] = src.get(f.source)
        else:
            out[f.target] = f.constant
    return out


def insert_only_columns(mapping: Mapping) -> frozenset[str]:
    return frozenset(f.target for f in mapping.fields if f.insert_only)


def text(series: pd.Series) -> pd.Series:
    """Strings with missing values as ''."""
    return series.astype("string").fillna("").astype(str)


def numbers(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce")


def too_long(series: pd.Series, limit: int) -> pd.Series:
    return text(series).str.len() > limit


def clean(frame: pd.DataFrame) -> pd.DataFrame:
    """NaN -> None, numpy scalars -> Python, so rows serialise as JSON."""
    return frame.astype(object).where(frame.notna(), None)


def without(frame: pd.DataFrame, bc_ids: Iterable[str]) -> pd.DataFrame:
    return frame[~frame["bc_id"].isin(set(bc_ids))]


def as_bool(series: pd.Series) -> pd.Series:
    return series.map(lambda v: bool(v) if v is not None and not (isinstance(v, float) and np.isnan(v)) else False)
