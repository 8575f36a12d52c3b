"""Business Central's application rules that clients can observe through the API.

Table relations (a code must name an existing record; code and id fields stay in step), number
series, sales document defaults and totals, posting, and the FlowField-like figures the API
computes on read (customer balance, financial details). Internal writes go straight to the store:
they are the server's own logic, not client requests.
"""

from __future__ import annotations

import calendar
import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from include.sandbox.bc import ledger
from include.sandbox.bc import tables as t
from include.sandbox.bc.errors import dialog, field_error, record_not_found
from include.sandbox.config import SandboxConfig
from include.sandbox.store import Store

DOCUMENT_SERIES = {"Invoice": "S-INV", "Order": "S-ORD", "Quote": "S-QUO"}
POSTED_INVOICE_SERIES = "PS-INV"
PAYMENT_SERIES = "PAYMENT"
RECORD_SERIES = {"Item": "ITEM", "Customer": "CUST", "Vendor": "VEND", "Resource": "RES"}
DOCUMENT_CAPTION = {"Invoice": "invoice", "Order": "order", "Quote": "quote"}


@dataclass
class Ctx:
    """What the rules need: the store, the settings, and the work date."""

    store: Store
    config: SandboxConfig

    @property
    def today(self) -> dt.date:
        return dt.datetime.now(dt.UTC).date()


def money(value: float) -> float:
    return round(value + 0.0, 2)


# -- lookups -----------------------------------------------------------------------------------


def find_one(ctx: Ctx, table: str, **values: Any) -> dict | None:
    rows = ctx.store.find(table, **values)
    return rows[0] if rows else None


def require(ctx: Ctx, table: str, column: str, value: Any) -> dict:
    row = find_one(ctx, table, **{column: value})
    if row is None:
        raise record_not_found(t.caption(table), f"{t.field_caption(column)}='{value}'")
    return row


def apply_relations(ctx: Ctx, table: str, values: dict) -> None:
    """Keep each code field and its id field in step, and check that the code exists."""
    for rel in t.RELATIONS.get(table, ()):
        if rel.code in values:
            code = values[rel.code]
            if code == "":
                related_id = t.EMPTY_GUID
            elif rel.table is None:
                related_id = t.record_id(rel.code, code)
            else:
                row = find_one(ctx, rel.table, **{rel.target_code: code})
                if row is None:
                    raise field_error(
                        f"The field {rel.caption or t.field_caption(rel.code)} of table {t.caption(table)} contains "
                        f"a value ({code}) that cannot be found in the related table ({t.caption(rel.table)})."
                    )
                related_id = row["SystemId"]
            if rel.id:
                given = values.get(rel.id)
                if given is not None and given != related_id and rel.table is not None:
                    raise field_error(
                        f"The {t.caption(rel.table)} id {given} and the code '{code}' given for "
                        f"{t.caption(table)} name different records; send only one of them."
                    )
                values[rel.id] = related_id
        elif rel.id and rel.id in values:
            related_id = values[rel.id]
            if related_id == t.EMPTY_GUID:
                values[rel.code] = ""
            elif rel.table is None:
                raise field_error(
                    f"Set {t.field_caption(rel.code)} of {t.caption(table)} by its code; the id alone cannot be resolved."
                )
            else:
                row = ctx.store.get(rel.table, related_id)
                if row is None:
                    raise field_error(
                        f"The {t.caption(rel.table)} with id {related_id} does not exist; "
                        f"it cannot be used as {t.field_caption(rel.code)} of {t.caption(table)}."
                    )
                values[rel.code] = row[rel.target_code]


# -- number series -----------------------------------------------------------------------------


def increment(number: str) -> str:
    """BC's IncStr: add one to the last run of digits, keeping its width ("PS-INV103009" -> "PS-INV103010")."""
    end = len(number)
    while end > 0 and not number[end - 1].isdigit():
        end -= 1
    start = end
    while start > 0 and number[start - 1].isdigit():
        start -= 1
    if start == end:
        raise dialog(f"The number '{number}' cannot be incremented because it contains no digits.")
    digits = str(int(number[start:end]) + 1).zfill(end - start)
    return number[:start] + digits + number[end:]


def next_number(ctx: Ctx, series: str) -> str:
    row = find_one(ctx, "NoSeries", Code=series)
    if row is None:
        raise dialog(f"The number series {series} does not exist. Create it before creating records that use it.")
    number = increment(row["Last_No_Used"])
    ctx.store.update("NoSeries", row["SystemId"], {"Last_No_Used": number}, trusted=True)
    return number


# -- dates -------------------------------------------------------------------------------------


def add_formula(start: dt.date, formula: str) -> dt.date:
    """Apply a BC date formula of whole terms joined by ``+``: ``30D``, ``2W``, ``1M``, ``1Y``, ``CM``."""
    result = start
    for term in (formula or "").replace(" ", "").upper().split("+"):
        if not term:
            continue
        if term == "CM":
            result = result.replace(day=calendar.monthrange(result.year, result.month)[1])
            continue
        unit, amount = term[-1], term[:-1]
        if not amount.isdigit() or unit not in "DWMY":
            raise field_error(f"The date formula '{formula}' is not supported; use terms like 30D, 2W, 1M or CM.")
        n = int(amount)
        if unit == "D":
            result += dt.timedelta(days=n)
        elif unit == "W":
            result += dt.timedelta(weeks=n)
        else:
            months = n if unit == "M" else 12 * n
            year, month = divmod(result.month - 1 + months, 12)
            year += result.year
            day = min(result.day, calendar.monthrange(year, month + 1)[1])
            result = dt.date(year, month + 1, day)
    return result


def due_date(ctx: Ctx, document_date: str, payment_terms: str) -> str:
    if document_date == t.BLANK_DATE:
        return t.BLANK_DATE
    formula = ""
    if payment_terms:
        terms = find_one(ctx, "PaymentTerms", Code=payment_terms)
        formula = terms["Due_Date_Calculation"] if terms else ""
    return add_formula(dt.date.fromisoformat(document_date), formula).isoformat()


# -- master data -------------------------------------------------------------------------------


def _before_write_master(ctx: Ctx, table: str, values: dict, old: dict | None) -> None:
    if old is None and table in RECORD_SERIES and not values.get("No"):
        values["No"] = next_number(ctx, RECORD_SERIES[table])
    if old is None:
        for f in t.BY_NAME[table].fields:
            if f.required and f.type == "string" and not values.get(f.name):
                raise field_error(
                    f"{t.field_caption(f.name)} must have a value in {t.caption(table)}. It cannot be zero or empty."
                )
    changes_type = table == "Item" and old is not None and values.get("Type", old["Type"]) != old["Type"]
    if changes_type and values["Type"] != "Inventory" and old["Inventory"] != 0:
        raise dialog(
            f"You cannot change the Type field on Item {old['No']} because it has inventory "
            f"({old['Inventory']:g}). Adjust the inventory to 0 first."
        )
    if table == "SalesPrice":
        merged = {**(old or {}), **values}
        _check_sales_price(ctx, merged)
    apply_relations(ctx, table, values)


def _check_sales_price(ctx: Ctx, row: dict) -> None:
    sales_type, code = row.get("Sales_Type", "Customer"), row.get("Sales_Code", "")
    if sales_type == "All Customers":
        if code:
            raise field_error("Sales Code must be blank when Sales Type is All Customers.")
    elif not code:
        raise field_error(f"Sales Code must have a value when Sales Type is {sales_type}.")
    elif sales_type == "Customer Price Group" and find_one(ctx, "CustomerPriceGroup", Code=code) is None:
        raise field_error(
            f"The field Sales Code of table Sales Price contains a value ({code}) that cannot be found in the "
            "related table (Customer Price Group)."
        )
    elif sales_type == "Customer" and find_one(ctx, "Customer", No=code) is None:
        raise field_error(
            f"The field Sales Code of table Sales Price contains a value ({code}) that cannot be found in the "
            "related table (Customer)."
        )
    start, end = row.get("Starting_Date", t.BLANK_DATE), row.get("Ending_Date", t.BLANK_DATE)
    if start != t.BLANK_DATE and end != t.BLANK_DATE and start > end:
        raise field_error(
            f"Starting Date {start} cannot be after Ending Date {end} in Sales Price {row.get('Item_No')}."
        )


# -- sales documents ---------------------------------------------------------------------------


def _customer(ctx: Ctx, values: dict, id_column: str, no_column: str) -> dict | None:
    """The customer a document names by id or number (both given must agree)."""
    if values.get(id_column) not in (None, t.EMPTY_GUID):
        customer = ctx.store.get("Customer", values[id_column])
        if customer is None:
            raise record_not_found("Customer", f"Id='{values[id_column]}'")
        if values.get(no_column) not in (None, "", customer["No"]):
            raise field_error(
                f"The customer id {values[id_column]} and number '{values[no_column]}' name different customers; "
                "send only one of them."
            )
        return customer
    if values.get(no_column):
        return require(ctx, "Customer", "No", values[no_column])
    return None


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


def _header_before_write(ctx: Ctx, values: dict, old: dict | None) -> None:
    kind = values.get("Document_Type") or old["Document_Type"]
    if old is not None and old["Posted"]:
        raise dialog(f"The {DOCUMENT_CAPTION[kind]} {old['No']} has been posted and can no longer be modified.")
    apply_relations(ctx, "SalesHeader", values)
    sell_to = _customer(ctx, values, "Sell_to_Customer_Id", "Sell_to_Customer_No")
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
    bill_to = _customer(ctx, values, "Bill_to_Customer_Id", "Bill_to_Customer_No")
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


def _line_before_write(ctx: Ctx, values: dict, old: dict | None) -> None:
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


# -- hooks the engine calls --------------------------------------------------------------------


def _payment_before_write(ctx: Ctx, values: dict, old: dict | None) -> None:
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
    customer = _customer(ctx, values, "Customer_Id", "Customer_No")
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


def before_write(ctx: Ctx, table: str, values: dict, old: dict | None) -> None:
    """Defaults, relations and checks before a client's create (``old`` None) or update."""
    if table == "SalesHeader":
        _header_before_write(ctx, values, old)
    elif table == "SalesLine":
        _line_before_write(ctx, values, old)
    elif table == "CustomerPayment":
        _payment_before_write(ctx, values, old)
    else:
        _before_write_master(ctx, table, values, old)


def after_write(ctx: Ctx, table: str, row: dict, old: dict | None) -> None:
    if table == "SalesLine":
        recalculate(ctx, row["Document_Id"])
    elif table == "SalesHeader" and (old is None or row["Invoice_Discount_Amount"] != old["Invoice_Discount_Amount"]):
        recalculate(ctx, row["SystemId"])
    elif table == "SalesHeader" and any(row[k] != old[k] for k in ledger.HEADER_FIELDS):
        ledger.refresh_lines(ctx.store, row["SystemId"])


def before_delete(ctx: Ctx, table: str, row: dict) -> None:
    store = ctx.store
    if table == "SalesHeader":
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


# -- bound actions -----------------------------------------------------------------------------


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


def _copy_document(ctx: Ctx, source: dict, kind: str, extra: dict) -> dict:
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


def _delete_document(ctx: Ctx, header: dict) -> None:
    for line in ctx.store.find("SalesLine", Document_Id=header["SystemId"]):
        ctx.store.delete("SalesLine", line["SystemId"])
    ctx.store.delete("SalesHeader", header["SystemId"])


def make_invoice(ctx: Ctx, quote: dict) -> None:
    _posting_checks(ctx, quote)
    _copy_document(ctx, quote, "Invoice", {"Quote_Id": quote["SystemId"], "Quote_No": quote["No"]})
    _delete_document(ctx, quote)


def make_order(ctx: Ctx, quote: dict) -> None:
    _posting_checks(ctx, quote)
    _copy_document(ctx, quote, "Order", {"Quote_Id": quote["SystemId"], "Quote_No": quote["No"]})
    _delete_document(ctx, quote)


def ship_and_invoice(ctx: Ctx, order: dict) -> None:
    """Ship and invoice the whole order: a posted invoice replaces it, as when an order is fully invoiced."""
    _posting_checks(ctx, order)
    invoice = _copy_document(ctx, order, "Invoice", {"Order_Id": order["SystemId"], "Order_No": order["No"]})
    _delete_document(ctx, order)
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


# -- figures computed on read (FlowFields) -----------------------------------------------------


def _chunks(values: list, size: int = 900) -> Iterable[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _lcy(amount: sa.ColumnElement, factor: sa.ColumnElement) -> sa.ColumnElement:
    return sa.case((factor > 0, amount / factor), else_=amount)


def customer_figures(ctx: Ctx, numbers: list[str], wanted: set[str]) -> dict[str, dict[str, float]]:
    """Per customer number: balance, sales, overdue and outstanding amounts in local currency."""
    store = ctx.store
    header, line = store.tables["SalesHeader"], store.tables["SalesLine"]
    today = ctx.today.isoformat()
    out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for chunk in _chunks(sorted(set(numbers))):
        posted = sa.and_(
            header.c.Document_Type == "Invoice", header.c.Posted.is_(True), header.c.Bill_to_Customer_No.in_(chunk)
        )
        remaining = _lcy(header.c.Remaining_Amount, header.c.Currency_Factor)
        statement = (
            sa.select(
                header.c.Bill_to_Customer_No,
                sa.func.sum(remaining),
                sa.func.sum(
                    sa.case((header.c.Status == "Canceled", 0.0), else_=_lcy(header.c.Amount, header.c.Currency_Factor))
                ),
                sa.func.sum(
                    sa.case(
                        (sa.and_(header.c.Due_Date < today, header.c.Due_Date != t.BLANK_DATE), remaining), else_=0.0
                    )
                ),
            )
            .where(posted)
            .group_by(header.c.Bill_to_Customer_No)
        )
        for number, balance, sales, overdue in store.conn.execute(statement):
            out[number].update(balance=balance or 0.0, sales=sales or 0.0, overdue=overdue or 0.0)
        if wanted & {"orders", "shipped", "drafts"}:
            drafts = (
                sa.select(
                    header.c.Bill_to_Customer_No,
                    sa.func.sum(_lcy(header.c.Amount_Including_VAT, header.c.Currency_Factor)),
                )
                .where(
                    header.c.Document_Type == "Invoice",
                    header.c.Posted.is_(False),
                    header.c.Bill_to_Customer_No.in_(chunk),
                )
                .group_by(header.c.Bill_to_Customer_No)
            )
            for number, amount in store.conn.execute(drafts):
                out[number]["drafts"] = amount or 0.0
            share = sa.case((line.c.Quantity != 0, line.c.Net_Amount_Including_VAT / line.c.Quantity), else_=0.0)
            orders = (
                sa.select(
                    header.c.Bill_to_Customer_No,
                    sa.func.sum(_lcy(share * (line.c.Quantity - line.c.Quantity_Shipped), header.c.Currency_Factor)),
                    sa.func.sum(
                        _lcy(share * (line.c.Quantity_Shipped - line.c.Quantity_Invoiced), header.c.Currency_Factor)
                    ),
                )
                .select_from(line.join(header, line.c.Document_Id == header.c.SystemId))
                .where(header.c.Document_Type == "Order", header.c.Bill_to_Customer_No.in_(chunk))
                .group_by(header.c.Bill_to_Customer_No)
            )
            for number, outstanding, shipped in store.conn.execute(orders):
                out[number].update(orders=outstanding or 0.0, shipped=shipped or 0.0)
    return out


def _customer_balance(ctx: Ctx, rows: list[dict]) -> None:
    figures = customer_figures(ctx, [r["number"] for r in rows], set())
    for r in rows:
        r["balanceDue"] = money(figures.get(r["number"], {}).get("balance", 0.0))


def _customer_financials(ctx: Ctx, rows: list[dict]) -> None:
    figures = customer_figures(ctx, [r["number"] for r in rows], set())
    for r in rows:
        f = figures.get(r["number"], {})
        r["balance"] = money(f.get("balance", 0.0))
        r["totalSalesExcludingTax"] = money(f.get("sales", 0.0))
        r["overdueAmount"] = money(f.get("overdue", 0.0))


def _customer_card(ctx: Ctx, rows: list[dict]) -> None:
    figures = customer_figures(ctx, [r["No"] for r in rows], {"orders", "shipped", "drafts"})
    for r in rows:
        f = figures.get(r["No"], {})
        r["Balance_LCY"] = money(f.get("balance", 0.0))
        r["Balance_Due_LCY"] = money(f.get("overdue", 0.0))
        r["Sales_LCY"] = money(f.get("sales", 0.0))
        r["Outstanding_Orders_LCY"] = money(f.get("orders", 0.0))
        r["Shipped_Not_Invoiced_LCY"] = money(f.get("shipped", 0.0))
        r["Outstanding_Invoices_LCY"] = money(f.get("drafts", 0.0))


def _zero_net_change(ctx: Ctx, rows: list[dict]) -> None:
    for r in rows:
        r["netChange"] = 0.0


def _line_discount_flag(ctx: Ctx, rows: list[dict]) -> None:
    # The company computes invoice discounts before tax, as BC's W1 localization does.
    for r in rows:
        r["discountAppliedBeforeTax"] = True


# name -> (function, public properties it needs in each row)
COMPUTED: dict[str, tuple[Callable[[Ctx, list[dict]], None], tuple[str, ...]]] = {
    "customer_balance": (_customer_balance, ("number",)),
    "customer_financials": (_customer_financials, ("number",)),
    "customer_card": (_customer_card, ("No",)),
    "zero_net_change": (_zero_net_change, ()),
    "line_discount_flag": (_line_discount_flag, ()),
}


def new_id() -> str:
    return str(uuid.uuid4())
