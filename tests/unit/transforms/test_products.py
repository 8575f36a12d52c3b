"""ITEM-PRODUCT and RESOURCE-PRODUCT transforms: field values and per-record errors."""

from __future__ import annotations

import pandas as pd
import pytest

from include.bc_sales_sync.mappings.catalogue import ITEM_PRODUCT, RESOURCE_PRODUCT
from include.bc_sales_sync.transforms.base import TransformContext, deterministic_id
from include.bc_sales_sync.transforms.products import items_to_products, resources_to_products
from include.bc_sales_sync.transforms.units import resolve_unit_groups

GROUPS = pd.DataFrame(
    [
        {
            "uomscheduleid": "g-pcs",
            "schedule_name": "NAV PCS",
            "statecode": 0,
            "uomid": "u-pcs",
            "uom_name": "PCS",
            "quantity": 1.0,
            "isschedulebaseuom": True,
        },
        {
            "uomscheduleid": "g-hour",
            "schedule_name": "NAV HOUR",
            "statecode": 0,
            "uomid": "u-hour",
            "uom_name": "HOUR",
            "quantity": 1.0,
            "isschedulebaseuom": True,
        },
        {
            "uomscheduleid": "g-box",
            "schedule_name": "NAV BOX",
            "statecode": 0,
            "uomid": "u-box1",
            "uom_name": "BOX",
            "quantity": 1.0,
            "isschedulebaseuom": True,
        },
        {
            "uomscheduleid": "g-box",
            "schedule_name": "NAV BOX",
            "statecode": 0,
            "uomid": "u-box2",
            "uom_name": "BOX12",
            "quantity": 12.0,
            "isschedulebaseuom": False,
        },
    ]
)


def item(no: str, **values) -> dict:
    row = {
        "SystemId": f"id-{no}",
        "No": no,
        "Description": f"Item {no}",
        "Unit_Price": 10.0,
        "Unit_Cost": 6.0,
        "Inventory": 5.0,
        "Base_Unit_of_Measure": "PCS",
        "Blocked": False,
        "Vendor_No": "",
        "Vendor_Item_No": "",
        "Unit_Volume": 0.0,
        "Gross_Weight": 0.0,
        "SystemModifiedAt": "2026-01-01T00:00:00.000Z",
    }
    row.update(values)
    return row


def run(rows: list[dict], mapping=ITEM_PRODUCT, transform=items_to_products, **constants):
    src = pd.DataFrame(rows)
    src["bc_id"] = src["SystemId"]
    src["target_id"] = src["bc_id"].map(lambda v: deterministic_id(mapping.name, v))
    ctx = TransformContext(
        mapping,
        lookups={
            "units": resolve_unit_groups(GROUPS),
            "vendors": pd.DataFrame({"number": ["V100"], "name": ["Fabrikam, Inc."]}),
        },
        constants={"default_price_list_id": "pl-1", "local_currency_id": "cur-usd", **constants},
    )
    return transform(src, ctx)


def product(result, no: str) -> dict:
    rows = result.primary.rows
    return rows[rows["productnumber"] == no].iloc[0].to_dict()


def test_item_fields_and_rules():
    result = run(
        [
            item(
                "1896-S",
                Description="ATHENS Desk",
                Unit_Price=1000.8,
                Unit_Cost=780.7,
                Inventory=12,
                Vendor_No="V100",
                Vendor_Item_No="A-1",
                Unit_Volume=0.5,
                Gross_Weight=30,
            )
        ]
    )
    p = product(result, "1896-S")
    assert p["name"] == "ATHENS Desk"
    assert p["price"] == 1000.8 and p["standardcost"] == 780.7 and p["currentcost"] == 780.7
    assert p["quantityonhand"] == 12 and p["stockvolume"] == 0.5 and p["stockweight"] == 30
    assert p["producttypecode"] == 1 and p["quantitydecimal"] == 2
    assert p["vendorname"] == "Fabrikam, Inc." and p["vendorpartnumber"] == "A-1"
    assert p["defaultuomscheduleid@odata.bind"] == "/uomschedules(g-pcs)"
    assert p["defaultuomid@odata.bind"] == "/uoms(u-pcs)"
    assert p["pricelevelid@odata.bind"] == "/pricelevels(pl-1)"
    assert p["transactioncurrencyid@odata.bind"] == "/transactioncurrencies(cur-usd)"
    assert (p["statecode"], p["statuscode"]) == (0, 1)
    assert p["target_id"] == deterministic_id("ITEM-PRODUCT", "id-1896-S")
    assert result.errors.empty
    assert {"quantitydecimal", "pricelevelid@odata.bind"} <= result.primary.insert_only
    assert result.primary.after_insert == ("statecode", "statuscode")


def test_price_list_item_per_product():
    result = run([item("A", Unit_Price=12.5), item("B", Unit_Price=3)])
    (items,) = result.children
    assert items.entity_set == "productpricelevels"
    rows = items.rows.set_index("bc_id")
    assert rows.loc["id-A", "amount"] == 12.5
    assert rows.loc["id-A", "productid@odata.bind"] == f"/products({deterministic_id('ITEM-PRODUCT', 'id-A')})"
    assert rows.loc["id-A", "uomid@odata.bind"] == "/uoms(u-pcs)"
    assert rows.loc["id-A", "pricelevelid@odata.bind"] == "/pricelevels(pl-1)"
    assert rows.loc["id-A", "pricingmethodcode"] == 1
    assert rows["target_id"].nunique() == 2
    assert "pricelevelid@odata.bind" in items.insert_only


def test_negative_price_and_inventory_become_zero():
    p = product(run([item("NEG", Unit_Price=-4.5, Inventory=-3)]), "NEG")
    assert p["price"] == 0 and p["quantityonhand"] == 0


def test_blocked_item_is_retired():
    p = product(run([item("OLD", Blocked=True)]), "OLD")
    assert (p["statecode"], p["statuscode"]) == (1, 2)


def test_non_ascii_names_pass_unchanged():
    name = "Café Tisch Ø80 – Eiche «naturel» 書桌"  # noqa: RUF001
    assert product(run([item("UNI", Description=name)]), "UNI")["name"] == name


@pytest.mark.parametrize(
    ("values", "field", "words"),
    [
        ({"Description": "x" * 101}, "Description", ["101 characters", "at most 100"]),
        ({"Base_Unit_of_Measure": ""}, "Base_Unit_of_Measure", ["no base unit of measure"]),
        ({"Base_Unit_of_Measure": "CRATE"}, "Base_Unit_of_Measure", ["'NAV CRATE'", "UNIT OF MEASURE"]),
        ({"Base_Unit_of_Measure": "BOX"}, "Base_Unit_of_Measure", ["more than one unit"]),
        ({"Unit_Price": "cheap"}, "Unit_Price", ["not a number"]),
    ],
)
def test_bad_records_get_an_error_naming_record_and_field(values, field, words):
    result = run([item("GOOD"), item("BAD", **values)])
    assert result.primary.rows["productnumber"].tolist() == ["GOOD"]
    assert [c.rows["bc_id"].tolist() for c in result.children] == [["id-GOOD"]]
    (error,) = result.errors.to_dict("records")
    assert error["bc_id"] == "id-BAD" and error["field"] == field
    assert "BAD" in error["message"]
    for word in words:
        assert word in error["message"]


def test_name_of_exactly_100_characters_is_fine():
    assert run([item("MAX", Description="y" * 100)]).errors.empty


def test_resources_are_services_with_capacity():
    resource = {
        "SystemId": "r1",
        "No": "LIFT",
        "Name": "Lift, 1 ton",
        "Unit_Price": 100.0,
        "Unit_Cost": 70.0,
        "Capacity": 8.0,
        "Base_Unit_of_Measure": "HOUR",
        "Blocked": False,
        "Vendor_No": "",
    }
    result = run([resource], RESOURCE_PRODUCT, resources_to_products)
    p = product(result, "LIFT")
    assert p["producttypecode"] == 3
    assert p["name"] == "Lift, 1 ton" and p["quantityonhand"] == 8
    assert p["defaultuomid@odata.bind"] == "/uoms(u-hour)"
    assert p["target_id"] == deterministic_id("RESOURCE-PRODUCT", "r1")


def test_without_a_price_list_there_are_no_price_list_items():
    result = run([item("A")], default_price_list_id=None)
    assert result.children == []
    assert "pricelevelid@odata.bind" not in result.primary.rows
