"""Reading a mapping's source records in chunks: failed records first, then the window in order.

BC retries couplings that failed (and are not skipped) first. The window is read in the order of
(modified time, key), so each chunk's newest modified time is a safe watermark once the chunk is
committed: a run that stops at chunk 50 resumes at chunk 50.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from include.bc_sales_sync.jobs import Chunk, Window
from include.bc_sales_sync.mappings import Mapping
from include.bc_sales_sync.odata import MAX_OR_VALUES, chunked, id_literal


def source_chunks(bc, mapping: Mapping, window: Window, retried: list[str], page_size: int) -> Iterator[Chunk]:
    """The chunks of one run; a retried record that is also in the window is read once.

    :param bc: the :class:`~include.bc_sales_sync.hooks.BusinessCentralHook`.
    :param retried: BC ids of the records that failed last time.
    """
    for part in chunked(retried, MAX_OR_VALUES):
        for frame in _pages(bc, mapping, any_of_keys(mapping.source.key, part), page_size, ordered=False):
            yield Chunk(frame, len(frame))
    done = set(retried)
    for frame in _pages(bc, mapping, window.odata_filter(mapping.source.modified), page_size, ordered=True):
        newest = pd.to_datetime(frame[mapping.source.modified], utc=True, errors="coerce").max()
        if done:
            frame = frame[~frame["bc_id"].isin(done)]
        yield Chunk(frame, len(frame), None if pd.isna(newest) else newest)


def _pages(bc, m: Mapping, window_filter: str | None, page_size: int, *, ordered: bool) -> Iterator[pd.DataFrame]:
    filters = [f"({f})" for f in (m.source.filter, window_filter) if f]
    for page in bc.iter_pages(
        m.source.entity_set,
        filter=" and ".join(filters) or None,
        select=m.source_fields,
        expand=list(m.source.expand) or None,
        orderby=[m.source.modified, m.source.key] if ordered else None,
        page_size=page_size,
        web_service=m.source.web_service,
    ):
        if page:
            frame = pd.DataFrame(page)
            frame["bc_id"] = frame[m.source.key].astype(str)
            yield frame


def any_of_keys(column: str, values: list[str]) -> str:
    """``column eq a or column eq b``: GUID keys unquoted, other keys as strings."""
    return " or ".join(f"{column} eq {id_literal(v)}" for v in values)
