"""SALESPEOPLE, CURRENCY, CUSTOMER, CUSTPRCGRP-PRICE and SALESPRC-PRODPRICE against the sandbox."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from include.bc_sales_sync import jobs
from include.bc_sales_sync.jobs import RunOptions, RunSummary, Window
from include.bc_sales_sync.mappings.registry import default_mappings
from include.bc_sales_sync.sync.job import EntitySyncJob
from include.sandbox.bc.seed import CURRENCIES, EXCHANGE_RATES_FROM
from include.sandbox.dataverse.seed import seed_id
from tests.integration.sync.conftest import rows

PREREQUISITES = ["SALESPEOPLE", "CURRENCY", "CUSTOMER"]
PRODUCTS = ["UNIT OF MEASURE", "RESOURCE-PRODUCT", "ITEM-PRODUCT"]
PRICES = ["CUSTPRCGRP-PRICE", "SALESPRC-PRODPRICE"]
ACCOUNT_COLUMNS = [
    "accountid",
    "name",
    "accountnumber",
    "customertypecode",
    "address1_line1",
    "address1_line2",
    "address1_city",
    "address1_stateorprovince",
    "address1_postalcode",
    "address1_country",
    "telephone1",
    "emailaddress1",
    "websiteurl",
    "creditlimit",
    "_ownerid_value",
    "_transactioncurrencyid_value",
]


def demo_exchange_rates() -> dict[str, float]:
    """The Sales rate each demo currency should get: the demo company keeps one Currency Exchange
    Rate per currency (1 unit = its standing rate in local currency), and Sales stores the inverse."""
    return {code: round(1 / rate, 10) for code, *_, rate in CURRENCIES}


@pytest.fixture
def exchange_rates() -> dict[str, float]:
    return demo_exchange_rates()


def delete_exchange_rates(bc) -> None:
    """Remove the demo company's exchange rates, as a user would in BC."""
    for code, *_ in CURRENCIES:
        key = {"Currency_Code": code, "Starting_Date": dt.date.fromisoformat(EXCHANGE_RATES_FROM)}
        bc.delete("CurrencyExchangeRates", key, web_service=True)


def runner(bc, dataverse, state):
    """``run(name, **RunOptions fields)``: one mapping with the test's hooks (one token each for the
    whole test, where conftest's ``run_job`` signs in again for every job)."""

    def run(name: str, window: Window | None = None, **options) -> RunSummary:
        if window is None:
            watermark = state.watermark(name)
            window = Window(start=watermark) if watermark else Window()
        job = EntitySyncJob(default_mappings()[name], bc, dataverse)
        return jobs.run_job(job, state, RunOptions(run_id="test", **options), window)

    return run


@pytest.fixture
def run_job(bc, dataverse, state):
    return runner(bc, dataverse, state)


def run_all(run_job, names: list[str], **options) -> dict[str, dict]:
    return {name: run_job(name, **options).as_dict() for name in names}


def errors_of(state, mapping: str) -> dict[str, str]:
    """BC record id -> the message of its last error."""
    errors = state.errors(mapping=mapping)
    return dict(zip(errors["source_id"], errors["message"], strict=True))


def test_prerequisites_and_price_lists_match_business_central_field_by_field(
    run_job, bc, dataverse, state, exchange_rates
):
    counts = run_all(run_job, PREREQUISITES + PRODUCTS + PRICES)

    # SALESPEOPLE: coupled by e-mail to the Sales users; nothing written. OF, RB and LT have no user.
    salespeople = {s["id"]: s for s in rows(bc, "salespeoplePurchasers")}
    coupled = dict(zip(state.couplings("SALESPEOPLE")["bc_id"], state.couplings("SALESPEOPLE")["crm_id"], strict=True))
    users = {
        u["systemuserid"]: u for u in rows(dataverse, "systemusers", select=["systemuserid", "internalemailaddress"])
    }
    by_code = {s["code"]: coupled.get(sid) for sid, s in salespeople.items()}
    assert by_code["JR"] == seed_id("systemuser", "JR") and by_code["PS"] == seed_id("systemuser", "PS")
    assert by_code["BC"] == seed_id("systemuser", "BC")
    for sid, crm_id in coupled.items():
        if isinstance(crm_id, str):
            assert users[crm_id]["internalemailaddress"] == salespeople[sid]["email"]
    assert (counts["SALESPEOPLE"]["modified"], counts["SALESPEOPLE"]["failed"]) == (3, 3)
    messages = errors_of(state, "SALESPEOPLE")
    assert {salespeople[i]["code"] for i in messages} == {"OF", "RB", "LT"}
    of = next(m for i, m in messages.items() if salespeople[i]["code"] == "OF")
    assert "Salesperson OF (Otis Falls): no Sales user has the e-mail of@cronus.example" in of

    # CURRENCY: every BC currency, with BC's rate inverted; the base currency stays as it was.
    currencies = {
        c["isocurrencycode"]: c
        for c in rows(
            dataverse,
            "transactioncurrencies",
            select=["transactioncurrencyid", "isocurrencycode", "currencyname", "currencysymbol", "exchangerate"],
        )
    }
    for currency in rows(bc, "currencies"):
        sales = currencies[currency["code"]]
        assert sales["currencyname"] == currency["displayName"] and sales["currencysymbol"] == currency["symbol"]
        assert sales["exchangerate"] == pytest.approx(exchange_rates[currency["code"]], rel=1e-9)
    assert currencies["USD"]["exchangerate"] == 1.0 and counts["CURRENCY"]["inserted"] == len(CURRENCIES)
    currency_of = {code: c["transactioncurrencyid"] for code, c in currencies.items()}
    currency_of[""] = currency_of["USD"]

    # CUSTOMER: accounts of type Customer, owned by the salesperson's user; blocked customers stay out.
    customers = {c["No"]: c for c in rows(bc, "CustomerCard", web_service=True)}
    accounts = {
        a["accountnumber"]: a for a in rows(dataverse, "accounts", select=ACCOUNT_COLUMNS) if a["accountnumber"]
    }
    synced = {"10000", "30000", "40000", "50000", "70000"}
    assert set(accounts) == synced
    for number in synced:
        c, a = customers[number], accounts[number]
        assert a["name"] == c["Name"] and a["customertypecode"] == 3
        assert (a["address1_line1"], a["address1_city"], a["address1_postalcode"]) == (
            c["Address"],
            c["City"],
            c["Post_Code"],
        )
        assert (
            a["address1_stateorprovince"] == (c["County"] or None) and a["address1_country"] == c["Country_Region_Code"]
        )
        assert (a["telephone1"], a["emailaddress1"], a["websiteurl"]) == (c["Phone_No"], c["E_Mail"], c["Home_Page"])
        assert a["address1_line2"] is None and a["creditlimit"] == pytest.approx(c["Credit_Limit_LCY"])
        assert a["_ownerid_value"] == seed_id("systemuser", c["Salesperson_Code"])
        assert a["_transactioncurrencyid_value"] == currency_of[c["Currency_Code"]]
    # the Sales account with customer number 10000 was coupled, not duplicated
    assert accounts["10000"]["accountid"] == seed_id("account", "Adatum Corporation")
    assert (counts["CUSTOMER"]["inserted"], counts["CUSTOMER"]["modified"], counts["CUSTOMER"]["failed"]) == (4, 1, 4)
    failed = {customers_no for customers_no, c in customers.items() if c["SystemId"] in errors_of(state, "CUSTOMER")}
    assert failed == {"20000", "60000", "61000", "90000"}  # salespeople OF and RB have no Sales user

    # CUSTPRCGRP-PRICE and SALESPRC-PRODPRICE: a price list per group, an item per group price.
    lists = {
        p["name"]: p
        for p in rows(
            dataverse, "pricelevels", select=["pricelevelid", "name", "description", "_transactioncurrencyid_value"]
        )
    }
    groups = {g["Code"]: g for g in rows(bc, "CustomerPriceGroups", web_service=True)}
    for code, g in groups.items():
        assert lists[code]["description"] == g["Description"]
    assert lists["RETAIL"]["_transactioncurrencyid_value"] == currency_of["USD"]
    assert lists["EXPORT-EUR"]["_transactioncurrencyid_value"] == currency_of["EUR"]
    products = {
        p["productid"]: p["productnumber"] for p in rows(dataverse, "products", select=["productid", "productnumber"])
    }
    units = {u["uomid"]: u["name"] for u in rows(dataverse, "uoms", select=["uomid", "name"])}
    list_names = {p["pricelevelid"]: name for name, p in lists.items()}
    items = {
        (list_names[i["_pricelevelid_value"]], products[i["_productid_value"]], units[i["_uomid_value"]]): i
        for i in rows(
            dataverse,
            "productpricelevels",
            select=[
                "_pricelevelid_value",
                "_productid_value",
                "_uomid_value",
                "amount",
                "pricingmethodcode",
                "productnumber",
            ],
        )
    }
    prices = [p for p in rows(bc, "SalesPrices", web_service=True) if p["Sales_Type"] == "Customer Price Group"]
    assert counts["SALESPRC-PRODPRICE"]["inserted"] == len(prices) and counts["SALESPRC-PRODPRICE"]["failed"] == 0
    for p in prices:
        item = items[(p["Sales_Code"], p["Item_No"], p["Unit_of_Measure_Code"])]
        assert item["amount"] == pytest.approx(p["Unit_Price"]) and item["pricingmethodcode"] == 1
        assert item["productnumber"] == p["Item_No"]
    per_list = pd.Series([k[0] for k in items]).value_counts().to_dict()
    # the default list holds one item per product: 19 items (not the blocked one) and 5 resources
    assert per_list == {"Business Central Default Price List": 24, "RETAIL": 5, "WHOLESALE": 5, "EXPORT-EUR": 4}


def test_a_rerun_writes_nothing(run_job, stats, exchange_rates):
    run_all(run_job, PREREQUISITES + PRODUCTS + PRICES)
    stats["dataverse"].clear()
    again = run_all(run_job, PREREQUISITES + PRODUCTS + PRICES)
    assert all(c["inserted"] == c["modified"] == 0 for c in again.values()), again
    dataverse = stats["dataverse"].read()
    assert dataverse["by_method"].get("PATCH", 0) == 0 and dataverse.get("batch_operations_total", 0) == 0
    # only the failed records were read again (and failed the same way, so they are now skipped)
    assert {name: c["failed"] for name, c in again.items() if c["failed"]} == {"SALESPEOPLE": 3, "CUSTOMER": 4}


def test_without_exchange_rates_in_business_central_currencies_fail_alone(run_job, bc, state):
    """A currency without an exchange rate in BC: BC's error, per currency."""
    delete_exchange_rates(bc)
    counts = run_all(run_job, PREREQUISITES)
    assert counts["CURRENCY"]["failed"] == len(CURRENCIES) and counts["CURRENCY"]["inserted"] == 0
    message = next(iter(errors_of(state, "CURRENCY").values()))
    assert "has no exchange rate in Business Central" in message
    # customers in the local currency are not held up by it
    assert (counts["CUSTOMER"]["inserted"], counts["CUSTOMER"]["modified"]) == (3, 1)  # 30000-50000; 10000
    assert "its currency GBP is not coupled to a Sales currency" in " ".join(errors_of(state, "CUSTOMER").values())


def test_a_price_in_another_currency_fails_alone_and_a_salesperson_coupled_later_frees_its_customers(
    run_job, bc, dataverse, state, exchange_rates
):
    run_all(run_job, PREREQUISITES + PRODUCTS + PRICES)
    odd = bc.create(
        "SalesPrices",
        {
            "Item_No": "1928-S",
            "Sales_Type": "Customer Price Group",
            "Sales_Code": "EXPORT-EUR",
            "Starting_Date": "2025-01-01",
            "Currency_Code": "GBP",
            "Unit_of_Measure_Code": "PCS",
            "Unit_Price": 44.0,
        },
        web_service=True,
    )
    summary = run_job("SALESPRC-PRODPRICE").as_dict()
    assert (summary["read"], summary["failed"], summary["inserted"]) == (1, 1, 0)
    message = errors_of(state, "SALESPRC-PRODPRICE")[odd["SystemId"]]
    assert "Sales price of item 1928-S for customer price group EXPORT-EUR" in message
    assert "is in GBP" in message and "share one currency" in message

    # Otis Falls gets a Sales user: the salesperson couples and its customers follow on the next runs.
    dataverse.create(
        "systemusers",
        {
            "firstname": "Otis",
            "lastname": "Falls",
            "internalemailaddress": "OF@cronus.example",
            "islicensed": True,
            "businessunitid@odata.bind": f"/businessunits({seed_id('businessunit', 'CRONUS')})",
        },
    )
    assert run_job("SALESPEOPLE").as_dict()["modified"] == 1
    customers = run_job("CUSTOMER").as_dict()  # the failed customers are retried first
    assert customers["inserted"] == 2 and customers["failed"] == 2  # 20000 and 90000 in; RB's still out
    (user,) = rows(
        dataverse, "systemusers", select=["systemuserid"], filter="internalemailaddress eq 'OF@cronus.example'"
    )
    owners = {
        a["accountnumber"]: a["_ownerid_value"]
        for a in rows(dataverse, "accounts", select=["accountnumber", "_ownerid_value"])
    }
    assert owners["20000"] == owners["90000"] == user["systemuserid"]
