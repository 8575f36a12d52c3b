"""OPPORTUNITY both ways against the sandbox: open BC opportunities become Sales opportunities of
their contact and account, a Sales rename reaches Business Central, closed ones stay out, and one
that cannot be synchronized fails alone."""

from __future__ import annotations

import pytest

from include.bc_sales_sync.state import FROM_CRM
from tests.integration.sync.conftest import rows, writes


@pytest.fixture
def loaded(coupled, sync) -> dict:
    """Contacts synchronized (their two failures skipped), then the first OPPORTUNITY run's summary."""
    sync("CONTACT")
    sync("CONTACT")
    return sync("OPPORTUNITY")


def sales_opportunities(hook) -> dict[str, dict]:
    select = [
        "opportunityid",
        "name",
        "_parentcontactid_value",
        "_parentaccountid_value",
        "_ownerid_value",
        "estimatedvalue",
        "estimatedclosedate",
    ]
    return {o["name"]: o for o in rows(hook, "opportunities", select=select)}


def card(bc, number: str) -> dict:
    (record,) = rows(bc, "Opportunities", web_service=True, filter=f"No eq '{number}'")
    return record


def one(hook, entity_set: str, condition: str, key: str) -> str:
    (row,) = rows(hook, entity_set, filter=condition, select=[key])
    return row[key]


def test_open_opportunities_arrive_with_their_contact_account_and_owner(loaded, dataverse):
    assert (loaded["read"], loaded["inserted"], loaded["failed"]) == (2, 2, 0)  # the won one stays out
    found = sales_opportunities(dataverse)
    assert sorted(found) == ["Lodge furniture for the winter season", "Reception refit, second floor"]
    refit = found["Reception refit, second floor"]
    assert refit["_parentcontactid_value"] == one(dataverse, "contacts", "fullname eq 'Robert Townes'", "contactid")
    assert refit["_parentaccountid_value"] == one(dataverse, "accounts", "accountnumber eq '10000'", "accountid")
    assert (refit["estimatedvalue"], refit["estimatedclosedate"]) == (12500.0, "2025-07-15")
    assert refit["_ownerid_value"] == one(dataverse, "accounts", "accountnumber eq '10000'", "_ownerid_value")  # JR
    lodge = found["Lodge furniture for the winter season"]  # with the company contact itself: no person
    assert lodge["_parentcontactid_value"] is None
    assert lodge["_parentaccountid_value"] == one(dataverse, "accounts", "accountnumber eq '40000'", "accountid")


def test_a_sales_rename_reaches_business_central_and_the_rerun_writes_nothing(loaded, sync, sales_user, bc, stats):
    refit = sales_opportunities(sales_user)["Reception refit, second floor"]
    sales_user.update("opportunities", refit["opportunityid"], {"name": "Reception refit, floors 2 and 3"})
    summary = sync("OPPORTUNITY")
    assert (summary["modified"], summary[FROM_CRM]["modified"]) == (0, 1)
    assert card(bc, "OP000001")["Description"] == "Reception refit, floors 2 and 3"
    stats["bc"].clear()
    stats["dataverse"].clear()
    again = sync("OPPORTUNITY")
    assert (again["modified"], again[FROM_CRM]["modified"]) == (0, 0)
    assert writes(stats) == (0, 0)


def test_a_new_value_in_business_central_arrives_and_a_closed_opportunity_stays_as_it_was(loaded, sync, bc, dataverse):
    bc.update("Opportunities", "OP000001", {"Estimated_Value_LCY": 14000.0}, "*", web_service=True)
    bc.update("Opportunities", "OP000002", {"Status": "Won", "Estimated_Value_LCY": 9000.0}, "*", web_service=True)
    summary = sync("OPPORTUNITY")
    assert (summary["read"], summary["modified"]) == (1, 1)
    found = sales_opportunities(dataverse)
    assert found["Reception refit, second floor"]["estimatedvalue"] == 14000.0
    assert found["Lodge furniture for the winter season"]["estimatedvalue"] == 8000.0


def test_an_opportunity_of_a_contact_not_synchronized_fails_alone(loaded, sync, bc, state):
    new = {"Description": "Lab benches", "Contact_No": "CT000012", "Salesperson_Code": "JR", "Status": "In Progress"}
    created = bc.create("Opportunities", new, web_service=True)
    bc.update("Opportunities", "OP000001", {"Estimated_Value_LCY": 15000.0}, "*", web_service=True)
    summary = sync("OPPORTUNITY")
    assert (summary["failed"], summary["modified"]) == (1, 1)
    message = state.errors(mapping="OPPORTUNITY")["message"].iloc[0]
    assert message.startswith(f"Opportunity {created['No']} (Lab benches): its contact CT000012 is not coupled")
    assert "Run the CONTACT job" in message


def test_a_topic_too_long_for_business_central_fails_alone(loaded, sync, sales_user, bc, state):
    found = sales_opportunities(sales_user)
    refit, lodge = found["Reception refit, second floor"], found["Lodge furniture for the winter season"]
    sales_user.update("opportunities", refit["opportunityid"], {"name": "Reception refit " + "and more " * 12})
    sales_user.update("opportunities", lodge["opportunityid"], {"name": "Lodge furniture, winter 2025"})
    summary = sync("OPPORTUNITY")
    assert (summary[FROM_CRM]["failed"], summary[FROM_CRM]["modified"]) == (1, 1)
    assert card(bc, "OP000002")["Description"] == "Lodge furniture, winter 2025"
    assert card(bc, "OP000001")["Description"] == "Reception refit, second floor"
    (error,) = state.errors(mapping="OPPORTUNITY").itertuples()
    assert error.field == "name" and "Business Central opportunity OP000001" in error.message
