"""Sales documents: header defaults, lines and their amounts, the invoice discount and totals, copies."""

from __future__ import annotations

import sqlalchemy as sa

from include.sandbox.bc import ledger
from include.sandbox.bc import tables as t
from include.sandbox.bc.errors import dialog, field_error, record_not_found
from include.sandbox.bc.records import (
    Ctx,
    apply_relations,
    customer_of,
    due_date,
    find_one,
    money,
    next_number,
    require,
)

DOCUMENT_SERIES = {"Invoice": "S-INV", "Order": "S-ORD", "Quote": "S-QUO"}
DOCUMENT_CAPTION = {"Invoice": "invoice", "Order": "order", "Quote": "quote"}


# -- headers -----------------------------------------------------------------------------------


def _sell_to_defaults(customer: dict) -> dict:
    out = {
        "Sell_to_Customer_Id": customer["SystemId"],
        "Sell_to_Customer_No": customer["No"],
        "Sell_to_Customer_Name": customer["Name"],
        "Phone_No": customer["Phone_No"],
        "E_Mail": customer["E_Mail"],
        "Currency_Code": customer["Currency_Code"],
        "Payment_Terms_Code": customer["Payment_Terms_Code"],
        "Shipment_Method_Code": customer["Shipment_Method_Code"],
        "Salesperson_Code": customer["Salesperson_Code"],
        "Ship_to_Name": customer["Name"],
    }
    for column in ("Address", "Address_2", "City", "County", "Country_Region_Code", "Post_Code"):
        out[f"Sell_to_{column}"] = customer[column]
        out[f"Ship_to_{column}"] = customer[column]
    return out


def _bill_to_defaults(customer: dict) -> dict:
    out = {
        "Bill_to_Customer_Id": customer["SystemId"],
        "Bill_to_Customer_No": customer["No"],
        "Bill_to_Name": customer["Name"],
    }
    for column in ("Address", "Address_2", "City", "County", "Country_Region_Code", "Post_Code"):
        out[f"Bill_to_{column}"] = customer[column]
    return out


def _check_not_blocked(customer: dict) -> None:
    if customer["Blocked"] == "All":
        raise dialog(
            f"You cannot create this type of document when Customer {customer['No']} is blocked with type All. "
            "Unblock the customer first."
        )


def _currency_factor(ctx: Ctx, code: str, on: str | None = None, seen: frozenset[str] = frozenset()) -> float:
    """Units of the currency per unit of local currency (BC's currency factor) on a date.

    From the Currency Exchange Rate in effect (the latest starting date up to ``on``); without one,
    from the currency's standing rate.
    """
    if not code:
        return 0.0
    table = ctx.store.tables["CurrencyExchangeRate"]
    day = on if on and on != t.BLANK_DATE else ctx.today.isoformat()
    statement = (
        sa.select(table.c.Exchange_Rate_Amount, table.c.Relational_Exch_Rate_Amount, table.c.Relational_Currency_Code)
        .where(table.c.Currency_Code == code, table.c.Starting_Date <= day)
        .order_by(table.c.Starting_Date.desc())
        .limit(1)
    )
    rate = ctx.store.conn.execute(statement).first()
    if rate is not None and rate[0] > 0 and rate[1] > 0 and rate[2] not in seen:
        relational = _currency_factor(ctx, rate[2], on, seen | {code}) if rate[2] else 1.0
        return round(rate[0] / rate[1] * (relational or 1.0), 6)
    currency = find_one(ctx, "Currency", Code=code)
    standing = currency["Exchange_Rate"] if currency else 1.0
    return round(1 / standing, 6) if standing else 0.0


def header_before_write(ctx: Ctx, values: dict, old: dict | None) -> None:
    kind = values.get("Document_Type") or old["Document_Type"]
    if old is not None and old["Posted"]:
        raise dialog(f"The {DOCUMENT_CAPTION[kind]} {old['No']} has been posted and can no longer be modified.")
    apply_relations(ctx, "SalesHeader", values)
    sell_to = customer_of(ctx, values, "Sell_to_Customer_Id", "Sell_to_Customer_No")
    changed_customer = sell_to is not None and (old is None or sell_to["SystemId"] != old["Sell_to_Customer_Id"])
    if changed_customer:
        _check_not_blocked(sell_to)
        defaults = _sell_to_defaults(sell_to)
        if not any(k in values for k in ("Bill_to_Customer_Id", "Bill_to_Customer_No")):
            defaults |= _bill_to_defaults(sell_to)
        # The client's own values win; codes taken from the customer get their ids resolved.
        for key, value in defaults.items():
            values.setdefault(key, value)
        apply_relations(ctx, "SalesHeader", values)
    bill_to = customer_of(ctx, values, "Bill_to_Customer_Id", "Bill_to_Customer_No")
    if bill_to is not None and (old is None or bill_to["SystemId"] != old["Bill_to_Customer_Id"]):
        for key, value in _bill_to_defaults(bill_to).items():
            values.setdefault(key, value)
    merged = {**(old or {}), **values}
    if old is None:
        values["No"] = next_number(ctx, DOCUMENT_SERIES[kind])
        values.setdefault("Status", "Draft")
        values["Discount_Applied_Before_Tax"] = True
        values.setdefault("Document_Date", ctx.today.isoformat())
        if kind != "Quote":
            values.setdefault("Posting_Date", values["Document_Date"])
        merged = {**values}
    if "Currency_Code" in values or (old is None and values.get("Currency_Code")):
        values["Currency_Factor"] = _currency_factor(
            ctx, values.get("Currency_Code", merged.get("Currency_Code", "")), merged.get("Posting_Date")
        )
    if kind in ("Invoice", "Quote") and "Due_Date" not in values:
        terms_changed = "Payment_Terms_Code" in values and (
            old is None or values["Payment_Terms_Code"] != old["Payment_Terms_Code"]
        )
        date_changed = "Document_Date" in values and (old is None or values["Document_Date"] != old["Document_Date"])
        if old is None or terms_changed or date_changed:
            values["Due_Date"] = due_date(
                ctx, merged.get("Document_Date", t.BLANK_DATE), merged.get("Payment_Terms_Code", "")
            )
    if "Invoice_Discount_Amount" in values and old is not None:
        lines_total = sum(
            line["Line_Amount"]
            for line in ctx.store.find("SalesLine", Document_Id=old["SystemId"])
            if line["Type"] != "Comment"
        )
        if values["Invoice_Discount_Amount"] > lines_total + 0.005:
            raise dialog(
                f"The invoice discount of {values['Invoice_Discount_Amount']:.2f} is more than the {DOCUMENT_CAPTION[kind]} "
                f"amount of {lines_total:.2f}. Enter a smaller discount."
            )


# -- lines and amounts -------------------------------------------------------------------------


def _tax_percent(ctx: Ctx, header: dict, tax_group: str) -> float:
    if not tax_group:
        return 0.0
    customer = ctx.store.get("Customer", header["Bill_to_Customer_Id"]) if header["Bill_to_Customer_Id"] else None
    if customer is not None and not customer["Tax_Liable"]:
        return 0.0
    group = find_one(ctx, "TaxGroup", Code=tax_group)
    return group["Tax_Percent"] if group else 0.0


def _line_object(ctx: Ctx, values: dict, old: dict | None, header: dict) -> None:
    """Resolve the item, resource or account of a line and default what BC copies from it."""
    kind = values.get("Type") or (old["Type"] if old else None)
    if kind is None:
        kind = "Account" if values.get("Account_Id") not in (None, t.EMPTY_GUID) else "Item"
        values["Type"] = kind
    object_changed = old is None or any(k in values for k in ("Type", "No", "Item_Id", "Account_Id"))
    if not object_changed:
        return
    factor = header["Currency_Factor"] or 0.0
    source: dict | None = None
    if kind == "Item":
        if values.get("Item_Id") not in (None, t.EMPTY_GUID):
            source = ctx.store.get("Item", values["Item_Id"])
            if source is None:
                raise record_not_found("Item", f"Id='{values['Item_Id']}'")
        elif values.get("No"):
            source = require(ctx, "Item", "No", values["No"])
        if source is not None:
            if source["Blocked"]:
                raise dialog(
                    f"Blocked must be equal to 'No' in Item: No.={source['No']}. Current value is 'Yes'. "
                    "Unblock the item or choose another one."
                )
            values.update(No=source["No"], Item_Id=source["SystemId"], Account_Id=t.EMPTY_GUID)
            values.setdefault("Unit_of_Measure_Code", source["Base_Unit_of_Measure"])
    elif kind == "Resource":
        if values.get("No"):
            source = require(ctx, "Resource", "No", values["No"])
            if source["Blocked"]:
                raise dialog(f"Blocked must be equal to 'No' in Resource: No.={source['No']}. Current value is 'Yes'.")
            values.update(Item_Id=t.EMPTY_GUID, Account_Id=t.EMPTY_GUID)
            values.setdefault("Unit_of_Measure_Code", source["Base_Unit_of_Measure"])
    elif kind == "Account":
        if values.get("Account_Id") not in (None, t.EMPTY_GUID):
            source = ctx.store.get("GLAccount", values["Account_Id"])
            if source is None:
                raise record_not_found("G/L Account", f"Id='{values['Account_Id']}'")
        elif values.get("No"):
            source = require(ctx, "GLAccount", "No", values["No"])
        if source is not None:
            if source["Blocked"] or source["Account_Type"] != "Posting":
                raise dialog(f"G/L Account {source['No']} must be an unblocked posting account to be used on a line.")
            values.update(No=source["No"], Account_Id=source["SystemId"], Item_Id=t.EMPTY_GUID)
    elif kind == "Comment":
        values.update(Item_Id=t.EMPTY_GUID, Account_Id=t.EMPTY_GUID)
    else:
        raise field_error(
            f"Lines of type '{kind}' cannot be created through this API; use Item, Resource, Account or Comment."
        )
    if source is not None:
        values.setdefault("Description", source.get("Description") or source.get("Name", ""))
        values.setdefault("Tax_Group_Code", source.get("Tax_Group_Code", ""))
        if "Unit_Price" in source and "Unit_Price" not in values:
            price = source["Unit_Price"]
            values["Unit_Price"] = money(price * factor) if factor else price


def line_amounts(
    quantity: float, unit_price: float, percent: float, discount: float | None = None, vat: float = 0.0
) -> dict:
    """Line amount = quantity x unit price - line discount (given as an amount, else from the percent)."""
    gross = money(quantity * unit_price)
    if discount is not None:
        discount = money(discount)
        percent = round(discount / gross * 100, 5) if gross else 0.0
    else:
        discount = money(gross * percent / 100)
    if abs(discount) > abs(gross) + 0.005:
        raise field_error(f"The line discount {discount:.2f} is more than the line amount {gross:.2f}.")
    amount = money(gross - discount)
    tax = money(amount * vat / 100)
    return {
        "Line_Discount_Amount": discount,
        "Line_Discount_Percent": percent,
        "Line_Amount": amount,
        "VAT_Percent": vat,
        "Total_Tax_Amount": tax,
        "Amount_Including_VAT": money(amount + tax),
    }


def spread_discount(lines: list[dict], discount: float) -> tuple[list[dict], dict]:
    """Allocate an invoice discount over the priced lines (pro rata, the last line takes the rounding).

    Returns the net values of every line (in order) and the document totals.
    """
    priced = [line for line in lines if line["Type"] != "Comment"]
    total = money(sum(line["Line_Amount"] for line in priced))
    discount = min(discount, total) if total > 0 else 0.0
    left = discount
    sums = {"Amount": 0.0, "Total_Tax_Amount": 0.0, "Amount_Including_VAT": 0.0}
    nets = []
    last_priced = max((i for i, x in enumerate(lines) if x["Type"] != "Comment"), default=-1)
    for n, line in enumerate(lines):
        if line["Type"] == "Comment":
            nets.append(
                {"Inv_Discount_Amount": 0.0, "Net_Amount": 0.0, "Net_Tax_Amount": 0.0, "Net_Amount_Including_VAT": 0.0}
            )
            continue
        share = left if n == last_priced else (money(discount * line["Line_Amount"] / total) if total else 0.0)
        left = money(left - share)
        net = money(line["Line_Amount"] - share)
        net_tax = money(net * line["VAT_Percent"] / 100)
        nets.append(
            {
                "Inv_Discount_Amount": share,
                "Net_Amount": net,
                "Net_Tax_Amount": net_tax,
                "Net_Amount_Including_VAT": money(net + net_tax),
            }
        )
        sums["Amount"] += net
        sums["Total_Tax_Amount"] += net_tax
        sums["Amount_Including_VAT"] += net + net_tax
    return nets, {k: money(v) for k, v in sums.items()}


def _line_amounts(ctx: Ctx, row: dict, values: dict, header: dict) -> None:
    if row["Type"] == "Comment":
        if row.get("Quantity"):
            raise field_error("A comment line cannot have a quantity.")
        values.update(Line_Amount=0.0, Line_Discount_Amount=0.0, Total_Tax_Amount=0.0, Amount_Including_VAT=0.0)
        return
    discount = values.get("Line_Discount_Amount") if "Line_Discount_Amount" in values else None
    vat = _tax_percent(ctx, header, row["Tax_Group_Code"])
    values.update(line_amounts(row["Quantity"], row["Unit_Price"], row["Line_Discount_Percent"], discount, vat))


def line_before_write(ctx: Ctx, values: dict, old: dict | None) -> None:
    header_id = values.get("Document_Id") or (old["Document_Id"] if old else None)
    header = ctx.store.get("SalesHeader", header_id) if header_id else None
    kind = values.get("Document_Type") or (old["Document_Type"] if old else "Invoice")
    if header is None or header["Document_Type"] != kind:
        raise record_not_found(f"Sales {DOCUMENT_CAPTION[kind]}", f"Id='{header_id}'")
    if header["Posted"]:
        raise dialog(
            f"The {DOCUMENT_CAPTION[kind]} {header['No']} has been posted and its lines can no longer be changed."
        )
    if old is None:
        values["Document_No"] = header["No"]
        if not values.get("Line_No"):
            lines = ctx.store.find("SalesLine", Document_Id=header_id)
            values["Line_No"] = max((line["Line_No"] for line in lines), default=0) + 10000
    # Resolve the client's codes and ids first, so defaults copied from the item never contradict them.
    apply_relations(ctx, "SalesLine", values)
    _line_object(ctx, values, old, header)
    apply_relations(ctx, "SalesLine", values)
    defaults = {f.name: f.default for f in t.SALES_LINE.fields if f.default is not None}
    row = {**defaults, **(old or {}), **values}
    if kind == "Order" and ("Quantity" in values or old is None):
        values.setdefault("Qty_to_Ship", max(row["Quantity"] - row["Quantity_Shipped"], 0.0))
        values.setdefault("Qty_to_Invoice", max(row["Quantity"] - row["Quantity_Invoiced"], 0.0))
    amount_inputs = (
        "Quantity",
        "Unit_Price",
        "Line_Discount_Amount",
        "Line_Discount_Percent",
        "Tax_Group_Code",
        "Type",
    )
    if old is None or any(k in values for k in (*amount_inputs, "No", "Item_Id", "Account_Id")):
        _line_amounts(ctx, row, values, header)


def recalculate(ctx: Ctx, header_id: str) -> None:
    """Spread the invoice discount over the lines and total the document (BC's totals on the header)."""
    store = ctx.store
    header = store.get("SalesHeader", header_id)
    if header is None:
        return
    lines = sorted(store.find("SalesLine", Document_Id=header_id), key=lambda line: line["Line_No"])
    nets, totals = spread_discount(lines, header["Invoice_Discount_Amount"])
    for line, new in zip(lines, nets, strict=True):
        if any(abs(line[k] - v) > 1e-9 for k, v in new.items()):
            store.update("SalesLine", line["SystemId"], new, trusted=True)
    if not header["Posted"]:
        totals["Remaining_Amount"] = totals["Amount_Including_VAT"]
    if any(abs(header[k] - v) > 1e-9 for k, v in totals.items()):
        store.update("SalesHeader", header_id, totals, trusted=True)
    ledger.refresh_lines(store, header_id)


# -- copies ------------------------------------------------------------------------------------


_COPIED_HEADER = tuple(
    f.name
    for f in t.SALES_HEADER.fields
    if f.name
    not in {
        "SystemId",
        "SystemCreatedAt",
        "SystemModifiedAt",
        "Document_Type",
        "No",
        "Posted",
        "Status",
        "Remaining_Amount",
    }
)
_COPIED_LINE = tuple(
    f.name
    for f in t.SALES_LINE.fields
    if f.name not in {"SystemId", "SystemCreatedAt", "SystemModifiedAt", "Document_Id", "Document_Type", "Document_No"}
)


def copy_document(ctx: Ctx, source: dict, kind: str, extra: dict) -> dict:
    store = ctx.store
    values = {k: source[k] for k in _COPIED_HEADER} | {"Document_Type": kind, "Status": "Draft"} | extra
    values["No"] = next_number(ctx, DOCUMENT_SERIES[kind])
    values["Document_Date"] = ctx.today.isoformat()
    if kind != "Quote":
        values["Posting_Date"] = values["Document_Date"]
    header = store.insert("SalesHeader", values, trusted=True)
    for line in store.find("SalesLine", Document_Id=source["SystemId"]):
        copied = {k: line[k] for k in _COPIED_LINE}
        copied.update(Document_Id=header["SystemId"], Document_Type=kind, Document_No=header["No"])
        if kind == "Order":
            copied.update(Qty_to_Ship=line["Quantity"], Qty_to_Invoice=line["Quantity"])
        store.insert("SalesLine", copied, trusted=True)
    recalculate(ctx, header["SystemId"])
    return store.get("SalesHeader", header["SystemId"])


def delete_document(ctx: Ctx, header: dict) -> None:
    for line in ctx.store.find("SalesLine", Document_Id=header["SystemId"]):
        ctx.store.delete("SalesLine", line["SystemId"])
    ctx.store.delete("SalesHeader", header["SystemId"])
