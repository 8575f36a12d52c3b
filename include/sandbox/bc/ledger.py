"""Customer ledger entries and the amounts BC stores on sales lines: what customer statistics sum up.

As in BC, posting writes the ledger: a posted invoice gets a customer ledger entry (the amount
including tax, remaining = amount, the due date, "Sales (LCY)" = the amount excluding tax); a
posted payment gets a payment entry and lowers the remaining amount of the invoice entries it is
applied to (an entry with nothing left is closed); canceling an invoice posts a credit memo entry
applied to it. Amounts in local currency use the document's currency factor.

Every sales line carries its document's customer numbers and currency and BC's stored amounts
"Outstanding Amount" (for the quantity not shipped yet) and "Shipped Not Invoiced", in document
and local currency; they are recomputed whenever the line or its document changes.

Internal writes go straight to the store, as all of the emulator's own logic does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from include.sandbox.bc import tables as t
from include.sandbox.store import Store

# Header fields the line figures depend on: a change to one of them recomputes the lines.
HEADER_FIELDS = ("Sell_to_Customer_No", "Bill_to_Customer_No", "Currency_Code", "Currency_Factor")
LINE_FIGURES = (
    "Sell_to_Customer_No",
    "Bill_to_Customer_No",
    "Currency_Code",
    "Outstanding_Quantity",
    "Outstanding_Amount",
    "Outstanding_Amount_LCY",
    "Shipped_Not_Invoiced",
    "Shipped_Not_Invoiced_LCY",
)


def money(value: float) -> float:
    return round(value + 0.0, 2)


def lcy(amount: float, factor: float) -> float:
    """A document-currency amount in local currency (BC's currency factor: units per unit of LCY)."""
    return money(amount / factor) if factor else money(amount)


# -- sales lines -------------------------------------------------------------------------------


def line_figures(header: Mapping[str, Any], line: Mapping[str, Any]) -> dict:
    """BC's InitOutstanding for one line: outstanding quantity and amounts, shipped not invoiced.

    The amounts are shares of the line's amount including tax after the invoice discount.
    """
    quantity = line.get("Quantity", 0.0) or 0.0
    shipped = line.get("Quantity_Shipped", 0.0) or 0.0
    invoiced = line.get("Quantity_Invoiced", 0.0) or 0.0
    outstanding_quantity = quantity - shipped
    amount = line.get("Net_Amount_Including_VAT", 0.0) or 0.0
    if quantity and line.get("Type") != "Comment":
        outstanding = money(amount * outstanding_quantity / quantity)
        not_invoiced = money(amount * (shipped - invoiced) / quantity)
    else:
        outstanding = not_invoiced = 0.0
    factor = header.get("Currency_Factor", 0.0) or 0.0
    return {
        "Sell_to_Customer_No": header.get("Sell_to_Customer_No", ""),
        "Bill_to_Customer_No": header.get("Bill_to_Customer_No", "") or header.get("Sell_to_Customer_No", ""),
        "Currency_Code": header.get("Currency_Code", ""),
        "Outstanding_Quantity": outstanding_quantity,
        "Outstanding_Amount": outstanding,
        "Outstanding_Amount_LCY": lcy(outstanding, factor),
        "Shipped_Not_Invoiced": not_invoiced,
        "Shipped_Not_Invoiced_LCY": lcy(not_invoiced, factor),
    }


def refresh_lines(store: Store, header_id: str) -> None:
    """Recompute the stored figures of a document's lines (after a line or the header changed)."""
    header = store.get("SalesHeader", header_id)
    if header is None:
        return
    for line in store.find("SalesLine", Document_Id=header_id):
        new = line_figures(header, line)
        changed = {k: v for k, v in new.items() if line.get(k) != v}
        if changed:
            store.update("SalesLine", line["SystemId"], changed, trusted=True)


# -- ledger entries ----------------------------------------------------------------------------


def next_entry_no(store: Store) -> int:
    table = store.tables["CustLedgerEntry"]
    return (store.conn_scalar(sa.select(sa.func.max(table.c.Entry_No))) or 0) + 1


def invoice_entry(header: Mapping[str, Any], entry_no: int) -> dict:
    """The customer ledger entry of a posted invoice (as its header stands now)."""
    factor = header.get("Currency_Factor", 0.0) or 0.0
    amount = header.get("Amount_Including_VAT", 0.0)
    remaining = header.get("Remaining_Amount", amount)
    return {
        "Entry_No": entry_no,
        "Customer_No": header.get("Bill_to_Customer_No") or header.get("Sell_to_Customer_No", ""),
        "Posting_Date": header.get("Posting_Date", t.BLANK_DATE),
        "Document_Date": header.get("Document_Date", t.BLANK_DATE),
        "Due_Date": header.get("Due_Date", t.BLANK_DATE),
        "Document_Type": "Invoice",
        "Document_No": header["No"],
        "External_Document_No": header.get("External_Document_No", ""),
        "Description": f"Invoice {header['No']}"[:100],
        "Salesperson_Code": header.get("Salesperson_Code", ""),
        "Currency_Code": header.get("Currency_Code", ""),
        "Open": abs(remaining) >= 0.005,
        "Amount": amount,
        "Amount_LCY": lcy(amount, factor),
        "Original_Amt_LCY": lcy(amount, factor),
        "Remaining_Amount": remaining,
        "Remaining_Amt_LCY": lcy(remaining, factor),
        "Sales_LCY": lcy(header.get("Amount", 0.0), factor),
    }


def _closing_entry(kind: str, number: str, customer: str, date: str, amount: float, amount_lcy: float, entry_no: int):
    """A payment or credit memo entry applied in full when it is posted (nothing left on it)."""
    return {
        "Entry_No": entry_no,
        "Customer_No": customer,
        "Posting_Date": date,
        "Document_Date": date,
        "Due_Date": date,
        "Document_Type": kind,
        "Document_No": number,
        "Description": f"{kind} {number}"[:100],
        "Open": False,
        "Amount": amount,
        "Amount_LCY": amount_lcy,
        "Original_Amt_LCY": amount_lcy,
        "Remaining_Amount": 0.0,
        "Remaining_Amt_LCY": 0.0,
        "Closed_at_Date": date,
    }


def _apply(store: Store, header: Mapping[str, Any], closed_by: int, on: str) -> None:
    """Bring the invoice's entry in line with the invoice's remaining amount after an application."""
    entries = store.find("CustLedgerEntry", Document_Type="Invoice", Document_No=header["No"])
    if not entries:
        return
    entry = entries[0]
    remaining = header["Remaining_Amount"]
    changes: dict[str, Any] = {
        "Remaining_Amount": remaining,
        "Remaining_Amt_LCY": lcy(remaining, header.get("Currency_Factor", 0.0) or 0.0),
        "Open": abs(remaining) >= 0.005,
    }
    if not changes["Open"]:
        changes.update(Closed_by_Entry_No=closed_by, Closed_at_Date=on)
    store.update("CustLedgerEntry", entry["SystemId"], changes, trusted=True)


def invoice_posted(store: Store, header_id: str) -> None:
    header = store.get("SalesHeader", header_id)
    store.insert("CustLedgerEntry", invoice_entry(header, next_entry_no(store)), trusted=True)


def payment_posted(store: Store, payment: Mapping[str, Any], invoice_ids: Iterable[str]) -> None:
    """A posted payment journal line: its entry (applied in full), and the invoices it paid."""
    entry_no = next_entry_no(store)
    amount = payment["Amount"]
    entry = _closing_entry(
        "Payment",
        payment["Document_No"],
        payment["Customer_No"],
        payment["Posting_Date"],
        amount,
        money(amount),
        entry_no,
    )
    entry.update(
        External_Document_No=payment.get("External_Document_No", ""), Description=payment.get("Description", "")
    )
    store.insert("CustLedgerEntry", entry, trusted=True)
    for invoice_id in dict.fromkeys(invoice_ids):
        _apply(store, store.get("SalesHeader", invoice_id), entry_no, payment["Posting_Date"])


def invoice_canceled(store: Store, header_id: str, on: str) -> None:
    """A canceled invoice: a corrective credit memo entry for its full amount, applied to it."""
    header = store.get("SalesHeader", header_id)
    factor = header["Currency_Factor"] or 0.0
    entry_no = next_entry_no(store)
    amount = -header["Amount_Including_VAT"]
    entry = _closing_entry(
        "Credit Memo",
        f"CR-{header['No']}"[:20],
        header["Bill_to_Customer_No"],
        on,
        amount,
        lcy(amount, factor),
        entry_no,
    )
    entry.update(Currency_Code=header["Currency_Code"], Sales_LCY=-lcy(header["Amount"], factor))
    store.insert("CustLedgerEntry", entry, trusted=True)
    _apply(store, header, entry_no, on)


def seed_entries(headers: Iterable[Mapping[str, Any]], first_entry_no: int) -> list[dict]:
    """Ledger entries for seeded or generated posted invoices, as posting would have written them.

    A paid part becomes one payment entry on the due date (in the invoice's currency); a canceled
    invoice gets its credit memo. Entries get fixed ids and their invoice's time stamps.
    """
    out: list[dict] = []
    entry_no = first_entry_no
    for header in headers:
        if header.get("Document_Type") != "Invoice" or not header.get("Posted"):
            continue
        factor = header.get("Currency_Factor", 0.0) or 0.0
        invoice = invoice_entry(header, entry_no)
        # The entries carry their invoice's time stamps (seeded rows have fixed ones).
        stamps = {k: header[k] for k in ("SystemCreatedAt", "SystemModifiedAt") if header.get(k)}
        invoice.update(_key=str(entry_no), SystemId=t.record_id("CustLedgerEntry", str(entry_no)), **stamps)
        out.append(invoice)
        entry_no += 1
        paid = money(invoice["Amount"] - invoice["Remaining_Amount"])
        if abs(paid) >= 0.005:
            canceled = header.get("Status") == "Canceled"
            on = (
                header.get("Due_Date")
                if header.get("Due_Date", t.BLANK_DATE) != t.BLANK_DATE
                else invoice["Posting_Date"]
            )
            if canceled:
                closing = _closing_entry(
                    "Credit Memo",
                    f"CR-{header['No']}"[:20],
                    invoice["Customer_No"],
                    on,
                    -paid,
                    lcy(-paid, factor),
                    entry_no,
                )
                closing["Sales_LCY"] = -invoice["Sales_LCY"]
            else:
                number = f"G01{entry_no:03d}"
                closing = _closing_entry(
                    "Payment", number, invoice["Customer_No"], on, -paid, lcy(-paid, factor), entry_no
                )
            closing.update(
                Currency_Code=invoice["Currency_Code"],
                _key=str(entry_no),
                SystemId=t.record_id("CustLedgerEntry", str(entry_no)),
                **stamps,
            )
            out.append(closing)
            if not invoice["Open"]:
                invoice.update(Closed_by_Entry_No=entry_no, Closed_at_Date=on)
            entry_no += 1
    return out
