"""Lookups of the prerequisites and price lists: BC's exchange rates as Sales rates, coupled codes."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from include.bc_sales_sync.sync.lookups import LookupFailed, Lookups
from include.bc_sales_sync.sync.prerequisites import ensure

TODAY = dt.datetime.now(dt.UTC).date()


class FakeBC:
    def __init__(self, tables: dict[str, list[dict]]):
        self.tables = tables

    def iter_pages(self, entity_set, *, select=None, filter=None, web_service=False, **_):
        rows = self.tables.get(entity_set, [])
        yield [{k: r.get(k) for k in select} if select else r for r in rows]


class FakeDataverse:
    def __init__(self, tables: dict[str, list[dict]]):
        self.tables = tables

    def iter_pages(self, entity_set, *, select=None, filter=None):
        rows = self.tables.get(entity_set, [])
        if filter and " eq " in filter:  # enough for "<column> eq <value>"
            column, _, value = filter.partition(" eq ")
            rows = [r for r in rows if str(r.get(column)) == value.strip("'")]
        yield rows


class FakeState:
    def __init__(self, couplings: dict[str, list[tuple[str, str]]]):
        self.data = couplings

    def couplings(self, mapping):
        pairs = self.data.get(mapping, [])
        return pd.DataFrame(
            {"bc_id": [b for b, _ in pairs], "crm_id": [c for _, c in pairs], "extra": None, "skipped": False}
        )


def rate(code, amount, relational_amount, relational="", starting=TODAY - dt.timedelta(days=30)):
    return {
        "currencyCode": code,
        "startingDate": starting.isoformat(),
        "exchangeRateAmount": amount,
        "relationalCurrencyCode": relational,
        "relationalExchangeRateAmount": relational_amount,
    }


RATES = [
    rate("EUR", 100, 108.69),
    rate("EUR", 100, 150.0, starting=TODAY - dt.timedelta(days=400)),  # an older rate
    rate("EUR", 100, 99.0, starting=TODAY + dt.timedelta(days=10)),  # not in effect yet
    rate("GBP", 1, 1.17, relational="EUR"),  # given against the euro
    rate("JPY", 0, 0),  # no usable rate
]


def lookups(base: str = "USD", rates=RATES, couplings=None, **options) -> Lookups:
    bc = FakeBC(
        {
            "companyInformation": [{"currencyCode": "USD"}],
            "currencyExchangeRates": rates,
            "currencies": [
                {"id": "c-eur", "code": "EUR"},
                {"id": "c-gbp", "code": "gbp"},
                {"id": "c-jpy", "code": "JPY"},
            ],
            "salespeoplePurchasers": [{"id": "S-JR", "code": "jr"}, {"id": "s-of", "code": "OF"}],
        }
    )
    dataverse = FakeDataverse(
        {
            "organizations": [{"_basecurrencyid_value": f"tc-{base.lower()}"}],
            "transactioncurrencies": [
                {"transactioncurrencyid": f"tc-{c.lower()}", "isocurrencycode": c} for c in ("USD", "EUR", "GBP")
            ],
        }
    )
    return Lookups(bc, dataverse, state=FakeState(couplings or {}), options=options)


def test_sales_rates_are_bc_rates_inverted_from_the_rate_in_effect():
    rates = lookups().get("exchange_rates").set_index("code")["exchangerate"]
    assert rates["USD"] == 1.0
    assert rates["EUR"] == pytest.approx(100 / 108.69)  # units of EUR per USD
    assert rates["GBP"] == pytest.approx(1 / 1.17 * 100 / 108.69)  # via its rate against the euro
    assert "JPY" not in rates  # a zero rate is no rate: the currency fails in its transform


def test_a_sales_base_currency_other_than_the_local_one_divides_by_its_own_rate():
    rates = lookups(base="EUR").get("exchange_rates").set_index("code")["exchangerate"]
    assert rates["EUR"] == pytest.approx(1.0)
    assert rates["USD"] == pytest.approx(1.0869)
    assert rates["GBP"] == pytest.approx(1 / 1.17)


def test_without_rates_in_business_central_there_are_none():
    rates = lookups(rates=[]).get("exchange_rates")
    assert rates["code"].tolist() == ["USD"] and rates["exchangerate"].tolist() == [1.0]


def test_codes_resolve_through_couplings_and_the_local_currency_is_the_sales_one():
    found = lookups(
        couplings={"CURRENCY": [("c-eur", "tc-eur"), ("C-GBP", "tc-gbp")], "SALESPEOPLE": [("s-jr", "u-jr")]}
    )
    assert ensure(found, ["currencies"], dry_run=True) == {"local_currency": "tc-usd"}  # it exists: found, not made
    currencies = found.get("currencies").set_index("code")["transactioncurrencyid"].to_dict()
    assert currencies == {"EUR": "tc-eur", "GBP": "tc-gbp", "USD": "tc-usd"}  # JPY is not coupled
    salespeople = found.get("salespeople").set_index("code")["systemuserid"].to_dict()
    assert salespeople == {"JR": "u-jr"}  # codes upper case, ids compared without regard to case


def test_a_prerequisite_is_never_loaded_by_a_lookup():
    with pytest.raises(LookupFailed, match="prerequisite"):
        lookups().get("currencies")  # reads the local currency, which nobody ensured


def test_a_dry_run_names_the_prerequisites_it_would_create_and_writes_nothing():
    found = lookups(base="EUR")
    found.dataverse.tables["transactioncurrencies"] = []
    found.dataverse.upsert = None  # any write would fail
    ensured = ensure(found, ["price_list_items"], dry_run=True)
    assert set(ensured) == {"default_price_list"}
    assert found.has("default_price_list")
