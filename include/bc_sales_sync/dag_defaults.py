"""What the project's DAGs share: the schedule, retries, alerts and the sync params.

Imported by DAG files, so it stays light (no pandas, no hooks).
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param

from include.bc_sales_sync.notifications import SyncAlertNotifier

START_DATE = pendulum.datetime(2026, 1, 1, tz="UTC")


def every_30_minutes() -> CronDataIntervalTimetable:
    """BC's default job interval, as a timetable with real data intervals (backfills need them)."""
    return CronDataIntervalTimetable("*/30 * * * *", timezone="UTC")


def sync_params() -> dict[str, Param]:
    return {
        "full_sync": Param(False, type="boolean", description="Ignore the watermarks and read every record."),
        "mappings": Param([], type="array", description="Mapping names or task ids to run; empty runs all."),
        "dry_run": Param(False, type="boolean", description="Report what would change; write nothing."),
    }


def default_args(
    *, max_retry_delay: dt.timedelta = dt.timedelta(minutes=15), execution_timeout: dt.timedelta = dt.timedelta(hours=2)
) -> dict:
    """Retries with backoff, the Dataverse pool, and alerts on retries and on final failure."""
    return {
        "owner": "data-engineering",
        "retries": 3,
        "retry_delay": dt.timedelta(minutes=1),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": max_retry_delay,
        "execution_timeout": execution_timeout,
        "pool": "dataverse_api",
        "on_retry_callback": SyncAlertNotifier(will_retry=True),
        "on_failure_callback": SyncAlertNotifier(),
    }
