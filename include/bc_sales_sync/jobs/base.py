"""The contract of a job: what every sync job supplies to the skeleton that runs it.

A job reads its source in chunks, plans and transforms each chunk into the writes it needs, and
writes them. Everything else (the lock, the window, the chunk loop, dry run, run recording,
progress logging, the summary) is the skeleton's, in :mod:`include.bc_sales_sync.jobs.runner`.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from include.bc_sales_sync.jobs.incremental import Window

COUNTERS = ("inserted", "modified", "unchanged", "skipped", "failed")
TO_CRM = "to_crm"
SUCCESS_COLUMNS = ["bc_id", "crm_id", "bc_modified_at", "crm_modified_at", "extra"]
FAILURE_COLUMNS = ["bc_id", "crm_id", "field", "message"]


@dataclass
class RunOptions:
    """How one run behaves, whatever the job.

    :param dry_run: compute and report what would change; write nothing, move no watermark.
    :param full_sync: ignore the watermark and what was last written: read and compare everything.
    :param page_size: records per page read from the source.
    :param run_id: the Airflow run id (also the lock's holder).
    """

    dry_run: bool = False
    full_sync: bool = False
    page_size: int = 5000
    run_id: str | None = None
    dag_id: str | None = None
    task_id: str | None = None


@dataclass
class Chunk:
    """Source records read together and committed together.

    :param records: the job's own data for the chunk (a DataFrame for the sync jobs).
    :param size: how many source records it holds (for progress and the ``read`` counter); a job
        may set it while planning, when only then it knows.
    :param newest: the newest source modified time in it: where the watermark may move once the
        chunk is committed; ``None`` for chunks read out of order (retried records).
    """

    records: Any
    size: int = 0
    newest: pd.Timestamp | None = None


@dataclass
class Changes:
    """One chunk once planned and transformed: the writes it needs and what is decided already.

    :param writes: the job's own plan of writes, handed to :meth:`Job.write` (falsy or an empty DataFrame: nothing to write).
    :param inserts: how many records the writes would create (what a dry run reports).
    :param updates: how many records the writes would change.
    :param counts: outcomes decided without a write (``unchanged``, ``skipped``).
    :param successes: records done without a write, to record as synced (``SUCCESS_COLUMNS``).
    :param failures: records rejected before any write (``FAILURE_COLUMNS``).
    """

    writes: Any = None
    inserts: int = 0
    updates: int = 0
    counts: Counter = field(default_factory=Counter)
    successes: pd.DataFrame | None = None
    failures: pd.DataFrame | None = None


@dataclass
class Outcome:
    """What writing a chunk's changes came to."""

    successes: pd.DataFrame | None = None
    failures: pd.DataFrame | None = None
    inserted: int = 0
    modified: int = 0
    counts: Counter = field(default_factory=Counter)  # other outcomes found while writing (unchanged)


@dataclass
class RunSummary:
    """What a run returns to XCom: counters and where it read, never data."""

    mapping: str
    job_id: str | None
    window: str
    dry_run: bool
    counts: Counter = field(default_factory=Counter)
    read: int = 0
    pages: int = 0
    watermark: str | None = None
    direction: str = TO_CRM

    def as_dict(self) -> dict:
        return {
            "mapping": self.mapping,
            "direction": self.direction,
            "job_id": self.job_id,
            "window": self.window,
            "dry_run": self.dry_run,
            "read": self.read,
            "pages": self.pages,
            "watermark": self.watermark,
            **{name: int(self.counts.get(name, 0)) for name in COUNTERS},
        }


@dataclass
class JobRun:
    """One run in progress, as a job sees it: its options, window, job id and state store."""

    options: RunOptions
    window: Window
    state: Any
    started: dt.datetime
    job_id: str | None = None
    summary: RunSummary | None = None
    prepared: bool = False

    @property
    def dry_run(self) -> bool:
        return self.options.dry_run


class Job(ABC):
    """One synchronization job. Subclasses supply how to read, plan, transform and write.

    :attr name: the job's name in the state store (the mapping name for sync jobs).
    :attr direction: ``to_crm`` (Business Central → Sales) or ``from_crm``.
    """

    name: str = ""
    direction: str = TO_CRM
    what: str = ""  # what a finished run did, in words, before its counters ("Updated account statistics")

    def describe(self, window: Window) -> str:
        """The run's window in words, for the log and the summary."""
        return window.describe()

    def prepare(self, run: JobRun) -> None:  # noqa: B027 (optional)
        """Ensure what every chunk needs exists and load the lookups: called once, before the first
        chunk whose plan has work (a truthy plan), so a run with nothing to do costs no reads."""

    @abstractmethod
    def read(self, run: JobRun) -> Iterator[Chunk]:
        """The chunks of the run, each small enough to hold in memory."""

    @abstractmethod
    def plan(self, chunk: Chunk, run: JobRun) -> Any:
        """Couple the chunk's records to their targets (reads only); falsy when nothing is left to
        transform (the plan's counts still count)."""

    @abstractmethod
    def transform(self, planned: Any, run: JobRun) -> Changes:
        """Turn the planned records into the writes they need (pure)."""

    @abstractmethod
    def write(self, changes: Changes, run: JobRun) -> Outcome:
        """Write the changes; never called in a dry run."""

    def finish(self, run: JobRun) -> pd.Timestamp | None:
        """At the end of a run that went through: keep what the job keeps besides couplings, and
        return where the watermark moves, for jobs whose chunks are not read in modified order
        (``None``: the chunks' own ``newest`` moved it already)."""
        return None

    def close(self) -> None:  # noqa: B027 (optional)
        """Release what the job opened (called by the skeleton, also on failure)."""


def concat(*frames: pd.DataFrame | None) -> pd.DataFrame | None:
    """The non-empty frames as one (``None`` when there are none)."""
    present = [f for f in frames if f is not None and not f.empty]
    if not present:
        return None
    return present[0] if len(present) == 1 else pd.concat(present, ignore_index=True)
