"""Writing BC master data as the Sales -> BC direction does: PATCH with If-Match, and BC's validation errors.

Customers and items through API v2.0, their cards and resources through the web services.
"""

from __future__ import annotations

import uuid

import pytest

from tests.integration.sandbox.test_bc_api import BC, error_of, item_by_number


@pytest.fixture
def bc(fresh_sandbox, ca_bundle, token_for) -> BC:
    return BC(fresh_sandbox.config, ca_bundle, token_for(fresh_sandbox.config.bc_resource))


def customer_by_number(bc: BC, number: str) -> dict:
    rows = bc.ok("GET", f"customers?$filter=number eq '{number}'")["value"]
    assert len(rows) == 1, rows
    return rows[0]


def refused(bc: BC, path: str, body: dict, etag: str = "*", status: int = 400) -> tuple[str, str]:
    response = bc.call("PATCH", path, json=body, headers={"If-Match": etag})
    assert response.status_code == status, response.text
    code, message = error_of(response)
    return code, message.split("  CorrelationId:")[0]


# -- customers -----------------------------------------------------------------------------------


def test_customer_patch_with_etag_then_stale_etag_is_412(bc):
    before = customer_by_number(bc, "30000")
    path = f"customers({before['id']})"
    after = bc.ok("PATCH", path, json={"phoneNumber": "+1 305 555 0199"}, headers={"If-Match": before["@odata.etag"]})
    assert after["phoneNumber"] == "+1 305 555 0199"
    assert after["@odata.etag"] != before["@odata.etag"]
    assert after["lastModifiedDateTime"] > before["lastModifiedDateTime"]
    code, message = refused(bc, path, {"phoneNumber": "+1 305 555 0100"}, before["@odata.etag"], 412)
    assert code == "Request_EntityChanged"
    assert message.startswith("Another user has already changed the record.")
    assert customer_by_number(bc, "30000")["phoneNumber"] == "+1 305 555 0199"
    assert (
        bc.ok("PATCH", path, json={"blocked": "Ship"}, headers={"If-Match": after["@odata.etag"]})["blocked"] == "Ship"
    )


@pytest.mark.parametrize(
    ("prop", "length"),
    [("displayName", 100), ("addressLine1", 100), ("addressLine2", 50), ("city", 30), ("email", 80)],
)
def test_customer_text_longer_than_its_field_is_400(bc, prop, length):
    customer = customer_by_number(bc, "10000")
    value = "x" * (length + 1)
    code, message = refused(bc, f"customers({customer['id']})", {prop: value})
    assert code == "Application_StringExceededLength"
    assert message.startswith(
        f"The length of the string is {length + 1}, but it must be less than or equal to {length} characters. "
        f"Value: {value}"
    )
    assert f"'{prop}'" in message
    assert customer_by_number(bc, "10000")["@odata.etag"] == customer["@odata.etag"]


def test_customer_country_must_exist(bc):
    customer = customer_by_number(bc, "10000")
    code, message = refused(bc, f"customers({customer['id']})", {"country": "XX"})
    assert code == "Internal_InvalidTableRelation"
    assert message == (
        "The field Country/Region Code of table Customer contains a value (XX) that cannot be found in the "
        "related table (Country/Region)."
    )
    moved = bc.ok("PATCH", f"customers({customer['id']})", json={"country": "de"}, headers={"If-Match": "*"})
    assert moved["country"] == "DE"  # a Code field
    countries = {c["code"] for c in bc.ok("GET", "countriesRegions")["value"]}
    assert {"US", "GB", "DE", "NL", "CA", "FR"} <= countries


def test_customer_payment_terms_and_shipment_method_ids_must_exist(bc):
    customer = customer_by_number(bc, "10000")
    path = f"customers({customer['id']})"
    code, message = refused(bc, path, {"paymentTermsId": str(uuid.uuid4())})
    assert (code, message) == ("Application_DialogException", 'The "paymentTermsId" does not match to a Payment Terms.')
    code, message = refused(bc, path, {"shipmentMethodId": str(uuid.uuid4())})
    assert message == 'The "shipmentMethodId" does not match to a Shipment Method.'
    terms = {p["code"]: p["id"] for p in bc.ok("GET", "paymentTerms")["value"]}
    changed = bc.ok("PATCH", path, json={"paymentTermsId": terms["14 DAYS"]}, headers={"If-Match": "*"})
    assert changed["paymentTermsId"] == terms["14 DAYS"]
    assert bc.ok("GET", "ws:CustomerCard('10000')")["Payment_Terms_Code"] == "14 DAYS"


@pytest.mark.parametrize(
    ("column", "caption", "table"),
    [
        ("Payment_Terms_Code", "Payment Terms Code", "Payment Terms"),
        ("Shipment_Method_Code", "Shipment Method Code", "Shipment Method"),
        ("Country_Region_Code", "Country/Region Code", "Country/Region"),
        ("Salesperson_Code", "Salesperson Code", "Salesperson/Purchaser"),
    ],
)
def test_customer_card_codes_must_exist(bc, column, caption, table):
    card = bc.ok("GET", "ws:CustomerCard('20000')")
    code, message = refused(bc, "ws:CustomerCard('20000')", {column: "NOPE"}, card["@odata.etag"])
    assert code == "Internal_InvalidTableRelation"
    assert message == (
        f"The field {caption} of table Customer contains a value (NOPE) that cannot be found in the related "
        f"table ({table})."
    )


def test_customer_blocked_takes_bcs_options(bc):
    customer = customer_by_number(bc, "20000")
    code, message = refused(bc, f"customers({customer['id']})", {"blocked": "Sometimes"})
    assert code == "Unknown"
    assert message == "'Sometimes' is not an option. The existing options are:  ,Ship,Invoice,All"
    blocked = bc.ok("PATCH", f"customers({customer['id']})", json={"blocked": "All"}, headers={"If-Match": "*"})
    assert blocked["blocked"] == "All"


def test_vendor_country_must_exist(bc):
    vendor = bc.ok("GET", "vendors?$filter=number eq '10000'")["value"][0]
    code, _ = refused(bc, f"vendors({vendor['id']})", {"country": "ZZ"})
    assert code == "Internal_InvalidTableRelation"


# -- items -------------------------------------------------------------------------------------------


def test_item_patch_with_etag_blocked_and_lengths(bc):
    item = item_by_number(bc, "1906-S")
    path = f"items({item['id']})"
    blocked = bc.ok("PATCH", path, json={"blocked": True}, headers={"If-Match": item["@odata.etag"]})
    assert blocked["blocked"] is True
    assert blocked["lastModifiedDateTime"] > item["lastModifiedDateTime"]
    assert bc.ok("GET", "ws:ItemCard('1906-S')")["Blocked"] is True
    code, _ = refused(bc, path, {"displayName": "Renamed"}, item["@odata.etag"], 412)
    assert code == "Request_EntityChanged"
    code, message = refused(bc, path, {"displayName": "y" * 101}, blocked["@odata.etag"])
    assert code == "Application_StringExceededLength"
    assert "less than or equal to 100 characters" in message and "'displayName'" in message
    code, message = refused(bc, path, {"baseUnitOfMeasureCode": "CRATE"}, blocked["@odata.etag"])
    assert message == (
        "The field Base Unit of Measure of table Item contains a value (CRATE) that cannot be found in the "
        "related table (Unit of Measure)."
    )


# -- the Resources web service -------------------------------------------------------------------------


def test_resource_name_and_blocked_by_key_with_etag(bc):
    lift = bc.ok("GET", "ws:Resources('LIFT')")
    renamed = bc.ok(
        "PATCH",
        "ws:Resources('LIFT')",
        json={"Name": "Furniture Lift, heavy", "Blocked": True},
        headers={"If-Match": lift["@odata.etag"]},
    )
    assert renamed["Name"] == "Furniture Lift, heavy" and renamed["Blocked"] is True
    assert renamed["@odata.etag"] != lift["@odata.etag"]
    assert renamed["SystemModifiedAt"] > lift["SystemModifiedAt"]
    code, message = refused(bc, "ws:Resources('LIFT')", {"Name": "Lift"}, lift["@odata.etag"], 412)
    assert code == "Request_EntityChanged"
    code, message = refused(bc, "ws:Resources('LIFT')", {"Name": "z" * 101}, renamed["@odata.etag"])
    assert code == "Application_StringExceededLength" and "'Name'" in message
    code, message = refused(bc, "ws:Resources('LIFT')", {"Base_Unit_of_Measure": "WEEK"}, renamed["@odata.etag"])
    assert code == "Internal_InvalidTableRelation" and "(WEEK)" in message
    missing = bc.call("PATCH", "ws:Resources('NOBODY')", json={"Name": "x"}, headers={"If-Match": "*"})
    assert missing.status_code == 404
    assert error_of(missing)[0] == "Internal_RecordNotFound"
