"""Which records a run reads: the window chosen from the watermark, the run type and the data interval."""

from __future__ import annotations

import datetime as dt
import enum
from types import SimpleNamespace

import pytest

from include.bc_sales_sync.jobs import DEFAULT_OVERLAP, Window, choose_window, run_type_of

WATERMARK = dt.datetime(2025, 3, 1, 12, 0, 0, tzinfo=dt.UTC)
START = dt.datetime(2025, 2, 1, tzinfo=dt.UTC)
END = dt.datetime(2025, 2, 2, tzinfo=dt.UTC)


def test_first_run_reads_everything():
    window = choose_window(None)
    assert (window.start, window.end, window.kind) == (None, None, "incremental")
    assert window.odata_filter("SystemModifiedAt") is None


def test_incremental_run_starts_one_overlap_before_the_watermark():
    window = choose_window(WATERMARK)
    assert window.start == WATERMARK - DEFAULT_OVERLAP == dt.datetime(2025, 3, 1, 11, 59, 58, tzinfo=dt.UTC)
    assert window.end is None and window.kind == "incremental"


def test_overlap_can_be_chosen():
    assert choose_window(WATERMARK, overlap=dt.timedelta(minutes=5)).start == WATERMARK - dt.timedelta(minutes=5)
    assert choose_window(WATERMARK, overlap=dt.timedelta(0)).start == WATERMARK


def test_full_sync_ignores_watermark_and_interval():
    window = choose_window(WATERMARK, full_sync=True, run_type="backfill", data_interval=(START, END))
    assert window == Window(kind="full")
    assert window.moves_watermark


def test_backfill_reads_exactly_its_data_interval():
    window = choose_window(WATERMARK, run_type="backfill", data_interval=(START, END))
    assert window == Window(START, END, kind="interval")
    assert window.odata_filter("SystemModifiedAt") == (
        "SystemModifiedAt gt 2025-02-01T00:00:00.000Z and SystemModifiedAt le 2025-02-02T00:00:00.000Z"
    )


@pytest.mark.parametrize("run_type", ["scheduled", "manual", "asset_triggered", None])
def test_other_runs_ignore_the_data_interval(run_type):
    window = choose_window(WATERMARK, run_type=run_type, data_interval=(START, END))
    assert window == Window(WATERMARK - DEFAULT_OVERLAP, kind="incremental")


@pytest.mark.parametrize("interval", [(END, START), (START, START), (START, None), (None, END)])
def test_backfill_with_an_inverted_empty_or_open_interval_falls_back_to_the_watermark(interval):
    window = choose_window(WATERMARK, run_type="backfill", data_interval=interval)
    assert window == Window(WATERMARK - DEFAULT_OVERLAP, kind="incremental")


def test_odata_filter_of_each_bound():
    assert Window(start=START).odata_filter("m") == "m gt 2025-02-01T00:00:00.000Z"
    assert Window(end=END).odata_filter("m") == "m le 2025-02-02T00:00:00.000Z"
    paris = dt.timezone(dt.timedelta(hours=1))
    assert Window(start=dt.datetime(2025, 2, 1, 1, 0, tzinfo=paris)).odata_filter("m") == (
        "m gt 2025-02-01T00:00:00.000Z"
    )


def test_describe():
    assert Window().describe() == "incremental window from the beginning to now"
    assert Window(START, END, kind="interval").describe() == (
        "interval window from 2025-02-01T00:00:00+00:00 to 2025-02-02T00:00:00+00:00"
    )
    assert Window(kind="records").describe() == "records chosen by hand"


def test_only_a_run_for_chosen_records_keeps_the_watermark():
    assert not Window(kind="records").moves_watermark
    assert all(Window(kind=kind).moves_watermark for kind in ("incremental", "interval", "full"))


class RunType(enum.Enum):
    BACKFILL = "backfill"
    SCHEDULED = "scheduled"


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({"dag_run": SimpleNamespace(run_type=RunType.BACKFILL)}, "backfill"),
        ({"dag_run": SimpleNamespace(run_type="Manual")}, "manual"),
        ({"dag_run": SimpleNamespace(run_type=None)}, ""),
        ({"dag_run": None}, ""),
        ({}, ""),
    ],
)
def test_run_type_of_a_context(context, expected):
    assert run_type_of(context) == expected


def test_an_enum_backfill_run_reads_its_interval():
    context = {"dag_run": SimpleNamespace(run_type=RunType.BACKFILL)}
    window = choose_window(WATERMARK, run_type=run_type_of(context), data_interval=(START, END))
    assert window.kind == "interval"
