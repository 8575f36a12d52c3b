"""The check itself, step by step: services, sandbox, Airflow, two rounds of DAG runs, the checks, the report.

Round 1 runs the DAGs one after the other, in the order their data depends on (prerequisites, the sync jobs,
the statistics), and compares what arrived in Dataverse with Business Central. Round 2 runs all three at once
with the ``dataverse_api`` pool narrowed to 2 slots: independent runs share the two workers, the pool caps how
many of their tasks call the API at once, whichever worker runs them, and nothing is written again.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dev.deploy_check import services
from dev.deploy_check.api import FINISHED, AirflowApi
from dev.deploy_check.config import (
    ADMIN_URL_ENV,
    DEFAULT_HOME,
    PROJECT_ROOT,
    REDIS_URL_ENV,
    WORKERS,
    Deployment,
    clean_environ,
)
from dev.deploy_check.distribution import LockProbe, check_distribution
from dev.deploy_check.errors import DeployError
from dev.deploy_check.processes import Supervisor, clean_up_after_earlier_check
from dev.deploy_check.report import report
from dev.deploy_check.settings import sandbox_config, write_settings
from dev.deploy_check.verify import Check, SandboxClient, check_dataverse_against_bc, dataverse_writes

DAG_ORDER = ("bc_dataverse_sync", "bc_sales_sync", "bc_customer_statistics")
# The demo company's documents are from the first half of 2025 (see dev.runner).
DAG_CONF = {"bc_customer_statistics": {"work_date": "2025-05-31"}}
API_POOL = "dataverse_api"
# Task states that fail the check at once (a retry would only hide a problem, and take minutes).
TASK_FAILED = ("failed", "up_for_retry", "upstream_failed")
ROUND_TWO_POOL_SLOTS = 2
BIN = Path(sys.executable).parent
# The components /api/v2/monitor/health reports on.
HEALTH_PARTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# The file that marks a folder as a deploy check's home: only such a folder (or an empty one) is wiped.
HOME_MARKER = ".deploy-check-home"
AIRFLOW = str(BIN / "airflow")


@dataclass
class TaskRun:
    """One task instance as the REST API reports it."""

    round: int
    dag_id: str
    run_id: str
    task_id: str
    state: str
    hostname: str
    pool: str
    try_number: int
    start: dt.datetime | None
    end: dt.datetime | None

    @property
    def name(self) -> str:
        return f"{self.dag_id}.{self.task_id}"

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds() if self.start and self.end else 0.0

    @classmethod
    def from_api(cls, round_: int, ti: dict) -> TaskRun:
        def when(value: str | None) -> dt.datetime | None:
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None

        return cls(
            round=round_,
            dag_id=ti["dag_id"],
            run_id=ti["dag_run_id"],
            task_id=ti["task_id"],
            state=ti["state"] or "none",
            hostname=ti.get("hostname") or "",
            pool=ti.get("pool") or "",
            try_number=ti.get("try_number") or 0,
            start=when(ti.get("start_date")),
            end=when(ti.get("end_date")),
        )


def say(text: str = "") -> None:
    print(text, flush=True)


class DeployCheck:
    def __init__(self, deployment: Deployment, run_timeout: float = 300.0):
        self.d = deployment
        self.run_timeout = run_timeout
        self.supervisor = Supervisor(deployment.logs, deployment.home / "sessions.json")
        self.api = AirflowApi(deployment.api_url, deployment.username, deployment.password)
        self.sandbox: SandboxClient | None = None
        self.steps: list[tuple[str, float]] = []
        self.tasks: list[TaskRun] = []
        self.checks: list[Check] = []

    # ------------------------------------------------------------------------------------------------- the run

    def run(self) -> int:
        started = time.monotonic()
        # Ctrl-C, a kill or a closed terminal stop everything started, even where SIGINT came in ignored (a
        # background job of a script).
        previous = {sig: signal.signal(sig, _interrupt) for sig in STOP_SIGNALS}
        code = 1
        try:
            self.step("prepare the folders", self.prepare)
            self.step("PostgreSQL and Redis", self.prepare_services)
            self.step("sandbox", self.start_sandbox)
            self.step("metadata database and settings", self.set_up_airflow)
            self.step("Airflow components ready", self.start_airflow)
            self.step("round 1: the DAGs one after the other", self.round_one)
            self.step("Dataverse against Business Central", self.verify_result)
            self.step("round 2: the three DAGs at once", self.round_two)
            self.step("distribution, logs and state store", self.verify_distribution)
            self.report()
            code = 0
        except DeployError as exc:
            say(f"\n{exc.describe()}")
        except KeyboardInterrupt:
            say("\nInterrupted.")
            code = 130
        finally:
            for sig in STOP_SIGNALS:  # a second Ctrl-C must not cut the clean-up short
                signal.signal(sig, signal.SIG_IGN)
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        total = time.monotonic() - started
        outcome = {0: "passed", 130: "interrupted"}.get(code, "FAILED")
        say(f"\nDeploy check {outcome} in {total:.0f} s. Logs: {self.d.home}")
        return code

    def step(self, name: str, action: Callable[[], None]) -> None:
        say(f"\n== {name}")
        started = time.monotonic()
        action()
        self.steps.append((name, time.monotonic() - started))

    def stop(self) -> None:
        say("\n== stopping everything started")
        for line in self.supervisor.stop_all():
            say(f"  {line}")

    # ------------------------------------------------------------------------------------------------ set up

    def prepare(self) -> None:
        killed = clean_up_after_earlier_check(self.supervisor.trail)
        if killed:
            say(f"  stopped {killed} process(es) an earlier, interrupted check had left")
        marker = self.d.home / HOME_MARKER
        ours = {HOME_MARKER, "airflow", "logs", "sandbox", "airflow_settings.yaml", "sessions.json"}
        found = {p.name for p in self.d.home.iterdir()} if self.d.home.is_dir() else set()
        if found - ours and not marker.exists():
            raise DeployError(
                "deploy check", f"{self.d.home} is not empty and not a deploy check's: choose another --home"
            )
        shutil.rmtree(self.d.home, ignore_errors=True)
        for folder in (self.d.logs, self.d.airflow_home, self.d.sandbox_dir):
            folder.mkdir(parents=True, exist_ok=True)
        marker.write_text("Made by `make deploy-check`, which wipes this folder when it starts.\n")
        say(f"  {self.d.home} (logs of every component in {self.d.logs})")

    def prepare_services(self) -> None:
        for name, ensure, where in (
            ("PostgreSQL", services.ensure_postgres, self.d.admin_url),
            ("Redis", services.ensure_redis, self.d.redis_url),
        ):
            started = ensure(where)
            say(f"  {name}: {'started: ' + started if started else 'running'}")
        for name in (self.d.airflow_db, self.d.state_db):
            services.recreate_database(self.d.admin_url, name)
        services.flush_redis(self.d.redis_url)
        say(f"  databases {self.d.airflow_db} (metadata) and {self.d.state_db} (sync state) created empty")
        say(f"  Celery broker {self.d.redis_url} emptied")

    def start_sandbox(self) -> None:
        config = sandbox_config(self.d)
        sandbox = self.supervisor.start(
            "sandbox",
            [
                str(BIN / "python"),
                *("-m", "include.sandbox", "serve", "--state-dir", str(self.d.sandbox_dir)),
                *("--bc-port", str(config.bc_port), "--dataverse-port", str(config.dataverse_port)),
                *("--entra-port", str(config.entra_port), "--seed", "demo", "--reset"),
            ],
            {"PYTHONPATH": str(PROJECT_ROOT)},
            cwd=PROJECT_ROOT,
        )

        def ready() -> bool:
            self.sandbox = SandboxClient(self.d.sandbox_dir)
            return all(self.sandbox.stats(s) for s in ("business_central", "dataverse"))

        took = self.supervisor.wait_for("serving", ready, 60, sandbox)
        say(f"  Business Central {config.bc_url}, Dataverse {config.dataverse_url}, Entra ID {config.entra_url}")
        say(f"  demo company, fresh data (ready in {took:.1f} s)")

    def set_up_airflow(self) -> None:
        self.d.write_passwords_file()
        ca_pem = (self.d.sandbox_dir / "ca.pem").read_text()
        settings_file = write_settings(self.d, ca_pem)
        self.command("db-migrate", [AIRFLOW, "db", "migrate"], timeout=600)
        say(f"  metadata database migrated ({self.d.database_url(self.d.airflow_db)})")
        python = str(BIN / "python")
        load = [python, "-m", "include.bc_sales_sync.settings", "load", "--file", str(settings_file)]
        self.command("load-settings", load, timeout=300)
        say(f"  connections, pools and variables of {settings_file.name} loaded into it")
        say(f"  sync state store: connection bc_sync_state -> {self.d.database_url(self.d.state_db)}")

    def command(self, name: str, command: list[str], timeout: float) -> None:
        """Run a one-off command with the deployment's settings; its output goes to ``<logs>/<name>.log``."""
        log = self.d.logs / f"{name}.log"
        with open(log, "ab") as out:
            try:
                done = subprocess.run(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env={**clean_environ(), **self.d.airflow_env()},
                    cwd=PROJECT_ROOT,
                    timeout=timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise DeployError(name, f"did not finish within {timeout:.0f} s", log) from None
        if done.returncode != 0:
            raise DeployError(name, f"{' '.join(command)} exited with {done.returncode}", log)

    def start_airflow(self) -> None:
        env = self.d.airflow_env()
        start = self.supervisor.start
        concurrency = str(self.d.worker_concurrency)
        api = start("api-server", [AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(self.d.ports.api)], env)
        scheduler = start("scheduler", [AIRFLOW, "scheduler"], env)
        start("dag-processor", [AIRFLOW, "dag-processor"], env)
        start("triggerer", [AIRFLOW, "triggerer"], env)
        workers = [
            start(
                name,
                [AIRFLOW, "celery", "worker", "--celery-hostname", f"{name}@%h", "--concurrency", concurrency],
                self.d.worker_env(name),
            )
            for name in WORKERS
        ]
        took = self.supervisor.wait_for("answering", lambda: self.api.health() is not None, 180, api)
        say(f"  api-server  {self.d.api_url} ({took:.0f} s)")
        took = self.supervisor.wait_for("healthy", self._all_healthy, 180, scheduler)
        say(f"  scheduler, dag-processor, triggerer: healthy (/api/v2/monitor/health, {took:.0f} s)")
        for worker in workers:
            took = self.supervisor.wait_for("ready", lambda w=worker: _celery_ready(w.log), 180, worker)
            say(
                f"  {worker.name}: Celery worker {worker.name}@{_node()} ready, concurrency {concurrency} ({took:.0f} s)"
            )
        self.api.login()
        say(f"  logged in to the REST API as {self.d.username} (JWT from /auth/token)")
        took = self.supervisor.wait_for("parsed", self._dags_parsed, 180, self.supervisor.get("dag-processor"))
        say(f"  DAGs parsed: {', '.join(DAG_ORDER)} ({took:.0f} s)")

    def _all_healthy(self) -> bool:
        health = self.api.health()
        return all(health.get(part, {}).get("status") == "healthy" for part in HEALTH_PARTS)

    def _dags_parsed(self) -> bool:
        errors = self.api.import_errors()
        if errors:
            raise DeployError("dag-processor", f"DAG import errors: {errors}", self.supervisor.get("dag-processor").log)
        return set(DAG_ORDER) <= self.api.dag_ids()

    # --------------------------------------------------------------------------------------------------- runs

    def round_one(self) -> None:
        for dag_id in DAG_ORDER:
            # The run of the DAG's current interval: the scheduler, finding it there when the DAG is unpaused,
            # does not start a scheduled run of its own for it.
            logical_date = self.api.dag(dag_id).get("next_dagrun_logical_date")
            run_id = self.api.trigger(dag_id, DAG_CONF.get(dag_id), logical_date)
            self.run_unpaused({dag_id: run_id}, round_=1)

    def round_two(self) -> None:
        slots = self.api.pool(API_POOL)["slots"]
        self.api.set_pool_slots(API_POOL, ROUND_TWO_POOL_SLOTS)
        say(f"  pool {API_POOL}: {ROUND_TWO_POOL_SLOTS} slots (instead of {slots}) for this round")
        before = self.sandbox.stats("dataverse")
        try:
            with LockProbe(self.d) as probe:
                runs = {dag_id: self.api.trigger(dag_id, DAG_CONF.get(dag_id)) for dag_id in DAG_ORDER}
                self.run_unpaused(runs, round_=2)
        finally:
            with contextlib.suppress(Exception):  # as in run_unpaused
                self.api.set_pool_slots(API_POOL, slots)
        self.checks.append(probe.check(set(runs.values())))
        say(self.checks[-1].line())
        writes = dataverse_writes(before, self.sandbox.stats("dataverse"))
        detail = f"{writes} Dataverse write(s)" + (": every record was unchanged" if writes == 0 else "")
        self.checks.append(Check("round 2 wrote nothing", writes == 0, detail))
        say(self.checks[-1].line())
        bad = [c for c in self.checks[-2:] if not c.ok]
        if bad:
            raise DeployError("round 2", "; ".join(f"{c.name}: {c.detail}" for c in bad))

    def run_unpaused(self, runs: dict[str, str], round_: int) -> None:
        """Unpause the DAGs, wait for their runs, pause them again (no scheduled run starts meanwhile)."""
        for dag_id in runs:
            self.api.set_paused(dag_id, False)
        try:
            self.wait_for_runs(runs, round_)
        finally:
            # Never hides the error that ended the wait (a dead API server cannot pause; it is stopped anyway).
            with contextlib.suppress(Exception):
                for dag_id in runs:
                    self.api.set_paused(dag_id, True)

    def wait_for_runs(self, runs: dict[str, str], round_: int) -> None:
        """Wait for the runs; a task that fails or is up for retry fails the check at once, with its log."""
        started = time.monotonic()
        waiting = dict(runs)
        while waiting:
            self.supervisor.check_all()
            for dag_id, run_id in list(waiting.items()):
                state = self.api.dag_run(dag_id, run_id)["state"]
                tasks = [TaskRun.from_api(round_, ti) for ti in self.api.task_instances(dag_id, run_id)]
                if state != "success" and any(t.state in TASK_FAILED for t in tasks):
                    raise self.run_failed(dag_id, run_id, tasks)
                if state in FINISHED:
                    del waiting[dag_id]
                    self.tasks.extend(tasks)
                    took = time.monotonic() - started
                    say(f"  {dag_id}: run {run_id} {state} ({took:.0f} s, {len(tasks)} tasks)")
                    if state != "success":
                        raise self.run_failed(dag_id, run_id, tasks)
            if time.monotonic() - started > self.run_timeout:
                raise DeployError(
                    "scheduler", f"runs {waiting} not finished after {self.run_timeout:.0f} s", self._log("scheduler")
                )
            time.sleep(1)

    def run_failed(self, dag_id: str, run_id: str, tasks: list[TaskRun]) -> DeployError:
        """The error of a failed run, with the log of its first failed task (fetched through the API server)."""
        failed = [t for t in tasks if t.state in TASK_FAILED]
        detail = ", ".join(f"{t.task_id} {t.state} on {t.hostname or '?'}" for t in failed) or "no failed task"
        error = DeployError(f"{dag_id} run {run_id}", detail)
        first = next((t for t in failed if t.state != "upstream_failed"), None)
        if first is not None:
            log = self.d.logs / f"task-{dag_id}.{first.task_id}.log"
            log.write_text(self.api.task_log(dag_id, run_id, first.task_id, max(first.try_number, 1)))
            error.log = log
        return error

    def _log(self, name: str) -> Path:
        return self.supervisor.get(name).log

    # -------------------------------------------------------------------------------------------------- checks

    def verify_result(self) -> None:
        from include.bc_sales_sync.state import StateStore

        run_ids = {t.run_id for t in self.tasks if t.round == 1}
        store = StateStore(self.d.database_url(self.d.state_db))
        try:
            jobs = store.jobs(limit=500)
        finally:
            store.close()
        jobs = jobs[jobs["run_id"].isin(run_ids)]
        failed = {row.mapping: int(row.failed) for row in jobs.itertuples()}
        checks = check_dataverse_against_bc(self.sandbox, failed)
        self.checks.extend(checks)
        for check in checks:
            say(check.line())
        bad = [c for c in checks if not c.ok]
        if bad:
            raise DeployError("sync result", "; ".join(f"{c.name}: {c.detail}" for c in bad))

    def verify_distribution(self) -> None:
        checks = check_distribution(self.tasks, self.d, self.api, pool=API_POOL, slots=ROUND_TWO_POOL_SLOTS)
        self.checks.extend(checks)
        for check in checks:
            say(check.line())
        bad = [c for c in checks if not c.ok]
        if bad:
            raise DeployError("distribution", "; ".join(f"{c.name}: {c.detail}" for c in bad))

    # -------------------------------------------------------------------------------------------------- report

    def report(self) -> None:
        for line in report(self.tasks, self.steps):
            say(line)


def _celery_ready(log: Path) -> bool:
    return " ready." in log.read_text(errors="replace")


def _node() -> str:
    import socket

    return socket.gethostname()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    import dev.deploy_check

    description = dev.deploy_check.__doc__.split("\n")[0].replace("``", "")
    parser = argparse.ArgumentParser(prog="python -m dev.deploy_check", description=description)
    parser.add_argument("--home", type=Path, default=DEFAULT_HOME, help="where everything is written (wiped first)")
    parser.add_argument(
        "--databases",
        default="bc_sales_sync",
        metavar="PREFIX",
        help="the PostgreSQL databases are PREFIX_airflow and PREFIX_state (dropped and created anew), on the "
        f"server of {ADMIN_URL_ENV} (default postgresql://postgres@127.0.0.1:5432/test)",
    )
    parser.add_argument("--redis-url", default=None, help=f"the Celery broker's Redis database ({REDIS_URL_ENV})")
    parser.add_argument("--run-timeout", type=float, default=300.0, help="seconds a round of DAG runs may take")
    args = parser.parse_args(argv)
    deployment = Deployment(
        home=args.home.resolve(), airflow_db=f"{args.databases}_airflow", state_db=f"{args.databases}_state"
    )
    if args.redis_url:
        deployment = dataclasses.replace(deployment, redis_url=args.redis_url)
    return DeployCheck(deployment, run_timeout=args.run_timeout).run()
