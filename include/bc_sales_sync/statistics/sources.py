"""Reading what the statistics need from Business Central: customers, ledger entries, sales lines.

Everything is read from published web services, page by page, with ``$filter`` and ``$select``:
a handful of customers by an ``or`` list of their numbers, many customers by the range of numbers
of one page of customers (never one request per customer, never a whole table in memory).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pandas as pd

from include.bc_sales_sync.odata import MAX_OR_VALUES, any_of, between, chunked, odata_time
from include.bc_sales_sync.statistics.figures import CUSTOMER_FIELDS, ENTRY_FIELDS, LINE_FIELDS

CUSTOMERS = "CustomerCard"
ENTRIES = "CustLedgerEntries"
LINES = "SalesLines"
MODIFIED = "SystemModifiedAt"
# The statistics job imports the OData helpers from this module (any_of and between too), by these names.
OR_LIMIT = MAX_OR_VALUES
chunks = chunked


@dataclass(frozen=True)
class Customers:
    """Which customers a read is about: a list of numbers, or the range of one page of customers."""

    numbers: tuple[str, ...] = ()
    low: str | None = None
    high: str | None = None

    def condition(self, column: str) -> str:
        if self.low is not None and self.high is not None:
            return between(column, self.low, self.high)
        return any_of(column, self.numbers)


class Reader:
    """The statistics' reads from Business Central through a :class:`BusinessCentralHook`.

    :param bc: the hook.
    :param page_size: records per page.
    """

    def __init__(self, bc, page_size: int = 5000):
        self.bc = bc
        self.page_size = page_size
        self.requests = 0  # pages read, for the run summary

    def pages(
        self, service: str, select: list[str], filter: str | None = None, orderby: str | None = None
    ) -> Iterator[pd.DataFrame]:
        for page in self.bc.iter_pages(
            service, filter=filter, select=select, orderby=orderby, page_size=self.page_size, web_service=True
        ):
            self.requests += 1
            yield pd.DataFrame(page, columns=select)

    def fiscal_year_start(self) -> dt.date | None:
        """The start of the company's current fiscal year (BC's company information), if it has one."""
        from include.bc_sales_sync.hooks.exceptions import NotFound

        try:
            for page in self.bc.iter_pages("companyInformation", select=["currentFiscalYearStartDate"]):
                self.requests += 1
                for row in page:
                    value = str(row.get("currentFiscalYearStartDate") or "")[:10]
                    if value and value != "0001-01-01":
                        return dt.date.fromisoformat(value)
                break
        except NotFound:
            return None
        return None

    def newest(self, service: str) -> pd.Timestamp | None:
        """The newest modified time of a web service's records (one record read)."""
        for page in self.bc.iter_pages(
            service, select=[MODIFIED], orderby=f"{MODIFIED} desc", page_size=1, web_service=True
        ):
            self.requests += 1
            return _newest(pd.DataFrame(page, columns=[MODIFIED]))
        return None

    # -- customers ----------------------------------------------------------------------------

    def customers_by_id(self, ids: list[str]) -> Iterator[pd.DataFrame]:
        for part in chunked(sorted(ids), MAX_OR_VALUES):
            yield from self.pages(CUSTOMERS, CUSTOMER_FIELDS, any_of("SystemId", part, guid=True))

    def customers_by_number(self, numbers: list[str]) -> Iterator[pd.DataFrame]:
        for part in chunked(sorted(numbers), MAX_OR_VALUES):
            yield from self.pages(CUSTOMERS, CUSTOMER_FIELDS, any_of("No", part))

    def all_customers(self) -> Iterator[pd.DataFrame]:
        """Every customer, in number order (so each page covers a range of numbers)."""
        yield from self.pages(CUSTOMERS, CUSTOMER_FIELDS, orderby="No")

    # -- what the figures are computed from ------------------------------------------------------

    def entries(self, customers: Customers, year: tuple[dt.date, dt.date]) -> Iterator[pd.DataFrame]:
        """The customers' open entries and those posted in the fiscal year: all the figures need."""
        relevant = (
            f"(Open eq true or (Posting_Date ge {year[0].isoformat()} and Posting_Date le {year[1].isoformat()}))"
        )
        yield from self.pages(ENTRIES, ENTRY_FIELDS, f"{relevant} and {customers.condition('Customer_No')}")

    def lines(self, customers: Customers) -> Iterator[pd.DataFrame]:
        """Order and invoice lines with an amount the figures count, billed or sold to the customers."""
        amounts = (
            "(Outstanding_Amount_LCY ne 0 or Shipped_Not_Invoiced_LCY ne 0 or Prepmt_Amount_Inv_LCY ne 0 "
            "or Prepmt_VAT_Amount_Inv_LCY ne 0)"
        )
        kinds = "(Document_Type eq 'Order' or Document_Type eq 'Invoice')"
        who = f"({customers.condition('Bill_to_Customer_No')} or {customers.condition('Sell_to_Customer_No')})"
        yield from self.pages(LINES, LINE_FIELDS, f"{kinds} and {amounts} and {who}")

    # -- what changed --------------------------------------------------------------------------

    def changed(self, service: str, select: list[str], since: dt.datetime, extra: str | None = None):
        """Records of a web service modified after ``since`` (plus an optional condition)."""
        condition = f"{MODIFIED} gt {odata_time(since)}"
        if extra:
            condition = f"{condition} and {extra}"
        yield from self.pages(service, [*select, MODIFIED] if MODIFIED not in select else select, condition)


def _newest(frame: pd.DataFrame) -> pd.Timestamp | None:
    if frame.empty or MODIFIED not in frame:
        return None
    value = pd.to_datetime(frame[MODIFIED], utc=True, errors="coerce").max()
    return None if pd.isna(value) else value


def newest_of(frames: Iterable[pd.DataFrame]) -> pd.Timestamp | None:
    """The newest modified time in some frames (``None`` when none has one)."""
    found = [t for t in (_newest(f) for f in frames) if t is not None]
    return max(found) if found else None
