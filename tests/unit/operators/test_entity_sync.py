"""EntitySyncOperator: the window a run reads, and which runs skip."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from airflow.sdk.api.datamodels._generated import DagRunType
from airflow.sdk.exceptions import AirflowSkipException

from include.bc_sales_sync.operators import EntitySyncOperator

T0 = dt.datetime(2026, 11, 1, 10, 0, tzinfo=dt.UTC)
T1 = dt.datetime(2026, 11, 1, 10, 30, tzinfo=dt.UTC)


class FakeState:
    def __init__(self, watermark=None):
        self._watermark = watermark

    def watermark(self, mapping, direction="to_crm"):
        return self._watermark


def context(run_type="scheduled", start=T0, end=T1, **params):
    return {
        "dag_run": SimpleNamespace(run_type=run_type),
        "data_interval_start": start,
        "data_interval_end": end,
        "params": params,
    }


@pytest.fixture
def operator():
    return EntitySyncOperator(task_id="item_product", mapping="ITEM-PRODUCT")


@pytest.mark.parametrize("run_type", ["backfill", DagRunType.BACKFILL])
def test_backfill_reads_exactly_its_data_interval(operator, run_type):
    window = operator.window(context(run_type), FakeState(T1), "ITEM-PRODUCT")
    assert (window.start, window.end, window.kind) == (T0, T1, "interval")
    assert window.odata_filter("SystemModifiedAt") == (
        "SystemModifiedAt gt 2026-11-01T10:00:00.000Z and SystemModifiedAt le 2026-11-01T10:30:00.000Z"
    )


def test_scheduled_run_reads_from_the_watermark_minus_the_overlap(operator):
    window = operator.window(context("scheduled"), FakeState(T1), "ITEM-PRODUCT")
    assert window.start == T1 - operator.overlap and window.end is None and window.kind == "incremental"


@pytest.mark.parametrize("run_type", ["manual", "scheduled", DagRunType.SCHEDULED])
def test_without_a_watermark_everything_is_read(operator, run_type):
    window = operator.window(context(run_type, start=None, end=None), FakeState(None), "ITEM-PRODUCT")
    assert window.start is None and window.end is None and window.odata_filter("x") is None


def test_manual_run_without_dates_uses_the_watermark(operator):
    window = operator.window(
        {"dag_run": SimpleNamespace(run_type="manual"), "params": {}}, FakeState(T1), "ITEM-PRODUCT"
    )
    assert window.start == T1 - operator.overlap


def test_full_sync_ignores_watermark_and_interval(operator):
    window = operator.window(context("backfill"), FakeState(T1), "ITEM-PRODUCT", full_sync=True)
    assert window.start is None and window.end is None and window.kind == "full"


def test_tasks_outside_the_chosen_mappings_skip(operator):
    with pytest.raises(AirflowSkipException, match="not among the mappings"):
        operator.execute({"params": {"mappings": ["UNIT OF MEASURE"]}, "run_id": "manual__1"})


def test_disabled_mapping_skips(operator, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_BC_SALES_SYNC_MAPPINGS", '{"ITEM-PRODUCT": {"enabled": false}}')
    with pytest.raises(AirflowSkipException, match="disabled"):
        operator.execute({"params": {}, "run_id": "manual__1"})


def test_a_disabled_mapping_runs_when_the_run_names_it(operator, monkeypatch):
    """BC's OPPORTUNITY has no job of its own: disabled, it still runs by hand when named."""
    import contextlib

    from include.bc_sales_sync.jobs import connections
    from include.bc_sales_sync.sync import directions

    monkeypatch.setenv("AIRFLOW_VAR_BC_SALES_SYNC_MAPPINGS", '{"ITEM-PRODUCT": {"enabled": false}}')
    ran = []

    @contextlib.contextmanager
    def opened(*args):
        yield SimpleNamespace(bc=None, dataverse=None, state=FakeState())

    monkeypatch.setattr(connections, "open_connections", opened)
    monkeypatch.setattr(directions, "run_mapping", lambda mapping, *args: ran.append(mapping.name) or {"read": 0})
    for named in ("ITEM-PRODUCT", "item_product"):
        operator.execute({"params": {"mappings": [named]}, "run_id": "manual__1"})
    assert ran == ["ITEM-PRODUCT", "ITEM-PRODUCT"]


def test_the_disabled_opportunity_mapping_says_how_to_run_it():
    operator = EntitySyncOperator(task_id="opportunity", mapping="OPPORTUNITY")
    with pytest.raises(AirflowSkipException, match=r"'mappings' param.*\{\"OPPORTUNITY\": \{\"enabled\": true\}\}"):
        operator.execute({"params": {}, "run_id": "manual__1"})
