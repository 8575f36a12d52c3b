"""BC contacts, business relations and opportunities: API v2.0 ``contacts``/``opportunities`` and web services."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.integration.sandbox.test_bc_api import BC, error_of


@pytest.fixture
def bc(fresh_sandbox, ca_bundle, token_for) -> BC:
    return BC(fresh_sandbox.config, ca_bundle, token_for(fresh_sandbox.config.bc_resource))


@pytest.fixture
def seeded(sandbox, ca_bundle, token_for) -> BC:
    """For tests that only read the seed."""
    return BC(sandbox.config, ca_bundle, token_for(sandbox.config.bc_resource))


def contact(bc: BC, number: str) -> dict:
    rows = bc.ok("GET", f"contacts?$filter=number eq '{number}'")["value"]
    assert len(rows) == 1, rows
    return rows[0]


def customer(bc: BC, number: str) -> dict:
    return bc.ok("GET", f"customers?$filter=number eq '{number}'")["value"][0]


def refused(bc: BC, method: str, path: str, body: dict, etag: str = "*", status: int = 400) -> tuple[str, str]:
    headers = {"If-Match": etag} if method == "PATCH" else {}
    response = bc.call(method, path, json=body, headers=headers)
    assert response.status_code == status, response.text
    code, message = error_of(response)
    return code, message.split("  CorrelationId:")[0]


TODAY = dt.datetime.now(dt.UTC).date().isoformat()


# -- the demo contacts -------------------------------------------------------------------------------


def test_each_demo_customer_has_its_contact(seeded):
    contacts = {c["number"]: c for c in seeded.ok("GET", "contacts")["value"]}
    assert len(contacts) == 18
    adatum = contacts["CT000001"]
    assert adatum["type"] == "Company" and adatum["displayName"] == "Adatum Corporation"
    assert adatum["companyNumber"] == "CT000001" and adatum["companyName"] == "Adatum Corporation"
    assert adatum["contactBusinessRelation"] == adatum["businessRelation"] == "Customer"
    assert adatum["searchName"] == "ADATUM CORPORATION" and adatum["country"] == "US"
    robert = contacts["CT000011"]
    assert (robert["type"], robert["companyNumber"], robert["companyName"]) == (
        "Person",
        "CT000001",
        adatum["displayName"],
    )
    assert robert["contactBusinessRelation"] == "Customer" and robert["city"] == "Atlanta"
    assert contacts["CT000010"]["type"] == "Person" and contacts["CT000010"]["companyNumber"] == ""
    assert contacts["CT000017"]["contactBusinessRelation"] == "Vendor"
    assert contacts["CT000018"]["contactBusinessRelation"] == "None"
    assert all(c["@odata.etag"] and c["lastModifiedDateTime"] and c["id"] for c in contacts.values())
    links = seeded.ok("GET", "ws:ContactBusinessRelations?$filter=Link_to_Table eq 'Customer'")["value"]
    assert {link["No"] for link in links} == {
        "10000",
        "20000",
        "30000",
        "40000",
        "50000",
        "60000",
        "61000",
        "70000",
        "80000",
    }
    card = seeded.ok("GET", "ws:ContactCard('CT000011')")
    assert (card["First_Name"], card["Surname"], card["Job_Title"]) == ("Robert", "Townes", "Purchasing Manager")
    assert card["SystemId"] == robert["id"] and card["@odata.etag"] == robert["@odata.etag"]


def test_metadata_describes_contacts_and_opportunities(seeded):
    api = seeded.get("api:$metadata").text
    assert '<EntitySet Name="contacts" EntityType="Microsoft.NAV.contact">' in api
    assert '<Property Name="mobilePhoneNumber" Type="Edm.String" MaxLength="30"/>' in api
    assert '<EntitySet Name="opportunities"' in api
    ws = seeded.get(f"{seeded.config.bc_api_root}/ODataV4/$metadata").text
    for name in ("ContactCard", "ContactBusinessRelations", "Opportunities"):
        assert f'<EntitySet Name="{name}"' in ws


# -- writing contacts -------------------------------------------------------------------------------------


def test_contact_patch_with_etag_and_its_errors(bc):
    before = contact(bc, "CT000013")
    path = f"contacts({before['id']})"
    after = bc.ok(
        "PATCH", path, json={"mobilePhoneNumber": "+1 305 555 0139"}, headers={"If-Match": before["@odata.etag"]}
    )
    assert after["mobilePhoneNumber"] == "+1 305 555 0139"
    assert after["@odata.etag"] != before["@odata.etag"]
    assert after["lastModifiedDateTime"] > before["lastModifiedDateTime"]
    code, message = refused(bc, "PATCH", path, {"email": "x@y.example"}, before["@odata.etag"], 412)
    assert code == "Request_EntityChanged"
    code, message = refused(bc, "PATCH", path, {"displayName": "n" * 101})
    assert code == "Application_StringExceededLength" and "less than or equal to 100 characters" in message
    code, message = refused(bc, "PATCH", path, {"country": "XX"})
    assert (code, message) == (
        "Internal_InvalidTableRelation",
        "The field Country/Region Code of table Contact contains a value (XX) that cannot be found in the related "
        "table (Country/Region).",
    )
    code, message = refused(bc, "PATCH", path, {"displayName": ""})
    assert (code, message) == ("Application_DialogException", 'The blank "displayName" is not allowed.')
    code, message = refused(bc, "PATCH", path, {"contactBusinessRelation": "Vendor"})
    assert "read-only" in message
    assert contact(bc, "CT000013")["@odata.etag"] == after["@odata.etag"]


def test_new_contacts_take_their_company(bc):
    person = bc.ok(
        "POST", "contacts", 201, json={"type": "Person", "displayName": "Lee Park", "companyNumber": "CT000003"}
    )
    assert person["number"] == "CT000019"
    assert person["companyName"] == "School of Fine Art" and person["contactBusinessRelation"] == "Customer"
    assert person["city"] == "Miami" and person["searchName"] == "LEE PARK"
    by_name = bc.ok(
        "POST", "contacts", 201, json={"type": "Person", "displayName": "Kim Abercrombie", "companyName": "Relecloud"}
    )
    assert by_name["companyNumber"] == "CT000005"
    code, message = refused(
        bc, "POST", "contacts", {"type": "Person", "displayName": "Nobody", "companyNumber": "CT000011"}
    )
    assert (code, message) == (
        "Internal_InvalidTableRelation",
        "The field Company No. of table Contact contains a value (CT000011) that cannot be found in the related "
        "table (Contact).",
    )
    code, message = refused(bc, "POST", "contacts", {"type": "Person"})
    assert (code, message) == ("Application_DialogException", 'A "displayName" must be provided.')
    card = bc.ok(
        "POST",
        "ws:ContactCard",
        201,
        json={"Type": "Person", "First_Name": "Ana", "Surname": "Lopez", "Company_No": "CT000008"},
    )
    assert (
        card["Name"] == "Ana Lopez"
        and card["Company_Name"] == "Tailspin Toys Ltd."
        and card["Country_Region_Code"] == "GB"
    )


def test_a_company_contact_and_its_customer_keep_each_other_current(bc):
    adatum = contact(bc, "CT000001")
    before = customer(bc, "10000")
    changed = bc.ok(
        "PATCH",
        f"contacts({adatum['id']})",
        json={"addressLine1": "200 Market Square", "phoneNumber": "+1 404 555 0112"},
        headers={"If-Match": adatum["@odata.etag"]},
    )
    assert changed["addressLine1"] == "200 Market Square"
    after = customer(bc, "10000")
    assert (after["addressLine1"], after["phoneNumber"]) == ("200 Market Square", "+1 404 555 0112")
    assert after["lastModifiedDateTime"] > before["lastModifiedDateTime"]
    trey = customer(bc, "20000")
    bc.ok(
        "PATCH",
        f"customers({trey['id']})",
        json={"displayName": "Trey Research Inc."},
        headers={"If-Match": trey["@odata.etag"]},
    )
    company = contact(bc, "CT000002")
    assert (company["displayName"], company["companyName"], company["searchName"]) == ("Trey Research Inc.",) * 2 + (
        "TREY RESEARCH INC.",
    )
    assert contact(bc, "CT000012")["companyName"] == "Trey Research Inc."


def test_a_new_customer_gets_its_contact_and_loses_the_link_when_deleted(bc):
    new = bc.ok("POST", "customers", 201, json={"displayName": "Fourth Coffee", "city": "Redmond", "country": "US"})
    made = bc.ok("GET", "contacts?$filter=displayName eq 'Fourth Coffee'")["value"]
    assert len(made) == 1
    assert (made[0]["type"], made[0]["contactBusinessRelation"], made[0]["city"]) == ("Company", "Customer", "Redmond")
    link = bc.ok("GET", f"ws:ContactBusinessRelations?$filter=No eq '{new['number']}'")["value"]
    assert [(row["Contact_No"], row["Business_Relation_Code"]) for row in link] == [(made[0]["number"], "CUST")]
    assert bc.call("DELETE", f"customers({new['id']})", headers={"If-Match": "*"}).status_code == 204
    assert bc.ok("GET", f"ws:ContactBusinessRelations?$filter=No eq '{new['number']}'")["value"] == []
    assert contact(bc, made[0]["number"])["contactBusinessRelation"] == "None"


def test_business_relations_link_company_contacts(bc):
    link = {"Contact_No": "CT000018", "Business_Relation_Code": "VEND", "Link_to_Table": "Vendor", "No": "20000"}
    created = bc.ok("POST", "ws:ContactBusinessRelations", 201, json=link)
    assert created["Business_Relation_Description"] == "Vendor" and created["Contact_Name"] == "Contoso Pharmaceuticals"
    assert contact(bc, "CT000018")["contactBusinessRelation"] == "Vendor"
    code, message = refused(bc, "POST", "ws:ContactBusinessRelations", {**link, "Contact_No": "CT000011"})
    assert code == "Internal_InvalidTableRelation" and "(CT000011)" in message
    code, message = refused(
        bc,
        "POST",
        "ws:ContactBusinessRelations",
        {**link, "Business_Relation_Code": "CUST", "Link_to_Table": "Customer", "No": "10000"},
    )
    assert (code, message) == ("Application_DialogException", "Customer 10000 is already linked to contact CT000001.")
    code, message = refused(bc, "POST", "ws:ContactBusinessRelations", {**link, "Business_Relation_Code": "NOPE"})
    assert code == "Internal_InvalidTableRelation" and "(Business Relation)" in message
    key = "ws:ContactBusinessRelations(Contact_No='CT000018',Business_Relation_Code='VEND')"
    assert bc.call("DELETE", key, headers={"If-Match": created["@odata.etag"]}).status_code == 204
    assert contact(bc, "CT000018")["contactBusinessRelation"] == "None"


# -- opportunities ----------------------------------------------------------------------------------------------


def test_demo_opportunities(seeded):
    rows = {o["No"]: o for o in seeded.ok("GET", "ws:Opportunities")["value"]}
    assert set(rows) == {"OP000001", "OP000002", "OP000003"}
    first = rows["OP000001"]
    assert (first["Contact_No"], first["Contact_Company_No"], first["Salesperson_Code"]) == (
        "CT000011",
        "CT000001",
        "JR",
    )
    assert (first["Status"], first["Estimated_Value_LCY"], first["Estimated_Closing_Date"]) == (
        "In Progress",
        12500.0,
        "2025-07-15",
    )
    assert rows["OP000003"]["Status"] == "Won" and rows["OP000003"]["Closed"] is True
    assert all(o["SystemId"] and o["SystemModifiedAt"] and o["@odata.etag"] for o in rows.values())
    api = seeded.ok("GET", "opportunities?$filter=number eq 'OP000001'")["value"][0]
    assert api["id"] == first["SystemId"] and api["contactName"] == "Robert Townes"
    assert api["contactCompanyName"] == "Adatum Corporation" and api["estimatedValue"] == 12500.0


def test_opportunity_web_service_writes(bc):
    new = bc.ok(
        "POST",
        "ws:Opportunities",
        201,
        json={
            "Description": "Art studio chairs",
            "Contact_No": "CT000013",
            "Estimated_Value_LCY": 4200,
            "Estimated_Closing_Date": "2025-10-01",
        },
    )
    assert new["No"] == "OP000004"
    assert (new["Contact_Company_No"], new["Salesperson_Code"], new["Status"]) == ("CT000003", "PS", "Not Started")
    assert new["Creation_Date"] == TODAY and new["Closed"] is False
    key = "ws:Opportunities('OP000004')"
    progressed = bc.ok(
        "PATCH",
        key,
        json={"Status": "In Progress", "Estimated_Value_LCY": 4800},
        headers={"If-Match": new["@odata.etag"]},
    )
    assert progressed["Estimated_Value_LCY"] == 4800 and progressed["SystemModifiedAt"] > new["SystemModifiedAt"]
    code, _ = refused(bc, "PATCH", key, {"Description": "Chairs"}, new["@odata.etag"], 412)
    assert code == "Request_EntityChanged"
    won = bc.ok("PATCH", key, json={"Status": "Won"}, headers={"If-Match": progressed["@odata.etag"]})
    assert won["Closed"] is True and won["Date_Closed"] == TODAY
    code, message = refused(bc, "PATCH", key, {"Estimated_Value_LCY": 1})
    assert (code, message) == (
        "Application_DialogException",
        "Opportunity OP000004 is won: only its description can be changed.",
    )
    assert bc.ok("PATCH", key, json={"Description": "Art studio chairs (40)"}, headers={"If-Match": "*"})[
        "Description"
    ].endswith("(40)")
    code, message = refused(bc, "POST", "ws:Opportunities", {"Description": "x", "Contact_No": "CT999999"})
    assert code == "Internal_InvalidTableRelation" and "(CT999999)" in message
    code, message = refused(bc, "POST", "ws:Opportunities", {"Description": "x", "Status": "Maybe"})
    assert code == "Unknown" and "Not Started,In Progress,Won,Lost" in message
    code, message = refused(bc, "PATCH", "ws:Opportunities('OP000001')", {"Description": "d" * 101})
    assert code == "Application_StringExceededLength"


def test_opportunity_status_is_read_only_in_the_api(bc):
    row = bc.ok("GET", "opportunities?$filter=number eq 'OP000002'")["value"][0]
    code, message = refused(bc, "PATCH", f"opportunities({row['id']})", {"status": "Won"})
    assert code == "BadRequest" and "read-only" in message
    renamed = bc.ok(
        "PATCH",
        f"opportunities({row['id']})",
        json={"description": "Lodge furniture"},
        headers={"If-Match": row["@odata.etag"]},
    )
    assert renamed["description"] == "Lodge furniture"
