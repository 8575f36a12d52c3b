"""What the two customer statistics jobs share: their options, names and helpers, on the job skeleton."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from include.bc_sales_sync.jobs import Job, RunOptions, RunSummary, Window, run_job
from include.bc_sales_sync.jobs.incremental import DEFAULT_OVERLAP, FULL, RECORDS, choose_window
from include.bc_sales_sync.statistics.sources import Reader
from include.bc_sales_sync.sync.lookups import Lookups

STATISTICS = "CUSTOMER STATISTICS"
PAYMENT_STATUS = "INVOICE PAYMENT STATUS"
CUSTOMER_MAPPING = "CUSTOMER"
INVOICE_MAPPING = "POSTEDSALESINV-INV"


@dataclass
class StatisticsOptions:
    """How one run of the statistics jobs behaves.

    :param customers: BC customer numbers to refresh (the "update statistics" action); empty: the
        scheduled behaviour. A run for chosen customers moves no watermark.
    :param full_refresh: recompute every coupled customer (and every coupled invoice), still
        writing only what differs from what was last written.
    :param work_date: BC's work date (the overdue amounts' date and the fiscal year of the total
        sales); ``None``: today (UTC), as BC's scheduled job uses.
    :param page_size: records per page read from Business Central.
    :param overlap: how far before the watermark changes are read again.
    """

    customers: tuple[str, ...] = ()
    full_refresh: bool = False
    work_date: dt.date | None = None
    page_size: int = 5000
    overlap: dt.timedelta = DEFAULT_OVERLAP
    run_id: str | None = None
    dag_id: str | None = None
    task_id: str | None = None


@dataclass
class Group:
    """A chunk of a statistics job: records read together, and outcomes decided while reading."""

    records: Any = None
    counts: Counter = field(default_factory=Counter)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def lower(values: Iterable[Any]) -> list[str]:
    return [str(v).lower() for v in values if isinstance(v, str) and v]


def numbers(values: Iterable[Any]) -> list[str]:
    return [str(v).strip().upper() for v in values if isinstance(v, str) and v.strip()]


def describe_result(entity: str, key: str, result: Any) -> str:
    code = f" ({result.error_code})" if getattr(result, "error_code", None) else ""
    message = getattr(result, "error_message", None) or f"HTTP {result.status}"
    return f"Writing {entity}({key}) failed with HTTP {result.status}{code}: {message}"


class StatisticsJob(Job):
    """A statistics job: hooks, options, the BC reader and lookups; :meth:`run` runs it once.

    :param bc: a :class:`~include.bc_sales_sync.hooks.BusinessCentralHook`.
    :param dataverse: a :class:`~include.bc_sales_sync.hooks.DataverseHook`.
    :param state: a :class:`~include.bc_sales_sync.state.StateStore`.
    :param options: the run's :class:`StatisticsOptions`.
    """

    def __init__(self, bc, dataverse, state, options: StatisticsOptions | None = None):
        self.bc = bc
        self.dataverse = dataverse
        self.state = state
        self.options = options or StatisticsOptions()
        self.reader = Reader(bc, self.options.page_size)
        self.lookups = Lookups(bc, dataverse, state=state)

    def window(self) -> Window:
        """Chosen customers, everything (``full_refresh``), or the changes since the watermark."""
        o = self.options
        if o.customers:
            return Window(kind=RECORDS)
        watermark = None if o.full_refresh else self.state.watermark(self.name)
        return choose_window(watermark, full_sync=o.full_refresh, overlap=o.overlap)

    def describe(self, window: Window) -> str:
        if self.options.customers:
            return "customers " + ", ".join(self.options.customers)
        if window.kind == FULL or window.start is None:
            return "every coupled record"
        return f"changes since {(window.start + self.options.overlap).isoformat()}"

    def run(self) -> RunSummary:
        """Run the job once on the skeleton (holding its lock) and return the summary."""
        o = self.options
        options = RunOptions(page_size=o.page_size, run_id=o.run_id, dag_id=o.dag_id, task_id=o.task_id)
        return run_job(self, self.state, options, self.window())


def failures(rows: list[dict]) -> pd.DataFrame | None:
    """Per-record errors as the skeleton records them (``bc_id``, ``crm_id``, ``field``, ``message``)."""
    return pd.DataFrame(rows, columns=["bc_id", "crm_id", "field", "message"]) if rows else None
