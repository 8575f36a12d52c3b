"""DAG files: they import cleanly, cheaply, and are wired as documented."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import pytest
from airflow.dag_processing.dagbag import DagBag

from include.bc_sales_sync.mappings.catalogue import DAG_MAPPINGS, jobs_for_dag
from include.bc_sales_sync.operators.customer_statistics import JOBS as STATISTICS_JOBS
from tests.conftest import ROOT

# The DAGs read their tasks from the catalogue; so do these tests.
EXPECTED_ORDER = {dag_id: [m.task_id for m in jobs_for_dag(dag_id)] + ["report"] for dag_id in DAG_MAPPINGS}
MAPPINGS = {m.task_id: m.name for dag_id in DAG_MAPPINGS for m in jobs_for_dag(dag_id)}


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=str(ROOT / "dags"))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert {"bc_sales_sync", "bc_dataverse_sync"} <= set(dagbag.dag_ids)


def test_every_dag_has_tags_retries_and_runs_one_at_a_time(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, dag_id
        assert dag.catchup is False, dag_id
        assert dag.max_active_runs == 1, dag_id
        for task in dag.tasks:
            if task.task_id != "report":
                assert task.retries >= 2, f"{dag_id}.{task.task_id}"


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_ORDER))
def test_sync_jobs_run_in_bc_order(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    assert set(dag.task_ids) == set(EXPECTED_ORDER[dag_id])
    for upstream, downstream in itertools.pairwise(EXPECTED_ORDER[dag_id]):
        assert dag.get_task(upstream).downstream_task_ids == {downstream}
    assert_report_is_a_teardown(dag.get_task("report"))
    for task_id in EXPECTED_ORDER[dag_id][:-1]:
        assert dag.get_task(task_id).mapping == MAPPINGS[task_id]


def test_every_mapping_runs_in_exactly_one_dag(dagbag):
    from include.bc_sales_sync.mappings.registry import default_mappings

    tasks = [t for dag_id in EXPECTED_ORDER for t in EXPECTED_ORDER[dag_id][:-1]]
    assert sorted(MAPPINGS[t] for t in tasks) == sorted(default_mappings())
    assert all(default_mappings()[MAPPINGS[t]].task_id == t for t in tasks)


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_ORDER))
def test_schedule_has_real_data_intervals(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"
    assert dag.timetable.expression == "*/30 * * * *"


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_ORDER))
def test_params(dagbag, dag_id):
    params = dagbag.dags[dag_id].params
    assert params["full_sync"] is False and params["dry_run"] is False and params["mappings"] == []


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_ORDER))
def test_sync_tasks_use_the_dataverse_pool_and_alert_on_failure(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    for task_id in EXPECTED_ORDER[dag_id][:-1]:
        task = dag.get_task(task_id)
        assert task.pool == "dataverse_api"
        assert task.on_failure_callback and task.on_retry_callback
        # A subset run or a disabled mapping skips a task; the tasks after it still run.
        assert task.trigger_rule == "none_failed"


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
    heavy = {
        "pandas",
        "msal",
        "include.bc_sales_sync.state",
        "include.bc_sales_sync.sync.job",
        "include.bc_sales_sync.jobs.runner",
        "include.sandbox",
    }
    assert not (heavy & loaded)


# -- bc_customer_statistics ---------------------------------------------------------------------


def test_customer_statistics_dag_is_wired_as_documented(dagbag):
    dag = dagbag.dags["bc_customer_statistics"]
    assert dag.task_ids == [*STATISTICS_JOBS, "report"]
    assert dag.get_task("account_statistics").downstream_task_ids == {"invoice_payment_status"}
    assert dag.get_task("invoice_payment_status").downstream_task_ids == {"report"}
    # The payment status and the report run whatever became of the statistics.
    assert dag.get_task("invoice_payment_status").trigger_rule == "all_done"
    assert_report_is_a_teardown(dag.get_task("report"))
    assert [dag.get_task(t).job for t in STATISTICS_JOBS] == ["account_statistics", "invoice_payment_status"]
    for task_id in STATISTICS_JOBS:
        task = dag.get_task(task_id)
        assert task.pool == "dataverse_api" and task.retries >= 2
        assert task.on_failure_callback and task.on_retry_callback


def test_customer_statistics_dag_runs_every_30_minutes_with_its_params(dagbag):
    dag = dagbag.dags["bc_customer_statistics"]
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"
    assert dag.timetable.expression == "*/30 * * * *"
    assert dag.catchup is False and dag.max_active_runs == 1
    assert dag.params["customers"] == [] and dag.params["full_refresh"] is False and dag.params["work_date"] == ""


def assert_report_is_a_teardown(report) -> None:
    """The report runs whatever became of the jobs, without turning a run with a failed job green."""
    assert report.is_teardown
    assert report.trigger_rule == "all_done_setup_success"
