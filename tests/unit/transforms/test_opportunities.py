"""OPPORTUNITY transform: contact, account, owner and amounts of a Sales opportunity, and its errors."""

from __future__ import annotations

import pandas as pd

from include.bc_sales_sync.mappings.catalogue import OPPORTUNITY
from include.bc_sales_sync.transforms.base import TransformContext
from include.bc_sales_sync.transforms.opportunities import opportunities_to_opportunities
from include.bc_sales_sync.transforms.reverse import copy_fields

COMPANIES = pd.DataFrame(
    {
        "company_no": ["CT000001", "CT000002", "CT000004"],
        "customer_no": ["10000", "20000", "40000"],
        "customer_id": ["cust-1", "cust-2", "cust-4"],
        "accountid": ["acc-1", None, "acc-4"],
    }
)
PERSONS = pd.DataFrame({"number": ["CT000011"], "contactid": ["con-11"]})
SALESPEOPLE = pd.DataFrame({"code": ["JR"], "systemuserid": ["user-jr"]})


def opportunity(no: str, **values) -> dict:
    row = {
        "bc_id": f"id-{no}",
        "target_id": f"t-{no}",
        "SystemId": f"id-{no}",
        "No": no,
        "Description": "Reception refit, second floor",
        "Contact_No": "CT000011",
        "Contact_Company_No": "CT000001",
        "Salesperson_Code": "JR",
        "Status": "In Progress",
        "Estimated_Value_LCY": 12500.0,
        "Estimated_Closing_Date": "2025-07-15",
    }
    row.update(values)
    return row


def transform(*records: dict):
    ctx = TransformContext(
        OPPORTUNITY,
        {"person_contacts": PERSONS, "customer_companies": COMPANIES, "salespeople": SALESPEOPLE},
        {"local_currency_id": "cur-usd"},
    )
    return opportunities_to_opportunities(pd.DataFrame(list(records)), ctx)


def test_an_opportunity_of_a_person_gets_its_contact_account_owner_and_amounts():
    result = transform(opportunity("OP000001"))
    (row,) = result.primary.rows.to_dict("records")
    assert result.primary.entity_set == "opportunities" and result.errors.empty
    assert (row["name"], row["estimatedvalue"], row["estimatedclosedate"]) == (
        "Reception refit, second floor",
        12500.0,
        "2025-07-15",
    )
    assert row["parentcontactid@odata.bind"] == "/contacts(con-11)"
    assert row["parentaccountid@odata.bind"] == "/accounts(acc-1)"
    assert row["ownerid@odata.bind"] == "/systemusers(user-jr)"
    assert row["transactioncurrencyid@odata.bind"] == "/transactioncurrencies(cur-usd)"


def test_an_opportunity_of_the_company_itself_has_only_its_account():
    result = transform(opportunity("OP000002", Contact_No="CT000004", Contact_Company_No="CT000004"))
    (row,) = result.primary.rows.to_dict("records")
    assert row["parentcontactid@odata.bind"] is None and row["parentaccountid@odata.bind"] == "/accounts(acc-4)"


def test_a_blank_closing_date_is_empty_in_sales():
    (row,) = transform(opportunity("OP000001", Estimated_Closing_Date="0001-01-01")).primary.rows.to_dict("records")
    assert row["estimatedclosedate"] is None


def test_references_not_coupled_fail_alone_and_say_which_job_to_run():
    result = transform(
        opportunity("OP000001"),
        opportunity("OP000004", Contact_No="CT000013"),  # a person CONTACT has not coupled
        opportunity("OP000005", Contact_No="CT000012", Contact_Company_No="CT000002"),  # customer 20000 not coupled
        opportunity("OP000006", Contact_No="CT000018", Contact_Company_No="CT000018"),  # a prospect
    )
    assert list(result.primary.rows["bc_id"]) == ["id-OP000001"]
    errors = result.errors.set_index("bc_id")
    assert errors.at["id-OP000004", "field"] == "Contact_No"
    assert (
        "its contact CT000013 is not coupled to a Sales contact yet. Run the CONTACT job"
        in (errors.at["id-OP000004", "message"])
    )
    assert errors.at["id-OP000005", "field"] == "Contact_No"  # the first error of a record wins
    assert errors.at["id-OP000006", "field"] == "Contact_Company_No"
    assert errors.at["id-OP000006", "message"].startswith(
        "Opportunity OP000006 (Reception refit, second floor): its company CT000018 is not linked to a customer"
    )


def test_an_uncoupled_customer_of_the_company_is_named():
    persons = pd.concat([PERSONS, pd.DataFrame({"number": ["CT000012"], "contactid": ["con-12"]})])
    ctx = TransformContext(
        OPPORTUNITY,
        {"person_contacts": persons, "customer_companies": COMPANIES, "salespeople": SALESPEOPLE},
        {"local_currency_id": "cur-usd"},
    )
    record = opportunity("OP000005", Contact_No="CT000012", Contact_Company_No="CT000002")
    (error,) = opportunities_to_opportunities(pd.DataFrame([record]), ctx).errors.to_dict("records")
    assert error["field"] == "Contact_Company_No"
    assert (
        "its company's customer 20000 is not coupled to a Sales account yet. Run the CUSTOMER job" in error["message"]
    )


def test_a_topic_longer_than_the_bc_description_fails_in_sales_to_bc():
    sales = pd.DataFrame({"bc_id": ["id-1", "id-2"], "crm_id": ["c-1", "c-2"], "name": ["Refit", "R" * 101]})
    bc = pd.DataFrame({"bc_id": ["id-1", "id-2"], "bc_label": ["OP000001", "OP000002"]})
    result = copy_fields(sales, bc, OPPORTUNITY)
    assert result.values.set_index("bc_id").at["id-1", "Description"] == "Refit"
    (error,) = result.errors.to_dict("records")
    assert error["bc_id"] == "id-2" and error["field"] == "name"
    assert (
        "Business Central opportunity OP000002" in error["message"]
        and "Description takes at most 100" in (error["message"])
    )
