"""``make deploy-check`` as CI runs it: the CeleryExecutor deployment with two workers, started, checked, stopped.

PostgreSQL and Redis are started when they are down (the check does it itself, the same way); the test is skipped,
with the reason, only where that cannot work or the deployment's packages (``make install-deploy``) are missing.
It runs under its own databases and Redis database, so a developer's ``make deploy-check`` is left alone.
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys

import psutil
import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.deploy, pytest.mark.timeout(1500)]

# The check stops by itself long before: each round of runs has 300 s, start-up a few minutes.
CHECK_TIMEOUT = 1200
DATABASES = "bc_sales_sync_ci"
REDIS_URL = "redis://127.0.0.1:6379/4"


def _deployment_processes() -> set[int]:
    """Processes that look like the deployment's (what ``pgrep -af airflow`` would show, and the sandbox)."""
    found = set()
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if any(word in cmdline for word in ("airflow", "celery", "include.sandbox")):
            found.add(proc.pid)
    return found


@pytest.fixture(scope="module")
def services():
    missing = [m for m in ("airflow.providers.celery", "redis", "asyncpg") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"the deployment's packages are not installed ({', '.join(missing)}): run `make install-deploy`")
    from dev.deploy_check.config import Deployment
    from dev.deploy_check.errors import DeployError
    from dev.deploy_check.services import ensure_postgres, ensure_redis

    try:
        ensure_postgres(Deployment().admin_url)
        ensure_redis(REDIS_URL)
    except DeployError as exc:
        pytest.skip(f"the deploy check needs PostgreSQL and Redis on this machine: {exc}")


def test_deploy_check_runs_the_dags_on_two_workers_and_stops_everything(services, tmp_path):
    before = _deployment_processes()
    output = tmp_path / "deploy-check.out"
    command = [sys.executable, "-m", "dev.deploy_check", "--home", str(tmp_path / "home")]
    command += ["--databases", DATABASES, "--redis-url", REDIS_URL]
    with open(output, "wb") as out:
        check = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env={**os.environ})
        try:
            code = check.wait(timeout=CHECK_TIMEOUT)
        except subprocess.TimeoutExpired:
            check.send_signal(signal.SIGINT)  # what Ctrl-C does: it stops what it started
            code = check.wait(timeout=120)
    text = output.read_text(errors="replace")
    assert code == 0, f"deploy check exited with {code}:\n{text[-8000:]}"
    assert "Deploy check passed" in text
    # One line per task instance: "<dag_id>.<task_id> worker <hostname>".
    placed = re.findall(r"^(bc_\w+)\.(\w+) worker (\S+)$", text, flags=re.MULTILINE)
    assert {dag_id for dag_id, _, _ in placed} == {"bc_dataverse_sync", "bc_sales_sync", "bc_customer_statistics"}
    assert {host.split(".", 1)[0] for _, _, host in placed} == {"worker1", "worker2"}, text[-8000:]
    left = _deployment_processes() - before
    assert not left, [" ".join(psutil.Process(pid).cmdline()) for pid in left if psutil.pid_exists(pid)]
