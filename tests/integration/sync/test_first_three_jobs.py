"""UNIT OF MEASURE, RESOURCE-PRODUCT and ITEM-PRODUCT against the sandbox, end to end."""

from __future__ import annotations

import datetime as dt
import time

import pandas as pd
import pytest
import requests

from include.bc_sales_sync.jobs import Window
from include.bc_sales_sync.mappings.catalogue import DEFAULT_PRICE_LIST_NAME
from tests.integration.sync.conftest import rows

JOBS = ["UNIT OF MEASURE", "RESOURCE-PRODUCT", "ITEM-PRODUCT"]
PRODUCT_COLUMNS = [
    "productid",
    "productnumber",
    "name",
    "producttypecode",
    "statecode",
    "statuscode",
    "price",
    "standardcost",
    "currentcost",
    "quantityonhand",
    "quantitydecimal",
    "vendorid",
    "vendorname",
    "vendorpartnumber",
    "stockvolume",
    "stockweight",
    "_defaultuomid_value",
    "_defaultuomscheduleid_value",
    "_pricelevelid_value",
    "_transactioncurrencyid_value",
]


def run_all(run_job, **options):
    return {name: run_job(name, **options) for name in JOBS}


def products_by_number(dataverse) -> dict[str, dict]:
    return {p["productnumber"]: p for p in rows(dataverse, "products", select=PRODUCT_COLUMNS)}


def base_units(dataverse) -> dict[str, dict]:
    """Unit code -> the only unit of the unit group ``NAV <code>``."""
    groups = {g["uomscheduleid"]: g["name"] for g in rows(dataverse, "uomschedules", select=["uomscheduleid", "name"])}
    units: dict[str, list[dict]] = {}
    for u in rows(dataverse, "uoms", select=["uomid", "name", "quantity", "isschedulebaseuom", "_uomscheduleid_value"]):
        units.setdefault(groups[u["_uomscheduleid_value"]], []).append(u)
    out = {}
    for name, members in units.items():
        assert len(members) == 1, f"unit group {name} holds {len(members)} units"
        out[name.removeprefix("NAV ")] = {**members[0], "uomscheduleid": members[0]["_uomscheduleid_value"]}
    return out


def test_initial_load_matches_business_central_field_by_field(run_job, bc, dataverse):
    summaries = run_all(run_job)
    units = rows(bc, "unitsOfMeasure")
    resources = rows(bc, "Resources", web_service=True, filter="Blocked eq false")
    items = rows(bc, "ItemCard", web_service=True, filter="Blocked eq false")
    blocked = rows(bc, "ItemCard", web_service=True, filter="Blocked eq true")
    assert blocked  # the demo company has a blocked item: BC does not synchronize it
    vendors = {v["number"]: v["displayName"] for v in rows(bc, "vendors")}
    assert summaries["UNIT OF MEASURE"].as_dict()["inserted"] == len(units)
    assert summaries["RESOURCE-PRODUCT"].as_dict()["inserted"] == len(resources)
    assert summaries["ITEM-PRODUCT"].as_dict()["inserted"] == len(items)
    assert all(s.as_dict()["failed"] == 0 for s in summaries.values())

    unit_of = base_units(dataverse)
    for unit in units:
        sales_unit = unit_of[unit["code"]]
        assert sales_unit["name"] == unit["code"]
        assert sales_unit["quantity"] == 1 and sales_unit["isschedulebaseuom"] is True

    (price_list,) = rows(dataverse, "pricelevels", select=["pricelevelid", "name", "_transactioncurrencyid_value"])
    assert price_list["name"] == DEFAULT_PRICE_LIST_NAME
    (usd,) = rows(
        dataverse, "transactioncurrencies", select=["transactioncurrencyid"], filter="isocurrencycode eq 'USD'"
    )
    assert price_list["_transactioncurrencyid_value"] == usd["transactioncurrencyid"]
    price_items = {
        i["_productid_value"]: i
        for i in rows(
            dataverse,
            "productpricelevels",
            select=["_productid_value", "_pricelevelid_value", "_uomid_value", "amount", "pricingmethodcode"],
        )
    }

    products = products_by_number(dataverse)
    assert len(products) == len(items) + len(resources)
    assert not {b["No"] for b in blocked} & set(products)
    for record, kind, name, quantity in [(i, 1, "Description", "Inventory") for i in items] + [
        (r, 3, "Name", "Capacity") for r in resources
    ]:
        p = products[record["No"]]
        unit = unit_of[record["Base_Unit_of_Measure"]]
        assert p["name"] == record[name]
        assert p["producttypecode"] == kind
        assert p["price"] == pytest.approx(max(record["Unit_Price"], 0))
        assert p["standardcost"] == pytest.approx(record["Unit_Cost"])
        assert p["currentcost"] == pytest.approx(record["Unit_Cost"])
        assert p["quantityonhand"] == pytest.approx(max(record[quantity], 0))
        assert p["quantitydecimal"] == 2
        assert (p["statecode"], p["statuscode"]) == ((1, 2) if record["Blocked"] else (0, 1))
        assert p["_defaultuomid_value"] == unit["uomid"]
        assert p["_defaultuomscheduleid_value"] == unit["uomscheduleid"]
        assert p["_pricelevelid_value"] == price_list["pricelevelid"]
        assert p["_transactioncurrencyid_value"] == usd["transactioncurrencyid"]
        assert p["vendorname"] == (vendors.get(record["Vendor_No"]) if record["Vendor_No"] else None)
        assert (p["vendorid"] or "") == record["Vendor_No"]  # BC's Vendor No. -> vendorid
        if kind == 1:
            assert (p["vendorpartnumber"] or "") == record["Vendor_Item_No"]
            assert p["stockweight"] == pytest.approx(record["Gross_Weight"])
            assert p["stockvolume"] == pytest.approx(record["Unit_Volume"])
        price_item = price_items[p["productid"]]
        assert price_item["_pricelevelid_value"] == price_list["pricelevelid"]
        assert price_item["_uomid_value"] == unit["uomid"]
        assert price_item["amount"] == pytest.approx(p["price"])
        assert price_item["pricingmethodcode"] == 1


def test_rerun_without_changes_writes_nothing(run_job, stats):
    run_all(run_job)
    stats["bc"].clear()
    stats["dataverse"].clear()
    again = run_all(run_job)
    for summary in again.values():
        counts = summary.as_dict()
        assert counts["inserted"] == counts["modified"] == counts["failed"] == 0
    dataverse = stats["dataverse"].read()
    assert dataverse["total"] == 0, dataverse
    # One page per mapping from Business Central, whatever the data size.
    assert stats["bc"].read()["total"] == len(JOBS)


def test_a_change_in_business_central_arrives_alone(run_job, bc, dataverse):
    run_all(run_job)
    (item,) = rows(bc, "items", filter="number eq '1896-S'")
    bc.update("items", item["id"], {"unitPrice": 1234.5, "displayName": "ATHENS Desk, oak"})
    summary = run_job("ITEM-PRODUCT").as_dict()
    assert (summary["modified"], summary["inserted"], summary["failed"]) == (1, 0, 0)
    product = products_by_number(dataverse)["1896-S"]
    assert product["price"] == 1234.5 and product["name"] == "ATHENS Desk, oak"
    (price_item,) = rows(
        dataverse, "productpricelevels", select=["amount"], filter=f"_productid_value eq {product['productid']}"
    )
    assert price_item["amount"] == 1234.5


def test_couplings_keep_the_modified_time_sales_returned_for_the_write(run_job, bc, dataverse, state):
    """Not the local clock: the Sales → BC direction compares the rows' modifiedon with it."""
    run_all(run_job)
    products = {p["productid"]: p for p in rows(dataverse, "products", select=["productid", "modifiedon"])}
    couplings = state.couplings("ITEM-PRODUCT")
    assert len(couplings) == 19  # the blocked item is not synchronized
    for coupling in couplings.itertuples():
        assert coupling.crm_modified_at == pd.Timestamp(products[coupling.crm_id]["modifiedon"])


def test_crash_between_load_and_record_then_rerun_leaves_no_duplicates(run_job, state, dataverse, monkeypatch):
    run_job("UNIT OF MEASURE")
    real = state.record_success

    def crash(*args, **kwargs):
        raise RuntimeError("the worker was killed")

    monkeypatch.setattr(state, "record_success", crash)
    with pytest.raises(RuntimeError):
        run_job("ITEM-PRODUCT")
    monkeypatch.setattr(state, "record_success", real)
    assert state.couplings("ITEM-PRODUCT").empty  # nothing was recorded...
    written = len(rows(dataverse, "products", select=["productid"]))
    assert written > 0  # ...but the products were written

    summary = run_job("ITEM-PRODUCT").as_dict()
    assert summary["failed"] == 0 and summary["inserted"] + summary["modified"] == written
    numbers = [p["productnumber"] for p in rows(dataverse, "products", select=["productnumber"])]
    assert len(numbers) == len(set(numbers)) == written
    price_items = rows(dataverse, "productpricelevels", select=["_productid_value"])
    assert len(price_items) == len({i["_productid_value"] for i in price_items}) == written
    assert len(state.couplings("ITEM-PRODUCT")) == written


def test_bad_record_fails_alone_is_retried_then_skipped_then_restored(run_job, bc, state, dataverse):
    run_job("UNIT OF MEASURE")
    bc.create("unitsOfMeasure", {"code": "CRATE", "displayName": "Crate"})
    bad = bc.create("items", {"number": "CR-100", "displayName": "Crated lamp", "baseUnitOfMeasureCode": "CRATE"})
    items = len(rows(bc, "ItemCard", web_service=True, select=["No"], filter="Blocked eq false"))

    first = run_job("ITEM-PRODUCT").as_dict()
    assert first["failed"] == 1 and first["inserted"] == items - 1
    (error,) = state.errors(mapping="ITEM-PRODUCT").to_dict("records")
    assert error["source_id"] == bad["id"]
    assert (
        "CR-100" in error["message"] and "'NAV CRATE'" in error["message"] and error["field"] == "Base_Unit_of_Measure"
    )

    second = run_job("ITEM-PRODUCT").as_dict()  # retried first; the same error twice -> skipped
    assert second["failed"] == 1 and second["inserted"] == 0
    assert state.skipped("ITEM-PRODUCT")["bc_id"].tolist() == [bad["id"]]
    assert run_job("ITEM-PRODUCT").as_dict()["failed"] == 0  # a skipped record is left alone

    run_job("UNIT OF MEASURE")  # the missing unit group arrives
    state.restore("ITEM-PRODUCT", [bad["id"]])
    fixed = run_job("ITEM-PRODUCT").as_dict()
    assert fixed["inserted"] == 1 and fixed["failed"] == 0
    assert "CR-100" in products_by_number(dataverse)


def test_dry_run_reports_and_writes_nothing(run_job, stats, state, bc):
    units = len(rows(bc, "unitsOfMeasure", select=["code"]))
    stats["dataverse"].clear()
    summary = run_job("UNIT OF MEASURE", dry_run=True).as_dict()
    assert summary["inserted"] == units and summary["dry_run"] is True
    assert stats["dataverse"].read()["by_method"].get("POST", 0) == 0
    assert stats["dataverse"].read()["by_method"].get("PATCH", 0) == 0
    assert state.couplings("UNIT OF MEASURE").empty
    assert state.watermark("UNIT OF MEASURE") is None


def test_backfill_window_reads_exactly_its_interval(run_job, bc, dataverse):
    run_all(run_job)
    (first,) = rows(bc, "items", filter="number eq '1896-S'")
    (second,) = rows(bc, "items", filter="number eq '1900-S'")
    start = dt.datetime.now(dt.UTC)
    time.sleep(0.05)
    bc.update("items", first["id"], {"unitPrice": 111.0})
    time.sleep(0.05)
    end = dt.datetime.now(dt.UTC)
    time.sleep(0.05)
    bc.update("items", second["id"], {"unitPrice": 222.0})

    summary = run_job("ITEM-PRODUCT", window=Window(start, end, kind="interval")).as_dict()
    assert summary["read"] == 1 and summary["modified"] == 1
    products = products_by_number(dataverse)
    assert products["1896-S"]["price"] == 111.0
    assert products["1900-S"]["price"] != 222.0


def test_match_based_coupling_reuses_an_existing_unit_group(run_job, dataverse, state):
    existing = dataverse.create("uomschedules", {"name": "NAV PCS", "baseuomname": "PCS"})
    run_job("UNIT OF MEASURE")
    groups = rows(dataverse, "uomschedules", select=["uomscheduleid"], filter="name eq 'NAV PCS'")
    assert [g["uomscheduleid"] for g in groups] == [existing]
    couplings = state.couplings("UNIT OF MEASURE")
    assert existing in set(couplings["crm_id"])


def test_throttling_and_server_errors_lose_nothing(run_job, connections, dataverse, bc):
    c = connections.config
    requests.post(
        f"{c.dataverse_url}/_sandbox/faults",
        json={"status": 429, "rate": 0.3, "retry_after": 0.05, "seed": 11},
        verify=str(c.ca_file),
        timeout=10,
    ).raise_for_status()
    requests.post(
        f"{c.bc_url}/_sandbox/faults", json={"status": 503, "rate": 0.3, "seed": 12}, verify=str(c.ca_file), timeout=10
    ).raise_for_status()
    try:
        summaries = run_all(run_job)
    finally:
        for url in (c.dataverse_url, c.bc_url):
            requests.post(f"{url}/_sandbox/faults", json={}, verify=str(c.ca_file), timeout=10)
    assert all(s.as_dict()["failed"] == 0 for s in summaries.values())
    items = len(rows(bc, "ItemCard", web_service=True, select=["No"], filter="Blocked eq false"))
    resources = len(rows(bc, "Resources", web_service=True, select=["No"], filter="Blocked eq false"))
    assert len(rows(dataverse, "products", select=["productid"])) == items + resources


def test_a_coupling_made_by_hand_is_synchronized_by_the_next_run(run_job, bc, dataverse, state):
    """``state couple`` takes effect without a change in BC: the next run writes the record into
    the row it was coupled to."""
    run_all(run_job)
    (item,) = rows(bc, "ItemCard", web_service=True, filter="No eq '1896-S'", select=["SystemId", "Description"])
    # The item goes to another product: the old one gives up its number (an alternate key) first.
    old = products_by_number(dataverse)["1896-S"]["productid"]
    dataverse.update("products", old, {"productnumber": "OLD-1896-S"})
    product_id = dataverse.create("products", {"name": "placeholder", "productnumber": "HAND-1", "producttypecode": 1})
    state.couple("ITEM-PRODUCT", item["SystemId"], product_id)
    summary = run_job("ITEM-PRODUCT").as_dict()
    assert (summary["modified"], summary["inserted"], summary["failed"]) == (1, 0, 0)
    (written,) = rows(dataverse, "products", select=["name", "productnumber"], filter=f"productid eq {product_id}")
    assert (written["name"], written["productnumber"]) == (item["Description"], "1896-S")
    assert run_job("ITEM-PRODUCT").as_dict()["modified"] == 0  # synchronized once: an ordinary coupling now
