"""What the statistics jobs share: their window, how it is described, and the small helpers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from include.bc_sales_sync.hooks.batch import BatchOperation, BatchResult
from include.bc_sales_sync.state import StateStore
from include.bc_sales_sync.statistics import base
from include.bc_sales_sync.statistics.accounts import AccountStatisticsJob
from include.bc_sales_sync.statistics.base import STATISTICS, StatisticsOptions

WATERMARK = dt.datetime(2025, 5, 1, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def state(tmp_path) -> Iterator[StateStore]:
    with StateStore(f"sqlite:///{tmp_path / 'state.db'}") as store:
        yield store


def job(state, **options) -> AccountStatisticsJob:
    return AccountStatisticsJob(None, None, state, StatisticsOptions(**options))


def test_the_first_run_reads_every_coupled_record(state):
    j = job(state)
    window = j.window()
    assert (window.start, window.kind) == (None, "incremental")
    assert j.describe(window) == "every coupled record"


def test_later_runs_read_the_changes_since_the_watermark(state):
    state.advance_watermark(STATISTICS, WATERMARK)
    j = job(state, overlap=dt.timedelta(seconds=10))
    window = j.window()
    assert window.start == WATERMARK - dt.timedelta(seconds=10) and window.moves_watermark
    assert j.describe(window) == "changes since 2025-05-01T10:00:00+00:00"


def test_a_full_refresh_ignores_the_watermark(state):
    state.advance_watermark(STATISTICS, WATERMARK)
    j = job(state, full_refresh=True)
    window = j.window()
    assert (window.start, window.kind) == (None, "full")
    assert j.describe(window) == "every coupled record"


def test_a_run_for_chosen_customers_moves_no_watermark(state):
    state.advance_watermark(STATISTICS, WATERMARK)
    j = job(state, customers=("10000", "20000"))
    window = j.window()
    assert window.kind == "records" and not window.moves_watermark
    assert j.describe(window) == "customers 10000, 20000"


def test_ids_and_numbers_are_normalised_and_blanks_left_out():
    assert base.lower(["ABC-1", "", None, 7, "def"]) == ["abc-1", "def"]
    assert base.numbers([" c100 ", "  ", None, "D2"]) == ["C100", "D2"]


def test_a_failed_write_is_described_with_its_status_code_and_message():
    op = BatchOperation("PATCH", entity_set="accounts", key="a1")
    assert base.describe_result(
        "accounts", "a1", BatchResult(op, 412, error_code="0x80060882", error_message="Busy")
    ) == ("Writing accounts(a1) failed with HTTP 412 (0x80060882): Busy")
    assert base.describe_result("accounts", "a1", BatchResult(op, 503)) == (
        "Writing accounts(a1) failed with HTTP 503: HTTP 503"
    )


def test_failures_have_the_columns_the_skeleton_records():
    assert base.failures([]) is None
    frame = base.failures([{"bc_id": "b1", "message": "gone"}])
    assert list(frame.columns) == ["bc_id", "crm_id", "field", "message"]
    assert frame.iloc[0]["message"] == "gone"
