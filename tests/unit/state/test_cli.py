"""The state command: jobs, errors, skipped records, restore, couple and uncouple by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from include.bc_sales_sync.state import StateStore
from include.bc_sales_sync.state.__main__ import main


@pytest.fixture
def store(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'state.db'}"
    monkeypatch.setenv("BC_SYNC_STATE_URL", url)
    monkeypatch.delenv("AIRFLOW_CONN_BC_SYNC_STATE", raising=False)
    s = StateStore(url)
    job = s.start_job("ITEM-PRODUCT", run_id="manual__1")
    failure = pd.DataFrame(
        [{"bc_id": "item-1", "crm_id": None, "field": "Base_Unit_of_Measure", "message": "Item 1: no unit"}]
    )
    s.record_failure("ITEM-PRODUCT", job, failure)
    s.record_failure("ITEM-PRODUCT", job, failure)
    s.add_counts(job, failed=2)
    s.finish_job(job)
    yield s
    s.close()


def test_jobs_errors_and_skipped(store, capsys):
    assert main(["jobs"]) == 0
    assert "ITEM-PRODUCT" in capsys.readouterr().out
    assert main(["errors", "--mapping", "ITEM-PRODUCT"]) == 0
    out = capsys.readouterr().out
    assert "Item 1: no unit" in out and "Base_Unit_of_Measure" in out
    assert main(["skipped", "--mapping", "ITEM-PRODUCT"]) == 0
    assert "item-1" in capsys.readouterr().out


def test_restore_then_the_record_is_retried(store, capsys):
    assert main(["restore", "--mapping", "ITEM-PRODUCT", "item-1"]) == 0
    assert "Restored 1" in capsys.readouterr().out
    assert store.failed_not_skipped("ITEM-PRODUCT")["bc_id"].tolist() == ["item-1"]


def test_couple_and_uncouple_by_hand(store, capsys):
    crm_id = "7b0c2c1e-0000-4000-8000-000000000001"
    assert main(["couple", "--mapping", "UNIT OF MEASURE", "uom-1", crm_id]) == 0
    assert store.couplings("UNIT OF MEASURE")["crm_id"].tolist() == [crm_id]
    assert main(["couple", "--mapping", "UNIT OF MEASURE", "uom-2", crm_id]) == 1
    assert "uom-1" in capsys.readouterr().err
    assert main(["uncouple", "--mapping", "UNIT OF MEASURE", "uom-1"]) == 0
    assert store.couplings("UNIT OF MEASURE").empty
