"""BC's invoice payment status job (facts §9, §11): the state of coupled Sales invoices from their
customer ledger entries, on the job skeleton.

Remaining amount 0: Paid / Complete; part paid: Paid / Partial; nothing paid: Active / Billed. An
invoice that is not active is re-activated first (Sales only lets a paid invoice go back to
active). The rule is the one POSTEDSALESINV-INV writes with the invoice itself
(:func:`~include.bc_sales_sync.transforms.invoices.invoice_state`); this job keeps it current when
only a payment changed, for the entries that changed since its last run.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd

from include.bc_sales_sync.jobs import Changes, Chunk, JobRun, Outcome
from include.bc_sales_sync.odata import MAX_OR_VALUES, any_of, between, chunked
from include.bc_sales_sync.statistics import base
from include.bc_sales_sync.statistics import figures as f
from include.bc_sales_sync.statistics.base import INVOICE_MAPPING, PAYMENT_STATUS, StatisticsJob, failures
from include.bc_sales_sync.statistics.sources import ENTRIES, newest_of
from include.bc_sales_sync.transforms.invoices import REOPEN, STATE_ACTIVE, STATUS_BILLED, invoice_state

log = logging.getLogger(__name__)

SELECT = ["Entry_No", "Document_No", "Customer_No", "Amount", "Remaining_Amount", "SystemModifiedAt"]
INVOICES = "Document_Type eq 'Invoice'"
INVOICE_COLUMNS = ["invoiceid", "invoicenumber", "statecode", "statuscode"]


@dataclass
class _StatusWrite:
    number: str
    invoice_id: str
    state: int
    status: int
    current_state: int
    modified: Any
    error: str | None = None


@dataclass
class _Entries:
    """Invoice entries read from BC, with their Sales invoices when already looked up."""

    entries: pd.DataFrame
    invoices: pd.DataFrame | None = None  # None: look them up by number


@dataclass
class _Planned:
    merged: pd.DataFrame
    gone: pd.DataFrame
    counts: Counter

    def __bool__(self) -> bool:
        return not (self.merged.empty and self.gone.empty)


class InvoicePaymentStatusJob(StatisticsJob):
    """Sets the state of coupled Sales invoices from their customer ledger entries."""

    name = PAYMENT_STATUS
    what = "Updated payment status of sales invoices"

    def read(self, run: JobRun) -> Iterator[Chunk]:
        o = self.options
        coupled = self.lookups.couplings(INVOICE_MAPPING)
        self.coupled = set(base.lower(coupled["crm_id"]))
        self.skipped = set(self.state.skipped(PAYMENT_STATUS)["bc_id"])
        self.retry = set(self.state.failed_not_skipped(PAYMENT_STATUS)["bc_id"])
        self.done: set[str] = set()  # invoice numbers handled by this run (retried ones may change again)
        self.changed: list[pd.DataFrame] = []
        if o.customers:
            for part in chunked(base.numbers(o.customers), MAX_OR_VALUES):
                for page in self.reader.pages(ENTRIES, SELECT, f"{INVOICES} and {any_of('Customer_No', part)}"):
                    yield Chunk(_Entries(page))
        elif run.window.start is None:
            yield from self._everything()
        else:
            for part in chunked(sorted(self.retry), MAX_OR_VALUES):
                for page in self.reader.pages(ENTRIES, SELECT, f"{INVOICES} and {any_of('Document_No', part)}"):
                    yield Chunk(_Entries(page))
            for page in self.reader.changed(ENTRIES, SELECT, run.window.start, INVOICES):
                self.changed.append(page[["SystemModifiedAt"]])
                yield Chunk(_Entries(page))

    def finish(self, run: JobRun) -> pd.Timestamp | None:
        return newest_of(self.changed)

    def _everything(self) -> Iterator[Chunk]:
        """Every coupled invoice: page through the Sales invoices, reading their entries by number range."""
        first = self.reader.newest(ENTRIES)
        if first is not None:
            self.changed.append(pd.DataFrame({"SystemModifiedAt": [first]}))
        for page in self.dataverse.iter_pages("invoices", select=INVOICE_COLUMNS, orderby="invoicenumber"):
            invoices = pd.DataFrame(page, columns=INVOICE_COLUMNS)
            invoices = invoices[invoices["invoiceid"].astype(str).str.lower().isin(self.coupled)]
            invoices = invoices[invoices["invoicenumber"].notna()]
            if invoices.empty:
                continue
            numbers = sorted(invoices["invoicenumber"].astype(str))
            in_range = f"{INVOICES} and {between('Document_No', numbers[0], numbers[-1])}"
            entries = list(self.reader.pages(ENTRIES, SELECT, in_range))
            # Numbers the range missed (another collation on one side): read them by name.
            found = f.customers_in(entries, "Document_No")
            rest = [n for n in numbers if n.upper() not in found]
            for part in chunked(rest, MAX_OR_VALUES):
                entries += list(self.reader.pages(ENTRIES, SELECT, f"{INVOICES} and {any_of('Document_No', part)}"))
            if entries:
                yield Chunk(_Entries(pd.concat(entries, ignore_index=True), invoices))

    def plan(self, chunk: Chunk, run: JobRun) -> _Planned:
        """Each entry with its coupled Sales invoice (looked up by number when not given)."""
        entries, invoices = chunk.records.entries, chunk.records.invoices
        all_looked_up = invoices is None
        entries = entries.assign(number=entries["Document_No"].astype(str).str.upper())
        entries = entries[~entries["number"].isin(self.done)]
        counts: Counter = Counter()
        if entries.empty:
            return _Planned(pd.DataFrame(), pd.DataFrame(), counts)
        if invoices is None:
            invoices = self._invoices(sorted(set(entries["Document_No"].dropna().astype(str))))
        entries = entries.sort_values("Entry_No").drop_duplicates("number", keep="last")
        self.done.update(entries["number"])
        skipped = entries["Document_No"].isin(self.skipped)
        counts["skipped"] += int(skipped.sum())
        merged = entries[~skipped].merge(
            invoices.assign(number=invoices["invoicenumber"].astype(str).str.upper()), on="number", how="inner"
        )
        merged = merged.drop_duplicates("number")
        chunk.size = len(merged)
        gone = pd.DataFrame()
        if all_looked_up:
            lost = entries[~skipped & ~entries["number"].isin(set(merged["number"]))]
            gone = lost[lost["Document_No"].isin(self.retry)]
        return _Planned(merged, gone, counts)

    def transform(self, planned: _Planned, run: JobRun) -> Changes:
        """Compare each entry's state with its Sales invoice's; the ones that differ are written."""
        changes = Changes(counts=planned.counts)
        changes.failures = self._gone(planned.gone)
        merged = planned.merged
        if merged.empty:
            return changes
        remaining = pd.to_numeric(merged["Remaining_Amount"], errors="coerce").fillna(0.0)
        amount = pd.to_numeric(merged["Amount"], errors="coerce").fillna(0.0)
        state, status = invoice_state(remaining, amount)
        current_state = pd.to_numeric(merged["statecode"], errors="coerce").fillna(-1).astype(int)
        current_status = pd.to_numeric(merged["statuscode"], errors="coerce").fillna(-1).astype(int)
        same = (current_state == state) & (current_status == status)
        changes.counts["unchanged"] += int(same.sum())
        writes = [
            _StatusWrite(str(r.Document_No), str(r.invoiceid), int(s), int(st), int(cs), r.SystemModifiedAt)
            for r, s, st, cs in zip(merged.itertuples(), state, status, current_state, strict=True)
        ]
        # Invoices already right need no write; one that failed last time is recorded as fine now.
        cleared = [w for w, ok in zip(writes, same, strict=True) if ok and w.number in self.retry]
        changes.successes = _successes(cleared)
        changes.writes = [w for w, ok in zip(writes, same, strict=True) if not ok]
        changes.updates = len(changes.writes)
        return changes

    def write(self, changes: Changes, run: JobRun) -> Outcome:
        writes: list[_StatusWrite] = changes.writes
        self._send(writes)
        done = [w for w in writes if w.error is None]
        failed = [w for w in writes if w.error is not None]
        return Outcome(
            successes=_successes(done),
            failures=failures(
                [
                    {
                        "bc_id": w.number,
                        "crm_id": w.invoice_id,
                        "field": "statecode",
                        "message": f"Invoice {w.number}: {w.error}",
                    }
                    for w in failed
                ]
            ),
            modified=len(done),
        )

    def _invoices(self, numbers: list[str]) -> pd.DataFrame:
        """The coupled Sales invoices with these numbers."""
        found = []
        for part in chunked(numbers, MAX_OR_VALUES):
            for page in self.dataverse.iter_pages(
                "invoices", select=INVOICE_COLUMNS, filter=any_of("invoicenumber", part)
            ):
                found.append(pd.DataFrame(page, columns=INVOICE_COLUMNS))
        invoices = pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=INVOICE_COLUMNS)
        return invoices[invoices["invoiceid"].astype(str).str.lower().isin(self.coupled)]

    def _gone(self, lost: pd.DataFrame) -> pd.DataFrame | None:
        """Invoices that failed last time and now have no coupled Sales invoice: they fail again (and so
        end up skipped) instead of being looked for on every run."""
        if lost.empty:
            return None
        return pd.DataFrame(
            {
                "bc_id": lost["Document_No"].astype(str),
                "crm_id": None,
                "field": "invoicenumber",
                "message": "Invoice "
                + lost["Document_No"].astype(str)
                + ": no coupled Sales invoice has this number any more (deleted in Sales, or uncoupled); run "
                "POSTEDSALESINV-INV to send it again. After the same error twice it is skipped.",
            }
        )

    def _send(self, writes: list[_StatusWrite]) -> None:
        """Re-activate the invoices that are not active, then set the new state (two batches: the
        second only for invoices whose re-activation went through)."""
        from include.bc_sales_sync.hooks.dataverse import BatchOperation

        def op(w: _StatusWrite, body: dict) -> BatchOperation:
            return BatchOperation(
                "PATCH", entity_set="invoices", key=w.invoice_id, body=body, headers={"If-Match": "*"}
            )

        first = [w for w in writes if w.current_state != STATE_ACTIVE]
        for w, result in zip(first, self.dataverse.batch([op(w, dict(REOPEN)) for w in first]), strict=True):
            if not result.ok:
                w.error = "Re-activating the invoice before changing its state failed: " + base.describe_result(
                    "invoices", w.invoice_id, result
                )
        # An invoice re-activated to Active / Billed is done; the others get their new state now.
        second = [
            w
            for w in writes
            if w.error is None
            and not (w.current_state != STATE_ACTIVE and (w.state, w.status) == (STATE_ACTIVE, STATUS_BILLED))
        ]
        bodies = [op(w, {"statecode": w.state, "statuscode": w.status}) for w in second]
        for w, result in zip(second, self.dataverse.batch(bodies), strict=True):
            if not result.ok:
                w.error = base.describe_result("invoices", w.invoice_id, result)


def _successes(writes: list[_StatusWrite]) -> pd.DataFrame | None:
    if not writes:
        return None
    return pd.DataFrame(
        {
            "bc_id": [w.number for w in writes],
            "crm_id": [w.invoice_id for w in writes],
            "bc_modified_at": pd.to_datetime([w.modified for w in writes], utc=True, errors="coerce"),
            "crm_modified_at": base.now(),
            "extra": [{"statecode": w.state, "statuscode": w.status} for w in writes],
        }
    )
