"""DAG files: they import cleanly, cheaply, and are wired as documented."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import pytest
from airflow.dag_processing.dagbag import DagBag

from tests.conftest import ROOT

EXPECTED_ORDER = ["unit_of_measure", "resource_product", "item_product", "report"]


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=str(ROOT / "dags"))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "bc_sales_sync" in dagbag.dag_ids


def test_every_dag_has_tags_retries_and_runs_one_at_a_time(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, dag_id
        assert dag.catchup is False, dag_id
        assert dag.max_active_runs == 1, dag_id
        for task in dag.tasks:
            if task.task_id != "report":
                assert task.retries >= 2, f"{dag_id}.{task.task_id}"


def test_sync_jobs_run_in_bc_order(dagbag):
    dag = dagbag.dags["bc_sales_sync"]
    for upstream, downstream in itertools.pairwise(EXPECTED_ORDER):
        assert dag.get_task(upstream).downstream_task_ids == {downstream}
    assert dag.get_task("report").trigger_rule == "all_done"


def test_schedule_has_real_data_intervals(dagbag):
    dag = dagbag.dags["bc_sales_sync"]
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"
    assert dag.timetable.expression == "*/30 * * * *"


def test_params(dagbag):
    params = dagbag.dags["bc_sales_sync"].params
    assert params["full_sync"] is False and params["dry_run"] is False and params["mappings"] == []


def test_sync_tasks_use_the_dataverse_pool_and_alert_on_failure(dagbag):
    dag = dagbag.dags["bc_sales_sync"]
    for task_id in EXPECTED_ORDER[:-1]:
        task = dag.get_task(task_id)
        assert task.pool == "dataverse_api"
        assert task.on_failure_callback and task.on_retry_callback


@pytest.mark.parametrize("dag_file", sorted(p.name for p in (ROOT / "dags").glob("*.py")))
def test_dag_files_import_nothing_heavy(dag_file):
    """Parsing must stay cheap: no pandas, SQLAlchemy models, msal or sandbox at module level."""
    code = (
        "import json, runpy, sys; "
        f"runpy.run_path({str(ROOT / 'dags' / dag_file)!r}); "
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    heavy = {"pandas", "msal", "include.bc_sales_sync.state", "include.bc_sales_sync.sync.engine", "include.sandbox"}
    assert not (heavy & loaded)
