"""The entity sync job: one mapping from Business Central to Sales, on the job skeleton.

read (BC pages, failed records first) → plan (couple through the couplings, lookups loaded once
per run) → transform (the mapping's pure pandas transform, match-based coupling, the writes each
record needs) → write (Dataverse ``$batch`` with deterministic ids) → record (the skeleton).
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd

from include.bc_sales_sync.jobs import SALES_OVERLAP, Changes, Chunk, Job, JobRun, Outcome
from include.bc_sales_sync.mappings import Direction, Mapping
from include.bc_sales_sync.odata import MAX_OR_VALUES, any_of, chunked, odata_time
from include.bc_sales_sync.state import FROM_CRM, TO_CRM
from include.bc_sales_sync.sync import conflicts as cf
from include.bc_sales_sync.sync import couple as c
from include.bc_sales_sync.sync.load import load
from include.bc_sales_sync.sync.lookups import Lookups
from include.bc_sales_sync.sync.plan import WritePlan, plan_writes
from include.bc_sales_sync.sync.prerequisites import ensure
from include.bc_sales_sync.sync.read import source_chunks
from include.bc_sales_sync.transforms.base import TransformContext, TransformResult, load_function

log = logging.getLogger(__name__)

MODIFIED_ON, MODIFIED_BY = "modifiedon", "_modifiedby_value"


@dataclass
class Planned:
    """A chunk's records with their couplings, ready to transform; for a two-way mapping also the
    Sales rows users changed since the last Sales -> BC pass (``modifiedon`` and the two-way columns)."""

    frame: pd.DataFrame
    counts: Counter
    sales_now: pd.DataFrame | None = None

    def __bool__(self) -> bool:
        return not self.frame.empty


class EntitySyncJob(Job):
    """Synchronizes one mapping. Hooks are passed in, so tests can point them at the sandbox.

    :param mapping: the mapping.
    :param bc: a :class:`~include.bc_sales_sync.hooks.BusinessCentralHook`.
    :param dataverse: a :class:`~include.bc_sales_sync.hooks.DataverseHook`.
    """

    def __init__(self, mapping: Mapping, bc, dataverse):
        self.mapping = mapping
        self.name = mapping.name
        self.bc = bc
        self.dataverse = dataverse
        self.transform_rows = load_function(mapping.transform)
        self.context: TransformContext | None = None
        self._index: pd.DataFrame | None = None
        self._taken: set[str] = set()
        self._rewind: set[str] = set()
        self._edits: pd.DataFrame | None = None

    def prepare(self, run: JobRun) -> None:
        """Ensure the rows every record needs, then load the lookups once for the run."""
        m = self.mapping
        lookups = Lookups(self.bc, self.dataverse, state=run.state, options=m.options)
        ensure(lookups, m.lookups, dry_run=run.dry_run)
        frames, constants = lookups.frames_and_constants(m.lookups)
        self.context = TransformContext(m, frames, constants)

    def read(self, run: JobRun) -> Iterator[Chunk]:
        retried = [i for i in run.state.failed_not_skipped(self.name)["bc_id"].tolist() if i]
        yield from source_chunks(self.bc, self.mapping, run.window, retried, run.options.page_size)

    def plan(self, chunk: Chunk, run: JobRun) -> Planned:
        m = self.mapping
        frame = chunk.records
        if frame.empty:
            return Planned(frame, Counter())
        couplings = run.state.couplings(m.name, bc_ids=frame["bc_id"].tolist())
        frame, counts = c.couple(
            frame, couplings, name=m.name, modified=m.source.modified, full_sync=run.options.full_sync
        )
        if m.target.match_on and not frame["existing"].all():
            self._load_index(run)
        if m.options.get("update_only_when") and frame["existing"].any():
            frame = self._leave_closed_rows(frame, counts)
        sales_now = None
        if m.direction is Direction.BIDIRECTIONAL and frame["existing"].any():
            retried = frame["existing"] & (frame["last_result"].eq("failure") | frame["from_crm_result"].eq("failure"))
            sales_now = self._sales_edits(run, frame.loc[retried, "target_id"].tolist())
        return Planned(frame, counts, sales_now)

    def transform(self, planned: Planned, run: JobRun) -> Changes:
        m, frame = self.mapping, planned.frame
        changes = Changes(counts=planned.counts)
        if frame.empty:
            return changes
        result = self.transform_rows(frame, self.context)
        if result.ignored:
            log.info("%s: %d records are not synchronized by this mapping; left alone.", m.name, len(result.ignored))
            changes.counts["skipped"] += len(result.ignored)
            frame = frame[~frame["bc_id"].isin(result.ignored)]
        found = c.match(
            frame, result, self._index if self._index is not None else pd.DataFrame(), self._taken, m.target.match_on
        )
        if found:
            log.info(
                "%s: coupled %d records to existing Sales rows with the same %s.",
                m.name,
                len(found),
                "/".join(m.target.match_on),
            )
            hit = c.retarget(frame, found)
            frame = pd.concat([frame[~frame["bc_id"].isin(found)], hit], ignore_index=True)
            result = c.replace_records(result, self.transform_rows(hit, self.context))
        if m.couple_only:
            return self._couple_only(frame, result, changes)
        if planned.sales_now is not None:
            result = self._resolve_conflicts(frame, result, planned.sales_now, changes)
        if m.sync_only_coupled:
            uncoupled = set(frame.loc[~frame["existing"], "bc_id"])
            changes.counts["skipped"] += len(uncoupled)
            result = c.drop_records(result, uncoupled)
            frame = frame[frame["existing"]]
        plans, unchanged = plan_writes(frame, result)
        changes.counts["unchanged"] += len(unchanged)
        changes.writes = WritePlan(plans, result.requires)
        changes.inserts = sum(1 for p in plans.values() if p.created)
        changes.updates = len(plans) - changes.inserts
        by_id = frame.set_index("bc_id")
        self._frame = by_id
        if unchanged:
            done = list(unchanged)
            changes.successes = self._successes(
                done, by_id.loc[done, "target_id"].tolist(), [{"hash": unchanged[i]} for i in done]
            )
        changes.failures = self._failures(result.errors)
        return changes

    def write(self, changes: Changes, run: JobRun) -> Outcome:
        plans = changes.writes.records
        outcomes = load(self.dataverse, changes.writes, name=self.name)
        written = [bc_id for bc_id, error in outcomes.items() if error is None]
        errors = [{"bc_id": i, "field": None, "message": e} for i, e in outcomes.items() if e is not None]
        deleted = [e for e in errors if plans[e["bc_id"]].deleted]
        if deleted:  # a deletion conflict waits for the operator: marked, not retried
            run.state.mark_deleted(self.name, run.job_id, self._failures(pd.DataFrame(deleted)), side="sales")
        failed = pd.DataFrame(
            [e for e in errors if not plans[e["bc_id"]].deleted], columns=["bc_id", "field", "message"]
        )
        inserted = sum(1 for i in written if plans[i].created)
        successes = self._successes(
            written,
            [plans[i].primary_id for i in written],
            [{"hash": plans[i].hash} for i in written],
            [self._rewound(i, plans[i].modified_on) for i in written],
        )
        self._taken.update(plans[i].primary_id for i in written)
        return Outcome(
            successes, self._failures(failed), inserted, len(written) - inserted, counts=Counter(failed=len(deleted))
        )

    def _leave_closed_rows(self, frame: pd.DataFrame, counts: Counter) -> pd.DataFrame:
        """Coupled records whose Sales row no longer has the values ``update_only_when`` asks for
        (an invoice paid or canceled in Sales) are not sent again: counted skipped."""
        t, wanted = self.mapping.target, self.mapping.options["update_only_when"]
        ids = frame.loc[frame["existing"], "target_id"].astype(str).str.lower().tolist()
        columns = [t.key, *wanted]
        rows = self._sales_rows(columns, [any_of(t.key, part, guid=True) for part in chunked(ids, MAX_OR_VALUES)])
        open_rows = rows.index[(rows[list(wanted)] == pd.Series(wanted)).all(axis=1)]
        closed = frame["existing"] & ~frame["target_id"].astype(str).str.lower().isin(open_rows)
        closed &= frame["target_id"].astype(str).str.lower().isin(rows.index)  # a deleted row is the load's to find
        if closed.any():
            log.info(
                "%s: %d records left alone: their Sales row is no longer %s.",
                self.name,
                int(closed.sum()),
                ", ".join(f"{k} = {v}" for k, v in wanted.items()),
            )
            counts["skipped"] += int(closed.sum())
        return frame[~closed]

    # -- two-way mappings -------------------------------------------------------------------

    def _sales_edits(self, run: JobRun, retried: list[str]) -> pd.DataFrame:
        """The Sales rows that can conflict: those users changed since the last Sales -> BC pass (read
        once per run) and those of records being retried (a conflict that failed stays one)."""
        t = self.mapping.target
        columns = [t.key, MODIFIED_ON, MODIFIED_BY, *sorted(cf.both_way_columns(self.mapping, "sales"))]
        if self._edits is None:
            conditions = [t.filter, f"{MODIFIED_BY} ne {self.dataverse.user_id}"]
            since = run.state.watermark(self.name, FROM_CRM)
            if since is not None:
                conditions.append(f"{MODIFIED_ON} gt {odata_time(since - SALES_OVERLAP)}")
            self._edits = self._sales_rows(columns, [" and ".join(f"({c})" for c in conditions if c)])
        missing = [i for i in retried if str(i).lower() not in self._edits.index]
        if not missing:
            return self._edits
        conditions = [any_of(t.key, part, guid=True) for part in chunked(missing, MAX_OR_VALUES)]
        return pd.concat([self._edits, self._sales_rows(columns, conditions)])

    def _sales_rows(self, columns: list[str], conditions: list[str]) -> pd.DataFrame:
        t = self.mapping.target
        rows = [
            r
            for condition in conditions
            for page in self.dataverse.iter_pages(t.entity_set, select=columns, filter=condition)
            for r in page
        ]
        frame = pd.DataFrame(rows, columns=columns)
        return frame.assign(target_id=frame[t.key].astype(str).str.lower()).set_index("target_id")

    def _resolve_conflicts(
        self, frame: pd.DataFrame, result: TransformResult, sales_now: pd.DataFrame, changes: Changes
    ) -> TransformResult:
        """Records changed in Sales too since their last synchronization whose two-way columns would
        change: failed, left to the Sales -> BC pass, or written, as the mapping's policy says."""
        m = self.mapping
        both_way = sorted(cf.both_way_columns(m, "sales"))
        synced = frame.set_index("bc_id")["crm_modified_at"]
        failed, skipped = [], set()
        for row in result.primary.rows.to_dict("records"):
            bc_id, target_id = row["bc_id"], str(row["target_id"]).lower()
            if target_id not in sales_now.index or not frame.loc[frame["bc_id"] == bc_id, "existing"].any():
                continue
            now = sales_now.loc[target_id]
            if not cf.sales_changed(
                pd.Series([now[MODIFIED_ON]]),
                pd.Series([synced.get(bc_id)]),
                pd.Series([now[MODIFIED_BY]]),
                self.dataverse.user_id,
            )[0]:
                continue
            clash = cf.differing(row, now.to_dict(), both_way)
            if not clash:
                continue
            decision = cf.resolve(m.conflict_policy, TO_CRM)
            if decision == cf.FAIL:
                what = f"{m.options.get('from_crm_label', 'record').capitalize()} {bc_id}"
                failed.append({"bc_id": bc_id, "field": clash[0], "message": cf.conflict_message(what, clash, m)})
            elif decision == cf.SKIP:
                skipped.add(bc_id)
            else:
                self._rewind.add(bc_id)
        if not failed and not skipped:
            return result
        changes.counts["skipped"] += len(skipped)
        kept = c.drop_records(result, {f["bc_id"] for f in failed} | skipped)
        errors = pd.DataFrame(failed, columns=["bc_id", "field", "message"])
        return dataclasses.replace(kept, errors=pd.concat([kept.errors, errors], ignore_index=True))

    def _rewound(self, bc_id: str, modified_on: str | None):
        """The Sales row's modified time to keep; moved back after a conflict BC won, so the next
        Sales -> BC pass still carries the row's one-way changes (BC's rule)."""
        if modified_on is None or bc_id not in self._rewind:
            return modified_on
        return pd.Timestamp(modified_on) - cf.REWIND[TO_CRM]

    # -- helpers ----------------------------------------------------------------------------

    def _couple_only(self, frame: pd.DataFrame, result: TransformResult, changes: Changes) -> Changes:
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
        newly = int(matched["crm_id"].isna().sum())
        changes.counts["unchanged"] += len(matched) - newly
        changes.counts["modified"] += newly
        self._frame = frame.set_index("bc_id")
        if not matched.empty:
            changes.successes = self._successes(matched["bc_id"].tolist(), matched["target_id"].tolist(), None)
        changes.failures = self._failures(errors.assign(crm_id=None))
        return changes

    def _successes(
        self, bc_ids: list[str], crm_ids: list[str], extra: list[dict] | None, crm_modified: list | None = None
    ) -> pd.DataFrame:
        """Synced records; the Sales modified time only when a write returned it (else the stored one stays)."""
        rows = pd.DataFrame(
            {
                "bc_id": bc_ids,
                "crm_id": crm_ids,
                "bc_modified_at": pd.to_datetime(
                    self._frame.loc[bc_ids, self.mapping.source.modified], utc=True
                ).tolist(),
                "crm_modified_at": pd.to_datetime(
                    pd.Series(crm_modified if crm_modified is not None else [None] * len(bc_ids), dtype=object),
                    utc=True,
                ).tolist(),
            }
        )
        if extra is not None:
            rows["extra"] = extra
        return rows

    def _failures(self, errors: pd.DataFrame) -> pd.DataFrame | None:
        """Errors with the Sales id of each record's coupling (when it has one)."""
        if errors.empty:
            return None
        by_id = self._frame
        crm = by_id["crm_id"] if "crm_id" in by_id else pd.Series(dtype=object)
        errors = errors.drop_duplicates("bc_id").copy()
        if "crm_id" not in errors or errors["crm_id"].isna().all():
            errors["crm_id"] = errors["bc_id"].map(
                lambda i: crm.get(i) if i in crm.index and pd.notna(crm.get(i)) else None
            )
        return errors

    def _load_index(self, run: JobRun) -> None:
        """Existing Sales rows of this mapping (id and match columns) and the ones already coupled,
        read once per run."""
        if self._index is not None:
            return
        t = self.mapping.target
        rows: list[dict] = []
        for page in self.dataverse.iter_pages(t.entity_set, select=[t.key, *t.match_on], filter=t.filter):
            rows.extend(page)
        self._index = c.target_index(rows, t.key, t.match_on)
        if not self._index.empty:
            coupled = run.state.couplings(self.name)
            self._taken = set(coupled["crm_id"].dropna().astype(str))
