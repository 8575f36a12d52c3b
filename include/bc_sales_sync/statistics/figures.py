"""The figures of a Sales account's "Business Central Account Statistics", computed with pandas (facts §9).

Pure functions, no I/O: customer ledger entries and sales lines come in as DataFrames (one page at
a time), are reduced to per-customer partial sums, and the sums become the ``nav_accountstatistics``
columns. Partial sums add up, so a customer whose entries span several pages gets the same figures
as if they had been read at once.

The figures, as BC's CRM Statistics Job computes them for one customer (all in local currency):

- **Balance** = Σ remaining amount (LCY) of the customer's open ledger entries (= Σ of its detailed
  ledger entries, the FlowField "Balance (LCY)").
- **Overdue amounts** = Σ remaining amount (LCY) of open entries due before the work date
  (``CalcOverdueBalance``; a blank due date counts as due); **as of** the work date.
- **Total sales** = Σ "Sales (LCY)" of entries posted in the fiscal year of the work date
  (``GetSalesLCY``).
- **Outstanding orders** / **shipped not invoiced** = Σ "Outstanding Amount (LCY)" / Σ "Shipped Not
  Invoiced (LCY)" of order lines billed to the customer; **outstanding invoices** = Σ "Outstanding
  Amount (LCY)" of (unposted) invoice lines billed to it.
- **Invoiced prepayments** = Σ "Prepmt. Amount Inv. (LCY)" + "Prepmt. VAT Amount Inv. (LCY)" of
  order lines billed to it (``GetInvoicedPrepmtAmountLCY``).
- The three **service** amounts are the customer's own FlowFields (Service Management).
- **Total** = balance + outstanding orders + shipped not invoiced + outstanding invoices + the three
  service amounts - the outstanding amount of invoice lines made from shipments (sold to the
  customer, ``OutstandingInvoiceAmountFromShipment``: already counted as shipped not invoiced) -
  invoiced prepayments (``GetTotalAmountLCY``).
- **Credit limit**, **name** and **number** come from the customer.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable

import pandas as pd

# -- what is read from Business Central ---------------------------------------------------------

# The published customer page (web service CustomerCard): the customer and its service FlowFields.
CUSTOMER_FIELDS = [
    "SystemId",
    "No",
    "Name",
    "Credit_Limit_LCY",
    "Outstanding_Serv_Orders_LCY",
    "Serv_Shipped_Not_Invoiced_LCY",
    "Outstanding_Serv_Invoices_LCY",
    "SystemModifiedAt",
]
# Customer ledger entries (web service CustLedgerEntries, the fields of BC's "Cust. Ledger Entries" query).
ENTRY_FIELDS = [
    "Entry_No",
    "Customer_No",
    "Posting_Date",
    "Due_Date",
    "Document_Type",
    "Document_No",
    "Open",
    "Amount",
    "Remaining_Amount",
    "Remaining_Amt_LCY",
    "Sales_LCY",
    "SystemModifiedAt",
]
# Sales lines of open documents (web service SalesLines, fields of BC's Sales Line table).
LINE_FIELDS = [
    "Document_Type",
    "Document_No",
    "Line_No",
    "Sell_to_Customer_No",
    "Bill_to_Customer_No",
    "Shipment_No",
    "Outstanding_Amount_LCY",
    "Shipped_Not_Invoiced_LCY",
    "Prepmt_Amount_Inv_LCY",
    "Prepmt_VAT_Amount_Inv_LCY",
    "SystemModifiedAt",
]

# -- partial sums -------------------------------------------------------------------------------

ENTRY_SUMS = ["balance", "overdue", "sales"]
LINE_SUMS = ["orders", "shipped", "invoices", "prepayments", "invoices_from_shipments"]
SUMS = [*ENTRY_SUMS, *LINE_SUMS]

# -- what is written to Sales (nav_accountstatistics) ---------------------------------------------

ENTITY_SET = "nav_accountstatisticses"
KEY = "nav_accountstatisticsid"
ACCOUNT_LINK = "nav_accountstatisticsid@odata.bind"
CURRENCY_BIND = "transactioncurrencyid@odata.bind"
MONEY_COLUMNS = [
    "nav_balancelcy",
    "nav_outstandingorderslcy",
    "nav_shippednotinvoicedlcy",
    "nav_outstandinginvoiceslcy",
    "nav_outstandingserviceorderslcy",
    "nav_servshippednotinvoicedlcy",
    "nav_outstandingservinvoiceslcy",
    "nav_totallcy",
    "nav_creditlimitlcy",
    "nav_overdueamountslcy",
    "nav_totalsaleslcy",
    "nav_invoicedprepaymentamountlcy",
]
COLUMNS = ["nav_name", "nav_customerno", *MONEY_COLUMNS, "nav_overdueamountsasof", CURRENCY_BIND]
NAME_MAX = 100

BLANK_DATE = "0001-01-01"


def fiscal_year(work_date: dt.date, year_start: dt.date | None) -> tuple[dt.date, dt.date]:
    """The fiscal year that contains ``work_date``: first and last day.

    :param work_date: BC's work date.
    :param year_start: the start of any fiscal year of the company (BC's company information gives the
        current one); fiscal years are taken to be twelve months long, as BC's accounting periods
        usually are. ``None``: calendar years.
    """
    month, day = (year_start.month, year_start.day) if year_start else (1, 1)

    def start_in(year: int) -> dt.date:
        # A year start on 29 February falls back to the 28th in other years.
        try:
            return dt.date(year, month, day)
        except ValueError:
            return dt.date(year, month, 28)

    start = start_in(work_date.year)
    if start > work_date:
        start = start_in(work_date.year - 1)
    end = start_in(start.year + 1) - dt.timedelta(days=1)
    return start, end


def _numbers(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame:
        return pd.Series(0.0, index=frame.index)
    return pd.to_numeric(frame[column], errors="coerce").fillna(0.0)


def _dates(frame: pd.DataFrame, column: str) -> pd.Series:
    """ISO dates as text (``YYYY-MM-DD``; BC's blank date is ``0001-01-01``), compared as text."""
    if column not in frame:
        return pd.Series(BLANK_DATE, index=frame.index)
    return frame[column].astype("string").fillna(BLANK_DATE).str[:10].astype(str)


def _flags(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame:
        return pd.Series(False, index=frame.index)
    return frame[column].map(lambda v: v is True or (isinstance(v, str) and v.lower() == "true") or v == 1)


def _codes(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame:
        return pd.Series("", index=frame.index)
    return frame[column].astype("string").fillna("").str.strip().str.upper().astype(str)


def _empty_sums(names: list[str]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=float) for name in names}, index=pd.Index([], name="customer_no"))


def entry_sums(entries: pd.DataFrame, work_date: dt.date, year: tuple[dt.date, dt.date]) -> pd.DataFrame:
    """Per customer number: balance, overdue amounts and sales of the fiscal year, from ledger entries.

    :param entries: customer ledger entries (:data:`ENTRY_FIELDS`); any subset of a customer's entries
        as long as its open ones and those posted in ``year`` are among them.
    :param work_date: BC's work date (entries due before it are overdue).
    :param year: the fiscal year (first and last day) whose sales count.
    :return: columns :data:`ENTRY_SUMS`, indexed by customer number.
    """
    if entries.empty:
        return _empty_sums(ENTRY_SUMS)
    customer = _codes(entries, "Customer_No")
    is_open = _flags(entries, "Open")
    remaining = _numbers(entries, "Remaining_Amt_LCY").where(is_open, 0.0)
    due = _dates(entries, "Due_Date")
    posted = _dates(entries, "Posting_Date")
    in_year = (posted >= year[0].isoformat()) & (posted <= year[1].isoformat())
    frame = pd.DataFrame(
        {
            "customer_no": customer,
            "balance": remaining,
            "overdue": remaining.where(due < work_date.isoformat(), 0.0),
            "sales": _numbers(entries, "Sales_LCY").where(in_year, 0.0),
        }
    )
    return frame.groupby("customer_no")[ENTRY_SUMS].sum()


def line_sums(lines: pd.DataFrame) -> pd.DataFrame:
    """Per customer number: the sales line figures (orders and invoices not posted yet).

    Order and invoice figures count for the bill-to customer, the invoice lines made from shipments
    for the sell-to customer, as BC sums them.

    :param lines: sales lines (:data:`LINE_FIELDS`) of any customers, any document type.
    :return: columns :data:`LINE_SUMS`, indexed by customer number.
    """
    if lines.empty:
        return _empty_sums(LINE_SUMS)
    kind = lines["Document_Type"].astype("string").fillna("").astype(str) if "Document_Type" in lines else ""
    order, invoice = kind == "Order", kind == "Invoice"
    outstanding = _numbers(lines, "Outstanding_Amount_LCY")
    from_shipment = invoice & (_codes(lines, "Shipment_No") != "")
    billed = pd.DataFrame(
        {
            "customer_no": _codes(lines, "Bill_to_Customer_No"),
            "orders": outstanding.where(order, 0.0),
            "shipped": _numbers(lines, "Shipped_Not_Invoiced_LCY").where(order, 0.0),
            "invoices": outstanding.where(invoice, 0.0),
            "prepayments": (
                _numbers(lines, "Prepmt_Amount_Inv_LCY") + _numbers(lines, "Prepmt_VAT_Amount_Inv_LCY")
            ).where(order, 0.0),
            "invoices_from_shipments": 0.0,
        }
    )
    sold = pd.DataFrame(
        {
            "customer_no": _codes(lines, "Sell_to_Customer_No"),
            "invoices_from_shipments": outstanding.where(from_shipment, 0.0),
        }
    )
    both = pd.concat([billed, sold], ignore_index=True).fillna(0.0)
    both = both[both["customer_no"] != ""]
    return both.groupby("customer_no")[LINE_SUMS].sum()


def add_sums(total: pd.DataFrame | None, part: pd.DataFrame) -> pd.DataFrame:
    """Add one page's partial sums to the running ones (both indexed by customer number)."""
    if total is None or total.empty:
        return part.copy()
    if part.empty:
        return total
    return pd.concat([total, part]).groupby(level=0).sum()


def statistics_rows(
    customers: pd.DataFrame,
    sums: pd.DataFrame,
    work_date: dt.date,
    currency_id: str | None,
) -> pd.DataFrame:
    """The ``nav_accountstatistics`` columns of each customer.

    :param customers: one row per customer (:data:`CUSTOMER_FIELDS`); other columns are kept.
    :param sums: the customers' partial sums added up (:func:`entry_sums`, :func:`line_sums`),
        indexed by customer number; a customer without a row had no activity (every figure 0).
    :param work_date: BC's work date (the overdue amounts' "as of" date).
    :param currency_id: the Sales currency of the local currency (the figures are in it).
    :return: ``customers`` with the :data:`COLUMNS` added, money rounded to cents.
    """
    out = customers.copy()
    number = _codes(customers, "No")
    figures = sums.reindex(columns=SUMS).reindex(number.tolist()).fillna(0.0)
    figures.index = customers.index

    def money(values: pd.Series | float) -> pd.Series:
        return (pd.Series(values, index=customers.index) + 0.0).round(2) + 0.0  # + 0.0: no -0.0

    service = {
        "nav_outstandingserviceorderslcy": money(_numbers(customers, "Outstanding_Serv_Orders_LCY")),
        "nav_servshippednotinvoicedlcy": money(_numbers(customers, "Serv_Shipped_Not_Invoiced_LCY")),
        "nav_outstandingservinvoiceslcy": money(_numbers(customers, "Outstanding_Serv_Invoices_LCY")),
    }
    balance = money(figures["balance"])
    orders = money(figures["orders"])
    shipped = money(figures["shipped"])
    invoices = money(figures["invoices"])
    prepayments = money(figures["prepayments"])
    total = (
        balance
        + orders
        + shipped
        + invoices
        + sum(service.values())
        - money(figures["invoices_from_shipments"])
        - prepayments
    )
    out["nav_name"] = customers["Name"].astype("string").fillna("").str.strip().str[:NAME_MAX].astype(str)
    out["nav_customerno"] = number
    out["nav_balancelcy"] = balance
    out["nav_outstandingorderslcy"] = orders
    out["nav_shippednotinvoicedlcy"] = shipped
    out["nav_outstandinginvoiceslcy"] = invoices
    for column, values in service.items():
        out[column] = values
    out["nav_totallcy"] = money(total)
    out["nav_creditlimitlcy"] = money(_numbers(customers, "Credit_Limit_LCY"))
    out["nav_overdueamountslcy"] = money(figures["overdue"])
    out["nav_overdueamountsasof"] = work_date.isoformat()
    out["nav_totalsaleslcy"] = money(figures["sales"])
    out["nav_invoicedprepaymentamountlcy"] = prepayments
    out[CURRENCY_BIND] = f"/transactioncurrencies({currency_id})" if currency_id else None
    return out


def body_of(row: dict) -> dict:
    """The Dataverse body of one statistics row (JSON-ready values)."""
    body = {}
    for column in COLUMNS:
        value = row.get(column)
        if column == CURRENCY_BIND and value is None:
            continue  # no currency known (a dry run before the local currency exists): leave it to Sales
        body[column] = float(value) if column in MONEY_COLUMNS else value
    return body


def payload_hash(body: dict) -> str:
    """What was written, in short: an unchanged customer is one whose body hashes the same."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:20]


def customers_in(frames: Iterable[pd.DataFrame], column: str) -> set[str]:
    """The customer numbers named in ``column`` of some frames (upper case, blanks left out)."""
    found: set[str] = set()
    for frame in frames:
        if column in frame and not frame.empty:
            found.update(c for c in _codes(frame, column) if c)
    return found
