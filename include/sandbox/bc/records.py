"""What the BC rules build on: their context, lookups and relations, number series, dates, master-data checks."""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from typing import Any

from include.sandbox.bc import tables as t
from include.sandbox.bc.errors import UnknownRelatedId, dialog, field_error, invalid_relation, record_not_found
from include.sandbox.config import SandboxConfig
from include.sandbox.store import Store

RECORD_SERIES = {
    "Item": "ITEM",
    "Customer": "CUST",
    "Vendor": "VEND",
    "Resource": "RES",
    "Contact": "CONT",
    "Opportunity": "OPP",
}


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
                    caption = rel.caption or t.field_caption(rel.code)
                    raise invalid_relation(caption, t.caption(table), code, t.caption(rel.table))
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
                    raise UnknownRelatedId(rel.id, t.caption(rel.table))
                values[rel.code] = row[rel.target_code]


def customer_of(ctx: Ctx, values: dict, id_column: str, no_column: str) -> dict | None:
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


def before_write_master(ctx: Ctx, table: str, values: dict, old: dict | None) -> None:
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
        raise invalid_relation("Sales Code", "Sales Price", code, "Customer Price Group")
    elif sales_type == "Customer" and find_one(ctx, "Customer", No=code) is None:
        raise invalid_relation("Sales Code", "Sales Price", code, "Customer")
    start, end = row.get("Starting_Date", t.BLANK_DATE), row.get("Ending_Date", t.BLANK_DATE)
    if start != t.BLANK_DATE and end != t.BLANK_DATE and start > end:
        raise field_error(
            f"Starting Date {start} cannot be after Ending Date {end} in Sales Price {row.get('Item_No')}."
        )
