"""The skeleton every job runs on: lock, run record, chunk loop, recording, watermark, summary.

Per chunk: plan → transform → write (skipped in a dry run) → record couplings, errors and counters
→ advance the watermark to the chunk's newest record. Progress is durable after every chunk, so a
crash loses at most the chunk in flight and the next run resumes there without duplicates.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter

import pandas as pd

from include.bc_sales_sync.jobs.base import (
    COUNTERS,
    FAILURE_COLUMNS,
    Chunk,
    Job,
    JobRun,
    RunOptions,
    RunSummary,
    concat,
)
from include.bc_sales_sync.jobs.incremental import Window

log = logging.getLogger(__name__)

FAILED_MESSAGE = "The run stopped with an error; see the task log."
LOGGED_FAILURES = 5  # per chunk; the rest are in the sync errors


def describe_counts(counts: Counter) -> str:
    return ", ".join(f"{counts.get(k, 0)} {k}" for k in COUNTERS)


def run_job(job: Job, state, options: RunOptions | None = None, window: Window | None = None) -> RunSummary:
    """Run ``job`` once, holding its lock, and return the run's summary.

    :param job: the job.
    :param state: the :class:`~include.bc_sales_sync.state.StateStore`.
    :param options: the run's options.
    :param window: which source records to read (default: everything).
    :raises MappingLocked: another live run holds the job.
    """
    options = options or RunOptions()
    window = window or Window()
    started = dt.datetime.now(dt.UTC)
    holder = options.run_id or f"manual@{started.isoformat()}"
    run = JobRun(options, window, state, started)
    try:
        with state.lock(job.name, holder) as lock:
            run.job_id = state.start_job(
                job.name,
                direction=job.direction,
                run_id=options.run_id,
                dag_id=options.dag_id,
                task_id=options.task_id,
                dry_run=options.dry_run,
                window_start=window.start,
                window_end=window.end,
            )
            run.summary = summary = RunSummary(
                job.name, run.job_id, job.describe(window), options.dry_run, direction=job.direction
            )
            dry = " (dry run: nothing is written)" if options.dry_run else ""
            log.info("%s: %s%s.", job.name, summary.window, dry)
            try:
                for chunk in job.read(run):
                    lock.refresh()  # a long run keeps its job
                    _process(job, chunk, run)
                _advance(job, run, job.finish(run))
            except BaseException:
                state.finish_job(run.job_id, status="failed", message=FAILED_MESSAGE)
                raise
            message = describe_counts(summary.counts)
            if job.what:
                message = f"{job.what}: {message}"
            if options.dry_run:
                message = "Dry run (nothing written): would have " + message
            state.finish_job(run.job_id, status="succeeded", message=message)
            log.info("%s: done: %s.", job.name, message)
            return summary
    finally:
        job.close()


def _process(job: Job, chunk: Chunk, run: JobRun) -> None:
    """One chunk through the pipeline, recorded before the next is read."""
    summary, state = run.summary, run.state
    planned = job.plan(chunk, run)
    if chunk.size:  # counted once planned: a job may only know then how many records it holds
        summary.pages += 1
        summary.read += chunk.size
    if _has_work(planned) and not run.prepared:
        job.prepare(run)  # once, before the first chunk with work: a run with nothing to do reads no lookups
        run.prepared = True
    changes = job.transform(planned, run)
    counts = Counter(changes.counts)
    if run.dry_run:
        counts["inserted"] += changes.inserts
        counts["modified"] += changes.updates
        counts["failed"] += _length(changes.failures)
    else:
        outcome = job.write(changes, run) if _has_work(changes.writes) else None
        successes = concat(changes.successes, outcome and outcome.successes)
        failures = concat(changes.failures, outcome and outcome.failures)
        if successes is not None:
            state.record_success(job.name, run.job_id, successes, direction=job.direction)
        if failures is not None:
            failures = failures.drop_duplicates("bc_id")
            failures = failures.reindex(columns=FAILURE_COLUMNS).astype({"message": str})
            state.record_failure(job.name, run.job_id, failures, direction=job.direction)
            counts["failed"] += len(failures)
            _log_failures(job.name, failures)
        if outcome is not None:
            counts.update(outcome.counts)
            counts["inserted"] += outcome.inserted
            counts["modified"] += outcome.modified
        state.add_counts(run.job_id, **{k: int(v) for k, v in counts.items() if k in COUNTERS and v})
        if chunk.newest is not None:
            _advance(job, run, chunk.newest)
    summary.counts.update(counts)
    if chunk.size:
        log.info(
            "%s: chunk %d: %d records (%s); %d read so far.",
            job.name,
            summary.pages,
            chunk.size,
            describe_counts(counts),
            summary.read,
        )


def _advance(job: Job, run: JobRun, newest: pd.Timestamp | None) -> None:
    """Move the watermark to ``newest`` (forward only, never past the run's start)."""
    if newest is None or pd.isna(newest) or run.dry_run or not run.window.moves_watermark:
        return
    stored = run.state.advance_watermark(
        job.name, pd.Timestamp(newest).to_pydatetime(), cap=run.started, direction=job.direction
    )
    run.summary.watermark = stored.isoformat() if stored else None


def _log_failures(name: str, failures: pd.DataFrame) -> None:
    for row in failures.head(LOGGED_FAILURES).itertuples():
        log.warning("%s: record %s failed: %s", name, row.bc_id, row.message)
    if len(failures) > LOGGED_FAILURES:
        log.warning("%s: %d more records failed; see the sync errors.", name, len(failures) - LOGGED_FAILURES)


def _has_work(value) -> bool:
    """A plan or writes with something in it (a DataFrame counts its rows: its truth is ambiguous)."""
    return not value.empty if isinstance(value, pd.DataFrame | pd.Series) else bool(value)


def _length(frame: pd.DataFrame | None) -> int:
    return 0 if frame is None else len(frame.drop_duplicates("bc_id"))
