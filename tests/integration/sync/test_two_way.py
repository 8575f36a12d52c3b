"""CUSTOMER both ways against the sandbox: a salesperson's edit in Sales reaches Business Central, the
integration user's own writes never come back, conflicts follow the mapping's policy, and a
record deleted on either side waits for the operator."""

from __future__ import annotations

import pytest

from include.bc_sales_sync.mappings import ConflictPolicy
from include.bc_sales_sync.state import FROM_CRM, TO_CRM
from tests.integration.sync.conftest import rows, writes

NUMBER = "10000"  # Adatum Corporation: its salesperson is coupled, so its account exists


def customer(bc) -> dict:
    (record,) = rows(bc, "customers", filter=f"number eq '{NUMBER}'")
    return record


def account(hook) -> dict:
    (row,) = rows(
        hook,
        "accounts",
        filter=f"accountnumber eq '{NUMBER}'",
        select=["accountid", "telephone1", "name", "modifiedon"],
    )
    return row


def test_a_salespersons_edit_reaches_business_central_and_nothing_comes_back(coupled, sync, sales_user, bc, stats):
    sales_user.update("accounts", account(sales_user)["accountid"], {"telephone1": "+1 404 555 0199"})
    summary = sync()
    assert summary["modified"] == 0 and summary[FROM_CRM]["modified"] == 1
    assert customer(bc)["phoneNumber"] == "+1 404 555 0199"
    # The next run changes nothing on either side: BC's write is not taken for a BC edit, and the
    # Sales row BC was written from is not read back as a change.
    stats["bc"].clear()
    stats["dataverse"].clear()
    again = sync()
    assert (again["modified"], again["inserted"], again[FROM_CRM]["modified"]) == (0, 0, 0)
    assert writes(stats) == (0, 0)


def test_the_integration_users_own_writes_are_not_brought_back(coupled, sync, dataverse, bc):
    before = customer(bc)["phoneNumber"]
    dataverse.update("accounts", account(dataverse)["accountid"], {"telephone1": "+1 000 000 0000"})
    summary = sync()
    assert summary[FROM_CRM]["read"] == 0
    assert customer(bc)["phoneNumber"] == before


def both_edited(bc, sales_user) -> None:
    record = customer(bc)
    bc.update("customers", record["id"], {"phoneNumber": "+1 111 111 1111"})
    sales_user.update("accounts", account(sales_user)["accountid"], {"telephone1": "+1 222 222 2222"})


def test_a_conflict_fails_the_record_by_default_and_changes_neither_side(coupled, sync, sales_user, bc, state):
    both_edited(bc, sales_user)
    summary = sync()
    assert summary["failed"] == 1 and summary[FROM_CRM]["failed"] == 1
    assert customer(bc)["phoneNumber"] == "+1 111 111 1111"
    assert account(sales_user)["telephone1"] == "+1 222 222 2222"
    message = state.errors(mapping="CUSTOMER")["message"].iloc[0]
    assert "changed both in Business Central and in Sales" in message and "Phone_No <-> telephone1" in message
    # Retried, it is still a conflict (the same error twice: now skipped); neither side is overwritten.
    again = sync()
    assert again["failed"] == 1 and (again[FROM_CRM]["failed"], again[FROM_CRM]["modified"]) == (0, 0)
    assert customer(bc)["phoneNumber"] == "+1 111 111 1111"
    assert account(sales_user)["telephone1"] == "+1 222 222 2222"
    # A person makes both sides equal and restores the record: it synchronizes again.
    sales_user.update("accounts", account(sales_user)["accountid"], {"telephone1": "+1 111 111 1111"})
    assert state.restore("CUSTOMER", [customer(bc)["id"]]) == 1
    settled = sync()
    assert settled["failed"] == 0 and settled[FROM_CRM]["failed"] == 0
    assert state.failed_not_skipped("CUSTOMER").empty


@pytest.mark.parametrize(
    ("policy", "phone"), [(ConflictPolicy.BC_WINS, "+1 111 111 1111"), (ConflictPolicy.SALES_WINS, "+1 222 222 2222")]
)
def test_a_conflict_resolved_by_the_mappings_policy(coupled, sync, sales_user, bc, policy, phone):
    both_edited(bc, sales_user)
    summary = sync(policy=policy)
    assert summary["failed"] == 0 and summary[FROM_CRM]["failed"] == 0
    assert customer(bc)["phoneNumber"] == phone
    assert account(sales_user)["telephone1"] == phone


def test_an_account_deleted_in_sales_is_a_deletion_conflict_until_restored(coupled, sync, sales_user, bc, state):
    record = customer(bc)
    sales_user.delete("accounts", account(sales_user)["accountid"])
    bc.update("customers", record["id"], {"phoneNumber": "+1 333 333 3333"})
    summary = sync()
    assert summary["failed"] == 1 and summary["inserted"] == 0
    (conflict,) = state.deleted("CUSTOMER").itertuples()
    assert conflict.bc_id == record["id"] and conflict.deleted_side == "sales"
    assert sync()["failed"] == 0 and not rows(sales_user, "accounts", filter=f"accountnumber eq '{NUMBER}'")
    assert state.resolve_deleted("CUSTOMER", [record["id"]], action="restore") == 1
    assert sync()["inserted"] == 1  # re-created under its old id
    restored = account(sales_user)
    assert restored["accountid"] == conflict.crm_id and restored["telephone1"] == "+1 333 333 3333"


def test_a_customer_deleted_in_business_central_is_a_deletion_conflict(coupled, sync, sales_user, bc, state):
    new = bc.create("customers", {"number": "C-DEL", "displayName": "Gone Tomorrow Inc.", "salespersonCode": "JR"})
    assert sync()["inserted"] == 1
    (row,) = rows(sales_user, "accounts", filter="accountnumber eq 'C-DEL'", select=["accountid"])
    bc.delete("customers", new["id"])
    sales_user.update("accounts", row["accountid"], {"telephone1": "+1 444 444 4444"})
    summary = sync()
    assert summary[FROM_CRM]["failed"] == 1
    (conflict,) = state.deleted("CUSTOMER").itertuples()
    assert (conflict.bc_id, conflict.deleted_side) == (new["id"], "bc")
    assert "coupled to a deleted record in Business Central" in state.errors(mapping="CUSTOMER")["message"].iloc[0]
    assert sync()[FROM_CRM]["failed"] == 0  # it waits for the operator
    assert state.resolve_deleted("CUSTOMER", action="remove") == 1
    assert state.couplings("CUSTOMER", bc_ids=[new["id"]]).empty
    sales_user.update("accounts", row["accountid"], {"telephone1": "+1 555 555 5555"})
    assert sync()[FROM_CRM]["failed"] == 0  # uncoupled now: left alone, the account stays


def test_both_directions_keep_their_own_job_records(coupled, state):
    jobs = state.jobs("CUSTOMER")
    assert set(jobs["direction"]) == {TO_CRM, FROM_CRM}


def test_a_product_renamed_or_retired_in_sales_changes_the_item_and_the_resource(sync, run_job, sales_user, bc):
    sync("UNIT OF MEASURE")
    sync("ITEM-PRODUCT")
    sync("RESOURCE-PRODUCT")
    products = {
        p["productnumber"]: p["productid"] for p in rows(sales_user, "products", select=["productid", "productnumber"])
    }
    sales_user.update("products", products["1896-S"], {"name": "ATHENS Desk, walnut"})
    sales_user.update("products", products["1900-S"], {"statecode": 1, "statuscode": 2})  # retired
    sales_user.update("products", products["LIFT"], {"name": "Lift, 2 tonnes"})
    items, resources = sync("ITEM-PRODUCT"), sync("RESOURCE-PRODUCT")
    assert (items[FROM_CRM]["modified"], resources[FROM_CRM]["modified"]) == (2, 1)
    by_number = {i["number"]: i for i in rows(bc, "items", filter="number eq '1896-S' or number eq '1900-S'")}
    assert by_number["1896-S"]["displayName"] == "ATHENS Desk, walnut" and by_number["1896-S"]["blocked"] is False
    assert by_number["1900-S"]["blocked"] is True
    (lift,) = rows(bc, "Resources", filter="No eq 'LIFT'", web_service=True)
    assert lift["Name"] == "Lift, 2 tonnes"
    # nothing comes back the other way, and the next run writes nothing
    again = sync("ITEM-PRODUCT"), sync("RESOURCE-PRODUCT")
    assert [(s["modified"], s[FROM_CRM]["modified"]) for s in again] == [(0, 0), (0, 0)]


def test_a_value_bc_refuses_fails_that_record_alone_naming_the_field(coupled, sync, sales_user, bc, state):
    accounts = {
        a["accountnumber"]: a["accountid"]
        for a in rows(sales_user, "accounts", select=["accountid", "accountnumber"], filter="accountnumber ne null")
    }
    sales_user.update("accounts", accounts[NUMBER], {"address1_country": "XX"})
    sales_user.update("accounts", accounts["30000"], {"telephone1": "+1 305 555 0123"})
    summary = sync()[FROM_CRM]
    assert (summary["modified"], summary["failed"]) == (1, 1)
    (error,) = state.errors(mapping="CUSTOMER").head(1).to_dict("records")
    assert error["field"] == "address1_country" and "customer 10000" in error["message"]
    assert "(XX)" in error["message"] and "Correct the value in Sales" in error["message"]
    assert customer(bc)["country"] != "XX"
    (other,) = rows(bc, "customers", filter="number eq '30000'")
    assert other["phoneNumber"] == "+1 305 555 0123"


def test_an_accounts_currency_reaches_the_customer_as_its_code(coupled, sync, sales_user, bc):
    currencies = {
        c["isocurrencycode"]: c["transactioncurrencyid"]
        for c in rows(sales_user, "transactioncurrencies", select=["transactioncurrencyid", "isocurrencycode"])
    }
    accounts = {
        a["accountnumber"]: a["accountid"] for a in rows(sales_user, "accounts", select=["accountid", "accountnumber"])
    }
    sales_user.update(
        "accounts",
        accounts[NUMBER],
        {"transactioncurrencyid@odata.bind": f"/transactioncurrencies({currencies['EUR']})"},
    )
    assert sync()[FROM_CRM]["modified"] == 1
    assert customer(bc)["currencyCode"] == "EUR"
    # the local currency is BC's blank currency code
    sales_user.update(
        "accounts",
        accounts[NUMBER],
        {"transactioncurrencyid@odata.bind": f"/transactioncurrencies({currencies['USD']})"},
    )
    assert sync()[FROM_CRM]["modified"] == 1
    assert customer(bc)["currencyCode"] == ""
