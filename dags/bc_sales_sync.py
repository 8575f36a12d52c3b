"""
### Business Central → Dynamics 365 Sales: the ordered sync jobs

Runs BC's six default synchronization jobs every 30 minutes, in BC's order: unit of measure →
resource → item → customer price group → sales price → posted sales invoice. Each task
synchronizes one mapping: what changed since its watermark on a schedule, exactly its data
interval in a backfill (`airflow backfill create --dag-id bc_sales_sync ...`). Salespeople,
currencies and customers, which price lists and invoices refer to, come from `bc_dataverse_sync`.

**Params**: `full_sync` (read everything), `mappings` (names or task ids to run; the rest skip),
`dry_run` (report what would change, write nothing). The `report` task logs each job's counters
and alerts when records failed. Connections: `business_central_default`, `dataverse_default`,
`bc_sync_state`, `bc_sync_alerts` (see the README).
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, chain

from include.bc_sales_sync.dag_defaults import START_DATE, default_args, every_30_minutes, sync_params
from include.bc_sales_sync.mappings.catalogue import jobs_for_dag
from include.bc_sales_sync.operators import EntitySyncOperator
from include.bc_sales_sync.reporting import report_task

with DAG(
    dag_id="bc_sales_sync",
    description="Business Central -> Dynamics 365 Sales: the ordered synchronization jobs",
    doc_md=__doc__,
    schedule=every_30_minutes(),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    max_consecutive_failed_dag_runs=10,
    dagrun_timeout=dt.timedelta(hours=6),
    tags=["business-central", "dynamics-365-sales", "sync"],
    params=sync_params(),
    default_args=default_args(),
) as dag:
    # The tasks and their order come from the catalogue's dependency declarations.
    jobs = [EntitySyncOperator(task_id=m.task_id, mapping=m.name) for m in jobs_for_dag(dag.dag_id)]

    chain(*jobs, report_task([job.task_id for job in jobs]))
