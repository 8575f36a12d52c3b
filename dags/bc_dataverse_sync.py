"""
### Business Central ⇄ Dynamics 365 Sales: the prerequisites, contacts and opportunities

Runs every 30 minutes, in BC's priority order: salespeople → currencies → customers → contacts →
opportunities. The first three are what the jobs of `bc_sales_sync` refer to: a salesperson code
decides the owner of an account or invoice, a currency code its Sales currency, and an invoice's
customer is an account.

- `salespeople` (SALESPEOPLE): couples each BC salesperson to the Sales user with the same
  e-mail (enabled, licensed, not an integration user); nothing is written to Sales.
- `currency` (CURRENCY): BC currencies → transaction currencies, matched by ISO code, with BC's
  exchange rate; the local currency is the Sales base currency.
- `customer` (CUSTOMER, both ways): BC customers (not blocked) → accounts of type Customer, owned
  by the user coupled to the customer's salesperson.
- `contact` (CONTACT, both ways): BC person contacts of a customer's company → contacts of the
  customer's account.
- `opportunity` (OPPORTUNITY, both ways): open BC opportunities → opportunities of their contact
  and account. **Disabled by default** (BC gives it no job of its own): it runs when the run's
  `mappings` param names it, or for every run once the mapping override
  `{"OPPORTUNITY": {"enabled": true}}` is set.

Both-way mappings run Business Central → Sales, then Sales → Business Central. A record whose
dependency is not coupled yet fails alone and is retried on the next run.
**Params** and connections as in `bc_sales_sync`: `full_sync`, `mappings`, `dry_run`.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, chain

from include.bc_sales_sync.dag_defaults import START_DATE, default_args, every_30_minutes, sync_params
from include.bc_sales_sync.mappings.catalogue import jobs_for_dag
from include.bc_sales_sync.operators import EntitySyncOperator
from include.bc_sales_sync.reporting import report_task

with DAG(
    dag_id="bc_dataverse_sync",
    description="Business Central <-> Dynamics 365 Sales: salespeople, currencies, customers, contacts, opportunities",
    doc_md=__doc__,
    schedule=every_30_minutes(),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    max_consecutive_failed_dag_runs=10,
    dagrun_timeout=dt.timedelta(hours=6),
    tags=["business-central", "dynamics-365-sales", "sync", "prerequisites"],
    params=sync_params(),
    default_args=default_args(),
) as dag:
    # The tasks and their order come from the catalogue's dependency declarations.
    jobs = [EntitySyncOperator(task_id=m.task_id, mapping=m.name) for m in jobs_for_dag(dag.dag_id)]

    chain(*jobs, report_task([job.task_id for job in jobs]))
