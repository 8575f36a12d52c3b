"""BC's bound actions (posting, sending, canceling, quotes made into documents) and customer payments."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import sqlalchemy as sa

from include.sandbox.bc import ledger
from include.sandbox.bc import tables as t
from include.sandbox.bc.documents import copy_document, delete_document, recalculate
from include.sandbox.bc.errors import dialog, field_error, record_not_found
from include.sandbox.bc.records import Ctx, customer_of, due_date, find_one, money, next_number

POSTED_INVOICE_SERIES = "PS-INV"
PAYMENT_SERIES = "PAYMENT"


# -- customer payments -------------------------------------------------------------------------


def payment_before_write(ctx: Ctx, values: dict, old: dict | None) -> None:
    """A customer payment journal line: its journal, customer and the invoice it applies to."""
    store = ctx.store
    journal_id = values.get("Journal_Id") or (old["Journal_Id"] if old else None)
    journal = store.get("CustomerPaymentJournal", journal_id) if journal_id else None
    if journal is None:
        raise record_not_found("Customer Payment Journal", f"Id='{journal_id}'")
    if old is None:
        values["Journal_Code"] = journal["Code"]
        if not values.get("Line_No"):
            lines = store.find("CustomerPayment", Journal_Id=journal_id)
            values["Line_No"] = max((line["Line_No"] for line in lines), default=0) + 10000
        values.setdefault("Posting_Date", ctx.today.isoformat())
        if not values.get("Document_No"):
            values["Document_No"] = next_number(ctx, PAYMENT_SERIES)
    customer = customer_of(ctx, values, "Customer_Id", "Customer_No")
    if customer is not None:
        values.update(Customer_Id=customer["SystemId"], Customer_No=customer["No"])
        if old is None:
            values.setdefault("Description", f"Payment {customer['Name']}"[:100])
    merged = {**(old or {}), **values}
    invoice = None
    if values.get("Applies_to_Invoice_Id") not in (None, t.EMPTY_GUID):
        invoice = store.get("SalesHeader", values["Applies_to_Invoice_Id"])
    elif values.get("Applies_to_Invoice_No"):
        invoice = find_one(ctx, "SalesHeader", Document_Type="Invoice", No=values["Applies_to_Invoice_No"])
    elif "Applies_to_Invoice_Id" in values or "Applies_to_Invoice_No" in values:
        values.update(Applies_to_Invoice_Id=t.EMPTY_GUID, Applies_to_Invoice_No="")
        return
    else:
        return
    if invoice is None or invoice["Document_Type"] != "Invoice" or not invoice["Posted"]:
        raise field_error("The payment can only be applied to a posted sales invoice; check appliesToInvoiceId/Number.")
    if merged.get("Customer_No") and invoice["Bill_to_Customer_No"] != merged["Customer_No"]:
        raise field_error(
            f"Posted invoice {invoice['No']} belongs to customer {invoice['Bill_to_Customer_No']}, "
            f"not to {merged['Customer_No']}."
        )
    values.update(Applies_to_Invoice_Id=invoice["SystemId"], Applies_to_Invoice_No=invoice["No"])


def post_payments(ctx: Ctx, journal: dict) -> None:
    """Post a payment journal: each payment closes its invoice, or the customer's oldest open ones."""
    store = ctx.store
    lines = sorted(store.find("CustomerPayment", Journal_Id=journal["SystemId"]), key=lambda line: line["Line_No"])
    if not lines:
        raise dialog("There is nothing to post.")
    for line in lines:
        if not line["Customer_No"]:
            raise dialog(f"Customer No. must have a value in the payment journal line {line['Line_No']}.")
        if line["Amount"] >= 0:
            raise dialog(
                f"The payment journal line {line['Line_No']} has the amount {line['Amount']:.2f}; a payment "
                "received is entered as a negative amount."
            )
        left = -line["Amount"]
        header = store.tables["SalesHeader"]
        if line["Applies_to_Invoice_Id"] != t.EMPTY_GUID:
            targets = [store.get("SalesHeader", line["Applies_to_Invoice_Id"])]
        else:
            statement = (
                sa.select(header.c.SystemId)
                .where(
                    header.c.Document_Type == "Invoice",
                    header.c.Posted.is_(True),
                    header.c.Status == "Open",
                    header.c.Bill_to_Customer_No == line["Customer_No"],
                    header.c.Remaining_Amount > 0,
                )
                .order_by(header.c.Due_Date, header.c.No)
            )
            targets = [store.get("SalesHeader", sid) for (sid,) in store.conn.execute(statement).fetchall()]
        paid = []
        for invoice in targets:
            if left <= 0.005:
                break
            paid.append(invoice["SystemId"])
            applied = min(left, invoice["Remaining_Amount"])
            remaining = money(invoice["Remaining_Amount"] - applied)
            status = "Paid" if remaining == 0 else invoice["Status"]
            store.update(
                "SalesHeader", invoice["SystemId"], {"Remaining_Amount": remaining, "Status": status}, trusted=True
            )
            left = money(left - applied)
        if left > 0.005:
            raise dialog(
                f"The payment of {-line['Amount']:.2f} from customer {line['Customer_No']} is {left:.2f} more than "
                "the open amount of the invoices it applies to. Enter a smaller amount."
            )
        ledger.payment_posted(store, line, paid)
        store.delete("CustomerPayment", line["SystemId"])


# -- posting and the other bound actions -------------------------------------------------------


def _posting_checks(ctx: Ctx, header: dict) -> list[dict]:
    kind = header["Document_Type"]
    if not header["Sell_to_Customer_No"]:
        raise dialog(
            f"Sell-to Customer No. must have a value in Sales Header: Document Type={kind}, No.={header['No']}. "
            "It cannot be zero or empty."
        )
    customer = find_one(ctx, "Customer", No=header["Bill_to_Customer_No"] or header["Sell_to_Customer_No"])
    if customer is not None and customer["Blocked"] in ("Invoice", "All"):
        raise dialog(
            f"You cannot post this type of document when Customer {customer['No']} is blocked with type "
            f"{customer['Blocked']}."
        )
    lines = sorted(ctx.store.find("SalesLine", Document_Id=header["SystemId"]), key=lambda line: line["Line_No"])
    if not any(line["Quantity"] for line in lines if line["Type"] != "Comment"):
        raise dialog("There is nothing to post.")
    for line in lines:
        if line["Type"] == "Item" and line["Item_Id"] != t.EMPTY_GUID:
            item = ctx.store.get("Item", line["Item_Id"])
            if item is not None and item["Blocked"]:
                raise dialog(f"Blocked must be equal to 'No' in Item: No.={item['No']}. Current value is 'Yes'.")
    return lines


def _stored_decimal(value: sa.ColumnElement) -> sa.ColumnElement:
    """``value`` to 15 significant digits in SQL, as the store keeps every decimal it writes."""
    return sa.cast(sa.func.printf(sa.literal_column("'%!.15g'"), value), sa.Float)


def _reduce_inventory(ctx: Ctx, lines: Iterable[dict]) -> None:
    """Posting ships the items: inventory (a FlowField) drops, the item record itself is not modified."""
    table = ctx.store.tables["Item"]
    for line in lines:
        if line["Type"] == "Item" and line["Item_Id"] != t.EMPTY_GUID and line["Quantity"]:
            ctx.store.conn.execute(
                table.update()
                .where(table.c.SystemId == line["Item_Id"], table.c.Type == "Inventory")
                .values(Inventory=_stored_decimal(table.c.Inventory - line["Quantity"]))
            )


def _finish_posting(ctx: Ctx, header: dict, lines: list[dict]) -> None:
    store = ctx.store
    number = next_number(ctx, POSTED_INVOICE_SERIES)
    posting_date = header["Posting_Date"] if header["Posting_Date"] != t.BLANK_DATE else ctx.today.isoformat()
    changes = {
        "No": number,
        "Posted": True,
        "Status": "Open" if header["Amount_Including_VAT"] > 0 else "Paid",
        "Posting_Date": posting_date,
        "Remaining_Amount": header["Amount_Including_VAT"],
    }
    if header["Due_Date"] == t.BLANK_DATE:
        changes["Due_Date"] = due_date(ctx, posting_date, header["Payment_Terms_Code"])
    for line in lines:
        store.update(
            "SalesLine",
            line["SystemId"],
            {"Document_No": number, "Quantity_Invoiced": line["Quantity"], "Quantity_Shipped": line["Quantity"]},
            trusted=True,
        )
    with store.transaction():
        _reduce_inventory(ctx, lines)
    store.update("SalesHeader", header["SystemId"], changes, trusted=True)
    ledger.refresh_lines(store, header["SystemId"])
    ledger.invoice_posted(store, header["SystemId"])


def post_invoice(ctx: Ctx, header: dict) -> None:
    if header["Posted"]:
        raise dialog(f"The invoice {header['No']} has already been posted.")
    lines = _posting_checks(ctx, header)
    recalculate(ctx, header["SystemId"])
    _finish_posting(ctx, ctx.store.get("SalesHeader", header["SystemId"]), lines)


def send_document(ctx: Ctx, header: dict) -> None:
    if header["Document_Type"] == "Quote":
        if header["Status"] == "Draft":
            ctx.store.update(
                "SalesHeader", header["SystemId"], {"Status": "Sent", "Sent_Date": ctx.today.isoformat()}, trusted=True
            )
    elif not header["Posted"]:
        raise dialog(f"Invoice {header['No']} is a draft. Post it before sending it.")


def cancel_invoice(ctx: Ctx, header: dict) -> None:
    if not header["Posted"]:
        raise dialog(f"Invoice {header['No']} is a draft and cannot be canceled; delete it instead.")
    if header["Status"] != "Open" or abs(header["Remaining_Amount"] - header["Amount_Including_VAT"]) > 0.005:
        raise dialog(
            f"Invoice {header['No']} cannot be canceled because it is {header['Status'].lower()} or partly paid."
        )
    ctx.store.update("SalesHeader", header["SystemId"], {"Status": "Canceled", "Remaining_Amount": 0.0}, trusted=True)
    ledger.invoice_canceled(ctx.store, header["SystemId"], ctx.today.isoformat())


def make_invoice(ctx: Ctx, quote: dict) -> None:
    _posting_checks(ctx, quote)
    copy_document(ctx, quote, "Invoice", {"Quote_Id": quote["SystemId"], "Quote_No": quote["No"]})
    delete_document(ctx, quote)


def make_order(ctx: Ctx, quote: dict) -> None:
    _posting_checks(ctx, quote)
    copy_document(ctx, quote, "Order", {"Quote_Id": quote["SystemId"], "Quote_No": quote["No"]})
    delete_document(ctx, quote)


def ship_and_invoice(ctx: Ctx, order: dict) -> None:
    """Ship and invoice the whole order: a posted invoice replaces it, as when an order is fully invoiced."""
    _posting_checks(ctx, order)
    invoice = copy_document(ctx, order, "Invoice", {"Order_Id": order["SystemId"], "Order_No": order["No"]})
    delete_document(ctx, order)
    lines = ctx.store.find("SalesLine", Document_Id=invoice["SystemId"])
    _finish_posting(ctx, invoice, lines)


ACTIONS: dict[str, Callable[[Ctx, dict], None]] = {
    "post_invoice": post_invoice,
    "send_document": send_document,
    "cancel_invoice": cancel_invoice,
    "make_invoice": make_invoice,
    "make_order": make_order,
    "ship_and_invoice": ship_and_invoice,
    "post_payments": post_payments,
}
