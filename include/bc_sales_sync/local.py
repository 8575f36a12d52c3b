"""Local runs against the sandbox: ``make demo``, ``make sync`` and ``make airflow``.

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

PROJECT_ROOT = Path(__file__).resolve().parents[2]
AIRFLOW_HOME = PROJECT_ROOT / ".airflow"
# The prerequisites (salespeople, currencies, customers) first, then the six jobs that refer to them.
SYNC_DAGS = ("bc_dataverse_sync", "bc_sales_sync")
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


def show_jobs(run_ids: list[str]) -> None:
    from include.bc_sales_sync.reporting import format_summaries
    from include.bc_sales_sync.state import StateStore

    state = StateStore.from_airflow("bc_sync_state")
    jobs = state.jobs(limit=200)
    jobs = jobs[jobs["run_id"].isin(run_ids)].iloc[::-1]
    counters = ("inserted", "modified", "unchanged", "skipped", "failed")
    summaries = []
    for job in jobs.itertuples():
        counts = {c: int(getattr(job, c)) for c in counters}
        summaries.append({"mapping": job.mapping, "read": sum(counts.values()), **counts})
    print("\nSync jobs of this run (counters as Business Central shows them):")
    print(format_summaries(summaries))
    show_errors(state, jobs)


def show_errors(state, jobs) -> None:
    """The per-record errors of the run's jobs, a few per job."""
    shown = False
    for job in jobs.itertuples():
        if not job.failed:
            continue
        if not shown:
            print("\nRecords that failed (each is retried on the next run; the same error twice skips it):")
            shown = True
        errors = state.errors(job_id=job.id, limit=50)
        print(f"  {job.mapping}:")
        for message in errors["message"].head(4):
            print(f"    - {message}")
        if len(errors) > 4:
            print(f"    ... and {len(errors) - 4} more")


def show_dataverse() -> None:
    from include.bc_sales_sync.hooks import DataverseHook

    hook = DataverseHook("dataverse_default")

    def rows(entity_set: str, select: list[str], filter: str | None = None) -> list[dict]:
        return [r for page in hook.iter_pages(entity_set, select=select, filter=filter) for r in page]

    groups = {g["uomscheduleid"]: g["name"] for g in rows("uomschedules", ["uomscheduleid", "name"])}
    units = rows("uoms", ["uomid", "name", "quantity", "_uomscheduleid_value"])
    unit_names = {u["uomid"]: u["name"] for u in units}
    print(f"\nDataverse now holds {len(groups)} unit groups and {len(units)} units:")
    per_group: dict[str, list[str]] = {}
    for u in units:
        per_group.setdefault(u["_uomscheduleid_value"], []).append(u["name"])
    for gid, name in sorted(groups.items(), key=lambda kv: kv[1]):
        print(f"  {name:<20} units: {', '.join(per_group.get(gid, [])) or '-'}")
    products = rows(
        "products",
        ["productnumber", "name", "producttypecode", "statecode", "price", "quantityonhand", "_defaultuomid_value"],
    )
    types = {1: "Sales Inventory", 3: "Services"}
    states = {0: "Active", 1: "Retired", 2: "Draft", 3: "Under Revision"}
    print(f"\n{len(products)} products:")
    print(f"  {'number':<12} {'name':<34} {'type':<16} {'state':<8} {'price':>10} {'on hand':>8} unit")
    for p in sorted(products, key=lambda p: (p["producttypecode"], p["productnumber"])):
        print(
            f"  {p['productnumber']:<12} {p['name'][:34]:<34} {types.get(p['producttypecode'], p['producttypecode']):<16} "
            f"{states.get(p['statecode'], p['statecode']):<8} {p['price'] or 0:>10.2f} {p['quantityonhand'] or 0:>8g} "
            f"{unit_names.get(p['_defaultuomid_value'], '-')}"
        )
    show_sales_documents(rows)


def show_sales_documents(rows) -> None:
    """Currencies, accounts with their owners, price lists with their item counts, invoices with lines."""
    users = {u["systemuserid"]: u["fullname"] for u in rows("systemusers", ["systemuserid", "fullname"])}
    currencies = rows(
        "transactioncurrencies", ["transactioncurrencyid", "isocurrencycode", "currencyname", "exchangerate"]
    )
    iso = {c["transactioncurrencyid"]: c["isocurrencycode"] for c in currencies}
    print(f"\n{len(currencies)} currencies (units per unit of the base currency):")
    for c in sorted(currencies, key=lambda c: c["isocurrencycode"]):
        print(f"  {c['isocurrencycode']:<5} {c['currencyname'][:28]:<28} {c['exchangerate']:>14.6f}")

    accounts = rows(
        "accounts",
        ["accountid", "accountnumber", "name", "address1_city", "_ownerid_value", "_transactioncurrencyid_value"],
    )
    names = {a["accountid"]: a["name"] for a in accounts}
    print(f"\n{len(accounts)} accounts:")
    print(f"  {'number':<8} {'name':<30} {'city':<14} {'currency':<8} owner")
    for a in sorted(accounts, key=lambda a: (a["accountnumber"] or "~", a["name"])):
        print(
            f"  {a['accountnumber'] or '-':<8} {a['name'][:30]:<30} {(a['address1_city'] or '')[:14]:<14} "
            f"{iso.get(a['_transactioncurrencyid_value'], '-'):<8} {users.get(a['_ownerid_value'], '-')}"
        )

    price_lists = rows("pricelevels", ["pricelevelid", "name", "_transactioncurrencyid_value"])
    items = rows("productpricelevels", ["productpricelevelid", "_pricelevelid_value"])
    print(f"\n{len(price_lists)} price lists:")
    for pl in sorted(price_lists, key=lambda pl: pl["name"]):
        count = sum(1 for i in items if i["_pricelevelid_value"] == pl["pricelevelid"])
        print(f"  {pl['name'][:38]:<38} {iso.get(pl['_transactioncurrencyid_value'], '-'):<5} {count:>4} items")

    products = {p["productid"]: p["productnumber"] for p in rows("products", ["productid", "productnumber"])}
    invoices = rows(
        "invoices",
        [
            "invoiceid",
            "invoicenumber",
            "_customerid_value",
            "_ownerid_value",
            "_transactioncurrencyid_value",
            "totalamount",
            "statecode",
            "statuscode",
        ],
    )
    lines = rows(
        "invoicedetails",
        [
            "_invoiceid_value",
            "lineitemnumber",
            "_productid_value",
            "productdescription",
            "quantity",
            "priceperunit",
            "extendedamount",
        ],
    )
    states = {(0, 4): "Active / Billed", (2, 100001): "Paid / Complete", (2, 100002): "Paid / Partial"}
    print(f"\n{len(invoices)} invoices with {len(lines)} lines:")
    for inv in sorted(invoices, key=lambda i: i["invoicenumber"]):
        state = states.get((inv["statecode"], inv["statuscode"]), f"{inv['statecode']} / {inv['statuscode']}")
        print(
            f"  {inv['invoicenumber']:<14} {names.get(inv['_customerid_value'], '-')[:26]:<26} "
            f"{iso.get(inv['_transactioncurrencyid_value'], '-'):<4} {inv['totalamount'] or 0:>10.2f}  {state:<16} "
            f"owner {users.get(inv['_ownerid_value'], '-')}"
        )
        for line in sorted(
            (x for x in lines if x["_invoiceid_value"] == inv["invoiceid"]), key=lambda x: x["lineitemnumber"]
        ):
            what = products.get(line["_productid_value"]) or f"write-in: {line['productdescription']}"
            print(
                f"      {line['lineitemnumber']:>6}  {what[:40]:<40} {line['quantity']:>6g} x "
                f"{line['priceperunit']:>9.2f} = {line['extendedamount']:>10.2f} incl. tax"
            )


def show_statistics() -> None:
    """Each account's Business Central Account Statistics, as a Sales user sees them."""
    from include.bc_sales_sync.hooks import DataverseHook

    hook = DataverseHook("dataverse_default")
    figures = [
        ("nav_balancelcy", "balance"),
        ("nav_overdueamountslcy", "overdue"),
        ("nav_outstandingorderslcy", "orders"),
        ("nav_shippednotinvoicedlcy", "shipped"),
        ("nav_outstandinginvoiceslcy", "invoices"),
        ("nav_outstandingserviceorderslcy", "serv.ord"),
        ("nav_servshippednotinvoicedlcy", "serv.shp"),
        ("nav_outstandingservinvoiceslcy", "serv.inv"),
        ("nav_invoicedprepaymentamountlcy", "prepaid"),
        ("nav_totallcy", "total"),
        ("nav_creditlimitlcy", "credit"),
        ("nav_totalsaleslcy", "sales"),
    ]
    stats = {
        r["nav_accountstatisticsid"]: r
        for page in hook.iter_pages(
            "nav_accountstatisticses",
            select=["nav_accountstatisticsid", "nav_customerno", "nav_overdueamountsasof", *(c for c, _ in figures)],
        )
        for r in page
    }
    accounts = [
        a
        for page in hook.iter_pages("accounts", select=["name", "_nav_accountstatisticsid_value"])
        for a in page
        if a["_nav_accountstatisticsid_value"] in stats
    ]
    print(f"\nBusiness Central Account Statistics of {len(accounts)} accounts (local currency):")
    print(f"  {'account':<22} {'no.':<6}" + "".join(f"{label:>10}" for _, label in figures) + "  overdue as of")
    for account in sorted(accounts, key=lambda a: stats[a["_nav_accountstatisticsid_value"]]["nav_customerno"]):
        row = stats[account["_nav_accountstatisticsid_value"]]
        print(
            f"  {account['name'][:22]:<22} {row['nav_customerno']:<6}"
            + "".join(f"{row[c] or 0:>10.2f}" for c, _ in figures)
            + f"  {row['nav_overdueamountsasof']}"
        )


def sandbox_stats(config) -> dict[str, dict]:
    import requests

    urls = {"Business Central": config.bc_url, "Dataverse": config.dataverse_url, "Entra ID": config.entra_url}
    return {
        name: requests.get(f"{url}/_sandbox/stats", verify=str(config.ca_file), timeout=10).json()
        for name, url in urls.items()
    }


def show_requests(before: dict[str, dict], after: dict[str, dict]) -> None:
    """The requests the sandbox served between two readings of its statistics."""
    print("\nHTTP requests the sandbox served for the sync:")
    for name, now in after.items():
        then = before.get(name, {})
        methods = {
            m: n - then.get("by_method", {}).get(m, 0)
            for m, n in now["by_method"].items()
            if n - then.get("by_method", {}).get(m, 0)
        }
        operations = now.get("batch_operations_total", 0) - then.get("batch_operations_total", 0)
        extra = f" ({operations} operations inside $batch)" if operations else ""
        print(f"  {name:<17} {now['total'] - then.get('total', 0):>6} requests {json.dumps(methods)}{extra}")


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
    parser = argparse.ArgumentParser(prog="python -m include.bc_sales_sync.local", description=__doc__.split("\n")[0])
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
