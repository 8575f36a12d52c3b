"""One sync job: the data path of DESIGN §2 for one mapping, chunk by chunk.

extract (BC pages) -> couple (couplings, match-based coupling) -> transform (pure pandas)
-> load (Dataverse ``$batch`` upserts with deterministic ids) -> record (couplings, counters,
errors, watermark). Progress is committed after every chunk, so a crash loses at most the chunk
in flight, and a rerun repeats it without duplicates.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import importlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from include.bc_sales_sync.hooks.base import odata_time
from include.bc_sales_sync.mappings import Mapping
from include.bc_sales_sync.sync.lookups import Lookups, odata_string
from include.bc_sales_sync.transforms.base import (
    TargetRows,
    TransformContext,
    TransformResult,
    deterministic_ids,
)

log = logging.getLogger(__name__)

COUNTERS = ("inserted", "modified", "unchanged", "skipped", "failed")
# BC treats modified times closer than 10 ms as equal (TypeHelper.CompareDateTime).
SAME_TIME = pd.Timedelta(milliseconds=10)
RETRY_FILTER_CHUNK = 40  # ids per $filter when re-reading failed records (keeps URLs short)


@dataclass(frozen=True)
class Window:
    """Which source records a run reads: modified after ``start`` and up to ``end``.

    ``start=None`` reads everything (a full sync or the first run).
    """

    start: dt.datetime | None = None
    end: dt.datetime | None = None
    kind: str = "incremental"  # incremental | interval (backfill) | full

    def odata_filter(self, modified_field: str) -> str | None:
        parts = []
        if self.start is not None:
            parts.append(f"{modified_field} gt {odata_time(self.start)}")
        if self.end is not None:
            parts.append(f"{modified_field} le {odata_time(self.end)}")
        return " and ".join(parts) or None

    def describe(self) -> str:
        start = self.start.isoformat() if self.start else "the beginning"
        end = self.end.isoformat() if self.end else "now"
        return f"{self.kind} window from {start} to {end}"


@dataclass
class RunOptions:
    dry_run: bool = False
    full_sync: bool = False
    page_size: int = 5000
    run_id: str | None = None
    dag_id: str | None = None
    task_id: str | None = None


@dataclass
class Operation:
    """One planned Dataverse write, tied to the BC record and the target row it comes from."""

    bc_id: str
    target: TargetRows
    row: dict
    create: bool  # If-None-Match: * (create only) or If-Match: * (update only)
    role: str  # reopen | primary | activate | child | final | require
    cause: str | None = None  # why it is redone: the failure of the first attempt

    @property
    def entity_set(self) -> str:
        return self.target.entity_set

    @property
    def target_id(self) -> str:
        return self.row["target_id"]

    @property
    def columns(self) -> list[str]:
        t = self.target
        if self.role == "activate":
            return list(t.after_insert)
        if self.role == "final":
            return list(t.final)
        if self.role == "reopen":
            return list(t.reopen)
        if self.create:
            return [c for c in t.value_columns if c not in t.after_insert and c not in t.final]
        return [c for c in t.value_columns if c not in t.insert_only and c not in t.final]

    @property
    def body(self) -> dict:
        if self.role == "reopen":
            return dict(self.target.reopen)
        not_null = self.target.not_null
        return {c: self.row[c] for c in self.columns if not (c in not_null and _missing(self.row[c]))}

    def redone(self, *, create: bool) -> Operation:
        return Operation(self.bc_id, self.target, self.row, create, self.role)


@dataclass
class RunSummary:
    mapping: str
    job_id: str | None
    window: str
    dry_run: bool
    counts: Counter = field(default_factory=Counter)
    read: int = 0
    pages: int = 0
    watermark: str | None = None

    def as_dict(self) -> dict:
        return {
            "mapping": self.mapping,
            "job_id": self.job_id,
            "window": self.window,
            "dry_run": self.dry_run,
            "read": self.read,
            "pages": self.pages,
            "watermark": self.watermark,
            **{name: int(self.counts.get(name, 0)) for name in COUNTERS},
        }


def load_transform(path: str) -> Callable[[pd.DataFrame, TransformContext], TransformResult]:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def payload_hash(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _body(row: dict, columns: Iterable[str]) -> dict:
    return {c: row[c] for c in columns}


class SyncEngine:
    """Runs one mapping. Hooks and the state store are passed in, so tests can use the sandbox.

    :param bc: a :class:`~include.bc_sales_sync.hooks.BusinessCentralHook`.
    :param dataverse: a :class:`~include.bc_sales_sync.hooks.DataverseHook`.
    :param state: a :class:`~include.bc_sales_sync.state.StateStore`.
    """

    def __init__(self, mapping: Mapping, bc, dataverse, state, options: RunOptions | None = None):
        self.mapping = mapping
        self.bc = bc
        self.dataverse = dataverse
        self.state = state
        self.options = options or RunOptions()
        self.transform = load_transform(mapping.transform)
        self.lookups = Lookups(bc, dataverse, state=state, dry_run=self.options.dry_run, options=mapping.options)
        self._match_index: pd.DataFrame | None = None

    # -- the run --------------------------------------------------------------------------------

    def run(self, window: Window) -> RunSummary:
        m, opts = self.mapping, self.options
        started = dt.datetime.now(dt.UTC)
        holder = opts.run_id or f"manual@{started.isoformat()}"
        with self.state.lock(m.name, holder) as lock:
            job_id = self.state.start_job(
                m.name,
                run_id=opts.run_id,
                dag_id=opts.dag_id,
                task_id=opts.task_id,
                dry_run=opts.dry_run,
                window_start=window.start,
                window_end=window.end,
            )
            summary = RunSummary(m.name, job_id, window.describe(), opts.dry_run)
            log.info("%s: %s%s.", m.name, window.describe(), " (dry run: nothing is written)" if opts.dry_run else "")
            newest: pd.Timestamp | None = None
            try:
                for chunk in self._chunks(window):
                    if chunk.empty:
                        continue
                    lock.refresh()  # a long run keeps the mapping
                    summary.pages += 1
                    summary.read += len(chunk)
                    modified = pd.to_datetime(chunk[m.source.modified], utc=True, errors="coerce").max()
                    if pd.notna(modified) and (newest is None or modified > newest):
                        newest = modified
                    counts = self.sync_chunk(chunk, job_id)
                    summary.counts.update(counts)
                    if not opts.dry_run:
                        self.state.add_counts(job_id, **{k: int(v) for k, v in counts.items() if k in COUNTERS})
                    log.info(
                        "%s: chunk %d: %d records (%s); %d read so far.",
                        m.name,
                        summary.pages,
                        len(chunk),
                        ", ".join(f"{counts.get(k, 0)} {k}" for k in COUNTERS),
                        summary.read,
                    )
                if newest is not None and not opts.dry_run:
                    stored = self.state.advance_watermark(m.name, newest.to_pydatetime(), cap=started)
                    summary.watermark = stored.isoformat() if stored else None
                status = "succeeded"
            except BaseException:
                self.state.finish_job(
                    job_id, status="failed", message="The run stopped with an error; see the task log."
                )
                raise
            message = ", ".join(f"{summary.counts.get(k, 0)} {k}" for k in COUNTERS)
            if opts.dry_run:
                message = "Dry run (nothing written): would have " + message
            self.state.finish_job(job_id, status=status, message=message)
            log.info("%s: done: %s.", m.name, message)
            return summary

    def _chunks(self, window: Window) -> Iterator[pd.DataFrame]:
        """Failed records first (BC retries "failed, not skipped" couplings first), then the window.

        A retried record that is also in the window is not synced twice.
        """
        m = self.mapping
        failed = self.state.failed_not_skipped(m.name)
        retried = [i for i in failed["bc_id"].tolist() if i]
        for start in range(0, len(retried), RETRY_FILTER_CHUNK):
            part = retried[start : start + RETRY_FILTER_CHUNK]
            yield from self._read(" or ".join(f"{m.source.key} eq {_id_literal(i)}" for i in part))
        done = set(retried)
        for chunk in self._read(window.odata_filter(m.source.modified)):
            yield chunk[~chunk["bc_id"].isin(done)] if done else chunk

    def _read(self, window_filter: str | None) -> Iterator[pd.DataFrame]:
        m = self.mapping
        filters = [f"({f})" for f in (m.source.filter, window_filter) if f]
        for page in self.bc.iter_pages(
            m.source.entity_set,
            filter=" and ".join(filters) or None,
            select=m.source_fields,
            expand=list(m.source.expand) or None,
            page_size=self.options.page_size,
            web_service=m.source.web_service,
        ):
            if page:
                frame = pd.DataFrame(page)
                frame["bc_id"] = frame[m.source.key].astype(str)
                yield frame

    # -- one chunk ------------------------------------------------------------------------------

    def sync_chunk(self, chunk: pd.DataFrame, job_id: str) -> Counter:
        m, opts = self.mapping, self.options
        counts: Counter = Counter()
        couplings = self.state.couplings(m.name, bc_ids=chunk["bc_id"].tolist())
        frame = chunk.merge(
            couplings[["bc_id", "crm_id", "bc_modified_at", "last_result", "skipped", "extra"]],
            on="bc_id",
            how="left",
        )
        frame["skipped"] = frame["skipped"].fillna(False).astype(bool)
        counts["skipped"] += int(frame["skipped"].sum())
        frame = frame[~frame["skipped"]]

        modified = pd.to_datetime(frame[m.source.modified], utc=True, errors="coerce")
        last_synced = pd.to_datetime(frame["bc_modified_at"], utc=True, errors="coerce")
        coupled = frame["crm_id"].notna()
        same_time = coupled & (frame["last_result"] == "success") & ((modified - last_synced).abs() < SAME_TIME)
        if not opts.full_sync:
            counts["unchanged"] += int(same_time.sum())
            frame = frame[~same_time]
        if frame.empty:
            return counts

        frame = frame.copy()
        frame["existing"] = frame["crm_id"].notna()
        frame["target_id"] = frame["crm_id"].where(frame["existing"], deterministic_ids(m.name, frame["bc_id"]))
        result = self._transform(frame)
        result = self._match_and_retransform(frame, result)

        if m.couple_only:
            return self._couple_only(frame, result, job_id, counts)
        if m.sync_only_coupled:
            uncoupled = frame.loc[~frame["existing"], "bc_id"]
            counts["skipped"] += len(uncoupled)
            result = _drop_records(result, set(uncoupled))
            frame = frame[frame["existing"]]

        failures = result.errors.copy()
        plans, unchanged = self._plan(frame, result)
        counts["unchanged"] += len(unchanged)
        if opts.dry_run:
            planned = frame.set_index("bc_id").loc[list(plans), "existing"] if plans else pd.Series(dtype=bool)
            counts["inserted"] += int((~planned).sum())
            counts["modified"] += int(planned.sum())
            counts["failed"] += len(failures)
            return counts

        outcomes = self._load(plans, result.requires)
        successes = [bc_id for bc_id, error in outcomes.items() if error is None]
        load_errors = [{"bc_id": bc_id, "field": None, "message": e} for bc_id, e in outcomes.items() if e is not None]
        if load_errors:
            failures = pd.concat([failures, pd.DataFrame(load_errors)], ignore_index=True)

        now = dt.datetime.now(dt.UTC)
        by_id = frame.set_index("bc_id")
        if successes or unchanged:
            done = list(successes) + list(unchanged)
            rows = pd.DataFrame(
                {
                    "bc_id": done,
                    "crm_id": [plans[i].primary_id if i in plans else by_id.at[i, "target_id"] for i in done],
                    "bc_modified_at": pd.to_datetime(by_id.loc[done, m.source.modified], utc=True).tolist(),
                    "crm_modified_at": now,
                    "extra": [{"hash": plans[i].hash if i in plans else unchanged[i]} for i in done],
                }
            )
            self.state.record_success(m.name, job_id, rows)
            inserted = [i for i in successes if plans[i].created]
            counts["inserted"] += len(inserted)
            counts["modified"] += len(successes) - len(inserted)
        if not failures.empty:
            failures = failures.drop_duplicates("bc_id")
            failures["crm_id"] = failures["bc_id"].map(
                lambda i: by_id.at[i, "crm_id"] if i in by_id.index and pd.notna(by_id.at[i, "crm_id"]) else None
            )
            failures["message"] = failures["message"].astype(str)
            self.state.record_failure(m.name, job_id, failures[["bc_id", "crm_id", "field", "message"]])
            counts["failed"] += len(failures)
            for row in failures.head(5).itertuples():
                log.warning("%s: record %s failed: %s", m.name, row.bc_id, row.message)
            if len(failures) > 5:
                log.warning("%s: %d more records failed; see the sync errors.", m.name, len(failures) - 5)
        return counts

    def _couple_only(self, frame: pd.DataFrame, result: TransformResult, job_id: str, counts: Counter) -> Counter:
        """Couple records to the Sales rows that matched; nothing is written to Sales."""
        m = self.mapping
        errors = result.errors.copy()
        keys = "/".join(m.target.match_on)
        unmatched = frame[~frame["existing"] & ~frame["bc_id"].isin(errors["bc_id"])]
        if not unmatched.empty:
            values = result.primary.rows.set_index("bc_id")
            messages = [
                f"No {m.target.entity_set} row in Sales has the same {keys} "
                f"({', '.join(str(values.at[i, k]) if i in values.index and k in values else '?' for k in m.target.match_on)}); "
                "create it in Sales (or correct the value in Business Central); the record is retried on the next run."
                for i in unmatched["bc_id"]
            ]
            errors = pd.concat(
                [errors, pd.DataFrame({"bc_id": unmatched["bc_id"].values, "field": keys, "message": messages})]
            )
        matched = frame[frame["existing"] & ~frame["bc_id"].isin(errors["bc_id"])]
        newly = matched[matched["crm_id"].isna()]
        counts["unchanged"] += len(matched) - len(newly)
        if self.options.dry_run:
            counts["modified"] += len(newly)
            counts["failed"] += len(errors)
            return counts
        if not matched.empty:
            self.state.record_success(
                m.name,
                job_id,
                pd.DataFrame(
                    {
                        "bc_id": matched["bc_id"].values,
                        "crm_id": matched["target_id"].values,
                        "bc_modified_at": pd.to_datetime(matched[m.source.modified], utc=True).tolist(),
                        "crm_modified_at": dt.datetime.now(dt.UTC),
                    }
                ),
            )
            counts["modified"] += len(newly)
        if not errors.empty:
            errors = errors.drop_duplicates("bc_id").assign(crm_id=None)
            self.state.record_failure(m.name, job_id, errors[["bc_id", "crm_id", "field", "message"]])
            counts["failed"] += len(errors)
        return counts

    def _transform(self, frame: pd.DataFrame) -> TransformResult:
        frames, constants = self.lookups.frames_and_constants(self.mapping.lookups)
        return self.transform(frame, TransformContext(self.mapping, frames, constants))

    # -- match-based coupling -------------------------------------------------------------------

    def _match_and_retransform(self, frame: pd.DataFrame, result: TransformResult) -> TransformResult:
        """Couple new records to existing, uncoupled Sales rows with the same match values."""
        m = self.mapping
        keys = list(m.target.match_on)
        if not keys:
            return result
        new = _match_values(
            result.primary.rows[result.primary.rows["bc_id"].isin(frame.loc[~frame["existing"], "bc_id"])], keys
        )
        if new is None or new.empty:
            return result
        index = self._target_index()
        if index.empty:
            return result
        matches = new.merge(index, on=keys, how="inner", suffixes=("", "_found"))
        matches = matches[matches["found_id"] != matches["target_id"]].drop_duplicates("bc_id")
        if matches.empty:
            return result
        taken = self.state.couplings(m.name, crm_ids=matches["found_id"].tolist())
        matches = matches[~matches["found_id"].isin(set(taken["crm_id"]))].drop_duplicates("found_id")
        if matches.empty:
            return result
        log.info(
            "%s: coupled %d records to existing Sales rows with the same %s.", m.name, len(matches), "/".join(keys)
        )
        found = dict(zip(matches["bc_id"], matches["found_id"], strict=True))
        hit = frame["bc_id"].isin(found)
        frame.loc[hit, "target_id"] = frame.loc[hit, "bc_id"].map(found)
        frame.loc[hit, "existing"] = True
        return self._transform(frame)

    def _target_index(self) -> pd.DataFrame:
        """Existing Sales rows of this mapping: id and match columns, read once per run."""
        if self._match_index is None:
            m = self.mapping
            rows: list[dict] = []
            for page in self.dataverse.iter_pages(
                m.target.entity_set, select=[m.target.key, *m.target.match_on], filter=m.target.filter
            ):
                rows.extend(page)
            index = pd.DataFrame(rows, columns=[m.target.key, *m.target.match_on])
            for key in m.target.match_on:
                if _bind_column(key):  # lookup ids: compared as lower-case GUIDs
                    index[key] = index[key].map(lambda v: v.lower() if isinstance(v, str) else v)
            self._match_index = index.rename(columns={m.target.key: "found_id"})
        return self._match_index

    # -- planning and loading -------------------------------------------------------------------

    def _plan(self, frame: pd.DataFrame, result: TransformResult) -> tuple[dict[str, RecordPlan], dict[str, str]]:
        """Per record: the writes it needs, or nothing when its payload is what was last written."""
        existing = dict(zip(frame["bc_id"], frame["existing"], strict=True))
        last_hash = dict(zip(frame["bc_id"], frame["extra"].map(_hash_of), strict=True))
        last_ok = dict(zip(frame["bc_id"], frame["last_result"] == "success", strict=True))
        children: dict[str, list[tuple[TargetRows, dict]]] = {}
        for target in result.children:
            for row in target.rows.to_dict("records"):
                children.setdefault(row["bc_id"], []).append((target, row))
        primary = result.primary
        plans: dict[str, RecordPlan] = {}
        unchanged: dict[str, str] = {}
        for row in primary.rows.to_dict("records"):
            bc_id = row["bc_id"]
            is_new = not existing[bc_id]
            update_columns = [c for c in primary.value_columns if c not in primary.insert_only]
            digest = payload_hash(
                {
                    "primary": _body(row, update_columns),
                    "children": [
                        _body(r, [c for c in t.value_columns if c not in t.insert_only])
                        for t, r in children.get(bc_id, [])
                    ],
                }
            )
            if not is_new and last_ok[bc_id] and last_hash[bc_id] == digest:
                unchanged[bc_id] = digest
                continue
            ops = _operations(bc_id, primary, row, children.get(bc_id, []), create=is_new)
            plans[bc_id] = RecordPlan(bc_id, row["target_id"], is_new, digest, ops, children.get(bc_id, []))
        return plans, unchanged

    def _load(self, plans: dict[str, RecordPlan], requires: list[TargetRows] = ()) -> dict[str, str | None]:
        """Write every plan through ``$batch``; a create that finds the row already there (a rerun
        after a crash) becomes an update, and an update that finds it gone becomes a create.

        Rows the records require go first, create-only: one that already exists is left alone.
        """
        outcomes: dict[str, str | None] = {}  # bc_id -> None (written) or the error
        pending = {bc_id: list(plan.operations) for bc_id, plan in plans.items()}
        required = _required_operations(requires) if plans else []
        for attempt in range(3):  # a record may switch once, then one of its children once
            flat = [op for ops in pending.values() for op in ops]
            if not flat:
                break
            sent = required + flat
            results = self.dataverse.batch([self._batch_operation(op) for op in sent], continue_on_error=True)
            for op, res in zip(required, results, strict=False):
                if not (200 <= res.status < 300 or res.status == 412):
                    log.warning(
                        "%s: a row the records need was not created: %s", self.mapping.name, _describe_failure(op, res)
                    )
            required = []
            retry: dict[str, list[Operation]] = {}
            failed: set[str] = set()
            for op, res in zip(flat, results[len(sent) - len(flat) :], strict=True):
                if op.bc_id in failed or op.bc_id in retry:
                    continue
                if 200 <= res.status < 300:
                    continue
                plan = plans[op.bc_id]
                whole = op.role in ("primary", "reopen")
                may_switch = attempt == 0 if whole else (op.role == "child" and attempt < 2)
                if may_switch and op.create and res.status == 412:
                    retry[op.bc_id] = self._switch(plan, op, create=False, cause=_describe_failure(op, res))
                elif may_switch and not op.create and res.status == 404:
                    retry[op.bc_id] = self._switch(plan, op, create=True, cause=_describe_failure(op, res))
                else:
                    failed.add(op.bc_id)
                    outcomes[op.bc_id] = _describe_failure(op, res)
                    if op.cause:  # e.g. a create refused as a duplicate key, then no row to update
                        outcomes[op.bc_id] = (
                            f"{op.cause} Then, as {'a create' if op.create else 'an update'}: {outcomes[op.bc_id]}"
                        )
            for bc_id in pending:
                if bc_id not in failed and bc_id not in retry:
                    outcomes[bc_id] = None
            pending = retry
        for bc_id in pending:  # still conflicting after the last attempt
            outcomes[bc_id] = "The Sales row kept changing between create and update; the record is retried next run."
        return outcomes

    def _switch(
        self, plan: RecordPlan, failed_op: Operation, *, create: bool, cause: str | None = None
    ) -> list[Operation]:
        """Redo a record whose row was not as expected: all of it as create or as update when its
        own row failed; when a child failed, that child and the later ones (the state writes stay
        updates)."""
        if failed_op.role in ("primary", "reopen"):
            plan.created = create
            redone = _operations(plan.bc_id, failed_op.target, failed_op.row, plan.children, create=create)
        else:
            redone = []
            for op in plan.operations[plan.operations.index(failed_op) :]:
                if op.role == "child":
                    redone.append(op.redone(create=create))
                elif op.role == "final":
                    redone.append(op)
        for op in redone:
            op.cause = cause
        plan.operations = redone  # what is pending now, so a later switch finds its operation
        return redone

    def _batch_operation(self, op: Operation):
        from include.bc_sales_sync.hooks.dataverse import BatchOperation

        headers = {"If-None-Match": "*"} if op.create else {"If-Match": "*"}
        return BatchOperation("PATCH", entity_set=op.entity_set, key=op.target_id, body=op.body, headers=headers)


@dataclass
class RecordPlan:
    bc_id: str
    primary_id: str
    created: bool
    hash: str
    operations: list[Operation]
    children: list[tuple[TargetRows, dict]] = field(default_factory=list)


def _operations(
    bc_id: str, primary: TargetRows, row: dict, children: list[tuple[TargetRows, dict]], *, create: bool
) -> list[Operation]:
    """The writes of one record, in order: [reopen], the row, [its state after creation], its
    children, [its final columns]."""
    ops = []
    if not create and primary.reopen:
        ops.append(Operation(bc_id, primary, row, False, "reopen"))
    ops.append(Operation(bc_id, primary, row, create, "primary"))
    if create and primary.after_insert:
        ops.append(Operation(bc_id, primary, row, False, "activate"))
    ops += [Operation(bc_id, target, child, create, "child") for target, child in children]
    if primary.final:
        ops.append(Operation(bc_id, primary, row, False, "final"))
    return ops


def _required_operations(requires: Iterable[TargetRows]) -> list[Operation]:
    """Create-only writes of the rows records require, each row once."""
    ops, seen = [], set()
    for target in requires:
        for row in target.rows.to_dict("records"):
            key = (target.entity_set, row["target_id"])
            if key not in seen:
                seen.add(key)
                ops.append(Operation(row.get("bc_id"), target, row, True, "require"))
    return ops


def _bind_column(key: str) -> str | None:
    """``_pricelevelid_value`` (how Dataverse reads a lookup) -> ``pricelevelid@odata.bind``."""
    if key.startswith("_") and key.endswith("_value"):
        return key[1:-6] + "@odata.bind"
    return None


def _match_values(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame | None:
    """``bc_id``, ``target_id`` and the match values of rows; a lookup key (``_x_value``) takes the
    GUID the row binds in ``x@odata.bind``. None when a key is missing from the rows."""
    out = rows[["bc_id", "target_id"]].copy()
    for key in keys:
        if key in rows:
            out[key] = rows[key]
        elif (column := _bind_column(key)) and column in rows:
            out[key] = rows[column].map(
                lambda v: v[v.rfind("(") + 1 : -1].lower() if isinstance(v, str) and v.endswith(")") else None
            )
        else:
            return None
    return out


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _hash_of(extra: Any) -> str | None:
    if isinstance(extra, str):
        try:
            extra = json.loads(extra)
        except ValueError:
            return None
    return extra.get("hash") if isinstance(extra, dict) else None


def _describe_failure(op: Operation, result) -> str:
    what = {"activate": "Activating", "reopen": "Reopening", "final": "Finishing"}.get(op.role, "Writing")
    code = f" ({result.error_code})" if getattr(result, "error_code", None) else ""
    message = getattr(result, "error_message", None) or f"HTTP {result.status}"
    return f"{what} {op.entity_set}({op.target_id}) failed with HTTP {result.status}{code}: {message}"


def _drop_records(result: TransformResult, bc_ids: set[str]) -> TransformResult:
    keep = lambda t: dataclasses.replace(t, rows=t.rows[~t.rows["bc_id"].isin(bc_ids)])  # noqa: E731
    return dataclasses.replace(
        result,
        primary=keep(result.primary),
        children=[keep(c) for c in result.children],
        errors=result.errors[~result.errors["bc_id"].isin(bc_ids)],
    )


def _id_literal(value: str) -> str:
    """GUIDs are unquoted in OData filters; other keys are strings."""
    import uuid

    try:
        return str(uuid.UUID(value))
    except ValueError:
        return odata_string(value)
