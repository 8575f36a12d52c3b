"""The bc_dataverse_sync and bc_sales_sync DAGs, run as Airflow runs them (``dag.test``), against the sandbox."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.conftest import reset_sandbox
from tests.integration.sync.conftest import sandbox_connections

SYNC_TASKS = {
    "bc_dataverse_sync": ["salespeople", "currency", "customer", "contact"],
    "bc_sales_sync": [
        "unit_of_measure",
        "resource_product",
        "item_product",
        "customer_price_group",
        "sales_price",
        "posted_sales_invoice",
    ],
}
# (inserted, modified, failed) of the demo company's first sync; the failures are records whose
# salesperson (OF, RB) has no Sales user, and what depends on them. OPPORTUNITY is disabled.
FIRST_RUN = {
    "SALESPEOPLE": (0, 3, 3),
    "CURRENCY": (8, 0, 0),
    "CUSTOMER": (4, 1, 4),
    "CONTACT": (4, 0, 2),
    "UNIT OF MEASURE": (10, 0, 0),
    "RESOURCE-PRODUCT": (5, 0, 0),
    "ITEM-PRODUCT": (19, 0, 0),  # the demo's blocked item is not synchronized
    "CUSTPRCGRP-PRICE": (3, 0, 0),
    "SALESPRC-PRODPRICE": (14, 0, 0),
    "POSTEDSALESINV-INV": (6, 0, 2),
}


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


def run_dag(dag_id: str = "bc_sales_sync", **conf):
    from airflow.dag_processing.dagbag import DagBag

    from tests.conftest import ROOT

    dag = DagBag(dag_folder=str(ROOT / "dags")).dags[dag_id]
    dag_run = dag.test(run_conf=conf)
    return dag_run, {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


def stats(url: str, ca: str) -> dict:
    return requests.get(f"{url}/_sandbox/stats", verify=ca, timeout=10).json()


def job_counts(state, run_ids: set[str]) -> dict[str, tuple[int, int, int]]:
    return {
        j.mapping: (j.inserted, j.modified, j.failed) for j in state.jobs(limit=50).itertuples() if j.run_id in run_ids
    }


def test_both_dags_sync_the_demo_company_then_a_rerun_writes_nothing(dag_env):
    from include.bc_sales_sync.hooks import DataverseHook

    config = dag_env.config
    ca = str(config.ca_file)
    first = {}
    for dag_id, tasks in SYNC_TASKS.items():
        dag_run, states = run_dag(dag_id)
        assert str(dag_run.state).endswith("success"), states
        assert all(states[t].endswith("success") for t in [*tasks, "report"]), states
        assert all(s.endswith("skipped") for t, s in states.items() if t not in [*tasks, "report"]), states
        first[dag_id] = dag_run.run_id

    from include.bc_sales_sync.state import StateStore

    state = StateStore.from_airflow("bc_sync_state")
    assert job_counts(state, set(first.values())) == FIRST_RUN
    invoices = [i for page in DataverseHook().iter_pages("invoices", select=["invoicenumber"]) for i in page]
    assert len(invoices) == FIRST_RUN["POSTEDSALESINV-INV"][0]

    requests.delete(f"{config.dataverse_url}/_sandbox/stats", verify=ca, timeout=10)
    again = set()
    for dag_id in SYNC_TASKS:
        dag_run, states = run_dag(dag_id)
        assert str(dag_run.state).endswith("success"), states
        again.add(dag_run.run_id)
    rerun = job_counts(state, again)
    assert set(rerun) == set(FIRST_RUN)
    assert all(inserted == modified == 0 for inserted, modified, _ in rerun.values()), rerun
    written = stats(config.dataverse_url, ca)
    assert written["by_method"].get("PATCH", 0) == 0 and written.get("batch_operations_total", 0) == 0, written


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
    assert all(states[t].endswith("skipped") for t in SYNC_TASKS["bc_sales_sync"][1:]), states
    assert states["report"].endswith("success")


def test_the_disabled_opportunity_mapping_runs_when_a_run_names_it(dag_env):
    from include.bc_sales_sync.state import StateStore

    dag_run, states = run_dag("bc_dataverse_sync")
    assert states["opportunity"].endswith("skipped") and str(dag_run.state).endswith("success"), states
    dag_run, states = run_dag("bc_dataverse_sync", mappings=["OPPORTUNITY"])
    assert str(dag_run.state).endswith("success"), states
    assert states["opportunity"].endswith("success")
    assert all(states[t].endswith("skipped") for t in SYNC_TASKS["bc_dataverse_sync"]), states
    state = StateStore.from_airflow("bc_sync_state")
    assert job_counts(state, {dag_run.run_id})["OPPORTUNITY"] == (2, 0, 0)


def test_a_mapping_chosen_by_the_mappings_param_runs_after_the_skipped_ones(dag_env):
    dag_run, states = run_dag(mappings=["item_product"])
    assert str(dag_run.state).endswith("success"), states
    assert states["item_product"].endswith("success")
    assert all(states[t].endswith("skipped") for t in SYNC_TASKS["bc_sales_sync"] if t != "item_product"), states
