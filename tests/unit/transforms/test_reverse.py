"""Sales rows into BC values (pure): copied fields, BC's blocking rules, blanks, lengths."""

from __future__ import annotations

import pandas as pd

from include.bc_sales_sync.mappings.catalogue import CUSTOMER, ITEM_PRODUCT
from include.bc_sales_sync.transforms.reverse import accounts_to_customers, products_to_items


def account(**values) -> dict:
    return {
        "bc_id": "b1",
        "crm_id": "c1",
        "name": "Adatum",
        "address1_line1": "1 Main St",
        "address1_line2": None,
        "address1_postalcode": "31772",
        "address1_city": "Atlanta",
        "address1_country": "US",
        "address1_stateorprovince": "GA",
        "emailaddress1": "info@adatum.example",
        "websiteurl": "adatum.example",
        "telephone1": " +1 404 555 0100 ",
        "statecode": 0,
        "accountnumber": "10000",
        **values,
    }


def bc(**values) -> pd.DataFrame:
    return pd.DataFrame([{"bc_id": "b1", "Blocked": " ", "Address_2": "Suite 5", **values}])


def test_account_fields_become_customer_fields_trimmed():
    (values,) = accounts_to_customers(pd.DataFrame([account()]), bc(), CUSTOMER).values.to_dict("records")
    assert values["Name"] == "Adatum" and values["Phone_No"] == "+1 404 555 0100"
    assert values["Blocked"] == " "


def test_a_blank_sales_value_keeps_the_bc_value():
    (values,) = accounts_to_customers(pd.DataFrame([account()]), bc(), CUSTOMER).values.to_dict("records")
    assert values["Address_2"] == "Suite 5"


def test_a_deactivated_account_blocks_a_customer_not_blocked_yet_and_never_unblocks():
    inactive = pd.DataFrame([account(statecode=1)])
    assert accounts_to_customers(inactive, bc(), CUSTOMER).values["Blocked"].tolist() == ["All"]
    assert accounts_to_customers(inactive, bc(Blocked="Ship"), CUSTOMER).values["Blocked"].tolist() == ["Ship"]
    active = pd.DataFrame([account(statecode=0)])
    assert accounts_to_customers(active, bc(Blocked="All"), CUSTOMER).values["Blocked"].tolist() == ["All"]


def test_a_value_longer_than_the_bc_field_is_an_error_naming_record_field_and_limit():
    result = accounts_to_customers(pd.DataFrame([account(address1_city="X" * 31)]), bc(), CUSTOMER)
    (error,) = result.errors.to_dict("records")
    assert error["bc_id"] == "b1" and error["field"] == "address1_city"
    assert "customer c1" in error["message"] and "(31 characters)" in error["message"]
    assert "City takes at most 30" in error["message"] and "Shorten it in Sales" in error["message"]


def test_a_product_not_active_in_sales_blocks_its_item():
    sales = pd.DataFrame(
        [
            {"bc_id": "i1", "crm_id": "p1", "name": "Desk", "statecode": 0, "productnumber": "1896-S"},
            {"bc_id": "i2", "crm_id": "p2", "name": "Chair", "statecode": 1, "productnumber": "1900-S"},
        ]
    )
    values = products_to_items(sales, pd.DataFrame({"bc_id": ["i1", "i2"], "Blocked": [False, False]}), ITEM_PRODUCT)
    assert values.values[["bc_id", "Description", "Blocked"]].values.tolist() == [
        ["i1", "Desk", False],
        ["i2", "Chair", True],
    ]
