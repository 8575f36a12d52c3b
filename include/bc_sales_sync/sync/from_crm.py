"""The Sales → Business Central direction of a mapping, on the job skeleton (BC's CRM → NAV pass,
facts §4; loop prevention §6, conflicts and deletions §5).

read (Sales rows modified after the watermark less 999 ms, failed rows first, the integration
user's own changes left out where BC leaves them out) → plan (coupled rows changed since their
last synchronization, with their BC records as they are now) → transform (the mapping's reverse
transform with the lookups it names, what differs, update conflicts by the mapping's policy) → write (BC ``PATCH`` with the
record's ETag, so a concurrent BC edit fails that record instead of being lost) → record.

Only coupled rows are written: a Sales row becomes a BC record through a coupling (BC's "Synch.
Only Coupled Records"). A coupled record deleted in BC is a deletion conflict for the operator,
never re-created on its own.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pandas as pd

from include.bc_sales_sync.hooks.business_central import BcBatchRequest
from include.bc_sales_sync.jobs import FAILURE_COLUMNS, SALES_OVERLAP, Changes, Chunk, Job, JobRun, Outcome
from include.bc_sales_sync.mappings import Mapping
from include.bc_sales_sync.odata import MAX_OR_VALUES, any_of, chunked, id_literal
from include.bc_sales_sync.state import FROM_CRM
from include.bc_sales_sync.sync import conflicts as cf
from include.bc_sales_sync.sync.lookups import Lookups
from include.bc_sales_sync.sync.prerequisites import ensure
from include.bc_sales_sync.transforms.base import TransformContext, load_function

log = logging.getLogger(__name__)

MODIFIED_ON, MODIFIED_BY = "modifiedon", "_modifiedby_value"
# BC reads Sales rows modified after its filter less 999 ms (facts §4).
OVERLAP = SALES_OVERLAP


@dataclass
class Planned:
    """Changed, coupled Sales rows with their BC records, and the coupled records gone from BC."""

    frame: pd.DataFrame
    counts: Counter
    deleted: pd.DataFrame

    def __bool__(self) -> bool:
        return not self.frame.empty or not self.deleted.empty


@dataclass
class Patches:
    """The BC writes of a chunk and the deletion conflicts to mark."""

    patches: list[dict] = field(default_factory=list)
    deleted: pd.DataFrame | None = None

    def __bool__(self) -> bool:
        return bool(self.patches) or (self.deleted is not None and not self.deleted.empty)


class SalesToBcJob(Job):
    """Synchronizes one mapping from Sales to Business Central.

    :param mapping: a mapping whose direction includes ``from_crm`` and that has a ``write_back``.
    :param bc: a :class:`~include.bc_sales_sync.hooks.BusinessCentralHook`.
    :param dataverse: a :class:`~include.bc_sales_sync.hooks.DataverseHook`.
    """

    direction = FROM_CRM

    def __init__(self, mapping: Mapping, bc, dataverse):
        if not mapping.syncs_from_crm:
            raise ValueError(f"Mapping {mapping.name} does not synchronize Sales -> Business Central.")
        self.mapping = mapping
        self.name = mapping.name
        self.bc = bc
        self.dataverse = dataverse
        self.reverse = load_function(mapping.reverse_transform)
        self.what = "Sales -> Business Central"
        self.context = TransformContext(mapping)

    def prepare(self, run: JobRun) -> None:
        """Load the lookups the reverse transform needs (option ``from_crm_lookups``), once per run."""
        names = tuple(self.mapping.options.get("from_crm_lookups", ()))
        if not names:
            return
        lookups = Lookups(self.bc, self.dataverse, state=run.state, options=self.mapping.options)
        ensure(lookups, names, dry_run=run.dry_run)
        frames, constants = lookups.frames_and_constants(names)
        self.context = TransformContext(self.mapping, frames, constants)

    # -- read -----------------------------------------------------------------------------------

    def read(self, run: JobRun) -> Iterator[Chunk]:
        m = self.mapping
        retried = run.state.failed_not_skipped(m.name, direction=FROM_CRM)["crm_id"].dropna().tolist()
        for part in chunked(retried, MAX_OR_VALUES):
            for frame in self._pages(any_of(m.target.key, part, guid=True), ordered=False, run=run):
                yield Chunk(frame, len(frame))
        done = set(retried)
        conditions = [run.window.odata_filter(MODIFIED_ON)]
        if m.excludes_own_changes and not run.options.full_sync:
            # BC's loop prevention: the integration user's own writes are not changes to bring back.
            conditions.append(f"{MODIFIED_BY} ne {self._integration_user()}")
        for frame in self._pages(" and ".join(c for c in conditions if c) or None, ordered=True, run=run):
            newest = pd.to_datetime(frame[MODIFIED_ON], utc=True, errors="coerce").max()
            yield Chunk(frame[~frame["crm_id"].isin(done)], len(frame), None if pd.isna(newest) else newest)

    def _pages(self, condition: str | None, *, ordered: bool, run: JobRun) -> Iterator[pd.DataFrame]:
        t = self.mapping.target
        row_filter = self.mapping.options.get("from_crm_filter", t.filter)
        filters = [f"({f})" for f in (row_filter, condition) if f]
        columns = [t.key, MODIFIED_ON, MODIFIED_BY, *self.sales_columns]
        for page in self.dataverse.iter_pages(
            t.entity_set,
            select=list(dict.fromkeys(columns)),
            filter=" and ".join(filters) or None,
            orderby=[MODIFIED_ON, t.key] if ordered else None,
            page_size=run.options.page_size,
        ):
            if page:
                frame = pd.DataFrame(page)
                frame["crm_id"] = frame[t.key].astype(str).str.lower()
                yield frame

    @property
    def sales_columns(self) -> list[str]:
        return [f.target for f in self.mapping.from_crm_fields] + list(self.mapping.options.get("from_crm_columns", ()))

    def _integration_user(self) -> str:
        return self.dataverse.user_id

    # -- plan -----------------------------------------------------------------------------------

    def plan(self, chunk: Chunk, run: JobRun) -> Planned:
        frame, counts = chunk.records, Counter()
        empty = pd.DataFrame(columns=FAILURE_COLUMNS)
        if frame.empty:
            return Planned(frame, counts, empty)
        couplings = run.state.couplings(self.name, crm_ids=frame["crm_id"].tolist())
        frame = frame.merge(couplings, on="crm_id", how="left", suffixes=("", "_coupling"))
        uncoupled = frame["bc_id"].isna()
        waiting = frame["skipped"].fillna(False).astype(bool) | frame["deleted_side"].notna()
        counts["skipped"] += int((uncoupled | waiting).sum())
        if uncoupled.any():
            log.info("%s: %d Sales rows are not coupled to a BC record; left alone.", self.name, int(uncoupled.sum()))
        frame = frame[~uncoupled & ~waiting]
        retry = frame["from_crm_result"].eq("failure").to_numpy()
        changed = retry | cf.sales_changed(
            frame[MODIFIED_ON], frame["crm_modified_at"], frame[MODIFIED_BY], self._integration_user()
        )
        if not run.options.full_sync:
            counts["unchanged"] += int((~changed).sum())
            frame = frame[changed]
        if frame.empty:
            return Planned(frame, counts, empty)
        current = self._bc_records(frame["bc_id"].tolist())
        gone = frame[~frame["bc_id"].isin(current["bc_id"])]
        # Restored by the operator after a deletion in BC (no result, no BC time): re-created from Sales.
        restored = gone["from_crm_result"].isna() & gone["bc_modified_at"].isna()
        recreate, gone = gone[restored].assign(recreate=True), gone[~restored]
        deleted = pd.DataFrame(
            {
                "bc_id": gone["bc_id"],
                "crm_id": gone["crm_id"],
                "field": None,
                "message": [self._deleted_message(i) for i in gone["crm_id"]],
            }
        )
        frame = pd.concat(
            [frame.merge(current, on="bc_id", how="inner").assign(recreate=False), recreate], ignore_index=True
        )
        return Planned(frame, counts, deleted)

    def _bc_records(self, bc_ids: list[str]) -> pd.DataFrame:
        """The coupled BC records as they are now, by source field name, with their ETag."""
        wb, m = self.mapping.write_back, self.mapping
        names = {wb.name_of(s): s for s in self.bc_fields}
        label = "number" if not wb.web_service else wb.key  # what the messages call the record by
        select = list(dict.fromkeys([wb.id_field, wb.key, wb.modified, label, *names]))
        rows: list[dict] = []
        for part in chunked(bc_ids, MAX_OR_VALUES):
            condition = " or ".join(f"{wb.id_field} eq {id_literal(i)}" for i in part)
            for page in self.bc.iter_pages(
                wb.entity_set, filter=condition, select=select, web_service=wb.web_service, page_size=MAX_OR_VALUES
            ):
                rows.extend(page)
        frame = pd.DataFrame(rows, columns=[*select, "@odata.etag"]).rename(columns=names)
        frame["bc_id"] = frame[wb.id_field].astype(str).str.lower()
        frame["bc_label"] = frame[label].astype(str)
        frame = frame.rename(columns={"@odata.etag": "etag", wb.modified: "bc_modified_now", wb.key: "bc_key"})
        if wb.key == wb.id_field:
            frame["bc_key"] = frame["bc_id"]
        log.debug("%s: read %d coupled BC records of %d.", m.name, len(frame), len(bc_ids))
        return frame

    @property
    def bc_fields(self) -> list[str]:
        return [f.source for f in self.mapping.from_crm_fields] + list(
            self.mapping.options.get("from_crm_bc_fields", ())
        )

    # -- transform ------------------------------------------------------------------------------

    def transform(self, planned: Planned, run: JobRun) -> Changes:
        m, frame = self.mapping, planned.frame
        changes = Changes(counts=planned.counts, writes=Patches(deleted=planned.deleted))
        changes.counts["failed"] += len(planned.deleted)  # marked as deletion conflicts by write()
        if frame.empty:
            return changes
        sales = frame[["bc_id", "crm_id", *self.sales_columns]]
        bc_now = frame[["bc_id", *[c for c in [*self.bc_fields, "bc_label"] if c in frame]]]
        result = self.reverse(sales, bc_now, m, self.context)
        rejected = set(result.errors["bc_id"])
        both_way = cf.both_way_columns(m, "bc")
        policy = m.conflict_policy
        unchanged, failures = [], [result.errors.assign(crm_id=result.errors["bc_id"].map(_index(frame, "crm_id")))]
        by_id = frame.set_index("bc_id")
        for wanted in result.values.to_dict("records"):
            bc_id = wanted.pop("bc_id")
            if bc_id in rejected:
                continue
            row = by_id.loc[bc_id]
            if row["recreate"]:
                changes.writes.patches.append(self._creation(bc_id, row, wanted))
                continue
            diff = cf.differing(wanted, row.to_dict(), wanted)
            if not diff:
                unchanged.append(bc_id)
                continue
            bc_changed = cf.changed_since(pd.Series([row["bc_modified_now"]]), pd.Series([row["bc_modified_at"]]))[0]
            clash = [c for c in diff if c in both_way] if bc_changed else []
            decision = cf.resolve(policy, FROM_CRM) if clash else cf.WRITE
            if decision == cf.FAIL:
                what = f"{m.options.get('from_crm_label', 'record').capitalize()} {_label(row)}"
                failures.append(
                    pd.DataFrame(
                        [
                            {
                                "bc_id": bc_id,
                                "crm_id": row["crm_id"],
                                "field": clash[0],
                                "message": cf.conflict_message(what, clash, m),
                            }
                        ]
                    )
                )
                continue
            if decision == cf.SKIP:
                changes.counts["skipped"] += 1
                continue
            changes.writes.patches.append(
                {
                    "bc_id": bc_id,
                    "crm_id": row["crm_id"],
                    "key": row["bc_key"],
                    "etag": row["etag"] or "*",
                    "body": {m.write_back.name_of(c): wanted[c] for c in diff},
                    "fields": [self._sales_name(c) for c in diff],
                    "crm_modified_at": row[MODIFIED_ON],
                    "rewind": bool(clash),
                    "label": _label(row),
                    "create": False,
                }
            )
        changes.inserts = sum(1 for p in changes.writes.patches if p["create"])
        changes.updates = len(changes.writes.patches) - changes.inserts
        changes.counts["unchanged"] += len(unchanged)
        if unchanged:
            done = by_id.loc[unchanged]
            changes.successes = pd.DataFrame(
                {
                    "bc_id": unchanged,
                    "crm_id": done["crm_id"].tolist(),
                    "bc_modified_at": pd.to_datetime(done["bc_modified_now"], utc=True).tolist(),
                    "crm_modified_at": pd.to_datetime(done[MODIFIED_ON], utc=True).tolist(),
                }
            )
        failures = [f for f in failures if not f.empty]
        changes.failures = pd.concat(failures, ignore_index=True) if failures else None
        return changes

    def _creation(self, bc_id: str, row: pd.Series, wanted: dict) -> dict:
        """A BC record to create again from its Sales row, under its old number where the mapping
        knows it (``from_crm_number``: the Sales column holding it), so a retry cannot make two."""
        wb = self.mapping.write_back
        body = {wb.name_of(c): v for c, v in wanted.items() if v is not None and v != ""}
        number = self.mapping.options.get("from_crm_number")
        if number and isinstance(row.get(number), str) and row[number]:
            body["number"] = row[number]
        return {
            "bc_id": bc_id,
            "crm_id": row["crm_id"],
            "key": None,
            "etag": None,
            "body": body,
            "crm_modified_at": row[MODIFIED_ON],
            "rewind": False,
            "label": body.get("number", row["crm_id"]),
            "create": True,
        }

    # -- write ----------------------------------------------------------------------------------

    def write(self, changes: Changes, run: JobRun) -> Outcome:
        plan: Patches = changes.writes
        wb = self.mapping.write_back
        successes, failures, gone, moved = [], [], [], {}
        if plan.deleted is not None and not plan.deleted.empty:
            gone.append(plan.deleted)
        for patch, status, body, message in self._send(plan.patches):
            if 200 <= status < 300:
                modified = pd.Timestamp(body.get(wb.modified)) if body.get(wb.modified) else None
                if modified is not None and patch["rewind"]:
                    modified -= cf.REWIND[FROM_CRM]  # the next BC -> Sales pass carries BC's one-way changes
                if patch["create"]:  # the re-created record has a new SystemId: the coupling follows it
                    moved[patch["bc_id"]] = patch["bc_id"] = str(body[wb.id_field]).lower()
                successes.append(
                    {
                        "bc_id": patch["bc_id"],
                        "crm_id": patch["crm_id"],
                        "bc_modified_at": modified,
                        "crm_modified_at": pd.Timestamp(patch["crm_modified_at"]),
                    }
                )
            elif status == 404:
                gone.append(
                    pd.DataFrame([{**_ids(patch), "field": None, "message": self._deleted_message(patch["crm_id"])}])
                )
            else:
                field = ", ".join(patch.get("fields") or ()) or None
                failures.append({**_ids(patch), "field": field, "message": self._refused(patch, status, message)})
        if moved:
            run.state.rekey(self.name, {old: new for old, new in moved.items()})
        if gone:
            run.state.mark_deleted(self.name, run.job_id, pd.concat(gone, ignore_index=True), side="bc")
        frame = pd.DataFrame(successes, columns=["bc_id", "crm_id", "bc_modified_at", "crm_modified_at"])
        found_gone = sum(len(g) for g in gone) - (0 if plan.deleted is None else len(plan.deleted))
        return Outcome(
            successes=frame if not frame.empty else None,
            failures=pd.DataFrame(failures, columns=FAILURE_COLUMNS) if failures else None,
            inserted=len(moved),
            modified=len(successes) - len(moved),
            counts=Counter(failed=found_gone),  # those found in plan() are counted already
        )

    def _send(self, patches: list[dict]) -> Iterator[tuple[dict, int, dict, str | None]]:
        wb = self.mapping.write_back
        if not wb.web_service:
            requests = [
                BcBatchRequest("POST", wb.entity_set, p["body"])
                if p["create"]
                else BcBatchRequest("PATCH", f"{wb.entity_set}({p['key']})", p["body"], {"If-Match": p["etag"]})
                for p in patches
            ]
            for patch, response in zip(patches, self.bc.batch(requests), strict=True):
                yield patch, response.status, response.body or {}, response.error_message
            return
        from include.bc_sales_sync.hooks.exceptions import DynamicsApiError

        for patch in patches:  # a web service has no $batch: one request per record
            try:
                if patch["create"]:
                    body = self.bc.create(wb.entity_set, patch["body"], web_service=True)
                else:
                    body = self.bc.update(wb.entity_set, patch["key"], patch["body"], patch["etag"], web_service=True)
            except DynamicsApiError as exc:
                yield patch, exc.status or 500, {}, exc.service_message or exc.message
            else:
                yield patch, 200, body, None

    # -- messages -------------------------------------------------------------------------------

    def _deleted_message(self, crm_id: str) -> str:
        m = self.mapping
        return (
            f"The {m.target.entity_set} row {crm_id} in Sales cannot be synchronized because it is coupled to a "
            "deleted record in Business Central. Restore it (python -m include.bc_sales_sync.state restore-deleted "
            f"--mapping '{m.name}' <bc id>) or remove the coupling (remove-coupling)."
        )

    def _sales_name(self, bc_field: str) -> str:
        """The Sales column a BC field is written from (the BC name for fields set by rule)."""
        return next((f.target for f in self.mapping.from_crm_fields if f.source == bc_field), bc_field)

    def _refused(self, patch: dict, status: int, message: str | None) -> str:
        what = f"{self.mapping.options.get('from_crm_label', 'record')} {patch['label']}"
        if status == 412:
            return (
                f"Business Central's {what} changed while it was being synchronized from Sales; "
                "nothing was overwritten. It is retried on the next run."
            )
        fields = ", ".join(patch.get("fields") or patch["body"])
        return (
            f"Business Central refused the change to {what} from Sales ({fields}): "
            f"{message or f'HTTP {status}'} Correct the value in Sales; the record is retried on the next run."
        )


def _index(frame: pd.DataFrame, column: str) -> dict:
    return dict(zip(frame["bc_id"], frame[column], strict=True))


def _ids(patch: dict) -> dict:
    return {"bc_id": patch["bc_id"], "crm_id": patch["crm_id"]}


def _label(row: pd.Series) -> str:
    label = row.get("bc_label")
    return label if isinstance(label, str) and label else str(row.name)
