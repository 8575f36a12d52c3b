"""The hooks the engine calls around a client's writes and deletes, sent to the rules of each table.

The rules, BC's application logic as clients observe it through the API, live in
:mod:`.records` (relations, master data), :mod:`.crm` (contacts, business relations,
opportunities), :mod:`.documents`, :mod:`.posting` (actions, payments) and :mod:`.figures`
(computed on read). Internal writes go straight to the store: they are the
server's own logic, not client requests.
"""

from __future__ import annotations

from include.sandbox.bc import crm, ledger
from include.sandbox.bc.documents import DOCUMENT_CAPTION, header_before_write, line_before_write, recalculate
from include.sandbox.bc.errors import dialog
from include.sandbox.bc.posting import payment_before_write
from include.sandbox.bc.records import Ctx, before_write_master

CRM_BEFORE_WRITE = {
    "Contact": crm.contact_before_write,
    "ContactBusinessRelation": crm.relation_before_write,
    "Opportunity": crm.opportunity_before_write,
}


def before_write(ctx: Ctx, table: str, values: dict, old: dict | None) -> None:
    """Defaults, relations and checks before a client's create (``old`` None) or update."""
    if table == "SalesHeader":
        header_before_write(ctx, values, old)
    elif table == "SalesLine":
        line_before_write(ctx, values, old)
    elif table == "CustomerPayment":
        payment_before_write(ctx, values, old)
    elif table in CRM_BEFORE_WRITE:
        CRM_BEFORE_WRITE[table](ctx, values, old)
    else:
        before_write_master(ctx, table, values, old)


def after_write(ctx: Ctx, table: str, row: dict, old: dict | None) -> None:
    if table == "Customer":
        crm.customer_after_write(ctx, row, old)
    elif table == "Contact":
        crm.contact_after_write(ctx, row, old)
    elif table == "ContactBusinessRelation":
        crm.refresh_relation_kind(ctx, row["Contact_No"])
        if old is not None and old["Contact_No"] != row["Contact_No"]:
            crm.refresh_relation_kind(ctx, old["Contact_No"])
    elif table == "SalesLine":
        recalculate(ctx, row["Document_Id"])
    elif table == "SalesHeader" and (old is None or row["Invoice_Discount_Amount"] != old["Invoice_Discount_Amount"]):
        recalculate(ctx, row["SystemId"])
    elif table == "SalesHeader" and any(row[k] != old[k] for k in ledger.HEADER_FIELDS):
        ledger.refresh_lines(ctx.store, row["SystemId"])


def before_delete(ctx: Ctx, table: str, row: dict) -> None:
    store = ctx.store
    if table == "Contact":
        crm.contact_before_delete(ctx, row)
    elif table == "SalesHeader":
        if row["Posted"]:
            raise dialog(f"Posted {DOCUMENT_CAPTION[row['Document_Type']]} {row['No']} cannot be deleted.")
        for line in store.find("SalesLine", Document_Id=row["SystemId"]):
            store.delete("SalesLine", line["SystemId"])
    elif table == "CustomerPaymentJournal":
        for line in store.find("CustomerPayment", Journal_Id=row["SystemId"]):
            store.delete("CustomerPayment", line["SystemId"])
    elif table == "SalesLine":
        header = store.get("SalesHeader", row["Document_Id"])
        if header is not None and header["Posted"]:
            raise dialog(f"The invoice {header['No']} has been posted and its lines can no longer be deleted.")
    elif table == "Item" and store.find("SalesLine", Item_Id=row["SystemId"]):
        raise dialog(
            f"You cannot delete Item {row['No']} because there are one or more sales documents or posted "
            "invoices that include this item."
        )
    elif table == "Customer" and (
        store.find("SalesHeader", Sell_to_Customer_Id=row["SystemId"])
        or store.find("SalesHeader", Bill_to_Customer_Id=row["SystemId"])
    ):
        raise dialog(
            f"You cannot delete Customer {row['No']} because there is at least one sales document or posted "
            "invoice for this customer."
        )


def after_delete(ctx: Ctx, table: str, row: dict) -> None:
    if table == "SalesLine":
        recalculate(ctx, row["Document_Id"])
    elif table == "Customer":
        crm.customer_after_delete(ctx, row)
    elif table == "Contact":
        crm.contact_after_delete(ctx, row)
    elif table == "ContactBusinessRelation":
        crm.refresh_relation_kind(ctx, row["Contact_No"])
