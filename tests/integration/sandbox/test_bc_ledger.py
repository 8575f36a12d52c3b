"""The BC emulator's customer ledger entries and sales line amounts: what customer statistics sum up.

Read through the published web services ``CustLedgerEntries`` and ``SalesLines``; written only by
BC's own logic (posting invoices and payments, canceling, editing documents through the API).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import pytest

from include.sandbox.bc import generate, ledger, seed, tables
from include.sandbox.store import Store
from tests.integration.sandbox.test_bc_api import BC

AMOUNTS = "Outstanding_Amount_LCY ne 0 or Shipped_Not_Invoiced_LCY ne 0 or Prepmt_Amount_Inv_LCY ne 0"


@pytest.fixture
def bc(sandbox, ca_bundle, token_for) -> BC:
    return BC(sandbox.config, ca_bundle, token_for(sandbox.config.bc_resource))


def entries(bc: BC, query: str = "") -> list[dict]:
    return bc.ok("GET", f"ws:CustLedgerEntries{query}")["value"]


def lines(bc: BC, query: str = "") -> list[dict]:
    return bc.ok("GET", f"ws:SalesLines{query}")["value"]


def by_number(rows: list[dict], column: str) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        out[row[column]].append(row)
    return out


def test_demo_ledger_and_lines_add_up_to_the_figures_on_the_customer_card(bc):
    today = dt.datetime.now(dt.UTC).date().isoformat()
    cards = bc.ok("GET", "ws:CustomerCard")["value"]
    all_entries = by_number(entries(bc), "Customer_No")
    all_lines = lines(bc, f"?$filter={AMOUNTS}")
    assert len(cards) == 10
    for card in cards:
        mine = all_entries.get(card["No"], [])
        open_ = [e for e in mine if e["Open"]]
        assert sum(e["Remaining_Amt_LCY"] for e in open_) == pytest.approx(card["Balance_LCY"]), card["No"]
        due = sum(e["Remaining_Amt_LCY"] for e in open_ if e["Due_Date"] < today)
        assert due == pytest.approx(card["Balance_Due_LCY"]), card["No"]
        billed = [x for x in all_lines if x["Bill_to_Customer_No"] == card["No"]]
        orders = [x for x in billed if x["Document_Type"] == "Order"]
        assert sum(x["Outstanding_Amount_LCY"] for x in orders) == pytest.approx(
            card["Outstanding_Orders_LCY"], abs=0.02
        )
        assert sum(x["Shipped_Not_Invoiced_LCY"] for x in orders) == pytest.approx(
            card["Shipped_Not_Invoiced_LCY"], abs=0.02
        )
        invoices = [x for x in billed if x["Document_Type"] == "Invoice"]
        assert sum(x["Outstanding_Amount_LCY"] for x in invoices) == pytest.approx(
            card["Outstanding_Invoices_LCY"], abs=0.02
        )
    # Entries are closed exactly when nothing is left; paid invoices have the payment that closed them.
    flat = [e for group in all_entries.values() for e in group]
    assert all(e["Open"] == (e["Remaining_Amount"] != 0) for e in flat)
    paid = next(e for e in flat if e["Document_No"] == "PS-INV103001")
    assert not paid["Open"] and paid["Closed_by_Entry_No"]
    payment = next(e for e in flat if e["Entry_No"] == paid["Closed_by_Entry_No"])
    assert payment["Document_Type"] == "Payment" and payment["Amount"] == -paid["Amount"]
    partly = next(e for e in flat if e["Document_No"] == "PS-INV103003")
    assert partly["Open"] and partly["Remaining_Amount"] == pytest.approx(partly["Amount"] - 500)
    euro = next(e for e in flat if e["Document_No"] == "PS-INV103004")
    assert euro["Currency_Code"] == "EUR" and euro["Amount_LCY"] != euro["Amount"]
    assert sorted(e["Entry_No"] for e in flat) == list(range(1, len(flat) + 1))


def test_demo_customer_50000_has_every_statistics_figure(bc):
    card = bc.ok("GET", "ws:CustomerCard('50000')")
    assert card["Outstanding_Serv_Orders_LCY"] > 0 and card["Serv_Shipped_Not_Invoiced_LCY"] > 0
    assert card["Outstanding_Serv_Invoices_LCY"] > 0
    mine = lines(bc, "?$filter=Bill_to_Customer_No eq '50000'")
    order = [x for x in mine if x["Document_No"] == "S-ORD101003"]
    assert all(x["Shipped_Not_Invoiced_LCY"] > 0 and x["Outstanding_Amount_LCY"] > 0 for x in order)
    assert all(x["Prepmt_Amount_Inv_LCY"] > 0 and x["Prepmt_VAT_Amount_Inv_LCY"] > 0 for x in order)
    from_shipment = [x for x in mine if x["Shipment_No"]]
    assert [x["Document_Type"] for x in from_shipment] == ["Invoice"] and from_shipment[0]["Outstanding_Amount_LCY"] > 0
    prepayment = entries(bc, "?$filter=Document_No eq 'PS-PRE1001'")
    assert len(prepayment) == 1 and prepayment[0]["Amount"] == pytest.approx(
        sum(x["Prepmt_Amount_Inv_LCY"] + x["Prepmt_VAT_Amount_Inv_LCY"] for x in order)
    )


def test_posting_an_invoice_and_payments_write_the_ledger(bc, fresh_sandbox):
    invoice = bc.ok("POST", "salesInvoices", 201, json={"customerNumber": "40000"})
    bc.ok(
        "POST",
        f"salesInvoices({invoice['id']})/salesInvoiceLines",
        201,
        json={"lineObjectNumber": "1900-S", "quantity": 2},
    )
    draft = bc.ok("GET", f"salesInvoices({invoice['id']})")
    (line,) = lines(bc, f"?$filter=Document_No eq '{draft['number']}'")
    assert (line["Bill_to_Customer_No"], line["Sell_to_Customer_No"]) == ("40000", "40000")
    assert line["Outstanding_Amount_LCY"] == pytest.approx(draft["totalAmountIncludingTax"])
    assert line["Outstanding_Quantity"] == 2

    bc.ok("POST", f"salesInvoices({invoice['id']})/Microsoft.NAV.post", 204)
    posted = bc.ok("GET", f"salesInvoices({invoice['id']})")
    (entry,) = entries(bc, f"?$filter=Document_No eq '{posted['number']}'")
    assert entry["Document_Type"] == "Invoice" and entry["Customer_No"] == "40000" and entry["Open"]
    assert entry["Amount"] == entry["Remaining_Amount"] == pytest.approx(posted["totalAmountIncludingTax"])
    assert entry["Sales_LCY"] == pytest.approx(posted["totalAmountExcludingTax"])
    assert entry["Due_Date"] == posted["dueDate"] and entry["Posting_Date"] == posted["postingDate"]
    (line,) = lines(bc, f"?$filter=Document_No eq '{posted['number']}'")
    assert line["Outstanding_Amount_LCY"] == 0 and line["Quantity_Invoiced"] == 2

    journal = bc.ok("GET", "customerPaymentJournals?$filter=code eq 'GENERAL'")["value"][0]
    payments = f"customerPaymentJournals({journal['id']})/customerPayments"
    post = f"customerPaymentJournals({journal['id']})/Microsoft.NAV.post"
    bc.ok("POST", payments, 201, json={"customerNumber": "40000", "amount": -100, "appliesToInvoiceId": invoice["id"]})
    bc.ok("POST", post, 204)
    (partly,) = entries(bc, f"?$filter=Document_No eq '{posted['number']}'")
    assert partly["Remaining_Amount"] == pytest.approx(entry["Remaining_Amount"] - 100) and partly["Open"]
    assert partly["SystemModifiedAt"] > entry["SystemModifiedAt"]
    rest = partly["Remaining_Amount"]
    bc.ok("POST", payments, 201, json={"customerNumber": "40000", "amount": -rest, "appliesToInvoiceId": invoice["id"]})
    bc.ok("POST", post, 204)
    (closed,) = entries(bc, f"?$filter=Document_No eq '{posted['number']}'")
    assert not closed["Open"] and closed["Remaining_Amount"] == 0 and closed["Closed_at_Date"] != "0001-01-01"
    payment = bc.ok("GET", f"ws:CustLedgerEntries({closed['Closed_by_Entry_No']})")
    assert payment["Document_Type"] == "Payment" and payment["Amount"] == pytest.approx(-rest)
    assert not payment["Open"] and payment["Customer_No"] == "40000"


def test_canceling_an_invoice_posts_a_credit_memo_applied_to_it(bc, fresh_sandbox):
    invoice = bc.ok("GET", "salesInvoices?$filter=number eq 'PS-INV103005'")["value"][0]
    bc.ok("POST", f"salesInvoices({invoice['id']})/Microsoft.NAV.cancel", 204)
    (entry,) = entries(bc, "?$filter=Document_No eq 'PS-INV103005'")
    assert not entry["Open"] and entry["Remaining_Amount"] == 0
    memo = bc.ok("GET", f"ws:CustLedgerEntries({entry['Closed_by_Entry_No']})")
    assert memo["Document_Type"] == "Credit Memo" and memo["Amount"] == -entry["Amount"]
    assert memo["Sales_LCY"] == -entry["Sales_LCY"]


def test_editing_documents_keeps_the_line_amounts_current(bc, fresh_sandbox):
    order = bc.ok("GET", "salesOrders?$filter=number eq 'S-ORD101001'&$expand=salesOrderLines")["value"][0]
    first = order["salesOrderLines"][0]
    before = lines(bc, "?$filter=Document_No eq 'S-ORD101001' and Line_No eq 10000")[0]
    bc.ok(
        "PATCH",
        f"salesOrders({order['id']})/salesOrderLines({first['id']})",
        json={"quantity": first["quantity"] + 1},
        headers={"If-Match": "*"},
    )
    after = lines(bc, "?$filter=Document_No eq 'S-ORD101001' and Line_No eq 10000")[0]
    assert after["Outstanding_Amount_LCY"] > before["Outstanding_Amount_LCY"]
    assert after["SystemModifiedAt"] > before["SystemModifiedAt"]
    # A new bill-to customer on the document moves its lines to that customer.
    draft = bc.ok("GET", "salesInvoices?$filter=number eq 'S-INV102201'")["value"][0]
    bc.ok("PATCH", f"salesInvoices({draft['id']})", json={"billToCustomerNumber": "30000"}, headers={"If-Match": "*"})
    moved = lines(bc, "?$filter=Document_No eq 'S-INV102201'")
    assert {x["Bill_to_Customer_No"] for x in moved} == {"30000"}
    assert {x["Sell_to_Customer_No"] for x in moved} == {"20000"}


def test_ledger_and_lines_are_read_only(bc):
    assert bc.call("POST", "ws:CustLedgerEntries", json={"Entry_No": 999}).status_code == 405
    assert (
        bc.call("PATCH", "ws:CustLedgerEntries(1)", json={"Open": False}, headers={"If-Match": "*"}).status_code == 405
    )
    key = "SalesLines(Document_Type='Order',Document_No='S-ORD101001',Line_No=10000)"
    assert bc.ok("GET", f"ws:{key}")["Bill_to_Customer_No"] == "10000"
    assert bc.call("PATCH", f"ws:{key}", json={"Quantity": 1}, headers={"If-Match": "*"}).status_code == 405
    refused = bc.call(
        "PATCH", "ws:CustomerCard('50000')", json={"Outstanding_Serv_Orders_LCY": 1.0}, headers={"If-Match": "*"}
    )
    assert refused.status_code == 400


def test_change_queries_the_statistics_use(bc):
    newest = bc.get(
        "ws:CustLedgerEntries?$orderby=SystemModifiedAt desc&$select=SystemModifiedAt",
        headers={"Prefer": "odata.maxpagesize=1"},
    ).json()["value"]
    assert len(newest) == 1
    stamps = [e["SystemModifiedAt"] for e in entries(bc, "?$select=SystemModifiedAt")]
    assert newest[0]["SystemModifiedAt"] == max(stamps)
    ranged = entries(
        bc,
        "?$filter=(Open eq true or (Posting_Date ge 2025-01-01 and Posting_Date le 2025-12-31)) "
        "and (Customer_No ge '10000' and Customer_No le '30000')&$select=Customer_No",
    )
    assert {e["Customer_No"] for e in ranged} == {"10000", "20000", "30000"}


def test_generated_invoices_come_with_their_entries(tmp_path):
    store = Store(tables.TABLES, tmp_path / "bc.sqlite", datetime_precision="milliseconds")
    seed.load_company(store, "CRONUS International Ltd.", "GBP")
    seed.load(store, "empty")
    generate.generate(store, {"invoices": 60, "orders": 10})
    headers = store.find("SalesHeader", Document_Type="Invoice", Posted=True)
    invoice_entries = store.find("CustLedgerEntry", Document_Type="Invoice")
    assert len(invoice_entries) == len(headers) == 60
    remaining = {h["No"]: h["Remaining_Amount"] for h in headers}
    assert all(e["Remaining_Amount"] == pytest.approx(remaining[e["Document_No"]]) for e in invoice_entries)
    paid = [h for h in headers if h["Remaining_Amount"] < h["Amount_Including_VAT"]]
    assert len(store.find("CustLedgerEntry", Document_Type="Payment")) == len(paid) > 0
    assert ledger.next_entry_no(store) == 61 + len(paid)
    order_lines = store.find("SalesLine", Document_Type="Order")
    assert order_lines and all(x["Outstanding_Amount_LCY"] > 0 and x["Bill_to_Customer_No"] for x in order_lines)
