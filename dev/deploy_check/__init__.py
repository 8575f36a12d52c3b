"""``make deploy-check``: the project as a CeleryExecutor deployment on this machine, run once and checked.

It starts, each in a process session of its own with its log in ``.deploy-check/logs``: the sandbox (fresh demo
company, ports of its own), the API server, scheduler, DAG processor, triggerer and two Celery workers
(``worker1@<host>``, ``worker2@<host>``), on a PostgreSQL metadata database and a Redis broker, with the sync
state store on PostgreSQL too. It triggers the DAGs through the REST API, checks what arrived in Dataverse
against Business Central, where each task ran and what that did to the pools, locks and logs, prints a report
and stops everything it started, also after a failure or Ctrl-C. ``python -m dev.deploy_check --help``.

Not part of the product: nothing under ``include/bc_sales_sync`` imports it.
"""
