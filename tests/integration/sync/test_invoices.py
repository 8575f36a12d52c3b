"""POSTEDSALESINV-INV against the sandbox: the demo company's posted invoices, field by field."""

from __future__ import annotations

import pytest

from include.bc_sales_sync.mappings.catalogue import DEFAULT_PRICE_LIST_NAME
from include.bc_sales_sync.transforms.base import deterministic_id
from include.sandbox.dataverse.seed import seed_id
from tests.integration.sync.conftest import rows
from tests.integration.sync.test_prerequisites_and_prices import (
    PREREQUISITES,
    PRICES,
    PRODUCTS,
    errors_of,
    exchange_rates,  # noqa: F401 (the fixture every test here uses)
    run_all,
    runner,
)

pytestmark = pytest.mark.usefixtures("exchange_rates")


@pytest.fixture
def run_job(bc, dataverse, state):
    return runner(bc, dataverse, state)


EVERYTHING = PREREQUISITES + PRODUCTS + PRICES + ["POSTEDSALESINV-INV"]
INVOICE_COLUMNS = [
    "invoiceid",
    "invoicenumber",
    "name",
    "duedate",
    "statecode",
    "statuscode",
    "totalamount",
    "totalamountlessfreight",
    "totaltax",
    "discountamount",
    "totaldiscountamount",
    "totallineitemdiscountamount",
    "freightamount",
    "billto_name",
    "billto_line1",
    "billto_city",
    "billto_postalcode",
    "billto_country",
    "shipto_name",
    "shipto_line1",
    "shipto_city",
    "shipto_stateorprovince",
    "_customerid_value",
    "_ownerid_value",
    "_pricelevelid_value",
    "_transactioncurrencyid_value",
]
LINE_COLUMNS = [
    "_invoiceid_value",
    "_productid_value",
    "_uomid_value",
    "isproductoverridden",
    "productdescription",
    "quantity",
    "priceperunit",
    "ispriceoverridden",
    "manualdiscountamount",
    "baseamount",
    "extendedamount",
    "tax",
    "lineitemnumber",
]


def invoices_by_number(dataverse) -> dict[str, dict]:
    return {i["invoicenumber"]: i for i in rows(dataverse, "invoices", select=INVOICE_COLUMNS)}


def lines_of(dataverse, invoice_id: str) -> dict[int, dict]:
    found = rows(dataverse, "invoicedetails", select=LINE_COLUMNS, filter=f"_invoiceid_value eq {invoice_id}")
    return {line["lineitemnumber"]: line for line in found}


def posted(bc) -> dict[str, dict]:
    return {
        i["number"]: i
        for i in rows(bc, "salesInvoices", filter="status ne 'Draft'", expand=["salesInvoiceLines"])
        if i["status"] != "In Review"
    }


def test_demo_invoices_arrive_field_by_field(run_job, bc, dataverse, state, stats):
    run_all(run_job, EVERYTHING[:-1])
    stats["dataverse"].clear()
    summary = run_job("POSTEDSALESINV-INV").as_dict()
    requests = stats["dataverse"].read()
    bc_invoices = posted(bc)
    # PS-INV103002 and PS-INV103004 are for customers whose salespeople (OF, RB) have no Sales user
    assert (summary["read"], summary["inserted"], summary["failed"]) == (len(bc_invoices), len(bc_invoices) - 2, 2)
    # lookups once per run and one $batch for the chunk, whatever the number of invoices
    assert requests["total"] <= 10, requests

    messages = errors_of(state, "POSTEDSALESINV-INV")
    assert {bc_invoices[n]["id"] for n in ("PS-INV103002", "PS-INV103004")} == set(messages)
    assert (
        "Invoice PS-INV103002: its customer 20000 (Trey Research) is not coupled to a Sales account"
        in (messages[bc_invoices["PS-INV103002"]["id"]])
    )

    accounts = {
        a["accountnumber"]: a["accountid"] for a in rows(dataverse, "accounts", select=["accountid", "accountnumber"])
    }
    currencies = {
        c["isocurrencycode"]: c["transactioncurrencyid"]
        for c in rows(dataverse, "transactioncurrencies", select=["transactioncurrencyid", "isocurrencycode"])
    }
    lists = {
        p["pricelevelid"]: p
        for p in rows(dataverse, "pricelevels", select=["pricelevelid", "name", "_transactioncurrencyid_value"])
    }
    products = {
        p["productid"]: p["productnumber"] for p in rows(dataverse, "products", select=["productid", "productnumber"])
    }
    units = {u["uomid"]: u["name"] for u in rows(dataverse, "uoms", select=["uomid", "name"])}
    sales = invoices_by_number(dataverse)
    assert set(sales) == set(bc_invoices) - {"PS-INV103002", "PS-INV103004"}
    for number, sale in sales.items():
        source = bc_invoices[number]
        assert sale["invoiceid"] == deterministic_id("POSTEDSALESINV-INV", source["id"])
        assert sale["name"] == number and sale["duedate"] == source["dueDate"]
        assert sale["_customerid_value"] == accounts[source["customerNumber"]]
        assert sale["_ownerid_value"] == seed_id("systemuser", source["salesperson"])
        code = source["currencyCode"] or "USD"
        assert sale["_transactioncurrencyid_value"] == currencies[code]
        price_list = lists[sale["_pricelevelid_value"]]
        expected_list = DEFAULT_PRICE_LIST_NAME if code == "USD" else f"Price List in {code}"
        assert price_list["name"] == expected_list and price_list["_transactioncurrencyid_value"] == currencies[code]
        assert (sale["billto_name"], sale["billto_line1"], sale["billto_city"]) == (
            source["billToName"],
            source["billToAddressLine1"],
            source["billToCity"],
        )
        assert (sale["billto_postalcode"], sale["billto_country"]) == (
            source["billToPostCode"],
            source["billToCountry"],
        )
        assert (sale["shipto_name"], sale["shipto_line1"], sale["shipto_city"]) == (
            source["shipToName"],
            source["shipToAddressLine1"],
            source["shipToCity"],
        )
        assert sale["shipto_stateorprovince"] == (source["shipToState"] or None)
        assert sale["totalamount"] == pytest.approx(source["totalAmountIncludingTax"])
        assert sale["totalamountlessfreight"] == pytest.approx(source["totalAmountExcludingTax"])
        assert sale["totaltax"] == pytest.approx(source["totalTaxAmount"], abs=0.011)
        assert sale["discountamount"] == pytest.approx(source["discountAmount"]) and sale["freightamount"] == 0
        line_discounts = sum(x["discountAmount"] for x in source["salesInvoiceLines"])
        assert sale["totallineitemdiscountamount"] == pytest.approx(line_discounts)
        assert sale["totaldiscountamount"] == pytest.approx(source["discountAmount"] + line_discounts)
        remaining, total = source["remainingAmount"], source["totalAmountIncludingTax"]
        expected_state = (2, 100001) if remaining == 0 else (2, 100002) if remaining != total else (0, 4)
        assert (sale["statecode"], sale["statuscode"]) == expected_state, number

        lines = lines_of(dataverse, sale["invoiceid"])
        assert set(lines) == {x["sequence"] for x in source["salesInvoiceLines"]}
        for x in source["salesInvoiceLines"]:
            line = lines[x["sequence"]]
            if x["lineType"] in ("Item", "Resource"):
                assert products[line["_productid_value"]] == x["lineObjectNumber"]
                assert units[line["_uomid_value"]] == x["unitOfMeasureCode"]
                assert line["isproductoverridden"] is False and not line["productdescription"]
            else:  # a G/L account line is a write-in product
                assert line["isproductoverridden"] is True and line["_productid_value"] is None
                name = f"{x['lineObjectNumber']} {x['description']}"
                assert line["productdescription"] == (name if name.endswith(".") else name + ".")
            assert line["quantity"] == x["quantity"] and line["priceperunit"] == pytest.approx(x["unitPrice"])
            assert line["ispriceoverridden"] is True
            assert line["manualdiscountamount"] == pytest.approx(x["discountAmount"])
            assert line["baseamount"] == pytest.approx(
                x["netAmount"] + x["invoiceDiscountAllocation"] + x["discountAmount"]
            )
            assert line["extendedamount"] == pytest.approx(x["netAmountIncludingTax"] + x["invoiceDiscountAllocation"])
            assert line["tax"] == pytest.approx(x["netAmountIncludingTax"] - x["netAmount"])

    # The GBP invoice got its price list, and its products were added to it at the invoiced price.
    (gbp_list,) = [p for p in lists.values() if p["name"] == "Price List in GBP"]
    gbp_items = rows(
        dataverse,
        "productpricelevels",
        select=["_productid_value", "amount"],
        filter=f"_pricelevelid_value eq {gbp_list['pricelevelid']}",
    )
    assert {products[i["_productid_value"]]: i["amount"] for i in gbp_items} == {"1920-S": 509.0, "1936-S": 151.5}
    assert sales["PS-INV103001"]["statecode"] == 2 and sales["PS-INV103003"]["statuscode"] == 100002


def test_a_rerun_writes_nothing_and_an_invoice_posted_later_arrives_on_the_next_run(run_job, bc, dataverse, stats):
    run_all(run_job, EVERYTHING)
    stats["dataverse"].clear()
    again = run_job("POSTEDSALESINV-INV").as_dict()
    assert (again["inserted"], again["modified"], again["failed"]) == (0, 0, 2)  # the two failures, now skipped
    dataverse_stats = stats["dataverse"].read()
    assert dataverse_stats["by_method"].get("PATCH", 0) == 0 and dataverse_stats.get("batch_operations_total", 0) == 0

    # A draft for Alpine Ski House: an item, a G/L line, a comment; posted through the API.
    draft = bc.create("salesInvoices", {"customerNumber": "40000", "externalDocumentNumber": "PO-ASH-77"})
    lines = f"salesInvoices({draft['id']})/salesInvoiceLines"
    bc.create(lines, {"lineObjectNumber": "1908-S", "quantity": 3, "discountPercent": 10})
    bc.create(lines, {"lineType": "Account", "lineObjectNumber": "6620", "quantity": 1, "unitPrice": 40})
    bc.create(lines, {"lineType": "Comment", "description": "Deliver to the back door"})
    bc.post_action("salesInvoices", draft["id"], "post")
    summary = run_job("POSTEDSALESINV-INV").as_dict()
    assert (summary["read"], summary["inserted"], summary["failed"]) == (1, 1, 0)

    (source,) = [i for i in posted(bc).values() if i["id"] == draft["id"]]
    sale = invoices_by_number(dataverse)[source["number"]]
    assert sale["_ownerid_value"] == seed_id("systemuser", "JR") and (sale["statecode"], sale["statuscode"]) == (0, 4)
    assert sale["totalamount"] == pytest.approx(source["totalAmountIncludingTax"])
    found = lines_of(dataverse, sale["invoiceid"])
    assert sorted(found) == [10000, 20000]  # the comment line carries nothing
    assert found[10000]["manualdiscountamount"] == pytest.approx(57.03) and found[10000]["quantity"] == 3
    assert found[20000]["productdescription"] == "6620 Freight Fees Charged."


def test_payments_move_an_invoice_to_paid_and_a_paid_invoice_is_not_sent_again(run_job, bc, dataverse, state):
    """The emulator marks a paid invoice modified, so the job sees it again: while the invoice is
    Active in Sales it is updated (here to Paid/Partial); once it is no longer Active it is left
    alone (BC does not send it again), and its state follows the payment status job."""
    run_all(run_job, EVERYTHING)
    journal = next(iter(rows(bc, "customerPaymentJournals", filter="code eq 'GENERAL'")))
    payments = f"customerPaymentJournals({journal['id']})/customerPayments"
    invoice = invoices_by_number(dataverse)["PS-INV103008"]
    assert (invoice["statecode"], invoice["statuscode"]) == (0, 4)

    bc.create(payments, {"customerNumber": "10000", "amount": -1000, "appliesToInvoiceNumber": "PS-INV103008"})
    bc.post_action("customerPaymentJournals", journal["id"], "post")
    assert run_job("POSTEDSALESINV-INV").as_dict()["modified"] == 1
    invoice = invoices_by_number(dataverse)["PS-INV103008"]
    assert (invoice["statecode"], invoice["statuscode"]) == (2, 100002)

    bc.create(payments, {"customerNumber": "10000", "amount": -1352.12, "appliesToInvoiceNumber": "PS-INV103008"})
    bc.post_action("customerPaymentJournals", journal["id"], "post")
    summary = run_job("POSTEDSALESINV-INV").as_dict()
    assert (summary["modified"], summary["skipped"], summary["failed"]) == (0, 1, 0)
    invoice = invoices_by_number(dataverse)["PS-INV103008"]
    assert (invoice["statecode"], invoice["statuscode"]) == (2, 100002)  # not re-activated, not re-sent
    assert len(lines_of(dataverse, invoice["invoiceid"])) == 3

    from include.bc_sales_sync.statistics.base import StatisticsOptions
    from include.bc_sales_sync.statistics.payments import InvoicePaymentStatusJob

    InvoicePaymentStatusJob(bc, dataverse, state, StatisticsOptions()).run()
    invoice = invoices_by_number(dataverse)["PS-INV103008"]
    assert (invoice["statecode"], invoice["statuscode"]) == (2, 100001)
