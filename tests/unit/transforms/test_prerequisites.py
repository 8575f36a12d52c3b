"""SALESPEOPLE, CURRENCY and CUSTOMER transforms: field values and per-record errors."""

from __future__ import annotations

import pandas as pd

from include.bc_sales_sync.mappings.catalogue import CURRENCY, CUSTOMER, SALESPEOPLE
from include.bc_sales_sync.transforms.base import TransformContext, TransformResult, deterministic_id
from include.bc_sales_sync.transforms.currencies import currencies_to_transaction_currencies
from include.bc_sales_sync.transforms.customers import customers_to_accounts
from include.bc_sales_sync.transforms.salespeople import salespeople_to_users

USD, EUR = "cur-usd", "cur-eur"


def frame(rows: list[dict], mapping, key: str = "id", existing: dict[str, str] | None = None) -> pd.DataFrame:
    """Source records as the engine hands them over: ``bc_id``, ``target_id``, ``existing``."""
    existing = existing or {}
    src = pd.DataFrame(rows)
    src["bc_id"] = src[key]
    src["existing"] = src["bc_id"].isin(existing)
    src["target_id"] = src["bc_id"].map(lambda i: existing.get(i) or deterministic_id(mapping.name, i))
    return src


def errors_by_id(result: TransformResult) -> dict[str, tuple[str, str]]:
    return {row.bc_id: (row.field, row.message) for row in result.errors.itertuples()}


# -- SALESPEOPLE ----------------------------------------------------------------------------------

USERS = pd.DataFrame(
    [
        # systemuserid, e-mail, name, disabled, licensed, integration user
        ("u-jr", "John.Roberts@Cronus.example", "John Roberts", False, True, False),
        ("u-ps", "ps@cronus.example", "Peter Saddow", False, True, False),
        ("u-rm", "rm@cronus.example", "Robin Moss", True, True, False),
        ("u-app", "app@cronus.example", "# Integration", False, False, True),
    ],
    columns=["systemuserid", "internalemailaddress", "fullname", "isdisabled", "islicensed", "isintegrationuser"],
)


def salesperson(code: str, email: str, name: str = "") -> dict:
    return {"id": f"sp-{code}", "code": code, "displayName": name or code, "email": email}


def run_salespeople(rows, existing=None):
    src = frame(rows, SALESPEOPLE, existing=existing)
    return salespeople_to_users(src, TransformContext(SALESPEOPLE, {"sales_users": USERS}))


def test_salespeople_match_users_by_email_regardless_of_case():
    result = run_salespeople(
        [salesperson("JR", " john.roberts@cronus.EXAMPLE "), salesperson("PS", "ps@cronus.example")]
    )
    assert result.errors.empty
    # the engine matches exact values, so the row carries the e-mail as Sales stores it
    assert result.primary.rows["internalemailaddress"].tolist() == ["John.Roberts@Cronus.example", "ps@cronus.example"]


def test_a_salesperson_with_no_sales_user_is_an_error_naming_it_and_the_email():
    result = run_salespeople(
        [
            salesperson("OF", "of@cronus.example", "Otis Falls"),
            salesperson("RM", "rm@cronus.example"),
            salesperson("APP", "app@cronus.example"),
            salesperson("NE", ""),
            salesperson("JR", "john.roberts@cronus.example"),
            salesperson("J2", "JOHN.ROBERTS@cronus.example"),
        ]
    )
    errors = errors_by_id(result)
    assert set(errors) == {"sp-OF", "sp-RM", "sp-APP", "sp-NE", "sp-J2"}
    field, message = errors["sp-OF"]
    assert field == "email"
    assert "Salesperson OF (Otis Falls)" in message and "of@cronus.example" in message and "Create the user" in message
    assert "disabled, not licensed or an integration user" in errors["sp-RM"][1]
    assert "disabled, not licensed or an integration user" in errors["sp-APP"][1]
    assert "has no e-mail" in errors["sp-NE"][1]
    assert "another salesperson has the same e-mail" in errors["sp-J2"][1]


def test_coupled_salespeople_are_not_checked_again():
    result = run_salespeople([salesperson("OF", "of@cronus.example")], existing={"sp-OF": "u-of"})
    assert result.errors.empty
    assert result.primary.rows["target_id"].tolist() == ["u-of"]


# -- CURRENCY -------------------------------------------------------------------------------------

RATES = pd.DataFrame({"code": ["EUR", "GBP", "USD"], "exchangerate": [0.92006624, 0.78727759, 1.0]})


def currency(code: str, name: str = "", symbol: str = "") -> dict:
    return {"id": f"c-{code}", "code": code, "displayName": name, "symbol": symbol}


def run_currencies(rows):
    src = frame(rows, CURRENCY)
    return currencies_to_transaction_currencies(src, TransformContext(CURRENCY, {"exchange_rates": RATES}))


def test_currency_fields_rate_and_defaults():
    result = run_currencies([currency("EUR", "Euro", "€"), currency("gbp")])
    rows = result.primary.rows.set_index("isocurrencycode")
    assert result.errors.empty
    assert rows.loc["EUR", "currencyname"] == "Euro" and rows.loc["EUR", "currencysymbol"] == "€"
    assert rows.loc["EUR", "exchangerate"] == 0.92006624
    # an empty name or symbol falls back to the code; codes are upper case as in BC
    assert rows.loc["GBP", "currencyname"] == "GBP" and rows.loc["GBP", "currencysymbol"] == "GBP"
    assert rows.loc["EUR", "currencyprecision"] == 2
    assert "currencyprecision" in result.primary.insert_only


def test_currency_without_rate_or_with_a_long_code_is_an_error():
    result = run_currencies([currency("SEK"), currency("EURO-X"), currency("EUR")])
    errors = errors_by_id(result)
    assert set(errors) == {"c-SEK", "c-EURO-X"}
    assert errors["c-SEK"][0] == "exchangerate" and "Currency SEK has no exchange rate" in errors["c-SEK"][1]
    assert "5 characters" in errors["c-EURO-X"][1]
    assert result.primary.rows["isocurrencycode"].tolist() == ["EUR"]


# -- CUSTOMER -------------------------------------------------------------------------------------

SALESPEOPLE_FRAME = pd.DataFrame({"code": ["JR", "PS"], "systemuserid": ["u-jr", "u-ps"]})
CURRENCIES = pd.DataFrame({"code": ["EUR", "USD"], "transactioncurrencyid": [EUR, USD]})


def customer(no: str, **values) -> dict:
    row = {
        "SystemId": f"cust-{no}",
        "No": no,
        "Name": f"Customer {no}",
        "Address": "1 Main Street",
        "Address_2": "",
        "City": "Atlanta",
        "County": "GA",
        "Country_Region_Code": "US",
        "Post_Code": "31772",
        "Phone_No": "+1 404 555 0100",
        "E_Mail": "info@example.com",
        "Home_Page": "",
        "Credit_Limit_LCY": 1000.0,
        "Salesperson_Code": "JR",
        "Currency_Code": "",
        "SystemModifiedAt": "2026-01-01T00:00:00.000Z",
    }
    row.update(values)
    return row


def run_customers(rows):
    src = frame(rows, CUSTOMER, key="SystemId")
    ctx = TransformContext(
        CUSTOMER, {"salespeople": SALESPEOPLE_FRAME, "currencies": CURRENCIES}, {"local_currency_id": USD}
    )
    return customers_to_accounts(src, ctx)


def test_customer_fields_owner_currency_and_type():
    result = run_customers(
        [
            customer("10000"),
            customer("61000", Name="Möbelhaus Grünwald GmbH", City="München", Currency_Code="EUR", Salesperson_Code=""),
        ]
    )
    assert result.errors.empty
    rows = result.primary.rows.set_index("accountnumber")
    adatum, moebel = rows.loc["10000"], rows.loc["61000"]
    assert adatum["name"] == "Customer 10000" and adatum["address1_line1"] == "1 Main Street"
    assert adatum["address1_line2"] is None and adatum["websiteurl"] is None  # blank text is null in Sales
    assert adatum["address1_stateorprovince"] == "GA" and adatum["creditlimit"] == 1000.0
    assert adatum["customertypecode"] == 3 and "customertypecode" in result.primary.insert_only
    assert adatum["transactioncurrencyid@odata.bind"] == f"/transactioncurrencies({USD})"
    assert adatum["ownerid@odata.bind"] == "/systemusers(u-jr)"
    assert moebel["name"] == "Möbelhaus Grünwald GmbH" and moebel["address1_city"] == "München"
    assert moebel["transactioncurrencyid@odata.bind"] == f"/transactioncurrencies({EUR})"
    # a blank salesperson leaves the owner alone: the column is Not Null, so None is never sent
    assert moebel["ownerid@odata.bind"] is None
    assert "ownerid@odata.bind" in result.primary.not_null


def test_customer_errors_name_the_customer_field_and_fix():
    result = run_customers(
        [
            customer("20000", Salesperson_Code="OF"),
            customer("70000", Currency_Code="GBP"),
            customer("30000", Name=""),
            customer("40000", Name="x" * 161),
            customer("50000", Credit_Limit_LCY=-5.0),
        ]
    )
    errors = errors_by_id(result)
    assert set(errors) == {"cust-20000", "cust-70000", "cust-30000", "cust-40000"}
    field, message = errors["cust-20000"]
    assert field == "Salesperson_Code" and "Customer 20000" in message and "salesperson OF" in message
    assert "SALESPEOPLE" in message and "retried" in message
    field, message = errors["cust-70000"]
    assert field == "Currency_Code" and "currency GBP" in message and "CURRENCY" in message
    assert errors["cust-30000"][0] == "Name" and "has no name" in errors["cust-30000"][1]
    assert "160" in errors["cust-40000"][1]
    (row,) = result.primary.rows.to_dict("records")
    assert row["accountnumber"] == "50000" and row["creditlimit"] == 0.0
