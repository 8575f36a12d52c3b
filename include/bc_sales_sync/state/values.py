"""The values the state store takes and gives: UTC times, pandas columns and frames, chunks, input checks.

Shared by every part of the store, so that each converts and checks its input the same way.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import pandas as pd

from .models import DIRECTIONS, MESSAGE_LENGTH

T = TypeVar("T")

CHUNK_SIZE = 1000
UTC_TS = "datetime64[us, UTC]"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def isna(value: Any) -> bool:
    return value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def utc(value: Any, name: str = "value") -> dt.datetime:
    """A timezone-aware UTC datetime from a datetime or pandas Timestamp (naive values are taken as UTC)."""
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if not isinstance(value, dt.datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def truncate(text: Any, limit: int = MESSAGE_LENGTH) -> str | None:
    if isna(text):
        return None
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def chunks(items: Sequence[T], size: int = CHUNK_SIZE) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def strings(series: pd.Series) -> list[str | None]:
    return [None if isna(v) else str(v) for v in series]


def timestamps(series: pd.Series, column: str) -> list[dt.datetime | None]:
    try:
        converted = pd.to_datetime(series, utc=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"column {column!r} must hold datetimes: {exc}") from None
    return [None if isna(v) else v.to_pydatetime() for v in converted]


def json_values(series: pd.Series) -> list[Any]:
    return [None if not isinstance(v, dict | list) and isna(v) else v for v in series]


def unique_strings(values: Iterable[Any]) -> list[str]:
    return list(dict.fromkeys(str(v) for v in values if not isna(v)))


def require(rows: pd.DataFrame, columns: Sequence[str], call: str) -> None:
    missing = [c for c in columns if c not in rows.columns]
    if missing:
        raise ValueError(f"{call}: the rows lack the column(s) {missing}; they need {list(columns)}")


def typed_frame(rows: Sequence[Any], dtypes: Mapping[str, str]) -> pd.DataFrame:
    """A DataFrame with fixed columns and dtypes, the same whether ``rows`` is empty or not."""
    result = pd.DataFrame.from_records(list(rows), columns=list(dtypes))
    for column, dtype in dtypes.items():
        if dtype == UTC_TS:
            result[column] = pd.to_datetime(result[column], utc=True).astype(UTC_TS)
        else:
            result[column] = result[column].astype(dtype)
    return result


def check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")


def check_ids(mapping: str, call: str, ids: list[str | None], column: str, limit: int) -> None:
    missing = sum(v is None for v in ids)
    if missing:
        raise ValueError(f"{call} for mapping {mapping!r}: {missing} row(s) have no {column}; every row needs one")
    too_long = next((v for v in ids if v is not None and len(v) > limit), None)
    if too_long is not None:
        raise ValueError(
            f"{call} for mapping {mapping!r}: {column} {too_long[:60]!r}... is longer than {limit} characters; "
            "use a shorter key for this record"
        )
