"""CONTACT transforms both ways: BC persons to Sales contacts, Sales contacts back to BC values."""

from __future__ import annotations

import pandas as pd

from include.bc_sales_sync.mappings.catalogue import CONTACT
from include.bc_sales_sync.transforms.base import TransformContext
from include.bc_sales_sync.transforms.contacts import PARENT_BIND, persons_to_contacts
from include.bc_sales_sync.transforms.reverse import contacts_to_persons

COMPANIES = pd.DataFrame(
    {
        "company_no": ["CT000001", "CT000002"],
        "customer_no": ["10000", "20000"],
        "customer_id": ["cust-1", "cust-2"],
        "accountid": ["acc-1", None],  # customer 20000 is not coupled
    }
)
SALESPEOPLE = pd.DataFrame({"code": ["JR"], "systemuserid": ["user-jr"]})
CURRENCIES = pd.DataFrame({"code": ["EUR", "USD"], "transactioncurrencyid": ["cur-eur", "cur-usd"]})


def person(no: str, **values) -> dict:
    row = {
        "bc_id": f"id-{no}",
        "target_id": f"t-{no}",
        "SystemId": f"id-{no}",
        "No": no,
        "Name": "Robert Townes",
        "Type": "Person",
        "Company_No": "CT000001",
        "First_Name": "Robert",
        "Middle_Name": "",
        "Surname": "Townes",
        "Address": "Station Road 21",
        "Address_2": "",
        "Post_Code": "30301",
        "City": "Atlanta",
        "Country_Region_Code": "US",
        "County": "GA",
        "E_Mail": "robert@adatum.example",
        "Fax_No": "",
        "Home_Page": "",
        "Mobile_Phone_No": "+1 404 555 0111",
        "Pager": "",
        "Phone_No": "+1 404 555 0100",
        "Salesperson_Code": "JR",
        "Currency_Code": "",
    }
    row.update(values)
    return row


def forward(*records: dict):
    ctx = TransformContext(
        CONTACT,
        {"customer_companies": COMPANIES, "salespeople": SALESPEOPLE, "currencies": CURRENCIES},
        {"local_currency_id": "cur-usd"},
    )
    return persons_to_contacts(pd.DataFrame(list(records)), ctx)


def test_a_person_becomes_a_contact_of_the_account_coupled_to_its_companys_customer():
    result = forward(person("CT000011"))
    (row,) = result.primary.rows.to_dict("records")
    assert result.primary.entity_set == "contacts" and result.errors.empty
    assert (row["firstname"], row["lastname"], row["mobilephone"]) == ("Robert", "Townes", "+1 404 555 0111")
    assert row[PARENT_BIND] == "/accounts(acc-1)"
    assert row["ownerid@odata.bind"] == "/systemusers(user-jr)"
    assert row["transactioncurrencyid@odata.bind"] == "/transactioncurrencies(cur-usd)"  # blank: local
    assert row["middlename"] is None and row["fax"] is None  # empty text is Sales' null


def test_a_contact_whose_customer_is_not_coupled_fails_alone_and_says_what_to_do():
    result = forward(person("CT000011"), person("CT000012", Name="Helen Ray", Company_No="CT000002"))
    assert list(result.primary.rows["bc_id"]) == ["id-CT000011"]
    (error,) = result.errors.to_dict("records")
    assert error["bc_id"] == "id-CT000012" and error["field"] == "Company_No"
    assert error["message"].startswith("Contact CT000012 (Helen Ray): its company CT000002 belongs to customer 20000")
    assert "Run the CUSTOMER job" in error["message"] and "retried on the next run" in error["message"]


def test_persons_of_a_company_that_is_no_customers_and_companies_are_left_out():
    result = forward(
        person("CT000011"),
        person("CT000019", Company_No="CT000018"),  # a prospect's person: no business relation
        person("CT000001", Type="Company", Company_No="CT000001"),
        person("CT000020", Company_No=""),
    )
    assert list(result.primary.rows["bc_id"]) == ["id-CT000011"]
    assert result.ignored == {"id-CT000019", "id-CT000001", "id-CT000020"} and result.errors.empty


def test_blank_salesperson_leaves_the_owner_alone_and_an_uncoupled_one_fails():
    result = forward(person("CT000011", Salesperson_Code=""), person("CT000013", Salesperson_Code="OF"))
    (row,) = result.primary.rows.to_dict("records")
    assert row["ownerid@odata.bind"] is None and "ownerid@odata.bind" in result.primary.not_null
    (error,) = result.errors.to_dict("records")
    assert error["field"] == "Salesperson_Code" and "salesperson OF is not coupled to a Sales user" in error["message"]


def test_a_foreign_currency_must_be_coupled():
    result = forward(person("CT000011", Currency_Code="EUR"), person("CT000013", Currency_Code="GBP"))
    (row,) = result.primary.rows.to_dict("records")
    assert row["transactioncurrencyid@odata.bind"] == "/transactioncurrencies(cur-eur)"
    (error,) = result.errors.to_dict("records")
    assert error["field"] == "Currency_Code" and "currency GBP is not coupled" in error["message"]


# -- Sales -> Business Central ------------------------------------------------------------------


def sales_contact(no: str, **values) -> dict:
    row = {
        "bc_id": f"id-{no}",
        "crm_id": f"crm-{no}",
        "fullname": "Robert Townes",
        "firstname": "Robert",
        "middlename": None,
        "lastname": "Townes",
        "address1_line1": "Station Road 21",
        "address1_line2": None,
        "address1_postalcode": "30301",
        "address1_city": "Atlanta",
        "address1_country": "US",
        "address1_stateorprovince": "GA",
        "emailaddress1": "robert@adatum.example",
        "fax": None,
        "websiteurl": None,
        "mobilephone": "+1 404 555 0111",
        "pager": None,
        "telephone1": "+1 404 555 0100",
        "_parentcustomerid_value": "ACC-1",
        "_transactioncurrencyid_value": "cur-usd",
    }
    row.update(values)
    return row


def backward(*rows: dict):
    sales = pd.DataFrame(list(rows))
    bc = pd.DataFrame(
        {"bc_id": sales["bc_id"], "bc_label": sales["bc_id"].str[3:], "Company_No": "CT000001", "Type": "Person"}
    )
    ctx = TransformContext(
        CONTACT,
        {"customer_companies": COMPANIES, "currencies": CURRENCIES},
        {"local_currency_code": "USD"},
    )
    return contacts_to_persons(sales, bc, CONTACT, ctx)


def test_a_sales_contact_gives_the_bc_person_with_its_company_and_currency():
    result = backward(
        sales_contact("CT000011", telephone1="+1 404 555 0199"),
        sales_contact("CT000013", _transactioncurrencyid_value="CUR-EUR", _parentcustomerid_value="acc-1"),
    )
    assert result.errors.empty
    values = result.values.set_index("bc_id")
    assert values.at["id-CT000011", "Phone_No"] == "+1 404 555 0199"
    assert values.at["id-CT000011", "Surname"] == "Townes" and values.at["id-CT000011", "Middle_Name"] is None
    assert list(values["Company_No"]) == ["CT000001", "CT000001"]
    assert list(values["Currency_Code"]) == ["", "EUR"]  # the local currency is BC's blank
    assert set(values["Type"]) == {"Person"}


def test_a_parent_account_not_coupled_to_a_customer_rejects_the_contact():
    result = backward(sales_contact("CT000011"), sales_contact("CT000013", _parentcustomerid_value="acc-9"))
    (error,) = result.errors.to_dict("records")
    assert error["bc_id"] == "id-CT000013" and error["field"] == "parentcustomerid"
    assert error["message"].startswith(
        "Contact CT000013 (Robert Townes) cannot be synchronized because its company does not exist"
    )
    assert "acc-9" in error["message"]


def test_a_value_longer_than_bc_allows_names_the_record_and_the_field():
    result = backward(sales_contact("CT000011"), sales_contact("CT000013", lastname="L" * 31))
    (error,) = result.errors.to_dict("records")
    assert error["bc_id"] == "id-CT000013" and error["field"] == "lastname"
    assert "crm-CT000013 (Business Central contact CT000013)" in error["message"]
    assert "Surname takes at most 30" in error["message"]


def test_a_sales_currency_no_bc_currency_is_coupled_to_rejects_the_contact():
    result = backward(sales_contact("CT000011", _transactioncurrencyid_value="cur-xyz"))
    (error,) = result.errors.to_dict("records")
    assert error["field"] == "transactioncurrencyid" and "cur-xyz is not coupled" in error["message"]
