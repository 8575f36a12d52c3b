"""The deploy check's own logic, without a deployment: settings it loads, comparisons, overlaps, the report."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from dev.deploy_check.check import TaskRun
from dev.deploy_check.config import Deployment, Ports, clean_environ
from dev.deploy_check.distribution import check_pool, check_workers, most_at_once
from dev.deploy_check.report import placement, report
from dev.deploy_check.settings import deployment_settings
from dev.deploy_check.verify import compare, dataverse_writes

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


@pytest.fixture
def deployment(tmp_path: Path) -> Deployment:
    ports = Ports(api=1, bc=2001, dataverse=2002, entra=2003, trigger_logs=3, worker_logs={"worker1": 4, "worker2": 5})
    return Deployment(home=tmp_path, ports=ports, fernet_key="k", jwt_secret="j", secret_key="s")


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def task(task_id: str, host: str, start: float, end: float, round_: int = 2, pool: str = "dataverse_api") -> TaskRun:
    return TaskRun(round_, "bc_sales_sync", "r", task_id, "success", host, pool, 1, at(start), at(end))


def test_the_settings_point_at_the_started_sandbox_and_the_postgres_state_store(deployment):
    settings = deployment_settings(deployment, PEM)
    conns = {c["conn_id"]: c for c in settings["airflow"]["connections"]}
    bc, dv = conns["business_central_default"], conns["dataverse_default"]
    assert bc["conn_host"] == "https://127.0.0.1:2001" and dv["conn_host"] == "https://127.0.0.1:2002"
    assert bc["conn_extra"]["authority"] == dv["conn_extra"]["authority"] == "https://127.0.0.1:2003"
    assert bc["conn_extra"]["ca_bundle"] == dv["conn_extra"]["ca_bundle"] == PEM  # no file path
    assert bc["conn_extra"]["company_name"] == "CRONUS International Ltd."  # the rest as in the project's file
    state = conns["bc_sync_state"]
    assert (state["conn_type"], state["conn_schema"], state["conn_host"]) == (
        "postgres",
        "bc_sales_sync_state",
        "127.0.0.1",
    )
    assert settings["airflow"]["pools"]  # pools and variables as they are


def test_every_component_shares_the_secrets_and_each_worker_has_its_own_log_port(deployment):
    env = deployment.airflow_env()
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("/bc_sales_sync_airflow")
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql+psycopg2://")
    assert (env["AIRFLOW__CORE__FERNET_KEY"], env["AIRFLOW__API_AUTH__JWT_SECRET"]) == ("k", "j")
    one, two = deployment.worker_env("worker1"), deployment.worker_env("worker2")
    assert one["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] != two["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"]
    assert one["BC_SYNC_WORKER_NAME"] == "worker1"


def test_the_components_get_no_airflow_setting_of_the_caller(monkeypatch):
    monkeypatch.setenv("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
    monkeypatch.setenv("AIRFLOW_CONN_DATAVERSE_DEFAULT", "{}")
    monkeypatch.setenv("BC_SYNC_STATE_URL", "sqlite://")
    env = clean_environ()
    assert not [k for k in env if k.startswith("AIRFLOW")] and "BC_SYNC_STATE_URL" not in env


def test_most_at_once():
    assert most_at_once([]) == 0
    assert most_at_once([(at(0), at(10)), (at(5), at(15)), (at(6), at(7))]) == 3
    assert most_at_once([(at(0), at(5)), (at(5), at(9))]) == 1  # one ends as the next starts


def test_the_pool_check_fails_when_more_tasks_than_slots_overlapped():
    tasks = [task("a", "worker1.h", 0, 10), task("b", "worker2.h", 1, 9), task("c", "worker1.h", 2, 8)]
    assert not check_pool(tasks, "dataverse_api", 2).ok
    assert check_pool(tasks[:2], "dataverse_api", 2).ok
    assert check_workers(tasks).ok and not check_workers(tasks[::2]).ok


def test_compare_accepts_missing_records_only_as_many_as_failed():
    bc = {"1": {"Name": "A"}, "2": {"Name": "B"}}
    fields = {"name": ("Name", str)}
    assert compare("x", bc, {"1": {"name": "A"}}, fields, failed=1).ok
    assert not compare("x", bc, {"1": {"name": "A"}}, fields, failed=0).ok
    wrong = compare("x", bc, {"1": {"name": "A"}, "2": {"name": "b"}}, fields, failed=0)
    assert not wrong.ok and "2.name" in wrong.detail


def test_dataverse_writes_count_operations_inside_batches_not_the_batch_post():
    before = {"by_method": {"GET": 5}, "by_entity": {}, "batch_operations": {}}
    after = {
        "by_method": {"GET": 9, "POST": 3, "PATCH": 1},
        "by_entity": {"$batch": {"POST": 2}},
        "batch_operations": {"products": {"PATCH": 4, "GET": 1}},
    }
    assert dataverse_writes(before, after) == 1 + 1 + 4  # a POST, a PATCH, 4 writes in batches
    assert dataverse_writes(after, after) == 0


def test_the_report_has_one_line_per_task_instance():
    tasks = [task("b", "worker2.h", 5, 6, round_=1), task("a", "worker1.h", 1, 3, round_=1)]
    assert placement(tasks) == ["round 1:", "bc_sales_sync.a worker worker1.h", "bc_sales_sync.b worker worker2.h"]
    lines = "\n".join(report(tasks, [("round 1", 12.0)]))
    assert "worker1.h: 1 task instances, 2.0 s busy" in lines and "round 1" in lines
