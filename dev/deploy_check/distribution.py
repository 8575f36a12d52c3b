"""Checks of the work spread over the workers: both took tasks, runs shared them, the pool capped the API calls
across workers, every mapping ran once at a time (the state store's lock), and the API server serves the task
logs of both workers.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

from dev.deploy_check.config import WORKERS, Deployment
from dev.deploy_check.verify import Check

if TYPE_CHECKING:
    from dev.deploy_check.api import AirflowApi
    from dev.deploy_check.check import TaskRun


# The last line a job logs (jobs.runner): "<MAPPING>: done: 4 inserted, 1 modified, ...".
JOB_DONE = ": done: "


def most_at_once(intervals: Iterable[tuple[dt.datetime, dt.datetime]]) -> int:
    """The largest number of intervals that overlap at one moment (an end and a start at the same instant do
    not overlap)."""
    events = sorted((t, step) for start, end in intervals for t, step in ((start, 1), (end, -1)))
    now = peak = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


def worker_of(hostname: str) -> str | None:
    return next((w for w in WORKERS if hostname.startswith(f"{w}.")), None)


def ran(tasks: Iterable[TaskRun]) -> list[TaskRun]:
    return [t for t in tasks if t.start and t.end and t.hostname]


def check_workers(tasks: list[TaskRun]) -> Check:
    per_worker = {w: sum(1 for t in ran(tasks) if worker_of(t.hostname) == w) for w in WORKERS}
    ok = all(per_worker.values())
    detail = ", ".join(f"{w} {n}" for w, n in per_worker.items()) + " task instances"
    return Check("tasks on both workers", ok, detail)


def check_parallel(tasks: list[TaskRun]) -> Check:
    """Round 2's runs overlapped (on both workers at the same time, as a rule: a worker with a free process may
    also take the second task)."""
    second = ran(t for t in tasks if t.round == 2)
    peak = most_at_once((t.start, t.end) for t in second)
    across = any(
        a.start < b.end and b.start < a.end and worker_of(a.hostname) != worker_of(b.hostname)
        for i, a in enumerate(second)
        for b in second[i + 1 :]
    )
    detail = f"up to {peak} tasks of round 2 at once" + (", on both workers at the same time" if across else "")
    return Check("independent runs in parallel", peak >= 2, detail)


def check_pool(tasks: list[TaskRun], pool: str, slots: int) -> Check:
    in_pool = ran(t for t in tasks if t.round == 2 and t.pool == pool)
    peak = most_at_once((t.start, t.end) for t in in_pool)
    detail = f"at most {peak} of its {len(in_pool)} tasks ran at once across the workers ({slots} slots)"
    return Check(f"pool {pool} caps the API concurrency", 0 < peak <= slots, detail)


def check_state_store(tasks: list[TaskRun], deployment: Deployment) -> Check:
    """Every sync job of the check succeeded, no two jobs of one mapping overlapped, no lock is left."""
    from include.bc_sales_sync.state import StateStore

    store = StateStore(deployment.database_url(deployment.state_db))
    try:
        jobs, locks = store.jobs(limit=500), store.locks()
    finally:
        store.close()
    jobs = jobs[jobs["run_id"].isin({t.run_id for t in tasks})]
    overlapping = [
        mapping
        for mapping, group in jobs.groupby("mapping")
        if most_at_once(zip(group["started_at"], group["finished_at"], strict=True)) > 1
    ]
    not_succeeded = sorted(set(jobs.loc[jobs["status"] != "succeeded", "mapping"]))
    ok = not overlapping and not not_succeeded and locks.empty and not jobs.empty
    detail = (
        f"{len(jobs)} jobs of {jobs['mapping'].nunique()} mappings on PostgreSQL; "
        f"{'none' if not overlapping else ', '.join(overlapping)} overlapping, "
        f"{'all' if not not_succeeded else 'not ' + ', '.join(not_succeeded)} succeeded, {len(locks)} locks left"
    )
    return Check("mapping locks (state store)", ok, detail)


class LockProbe:
    """While round 2 runs, another holder (this check) tries each mapping lock it sees held: every try must be
    refused, naming the run whose task holds it on a worker.

    Polls in a thread of its own (a lock is held for the seconds a job runs).
    """

    HOLDER = "deploy-check"

    def __init__(self, deployment: Deployment, interval: float = 0.2):
        from include.bc_sales_sync.state import StateStore

        self.store = StateStore(deployment.database_url(deployment.state_db), migrate=False)
        self.interval = interval
        self.refused: dict[str, str] = {}  # mapping -> the holder named in the refusal
        self.taken: list[str] = []  # released between reading the lock and trying it: given back at once
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lock-probe", daemon=True)

    def __enter__(self) -> LockProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.store.close()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.probe()
            except Exception as exc:  # reported by check(), never raised in the thread
                self.errors.append(f"{type(exc).__name__}: {exc}")
                return

    def probe(self) -> None:
        from include.bc_sales_sync.state import MappingLocked

        for mapping in self.store.locks()["mapping"]:
            if mapping in self.refused or mapping in self.taken:
                continue
            try:
                self.store.acquire_lock(mapping, self.HOLDER, ttl=dt.timedelta(minutes=1))
            except MappingLocked as exc:
                self.refused[mapping] = exc.holder
            else:
                self.store.release_lock(mapping, self.HOLDER)
                self.taken.append(mapping)

    def check(self, run_ids: set[str]) -> Check:
        strangers = {m: h for m, h in self.refused.items() if h not in run_ids}
        ok = bool(self.refused) and not strangers and not self.errors
        detail = (
            f"{len(self.refused)} locks seen held by the runs' tasks ({', '.join(sorted(self.refused))}); "
            "a second holder was refused each time"
        )
        if strangers or self.errors or not self.refused:
            detail = f"refused: {self.refused}, unknown holders: {strangers}, errors: {self.errors}"
        return Check("mapping lock refuses a second holder", ok, detail)


def check_logs(tasks: list[TaskRun], api: AirflowApi) -> Check:
    """One task log of each worker, read through the API server's logs endpoint: it ends with the job's summary.

    Both workers here share the machine's log folder, which the API server reads; on separate hosts it fetches
    the log from the worker's log server, or from remote logging (see the README, "Production").
    """
    found = []
    for worker in WORKERS:
        task = next((t for t in ran(tasks) if worker_of(t.hostname) == worker and t.task_id != "report"), None)
        if task is None:
            return Check("task logs through the API server", False, f"no task ran on {worker}")
        text = api.task_log(task.dag_id, task.run_id, task.task_id, max(task.try_number, 1))
        summary = next((line for line in text.splitlines() if JOB_DONE in line), None)
        if summary is None:
            return Check("task logs through the API server", False, f"{task.name} on {worker}: no {JOB_DONE!r} line")
        found.append(f"{task.name} ({worker}): {summary.strip()!r}")
    return Check("task logs through the API server", True, "; ".join(found))


def check_distribution(tasks: list[TaskRun], deployment: Deployment, api: AirflowApi, pool: str, slots: int):
    return [
        check_workers(tasks),
        check_parallel(tasks),
        check_pool(tasks, pool, slots),
        check_state_store(tasks, deployment),
        check_logs(tasks, api),
    ]
