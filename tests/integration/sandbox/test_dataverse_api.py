"""Conformance of the Dataverse emulator with the Web API v9.2, over HTTPS with plain ``requests``."""

from __future__ import annotations

import json
import time
import uuid
import xml.etree.ElementTree as ET
from urllib.parse import unquote

import pytest
import requests

from include.sandbox.dataverse.seed import SALES_USERS, USD_ID, seed_id

JSON_HEADERS = {"Accept": "application/json", "OData-MaxVersion": "4.0", "OData-Version": "4.0"}


class Dataverse:
    """A thin client: absolute API URLs, the bearer token and the sandbox CA on every call."""

    def __init__(self, sandbox, token: str, ca_bundle: str):
        self.config = sandbox.config
        self.api = f"{sandbox.config.dataverse_url}/api/data/v9.2"
        self.token = token
        self.ca = ca_bundle

    def request(self, method: str, path: str, *, headers: dict | None = None, **kwargs) -> requests.Response:
        url = path if path.startswith("https://") else f"{self.api}/{path}"
        merged = {**JSON_HEADERS, "Authorization": f"Bearer {self.token}", **(headers or {})}
        return requests.request(method, url, headers=merged, verify=self.ca, timeout=60, **kwargs)

    def get(self, path: str, **kw) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, body=None, **kw) -> requests.Response:
        return self.request("POST", path, json=body, **kw)

    def patch(self, path: str, body, **kw) -> requests.Response:
        return self.request("PATCH", path, json=body, **kw)

    def delete(self, path: str, **kw) -> requests.Response:
        return self.request("DELETE", path, **kw)

    def create(self, entity_set: str, body: dict) -> str:
        response = self.post(entity_set, body)
        assert response.status_code == 204, response.text
        return response.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")

    def control(self, action: str, body=None) -> requests.Response:
        url = f"{self.config.dataverse_url}/_sandbox/{action}"
        if body is None and action == "stats":
            return requests.get(url, verify=self.ca, timeout=30)
        return requests.post(url, json=body, verify=self.ca, timeout=60)


@pytest.fixture
def dv(fresh_sandbox, token_for, ca_bundle) -> Dataverse:
    return Dataverse(fresh_sandbox, token_for(fresh_sandbox.config.dataverse_url), ca_bundle)


@pytest.fixture
def ro(sandbox, token_for, ca_bundle) -> Dataverse:
    """For tests that only read the seed."""
    return Dataverse(sandbox, token_for(sandbox.config.dataverse_url), ca_bundle)


def error_of(response: requests.Response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    return body["error"]


def unit_group(dv: Dataverse, code: str) -> tuple[str, str]:
    """Create 'NAV <code>' with its base unit; returns (uomscheduleid, uomid)."""
    schedule = dv.create("uomschedules", {"name": f"NAV {code}", "baseuomname": code})
    units = dv.get(f"uoms?$filter=_uomscheduleid_value eq {schedule}").json()["value"]
    return schedule, units[0]["uomid"]


def product_body(number: str, schedule: str, unit: str, **extra) -> dict:
    return {
        "productnumber": number,
        "name": f"Item {number}",
        "defaultuomscheduleid@odata.bind": f"/uomschedules({schedule})",
        "defaultuomid@odata.bind": f"/uoms({unit})",
        **extra,
    }


def multipart(parts: list[str], boundary: str = "batch_test") -> bytes:
    return ("".join(f"--{boundary}\r\n{p}" for p in parts) + f"--{boundary}--\r\n").encode()


def http_part(method: str, url: str, body: dict | None = None, content_id: int | None = None) -> str:
    head = "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
    if content_id is not None:
        head += f"Content-ID: {content_id}\r\n"
    request = f"{method} {url} HTTP/1.1\r\n"
    if body is not None:
        request += f"Content-Type: application/json; type=entry\r\n\r\n{json.dumps(body)}\r\n"
    else:
        request += "\r\n"
    return f"{head}\r\n{request}"


def changeset(parts: list[str], boundary: str = "changeset_test") -> str:
    inner = "".join(f"--{boundary}\r\n{p}" for p in parts) + f"--{boundary}--\r\n"
    return f"Content-Type: multipart/mixed; boundary={boundary}\r\n\r\n{inner}"


def batch_statuses(response: requests.Response) -> list[int]:
    return [int(line.split()[1]) for line in response.text.splitlines() if line.startswith("HTTP/1.1 ")]


def send_batch(dv: Dataverse, parts: list[str], *, continue_on_error: bool = False) -> requests.Response:
    headers = {"Content-Type": "multipart/mixed; boundary=batch_test"}
    if continue_on_error:
        headers["Prefer"] = "odata.continue-on-error"
    return dv.request("POST", "$batch", headers=headers, data=multipart(parts))


# -- create / read / update / delete -------------------------------------------------------------


def test_create_returns_204_with_entity_id_and_201_with_representation(dv):
    response = dv.post("accounts", {"name": "Fabrikam", "accountnumber": "F-1"})
    assert response.status_code == 204
    assert response.content == b""
    entity_url = response.headers["OData-EntityId"]
    assert entity_url.startswith(f"{dv.api}/accounts(")
    account_id = entity_url.rsplit("(", 1)[1].rstrip(")")
    uuid.UUID(account_id)

    response = dv.post(
        "accounts?$select=name,accountnumber",
        {"name": "Contoso", "accountnumber": "C-1"},
        headers={"Prefer": "return=representation"},
    )
    assert response.status_code == 201
    assert response.headers["Preference-Applied"] == "return=representation"
    body = response.json()
    assert body["name"] == "Contoso" and body["accountnumber"] == "C-1"
    assert set(body) == {"@odata.context", "@odata.etag", "accountid", "name", "accountnumber"}
    assert body["@odata.etag"].startswith('W/"')


def test_client_supplied_primary_key_and_get_by_id(dv):
    account_id = str(uuid.uuid4())
    response = dv.post("accounts", {"accountid": account_id, "name": "Chosen Id"})
    assert response.status_code == 204
    assert response.headers["OData-EntityId"].endswith(f"accounts({account_id})")

    body = dv.get(f"accounts({account_id})").json()
    assert body["accountid"] == account_id
    assert body["name"] == "Chosen Id"
    assert body["@odata.context"].endswith("$metadata#accounts/$entity")
    assert body["@odata.etag"] == f'W/"{body["versionnumber"]}"'
    assert body["statecode"] == 0 and body["statuscode"] == 1
    # Every row records who created and changed it, and when (whole seconds).
    assert body["_createdby_value"] == dv.config.integration_user_id
    assert body["_modifiedby_value"] == dv.config.integration_user_id
    assert body["_ownerid_value"] == dv.config.integration_user_id
    assert body["_transactioncurrencyid_value"] == USD_ID
    assert body["createdon"].endswith("Z") and len(body["createdon"]) == 20


def test_caller_object_id_impersonates_a_user(dv):
    helen = seed_id("systemuser", "HR")
    response = dv.post(
        "accounts?$select=_createdby_value,_ownerid_value",
        {"name": "Made for Helen"},
        headers={"CallerObjectId": seed_id("entra-user", "HR"), "Prefer": "return=representation"},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["_createdby_value"] == body["_ownerid_value"] == helen
    unknown = dv.get("WhoAmI", headers={"CallerObjectId": str(uuid.uuid4())})
    assert unknown.status_code == 404


def test_update_changes_columns_and_version(dv):
    account_id = dv.create("accounts", {"name": "Before", "telephone1": "1"})
    before = dv.get(f"accounts({account_id})").json()
    response = dv.patch(f"accounts({account_id})", {"name": "After"})
    assert response.status_code == 204
    assert response.headers["OData-EntityId"].endswith(f"accounts({account_id})")
    after = dv.get(f"accounts({account_id})").json()
    assert after["name"] == "After" and after["telephone1"] == "1"
    assert after["versionnumber"] > before["versionnumber"]

    response = dv.patch(f"accounts({account_id})", {"telephone1": "2"}, headers={"Prefer": "return=representation"})
    assert response.status_code == 200
    assert response.json()["telephone1"] == "2"


def test_upsert_creates_then_updates_without_duplicate(dv):
    account_id = str(uuid.uuid4())
    first = dv.patch(f"accounts({account_id})", {"name": "Upserted", "accountnumber": "UP-1"})
    assert first.status_code == 204
    second = dv.patch(f"accounts({account_id})", {"name": "Upserted again"})
    assert second.status_code == 204
    rows = dv.get("accounts?$filter=accountnumber eq 'UP-1'&$select=name").json()["value"]
    assert rows == [{"@odata.etag": rows[0]["@odata.etag"], "accountid": account_id, "name": "Upserted again"}]


def test_if_match_and_if_none_match(dv):
    missing = str(uuid.uuid4())
    response = dv.patch(f"accounts({missing})", {"name": "x"}, headers={"If-Match": "*"})
    assert response.status_code == 404
    assert error_of(response)["code"] == "0x80040217"
    assert dv.get(f"accounts({missing})").status_code == 404

    created = dv.patch(f"accounts({missing})", {"name": "created"}, headers={"If-None-Match": "*"})
    assert created.status_code == 204
    again = dv.patch(f"accounts({missing})", {"name": "again"}, headers={"If-None-Match": "*"})
    assert again.status_code == 412
    assert error_of(again) == {
        "code": "0x80040237",
        "message": "A record with matching key values already exists.",
    }

    etag = dv.get(f"accounts({missing})").json()["@odata.etag"]
    assert dv.patch(f"accounts({missing})", {"name": "v2"}, headers={"If-Match": etag}).status_code == 204
    stale = dv.patch(f"accounts({missing})", {"name": "v3"}, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert error_of(stale)["code"] == "0x80060882"
    assert dv.delete(f"accounts({missing})", headers={"If-Match": etag}).status_code == 412

    current = dv.get(f"accounts({missing})")
    assert current.headers["ETag"] == current.json()["@odata.etag"]
    not_modified = dv.get(f"accounts({missing})", headers={"If-None-Match": current.headers["ETag"]})
    assert not_modified.status_code == 304


def test_delete_then_not_found(dv):
    account_id = dv.create("accounts", {"name": "Short lived"})
    assert dv.delete(f"accounts({account_id})").status_code == 204
    response = dv.delete(f"accounts({account_id})")
    assert response.status_code == 404
    assert error_of(response) == {"code": "0x80040217", "message": f"account With Id = {account_id} Does Not Exist"}


def test_single_property_put_and_delete(dv):
    account_id = dv.create("accounts", {"name": "Props", "telephone1": "555"})
    assert dv.request("PUT", f"accounts({account_id})/name", json={"value": "Renamed"}).status_code == 204
    assert dv.get(f"accounts({account_id})/name").json()["value"] == "Renamed"
    assert dv.get(f"accounts({account_id})/name/$value").text == "Renamed"
    assert dv.delete(f"accounts({account_id})/telephone1").status_code == 204
    assert dv.get(f"accounts({account_id})").json()["telephone1"] is None


# -- alternate keys and lookups --------------------------------------------------------------------


def test_alternate_key_urls(dv):
    response = dv.get("transactioncurrencies(isocurrencycode='USD')")
    assert response.status_code == 200
    assert response.json()["transactioncurrencyid"] == USD_ID

    eur = dv.patch(
        "transactioncurrencies(isocurrencycode='EUR')",
        {"currencyname": "Euro", "currencysymbol": "€", "exchangerate": 0.92},
    )
    assert eur.status_code == 204
    eur_id = eur.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
    assert dv.patch("transactioncurrencies(isocurrencycode='EUR')", {"exchangerate": 0.9}).status_code == 204
    rows = dv.get("transactioncurrencies?$filter=isocurrencycode eq 'EUR'").json()["value"]
    assert [(r["transactioncurrencyid"], r["exchangerate"]) for r in rows] == [(eur_id, 0.9)]

    schedule, unit = unit_group(dv, "PCS")
    dv.create("products", product_body("A/B 'x'", schedule, unit))
    found = dv.get("products(productnumber='A/B ''x''')")
    assert found.status_code == 200 and found.json()["productnumber"] == "A/B 'x'"
    assert dv.get("transactioncurrencies(isocurrencycode='usd')").json()["transactioncurrencyid"] == USD_ID
    assert len(dv.get("accounts?$filter=name eq 'adatum corporation'").json()["value"]) == 1
    missing = dv.get("products(productnumber='nope')")
    assert missing.status_code == 404 and error_of(missing)["code"] == "0x80040217"
    not_a_key = dv.get("accounts(name='Adatum Corporation')")
    assert not_a_key.status_code == 400


def test_bind_reads_back_as_value_and_filters(dv):
    owner = seed_id("systemuser", "PS")
    account_id = dv.create(
        "accounts",
        {
            "name": "Bound",
            "transactioncurrencyid@odata.bind": f"/transactioncurrencies({USD_ID})",
            "ownerid@odata.bind": f"{dv.api}/systemusers({owner})",
        },
    )
    contact_id = dv.create(
        "contacts",
        {"firstname": "Ann", "lastname": "Lee", "parentcustomerid_account@odata.bind": f"accounts({account_id})"},
    )
    account = dv.get(f"accounts({account_id})").json()
    assert account["_ownerid_value"] == owner
    contact = dv.get(f"contacts({contact_id})").json()
    assert contact["_parentcustomerid_value"] == account_id
    assert contact["fullname"] == "Ann Lee"

    rows = dv.get(f"contacts?$filter=_parentcustomerid_value eq {account_id.upper()}&$select=fullname").json()
    assert [r["contactid"] for r in rows["value"]] == [contact_id]

    # An alternate-key reference in a bind.
    invoice_id = dv.create(
        "invoices",
        {"name": "By key", "customerid_account@odata.bind": "/accounts(" + account_id + ")"},
    )
    invoice = dv.get(f"invoices({invoice_id})?$select=_customerid_value,_accountid_value,invoicenumber").json()
    assert invoice["_customerid_value"] == account_id == invoice["_accountid_value"]
    assert invoice["invoicenumber"].startswith("INV-")
    product_currency = dv.post(
        "pricelevels",
        {"name": "By ISO code", "transactioncurrencyid@odata.bind": "/transactioncurrencies(isocurrencycode='USD')"},
    )
    assert product_currency.status_code == 204

    # Clearing a lookup with a null bind.
    assert dv.patch(f"contacts({contact_id})", {"parentcustomerid_account@odata.bind": None}).status_code == 204
    assert dv.get(f"contacts({contact_id})").json()["_parentcustomerid_value"] is None


def test_lookup_errors(dv):
    wrong_case = dv.post(
        "accounts", {"name": "x", "TransactionCurrencyId@odata.bind": f"/transactioncurrencies({USD_ID})"}
    )
    assert wrong_case.status_code == 400
    assert "undeclared property 'TransactionCurrencyId'" in error_of(wrong_case)["message"]

    direct = dv.post("accounts", {"name": "x", "_transactioncurrencyid_value": USD_ID})
    assert direct.status_code == 400
    assert "Use Navigation properties" in error_of(direct)["message"]

    missing = str(uuid.uuid4())
    absent = dv.post("accounts", {"name": "x", "primarycontactid@odata.bind": f"/contacts({missing})"})
    assert absent.status_code == 404
    assert error_of(absent) == {"code": "0x80040217", "message": f"contact With Id = {missing} Does Not Exist"}

    wrong_target = dv.post(
        "accounts", {"name": "x", "primarycontactid@odata.bind": f"/transactioncurrencies({USD_ID})"}
    )
    assert wrong_target.status_code == 400


def test_expand_and_formatted_values(ro):
    response = ro.get(
        "accounts?$select=name,customertypecode,_ownerid_value&$filter=accountnumber eq '10000'"
        "&$expand=ownerid($select=fullname,internalemailaddress)",
        headers={"Prefer": 'odata.include-annotations="*"'},
    )
    assert response.status_code == 200
    (row,) = response.json()["value"]
    assert row["ownerid"]["fullname"] == "John Roberts"
    assert row["customertypecode@OData.Community.Display.V1.FormattedValue"] == "Customer"
    assert row["_ownerid_value@OData.Community.Display.V1.FormattedValue"] == "John Roberts"
    assert row["_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "systemuser"


# -- platform rules --------------------------------------------------------------------------------


def test_unit_group_creates_its_base_unit(dv):
    schedule = dv.create("uomschedules", {"name": "NAV BOX", "baseuomname": "BOX"})
    units = dv.get(f"uoms?$filter=_uomscheduleid_value eq {schedule}").json()["value"]
    assert len(units) == 1
    (unit,) = units
    assert unit["name"] == "BOX" and unit["quantity"] == 1.0 and unit["isschedulebaseuom"] is True
    assert unit["_baseuom_value"] == unit["uomid"]

    renamed = dv.patch(f"uomschedules({schedule})", {"baseuomname": "CARTON"})
    assert renamed.status_code == 400
    assert dv.delete(f"uoms({unit['uomid']})").status_code == 400

    duplicate_name = dv.post("uoms", {"name": "BOX", "uomscheduleid@odata.bind": f"/uomschedules({schedule})"})
    assert duplicate_name.status_code == 412

    assert dv.delete(f"uomschedules({schedule})").status_code == 204
    assert dv.get(f"uoms({unit['uomid']})").status_code == 404


def test_new_product_is_draft_until_activated(dv):
    schedule, unit = unit_group(dv, "PCS")
    product_id = dv.create("products", product_body("1000", schedule, unit, price=12.5))
    product = dv.get(f"products({product_id})").json()
    assert (product["statecode"], product["statuscode"]) == (2, 0)
    assert product["producttypecode"] == 1

    assert dv.patch(f"products({product_id})", {"statecode": 0, "statuscode": 1}).status_code == 204
    product = dv.get(f"products({product_id})").json()
    assert (product["statecode"], product["statuscode"]) == (0, 1)

    bad_pair = dv.patch(f"products({product_id})", {"statecode": 0, "statuscode": 2})
    assert bad_pair.status_code == 400

    active = dv.create("products", product_body("1001", schedule, unit, statecode=0))
    assert dv.get(f"products({active})").json()["statuscode"] == 1


def test_product_unit_must_belong_to_its_group(dv):
    _, unit = unit_group(dv, "PCS")
    other_schedule, _ = unit_group(dv, "BOX")
    response = dv.post("products", product_body("2000", other_schedule, unit))
    assert response.status_code == 400
    assert "doesn't belong" in error_of(response)["message"]


def test_price_list_item_inherits_currency_and_is_unique(dv):
    schedule, unit = unit_group(dv, "PCS")
    product_id = dv.create("products", product_body("1000", schedule, unit))
    no_currency = dv.create("pricelevels", {"name": "No currency"})
    price_list = dv.create(
        "pricelevels",
        {"name": "Price List in USD", "transactioncurrencyid@odata.bind": f"/transactioncurrencies({USD_ID})"},
    )
    item = {
        "pricelevelid@odata.bind": f"/pricelevels({price_list})",
        "productid@odata.bind": f"/products({product_id})",
        "uomid@odata.bind": f"/uoms({unit})",
        "amount": 99.5,
        "pricingmethodcode": 1,
    }
    item_id = dv.create("productpricelevels", item)
    row = dv.get(f"productpricelevels({item_id})").json()
    assert row["_transactioncurrencyid_value"] == USD_ID
    assert row["_uomscheduleid_value"] == schedule
    assert row["productnumber"] == "1000"

    duplicate = dv.post("productpricelevels", item)
    assert duplicate.status_code == 412 and error_of(duplicate)["code"] == "0x80040237"

    with_currency = dv.post(
        "productpricelevels", {**item, "transactioncurrencyid@odata.bind": f"/transactioncurrencies({USD_ID})"}
    )
    assert with_currency.status_code == 400
    orphan = dv.post("productpricelevels", {**item, "pricelevelid@odata.bind": f"/pricelevels({no_currency})"})
    assert orphan.status_code == 400
    assert "has no currency" in error_of(orphan)["message"]
    no_unit = dv.post("productpricelevels", {k: v for k, v in item.items() if k != "uomid@odata.bind"})
    assert no_unit.status_code == 400 and "uomid" in error_of(no_unit)["message"]
    bad_method = dv.post("productpricelevels", {**item, "pricingmethodcode": 7})
    assert bad_method.status_code == 400 and error_of(bad_method)["code"] == "0x8004431a"


def test_paid_invoice_is_read_only_until_reactivated(dv):
    invoice_id = dv.create("invoices", {"name": "INV", "invoicenumber": "103001"})
    assert dv.patch(f"invoices({invoice_id})", {"statecode": 2, "statuscode": 100001}).status_code == 204
    locked = dv.patch(f"invoices({invoice_id})", {"description": "late change"})
    assert locked.status_code == 400
    assert "Paid" in error_of(locked)["message"]
    assert dv.patch(f"invoices({invoice_id})", {"statecode": 3, "statuscode": 100003}).status_code == 400
    assert dv.patch(f"invoices({invoice_id})", {"statecode": 0, "statuscode": 4}).status_code == 204
    assert dv.patch(f"invoices({invoice_id})", {"description": "now allowed"}).status_code == 204

    order_id = dv.create("salesorders", {"name": "Order"})
    assert dv.patch(f"salesorders({order_id})", {"statecode": 1, "statuscode": 3}).status_code == 204
    assert dv.patch(f"salesorders({order_id})", {"name": "edited while submitted"}).status_code == 400
    assert dv.patch(f"salesorders({order_id})", {"statecode": 4, "statuscode": 100003}).status_code == 204
    assert dv.delete(f"salesorders({order_id})").status_code == 400


def test_invoice_lines_need_an_active_product(dv):
    schedule, unit = unit_group(dv, "PCS")
    product_id = dv.create("products", product_body("1000", schedule, unit))
    invoice_id = dv.create("invoices", {"name": "With lines", "invoicenumber": "103002"})
    line = {
        "invoiceid@odata.bind": f"/invoices({invoice_id})",
        "productid@odata.bind": f"/products({product_id})",
        "uomid@odata.bind": f"/uoms({unit})",
        "quantity": 2,
        "priceperunit": 10,
        "ispriceoverridden": True,
    }
    draft = dv.post("invoicedetails", line)
    assert draft.status_code == 400 and "not active" in error_of(draft)["message"]
    dv.patch(f"products({product_id})", {"statecode": 0, "statuscode": 1})
    line_id = dv.create("invoicedetails", line)
    row = dv.get(f"invoicedetails({line_id})").json()
    assert row["baseamount"] == 20.0 and row["extendedamount"] == 20.0
    assert row["_transactioncurrencyid_value"] == USD_ID
    write_in = dv.create(
        "invoicedetails",
        {"invoiceid@odata.bind": f"/invoices({invoice_id})", "isproductoverridden": True, "productdescription": "Fee"},
    )
    assert dv.delete(f"invoices({invoice_id})").status_code == 204
    assert dv.get(f"invoicedetails({write_in})").status_code == 404


# -- validation errors -----------------------------------------------------------------------------


def test_validation_errors(dv):
    unknown = dv.post("accounts", {"name": "x", "colour": "red"})
    assert unknown.status_code == 400
    assert error_of(unknown)["code"] == "0x80060888"
    assert "'colour' does not exist" in error_of(unknown)["message"]

    bad_option = dv.post("accounts", {"name": "x", "customertypecode": 99})
    assert bad_option.status_code == 400
    assert error_of(bad_option)["code"] == "0x8004431a"
    assert "Accepted Values: 1,2,3" in error_of(bad_option)["message"]

    schedule, unit = unit_group(dv, "PCS")
    too_long = dv.post("products", product_body("L1", schedule, unit, name="x" * 101))
    assert too_long.status_code == 400
    assert error_of(too_long) == {
        "code": "0x80044331",
        "message": "A validation error occurred.  The length of the 'name' attribute of the 'product' entity "
        "exceeded the maximum allowed length of '100'.",
    }

    missing = dv.post("products", {"name": "No number"})
    assert missing.status_code == 400
    assert "productnumber" in error_of(missing)["message"]
    assert dv.post("uomschedules", {"description": "nameless"}).status_code == 400
    assert dv.post("uoms", {"name": "orphan"}).status_code == 400

    wrong_type = dv.post("accounts", {"name": "x", "creditlimit": "a lot"})
    assert wrong_type.status_code == 400
    negative = dv.post("products", product_body("N1", schedule, unit, price=-1))
    assert negative.status_code == 400 and error_of(negative)["code"] == "0x80044331"


def test_duplicates_are_412(dv):
    schedule, unit = unit_group(dv, "PCS")
    dv.create("products", product_body("1000", schedule, unit))
    duplicate = dv.post("products", product_body("1000", schedule, unit))
    assert dv.post("pricelevels", {"name": "Case"}).status_code == 204
    assert dv.post("pricelevels", {"name": "CASE"}).status_code == 412
    assert duplicate.status_code == 412
    assert error_of(duplicate)["code"] == "0x80040237"
    assert (
        dv.post(
            "transactioncurrencies",
            {"isocurrencycode": "USD", "currencyname": "Dollar", "currencysymbol": "$", "exchangerate": 1},
        ).status_code
        == 412
    )
    dv.create("pricelevels", {"name": "Same"})
    assert dv.post("pricelevels", {"name": "Same"}).status_code == 412


def test_resource_and_query_errors(ro):
    unknown_set = ro.get("widgets")
    assert unknown_set.status_code == 404
    assert error_of(unknown_set) == {"code": "0x80060888", "message": "Resource not found for the segment 'widgets'."}

    bad_filter = ro.get("accounts?$filter=name eq")
    assert bad_filter.status_code == 400
    assert ro.get("accounts?$filter=nosuchcolumn eq 1").status_code == 400
    assert ro.get("accounts?$select=nosuchcolumn").status_code == 400

    skip = ro.get("accounts?$skip=1")
    assert skip.status_code == 400
    assert "$skip" in error_of(skip)["message"]

    collection_patch = ro.patch("accounts", {"name": "x"})
    assert collection_patch.status_code == 405
    assert ro.get(f"accounts({uuid.uuid4()})").status_code == 404


# -- reading ---------------------------------------------------------------------------------------


def test_paging_follows_next_link_until_exhausted(dv):
    parts = [
        http_part("POST", f"{dv.api}/accounts", {"name": f"Paged {i:03d}", "accountnumber": f"P{i:03d}"})
        for i in range(57)
    ]
    assert batch_statuses(send_batch(dv, parts)) == [204] * 57

    url, seen, pages = "accounts?$select=name&$filter=startswith(name,'Paged')", [], 0
    while url:
        response = dv.get(url, headers={"Prefer": "odata.maxpagesize=10"})
        assert response.status_code == 200
        assert response.headers["Preference-Applied"] == "odata.maxpagesize=10"
        body = response.json()
        assert len(body["value"]) <= 10
        seen += [row["name"] for row in body["value"]]
        pages += 1
        url = body.get("@odata.nextLink")
        if url:
            token = unquote(url.split("$skiptoken=")[1])
            assert token.startswith(f'<cookie pagenumber="{pages + 1}" pagingcookie="')
            assert "$select=name" in url
    assert pages == 6
    assert seen == [f"Paged {i:03d}" for i in range(57)]

    ordered = dv.get(
        "accounts?$select=name&$filter=startswith(name,'Paged')&$orderby=name desc",
        headers={"Prefer": "odata.maxpagesize=50"},
    ).json()
    assert ordered["value"][0]["name"] == "Paged 056"
    rest = dv.get(ordered["@odata.nextLink"], headers={"Prefer": "odata.maxpagesize=50"}).json()
    assert [r["name"] for r in rest["value"]] == [f"Paged {i:03d}" for i in range(6, -1, -1)]
    assert "@odata.nextLink" not in rest


def test_a_write_between_pages_shows_on_the_next_page(dv):
    """The next page is computed while the client reads the current one; a write in between
    must not leave the client with the page as it was before."""
    parts = [
        http_part("POST", f"{dv.api}/accounts", {"name": f"Ahead {i:02d}", "accountnumber": f"A{i:02d}"})
        for i in range(12)
    ]
    assert batch_statuses(send_batch(dv, parts)) == [204] * 12
    (row,) = dv.get("accounts?$select=accountid&$filter=accountnumber eq 'A05'").json()["value"]
    query = "accounts?$select=name,accountnumber&$filter=startswith(name,'Ahead')"
    first = dv.get(query, headers={"Prefer": "odata.maxpagesize=5"}).json()
    assert [r["name"] for r in first["value"]] == [f"Ahead {i:02d}" for i in range(5)]
    time.sleep(0.3)  # the next page is computed ahead meanwhile
    assert dv.patch(f"accounts({row['accountid']})", {"name": "Ahead 05 renamed"}).status_code == 204
    second = dv.get(first["@odata.nextLink"], headers={"Prefer": "odata.maxpagesize=5"}).json()
    assert [r["name"] for r in second["value"]] == ["Ahead 05 renamed", *(f"Ahead {i:02d}" for i in range(6, 10))]
    third = dv.get(second["@odata.nextLink"], headers={"Prefer": "odata.maxpagesize=5"}).json()
    assert [r["name"] for r in third["value"]] == ["Ahead 10", "Ahead 11"]


def test_count_and_top(ro):
    body = ro.get("systemusers?$count=true&$select=fullname").json()
    assert body["@odata.count"] == len(body["value"]) == 2 + len(SALES_USERS)
    top = ro.get("systemusers?$top=3&$orderby=fullname").json()
    assert len(top["value"]) == 3 and "@odata.nextLink" not in top
    assert ro.get("systemusers/$count").text == str(2 + len(SALES_USERS))
    enabled = ro.get(
        "systemusers?$filter=isdisabled eq false and islicensed eq true&$select=internalemailaddress"
    ).json()
    emails = sorted(r["internalemailaddress"] for r in enabled["value"])
    assert {
        "jr@cronus.example",
        "ps@cronus.example",
        "bc@cronus.example",
        "hr@cronus.example",
        "jo@cronus.example",
    } <= set(emails)


def test_whoami_is_the_integration_user(ro):
    body = ro.get("WhoAmI").json()
    assert body["UserId"] == ro.config.integration_user_id
    user = ro.get(f"systemusers({body['UserId']})").json()
    assert user["applicationid"] == ro.config.client_id
    assert user["isintegrationuser"] is True and user["accessmode"] == 4
    assert body["BusinessUnitId"] == user["_businessunitid_value"]
    uuid.UUID(body["OrganizationId"])


def test_metadata_endpoints(ro):
    definitions = ro.get(
        "EntityDefinitions?$select=LogicalName,EntitySetName,PrimaryIdAttribute&$filter=LogicalName eq 'nav_accountstatistics'"
    ).json()["value"]
    assert [(d["EntitySetName"], d["PrimaryIdAttribute"]) for d in definitions] == [
        ("nav_accountstatisticses", "nav_accountstatisticsid")
    ]
    picklists = ro.get(
        "EntityDefinitions(LogicalName='product')/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata"
        "?$select=LogicalName&$expand=OptionSet($select=Options)"
    ).json()["value"]
    types = {
        p["LogicalName"]: {o["Value"]: o["Label"]["UserLocalizedLabel"]["Label"] for o in p["OptionSet"]["Options"]}
        for p in picklists
    }
    assert types["producttypecode"] == {1: "Sales Inventory", 2: "Miscellaneous Charges", 3: "Services", 4: "Flat Fees"}
    keys = ro.get("EntityDefinitions(LogicalName='product')/Keys").json()["value"]
    assert [k["KeyAttributes"] for k in keys] == [["productnumber"]]
    csdl = ro.get("$metadata")
    assert csdl.status_code == 200 and csdl.headers["Content-Type"].startswith("application/xml")
    root = ET.fromstring(csdl.content)
    names = {e.get("Name") for e in root.iter("{http://docs.oasis-open.org/odata/ns/edm}EntitySet")}
    assert {"accounts", "products", "uomschedules", "invoicedetails"} <= names


# -- $batch ----------------------------------------------------------------------------------------


def test_batch_changeset_with_content_id_reference(dv):
    parts = [
        changeset(
            [
                http_part("POST", f"{dv.api}/accounts", {"name": "Parent"}, content_id=1),
                http_part(
                    "POST",
                    "/api/data/v9.2/contacts",
                    {"lastname": "Child", "parentcustomerid_account@odata.bind": "$1"},
                    content_id=2,
                ),
                http_part("PATCH", "$1", {"telephone1": "555-0101"}, content_id=3),
            ]
        ),
        http_part("GET", "accounts?$select=name,telephone1&$filter=name eq 'Parent'"),
    ]
    response = send_batch(dv, parts)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("multipart/mixed; boundary=batchresponse_")
    assert batch_statuses(response) == [204, 204, 204, 200]
    assert "Content-ID: 2" in response.text
    (parent,) = dv.get("accounts?$filter=name eq 'Parent'").json()["value"]
    assert parent["telephone1"] == "555-0101"
    (child,) = dv.get("contacts?$filter=lastname eq 'Child'").json()["value"]
    assert child["_parentcustomerid_value"] == parent["accountid"]


def test_batch_changeset_is_all_or_nothing(dv):
    parts = [
        changeset(
            [
                http_part("POST", f"{dv.api}/accounts", {"name": "Rolled back"}, content_id=1),
                http_part("POST", f"{dv.api}/accounts", {"name": "Bad", "customertypecode": 42}, content_id=2),
            ]
        )
    ]
    response = send_batch(dv, parts, continue_on_error=True)
    assert response.status_code == 200
    assert batch_statuses(response) == [400]
    assert dv.get("accounts?$filter=name eq 'Rolled back'").json()["value"] == []


def test_batch_continue_on_error_applies_the_good_operations(dv):
    parts = [
        http_part("POST", f"{dv.api}/accounts", {"name": "Good 1"}),
        http_part("POST", f"{dv.api}/accounts", {"name": "Bad", "nosuchcolumn": 1}),
        http_part("PATCH", f"{dv.api}/accounts({uuid.uuid4()})", {"name": "Good 2"}),
    ]
    response = send_batch(dv, parts, continue_on_error=True)
    assert response.status_code == 200
    assert batch_statuses(response) == [204, 400, 204]
    assert response.text.count("OData-EntityId: ") == 2
    names = {r["name"] for r in dv.get("accounts?$filter=startswith(name,'Good')").json()["value"]}
    assert names == {"Good 1", "Good 2"}


def test_batch_without_continue_on_error_stops_at_the_first_failure(dv):
    parts = [
        http_part("POST", f"{dv.api}/accounts", {"name": "First"}),
        http_part("POST", f"{dv.api}/accounts", {"name": "x" * 200}),
        http_part("POST", f"{dv.api}/accounts", {"name": "Never"}),
    ]
    response = send_batch(dv, parts)
    assert response.status_code == 400
    assert batch_statuses(response) == [400]
    assert '"code":"0x80044331"' in response.text
    assert dv.get("accounts?$filter=name eq 'First'").json()["value"] != []
    assert dv.get("accounts?$filter=name eq 'Never'").json()["value"] == []


def test_batch_limits(dv):
    parts = [http_part("GET", "WhoAmI") for _ in range(1001)]
    response = send_batch(dv, parts)
    assert response.status_code == 400
    assert "1000" in error_of(response)["message"]
    forward = send_batch(dv, [changeset([http_part("PATCH", "$7", {"name": "x"}, content_id=1)])])
    assert forward.status_code == 400
    assert "Content-ID Reference: '$7' does not exist" in forward.text


# -- auth, limits, faults and the control surface --------------------------------------------------


def test_tokens_are_checked(sandbox, token_for, ca_bundle):
    api = f"{sandbox.config.dataverse_url}/api/data/v9.2/WhoAmI"
    missing = requests.get(api, verify=ca_bundle, timeout=30)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith(f"Bearer authorization_uri={sandbox.config.authority}")
    assert "error" in missing.json()
    foreign = token_for(sandbox.config.bc_resource)
    wrong_audience = requests.get(api, headers={"Authorization": f"Bearer {foreign}"}, verify=ca_bundle, timeout=30)
    assert wrong_audience.status_code == 401


def test_expired_tokens_get_401(dv, token_for):
    assert dv.get("WhoAmI").status_code == 200
    assert dv.control("faults", {"expire_tokens": True}).status_code == 200
    expired = dv.get("WhoAmI")
    assert expired.status_code == 401
    assert error_of(expired)["message"] == "The access token has expired."
    dv.token = token_for(dv.config.dataverse_url)
    assert dv.get("WhoAmI").status_code == 200


def test_injected_429_has_retry_after(dv):
    assert dv.control("faults", {"status": 429, "count": 1, "retry_after": 7}).status_code == 200
    throttled = dv.get("accounts")
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "7"
    assert error_of(throttled)["code"] == "0x80072322"
    assert dv.get("accounts").status_code == 200


def test_service_protection_limits_requests_per_window(tmp_path, ca_bundle):
    from include.sandbox.server import SandboxThread, free_port_config

    config = free_port_config(tmp_path / "limited", dataverse_request_limit=5, dataverse_window_seconds=120)
    with SandboxThread(config, seed="empty") as running:
        ca = str(running.config.ca_file)
        token = requests.post(
            f"{config.authority}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": config.client_id,
                "client_secret": config.client_secret,
                "scope": f"{config.dataverse_url}/.default",
            },
            verify=ca,
            timeout=30,
        ).json()["access_token"]
        url = f"{config.dataverse_url}/api/data/v9.2/WhoAmI"

        def fetch() -> tuple[int, dict, dict]:
            # Keep no response object: one kept alive holds its connection open and delays the shutdown.
            response = requests.get(url, headers={"Authorization": f"Bearer {token}"}, verify=ca, timeout=30)
            return response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.json()

        seen = [fetch() for _ in range(6)]
        assert [status for status, _, _ in seen] == [200] * 5 + [429]
        _, headers, body = seen[-1]
        assert 1 <= int(headers["retry-after"]) <= 120
        assert body["error"] == {
            "code": "0x80072322",
            "message": "Number of requests exceeded the limit of 5 over time window of 120 seconds.",
        }
        assert seen[0][1]["x-ms-ratelimit-burst-remaining-xrm-requests"] == "4"


def test_stats_and_reset(dv):
    dv.control("reset")
    dv.get("accounts")
    dv.post("accounts", {"name": "Counted"})
    send_batch(dv, [http_part("POST", f"{dv.api}/contacts", {"lastname": "A"}), http_part("GET", "accounts?$top=1")])
    stats = dv.control("stats").json()
    assert stats["emulator"] == "dataverse"
    assert stats["total"] == 3
    assert stats["by_method"] == {"GET": 1, "POST": 2}
    assert stats["by_entity"]["accounts"] == {"GET": 1, "POST": 1}
    assert stats["by_entity"]["$batch"] == {"POST": 1}
    assert stats["batch_operations"] == {"accounts": {"GET": 1}, "contacts": {"POST": 1}}
    assert stats["batch_operations_total"] == 2

    assert dv.control("reset").json() == {"reset": True}
    assert dv.get("accounts?$filter=name eq 'Counted'").json()["value"] == []
    assert dv.control("stats").json()["total"] == 1
    names = sorted(r["name"] for r in dv.get("accounts?$select=name").json()["value"])
    assert names == ["Adatum Corporation", "Northwind Traders"]
