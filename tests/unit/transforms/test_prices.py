"""CUSTPRCGRP-PRICE and SALESPRC-PRODPRICE transforms: price lists, their items and bad prices."""

from __future__ import annotations

import pandas as pd

from include.bc_sales_sync.mappings.catalogue import CUSTPRCGRP_PRICE, SALESPRC_PRODPRICE
from include.bc_sales_sync.transforms.base import TransformContext
from include.bc_sales_sync.transforms.prices import price_groups_to_price_lists, sales_prices_to_price_list_items
from tests.unit.transforms.test_prerequisites import errors_by_id, frame

USD, EUR = "cur-usd", "cur-eur"
CURRENCIES = pd.DataFrame({"code": ["EUR", "USD"], "transactioncurrencyid": [EUR, USD]})
PRICE_GROUPS = pd.DataFrame(
    {"code": ["RETAIL", "EXPORT-EUR"], "pricelevelid": ["pl-retail", "pl-export"], "transactioncurrencyid": [USD, EUR]}
)
PRODUCTS = pd.DataFrame(
    [
        ("Item", "1896-S", "p-1896", "u-pcs", "g-pcs", 0),
        ("Item", "2100-S", "p-2100", "u-pcs", "g-pcs", 0),
        ("Item", "8000-S", "p-8000", "u-hour", "g-hour", 0),
        ("Resource", "LIFT", "p-lift", "u-day", "g-day", 0),
    ],
    columns=["kind", "number", "productid", "uomid", "uomscheduleid", "statecode"],
)
UNITS = pd.DataFrame(
    {
        "code": ["PCS", "HOUR", "BOX"],
        "uomscheduleid": ["g-pcs", "g-hour", "g-box"],
        "uomid": ["u-pcs", "u-hour", "u-box"],
        "problem": [None, None, None],
    }
)


# -- CUSTPRCGRP-PRICE -----------------------------------------------------------------------------


def group(code: str, description: str = "") -> dict:
    return {"SystemId": f"g-{code}", "Code": code, "Description": description or f"{code} customers"}


def run_groups(rows, first_currency: dict[str, str], existing=None, lists=PRICE_GROUPS):
    src = frame(rows, CUSTPRCGRP_PRICE, key="SystemId", existing=existing)
    firsts = pd.DataFrame({"group": list(first_currency), "currency_code": list(first_currency.values())})
    ctx = TransformContext(
        CUSTPRCGRP_PRICE,
        {"price_group_currencies": firsts, "currencies": CURRENCIES, "price_groups": lists},
        {"local_currency_id": USD},
    )
    return price_groups_to_price_lists(src, ctx)


def test_a_price_group_becomes_a_price_list_in_the_currency_of_its_first_price():
    result = run_groups(
        [group("RETAIL", "Retail customers"), group("EXPORT-EUR"), group("NEW")],
        {"RETAIL": "", "EXPORT-EUR": "EUR"},
    )
    assert result.errors.empty
    rows = result.primary.rows.set_index("name")
    assert rows.loc["RETAIL", "description"] == "Retail customers"
    assert rows.loc["RETAIL", "transactioncurrencyid@odata.bind"] == f"/transactioncurrencies({USD})"
    assert rows.loc["EXPORT-EUR", "transactioncurrencyid@odata.bind"] == f"/transactioncurrencies({EUR})"
    # a group without prices is in the local currency
    assert rows.loc["NEW", "transactioncurrencyid@odata.bind"] == f"/transactioncurrencies({USD})"
    assert "transactioncurrencyid@odata.bind" in result.primary.insert_only


def test_a_price_group_in_an_uncoupled_currency_or_moving_currency_is_an_error():
    result = run_groups(
        [group("EXPORT-GBP"), group("RETAIL")],
        {"EXPORT-GBP": "GBP", "RETAIL": "EUR"},
        existing={"g-RETAIL": "pl-retail"},
    )
    errors = errors_by_id(result)
    assert set(errors) == {"g-EXPORT-GBP", "g-RETAIL"}
    assert "currency of its prices GBP is not coupled to a Sales currency" in errors["g-EXPORT-GBP"][1]
    assert "now in EUR" in errors["g-RETAIL"][1] and "keeps the currency" in errors["g-RETAIL"][1]


# -- SALESPRC-PRODPRICE ---------------------------------------------------------------------------


def price(item: str, group_code: str, amount: float, currency: str = "", unit: str = "PCS", **values) -> dict:
    row = {
        "SystemId": f"sp-{item}-{group_code}-{currency}-{unit}-{values.get('Minimum_Quantity', 0)}",
        "Item_No": item,
        "Sales_Type": "Customer Price Group",
        "Sales_Code": group_code,
        "Starting_Date": "2025-01-01",
        "Currency_Code": currency,
        "Unit_of_Measure_Code": unit,
        "Minimum_Quantity": 0.0,
        "Unit_Price": amount,
        "SystemModifiedAt": "2026-01-01T00:00:00.000Z",
    }
    row.update(values)
    return row


def run_prices(rows):
    src = frame(rows, SALESPRC_PRODPRICE, key="SystemId")
    ctx = TransformContext(
        SALESPRC_PRODPRICE,
        {"price_groups": PRICE_GROUPS, "products": PRODUCTS, "units": UNITS, "currencies": CURRENCIES},
        {"local_currency_id": USD},
    )
    return sales_prices_to_price_list_items(src, ctx)


def test_a_sales_price_becomes_a_price_list_item():
    result = run_prices([price("1896-S", "RETAIL", 989.0), price("2100-S", "EXPORT-EUR", 419.0, "EUR", unit="")])
    assert result.errors.empty
    rows = result.primary.rows.set_index("productnumber")
    retail = rows.loc["1896-S"]
    assert retail["pricelevelid@odata.bind"] == "/pricelevels(pl-retail)"
    assert retail["productid@odata.bind"] == "/products(p-1896)"
    assert retail["uomid@odata.bind"] == "/uoms(u-pcs)" and retail["uomscheduleid@odata.bind"] == "/uomschedules(g-pcs)"
    assert retail["amount"] == 989.0 and retail["pricingmethodcode"] == 1 and retail["quantitysellingcode"] == 1
    # a blank unit is the item's base unit
    assert rows.loc["2100-S", "uomid@odata.bind"] == "/uoms(u-pcs)"
    assert rows.loc["2100-S", "pricelevelid@odata.bind"] == "/pricelevels(pl-export)"
    assert {"pricelevelid@odata.bind", "quantitysellingcode"} <= result.primary.insert_only


def test_mixed_currencies_in_one_price_group_fail_the_odd_price():
    result = run_prices(
        [
            price("1896-S", "EXPORT-EUR", 915.0, "EUR"),
            price("2100-S", "EXPORT-EUR", 459.0, ""),
            price("8000-S", "RETAIL", 80.0, "EUR", unit="HOUR"),
        ]
    )
    errors = errors_by_id(result)
    assert set(errors) == {"sp-2100-S-EXPORT-EUR--PCS-0", "sp-8000-S-RETAIL-EUR-HOUR-0"}
    field, message = errors["sp-2100-S-EXPORT-EUR--PCS-0"]
    assert field == "Currency_Code" and "in the local currency" in message and "share one currency" in message
    assert "Sales price of item 2100-S for customer price group EXPORT-EUR starting 2025-01-01" in message
    assert "is in EUR" in errors["sp-8000-S-RETAIL-EUR-HOUR-0"][1]
    assert result.primary.rows["productnumber"].tolist() == ["1896-S"]


def test_a_price_for_an_unknown_item_or_group_or_in_another_unit_is_an_error():
    result = run_prices(
        [
            price("9999-X", "RETAIL", 10.0),
            price("1896-S", "VIP", 10.0),
            price("1896-S", "RETAIL", 10.0, unit="BOX"),
            price("1896-S", "RETAIL", 10.0, unit="KG"),
            price("2100-S", "RETAIL", -1.0),
            price("LIFT", "RETAIL", 10.0, unit="DAY"),  # a resource: sales prices are for items
        ]
    )
    errors = errors_by_id(result)
    assert len(errors) == 6 and result.primary.rows.empty
    assert "item 9999-X has no Sales product" in errors["sp-9999-X-RETAIL--PCS-0"][1]
    assert "customer price group VIP is not coupled to a Sales price list" in errors["sp-1896-S-VIP--PCS-0"][1]
    assert "unit BOX" in errors["sp-1896-S-RETAIL--BOX-0"][1] and "base unit" in errors["sp-1896-S-RETAIL--BOX-0"][1]
    assert errors["sp-1896-S-RETAIL--KG-0"][0] == "Unit_of_Measure_Code"
    assert errors["sp-2100-S-RETAIL--PCS-0"][0] == "Unit_Price"
    assert "item LIFT has no Sales product" in errors["sp-LIFT-RETAIL--DAY-0"][1]


def test_two_prices_for_the_same_item_and_unit_in_a_group_keep_the_first():
    result = run_prices([price("1896-S", "RETAIL", 989.0), price("1896-S", "RETAIL", 899.0, Minimum_Quantity=5.0)])
    errors = errors_by_id(result)
    assert list(errors) == ["sp-1896-S-RETAIL--PCS-5.0"]
    assert "one price per product and unit" in errors["sp-1896-S-RETAIL--PCS-5.0"][1]
    assert result.primary.rows["amount"].tolist() == [989.0]


def test_a_price_for_an_item_another_price_already_holds_in_sales_is_an_error():
    src = frame(
        [price("1896-S", "RETAIL", 899.0, Minimum_Quantity=5.0), price("2100-S", "RETAIL", 450.0)],
        SALESPRC_PRODPRICE,
        key="SystemId",
    )
    items = pd.DataFrame(
        {
            "productpricelevelid": ["ppl-1896", "ppl-2100"],
            "pricelevelid": ["pl-retail", "pl-retail"],
            "productid": ["p-1896", "p-2100"],
            "uomid": ["u-pcs", "u-pcs"],
        }
    )
    ctx = TransformContext(
        SALESPRC_PRODPRICE,
        {
            "price_groups": PRICE_GROUPS,
            "products": PRODUCTS,
            "units": UNITS,
            "currencies": CURRENCIES,
            "price_list_items": items,
            # ppl-1896 belongs to another sales price; ppl-2100 to none (match-based coupling takes it)
            "couplings:SALESPRC-PRODPRICE": pd.DataFrame({"bc_id": ["sp-other"], "crm_id": ["ppl-1896"]}),
        },
        {"local_currency_id": USD},
    )
    result = sales_prices_to_price_list_items(src, ctx)
    errors = errors_by_id(result)
    assert list(errors) == ["sp-1896-S-RETAIL--PCS-5.0"]
    assert "already has a price for this item and unit" in errors["sp-1896-S-RETAIL--PCS-5.0"][1]
    assert result.primary.rows["productnumber"].tolist() == ["2100-S"]
