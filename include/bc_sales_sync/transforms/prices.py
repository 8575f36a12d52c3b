"""CUSTPRCGRP-PRICE and SALESPRC-PRODPRICE: BC's legacy sales prices become Sales price lists (facts §2.8).

A customer price group becomes a price list named after its code, in the currency of the group's
first sales price (the local currency when it has none); a price list keeps its currency, so a
group whose prices move to another currency is an error. Each sales price of sales type Customer
Price Group becomes a price list item on its group's list: pricing method Currency Amount, the
price in the unit of the price (blank: the item's base unit). All prices of one group share one
currency; a price in another currency is an error for that price.
"""

from __future__ import annotations

import pandas as pd

from include.bc_sales_sync.transforms.base import (
    ErrorCollector,
    TargetRows,
    TransformContext,
    TransformResult,
    apply_field_maps,
    bind,
    clean,
    insert_only_columns,
    numbers,
    text,
    without,
)
from include.bc_sales_sync.transforms.references import (
    CURRENCY_COLUMNS,
    PRICE_GROUP_COLUMNS,
    PRICE_LIST_ITEM_COLUMNS,
    PRODUCT_COLUMNS,
    code_of,
    frame,
    not_coupled,
    resolve,
)

PRICE_LIST_NAME_MAX = 100
PRICING_CURRENCY_AMOUNT = 1
QUANTITY_SELLING_NO_CONTROL = 1
GROUP_CURRENCY_COLUMNS = ["group", "currency_code"]
UNIT_COLUMNS = ["code", "uomscheduleid", "uomid", "problem"]


def _currency_ids(codes: pd.Series, ctx: TransformContext) -> pd.Series:
    """Sales currency ids of BC currency codes; blank is the local currency; NaN when not coupled."""
    ids = resolve(codes, frame(ctx.lookups, "currencies", CURRENCY_COLUMNS), "code", "transactioncurrencyid")
    return ids.where(codes != "", ctx.constants.get("local_currency_id"))


def price_groups_to_price_lists(src: pd.DataFrame, ctx: TransformContext) -> TransformResult:
    """:param ctx: lookups ``price_group_currencies`` (:data:`GROUP_CURRENCY_COLUMNS`: each group's first
    price's currency), ``price_groups`` (the groups' price lists and their currencies) and ``currencies``;
    constant ``local_currency_id``."""
    errors = ErrorCollector()
    code = code_of(src["Code"])
    label = "Customer price group " + code
    errors.add(
        src.loc[code == "", "bc_id"], "Code", "A customer price group has no code; give it one in Business Central."
    )

    first = frame(ctx.lookups, "price_group_currencies", GROUP_CURRENCY_COLUMNS)
    currency_code = code_of(resolve(code, first, "group", "currency_code"))
    currency_id = _currency_ids(currency_code, ctx)
    missing = (currency_code != "") & currency_id.isna()
    errors.add(
        src.loc[missing, "bc_id"],
        "Currency_Code",
        not_coupled(
            label[missing],
            "the currency of its prices",
            currency_code[missing],
            "a Sales currency",
            "CURRENCY",
            "price group",
        ),
    )
    # A price list keeps the currency it was created in (BC: TestField on modify).
    lists = frame(ctx.lookups, "price_groups", PRICE_GROUP_COLUMNS)
    current = resolve(src["target_id"], lists, "pricelevelid", "transactioncurrencyid")
    moved = src["existing"].astype(bool) & current.notna() & currency_id.notna() & (current != currency_id)
    errors.add(
        src.loc[moved, "bc_id"],
        "Currency_Code",
        label[moved]
        + ": its prices are now in "
        + currency_code[moved].replace("", "the local currency")
        + ", but its Sales price list keeps the currency it was created in. Keep the group's prices in that "
        "currency, or create a new price group for the other currency.",
    )

    rows = apply_field_maps(src, ctx.mapping)
    rows["name"] = code
    if "description" in rows:
        description = text(rows["description"]).str.strip()
        rows["description"] = description.where(description != "", None)
    rows["transactioncurrencyid@odata.bind"] = bind("transactioncurrencies", currency_id)
    error_frame = errors.frame()
    rows = without(rows, error_frame["bc_id"])
    return TransformResult(
        primary=TargetRows(
            "pricelevels",
            clean(rows),
            insert_only=insert_only_columns(ctx.mapping) | {"transactioncurrencyid@odata.bind"},
        ),
        errors=error_frame,
    )


def sales_prices_to_price_list_items(src: pd.DataFrame, ctx: TransformContext) -> TransformResult:
    """:param ctx: lookups ``price_groups``, ``products`` (coupled items), ``units`` (unit groups
    ``NAV <code>``), ``currencies``, ``price_list_items`` (items of the price lists but the default
    one) and ``couplings:SALESPRC-PRODPRICE``; constant ``local_currency_id``."""
    errors = ErrorCollector()
    item = text(src["Item_No"]).str.strip()
    group = code_of(src["Sales_Code"])
    start = text(src.get("Starting_Date", pd.Series("", index=src.index))).str[:10]
    label = (
        "Sales price of item "
        + item
        + " for customer price group "
        + group
        + start.map(lambda d: f" starting {d}" if d and d != "0001-01-01" else "")
    )

    lists = frame(ctx.lookups, "price_groups", PRICE_GROUP_COLUMNS)
    list_id = resolve(group, lists, "code", "pricelevelid")
    list_currency = resolve(group, lists, "code", "transactioncurrencyid")
    no_list = list_id.isna()
    errors.add(
        src.loc[no_list, "bc_id"],
        "Sales_Code",
        not_coupled(
            label[no_list],
            "the customer price group",
            group[no_list],
            "a Sales price list",
            "CUSTPRCGRP-PRICE",
            "price",
        ),
    )

    currency_code = code_of(src.get("Currency_Code", pd.Series("", index=src.index)))
    currency_id = _currency_ids(currency_code, ctx)
    no_currency = (currency_code != "") & currency_id.isna()
    errors.add(
        src.loc[no_currency, "bc_id"],
        "Currency_Code",
        not_coupled(
            label[no_currency], "its currency", currency_code[no_currency], "a Sales currency", "CURRENCY", "price"
        ),
    )
    mixed = ~no_list & currency_id.notna() & list_currency.notna() & (currency_id != list_currency)
    errors.add(
        src.loc[mixed, "bc_id"],
        "Currency_Code",
        label[mixed]
        + " is in "
        + currency_code[mixed].replace("", "the local currency")
        + ", but the prices of group "
        + group[mixed]
        + " are in the currency of its Sales price list; all prices of a group must share one currency. Move this "
        "price to a group in its currency (or change its currency in Business Central).",
    )

    products = frame(ctx.lookups, "products", PRODUCT_COLUMNS)
    items = products[products["kind"] == "Item"]
    product_id = resolve(item, items, "number", "productid")
    no_product = product_id.isna()
    errors.add(
        src.loc[no_product, "bc_id"],
        "Item_No",
        label[no_product]
        + ": item "
        + item[no_product]
        + " has no Sales product (the item does not exist, or ITEM-PRODUCT has not synchronized it yet). Correct "
        "the item number, or run ITEM-PRODUCT (or fix its errors); the price is retried on the next run.",
    )

    # Unit: the price's unit, blank = the item's base unit; it must belong to the product's unit group.
    unit_code = code_of(src.get("Unit_of_Measure_Code", pd.Series("", index=src.index)))
    base_unit = resolve(item, items, "number", "uomid")
    base_group = resolve(item, items, "number", "uomscheduleid")
    units = frame(ctx.lookups, "units", UNIT_COLUMNS)
    unit_id = resolve(unit_code, units, "code", "uomid").where(unit_code != "", base_unit)
    unit_group = resolve(unit_code, units, "code", "uomscheduleid").where(unit_code != "", base_group)
    wrong_unit = ~no_product & (unit_group.isna() | (unit_group != base_group))
    errors.add(
        src.loc[wrong_unit, "bc_id"],
        "Unit_of_Measure_Code",
        label[wrong_unit]
        + ": the price is in unit "
        + unit_code[wrong_unit]
        + ", which is not a unit of the product's unit group in Sales (a product synchronized from Business "
        "Central has only its base unit). Enter the price in the item's base unit of measure.",
    )

    amount = numbers(src["Unit_Price"])
    bad_amount = amount.isna() | (amount < 0)
    errors.add(
        src.loc[bad_amount, "bc_id"],
        "Unit_Price",
        label[bad_amount] + ": the unit price must be a number of 0 or more.",
    )

    rows = apply_field_maps(src, ctx.mapping)
    rows["productnumber"] = item
    rows["amount"] = amount
    rows["pricelevelid@odata.bind"] = bind("pricelevels", list_id)
    rows["productid@odata.bind"] = bind("products", product_id)
    rows["uomid@odata.bind"] = bind("uoms", unit_id)
    rows["uomscheduleid@odata.bind"] = bind("uomschedules", unit_group)

    error_frame = errors.frame()
    # A price list holds one price per product and unit: a price whose item is already another
    # price's in Sales, and later prices for the same one in this chunk, are errors.
    ok = ~src["bc_id"].isin(set(error_frame["bc_id"]))
    keys = pd.DataFrame({"list": list_id, "product": product_id, "unit": unit_id})
    items = frame(ctx.lookups, "price_list_items", ["productpricelevelid", *PRICE_LIST_ITEM_COLUMNS])
    items = items.rename(columns={"pricelevelid": "list", "productid": "product", "uomid": "unit"})
    found = keys.merge(items.drop_duplicates(["list", "product", "unit"]), how="left", on=["list", "product", "unit"])
    found_id = pd.Series(found["productpricelevelid"].to_numpy(), index=src.index)
    others = set(ctx.lookups.get("couplings:SALESPRC-PRODPRICE", pd.DataFrame(columns=["crm_id"]))["crm_id"])
    same = keys[ok].duplicated(keep="first") | (found_id[ok].isin(others) & (found_id[ok] != src["target_id"][ok]))
    twice = same[same].index
    errors.add(
        src.loc[twice, "bc_id"],
        "Item_No",
        label[twice]
        + ": group "
        + group[twice]
        + " already has a price for this item and unit (another starting date or minimum quantity); a Sales price "
        "list holds one price per product and unit. Keep one of them in Business Central.",
    )
    error_frame = errors.frame()
    rows = without(rows, error_frame["bc_id"])
    return TransformResult(
        primary=TargetRows(
            "productpricelevels",
            clean(rows),
            insert_only=insert_only_columns(ctx.mapping) | {"pricelevelid@odata.bind"},
        ),
        errors=error_frame,
    )
