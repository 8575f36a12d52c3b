"""ITEM-PRODUCT and RESOURCE-PRODUCT: BC items and resources become Sales products.

Rules (facts §2.7): product type Sales Inventory (1) for items and Services (3) for resources;
the unit group ``NAV <base unit>`` and its unit; negative price and quantity on hand become 0;
two quantity decimals on insert; the vendor's name; the local currency; a blocked record is
Retired, any other Active (a new product starts as Draft, so its state is set right after it is
created; the default mappings read unblocked records only, as BC's table filter does, so Retired
applies where a user lifts that filter); and one price list item on the default price list, at
the product's price.
"""

from __future__ import annotations

import pandas as pd

from include.bc_sales_sync.transforms.base import (
    ErrorCollector,
    TargetRows,
    TransformContext,
    TransformResult,
    apply_field_maps,
    as_bool,
    bind,
    clean,
    deterministic_ids,
    insert_only_columns,
    numbers,
    text,
    without,
)

PRODUCT_NAME_MAX = 100
STATE_ACTIVE, STATUS_ACTIVE = 0, 1
STATE_RETIRED, STATUS_RETIRED = 1, 2
PRICING_CURRENCY_AMOUNT = 1
QUANTITY_SELLING_NO_CONTROL = 1


def items_to_products(src: pd.DataFrame, ctx: TransformContext) -> TransformResult:
    return _to_products(src, ctx, kind="Item", name_field="Description", quantity_field="Inventory")


def resources_to_products(src: pd.DataFrame, ctx: TransformContext) -> TransformResult:
    return _to_products(src, ctx, kind="Resource", name_field="Name", quantity_field="Capacity")


def _to_products(
    src: pd.DataFrame, ctx: TransformContext, *, kind: str, name_field: str, quantity_field: str
) -> TransformResult:
    errors = ErrorCollector()
    number = text(src["No"])
    label = kind + " " + number

    name = text(src[name_field])
    long = name.str.len() > PRODUCT_NAME_MAX
    errors.add(
        src.loc[long, "bc_id"],
        name_field,
        label[long]
        + f": the {name_field.lower()} is "
        + name[long].str.len().astype(str)
        + f" characters long; a Sales product name holds at most {PRODUCT_NAME_MAX}. Shorten it in Business Central.",
    )
    for field_name in ("Unit_Price", "Unit_Cost", quantity_field):
        if field_name in src:
            bad = src[field_name].notna() & numbers(src[field_name]).isna()
            errors.add(src.loc[bad, "bc_id"], field_name, label[bad] + f": {field_name} is not a number.")

    # Unit of measure: the product's unit group and unit.
    unit_code = text(src.get("Base_Unit_of_Measure", pd.Series("", index=src.index))).str.strip()
    missing_unit = unit_code == ""
    errors.add(
        src.loc[missing_unit, "bc_id"],
        "Base_Unit_of_Measure",
        label[missing_unit] + " has no base unit of measure; set one in Business Central.",
    )
    units = ctx.lookups.get("units", pd.DataFrame(columns=["code", "uomscheduleid", "uomid", "problem"]))
    resolved = (
        pd.DataFrame({"code": unit_code}, index=src.index).merge(units, on="code", how="left").set_index(src.index)
    )
    unknown = ~missing_unit & resolved["uomscheduleid"].isna()
    errors.add(
        src.loc[unknown, "bc_id"],
        "Base_Unit_of_Measure",
        label[unknown]
        + ": the unit of measure '"
        + unit_code[unknown]
        + "' has no unit group 'NAV "
        + unit_code[unknown]
        + "' in Sales yet. Run the UNIT OF MEASURE job (or fix its errors); the record is retried on the next run.",
    )
    broken = ~missing_unit & resolved["problem"].notna()
    errors.add(
        src.loc[broken, "bc_id"], "Base_Unit_of_Measure", label[broken] + ": " + resolved["problem"][broken].astype(str)
    )

    rows = apply_field_maps(src, ctx.mapping)
    for column in ("price", "quantityonhand"):
        if column in rows:
            rows[column] = numbers(rows[column]).clip(lower=0)
    for column in ("standardcost", "currentcost", "stockvolume", "stockweight"):
        if column in rows:
            rows[column] = numbers(rows[column])
    rows["defaultuomscheduleid@odata.bind"] = bind("uomschedules", resolved["uomscheduleid"])
    rows["defaultuomid@odata.bind"] = bind("uoms", resolved["uomid"])
    price_list_id = ctx.constants.get("default_price_list_id")
    currency_id = ctx.constants.get("local_currency_id")
    if price_list_id:
        rows["pricelevelid@odata.bind"] = f"/pricelevels({price_list_id})"
    if currency_id:
        rows["transactioncurrencyid@odata.bind"] = f"/transactioncurrencies({currency_id})"
    if "Vendor_No" in src:
        vendors = ctx.lookups.get("vendors", pd.DataFrame(columns=["number", "name"]))
        vendor_name = text(src["Vendor_No"]).map(dict(zip(vendors["number"], vendors["name"], strict=True)))
        rows["vendorname"] = vendor_name.where(vendor_name.notna(), None)
    blocked = as_bool(src["Blocked"]) if "Blocked" in src else pd.Series(False, index=src.index)
    rows["statecode"] = blocked.map({True: STATE_RETIRED, False: STATE_ACTIVE})
    rows["statuscode"] = blocked.map({True: STATUS_RETIRED, False: STATUS_ACTIVE})

    error_frame = errors.frame()
    rows = without(rows, error_frame["bc_id"])
    children = []
    if price_list_id and not rows.empty:
        children.append(
            TargetRows(
                "productpricelevels",
                clean(price_list_items(rows, ctx, price_list_id)),
                insert_only=frozenset({"pricelevelid@odata.bind", "productid@odata.bind"}),
            )
        )
    return TransformResult(
        primary=TargetRows(
            "products",
            clean(rows),
            insert_only=insert_only_columns(ctx.mapping) | {"pricelevelid@odata.bind"},
            after_insert=("statecode", "statuscode"),
        ),
        children=children,
        errors=error_frame,
    )


def price_list_items(products: pd.DataFrame, ctx: TransformContext, price_list_id: str) -> pd.DataFrame:
    """One item per product on the default price list: the product's price in its base unit."""
    return pd.DataFrame(
        {
            "bc_id": products["bc_id"],
            "target_id": deterministic_ids(f"{ctx.mapping.name}|price list item", products["bc_id"]),
            "pricelevelid@odata.bind": f"/pricelevels({price_list_id})",
            "productid@odata.bind": bind("products", products["target_id"]),
            "uomid@odata.bind": products["defaultuomid@odata.bind"],
            "uomscheduleid@odata.bind": products["defaultuomscheduleid@odata.bind"],
            "amount": products.get("price", 0),
            "pricingmethodcode": PRICING_CURRENCY_AMOUNT,
            "quantitysellingcode": QUANTITY_SELLING_NO_CONTROL,
        },
        index=products.index,
    )
