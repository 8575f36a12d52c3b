"""The job skeleton on a real SQLite state store, with a job that reads records from memory."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pandas as pd
import pytest

from include.bc_sales_sync.jobs import Changes, Chunk, Job, JobRun, Outcome, RunOptions, Window, choose_window, run_job
from include.bc_sales_sync.jobs.runner import FAILED_MESSAGE
from include.bc_sales_sync.state import LockLost, MappingLocked, StateStore

NAME = "TEST-MAPPING"
T0 = pd.Timestamp("2025-01-06 08:00", tz="UTC")


def frames(chunks: int = 5, size: int = 2) -> list[pd.DataFrame]:
    """``chunks`` frames of ``size`` records r1, r2, ..., modified one minute apart from T0."""
    out = []
    for c in range(chunks):
        numbers = range(c * size, (c + 1) * size)
        out.append(
            pd.DataFrame(
                {"bc_id": [f"r{n + 1}" for n in numbers], "modified": [T0 + pd.Timedelta(minutes=n) for n in numbers]}
            )
        )
    return out


@dataclass
class Planned:
    frame: pd.DataFrame
    counts: Counter

    def __bool__(self) -> bool:
        return not self.frame.empty


@dataclass
class Sink:
    """The target system: the rows written, and every write in order."""

    rows: dict[str, pd.Timestamp] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)


class ListJob(Job):
    """Reads its chunks from memory (filtered by the window), couples records through the state's
    couplings (an already synced version is unchanged) and writes them into a :class:`Sink`.

    :param fail_write: raise in the n-th call of :meth:`write`.
    :param fail_in: raise in this step (``read``, ``plan`` or ``transform``).
    :param reject: bc_id -> messages: records failed before any write (one row per message).
    :param fail_writing: records whose write fails (in the outcome).
    :param skip: records counted as skipped.
    :param ordered: chunks carry their newest modified time (else ``None``).
    :param finish_at: what :meth:`finish` returns.
    """

    name = NAME
    what = "Wrote test rows"

    def __init__(
        self,
        chunks: list[pd.DataFrame],
        sink: Sink | None = None,
        *,
        fail_write: int | None = None,
        fail_in: str | None = None,
        reject: dict[str, list[str]] | None = None,
        fail_writing: set[str] = frozenset(),
        skip: set[str] = frozenset(),
        ordered: bool = True,
        finish_at: pd.Timestamp | None = None,
    ):
        self.chunks = chunks
        self.sink = sink if sink is not None else Sink()
        self.fail_write, self.fail_in = fail_write, fail_in
        self.reject = reject or {}
        self.fail_writing, self.skip = fail_writing, skip
        self.ordered, self.finish_at = ordered, finish_at
        self.calls: list[str] = []
        self.writes = 0
        self.closed = 0

    def _step(self, name: str) -> None:
        self.calls.append(name)
        if self.fail_in == name:
            raise RuntimeError(f"{name} broke")

    def read(self, run: JobRun) -> Iterator[Chunk]:
        self._step("read")
        for frame in self.chunks:
            if run.window.start is not None:
                frame = frame[frame["modified"] > run.window.start]
            if not frame.empty:
                yield Chunk(frame, len(frame), frame["modified"].max() if self.ordered else None)

    def prepare(self, run: JobRun) -> None:
        self.calls.append("prepare")

    def plan(self, chunk: Chunk, run: JobRun) -> Planned:
        self._step("plan")
        frame = chunk.records
        couplings = run.state.couplings(self.name, bc_ids=frame["bc_id"].tolist())
        synced = dict(zip(couplings["bc_id"], couplings["bc_modified_at"], strict=True))
        unchanged = pd.Series(
            [i in synced and synced[i] >= m for i, m in zip(frame["bc_id"], frame["modified"], strict=True)],
            index=frame.index,
        )
        skipped = frame["bc_id"].isin(self.skip)
        counts = Counter(unchanged=int(unchanged.sum()), skipped=int((skipped & ~unchanged).sum()))
        return Planned(frame[~unchanged & ~skipped], counts)

    def transform(self, planned: Planned, run: JobRun) -> Changes:
        self._step("transform")
        frame = planned.frame
        rejected = frame["bc_id"].isin(self.reject)
        writes = frame[~rejected]
        failures = [{"bc_id": i, "message": m} for i in frame.loc[rejected, "bc_id"] for m in self.reject[i]]
        inserts = int((~writes["bc_id"].isin(self.sink.rows)).sum())
        return Changes(
            writes=list(zip(writes["bc_id"], writes["modified"], strict=True)),
            inserts=inserts,
            updates=len(writes) - inserts,
            counts=planned.counts,
            failures=pd.DataFrame(failures) if failures else None,
        )

    def write(self, changes: Changes, run: JobRun) -> Outcome:
        self.writes += 1
        if self.writes == self.fail_write:
            raise RuntimeError("Sales is down")
        done = [(i, m) for i, m in changes.writes if i not in self.fail_writing]
        failed = [i for i, _ in changes.writes if i in self.fail_writing]
        inserted = sum(1 for i, _ in done if i not in self.sink.rows)
        for bc_id, modified in done:
            self.sink.rows[bc_id] = modified
            self.sink.log.append(bc_id)
        successes = pd.DataFrame(
            {
                "bc_id": [i for i, _ in done],
                "crm_id": [f"crm-{i}" for i, _ in done],
                "bc_modified_at": [m for _, m in done],
                "crm_modified_at": pd.Timestamp.now(tz="UTC"),
            }
        )
        failures = pd.DataFrame({"bc_id": failed, "message": "HTTP 400: bad value"}) if failed else None
        return Outcome(successes, failures, inserted, len(done) - inserted)

    def finish(self, run: JobRun) -> pd.Timestamp | None:
        self.calls.append("finish")
        return self.finish_at

    def close(self) -> None:
        self.closed += 1


@pytest.fixture
def state(tmp_path) -> Iterator[StateStore]:
    with StateStore(f"sqlite:///{tmp_path / 'state.db'}") as store:
        yield store


def only_job(state: StateStore) -> dict:
    jobs = state.jobs(NAME)
    assert len(jobs) == 1
    return state.job(jobs.iloc[0]["id"])


# -- resuming ---------------------------------------------------------------------------------


def test_a_run_that_fails_mid_way_keeps_what_it_committed_and_the_next_run_resumes_there(state):
    sink = Sink()
    crashed = ListJob(frames(), sink, fail_write=3)
    with pytest.raises(RuntimeError, match="Sales is down"):
        run_job(crashed, state, RunOptions(run_id="run-1"))

    assert state.watermark(NAME) == T0 + pd.Timedelta(minutes=3)  # r4, the newest of chunk 2
    job = only_job(state)
    assert (job["status"], job["message"], job["inserted"]) == ("failed", FAILED_MESSAGE, 4)
    assert job["finished_at"] is not None
    assert state.locks().empty
    assert crashed.closed == 1
    assert sink.log == ["r1", "r2", "r3", "r4"]

    resumed = ListJob(frames(), sink)
    summary = run_job(resumed, state, RunOptions(run_id="run-2"), choose_window(state.watermark(NAME)))

    # The overlap reads r4 again; it is unchanged, and the run goes on from chunk 3.
    assert summary.read == 7 and summary.counts["unchanged"] == 1 and summary.counts["inserted"] == 6
    assert sink.log == [f"r{n}" for n in range(1, 11)]  # each record written once
    assert state.watermark(NAME) == T0 + pd.Timedelta(minutes=9)
    assert state.job(summary.job_id)["status"] == "succeeded"
    assert set(state.couplings(NAME)["bc_id"]) == {f"r{n}" for n in range(1, 11)}


# -- the watermark ----------------------------------------------------------------------------


def test_the_watermark_never_passes_the_runs_start(state):
    future = pd.DataFrame({"bc_id": ["late"], "modified": [pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=1)]})
    before = dt.datetime.now(dt.UTC)
    summary = run_job(ListJob([frames(1)[0], future]), state)
    after = dt.datetime.now(dt.UTC)

    watermark = state.watermark(NAME)
    assert before <= watermark <= after
    assert summary.watermark == watermark.isoformat()


def test_the_watermark_only_moves_forward(state):
    later = T0 + pd.Timedelta(hours=1)
    state.advance_watermark(NAME, later.to_pydatetime())
    newest_first = list(reversed(frames(3)))  # chunks out of order within the run too

    run_job(ListJob(newest_first), state, window=Window(kind="full"))
    assert state.watermark(NAME) == later

    state.reset_watermark(NAME)
    run_job(ListJob(newest_first), state, RunOptions(full_sync=True), Window(kind="full"))
    assert state.watermark(NAME) == T0 + pd.Timedelta(minutes=5)  # the newest of the first chunk read


def test_a_run_for_chosen_records_moves_no_watermark(state):
    summary = run_job(ListJob(frames(2)), state, window=Window(kind="records"))
    assert summary.counts["inserted"] == 4
    assert state.watermark(NAME) is None and summary.watermark is None


def test_finish_moves_the_watermark_of_chunks_without_a_newest_time(state):
    job = ListJob(frames(2), ordered=False, finish_at=T0 + pd.Timedelta(minutes=30))
    summary = run_job(job, state)
    assert job.calls[-1] == "finish"
    assert state.watermark(NAME) == T0 + pd.Timedelta(minutes=30)
    assert summary.watermark == (T0 + pd.Timedelta(minutes=30)).isoformat()


def test_unordered_chunks_without_a_finish_time_move_no_watermark(state):
    run_job(ListJob(frames(2), ordered=False), state)
    assert state.watermark(NAME) is None


# -- dry run ----------------------------------------------------------------------------------


def test_a_dry_run_writes_nothing_and_reports_what_it_would_do(state):
    sink = Sink(rows={"r2": T0 - pd.Timedelta(days=1)})  # r2 exists in the target: an update
    job = ListJob(frames(2), sink, reject={"r3": ["No unit", "No unit either"]}, skip={"r4"})
    summary = run_job(job, state, RunOptions(dry_run=True))

    assert job.writes == 0 and sink.log == []
    assert state.watermark(NAME) is None and summary.watermark is None
    counts = summary.as_dict()
    assert (counts["inserted"], counts["modified"], counts["failed"], counts["skipped"]) == (1, 1, 1, 1)
    assert counts["dry_run"] is True
    job_row = only_job(state)
    assert job_row["dry_run"] and job_row["status"] == "succeeded"
    assert job_row["message"].startswith("Dry run")
    assert job_row["message"].endswith("1 inserted, 1 modified, 0 unchanged, 1 skipped, 1 failed")
    assert (job_row["inserted"], job_row["failed"]) == (0, 0)  # nothing was done
    assert state.couplings(NAME).empty and state.errors(mapping=NAME).empty


# -- counters and recording -------------------------------------------------------------------


def test_counters_add_up_across_chunks_in_the_summary_and_the_job_record(state):
    sink = Sink()
    run_job(ListJob(frames(1), sink), state)  # r1, r2 synced before
    chunks = frames(3)
    chunks[0].loc[1, "modified"] += pd.Timedelta(seconds=30)  # r2 changed since: modified
    job = ListJob(chunks, sink, reject={"r3": ["No unit"]}, fail_writing={"r5"}, skip={"r6"})
    summary = run_job(job, state)

    assert summary.as_dict() == {
        "mapping": NAME,
        "direction": "to_crm",
        "job_id": summary.job_id,
        "window": "incremental window from the beginning to now",
        "dry_run": False,
        "read": 6,
        "pages": 3,
        "watermark": (T0 + pd.Timedelta(minutes=5)).isoformat(),
        "inserted": 1,  # r4
        "modified": 1,  # r2
        "unchanged": 1,  # r1
        "skipped": 1,  # r6
        "failed": 2,  # r3 (before writing), r5 (writing)
    }
    job_row = state.job(summary.job_id)
    assert {k: job_row[k] for k in ("inserted", "modified", "unchanged", "skipped", "failed")} == {
        "inserted": 1,
        "modified": 1,
        "unchanged": 1,
        "skipped": 1,
        "failed": 2,
    }
    assert job_row["message"] == "Wrote test rows: 1 inserted, 1 modified, 1 unchanged, 1 skipped, 2 failed"


def test_failed_records_are_recorded_once_each_with_their_message(state):
    job = ListJob(frames(2), reject={"r1": ["No unit 'PCS'", "No price"]}, fail_writing={"r3"})
    summary = run_job(job, state)

    errors = state.errors(job_id=summary.job_id).sort_values("source_id")
    assert errors[["source_id", "message"]].values.tolist() == [["r1", "No unit 'PCS'"], ["r3", "HTTP 400: bad value"]]
    assert summary.counts["failed"] == 2
    couplings = state.couplings(NAME).set_index("bc_id")
    assert couplings.loc["r1", "last_result"] == "failure" and couplings.loc["r1", "last_error"] == "No unit 'PCS'"
    assert couplings.loc["r2", "last_result"] == "success" and couplings.loc["r2", "crm_id"] == "crm-r2"
    assert couplings.loc["r2", "bc_modified_at"] == T0 + pd.Timedelta(minutes=1)
    assert couplings.loc["r2", "last_job_id"] == summary.job_id


def test_a_record_failing_again_after_success_is_recorded(state):
    sink = Sink()
    run_job(ListJob(frames(1), sink), state)
    chunks = frames(1)
    chunks[0]["modified"] += pd.Timedelta(hours=1)
    run_job(ListJob(chunks, sink, fail_writing={"r1"}), state)
    assert state.couplings(NAME).set_index("bc_id").loc[["r1", "r2"], "last_result"].tolist() == ["failure", "success"]


# -- prepare ----------------------------------------------------------------------------------


def test_prepare_is_called_once_before_the_first_chunk_with_work(state):
    sink = Sink()
    run_job(ListJob(frames(1), sink), state)  # chunk 1 is synced already: nothing to do there
    job = ListJob(frames(3), sink)
    run_job(job, state)
    assert job.calls == [
        "read",
        "plan",
        "transform",
        "plan",
        "prepare",
        "transform",
        "plan",
        "transform",
        "finish",
    ]


def test_a_run_with_nothing_to_do_never_prepares_or_writes(state):
    sink = Sink()
    run_job(ListJob(frames(2), sink), state)
    job = ListJob(frames(2), sink)
    summary = run_job(job, state)
    assert "prepare" not in job.calls and job.writes == 0
    assert summary.counts["unchanged"] == 4


def test_a_job_may_plan_and_write_dataframes_an_empty_one_is_nothing_to_do(state):
    class FrameJob(ListJob):
        def plan(self, chunk: Chunk, run: JobRun) -> pd.DataFrame:
            return super().plan(chunk, run).frame

        def transform(self, planned: pd.DataFrame, run: JobRun) -> Changes:
            changes = super().transform(Planned(planned, Counter()), run)
            changes.writes = pd.DataFrame(changes.writes, columns=["bc_id", "modified"])
            return changes

        def write(self, changes: Changes, run: JobRun) -> Outcome:
            changes.writes = list(changes.writes.itertuples(index=False, name=None))
            return super().write(changes, run)

    sink = Sink()
    first = FrameJob(frames(2), sink)
    assert run_job(first, state).counts["inserted"] == 4 and first.writes == 2
    again = FrameJob(frames(2), sink)  # every record synced already: empty plans, no writes
    run_job(again, state)
    assert "prepare" not in again.calls and again.writes == 0


def test_an_empty_source_never_prepares(state):
    job = ListJob([])
    summary = run_job(job, state)
    assert job.calls == ["read", "finish"]
    assert (summary.read, summary.pages) == (0, 0)
    assert only_job(state)["message"] == "Wrote test rows: 0 inserted, 0 modified, 0 unchanged, 0 skipped, 0 failed"


# -- failures, closing and the lock -----------------------------------------------------------


@pytest.mark.parametrize("step", ["read", "plan", "transform"])
def test_a_failing_step_fails_the_job_closes_it_and_releases_the_lock(state, step):
    job = ListJob(frames(2), fail_in=step)
    with pytest.raises(RuntimeError, match=f"{step} broke"):
        run_job(job, state)
    assert job.closed == 1
    assert only_job(state)["status"] == "failed"
    assert state.locks().empty
    assert job.writes == 0


def test_another_live_holder_of_the_lock_stops_the_run_before_anything(state):
    state.acquire_lock(NAME, "other-run")
    job = ListJob(frames(2))
    with pytest.raises(MappingLocked) as raised:
        run_job(job, state, RunOptions(run_id="this-run"))
    assert raised.value.holder == "other-run"
    assert job.calls == [] and job.writes == 0
    assert state.jobs(NAME).empty
    assert state.locks()["holder"].tolist() == ["other-run"]
    assert job.closed == 1


def test_a_retried_task_takes_its_own_lock_again(state):
    state.acquire_lock(NAME, "run-1")
    summary = run_job(ListJob(frames(1)), state, RunOptions(run_id="run-1"))
    assert summary.counts["inserted"] == 2
    assert state.locks().empty


def test_a_run_whose_lock_was_taken_stops_at_the_next_chunk(state):
    class Robbed(ListJob):
        def write(self, changes: Changes, run: JobRun) -> Outcome:
            outcome = super().write(changes, run)
            state.break_lock(NAME)
            state.acquire_lock(NAME, "other-run")
            return outcome

    job = Robbed(frames(3))
    with pytest.raises(LockLost):
        run_job(job, state, RunOptions(run_id="run-1"))
    assert job.writes == 1
    assert only_job(state)["status"] == "failed"
    assert state.watermark(NAME) == T0 + pd.Timedelta(minutes=1)  # chunk 1 was committed
    assert state.locks()["holder"].tolist() == ["other-run"]
