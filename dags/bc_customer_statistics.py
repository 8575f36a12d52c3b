"""
### Business Central → Dynamics 365 Sales: customer statistics every 30 minutes

BC's customer statistics job. Every Sales account coupled to a BC customer gets the customer's
figures in its **Business Central Account Statistics** (`nav_accountstatistics`): balance,
outstanding orders and invoices, shipped not invoiced, the service amounts, total, credit limit,
overdue amounts (as of the work date), total sales of the fiscal year and invoiced prepayments,
all in local currency.

- `account_statistics`: the first run uploads every coupled customer (creating its statistics row
  and linking it to the account); later runs refresh only customers whose BC data changed since
  (the customer, its ledger entries, its sales lines, an open entry that fell due), customers
  coupled since, and those that failed. A customer whose figures did not change costs no write.
- `invoice_payment_status`: coupled Sales invoices get their state from what is left to pay in BC
  (Billed, Paid partial, Paid complete), for the ledger entries that changed.

**Params**: `customers` (BC customer numbers: refresh just those, BC's "update statistics" action
on a customer card), `full_refresh` (recompute every coupled customer and invoice; only what
differs is written), `work_date` (BC's work date as YYYY-MM-DD; empty: today). The `report` task
logs the counters and alerts when records failed. Customers are coupled by the CUSTOMER job of
`bc_dataverse_sync`, invoices by POSTEDSALESINV-INV of `bc_sales_sync`.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, Param, chain

from include.bc_sales_sync.dag_defaults import START_DATE, default_args, every_30_minutes
from include.bc_sales_sync.operators.customer_statistics import JOBS, CustomerStatisticsOperator
from include.bc_sales_sync.reporting import report_task

with DAG(
    dag_id="bc_customer_statistics",
    description="Business Central -> Dynamics 365 Sales: account statistics and invoice payment status",
    doc_md=__doc__,
    schedule=every_30_minutes(),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    max_consecutive_failed_dag_runs=10,
    dagrun_timeout=dt.timedelta(hours=2),
    tags=["business-central", "dynamics-365-sales", "statistics"],
    params={
        "customers": Param(
            [],
            type="array",
            items={"type": "string", "maxLength": 20},
            description="BC customer numbers to refresh now (the 'update statistics' action); empty: as scheduled.",
        ),
        "full_refresh": Param(False, type="boolean", description="Recompute every coupled customer and invoice."),
        "work_date": Param(
            "",
            type="string",
            pattern=r"^(\d{4}-\d{2}-\d{2})?$",
            description="BC's work date (YYYY-MM-DD) for overdue amounts and the fiscal year; empty: today.",
        ),
    },
    default_args=default_args(max_retry_delay=dt.timedelta(minutes=10), execution_timeout=dt.timedelta(hours=1)),
) as dag:
    statistics = CustomerStatisticsOperator(task_id="account_statistics", job="account_statistics")
    # The payment status does not depend on the statistics: it runs even when they failed.
    payment_status = CustomerStatisticsOperator(
        task_id="invoice_payment_status", job="invoice_payment_status", trigger_rule="all_done"
    )

    chain(statistics, payment_status, report_task(list(JOBS)))
