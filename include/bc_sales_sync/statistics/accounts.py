"""BC's account statistics job (facts §9): each coupled customer's figures in its account's
``nav_accountstatistics`` row, on the job skeleton.

The first run uploads every coupled customer; later runs refresh only the customers whose Business
Central data changed since the last run (the customer, its ledger entries, its sales lines; and
those with an open entry that fell due since the last work date), plus customers coupled since and
those that failed last time. A customer whose figures are what was last written costs no write.
Customers are read in groups (the page of customers being read, or a short list); each group is
one chunk: read (cards, then its entries and lines) → plan (the accounts) → transform (the
figures, pure pandas) → write (``$batch``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd

from include.bc_sales_sync.jobs import Changes, Chunk, JobRun, Outcome, concat
from include.bc_sales_sync.odata import MAX_OR_VALUES, any_of, chunked
from include.bc_sales_sync.statistics import base
from include.bc_sales_sync.statistics import figures as f
from include.bc_sales_sync.statistics.base import CUSTOMER_MAPPING, STATISTICS, Group, StatisticsJob, failures
from include.bc_sales_sync.statistics.sources import CUSTOMERS, ENTRIES, LINES, Customers, newest_of
from include.bc_sales_sync.sync.prerequisites import ensure
from include.bc_sales_sync.transforms.base import deterministic_id

log = logging.getLogger(__name__)

# More customers to refresh than this: page through every customer (keeping the ones wanted)
# rather than listing them in filters.
LIST_LIMIT = 200


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


@dataclass
class _Cards:
    """A group of coupled customers and how to read their entries and lines."""

    cards: pd.DataFrame
    customers: Customers


@dataclass
class _Planned:
    cards: pd.DataFrame | None = None
    sums: pd.DataFrame | None = None
    accounts: dict[str, str | None] | None = None
    gone: set[str] | None = None
    counts: Counter | None = None

    def __bool__(self) -> bool:
        return bool(self.gone) or (self.cards is not None and not self.cards.empty)


def _label(number: str, name: Any) -> str:
    name = str(name).strip() if isinstance(name, str) else ""
    return f"Customer {number}" + (f" ({name})" if name else "")


def _same(column: str, written: Any, found: Any) -> bool:
    """A value to write against the value Sales holds (money to the cent; the date by day)."""
    if isinstance(written, float):
        return isinstance(found, int | float) and abs(written - found) < 0.005
    if column == "nav_overdueamountsasof":
        return isinstance(found, str) and found[:10] == written
    return written == found or (written in (None, "") and found in (None, ""))


def _missing_account(label: str, account_id: str) -> str:
    return (
        f"{label} is coupled to Sales account {account_id}, which was not found in Sales (deleted, or not visible "
        "to the integration user). Couple the customer to an existing account (CUSTOMER job) or uncouple it; "
        "after the same error twice the customer is skipped."
    )


class AccountStatisticsJob(StatisticsJob):
    """Writes each coupled customer's figures to its account's ``nav_accountstatistics`` row."""

    name = STATISTICS
    what = "Updated account statistics"

    # -- read: which customers, in groups ---------------------------------------------------

    def read(self, run: JobRun) -> Iterator[Chunk]:
        o = self.options
        self._setup(run)
        since = run.window.start
        self.newest = None
        if o.customers:
            yield from self._chosen(base.numbers(o.customers))
            return
        last_work_date = self.state.work_date(STATISTICS)
        new_year = last_work_date is not None and f.fiscal_year(last_work_date, self.year_start) != self.year
        if since is None or new_year:
            if new_year:
                log.info("%s: a new fiscal year began since the last run: every customer is refreshed.", STATISTICS)
            # Take the newest change first: whatever changes while this run reads comes after it.
            stamps = [t for t in (self.reader.newest(s) for s in (CUSTOMERS, ENTRIES, LINES)) if t is not None]
            self.newest = max(stamps) if stamps else None
            yield from self._everyone(None)
        else:
            ids, numbers, self.newest = self._changes(since, last_work_date)
            ids |= self._not_uploaded()
            if len(ids) + len(numbers) > LIST_LIMIT:
                yield from self._everyone((ids, numbers))
            else:
                yield from self._listed(ids, numbers)

    def finish(self, run: JobRun) -> pd.Timestamp | None:
        """The work date of a scheduled run is kept (overdue amounts grow with it), and the
        watermark moves to the newest change read before the run started reading."""
        if not self.options.customers and self.options.work_date is None:
            self.state.set_work_date(STATISTICS, self.work_date)
        return self.newest

    def _setup(self, run: JobRun) -> None:
        self.work_date = self.options.work_date or base.now().date()
        self.year_start = self.reader.fiscal_year_start()
        self.year = f.fiscal_year(self.work_date, self.year_start)
        self.currency_id = ensure(self.lookups, ["local_currency"], dry_run=run.dry_run)["local_currency"]
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

    def _changes(self, since: dt.datetime, last_work_date: dt.date | None) -> tuple[set[str], set[str], Any]:
        """Customers (ids and numbers) whose BC data changed since ``since``, and the newest change."""
        ids: set[str] = set()
        numbers: set[str] = set()
        newest: list[pd.DataFrame] = []
        for page in self.reader.changed(CUSTOMERS, ["SystemId"], since):
            ids.update(base.lower(page["SystemId"]))
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

    def _chosen(self, numbers: list[str]) -> Iterator[Chunk]:
        """The customers a user named: refresh those that exist and are coupled."""
        frames = list(self.reader.customers_by_number(numbers)) if numbers else []
        found = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=f.CUSTOMER_FIELDS)
        missing = sorted(set(numbers) - f.customers_in([found], "No"))
        for number in missing:
            log.warning("%s: customer %s does not exist in Business Central; nothing to refresh.", STATISTICS, number)
        yield Chunk(Group(counts=Counter(skipped=len(missing))))
        yield from self._groups_of(found, named=True)

    def _listed(self, ids: set[str], numbers: set[str]) -> Iterator[Chunk]:
        """A few customers, read by id and by number."""
        wanted = sorted(i for i in ids if i in self.accounts)
        frames = list(self.reader.customers_by_id(wanted)) if wanted else []
        known = f.customers_in(frames, "No")
        rest = sorted(n for n in numbers if n not in known)
        if rest:
            frames += list(self.reader.customers_by_number(rest))
        found = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=f.CUSTOMER_FIELDS)
        found = found.drop_duplicates("SystemId")
        yield self._deleted(set(wanted) - set(base.lower(found["SystemId"])))
        yield from self._groups_of(found)

    def _everyone(self, only: tuple[set[str], set[str]] | None) -> Iterator[Chunk]:
        """Page through every customer; each page is one group, its numbers a range for the reads."""
        seen: set[str] = set()
        for page in self.reader.all_customers():
            if page.empty:
                continue
            ids = page["SystemId"].astype(str).str.lower()
            seen.update(ids)
            if only is not None:
                page = page[ids.isin(only[0]) | page["No"].astype(str).str.upper().isin(only[1])]
            group, counts = self._coupled(page)
            if group.empty:
                yield Chunk(Group(counts=counts))
            else:
                # The page came in BC's number order (and filtering keeps it): its first and last
                # numbers bound the group's customers in BC's own collation.
                customers = Customers(low=str(group["No"].iloc[0]), high=str(group["No"].iloc[-1]))
                yield Chunk(Group(_Cards(group, customers), counts), len(group))
        wanted = set(self.accounts) if only is None else {i for i in only[0] if i in self.accounts}
        yield self._deleted(wanted - seen)

    def _groups_of(self, found: pd.DataFrame, *, named: bool = False) -> Iterator[Chunk]:
        group, counts = self._coupled(found, named=named)
        yield Chunk(Group(counts=counts))
        for part in chunked(range(len(group)), MAX_OR_VALUES):
            cards = group.iloc[part[0] : part[-1] + 1]
            yield Chunk(Group(_Cards(cards, Customers(numbers=tuple(cards["No"].astype(str))))), len(cards))

    def _coupled(self, cards: pd.DataFrame, *, named: bool = False) -> tuple[pd.DataFrame, Counter]:
        """The coupled customers among ``cards``, with their accounts; skipped ones are counted
        and left out."""
        counts: Counter = Counter()
        if cards.empty:
            return cards, counts
        cards = cards.assign(bc_id=cards["SystemId"].astype(str).str.lower())
        coupled = cards["bc_id"].isin(self.accounts)
        if named:
            for row in cards[~coupled].itertuples():
                log.warning(
                    "%s: %s is not coupled to a Sales account; run the CUSTOMER job first (or fix its errors).",
                    STATISTICS,
                    _label(row.No, row.Name),
                )
            counts["skipped"] += int((~coupled).sum())
        cards = cards[coupled].copy()
        skipped = cards["bc_id"].map(lambda i: bool(i in self.stats.index and self.stats.at[i, "skipped"])).astype(bool)
        if skipped.any():
            counts["skipped"] += int(skipped.sum())
            log.info(
                "%s: %d customers are skipped after failing twice with the same error; restore them to retry.",
                STATISTICS,
                int(skipped.sum()),
            )
        cards = cards.loc[~skipped]
        cards["account_id"] = cards["bc_id"].map(self.accounts)
        return cards, counts

    def _deleted(self, ids: set[str]) -> Chunk:
        """Coupled customers that no longer exist in Business Central: a chunk of their failures."""
        skipped = {i for i in ids if i in self.stats.index and self.stats.at[i, "skipped"]}
        return Chunk(Group(ids - skipped, Counter(skipped=len(skipped))))

    # -- plan, transform, write --------------------------------------------------------------

    def plan(self, chunk: Chunk, run: JobRun) -> _Planned:
        group: Group = chunk.records
        if isinstance(group.records, set):
            return _Planned(gone=group.records, counts=group.counts)
        if group.records is None:
            return _Planned(counts=group.counts)
        cards, customers = group.records.cards, group.records.customers
        sums: pd.DataFrame | None = None
        for page in self.reader.entries(customers, self.year):
            sums = f.add_sums(sums, f.entry_sums(page, self.work_date, self.year))
        for page in self.reader.lines(customers):
            sums = f.add_sums(sums, f.line_sums(page))
        accounts = self._accounts(cards["account_id"].tolist(), scan=customers.low is not None)
        return _Planned(cards, pd.DataFrame(columns=f.SUMS) if sums is None else sums, accounts, counts=group.counts)

    def transform(self, planned: _Planned, run: JobRun) -> Changes:
        changes = Changes(counts=Counter(planned.counts))
        if planned.gone:
            changes.failures = self._gone(planned.gone)
        if planned.cards is None or planned.cards.empty:
            return changes
        rows = f.statistics_rows(planned.cards, planned.sums, self.work_date, self.currency_id)
        writes: list[_Write] = []
        rejected: list[dict] = []
        for row in rows.to_dict("records"):
            bc_id = row["bc_id"]
            body = f.body_of(row)
            digest = f.payload_hash(body)
            known = self.stats.loc[bc_id] if bc_id in self.stats.index else None
            extra = known["extra"] if known is not None and isinstance(known["extra"], dict) else {}
            stats_id = None if known is None or pd.isna(known["crm_id"]) else str(known["crm_id"])
            existing = bool(stats_id and extra.get("linked") and extra.get("account") == row["account_id"])
            label = _label(str(row["No"]), row.get("Name"))
            if row["account_id"].lower() not in planned.accounts:
                # As BC: the account must exist, whether or not the figures changed.
                message = _missing_account(label, row["account_id"])
                rejected.append({"bc_id": bc_id, "crm_id": stats_id, "field": "accountid", "message": message})
                continue
            write = _Write(
                bc_id,
                str(row["No"]),
                label,
                row["account_id"],
                stats_id,
                existing,
                body,
                digest,
                row.get("SystemModifiedAt"),
            )
            if existing and known["last_result"] == "success" and extra.get("hash") == digest:
                if not self.options.customers:
                    changes.counts["unchanged"] += 1
                    continue
                write.verify = True
            writes.append(write)
        changes.writes = (writes, planned.accounts) if writes else None
        changes.inserts = sum(1 for w in writes if not w.existing)
        changes.updates = len(writes) - changes.inserts
        changes.failures = concat(changes.failures, failures(rejected))
        return changes

    def write(self, changes: Changes, run: JobRun) -> Outcome:
        writes, accounts = changes.writes
        outcome = Outcome()
        if self.options.customers:
            # Asked for by hand: trust Sales itself rather than the record of the last write (the row may
            # have been edited or deleted there since).
            same = self._as_in_sales([w for w in writes if w.verify])
            outcome.counts["unchanged"] += len(same)
            writes = [w for w in writes if w.bc_id not in same]
        if not writes:
            return outcome
        self._first_upload([w for w in writes if not w.existing], accounts)
        self._send(writes)
        done = [w for w in writes if w.error is None]
        failed = [w for w in writes if w.error is not None]
        if done:
            outcome.successes = pd.DataFrame(
                {
                    "bc_id": [w.bc_id for w in done],
                    "crm_id": [w.stats_id for w in done],
                    "bc_modified_at": pd.to_datetime([w.modified for w in done], utc=True, errors="coerce"),
                    "crm_modified_at": base.now(),
                    "extra": [
                        {"hash": w.digest, "account": w.account_id, "number": w.number, "linked": True} for w in done
                    ],
                }
            )
            outcome.inserted = sum(1 for w in done if not w.existing)
            outcome.modified = len(done) - outcome.inserted
        outcome.failures = failures(
            [{"bc_id": w.bc_id, "crm_id": w.stats_id, "field": w.error_field, "message": w.error} for w in failed]
        )
        return outcome

    # -- helpers ------------------------------------------------------------------------------

    def _gone(self, ids: set[str]) -> pd.DataFrame | None:
        """Coupled customers that no longer exist in Business Central fail (then are skipped), as in BC."""
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
        return failures(rows)

    def _as_in_sales(self, writes: list[_Write]) -> set[str]:
        """The customers (bc ids) whose statistics row in Sales holds exactly what they would get."""
        columns = [c for c in f.COLUMNS if c != f.CURRENCY_BIND]
        current: dict[str, dict] = {}
        for part in chunked(sorted({w.stats_id for w in writes}), MAX_OR_VALUES):
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
        for part in chunked(sorted({a.lower() for a in account_ids}), MAX_OR_VALUES):
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
                w.error, w.error_field = base.describe_result(f.ENTITY_SET, w.stats_id, result), None
        if gone:
            again = [BatchOperation("PATCH", entity_set=f.ENTITY_SET, key=w.stats_id, body=w.body) for w in gone]
            for w, result in zip(gone, self.dataverse.batch(again, continue_on_error=True), strict=True):
                if not result.ok:
                    w.error = base.describe_result(f.ENTITY_SET, w.stats_id, result)
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
                w.error = f"Linking the statistics to the account of {w.label} failed: " + base.describe_result(
                    "accounts", w.account_id, result
                )
