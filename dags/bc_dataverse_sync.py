"""
### Business Central → Dynamics 365 Sales: the prerequisites of the sync jobs

Runs every 30 minutes, in BC's priority order: salespeople → currencies → customers. These are
what the jobs of `bc_sales_sync` refer to: a salesperson code decides the owner of an account or
invoice, a currency code its Sales currency, and an invoice's customer is an account.

- `salespeople` (SALESPEOPLE): couples each BC salesperson to the Sales user with the same
  e-mail (enabled, licensed, not an integration user); nothing is written to Sales.
- `currency` (CURRENCY): BC currencies → transaction currencies, matched by ISO code, with BC's
  exchange rate; the local currency is the Sales base currency.
- `customer` (CUSTOMER): BC customers (not blocked) → accounts of type Customer, owned by the
  user coupled to the customer's salesperson.

A record whose dependency is not coupled yet fails alone and is retried on the next run.
**Params** and connections as in `bc_sales_sync`: `full_sync`, `mappings`, `dry_run`.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable, Param, chain

from include.bc_sales_sync.notifications import SyncAlertNotifier
from include.bc_sales_sync.operators import EntitySyncOperator
from include.bc_sales_sync.reporting import report_task

JOBS = [
    ("SALESPEOPLE", "salespeople"),
    ("CURRENCY", "currency"),
    ("CUSTOMER", "customer"),
]

with DAG(
    dag_id="bc_dataverse_sync",
    description="Business Central -> Dynamics 365 Sales: salespeople, currencies and customers",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("*/30 * * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    max_consecutive_failed_dag_runs=10,
    dagrun_timeout=dt.timedelta(hours=6),
    tags=["business-central", "dynamics-365-sales", "sync", "prerequisites"],
    params={
        "full_sync": Param(False, type="boolean", description="Ignore the watermarks and read every record."),
        "mappings": Param([], type="array", description="Mapping names or task ids to run; empty runs all."),
        "dry_run": Param(False, type="boolean", description="Report what would change; write nothing."),
    },
    default_args={
        "owner": "data-engineering",
        "retries": 3,
        "retry_delay": dt.timedelta(minutes=1),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": dt.timedelta(minutes=15),
        "execution_timeout": dt.timedelta(hours=2),
        "pool": "dataverse_api",
        "on_retry_callback": SyncAlertNotifier(will_retry=True),
        "on_failure_callback": SyncAlertNotifier(),
    },
) as dag:
    jobs = [EntitySyncOperator(task_id=task_id, mapping=mapping) for mapping, task_id in JOBS]

    chain(*jobs, report_task([task_id for _, task_id in JOBS]))
