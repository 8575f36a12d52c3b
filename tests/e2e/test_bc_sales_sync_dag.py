"""The bc_sales_sync DAG, run as Airflow runs it (``dag.test``), against the sandbox."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.conftest import reset_sandbox
from tests.integration.sync.conftest import sandbox_connections

SYNC_TASKS = ["unit_of_measure", "resource_product", "item_product"]


@pytest.fixture(scope="module")
def airflow_db():
    """Airflow's metadata database in the test session's AIRFLOW_HOME (created once)."""
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], check=True, capture_output=True)


@pytest.fixture
def dag_env(sandbox, airflow_db, monkeypatch, tmp_path):
    reset_sandbox(sandbox)
    for key, value in sandbox_connections(sandbox.config).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv(
        "AIRFLOW_CONN_BC_SYNC_STATE", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "state.db")})
    )
    yield sandbox
    reset_sandbox(sandbox)


def run_dag(**conf):
    from airflow.dag_processing.dagbag import DagBag

    from tests.conftest import ROOT

    dag = DagBag(dag_folder=str(ROOT / "dags")).dags["bc_sales_sync"]
    dag_run = dag.test(run_conf=conf)
    return dag_run, {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


def stats(url: str, ca: str) -> dict:
    return requests.get(f"{url}/_sandbox/stats", verify=ca, timeout=10).json()


def test_dag_syncs_then_a_rerun_writes_nothing(dag_env):
    config = dag_env.config
    ca = str(config.ca_file)
    dag_run, states = run_dag()
    assert str(dag_run.state).endswith("success"), states
    assert all(states[t].endswith("success") for t in [*SYNC_TASKS, "report"]), states

    from include.bc_sales_sync.state import StateStore

    state = StateStore.from_airflow("bc_sync_state")
    jobs = state.jobs(limit=20)
    counts = {j.mapping: (j.inserted, j.failed) for j in jobs.itertuples() if j.run_id == dag_run.run_id}
    assert set(counts) == {"UNIT OF MEASURE", "RESOURCE-PRODUCT", "ITEM-PRODUCT"}
    assert all(inserted > 0 and failed == 0 for inserted, failed in counts.values()), counts

    requests.delete(f"{config.dataverse_url}/_sandbox/stats", verify=ca, timeout=10)
    second, states = run_dag()
    assert str(second.state).endswith("success"), states
    rerun = {
        j.mapping: (j.inserted, j.modified, j.failed)
        for j in state.jobs(limit=20).itertuples()
        if j.run_id == second.run_id
    }
    assert rerun == {name: (0, 0, 0) for name in counts}
    assert stats(config.dataverse_url, ca)["total"] == 0


def test_dry_run_param_writes_nothing(dag_env):
    config = dag_env.config
    dag_run, states = run_dag(dry_run=True)
    assert str(dag_run.state).endswith("success"), states
    dataverse = stats(config.dataverse_url, str(config.ca_file))
    assert dataverse["by_method"].get("PATCH", 0) == 0 and dataverse["by_method"].get("POST", 0) == 0


def test_mappings_param_runs_a_subset(dag_env):
    dag_run, states = run_dag(mappings=["UNIT OF MEASURE"])
    assert str(dag_run.state).endswith("success")
    assert states["unit_of_measure"].endswith("success")
    assert states["resource_product"].endswith("skipped") and states["item_product"].endswith("skipped")
    assert states["report"].endswith("success")
