"""Developer runs against the sandbox: ``make demo``, ``make sync`` and ``make airflow``.

``demo``   starts the sandbox (demo company, fresh data), runs the sync DAGs and the customer
           statistics once and shows what arrived in Sales, then stops the sandbox.
``sync``   runs the DAG(s) once against a sandbox that is already running (``make sandbox``), so
           you can change data in Business Central through its API and watch it arrive.
``airflow``  serves the sandbox and runs ``airflow standalone`` with the project, to operate the
           DAGs from the UI (log in as ``admin``; the password is printed at start-up and kept in
           ``.airflow/simple_auth_manager_passwords.json.generated``).
``prepare`` sets up the project's Airflow home (``.airflow``) and loads ``airflow_settings.yaml``.

DAGs run in-process with ``dag.test()``; connections come from ``airflow_settings.yaml``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from dev.show import sandbox_stats, show_dataverse, show_jobs, show_requests, show_statistics
from include.bc_sales_sync.mappings.catalogue import DAG_MAPPINGS

PROJECT_ROOT = Path(__file__).resolve().parents[1]
AIRFLOW_HOME = PROJECT_ROOT / ".airflow"
# The prerequisites (salespeople, currencies, customers) with contacts and opportunities first, then the six
# jobs that refer to them.
SYNC_DAGS = tuple(DAG_MAPPINGS)
# Then the customer statistics, at the demo company's work date: its documents are from the first half
# of 2025 (BC's own demo companies likewise come with a work date in their data's year).
STATISTICS_DAG = "bc_customer_statistics"
DEMO_WORK_DATE = "2025-05-31"


def airflow_environment() -> dict[str, str]:
    """The environment every local Airflow command of the project runs with."""
    from include.bc_sales_sync import settings

    env = {
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING"),
        "PYTHONPATH": os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p),
    }
    env.update(settings.environment(settings.read()))
    return env


def prepare() -> None:
    """Create the Airflow metadata database once and import the pools."""
    os.environ.update(airflow_environment())
    AIRFLOW_HOME.mkdir(exist_ok=True)
    airflow = str(Path(sys.executable).with_name("airflow"))
    if not (AIRFLOW_HOME / "airflow.db").exists():
        print("Creating the Airflow metadata database in .airflow (first run only)...", flush=True)
    subprocess.run([airflow, "db", "migrate"], check=True, stdout=subprocess.DEVNULL)
    from include.bc_sales_sync import settings

    pools = settings.pools(settings.read())
    pools_file = AIRFLOW_HOME / "pools.json"
    pools_file.write_text(json.dumps(pools))
    subprocess.run([airflow, "pools", "import", str(pools_file)], check=True, stdout=subprocess.DEVNULL)


def run_dag(dag_id: str, conf: dict | None = None) -> str:
    """Run one DAG once, in-process; returns the run id."""
    os.environ.update(airflow_environment())
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    if bag.import_errors:
        raise SystemExit(f"DAG import errors: {bag.import_errors}")
    dag = bag.get_dag(dag_id)
    print(f"Running {dag_id}...", flush=True)
    dag_run = dag.test(run_conf=conf or {})
    state = str(dag_run.state)
    print(f"{dag_id}: run {dag_run.run_id} finished: {state}.", flush=True)
    if not state.endswith("success"):
        raise SystemExit(f"{dag_id} did not succeed ({state}); see the task logs above.")
    return dag_run.run_id


def demo() -> None:
    from include.sandbox.config import SandboxConfig
    from include.sandbox.server import SandboxThread

    config = SandboxConfig(state_dir=PROJECT_ROOT / ".sandbox")
    print("Starting the sandbox: Business Central, Dataverse and Entra ID with the demo company (fresh data)...")
    try:
        sandbox = SandboxThread(config, seed="demo", reset=True)
    except OSError as exc:
        raise SystemExit(
            f"Cannot start the sandbox ({exc}). Is `make sandbox` running? Stop it, or use `make sync`."
        ) from exc
    with sandbox:
        # Fresh Sales data needs fresh couplings: start the sync state over too.
        from include.bc_sales_sync import settings

        state_db = settings.connections(settings.read()).get("bc_sync_state", {}).get("host")
        if state_db:
            Path(state_db).unlink(missing_ok=True)
        prepare()
        before = sandbox_stats(config)
        started = time.monotonic()
        run_ids = [run_dag(dag_id) for dag_id in SYNC_DAGS]
        run_ids.append(run_dag(STATISTICS_DAG, {"work_date": DEMO_WORK_DATE}))
        print(f"Synchronized in {time.monotonic() - started:.1f} s.")
        show_jobs(run_ids)
        show_requests(before, sandbox_stats(config))
        show_dataverse()
        show_statistics()
    print("\nThe sandbox is stopped. `make sandbox` + `make sync` keeps it running between syncs.")


def sync(dag_ids: list[str], conf: dict) -> None:
    from include.sandbox.config import SandboxConfig

    config = SandboxConfig(state_dir=PROJECT_ROOT / ".sandbox")
    prepare()
    before = {}
    with contextlib.suppress(Exception):
        before = sandbox_stats(config)
    run_ids = [run_dag(dag_id, conf) for dag_id in dag_ids]
    show_jobs(run_ids)
    if before:
        show_requests(before, sandbox_stats(config))


def standalone() -> None:
    from include.bc_sales_sync import settings
    from include.sandbox.config import SandboxConfig
    from include.sandbox.server import SandboxThread

    config = SandboxConfig(state_dir=PROJECT_ROOT / ".sandbox")
    with SandboxThread(config, seed="demo"):
        print(f"Sandbox running: Business Central {config.bc_url}, Dataverse {config.dataverse_url}.")
        prepare()
        settings.load(airflow_bin=str(Path(sys.executable).with_name("airflow")))
        env = {**os.environ, **airflow_environment(), "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO"}
        # standalone starts its components as `airflow ...` from the PATH: use this environment's.
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        print("Starting Airflow at http://localhost:8080 (user admin; the password is printed below). Ctrl-C stops.")
        with contextlib.suppress(KeyboardInterrupt):
            subprocess.run([str(Path(sys.executable).with_name("airflow")), "standalone"], env=env, check=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="sandbox + one sync run + what arrived in Sales")
    s = sub.add_parser("sync", help="run the sync DAG(s) once against a running sandbox")
    s.add_argument("--dag", action="append", help=f"DAG id (default: {', '.join(SYNC_DAGS)})")
    s.add_argument("--conf", default="{}", help="run conf / params as JSON, e.g. '{\"full_sync\": true}'")
    sub.add_parser("prepare", help="create .airflow and load airflow_settings.yaml")
    sub.add_parser("airflow", help="the sandbox plus `airflow standalone` with this project")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.command == "demo":
        demo()
    elif args.command == "sync":
        sync(args.dag or list(SYNC_DAGS), json.loads(args.conf))
    elif args.command == "airflow":
        standalone()
    else:
        prepare()
    return 0


if __name__ == "__main__":
    sys.exit(main())
