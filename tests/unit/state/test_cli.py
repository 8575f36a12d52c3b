"""The state command: jobs, errors, skipped records, restore, couple and uncouple by hand, deletion conflicts."""

from __future__ import annotations

import pandas as pd
import pytest

from include.bc_sales_sync.state import BC_SIDE, FROM_CRM, SALES_SIDE, StateStore
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


DELETED = "The record cannot be updated because it is coupled to a deleted record."


@pytest.fixture
def conflicts(store):
    """Three couplings of CUSTOMER whose other side is deleted, one of CONTACT, and one CUSTOMER that is fine."""
    to_job, from_job = store.start_job("CUSTOMER"), store.start_job("CUSTOMER", direction=FROM_CRM)
    rows = pd.DataFrame({"bc_id": ["c-1", "c-2", "c-3", "c-ok"], "crm_id": ["a-1", "a-2", "a-3", "a-ok"]})
    rows["bc_modified_at"] = rows["crm_modified_at"] = pd.Timestamp("2024-03-01", tz="UTC")
    store.record_success("CUSTOMER", to_job, rows)
    found = rows.drop(columns=["bc_modified_at", "crm_modified_at"]).assign(message=DELETED)
    store.mark_deleted("CUSTOMER", to_job, found.iloc[[0, 1]], SALES_SIDE)
    store.mark_deleted("CUSTOMER", from_job, found.iloc[[2]].assign(message="BC customer c-3 is gone"), BC_SIDE)
    contact = pd.DataFrame({"bc_id": ["k-1"], "crm_id": ["p-1"], "message": [DELETED]})
    store.mark_deleted("CONTACT", store.start_job("CONTACT"), contact, SALES_SIDE)
    return store


def test_deleted_lists_the_conflicts(conflicts, capsys):
    assert main(["deleted", "--mapping", "CUSTOMER"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["bc_id", "crm_id", "side", "message"]
    assert [line.split()[:3] for line in lines[1:]] == [
        ["c-1", "a-1", "sales"],
        ["c-2", "a-2", "sales"],
        ["c-3", "a-3", "bc"],
    ]
    assert DELETED in lines[1] and "BC customer c-3 is gone" in lines[3]
    assert main(["deleted"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert (
        lines[0].split()[0] == "mapping" and [line.split()[0] for line in lines[1:]] == ["CONTACT"] + ["CUSTOMER"] * 3
    )
    assert main(["deleted", "--mapping", "ITEM-PRODUCT"]) == 0
    assert capsys.readouterr().out.strip() == "(none)"


def test_restore_deleted_by_id_or_all(conflicts, capsys):
    assert main(["restore-deleted", "--mapping", "CUSTOMER", "c-1", "c-ok"]) == 0
    assert "Restored 1 coupling(s)" in capsys.readouterr().out
    assert conflicts.deleted("CUSTOMER")["bc_id"].tolist() == ["c-2", "c-3"]
    restored = conflicts.couplings("CUSTOMER", bc_ids=["c-1"]).iloc[0]
    assert restored["crm_id"] == "a-1" and pd.isna(restored["crm_modified_at"]) and pd.isna(restored["last_result"])
    assert main(["restore-deleted", "--mapping", "CUSTOMER", "--all"]) == 0
    assert "Restored 2 coupling(s)" in capsys.readouterr().out
    assert conflicts.deleted()["mapping"].tolist() == ["CONTACT"]
    assert len(conflicts.couplings("CUSTOMER")) == 4


def test_remove_coupling_by_id_or_all(conflicts, capsys):
    assert main(["remove-coupling", "--mapping", "CUSTOMER", "c-3"]) == 0
    assert "Removed 1 coupling(s)" in capsys.readouterr().out
    assert conflicts.couplings("CUSTOMER")["bc_id"].tolist() == ["c-1", "c-2", "c-ok"]
    assert main(["remove-coupling", "--mapping", "CUSTOMER", "--all"]) == 0
    assert "Removed 2 coupling(s)" in capsys.readouterr().out
    assert conflicts.couplings("CUSTOMER")["bc_id"].tolist() == ["c-ok"]
    assert conflicts.deleted()["mapping"].tolist() == ["CONTACT"]


@pytest.mark.parametrize("command", ["restore-deleted", "remove-coupling"])
def test_resolving_needs_either_all_or_ids(conflicts, capsys, command):
    for args in ([], ["--all", "c-1"]):
        with pytest.raises(SystemExit) as caught:
            main([command, "--mapping", "CUSTOMER", *args])
        assert caught.value.code == 2
        assert "either --all or one or more BC ids" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([command, "c-1"])  # the mapping is required
    assert len(conflicts.deleted()) == 4
