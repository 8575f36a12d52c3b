"""BC's customer statistics job (facts §9): account statistics, then the payment status of invoices.

:class:`AccountStatisticsJob` keeps one ``nav_accountstatistics`` row per coupled customer, linked
from its account. The first run uploads every coupled customer; later runs refresh only the
customers whose Business Central data changed since the last run (the customer, its ledger
entries, its sales lines; and those with an open entry that fell due since the last work date),
plus customers coupled since, and those that failed last time. A customer whose figures are what
was last written costs no write.

:class:`InvoicePaymentStatusJob` sets the state of coupled Sales invoices from the remaining amount
of their customer ledger entry (Billed / Paid partial / Paid complete), for the entries that
changed since its last run.

Both log a sync job with counters and per-record errors in the state store, as the sync jobs do,
and hold a lock so that two runs never overlap. Customers are processed in groups (the page of
customers being read, or a short list), each written through ``$batch`` and recorded before the
next group is read.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from include.bc_sales_sync.jobs import COUNTERS, RunSummary
from include.bc_sales_sync.statistics import figures as f
from include.bc_sales_sync.statistics.sources import (
    CUSTOMERS,
    ENTRIES,
    LINES,
    OR_LIMIT,
    Customers,
    Reader,
    any_of,
    between,
    chunks,
    newest_of,
)
from include.bc_sales_sync.sync.lookups import Lookups
from include.bc_sales_sync.sync.prerequisites import ensure
from include.bc_sales_sync.transforms.base import deterministic_id
from include.bc_sales_sync.transforms.invoices import REOPEN, STATE_ACTIVE, STATUS_BILLED, invoice_state

log = logging.getLogger(__name__)

STATISTICS = "CUSTOMER STATISTICS"
PAYMENT_STATUS = "INVOICE PAYMENT STATUS"
# The work date of the last scheduled run, kept as a watermark of its own (midnight UTC).
WORK_DATE = "CUSTOMER STATISTICS/work date"
CUSTOMER_MAPPING = "CUSTOMER"
INVOICE_MAPPING = "POSTEDSALESINV-INV"
# More customers to refresh than this: page through every customer (keeping the ones wanted)
# rather than listing them in filters.
LIST_LIMIT = 200
DEFAULT_OVERLAP = dt.timedelta(seconds=2)


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
class _Write:
    """One customer's statistics write."""

    bc_id: str
    number: str
    label: str
    account_id: str
    stats_id: str | None
    existing: bool  # its statistics row was uploaded and linked to this account before
    body: dict
    digest: str
    modified: Any
    needs_link: bool = False
    error: str | None = None
    error_field: str | None = None
    verify: bool = False  # unchanged by the record of the last write; compared with Sales itself


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _lower(values: Iterable[Any]) -> list[str]:
    return [str(v).lower() for v in values if isinstance(v, str) and v]


def _numbers(values: Iterable[Any]) -> list[str]:
    return [str(v).strip().upper() for v in values if isinstance(v, str) and v.strip()]


def _label(number: str, name: Any) -> str:
    name = str(name).strip() if isinstance(name, str) else ""
    return f"Customer {number}" + (f" ({name})" if name else "")


def _describe(entity: str, key: str, result: Any) -> str:
    code = f" ({result.error_code})" if getattr(result, "error_code", None) else ""
    message = getattr(result, "error_message", None) or f"HTTP {result.status}"
    return f"Writing {entity}({key}) failed with HTTP {result.status}{code}: {message}"


def _same(column: str, written: Any, found: Any) -> bool:
    """A value to write against the value Sales holds (money to the cent; the date by day)."""
    if isinstance(written, float):
        return isinstance(found, int | float) and abs(written - found) < 0.005
    if column == "nav_overdueamountsasof":
        return isinstance(found, str) and found[:10] == written
    return written == found or (written in (None, "") and found in (None, ""))


def _finish_message(counts: Counter, what: str) -> str:
    return f"{what}: " + ", ".join(f"{counts.get(k, 0)} {k}" for k in COUNTERS)


class _Job:
    """What both jobs share: options, hooks, the state store, the summary and the lock."""

    name = ""
    what = ""

    def __init__(self, bc, dataverse, state, options: StatisticsOptions | None = None):
        self.bc = bc
        self.dataverse = dataverse
        self.state = state
        self.options = options or StatisticsOptions()
        self.reader = Reader(bc, self.options.page_size)
        self.lookups = Lookups(bc, dataverse, state=state)
        self.counts: Counter = Counter()
        self.job_id: str | None = None
        self._lock = None

    def run(self) -> RunSummary:
        o = self.options
        started = _now()
        holder = o.run_id or f"manual@{started.isoformat()}"
        since = None if (o.full_refresh or o.customers) else self.state.watermark(self.name)
        with self.state.lock(self.name, holder) as lock:
            self._lock = lock
            self.job_id = self.state.start_job(
                self.name, run_id=o.run_id, dag_id=o.dag_id, task_id=o.task_id, window_start=since
            )
            summary = RunSummary(self.name, self.job_id, self._describe_run(since), False, self.counts)
            try:
                summary.watermark = self._run(started, since, summary)
            except BaseException:
                self.state.finish_job(
                    self.job_id, status="failed", message="The run stopped with an error; see the task log."
                )
                raise
            summary.pages = self.reader.requests
            message = _finish_message(self.counts, self.what)
            self.state.finish_job(self.job_id, status="succeeded", message=message)
            log.info("%s: %s.", self.name, message)
            return summary

    def _describe_run(self, since: dt.datetime | None) -> str:
        if self.options.customers:
            return "customers " + ", ".join(self.options.customers)
        if since is None:
            return "every coupled record"
        return f"changes since {since.isoformat()}"

    def _run(self, started: dt.datetime, since: dt.datetime | None, summary: RunSummary) -> str | None:
        raise NotImplementedError

    def _add(self, counts: Counter) -> None:
        """Count a group's outcome, durably, and keep the lock for the next group."""
        self.counts.update(counts)
        self.state.add_counts(self.job_id, **{k: int(v) for k, v in counts.items() if k in COUNTERS and v})
        if self._lock is not None:
            self._lock.refresh()

    def _advance(self, newest: pd.Timestamp | None, started: dt.datetime) -> str | None:
        if newest is None or self.options.customers:
            return None
        stored = self.state.advance_watermark(self.name, newest.to_pydatetime(), cap=started)
        return stored.isoformat() if stored else None


class AccountStatisticsJob(_Job):
    """Writes each coupled customer's figures to its account's ``nav_accountstatistics`` row.

    :param bc: a :class:`~include.bc_sales_sync.hooks.BusinessCentralHook`.
    :param dataverse: a :class:`~include.bc_sales_sync.hooks.DataverseHook`.
    :param state: a :class:`~include.bc_sales_sync.state.StateStore`.
    :param options: the run's :class:`StatisticsOptions`.
    """

    name = STATISTICS
    what = "Updated account statistics"

    def _run(self, started: dt.datetime, since: dt.datetime | None, summary: RunSummary) -> str | None:
        o = self.options
        self.work_date = o.work_date or started.date()
        year_start = self.reader.fiscal_year_start()
        self.year = f.fiscal_year(self.work_date, year_start)
        self.currency_id = ensure(self.lookups, ["local_currency"], dry_run=False)["local_currency"]
        coupled = self.lookups.couplings(CUSTOMER_MAPPING)
        self.accounts = dict(zip(coupled["bc_id"].astype(str).str.lower(), coupled["crm_id"].astype(str), strict=True))
        stats = self.state.couplings(STATISTICS)
        stats["bc_id"] = stats["bc_id"].str.lower()
        self.stats = stats.set_index("bc_id")
        self._all_accounts: dict[str, str | None] | None = None
        log.info(
            "%s: work date %s, fiscal year %s to %s; %d coupled customers.",
            STATISTICS,
            self.work_date,
            self.year[0],
            self.year[1],
            len(self.accounts),
        )

        newest: pd.Timestamp | None = None
        if o.customers:
            self._chosen(_numbers(o.customers), summary)
        else:
            last = self.state.watermark(WORK_DATE)
            last_work_date = last.date() if last else None
            new_year = last_work_date is not None and f.fiscal_year(last_work_date, year_start) != self.year
            if since is None or new_year:
                if new_year:
                    log.info("%s: a new fiscal year began since the last run: every customer is refreshed.", STATISTICS)
                # Take the newest change first: whatever changes while this run reads comes after it.
                stamps = [t for t in (self.reader.newest(s) for s in (CUSTOMERS, ENTRIES, LINES)) if t is not None]
                newest = max(stamps) if stamps else None
                self._everyone(None, summary)
            else:
                ids, numbers, newest = self._changes(since - o.overlap, last_work_date)
                ids |= self._not_uploaded()
                if len(ids) + len(numbers) > LIST_LIMIT:
                    self._everyone((ids, numbers), summary)
                else:
                    self._listed(ids, numbers, summary)
            if o.work_date is None:
                self.state.advance_watermark(WORK_DATE, dt.datetime.combine(self.work_date, dt.time(), dt.UTC))
        return self._advance(newest, started)

    # -- which customers ----------------------------------------------------------------------

    def _changes(self, since: dt.datetime, last_work_date: dt.date | None) -> tuple[set[str], set[str], Any]:
        """Customers (ids and numbers) whose BC data changed since ``since``, and the newest change."""
        ids: set[str] = set()
        numbers: set[str] = set()
        newest: list[pd.DataFrame] = []
        for page in self.reader.changed(CUSTOMERS, ["SystemId"], since):
            ids.update(_lower(page["SystemId"]))
            newest.append(page[["SystemModifiedAt"]])
        for page in self.reader.changed(ENTRIES, ["Customer_No"], since):
            numbers |= f.customers_in([page], "Customer_No")
            newest.append(page[["SystemModifiedAt"]])
        for page in self.reader.changed(LINES, ["Sell_to_Customer_No", "Bill_to_Customer_No"], since):
            numbers |= f.customers_in([page], "Sell_to_Customer_No") | f.customers_in([page], "Bill_to_Customer_No")
            newest.append(page[["SystemModifiedAt"]])
        if last_work_date is not None and self.work_date > last_work_date:
            # Overdue amounts grow with time alone: open entries that fell due since the last run.
            due = f"Open eq true and Due_Date ge {last_work_date.isoformat()} and Due_Date lt {self.work_date.isoformat()}"
            for page in self.reader.pages(ENTRIES, ["Customer_No"], due):
                numbers |= f.customers_in([page], "Customer_No")
        log.info(
            "%s: since %s, %d customers changed (by id) and %d have changed entries or lines (by number).",
            STATISTICS,
            since.isoformat(),
            len(ids),
            len(numbers),
        )
        return ids, numbers, newest_of(newest)

    def _not_uploaded(self) -> set[str]:
        """Coupled customers whose statistics were never written, or failed last time (not skipped)."""
        stats = self.stats
        done = set(stats.index[(stats["last_result"] == "success") | stats["skipped"]])
        return {bc_id for bc_id in self.accounts if bc_id not in done}

    def _chosen(self, numbers: list[str], summary: RunSummary) -> None:
        """The customers a user named: refresh those that exist and are coupled."""
        frames = list(self.reader.customers_by_number(numbers)) if numbers else []
        found = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=f.CUSTOMER_FIELDS)
        missing = sorted(set(numbers) - f.customers_in([found], "No"))
        for number in missing:
            log.warning("%s: customer %s does not exist in Business Central; nothing to refresh.", STATISTICS, number)
        self._add(Counter(skipped=len(missing)))
        self._groups_of(found, summary, named=True)

    def _listed(self, ids: set[str], numbers: set[str], summary: RunSummary) -> None:
        """A few customers, read by id and by number."""
        wanted = sorted(i for i in ids if i in self.accounts)
        frames = list(self.reader.customers_by_id(wanted)) if wanted else []
        known = f.customers_in(frames, "No")
        rest = sorted(n for n in numbers if n not in known)
        if rest:
            frames += list(self.reader.customers_by_number(rest))
        found = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=f.CUSTOMER_FIELDS)
        found = found.drop_duplicates("SystemId")
        self._deleted(set(wanted) - set(_lower(found["SystemId"])))
        self._groups_of(found, summary)

    def _everyone(self, only: tuple[set[str], set[str]] | None, summary: RunSummary) -> None:
        """Page through every customer; each page is one group, its numbers a range for the reads."""
        seen: set[str] = set()
        for page in self.reader.all_customers():
            if page.empty:
                continue
            ids = page["SystemId"].astype(str).str.lower()
            seen.update(ids)
            if only is not None:
                page = page[ids.isin(only[0]) | page["No"].astype(str).str.upper().isin(only[1])]
            group = self._coupled(page, summary)
            if not group.empty:
                # The page came in BC's number order (and filtering keeps it): its first and last
                # numbers bound the group's customers in BC's own collation.
                self._group(group, Customers(low=str(group["No"].iloc[0]), high=str(group["No"].iloc[-1])))
        wanted = set(self.accounts) if only is None else {i for i in only[0] if i in self.accounts}
        self._deleted(wanted - seen)

    def _groups_of(self, found: pd.DataFrame, summary: RunSummary, *, named: bool = False) -> None:
        group = self._coupled(found, summary, named=named)
        for start in range(0, len(group), OR_LIMIT):
            part = group.iloc[start : start + OR_LIMIT]
            self._group(part, Customers(numbers=tuple(part["No"].astype(str))))

    def _coupled(self, cards: pd.DataFrame, summary: RunSummary, *, named: bool = False) -> pd.DataFrame:
        """The coupled customers among ``cards``, with their accounts and last statistics write;
        skipped ones are counted and left out."""
        if cards.empty:
            return cards
        cards = cards.assign(bc_id=cards["SystemId"].astype(str).str.lower())
        coupled = cards["bc_id"].isin(self.accounts)
        if named:
            for row in cards[~coupled].itertuples():
                log.warning(
                    "%s: %s is not coupled to a Sales account; run the CUSTOMER job first (or fix its errors).",
                    STATISTICS,
                    _label(row.No, row.Name),
                )
            self._add(Counter(skipped=int((~coupled).sum())))
        cards = cards[coupled].copy()
        skipped = cards["bc_id"].map(lambda i: bool(i in self.stats.index and self.stats.at[i, "skipped"])).astype(bool)
        if skipped.any():
            self._add(Counter(skipped=int(skipped.sum())))
            log.info(
                "%s: %d customers are skipped after failing twice with the same error; restore them to retry.",
                STATISTICS,
                int(skipped.sum()),
            )
        cards = cards.loc[~skipped]
        summary.read += len(cards)
        cards["account_id"] = cards["bc_id"].map(self.accounts)
        return cards

    def _deleted(self, ids: set[str]) -> None:
        """Coupled customers that no longer exist in Business Central fail (then are skipped), as in BC."""
        skipped = {i for i in ids if i in self.stats.index and self.stats.at[i, "skipped"]}
        if skipped:
            self._add(Counter(skipped=len(skipped)))
        ids = ids - skipped
        if not ids:
            return
        rows = []
        for bc_id in sorted(ids):
            known = self.stats.loc[bc_id] if bc_id in self.stats.index else None
            extra = known["extra"] if known is not None and isinstance(known["extra"], dict) else {}
            number = extra.get("number")
            what = f"Customer {number} (id {bc_id})" if number else f"The customer with id {bc_id}"
            rows.append(
                {
                    "bc_id": bc_id,
                    "crm_id": None if known is None or pd.isna(known["crm_id"]) else known["crm_id"],
                    "field": "No",
                    "message": f"{what} was not found in Business Central, so the statistics of Sales account "
                    f"{self.accounts.get(bc_id)} cannot be updated. Uncouple the customer if it was deleted; after the "
                    "same error twice it is skipped.",
                }
            )
        self.state.record_failure(STATISTICS, self.job_id, pd.DataFrame(rows))
        for row in rows[:5]:
            log.warning("%s: %s", STATISTICS, row["message"])
        self._add(Counter(failed=len(rows)))

    # -- one group ------------------------------------------------------------------------------

    def _group(self, cards: pd.DataFrame, customers: Customers) -> None:
        sums: pd.DataFrame | None = None
        for page in self.reader.entries(customers, self.year):
            sums = f.add_sums(sums, f.entry_sums(page, self.work_date, self.year))
        for page in self.reader.lines(customers):
            sums = f.add_sums(sums, f.line_sums(page))
        if sums is None:
            sums = pd.DataFrame(columns=f.SUMS)
        rows = f.statistics_rows(cards, sums, self.work_date, self.currency_id)
        self._add(self._write(rows, scan=customers.low is not None))

    def _write(self, rows: pd.DataFrame, *, scan: bool) -> Counter:
        counts: Counter = Counter()
        accounts = self._accounts(rows["account_id"].tolist(), scan=scan)
        writes: list[_Write] = []
        for row in rows.to_dict("records"):
            bc_id = row["bc_id"]
            body = f.body_of(row)
            digest = f.payload_hash(body)
            known = self.stats.loc[bc_id] if bc_id in self.stats.index else None
            extra = known["extra"] if known is not None and isinstance(known["extra"], dict) else {}
            stats_id = None if known is None or pd.isna(known["crm_id"]) else str(known["crm_id"])
            existing = bool(stats_id and extra.get("linked") and extra.get("account") == row["account_id"])
            write = _Write(
                bc_id,
                str(row["No"]),
                _label(str(row["No"]), row.get("Name")),
                row["account_id"],
                stats_id,
                existing,
                body,
                digest,
                row.get("SystemModifiedAt"),
            )
            if row["account_id"].lower() not in accounts:
                # As BC: the account must exist, whether or not the figures changed.
                write.error_field = "accountid"
                write.error = (
                    f"{write.label} is coupled to Sales account {write.account_id}, which was not found in Sales "
                    "(deleted, or not visible to the integration user). Couple the customer to an existing account "
                    "(CUSTOMER job) or uncouple it; after the same error twice the customer is skipped."
                )
            elif existing and known["last_result"] == "success" and extra.get("hash") == digest:
                if not self.options.customers:
                    counts["unchanged"] += 1
                    continue
                write.verify = True
            writes.append(write)
        if self.options.customers:
            # Asked for by hand: trust Sales itself rather than the record of the last write (the row may
            # have been edited or deleted there since).
            same = self._as_in_sales([w for w in writes if w.verify])
            counts["unchanged"] += len(same)
            writes = [w for w in writes if w.bc_id not in same]
        if not writes:
            return counts
        self._first_upload([w for w in writes if not w.existing and w.error is None], accounts)
        self._send(writes)
        return self._record(writes, counts)

    def _as_in_sales(self, writes: list[_Write]) -> set[str]:
        """The customers (bc ids) whose statistics row in Sales holds exactly what they would get."""
        columns = [c for c in f.COLUMNS if c != f.CURRENCY_BIND]
        current: dict[str, dict] = {}
        for part in chunks(sorted({w.stats_id for w in writes}), OR_LIMIT):
            for page in self.dataverse.iter_pages(
                f.ENTITY_SET,
                select=[f.KEY, *columns, "_transactioncurrencyid_value"],
                filter=any_of(f.KEY, part, guid=True),
            ):
                current.update({str(r[f.KEY]).lower(): r for r in page})
        same = set()
        for w in writes:
            row = current.get(str(w.stats_id).lower())
            if row is not None and all(_same(c, w.body.get(c), row.get(c)) for c in columns):
                bound = w.body.get(f.CURRENCY_BIND)
                if bound is None or bound.lower().endswith(f"({str(row.get('_transactioncurrencyid_value')).lower()})"):
                    same.add(w.bc_id)
        return same

    def _first_upload(self, writes: list[_Write], accounts: dict[str, str | None]) -> None:
        """Where a customer's statistics go the first time: the row its account already links to, or
        a new row (deterministic id) that is then linked. BC first writes every money field as 1 so
        that fields that stay 0 do not show as empty ("--") in Sales; here every column is written
        explicitly on creation, so they show 0 without the extra write."""
        for w in writes:
            linked = accounts.get(w.account_id.lower())
            if linked:
                w.stats_id = linked
            else:
                w.stats_id = w.stats_id or deterministic_id(STATISTICS, w.bc_id)
                w.needs_link = True

    def _accounts(self, account_ids: list[str], *, scan: bool) -> dict[str, str | None]:
        """The accounts that exist (lower-case id) and the statistics row each links to (or None).

        For a page of many customers, every account is read once per run (two columns); for a few,
        just theirs, by id.
        """
        select = ["accountid", "_nav_accountstatisticsid_value"]
        if scan:
            if self._all_accounts is None:
                self._all_accounts = {}
                for page in self.dataverse.iter_pages("accounts", select=select):
                    for row in page:
                        self._all_accounts[str(row["accountid"]).lower()] = row.get("_nav_accountstatisticsid_value")
            return self._all_accounts
        found: dict[str, str | None] = {}
        for part in chunks(sorted({a.lower() for a in account_ids}), OR_LIMIT):
            for page in self.dataverse.iter_pages(
                "accounts", select=select, filter=any_of("accountid", part, guid=True)
            ):
                for row in page:
                    found[str(row["accountid"]).lower()] = row.get("_nav_accountstatisticsid_value")
        return found

    def _send(self, writes: list[_Write]) -> None:
        """Write the rows, create again the ones deleted in Sales, then link the new ones to their accounts.

        Each step is a ``$batch`` of its own, so a link is only sent once its row exists (operations
        retried after throttling are sent after the rest of their batch)."""
        from include.bc_sales_sync.hooks.dataverse import BatchOperation

        todo = [w for w in writes if w.error is None]
        ops = [
            BatchOperation(
                "PATCH",
                entity_set=f.ENTITY_SET,
                key=w.stats_id,
                body=w.body,
                headers={"If-Match": "*"} if w.existing else {},
            )
            for w in todo
        ]
        gone = []
        for w, result in zip(todo, self.dataverse.batch(ops, continue_on_error=True), strict=True):
            if result.ok:
                continue
            if w.existing and result.status == 404:  # deleted in Sales: create it again and link it
                w.needs_link = True
                gone.append(w)
            else:
                w.error, w.error_field = _describe(f.ENTITY_SET, w.stats_id, result), None
        if gone:
            again = [BatchOperation("PATCH", entity_set=f.ENTITY_SET, key=w.stats_id, body=w.body) for w in gone]
            for w, result in zip(gone, self.dataverse.batch(again, continue_on_error=True), strict=True):
                if not result.ok:
                    w.error = _describe(f.ENTITY_SET, w.stats_id, result)
        linking = [w for w in todo if w.needs_link and w.error is None]
        links = [
            BatchOperation(
                "PATCH",
                entity_set="accounts",
                key=w.account_id,
                body={f.ACCOUNT_LINK: f"/{f.ENTITY_SET}({w.stats_id})"},
                headers={"If-Match": "*"},
            )
            for w in linking
        ]
        for w, result in zip(linking, self.dataverse.batch(links, continue_on_error=True), strict=True):
            if result.ok:
                continue
            w.error_field = "accountid"
            if result.status == 404:
                w.error = (
                    f"{w.label} is coupled to Sales account {w.account_id}, which was not found in Sales (deleted, "
                    "or not visible to the integration user). Couple the customer to an existing account (CUSTOMER "
                    "job); after the same error twice the customer is skipped."
                )
            else:
                w.error = f"Linking the statistics to the account of {w.label} failed: " + _describe(
                    "accounts", w.account_id, result
                )

    def _record(self, writes: list[_Write], counts: Counter) -> Counter:
        now = _now()
        done = [w for w in writes if w.error is None]
        failed = [w for w in writes if w.error is not None]
        if done:
            self.state.record_success(
                STATISTICS,
                self.job_id,
                pd.DataFrame(
                    {
                        "bc_id": [w.bc_id for w in done],
                        "crm_id": [w.stats_id for w in done],
                        "bc_modified_at": pd.to_datetime([w.modified for w in done], utc=True, errors="coerce"),
                        "crm_modified_at": now,
                        "extra": [
                            {"hash": w.digest, "account": w.account_id, "number": w.number, "linked": True}
                            for w in done
                        ],
                    }
                ),
            )
            counts["inserted"] += sum(1 for w in done if not w.existing)
            counts["modified"] += sum(1 for w in done if w.existing)
        if failed:
            self.state.record_failure(
                STATISTICS,
                self.job_id,
                pd.DataFrame(
                    {
                        "bc_id": [w.bc_id for w in failed],
                        "crm_id": [w.stats_id for w in failed],
                        "field": [w.error_field for w in failed],
                        "message": [w.error for w in failed],
                    }
                ),
            )
            counts["failed"] += len(failed)
            for w in failed[:5]:
                log.warning("%s: %s: %s", STATISTICS, w.label, w.error)
        return counts


@dataclass
class _StatusWrite:
    number: str
    invoice_id: str
    state: int
    status: int
    current_state: int
    modified: Any
    error: str | None = None


class InvoicePaymentStatusJob(_Job):
    """Sets the state of coupled Sales invoices from their customer ledger entries (facts §9, §11).

    Remaining amount 0: Paid / Complete; part paid: Paid / Partial; nothing paid: Active / Billed.
    An invoice that is not active is re-activated first (Sales only lets a paid invoice go back to
    active). The rule is the one POSTEDSALESINV-INV writes with the invoice itself
    (:func:`~include.bc_sales_sync.transforms.invoices.invoice_state`); this job keeps it current
    when only a payment changed.
    """

    name = PAYMENT_STATUS
    what = "Updated payment status of sales invoices"
    SELECT = ["Entry_No", "Document_No", "Customer_No", "Amount", "Remaining_Amount", "SystemModifiedAt"]
    INVOICES = "Document_Type eq 'Invoice'"

    def _run(self, started: dt.datetime, since: dt.datetime | None, summary: RunSummary) -> str | None:
        o = self.options
        coupled = self.lookups.couplings(INVOICE_MAPPING)
        self.coupled = set(_lower(coupled["crm_id"]))
        self.skipped = set(self.state.skipped(PAYMENT_STATUS)["bc_id"])
        self.retry = set(self.state.failed_not_skipped(PAYMENT_STATUS)["bc_id"])
        self.done: set[str] = set()  # invoice numbers handled by this run (retried ones may change again)
        newest: list[pd.DataFrame] = []
        if o.customers:
            for part in chunks(_numbers(o.customers), OR_LIMIT):
                for page in self.reader.pages(
                    ENTRIES, self.SELECT, f"{self.INVOICES} and {any_of('Customer_No', part)}"
                ):
                    self._entries(page, summary)
        elif since is None:
            self._everything(summary, newest)
        else:
            for part in chunks(sorted(self.retry), OR_LIMIT):
                for page in self.reader.pages(
                    ENTRIES, self.SELECT, f"{self.INVOICES} and {any_of('Document_No', part)}"
                ):
                    self._entries(page, summary)
            for page in self.reader.changed(ENTRIES, self.SELECT, since - o.overlap, self.INVOICES):
                newest.append(page[["SystemModifiedAt"]])
                self._entries(page, summary)
        return self._advance(newest_of(newest), started)

    def _everything(self, summary: RunSummary, newest: list[pd.DataFrame]) -> None:
        """Every coupled invoice: page through the Sales invoices, reading their entries by number range."""
        first = self.reader.newest(ENTRIES)
        if first is not None:
            newest.append(pd.DataFrame({"SystemModifiedAt": [first]}))
        select = ["invoiceid", "invoicenumber", "statecode", "statuscode"]
        for page in self.dataverse.iter_pages("invoices", select=select, orderby="invoicenumber"):
            self.reader.requests += 1
            invoices = pd.DataFrame(page, columns=select)
            invoices = invoices[invoices["invoiceid"].astype(str).str.lower().isin(self.coupled)]
            invoices = invoices[invoices["invoicenumber"].notna()]
            if invoices.empty:
                continue
            numbers = sorted(invoices["invoicenumber"].astype(str))
            in_range = f"{self.INVOICES} and {between('Document_No', numbers[0], numbers[-1])}"
            entries = list(self.reader.pages(ENTRIES, self.SELECT, in_range))
            # Numbers the range missed (another collation on one side): read them by name.
            found = f.customers_in(entries, "Document_No")
            rest = [n for n in numbers if n.upper() not in found]
            for part in chunks(rest, OR_LIMIT):
                entries += list(
                    self.reader.pages(ENTRIES, self.SELECT, f"{self.INVOICES} and {any_of('Document_No', part)}")
                )
            if entries:
                self._process(pd.concat(entries, ignore_index=True), invoices, summary, all_looked_up=False)

    def _entries(self, entries: pd.DataFrame, summary: RunSummary) -> None:
        """Invoice entries read from BC: find their Sales invoices, then process them."""
        entries = entries[~entries["Document_No"].astype(str).str.upper().isin(self.done)]
        if entries.empty:
            return
        numbers = sorted(set(entries["Document_No"].dropna().astype(str)))
        select = ["invoiceid", "invoicenumber", "statecode", "statuscode"]
        found = []
        for part in chunks(numbers, OR_LIMIT):
            for page in self.dataverse.iter_pages("invoices", select=select, filter=any_of("invoicenumber", part)):
                self.reader.requests += 1
                found.append(pd.DataFrame(page, columns=select))
        invoices = pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=select)
        invoices = invoices[invoices["invoiceid"].astype(str).str.lower().isin(self.coupled)]
        self._process(entries, invoices, summary)

    def _process(
        self, entries: pd.DataFrame, invoices: pd.DataFrame, summary: RunSummary, *, all_looked_up: bool = True
    ) -> None:
        """Compare each entry's state with its Sales invoice's and write the ones that differ.

        :param all_looked_up: ``invoices`` holds every coupled Sales invoice of the entries' numbers (so
            an entry without one has none).
        """
        counts: Counter = Counter()
        entries = entries.assign(number=entries["Document_No"].astype(str).str.upper())
        entries = entries[~entries["number"].isin(self.done)]
        entries = entries.sort_values("Entry_No").drop_duplicates("number", keep="last")
        self.done.update(entries["number"])
        skipped = entries["Document_No"].isin(self.skipped)
        counts["skipped"] += int(skipped.sum())
        merged = entries[~skipped].merge(
            invoices.assign(number=invoices["invoicenumber"].astype(str).str.upper()), on="number", how="inner"
        )
        merged = merged.drop_duplicates("number")
        summary.read += len(merged)
        if all_looked_up:
            self._gone(entries[~skipped & ~entries["number"].isin(set(merged["number"]))], counts)
        if merged.empty:
            self._add(counts)
            return
        remaining = pd.to_numeric(merged["Remaining_Amount"], errors="coerce").fillna(0.0)
        amount = pd.to_numeric(merged["Amount"], errors="coerce").fillna(0.0)
        state, status = invoice_state(remaining, amount)
        current_state = pd.to_numeric(merged["statecode"], errors="coerce").fillna(-1).astype(int)
        current_status = pd.to_numeric(merged["statuscode"], errors="coerce").fillna(-1).astype(int)
        same = (current_state == state) & (current_status == status)
        counts["unchanged"] += int(same.sum())
        writes = [
            _StatusWrite(str(r.Document_No), str(r.invoiceid), int(s), int(st), int(cs), r.SystemModifiedAt)
            for r, s, st, cs in zip(merged.itertuples(), state, status, current_state, strict=True)
        ]
        # Invoices already right need no write; one that failed last time is recorded as fine now.
        cleared = [w for w, ok in zip(writes, same, strict=True) if ok and w.number in self.retry]
        writes = [w for w, ok in zip(writes, same, strict=True) if not ok]
        self._send(writes)
        self._record(writes, counts, cleared)
        self._add(counts)

    def _gone(self, entries: pd.DataFrame, counts: Counter) -> None:
        """Invoices that failed last time and now have no coupled Sales invoice: they fail again (and so
        end up skipped) instead of being looked for on every run."""
        lost = entries[entries["Document_No"].isin(self.retry)]
        if lost.empty:
            return
        self.state.record_failure(
            PAYMENT_STATUS,
            self.job_id,
            pd.DataFrame(
                {
                    "bc_id": lost["Document_No"].astype(str),
                    "field": "invoicenumber",
                    "message": "Invoice "
                    + lost["Document_No"].astype(str)
                    + ": no coupled Sales invoice has this number any more (deleted in Sales, or uncoupled); run "
                    "POSTEDSALESINV-INV to send it again. After the same error twice it is skipped.",
                }
            ),
        )
        counts["failed"] += len(lost)

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
                w.error = "Re-activating the invoice before changing its state failed: " + _describe(
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
                w.error = _describe("invoices", w.invoice_id, result)

    def _record(self, writes: list[_StatusWrite], counts: Counter, cleared: list[_StatusWrite]) -> None:
        """Invoices written (modified) or failed; ``cleared``: failed last time, right now without a write."""
        done = [w for w in writes if w.error is None]
        failed = [w for w in writes if w.error is not None]
        if done or cleared:
            self.state.record_success(
                PAYMENT_STATUS,
                self.job_id,
                pd.DataFrame(
                    {
                        "bc_id": [w.number for w in done + cleared],
                        "crm_id": [w.invoice_id for w in done + cleared],
                        "bc_modified_at": pd.to_datetime(
                            [w.modified for w in done + cleared], utc=True, errors="coerce"
                        ),
                        "crm_modified_at": _now(),
                        "extra": [{"statecode": w.state, "statuscode": w.status} for w in done + cleared],
                    }
                ),
            )
            counts["modified"] += len(done)
        if failed:
            self.state.record_failure(
                PAYMENT_STATUS,
                self.job_id,
                pd.DataFrame(
                    {
                        "bc_id": [w.number for w in failed],
                        "crm_id": [w.invoice_id for w in failed],
                        "field": "statecode",
                        "message": [f"Invoice {w.number}: {w.error}" for w in failed],
                    }
                ),
            )
            counts["failed"] += len(failed)
            for w in failed[:5]:
                log.warning("%s: invoice %s: %s", PAYMENT_STATUS, w.number, w.error)
