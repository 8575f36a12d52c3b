"""POSTEDSALESINV-INV transform: header, lines, price list, state and bad invoices."""

from __future__ import annotations

import pandas as pd

from include.bc_sales_sync.mappings.catalogue import POSTEDSALESINV_INV
from include.bc_sales_sync.transforms.base import TransformContext, deterministic_id
from include.bc_sales_sync.transforms.invoices import invoice_state, posted_invoices_to_invoices
from tests.unit.transforms.test_prerequisites import errors_by_id, frame
from tests.unit.transforms.test_prices import CURRENCIES, EUR, PRODUCTS, USD

DEFAULT_LIST = "pl-default"
ACCOUNTS = pd.DataFrame({"bc_id": ["cust-10000", "cust-61000"], "crm_id": ["acc-10000", "acc-61000"], "extra": None})
SALESPEOPLE = pd.DataFrame({"code": ["JR"], "systemuserid": ["u-jr"]})
PRICE_LISTS = pd.DataFrame(
    [
        (DEFAULT_LIST, "Business Central Default Price List", USD, 0),
        ("pl-export", "EXPORT-EUR", EUR, 0),
        ("pl-old-eur", "A retired EUR list", EUR, 1),
    ],
    columns=["pricelevelid", "name", "transactioncurrencyid", "statecode"],
)


def line(sequence: int, kind: str, no: str, quantity: float, price: float, **values) -> dict:
    amount = round(quantity * price, 2)
    row = {
        "id": f"line-{no}-{sequence}",
        "sequence": sequence,
        "lineType": kind,
        "lineObjectNumber": no,
        "description": f"{kind} {no}",
        "quantity": quantity,
        "unitPrice": price,
        "discountAmount": 0.0,
        "netAmount": amount,
        "netAmountIncludingTax": round(amount * 1.25, 2),
        "invoiceDiscountAllocation": 0.0,
        "shipmentDate": "0001-01-01",
    }
    row.update(values)
    return row


def invoice(number: str, lines: list[dict], **values) -> dict:
    total = round(sum(x["netAmount"] for x in lines), 2)
    with_tax = round(sum(x["netAmountIncludingTax"] for x in lines), 2)
    row = {
        "id": f"inv-{number}",
        "number": number,
        "customerId": "cust-10000",
        "customerNumber": "10000",
        "customerName": "Adatum Corporation",
        "salesperson": "JR",
        "currencyCode": "",
        "dueDate": "2025-02-13",
        "billToName": "Adatum Corporation",
        "billToAddressLine1": "192 Market Square",
        "billToAddressLine2": "",
        "billToCity": "Atlanta",
        "billToCountry": "US",
        "billToPostCode": "31772",
        "billToState": "GA",
        "shipToName": "Adatum Corporation",
        "shipToAddressLine1": "192 Market Square",
        "shipToAddressLine2": "",
        "shipToCity": "Atlanta",
        "shipToCountry": "US",
        "shipToPostCode": "31772",
        "shipToState": "GA",
        "pricesIncludeTax": False,
        "discountAmount": 0.0,
        "totalAmountExcludingTax": total,
        "totalAmountIncludingTax": with_tax,
        "remainingAmount": with_tax,
        "salesInvoiceLines": lines,
        "lastModifiedDateTime": "2026-01-01T00:00:00.000Z",
    }
    row.update(values)
    return row


def run(rows, *, items: pd.DataFrame | None = None, lists=PRICE_LISTS):
    src = frame(rows, POSTEDSALESINV_INV)
    ctx = TransformContext(
        POSTEDSALESINV_INV,
        {
            "couplings:CUSTOMER": ACCOUNTS,
            "salespeople": SALESPEOPLE,
            "currencies": CURRENCIES,
            "products": PRODUCTS,
            "price_lists": lists,
            "price_list_items": items
            if items is not None
            else pd.DataFrame(columns=["pricelevelid", "productid", "uomid"]),
        },
        {"local_currency_id": USD, "default_price_list_id": DEFAULT_LIST},
    )
    return posted_invoices_to_invoices(src, ctx)


def test_header_fields_totals_and_state():
    result = run(
        [
            invoice(
                "PS-INV103008",
                [line(10000, "Item", "1896-S", 1, 1397.3), line(20000, "Item", "8000-S", 3, 85.0)],
                discountAmount=100.0,
            )
        ]
    )
    assert result.errors.empty
    (header,) = result.primary.rows.to_dict("records")
    assert header["target_id"] == deterministic_id("POSTEDSALESINV-INV", "inv-PS-INV103008")
    assert header["invoicenumber"] == header["name"] == "PS-INV103008"
    assert header["customerid_account@odata.bind"] == "/accounts(acc-10000)"
    assert header["ownerid@odata.bind"] == "/systemusers(u-jr)"
    assert header["transactioncurrencyid@odata.bind"] == f"/transactioncurrencies({USD})"
    assert header["pricelevelid@odata.bind"] == f"/pricelevels({DEFAULT_LIST})"
    assert header["duedate"] == "2025-02-13" and header["billto_line1"] == "192 Market Square"
    assert header["billto_line2"] is None and header["shipto_stateorprovince"] == "GA"
    assert header["totalamountlessfreight"] == 1652.3 and header["totalamount"] == 2065.37
    assert header["totaltax"] == 413.07 and header["discountamount"] == 100.0
    assert header["freightamount"] == 0.0 and header["discountpercentage"] == 0.0
    assert header["totaldiscountamount"] == 100.0 and header["totallineitemdiscountamount"] == 0.0
    assert (header["statecode"], header["statuscode"]) == (0, 4)  # nothing paid: Active/Billed
    # totals and state go after the lines
    assert {"totalamount", "statecode", "statuscode"} <= set(result.primary.final)
    assert result.requires == []


def test_state_follows_the_remaining_amount():
    state, status = invoice_state(pd.Series([0.0, 500.0, 1741.5, 0.004]), pd.Series([3466.0, 1741.5, 1741.5, 10.0]))
    assert list(zip(state, status, strict=True)) == [(2, 100001), (2, 100002), (0, 4), (2, 100001)]


def test_lines_products_write_ins_and_amounts():
    lines = [
        line(
            10000,
            "Item",
            "1896-S",
            2,
            1000.8,
            discountAmount=100.08,
            netAmount=1850.0,
            netAmountIncludingTax=2312.5,
            invoiceDiscountAllocation=51.52,
        ),
        line(20000, "Resource", "LIFT", 1, 240.0),
        line(30000, "Account", "6410", 1, 1250.0, description="Consulting Fees - Dom."),
        line(40000, "Account", "6950", 1, -50.0, description="Goodwill"),  # a negative line
        line(50000, "Comment", "", 0, 0.0, description="Delivered to the reception"),
        line(60000, "Item", "2100-S", 0, 459.0, netAmount=0.0, netAmountIncludingTax=0.0),  # zero quantity
    ]
    result = run([invoice("PS-INV103006", lines)])
    assert result.errors.empty
    (child,) = result.children
    assert child.entity_set == "invoicedetails"
    rows = child.rows.set_index("lineitemnumber")
    assert list(rows.index) == [10000, 20000, 30000, 40000]  # the comment and the empty line carry nothing
    item = rows.loc[10000]
    assert item["productid@odata.bind"] == "/products(p-1896)" and item["uomid@odata.bind"] == "/uoms(u-pcs)"
    assert item["isproductoverridden"] is False and item["productdescription"] is None
    assert item["quantity"] == 2 and item["priceperunit"] == 1000.8 and item["ispriceoverridden"] is True
    assert item["manualdiscountamount"] == 100.08 and item["volumediscountamount"] == 0.0
    assert item["baseamount"] == 2001.6  # net + invoice discount + line discount
    assert item["extendedamount"] == 2364.02  # net incl. tax + invoice discount
    assert item["tax"] == 462.5
    assert (
        item["invoiceid@odata.bind"] == "/invoices(" + deterministic_id("POSTEDSALESINV-INV", "inv-PS-INV103006") + ")"
    )
    assert item["target_id"] == deterministic_id("POSTEDSALESINV-INV|line", "line-1896-S-10000")
    assert item["shipto_line1"] == "192 Market Square"
    assert rows.loc[20000, "productid@odata.bind"] == "/products(p-lift)"
    account = rows.loc[30000]
    assert account["isproductoverridden"] is True and account["productid@odata.bind"] is None
    assert account["productdescription"] == "6410 Consulting Fees - Dom."
    goodwill = rows.loc[40000]
    assert goodwill["productdescription"] == "6950 Goodwill." and goodwill["priceperunit"] == -50.0
    assert goodwill["baseamount"] == -50.0
    assert {"productid@odata.bind", "uomid@odata.bind"} <= child.not_null
    assert "invoiceid@odata.bind" in child.insert_only
    (header,) = result.primary.rows.to_dict("records")
    assert header["totallineitemdiscountamount"] == 100.08


def test_bad_invoices_fail_alone_with_the_reason():
    good = invoice("PS-INV1", [line(10000, "Item", "1896-S", 1, 10.0)])
    result = run(
        [
            good,
            invoice(
                "PS-INV2",
                [line(10000, "Item", "1896-S", 1, 10.0)],
                customerId="cust-20000",
                customerNumber="20000",
                customerName="Trey Research",
            ),
            invoice("PS-INV3", [line(10000, "Item", "1896-S", 1, 10.0)], salesperson="OF"),
            invoice("PS-INV4", [line(10000, "Item", "1896-S", 1, 10.0)], currencyCode="GBP"),
            invoice("PS-INV5", [line(10000, "Item", "1896-S", -2, 10.0)]),
            invoice("PS-INV6", [line(10000, "Item", "9999-X", 1, 10.0)]),
            invoice("PS-INV7", [line(10000, "Account", "6410", 0, 10.0, netAmount=10.0)]),
            invoice("PS-INV8", [line(10000, "Resource", "NOBODY", 1, 10.0)]),
        ]
    )
    errors = errors_by_id(result)
    assert set(errors) == {f"inv-PS-INV{n}" for n in range(2, 9)}
    field, message = errors["inv-PS-INV2"]
    assert field == "customerNumber"
    assert "Invoice PS-INV2: its customer 20000 (Trey Research) is not coupled to a Sales account" in message
    assert "CUSTOMER" in message and "retried on the next run" in message
    assert errors["inv-PS-INV3"][0] == "salesperson" and "salesperson OF" in errors["inv-PS-INV3"][1]
    assert errors["inv-PS-INV4"][0] == "currencyCode" and "currency GBP" in errors["inv-PS-INV4"][1]
    assert (
        errors["inv-PS-INV5"][0] == "quantity"
        and "line 10000 (1896-S) has a negative quantity" in errors["inv-PS-INV5"][1]
    )
    assert "item 9999-X is not coupled to a Sales product" in errors["inv-PS-INV6"][1]
    assert "ITEM-PRODUCT" in errors["inv-PS-INV6"][1]
    assert "an amount but no quantity" in errors["inv-PS-INV7"][1]
    assert "resource NOBODY" in errors["inv-PS-INV8"][1] and "RESOURCE-PRODUCT" in errors["inv-PS-INV8"][1]
    assert result.primary.rows["invoicenumber"].tolist() == ["PS-INV1"]
    assert set(result.children[0].rows["bc_id"]) == {"inv-PS-INV1"}


def test_a_blocked_item_fails_the_invoice():
    products = PRODUCTS.assign(statecode=[0, 1, 0, 0])
    src = frame([invoice("PS-INV9", [line(10000, "Item", "2100-S", 1, 10.0)])], POSTEDSALESINV_INV)
    ctx = TransformContext(
        POSTEDSALESINV_INV,
        {"couplings:CUSTOMER": ACCOUNTS, "salespeople": SALESPEOPLE, "products": products, "price_lists": PRICE_LISTS},
        {"local_currency_id": USD, "default_price_list_id": DEFAULT_LIST},
    )
    (message,) = posted_invoices_to_invoices(src, ctx).errors["message"]
    assert "item 2100-S is blocked" in message and "Unblock it" in message


def test_non_ascii_names_and_a_salesperson_left_blank():
    result = run(
        [
            invoice(
                "PS-INV10",
                [line(10000, "Account", "6120", 1, 459.0, description="Café Tisch Ø80 \u2013 Eiche")],
                customerId="cust-61000",
                billToName="Möbelhaus Grünwald GmbH",
                billToCity="München",
                shipToAddressLine1="Schillerstraße 7",
                salesperson="",
            )
        ]
    )
    assert result.errors.empty
    (header,) = result.primary.rows.to_dict("records")
    assert header["billto_name"] == "Möbelhaus Grünwald GmbH" and header["billto_city"] == "München"
    assert header["ownerid@odata.bind"] is None and "ownerid@odata.bind" in result.primary.not_null
    (detail,) = result.children[0].rows.to_dict("records")
    assert (
        detail["productdescription"] == "6120 Café Tisch Ø80 \u2013 Eiche."
        and detail["shipto_line1"] == "Schillerstraße 7"
    )


def test_price_list_of_the_invoice_currency_found_or_created():
    eur_lines = [line(10000, "Item", "1896-S", 1, 915.0), line(20000, "Item", "2100-S", 2, 419.0)]
    gbp = pd.concat([CURRENCIES, pd.DataFrame({"code": ["GBP"], "transactioncurrencyid": ["cur-gbp"]})])
    src = frame(
        [
            invoice("PS-INV103004", eur_lines, currencyCode="EUR", customerId="cust-61000"),
            invoice("PS-INV103007", [line(10000, "Item", "1896-S", 2, 509.0)], currencyCode="GBP"),
            invoice("PS-INV103009", [line(10000, "Item", "1896-S", 1, 509.0)], currencyCode="GBP"),
        ],
        POSTEDSALESINV_INV,
    )
    items = pd.DataFrame({"pricelevelid": ["pl-export"], "productid": ["p-1896"], "uomid": ["u-pcs"]})
    ctx = TransformContext(
        POSTEDSALESINV_INV,
        {
            "couplings:CUSTOMER": ACCOUNTS,
            "salespeople": SALESPEOPLE,
            "currencies": gbp,
            "products": PRODUCTS,
            "price_lists": PRICE_LISTS,
            "price_list_items": items,
        },
        {"local_currency_id": USD, "default_price_list_id": DEFAULT_LIST},
    )
    result = posted_invoices_to_invoices(src, ctx)
    assert result.errors.empty
    lists = result.primary.rows.set_index("invoicenumber")["pricelevelid@odata.bind"]
    gbp_list = deterministic_id("PRICE LIST", "Price List in GBP")
    # EUR: the active list in that currency (the retired one is not used); GBP: a new one
    assert lists["PS-INV103004"] == "/pricelevels(pl-export)"
    assert lists["PS-INV103007"] == lists["PS-INV103009"] == f"/pricelevels({gbp_list})"
    new_lists, new_items = result.requires
    (created,) = new_lists.rows.to_dict("records")
    assert new_lists.entity_set == "pricelevels" and created["target_id"] == gbp_list
    assert created["name"] == "Price List in GBP"
    assert created["transactioncurrencyid@odata.bind"] == "/transactioncurrencies(cur-gbp)"
    # products missing from a non-default invoice price list are added at the line's price, once
    added = {
        (r["pricelevelid@odata.bind"], r["productid@odata.bind"], r["amount"])
        for r in new_items.rows.to_dict("records")
    }
    assert added == {
        ("/pricelevels(pl-export)", "/products(p-2100)", 419.0),
        (f"/pricelevels({gbp_list})", "/products(p-1896)", 509.0),
    }


def test_prices_including_tax_are_sent_without_it():
    vat_line = line(10000, "Item", "1896-S", 2, 125.0, netAmount=200.0, netAmountIncludingTax=250.0)
    result = run([invoice("PS-INV11", [vat_line], pricesIncludeTax=True)])
    (detail,) = result.children[0].rows.to_dict("records")
    assert detail["priceperunit"] == 100.0 and detail["tax"] == 50.0 and detail["baseamount"] == 200.0
