"""The one job skeleton every synchronization job runs on (see :mod:`.runner`).

A job (:class:`Job`) supplies how to read, plan, transform and write; the skeleton owns the
lock, the window, the chunk loop, dry run, run recording, progress logging and the summary.
"""

from include.bc_sales_sync.jobs.base import (
    COUNTERS,
    FAILURE_COLUMNS,
    SUCCESS_COLUMNS,
    TO_CRM,
    Changes,
    Chunk,
    Job,
    JobRun,
    Outcome,
    RunOptions,
    RunSummary,
    concat,
)
from include.bc_sales_sync.jobs.incremental import (
    DEFAULT_OVERLAP,
    SALES_OVERLAP,
    Window,
    choose_window,
    run_type_of,
)
from include.bc_sales_sync.jobs.runner import describe_counts, run_job

__all__ = [
    "COUNTERS",
    "DEFAULT_OVERLAP",
    "FAILURE_COLUMNS",
    "SALES_OVERLAP",
    "SUCCESS_COLUMNS",
    "TO_CRM",
    "Changes",
    "Chunk",
    "Job",
    "JobRun",
    "Outcome",
    "RunOptions",
    "RunSummary",
    "Window",
    "choose_window",
    "concat",
    "describe_counts",
    "run_job",
    "run_type_of",
]
