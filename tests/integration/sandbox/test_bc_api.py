"""Conformance of the Business Central emulator, used the way a real client uses BC: plain HTTPS.

Covers API v2.0 (reading, paging, writing with ETags, validation, sales documents and posting,
JSON $batch), the published OData V4 web services, authentication and the control surface.
"""

from __future__ import annotations

import base64
import datetime as dt
import time
import uuid
from urllib.parse import quote

import pytest
import requests

from include.sandbox.server import SandboxThread, free_port_config

WS_COMPANY = "Company('CRONUS%20International%20Ltd.')"


class BC:
    """A tiny BC client: absolute URLs, the sandbox CA, a bearer token."""

    def __init__(self, config, ca_bundle: str, token: str):
        self.config = config
        self.ca = ca_bundle
        self.token = token
        self.api = f"{config.bc_api_root}/api/v2.0"
        self.company = f"{self.api}/companies({config.company_id})"
        self.ws = f"{config.bc_api_root}/ODataV4/{WS_COMPANY}"

    def url(self, path: str) -> str:
        if path.startswith("https://"):
            return path
        if path.startswith("ws:"):
            return f"{self.ws}/{path[3:]}"
        if path.startswith("api:"):
            return f"{self.api}/{path[4:]}"
        return f"{self.company}/{path}"

    def call(
        self, method: str, path: str, *, token: str | None = "default", headers=None, **kwargs
    ) -> requests.Response:
        sent = dict(headers or {})
        if token == "default":
            token = self.token
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        # verify= is passed per request: a session's verify loses to REQUESTS_CA_BUNDLE.
        return requests.request(method, self.url(path), headers=sent, verify=self.ca, timeout=60, **kwargs)

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.call("GET", path, **kwargs)

    def ok(self, method: str, path: str, status: int = 200, **kwargs) -> dict:
        response = self.call(method, path, **kwargs)
        assert response.status_code == status, response.text
        return response.json() if response.content else {}

    def all_pages(self, path: str, page_size: int) -> tuple[list[dict], int]:
        url, rows, requests_made = self.url(path), [], 0
        while url:
            response = self.get(url, headers={"Prefer": f"odata.maxpagesize={page_size}"})
            assert response.status_code == 200, response.text
            body = response.json()
            rows += body["value"]
            requests_made += 1
            url = body.get("@odata.nextLink")
        return rows, requests_made


@pytest.fixture
def bc(sandbox, ca_bundle, token_for) -> BC:
    return BC(sandbox.config, ca_bundle, token_for(sandbox.config.bc_resource))


def control(sandbox, method: str, action: str, **kwargs) -> requests.Response:
    c = sandbox.config
    response = requests.request(method, f"{c.bc_url}/_sandbox/{action}", verify=str(c.ca_file), timeout=60, **kwargs)
    response.raise_for_status()
    return response


def error_of(response: requests.Response) -> tuple[str, str]:
    error = response.json()["error"]
    assert "CorrelationId" in error["message"]
    return error["code"], error["message"]


def item_by_number(bc: BC, number: str) -> dict:
    rows = bc.ok("GET", f"items?$filter=number eq '{number}'")["value"]
    assert len(rows) == 1, rows
    return rows[0]


# -- companies, URLs, metadata -------------------------------------------------------------------


def test_companies(bc):
    body = bc.ok("GET", "api:companies")
    assert [c["id"] for c in body["value"]] == [bc.config.company_id]
    assert body["value"][0]["name"] == "CRONUS International Ltd."
    assert body["@odata.context"].endswith("$metadata#companies")
    by_name = bc.ok("GET", "api:companies?$filter=name eq 'CRONUS International Ltd.'&$select=id,name")
    assert by_name["value"] == [{"id": bc.config.company_id, "name": "CRONUS International Ltd."}]
    assert bc.ok("GET", "api:companies?$filter=name eq 'Other Ltd.'")["value"] == []
    single = bc.ok("GET", bc.company)
    assert single["displayName"] == "CRONUS International Ltd."
    missing = bc.get(f"api:companies({uuid.uuid4()})/items")
    assert missing.status_code == 404
    assert error_of(missing)[0] == "Internal_CompanyNotFound"


def test_wrong_tenant_or_environment_is_a_bc_404(bc):
    c = bc.config
    for url in (
        f"{c.bc_url}/v2.0/{uuid.uuid4()}/{c.bc_environment}/api/v2.0/companies",
        f"{c.bc_url}/v2.0/{c.tenant_id}/production/api/v2.0/companies",
    ):
        response = bc.get(url)
        assert response.status_code == 404
        code, message = error_of(response)
        assert code == "BadRequest_NotFound"
        assert "was not found" in message


def test_metadata_lists_the_entity_sets(bc):
    response = bc.get("api:$metadata")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    for name in ("items", "customers", "salesInvoices", "salesInvoiceLines", "customerFinancialDetails"):
        assert f'EntitySet Name="{name}"' in response.text
    ws = bc.get(f"{bc.config.bc_api_root}/ODataV4/$metadata")
    assert 'EntitySet Name="SalesPrices"' in ws.text


def test_unknown_entity_set_is_404(bc):
    response = bc.get("itemz")
    assert response.status_code == 404
    code, message = error_of(response)
    assert code == "BadRequest_ResourceNotFound"
    assert message.startswith("Resource not found for the segment 'itemz'.")


# -- reading ---------------------------------------------------------------------------------


def test_items_filtered_on_last_modified(bc):
    items = bc.ok("GET", "items?$select=number,lastModifiedDateTime")["value"]
    times = sorted(i["lastModifiedDateTime"] for i in items)
    cutoff = times[len(times) // 2]
    newer = bc.ok("GET", f"items?$filter=lastModifiedDateTime gt {cutoff}&$select=number,lastModifiedDateTime")
    expected = {i["number"] for i in items if i["lastModifiedDateTime"] > cutoff}
    assert {i["number"] for i in newer["value"]} == expected
    assert 0 < len(expected) < len(items)


def test_select_and_top(bc):
    body = bc.ok("GET", "items?$select=number,displayName&$top=3")
    assert len(body["value"]) == 3
    assert all(set(row) == {"@odata.etag", "number", "displayName"} for row in body["value"])
    assert "@odata.nextLink" not in body
    assert body["@odata.context"].endswith("/items(number,displayName)")


def test_paging_with_maxpagesize_follows_next_links(bc):
    everything = bc.ok("GET", "items?$select=id&$count=true")
    total = everything["@odata.count"]
    assert total == len(everything["value"]) >= 20
    first = bc.get("items?$select=id", headers={"Prefer": "odata.maxpagesize=6"})
    assert first.headers["preference-applied"] == "odata.maxpagesize=6"
    assert "$skiptoken=" in first.json()["@odata.nextLink"]
    rows, pages = bc.all_pages("items?$select=id,number", page_size=6)
    assert len(rows) == total
    assert len({r["id"] for r in rows}) == total
    assert pages == -(-total // 6)


def test_paging_keeps_filter_and_orderby(bc):
    query = "items?$filter=type eq 'Inventory'&$orderby=unitPrice desc&$select=number,unitPrice"
    expected = bc.ok("GET", query)["value"]
    rows, pages = bc.all_pages(query, page_size=4)
    assert rows == expected
    assert pages > 1
    prices = [r["unitPrice"] for r in rows]
    assert prices == sorted(prices, reverse=True)


def test_a_write_between_pages_shows_on_the_next_page(bc, fresh_sandbox):
    """The next page is computed while the client reads the current one; a write in between
    must not leave the client with the page as it was before."""
    query = "items?$select=id,number,unitPrice&$orderby=number"
    expected_second = bc.ok("GET", f"{query}&$skip=5&$top=5")["value"]
    target = expected_second[0]["number"]
    first = bc.get(query, headers={"Prefer": "odata.maxpagesize=5"}).json()
    time.sleep(0.3)  # the next page is computed ahead meanwhile
    item = expected_second[0]
    bc.ok("PATCH", f"items({item['id']})", json={"unitPrice": 4321.5}, headers={"If-Match": "*"})
    second = bc.get(first["@odata.nextLink"], headers={"Prefer": "odata.maxpagesize=5"}).json()
    changed = second["value"][0]
    assert changed["number"] == target and changed["unitPrice"] == 4321.5
    assert changed["@odata.etag"] != expected_second[0]["@odata.etag"]
    assert [r["number"] for r in second["value"]] == [r["number"] for r in expected_second]


def test_a_skip_token_from_another_query_is_refused(bc):
    link = bc.get("items?$select=id", headers={"Prefer": "odata.maxpagesize=2"}).json()["@odata.nextLink"]
    token = link.split("$skiptoken=")[1]
    response = bc.get(f"customers?$skiptoken={token}")
    assert response.status_code == 400


def test_single_entity_with_etag(bc):
    item = item_by_number(bc, "1896-S")
    response = bc.get(f"items({item['id']})")
    assert response.status_code == 200
    body = response.json()
    assert body["displayName"] == "ATHENS Desk"
    assert body["@odata.etag"] == response.headers["etag"] == item["@odata.etag"]
    assert body["@odata.context"].endswith("/items/$entity")
    assert body["@odata.etag"].startswith('W/"')
    decoded = base64.b64decode(body["@odata.etag"][3:-1]).decode()
    assert decoded.startswith("'") and decoded.endswith(";00;'")


def test_demo_data_is_cronus_like(bc):
    cafe = item_by_number(bc, "2100-S")
    assert cafe["displayName"] == "Caf\u00e9 Tisch \u00d880 \u2013 Eiche"
    assert item_by_number(bc, "1980-S")["blocked"] is True
    assert item_by_number(bc, "8000-S")["type"] == "Service"
    customers = {c["number"]: c for c in bc.ok("GET", "customers")["value"]}
    assert customers["10000"]["displayName"] == "Adatum Corporation"
    assert {customers["60000"]["currencyCode"], customers["70000"]["currencyCode"]} == {"EUR", "GBP"}
    people = bc.ok("GET", "salespeoplePurchasers")["value"]
    assert any(p["email"] == "jr@cronus.example" for p in people)
    codes = {c["code"] for c in bc.ok("GET", "currencies")["value"]}
    assert {"EUR", "GBP", "CAD"} <= codes and "USD" not in codes
    units = {u["code"] for u in bc.ok("GET", "unitsOfMeasure")["value"]}
    assert {"PCS", "BOX", "HOUR", "DAY", "KG", "SET", "PACK"} <= units


def test_invoices_expand_lines_and_posted_ones_are_listed(bc):
    body = bc.ok("GET", "salesInvoices?$expand=salesInvoiceLines&$filter=status ne 'Draft'")
    invoices = body["value"]
    assert len(invoices) == 8
    assert all(i["number"].startswith("PS-INV") for i in invoices)
    for invoice in invoices:
        lines = invoice["salesInvoiceLines"]
        assert lines and all(line["documentId"] == invoice["id"] for line in lines)
        total = round(sum(line["netAmount"] for line in lines), 2)
        assert total == pytest.approx(invoice["totalAmountExcludingTax"])
    by_status = {i["status"] for i in invoices}
    assert {"Open", "Paid"} <= by_status
    partly = [i for i in invoices if 0 < i["remainingAmount"] < i["totalAmountIncludingTax"]]
    assert partly, "the demo company has a partly paid invoice"
    assert any(i["currencyCode"] == "EUR" for i in invoices)
    assert any(line["lineType"] == "Account" for i in invoices for line in i["salesInvoiceLines"])
    assert any(line["discountPercent"] > 0 for i in invoices for line in i["salesInvoiceLines"])
    drafts = bc.ok("GET", "salesInvoices?$filter=status eq 'Draft'")["value"]
    assert len(drafts) == 3


def test_flat_lines_need_a_document(bc):
    response = bc.get("salesInvoiceLines")
    assert response.status_code == 400
    assert "Document Id" in response.json()["error"]["message"]
    invoice = bc.ok("GET", "salesInvoices?$top=1")["value"][0]
    lines = bc.ok("GET", f"salesInvoiceLines?$filter=documentId eq {invoice['id']}")["value"]
    nested = bc.ok("GET", f"salesInvoices({invoice['id']})/salesInvoiceLines")["value"]
    assert lines == nested and lines


def test_customer_financial_details(bc):
    customer = bc.ok("GET", "customers?$filter=number eq '10000'&$expand=customerFinancialDetail")["value"][0]
    details = customer["customerFinancialDetail"]
    assert details["number"] == "10000"
    assert details["balance"] == customer["balanceDue"] > 0
    assert details["totalSalesExcludingTax"] > details["balance"] > 0  # one invoice is paid
    assert details["overdueAmount"] <= details["balance"]
    listed = bc.ok("GET", f"customerFinancialDetails({customer['id']})")
    assert listed["balance"] == details["balance"]
    refused = bc.call("POST", "customerFinancialDetails", json={"number": "1"})
    assert refused.status_code == 405
    assert error_of(refused)[0] == "BadRequest_MethodNotAllowed"


def test_bad_filter_is_400(bc):
    for query in ("items?$filter=number eqq '1'", "items?$filter=nosuchfield eq 1", "items?$select=nosuchfield"):
        response = bc.get(query)
        assert response.status_code == 400, query
        assert error_of(response)[0] == "BadRequest"


# -- writing ---------------------------------------------------------------------------------


def test_post_an_item_and_read_it_back(bc, fresh_sandbox):
    created = bc.call(
        "POST",
        "items",
        json={"number": "test-100", "displayName": "Test Desk", "baseUnitOfMeasureCode": "pcs", "unitPrice": 99.5},
    )
    assert created.status_code == 201, created.text
    item = created.json()
    assert item["number"] == "TEST-100"  # BC Code fields are upper case
    assert item["baseUnitOfMeasureCode"] == "PCS"
    assert item["baseUnitOfMeasureId"] == bc.ok("GET", "unitsOfMeasure?$filter=code eq 'PCS'")["value"][0]["id"]
    assert created.headers["location"].endswith(f"/items({item['id']})")
    again = bc.ok("GET", f"items({item['id']})")
    assert again == item
    modified = dt.datetime.fromisoformat(item["lastModifiedDateTime"].replace("Z", "+00:00"))
    assert abs(dt.datetime.now(dt.UTC) - modified) < dt.timedelta(minutes=5)
    numbered = bc.ok("POST", "items", 201, json={"displayName": "Numbered by the series"})
    assert numbered["number"] == "70001"


def test_patch_with_if_match_star_changes_modified_time_and_etag(bc, fresh_sandbox):
    item = item_by_number(bc, "1900-S")
    response = bc.call("PATCH", f"items({item['id']})", json={"unitPrice": 199.0}, headers={"If-Match": "*"})
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["unitPrice"] == 199.0
    assert updated["displayName"] == item["displayName"]
    assert updated["@odata.etag"] != item["@odata.etag"]
    assert updated["lastModifiedDateTime"] > item["lastModifiedDateTime"]
    again = bc.call(
        "PATCH", f"items({item['id']})", json={"unitPrice": 201.0}, headers={"If-Match": updated["@odata.etag"]}
    )
    assert again.status_code == 200


def test_patch_without_if_match_is_400(bc):
    item = item_by_number(bc, "1900-S")
    response = bc.call("PATCH", f"items({item['id']})", json={"unitPrice": 1.0})
    assert response.status_code == 400
    code, message = error_of(response)
    assert code == "BadRequest_InvalidToken"
    assert message.startswith("Could not validate the client concurrency token")


def test_a_decimal_reads_the_same_in_a_listing_and_on_its_own(bc, fresh_sandbox):
    item = item_by_number(bc, "1900-S")
    written = bc.ok("PATCH", f"items({item['id']})", json={"unitPrice": 0.1 + 0.2}, headers={"If-Match": "*"})
    assert written["unitPrice"] == 0.3  # kept to 15 significant digits
    single = bc.get(f"items({item['id']})")
    listed = bc.get("items", params={"$filter": "number eq '1900-S'"})
    assert b'"unitPrice":0.3,' in single.content and b'"unitPrice":0.3,' in listed.content
    assert listed.json()["value"][0]["@odata.etag"] == single.json()["@odata.etag"] == written["@odata.etag"]


def test_stale_etag_is_412(bc, fresh_sandbox):
    item = item_by_number(bc, "1908-S")
    bc.ok("PATCH", f"items({item['id']})", json={"unitCost": 150.0}, headers={"If-Match": item["@odata.etag"]})
    stale = bc.call(
        "PATCH", f"items({item['id']})", json={"unitCost": 151.0}, headers={"If-Match": item["@odata.etag"]}
    )
    assert stale.status_code == 412
    assert error_of(stale)[0] == "Request_EntityChanged"


def test_delete(bc, fresh_sandbox):
    item = bc.ok("POST", "items", 201, json={"number": "DEL-1", "displayName": "To delete"})
    assert bc.call("DELETE", f"items({item['id']})").status_code == 400  # If-Match is required
    assert bc.call("DELETE", f"items({item['id']})", headers={"If-Match": item["@odata.etag"]}).status_code == 204
    gone = bc.get(f"items({item['id']})")
    assert gone.status_code == 404
    assert error_of(gone)[0] == "Internal_RecordNotFound"
    used = item_by_number(bc, "1896-S")
    refused = bc.call("DELETE", f"items({used['id']})", headers={"If-Match": "*"})
    assert refused.status_code == 400
    assert error_of(refused)[0] == "Application_DialogException"


@pytest.mark.parametrize(
    ("body", "status", "code", "text"),
    [
        ({"number": "V-1", "type": "Furniture"}, 400, "Unknown", "'Furniture' is not an option"),
        (
            {"number": "V-2", "displayName": "x" * 101},
            400,
            "Application_StringExceededLength",
            "less than or equal to 100",
        ),
        ({"number": "V-3", "colour": "red"}, 400, "BadRequest", "The property 'colour' does not exist"),
        ({"number": "1896-S"}, 409, "Internal_EntityWithSameKeyExists", "No.='1896-S'"),
        ({"number": "V-5", "baseUnitOfMeasureCode": "CRATE"}, 400, "Internal_InvalidTableRelation", "(CRATE)"),
        ({"number": "V-6", "inventory": 5}, 400, "BadRequest", "read-only"),
        ({"number": "V-7", "id": str(uuid.uuid4())}, 400, "BadRequest", "read-only"),
        ({"number": "V-8", "unitPrice": "cheap"}, 400, "BadRequest", "Edm.Decimal"),
    ],
)
def test_validation_errors(bc, body, status, code, text):
    response = bc.call("POST", "items", json=body)
    assert response.status_code == status, response.text
    got_code, message = error_of(response)
    assert got_code == code
    assert text in message
    if status != 409:
        assert bc.ok("GET", f"items?$filter=number eq '{body['number']}'")["value"] == []


def test_unit_of_measure_must_exist_to_be_referenced_by_id(bc):
    response = bc.call("POST", "items", json={"number": "V-9", "baseUnitOfMeasureId": str(uuid.uuid4())})
    assert response.status_code == 400
    code, message = error_of(response)
    assert code == "Application_DialogException"
    assert message.startswith('The "baseUnitOfMeasureId" does not match to a Unit of Measure.')


# -- authentication ----------------------------------------------------------------------------


def test_no_token_is_401(bc):
    response = bc.get("items", token=None)
    assert response.status_code == 401
    assert error_of(response)[0] == "Authentication_InvalidCredentials"
    assert response.headers["www-authenticate"].startswith("Bearer ")


def test_token_for_another_audience_is_401(bc, token_for):
    response = bc.get("items", token=token_for(bc.config.dataverse_url))
    assert response.status_code == 401
    code, message = error_of(response)
    assert code == "Authentication_InvalidCredentials"
    assert "invalid_token" in response.headers["www-authenticate"]
    assert bc.token not in message


def test_expired_token_is_401(bc, fresh_sandbox, token_for):
    assert bc.get("items?$top=1").status_code == 200
    control(fresh_sandbox, "POST", "faults", json={"expire_tokens": True})
    expired = bc.get("items?$top=1")
    assert expired.status_code == 401
    assert "expired" in error_of(expired)[1]
    assert bc.get("items?$top=1", token=token_for(bc.config.bc_resource)).status_code == 200


# -- web services ------------------------------------------------------------------------------


def test_web_service_resources_read_and_write(bc, fresh_sandbox):
    resources = bc.ok("GET", "ws:Resources")["value"]
    assert {r["No"] for r in resources} >= {"LIFT", "KATHERINE", "MARTY", "TERRY", "LINDA"}
    assert all("@odata.etag" in r and r["SystemId"] and r["SystemModifiedAt"] for r in resources)
    lift = bc.ok("GET", "ws:Resources('LIFT')")
    assert lift["Base_Unit_of_Measure"] == "DAY" and lift["Type"] == "Machine"
    assert bc.call("PATCH", "ws:Resources('LIFT')", json={"Unit_Price": 250.0}).status_code == 400
    updated = bc.ok(
        "PATCH", "ws:Resources('LIFT')", json={"Unit_Price": 250.0}, headers={"If-Match": lift["@odata.etag"]}
    )
    assert updated["Unit_Price"] == 250.0
    assert updated["SystemModifiedAt"] > lift["SystemModifiedAt"]
    created = bc.call(
        "POST", "ws:Resources", json={"No": "ANNA", "Name": "Anna Kovacs", "Base_Unit_of_Measure": "HOUR"}
    )
    assert created.status_code == 201, created.text
    assert created.headers["location"].endswith("/Resources('ANNA')")
    capacity = bc.call("PATCH", "ws:Resources('ANNA')", json={"Capacity": 5}, headers={"If-Match": "*"})
    assert capacity.status_code == 400  # a FlowField
    by_id = bc.ok("GET", f"ws:Resources?$filter=SystemId eq {lift['SystemId']}")["value"]
    assert [r["No"] for r in by_id] == ["LIFT"]
    # Company(Id=...) and ?company= address the same company
    by_company_id = bc.ok(
        "GET", f"{bc.config.bc_api_root}/ODataV4/Company(Id={bc.config.company_id})/Resources('LIFT')"
    )
    assert by_company_id["Unit_Price"] == 250.0
    query_company = quote("'CRONUS International Ltd.'")
    assert bc.get(f"{bc.config.bc_api_root}/ODataV4/Resources?company={query_company}").status_code == 200
    wrong_case = bc.get(f"{bc.config.bc_api_root}/ODataV4/Company('cronus%20international%20ltd.')/Resources")
    assert wrong_case.status_code == 404


def test_web_service_price_groups_and_sales_prices(bc, fresh_sandbox):
    groups = {g["Code"]: g for g in bc.ok("GET", "ws:CustomerPriceGroups")["value"]}
    assert set(groups) == {"RETAIL", "WHOLESALE", "EXPORT-EUR"}
    bc.ok("POST", "ws:CustomerPriceGroups", 201, json={"Code": "VIP", "Description": "Very important customers"})
    export = bc.ok("GET", "ws:SalesPrices?$filter=Sales_Type eq 'Customer Price Group' and Sales_Code eq 'EXPORT-EUR'")
    assert export["value"] and {p["Currency_Code"] for p in export["value"]} == {"EUR"}
    group_prices = bc.ok("GET", "ws:SalesPrices?$filter=Sales_Type eq 'Customer Price Group'")["value"]
    all_prices = bc.ok("GET", "ws:SalesPrices")["value"]
    assert len(all_prices) > len(group_prices) >= 14
    new = {
        "Item_No": "1908-S",
        "Sales_Type": "Customer Price Group",
        "Sales_Code": "VIP",
        "Starting_Date": "2025-09-01",
        "Unit_of_Measure_Code": "PCS",
        "Unit_Price": 160.0,
    }
    created = bc.ok("POST", "ws:SalesPrices", 201, json=new)
    key = (
        "SalesPrices(Item_No='1908-S',Sales_Type='Customer%20Price%20Group',Sales_Code='VIP',"
        "Starting_Date=2025-09-01,Currency_Code='',Variant_Code='',Unit_of_Measure_Code='PCS',Minimum_Quantity=0)"
    )
    read = bc.ok("GET", f"ws:{key}")
    assert read["SystemId"] == created["SystemId"] and read["Unit_Price"] == 160.0
    changed = bc.ok("PATCH", f"ws:{key}", json={"Unit_Price": 155.5}, headers={"If-Match": read["@odata.etag"]})
    assert changed["Unit_Price"] == 155.5
    duplicate = bc.call("POST", "ws:SalesPrices", json=new)
    assert duplicate.status_code == 409
    unknown_group = bc.call("POST", "ws:SalesPrices", json={**new, "Sales_Code": "NOPE"})
    assert unknown_group.status_code == 400
    assert error_of(unknown_group)[0] == "Internal_InvalidTableRelation"


def test_item_card_exposes_fields_the_api_lacks(bc):
    card = bc.ok("GET", "ws:ItemCard('1896-S')")
    assert card["Vendor_No"] == "30000" and card["Vendor_Item_No"]
    assert card["Unit_Volume"] > 0 and card["Gross_Weight"] > 0
    api_item = item_by_number(bc, "1896-S")
    assert card["SystemId"] == api_item["id"]
    assert card["SystemModifiedAt"] == api_item["lastModifiedDateTime"]
    assert card["@odata.etag"] == api_item["@odata.etag"]  # one record, two shapes


# -- sales documents ---------------------------------------------------------------------------


def test_create_a_draft_invoice_and_post_it(bc, fresh_sandbox):
    invoice = bc.ok("POST", "salesInvoices", 201, json={"customerNumber": "20000", "externalDocumentNumber": "po-77"})
    assert invoice["status"] == "Draft"
    assert invoice["customerName"] == "Trey Research"
    assert invoice["number"].startswith("S-INV")
    lines = f"salesInvoices({invoice['id']})/salesInvoiceLines"
    first = bc.ok("POST", lines, 201, json={"lineObjectNumber": "1900-S", "quantity": 3, "discountPercent": 10})
    assert first["unitPrice"] == 192.8 and first["lineType"] == "Item"
    assert first["amountExcludingTax"] == round(3 * 192.8 - round(3 * 192.8 * 0.1, 2), 2)
    assert first["taxPercent"] == 25.0
    bc.ok("POST", lines, 201, json={"lineType": "Account", "lineObjectNumber": "6410", "quantity": 1, "unitPrice": 200})
    draft = bc.ok("GET", f"salesInvoices({invoice['id']})")
    assert draft["totalAmountExcludingTax"] == pytest.approx(first["amountExcludingTax"] + 200)
    assert draft["totalAmountIncludingTax"] == pytest.approx(draft["totalAmountExcludingTax"] + draft["totalTaxAmount"])
    assert bc.call("POST", f"salesInvoices({invoice['id']})/Microsoft.NAV.post").status_code == 204
    posted = bc.ok("GET", f"salesInvoices({invoice['id']})")
    assert posted["status"] == "Open"
    assert posted["number"] == "PS-INV103009"
    assert posted["remainingAmount"] == posted["totalAmountIncludingTax"] == draft["totalAmountIncludingTax"]
    listed = bc.ok("GET", "salesInvoices?$filter=status eq 'Open'&$select=id,number")["value"]
    assert invoice["id"] in {i["id"] for i in listed}
    frozen = bc.call(
        "PATCH", f"salesInvoices({invoice['id']})", json={"externalDocumentNumber": "X"}, headers={"If-Match": "*"}
    )
    assert frozen.status_code == 400
    assert error_of(frozen)[0] == "Application_DialogException"
    assert bc.call("POST", lines, json={"lineObjectNumber": "1900-S", "quantity": 1}).status_code == 400
    again = bc.call("POST", f"salesInvoices({invoice['id']})/Microsoft.NAV.post")
    assert again.status_code == 400
    customer = bc.ok("GET", "customers?$filter=number eq '20000'&$expand=customerFinancialDetail")["value"][0]
    assert customer["customerFinancialDetail"]["balance"] >= posted["remainingAmount"]


def test_invoice_discount_is_spread_over_the_lines(bc, fresh_sandbox):
    invoice = bc.ok("POST", "salesInvoices", 201, json={"customerNumber": "10000"})
    lines = f"salesInvoices({invoice['id']})/salesInvoiceLines"
    bc.ok("POST", lines, 201, json={"lineObjectNumber": "1896-S", "quantity": 1})
    bc.ok("POST", lines, 201, json={"lineObjectNumber": "1928-S", "quantity": 4})
    bc.ok("PATCH", f"salesInvoices({invoice['id']})", json={"discountAmount": 100}, headers={"If-Match": "*"})
    header = bc.ok("GET", f"salesInvoices({invoice['id']})?$expand=salesInvoiceLines")
    allocation = sum(line["invoiceDiscountAllocation"] for line in header["salesInvoiceLines"])
    assert allocation == pytest.approx(100)
    gross = sum(line["amountExcludingTax"] for line in header["salesInvoiceLines"])
    assert header["totalAmountExcludingTax"] == pytest.approx(gross - 100)


def test_deep_insert_of_an_order_with_lines(bc, fresh_sandbox):
    body = {
        "customerNumber": "30000",
        "salesOrderLines": [
            {"lineObjectNumber": "1896-S", "quantity": 2},
            {"lineType": "Item", "lineObjectNumber": "1906-S", "quantity": 1, "discountAmount": 20},
        ],
    }
    order = bc.ok("POST", "salesOrders?$expand=salesOrderLines", 201, json=body)
    assert [line["lineObjectNumber"] for line in order["salesOrderLines"]] == ["1896-S", "1906-S"]
    assert order["totalAmountExcludingTax"] == pytest.approx(2 * 1000.8 + 281.4 - 20)
    assert order["salesOrderLines"][0]["shipQuantity"] == 2
    bad = dict(body, salesOrderLines=[{"lineObjectNumber": "NO-SUCH-ITEM", "quantity": 1}])
    assert bc.call("POST", "salesOrders", json=bad).status_code == 404
    assert len(bc.ok("GET", "salesOrders?$filter=customerNumber eq '30000'")["value"]) == 2  # the seeded one + ours


def test_posting_an_empty_invoice_is_refused(bc, fresh_sandbox):
    invoice = bc.ok("POST", "salesInvoices", 201, json={"customerNumber": "40000"})
    response = bc.call("POST", f"salesInvoices({invoice['id']})/Microsoft.NAV.post")
    assert response.status_code == 400
    assert "There is nothing to post" in error_of(response)[1]


def test_orders_and_quotes(bc):
    orders = bc.ok("GET", "salesOrders?$expand=salesOrderLines")["value"]
    assert len(orders) == 3
    assert {o["status"] for o in orders} == {"Open", "Draft"}
    assert any(line["shippedQuantity"] > 0 for o in orders for line in o["salesOrderLines"])
    quotes = bc.ok("GET", "salesQuotes")["value"]
    assert len(quotes) == 2 and {q["status"] for q in quotes} == {"Draft", "Sent"}


# -- $batch ------------------------------------------------------------------------------------


def test_json_batch_with_three_operations(bc, fresh_sandbox):
    item = item_by_number(bc, "1960-S")
    company = f"companies({bc.config.company_id})"
    body = {
        "requests": [
            {"id": "read", "method": "GET", "url": f"{company}/items({item['id']})?$select=number"},
            {
                "id": "change",
                "method": "PATCH",
                "url": f"{company}/items({item['id']})",
                "headers": {"If-Match": "*", "Content-Type": "application/json"},
                "body": {"displayName": "ROME Guest Chair, dark green"},
            },
            {
                "id": "create",
                "method": "POST",
                "url": "items",
                "headers": {"Company": "CRONUS International Ltd.", "Content-Type": "application/json"},
                "body": {"number": "BATCH-1", "displayName": "Made in a batch"},
            },
        ]
    }
    response = bc.call("POST", "api:$batch", json=body)
    assert response.status_code == 200, response.text
    results = {r["id"]: r for r in response.json()["responses"]}
    assert [results[k]["status"] for k in ("read", "change", "create")] == [200, 200, 201]
    assert results["read"]["body"]["number"] == "1960-S"
    assert item_by_number(bc, "1960-S")["displayName"] == "ROME Guest Chair, dark green"
    assert item_by_number(bc, "BATCH-1")["displayName"] == "Made in a batch"


def test_isolated_batch_is_all_or_nothing(bc, fresh_sandbox):
    item = item_by_number(bc, "1964-S")
    company = f"companies({bc.config.company_id})"
    body = {
        "requests": [
            {
                "id": "1",
                "method": "PATCH",
                "url": f"{company}/items({item['id']})",
                "headers": {"If-Match": "*"},
                "body": {"displayName": "Renamed"},
            },
            {"id": "2", "method": "POST", "url": f"{company}/items", "body": {"number": "ISO-1"}},
            {
                "id": "3",
                "method": "PATCH",
                "url": f"{company}/items({item['id']})",
                "headers": {"If-Match": "*"},
                "body": {"type": "Invalid Type"},
            },
        ]
    }
    response = bc.call("POST", "api:$batch", json=body, headers={"Isolation": "snapshot"})
    assert response.status_code == 200
    statuses = [r["status"] for r in response.json()["responses"]]
    assert statuses == [200, 201, 400]
    assert response.json()["responses"][2]["body"]["error"]["code"] == "Unknown"
    assert item_by_number(bc, "1964-S")["displayName"] == item["displayName"]
    assert bc.ok("GET", "items?$filter=number eq 'ISO-1'")["value"] == []
    # the same batch without isolation keeps what succeeded
    response = bc.call("POST", "api:$batch", json=body)
    assert [r["status"] for r in response.json()["responses"]] == [200, 201, 400]
    assert item_by_number(bc, "1964-S")["displayName"] == "Renamed"


def test_batch_of_more_than_100_operations_is_400(bc):
    body = {"requests": [{"id": str(n), "method": "GET", "url": "companies"} for n in range(101)]}
    response = bc.call("POST", "api:$batch", json=body)
    assert response.status_code == 400
    assert "maximum is 100" in error_of(response)[1]


# -- the control surface -----------------------------------------------------------------------


def test_fault_injection_429_then_normal(bc, fresh_sandbox):
    control(fresh_sandbox, "POST", "faults", json={"status": 429, "count": 1, "retry_after": 1})
    throttled = bc.get("items?$top=1")
    assert throttled.status_code == 429
    assert throttled.headers["retry-after"] == "1"
    assert error_of(throttled)[0] == "Application_TooManyRequests"
    assert bc.get("items?$top=1").status_code == 200


def test_stats_count_requests_by_method_entity_and_batch_operation(bc, fresh_sandbox):
    control(fresh_sandbox, "DELETE", "stats")
    bc.ok("GET", "items?$top=1")
    bc.ok("GET", "items?$top=2")
    bc.ok("GET", "ws:Resources")
    body = {
        "requests": [
            {"method": "GET", "url": "companies"},
            {"method": "GET", "url": "items", "headers": {"Company": "CRONUS International Ltd."}},
        ]
    }
    bc.ok("POST", "api:$batch", json=body)
    stats = control(fresh_sandbox, "GET", "stats").json()
    assert stats["emulator"] == "business_central"
    assert stats["by_entity"]["items"] == {"GET": 2}
    assert stats["by_entity"]["Resources"] == {"GET": 1}
    assert stats["by_entity"]["$batch"] == {"POST": 1}
    assert stats["by_method"] == {"GET": 3, "POST": 1}
    assert stats["batch_operations"] == {"companies": {"GET": 1}, "items": {"GET": 1}}


def test_reset_restores_the_seed(bc, fresh_sandbox):
    item = item_by_number(bc, "1972-S")
    bc.ok("PATCH", f"items({item['id']})", json={"displayName": "Changed"}, headers={"If-Match": "*"})
    bc.ok("POST", "items", 201, json={"number": "EXTRA-1"})
    control(fresh_sandbox, "POST", "reset")
    restored = item_by_number(bc, "1972-S")
    assert restored["displayName"] == item["displayName"]
    assert restored["lastModifiedDateTime"] == item["lastModifiedDateTime"]  # the seed's fixed timestamps
    assert bc.ok("GET", "items?$filter=number eq 'EXTRA-1'")["value"] == []


# -- generated data ----------------------------------------------------------------------------


def test_generated_items_page_exactly(tmp_path):
    config = free_port_config(tmp_path / "generated")
    with SandboxThread(config, seed="empty", generate={"items": 20000}) as running:
        token = running.sandbox.authority.issue(config.bc_resource, config.client_id, config.integration_user_id)[0]
        client = BC(config, str(config.ca_file), token)
        rows, pages = client.all_pages("items?$select=id,number", page_size=5000)
        assert pages == 4
        assert len(rows) == 20000
        assert len({r["id"] for r in rows}) == len({r["number"] for r in rows}) == 20000
        assert client.ok("GET", "customers")["value"] == []
        assert client.ok("GET", "unitsOfMeasure?$filter=code eq 'PCS'")["value"]


def test_customer_payments_close_invoices(bc, fresh_sandbox):
    journal = bc.ok("GET", "customerPaymentJournals?$filter=code eq 'GENERAL'")["value"][0]
    payments = f"customerPaymentJournals({journal['id']})/customerPayments"
    invoice = bc.ok("GET", "salesInvoices?$filter=number eq 'PS-INV103008'")["value"][0]
    open_amount = invoice["remainingAmount"]
    balance = bc.ok("GET", f"customerFinancialDetails({invoice['customerId']})")["balance"]
    line = bc.ok(
        "POST",
        payments,
        201,
        json={"customerNumber": "10000", "amount": -1000, "appliesToInvoiceNumber": "PS-INV103008"},
    )
    assert line["appliesToInvoiceId"] == invoice["id"] and line["documentNumber"]
    assert bc.call("POST", f"customerPaymentJournals({journal['id']})/Microsoft.NAV.post").status_code == 204
    partly = bc.ok("GET", f"salesInvoices({invoice['id']})")
    assert partly["remainingAmount"] == pytest.approx(open_amount - 1000)
    assert partly["status"] == "Open"
    assert partly["lastModifiedDateTime"] > invoice["lastModifiedDateTime"]
    assert bc.ok("GET", f"customerFinancialDetails({invoice['customerId']})")["balance"] == pytest.approx(
        balance - 1000
    )
    assert bc.ok("GET", payments)["value"] == []  # posted lines leave the journal
    # without an invoice to apply to, the payment closes the customer's oldest open invoices
    bc.ok("POST", payments, 201, json={"customerNumber": "10000", "amount": -partly["remainingAmount"]})
    bc.ok("POST", f"customerPaymentJournals({journal['id']})/Microsoft.NAV.post", 204)
    assert bc.ok("GET", f"salesInvoices({invoice['id']})")["status"] == "Paid"
    too_much = bc.ok("POST", payments, 201, json={"customerNumber": "20000", "amount": -10_000_000})
    refused = bc.call("POST", f"customerPaymentJournals({journal['id']})/Microsoft.NAV.post")
    assert refused.status_code == 400
    assert error_of(refused)[0] == "Application_DialogException"
    assert bc.ok("GET", f"customerPayments({too_much['id']})")["amount"] == -10_000_000  # nothing was posted


def test_changing_and_deleting_lines_updates_the_totals(bc, fresh_sandbox):
    draft = bc.ok("GET", "salesInvoices?$filter=number eq 'S-INV102201'&$expand=salesInvoiceLines")["value"][0]
    first, second = draft["salesInvoiceLines"]
    changed = bc.ok(
        "PATCH",
        f"salesInvoices({draft['id']})/salesInvoiceLines({first['id']})",
        json={"quantity": first["quantity"] + 1},
        headers={"If-Match": first["@odata.etag"]},
    )
    assert changed["amountExcludingTax"] == pytest.approx(first["amountExcludingTax"] + first["unitPrice"])
    header = bc.ok("GET", f"salesInvoices({draft['id']})")
    assert header["totalAmountExcludingTax"] == pytest.approx(draft["totalAmountExcludingTax"] + first["unitPrice"])
    assert header["lastModifiedDateTime"] > draft["lastModifiedDateTime"]
    deleted = bc.call("DELETE", f"salesInvoiceLines({second['id']})", headers={"If-Match": "*"})
    assert deleted.status_code == 204
    header = bc.ok("GET", f"salesInvoices({draft['id']})")
    assert header["totalAmountExcludingTax"] == pytest.approx(changed["amountExcludingTax"])


def test_quote_to_order_to_posted_invoice(bc, fresh_sandbox):
    quote = bc.ok("GET", "salesQuotes?$filter=number eq 'S-QUO1001'")["value"][0]
    assert bc.call("POST", f"salesQuotes({quote['id']})/Microsoft.NAV.makeOrder").status_code == 204
    assert bc.get(f"salesQuotes({quote['id']})").status_code == 404
    order = bc.ok("GET", f"salesOrders?$filter=customerNumber eq '{quote['customerNumber']}'")["value"][0]
    assert order["totalAmountIncludingTax"] == pytest.approx(quote["totalAmountIncludingTax"])
    assert bc.call("POST", f"salesOrders({order['id']})/Microsoft.NAV.shipAndInvoice").status_code == 204
    assert bc.get(f"salesOrders({order['id']})").status_code == 404
    invoice = bc.ok("GET", f"salesInvoices?$filter=orderNumber eq '{order['number']}'")["value"][0]
    assert invoice["status"] == "Open" and invoice["number"].startswith("PS-INV")
    assert invoice["orderId"] == order["id"]
    assert invoice["remainingAmount"] == pytest.approx(order["totalAmountIncludingTax"])


def test_exchange_rates_from_the_web_service_price_new_documents(bc, fresh_sandbox):
    demo = bc.ok("GET", "currencyExchangeRates?$filter=currencyCode eq 'EUR'")["value"]
    assert [(r["startingDate"], r["exchangeRateAmount"], r["relationalExchangeRateAmount"]) for r in demo] == [
        ("2025-01-01", 1.0, 1.0869)  # the demo company's rate: 1 EUR = 1.0869 USD
    ]
    rate = {
        "Currency_Code": "EUR",
        "Starting_Date": "2025-03-01",
        "Exchange_Rate_Amount": 100,
        "Relational_Exch_Rate_Amount": 120,
    }
    bc.ok("POST", "ws:CurrencyExchangeRates", 201, json=rate)
    listed = bc.ok("GET", "currencyExchangeRates?$filter=currencyCode eq 'EUR'&$orderby=startingDate")["value"]
    assert [(r["startingDate"], r["exchangeRateAmount"], r["relationalExchangeRateAmount"]) for r in listed] == [
        ("2025-01-01", 1.0, 1.0869),
        ("2025-03-01", 100.0, 120.0),
    ]
    assert bc.call("POST", "currencyExchangeRates", json={"currencyCode": "EUR"}).status_code == 405
    invoice = bc.ok(
        "POST",
        "salesInvoices?$expand=salesInvoiceLines",
        201,
        json={"customerNumber": "60000", "salesInvoiceLines": [{"lineObjectNumber": "1896-S", "quantity": 1}]},
    )
    assert invoice["currencyCode"] == "EUR"
    assert invoice["salesInvoiceLines"][0]["unitPrice"] == round(1000.8 * 100 / 120, 2)
    unknown = bc.call("POST", "ws:CurrencyExchangeRates", json={**rate, "Currency_Code": "XYZ"})
    assert unknown.status_code == 400
