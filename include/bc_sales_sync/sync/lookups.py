"""Lookup frames and constants a transform needs, read once per run (never once per record).

Each loader takes the run's :class:`Lookups` and returns a DataFrame or a value; loaders only
read. Rows a run needs to exist (the local currency, the default price list) are ensured before
the chunk loop by :mod:`include.bc_sales_sync.sync.prerequisites` and handed in with
:meth:`Lookups.provide`. ``couplings:<MAPPING>`` gives another mapping's couplings (``bc_id``,
``crm_id``, ``extra``), e.g. ``couplings:CUSTOMER`` to find the account of an invoice's customer.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import pandas as pd

from include.bc_sales_sync.odata import odata_string
from include.bc_sales_sync.transforms.units import UNIT_GROUP_COLUMNS, UNIT_GROUP_PREFIX, resolve_unit_groups

log = logging.getLogger(__name__)


COUPLINGS_PREFIX = "couplings:"


class LookupFailed(LookupError):
    """A lookup every record of the run depends on failed; the message says what to fix."""


class Lookups:
    """Loads lookups on first use and keeps them for the rest of the run."""

    def __init__(self, bc, dataverse, *, state=None, options: dict[str, Any] | None = None):
        self.bc = bc
        self.dataverse = dataverse
        self.state = state
        self.options = options or {}
        self._cache: dict[str, Any] = {}

    def has(self, name: str) -> bool:
        return name in self._cache

    def provide(self, name: str, value: Any) -> None:
        """Hand in a value loaded elsewhere (a prerequisite ensured before the chunk loop)."""
        self._cache[name] = value

    def get(self, name: str) -> Any:
        if name not in self._cache:
            if name in ENSURED:
                raise LookupFailed(
                    f"The lookup '{name}' is a prerequisite: ensure it before the chunk loop "
                    "(include.bc_sales_sync.sync.prerequisites.ensure)."
                )
            if name.startswith(COUPLINGS_PREFIX):
                self._cache[name] = self.couplings(name[len(COUPLINGS_PREFIX) :])
            else:
                try:
                    loader = LOADERS[name]
                except KeyError:
                    known = ", ".join([*sorted(LOADERS), f"{COUPLINGS_PREFIX}<MAPPING>"])
                    raise LookupFailed(f"Unknown lookup '{name}'; known: {known}.") from None
                self._cache[name] = loader(self)
        return self._cache[name]

    def couplings(self, mapping: str) -> pd.DataFrame:
        """The working couplings of another mapping (skipped and never-written ones left out)."""
        frame = self.state.couplings(mapping)
        frame = frame[frame["crm_id"].notna() & ~frame["skipped"].fillna(False).astype(bool)]
        return frame[["bc_id", "crm_id", "extra"]].reset_index(drop=True)

    def frames_and_constants(self, names: tuple[str, ...]) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
        frames, constants = {}, {}
        for name in names:
            value = self.get(name)
            if isinstance(value, pd.DataFrame):
                frames[name] = value
            else:
                constants[CONSTANT_NAMES.get(name, name)] = value
        return frames, constants

    def rows(self, entity_set: str, *, select: list[str], filter: str | None = None) -> list[dict]:
        out: list[dict] = []
        for page in self.dataverse.iter_pages(entity_set, select=select, filter=filter):
            out.extend(page)
        return out


def load_unit_groups(lookups: Lookups) -> pd.DataFrame:
    """Unit groups named ``NAV ...`` in Sales with their units (one row per unit)."""
    schedules = pd.DataFrame(
        lookups.rows(
            "uomschedules",
            select=["uomscheduleid", "name", "statecode"],
            filter=f"startswith(name,{odata_string(UNIT_GROUP_PREFIX)})",
        ),
        columns=["uomscheduleid", "name", "statecode"],
    )
    units = pd.DataFrame(
        lookups.rows("uoms", select=["uomid", "name", "quantity", "isschedulebaseuom", "_uomscheduleid_value"]),
        columns=["uomid", "name", "quantity", "isschedulebaseuom", "_uomscheduleid_value"],
    )
    merged = schedules.rename(columns={"name": "schedule_name"}).merge(
        units.rename(columns={"name": "uom_name", "_uomscheduleid_value": "uomscheduleid"}),
        on="uomscheduleid",
        how="left",
    )
    return merged[UNIT_GROUP_COLUMNS]


def load_units(lookups: Lookups) -> pd.DataFrame:
    return resolve_unit_groups(lookups.get("unit_groups"))


def load_vendors(lookups: Lookups) -> pd.DataFrame:
    rows: list[dict] = []
    for page in lookups.bc.iter_pages("vendors", select=["number", "displayName"]):
        rows.extend(page)
    return pd.DataFrame(rows, columns=["number", "displayName"]).rename(columns={"displayName": "name"})


def local_currency_code(lookups: Lookups) -> str:
    """The company's local currency: a mapping option, else BC's company information."""
    code = lookups.options.get("local_currency_code")
    if not code:
        from include.bc_sales_sync.hooks.exceptions import NotFound

        try:
            for page in lookups.bc.iter_pages("companyInformation", select=["currencyCode"]):
                code = next((row.get("currencyCode") for row in page if row.get("currencyCode")), None)
                break
        except NotFound:
            code = None
    if not code:
        raise LookupFailed(
            "The local currency of the Business Central company is unknown: set the mapping option "
            "'local_currency_code' (e.g. \"USD\") or the company's currency code in Business Central."
        )
    return code


# -- the prerequisites, price lists and invoices ------------------------------------------------


def _bc_rows(lookups: Lookups, entity_set: str, select: list[str], **kwargs: Any) -> pd.DataFrame:
    rows: list[dict] = []
    for page in lookups.bc.iter_pages(entity_set, select=select, **kwargs):
        rows.extend(page)
    return pd.DataFrame(rows, columns=select)


def _coupled(lookups: Lookups, mapping: str, records: pd.DataFrame, id_column: str) -> pd.DataFrame:
    """``records`` with ``crm_id``: the Sales row each one is coupled to (uncoupled ones left out)."""
    couplings = lookups.get(COUPLINGS_PREFIX + mapping)[["bc_id", "crm_id"]]
    keyed = records.assign(bc_id=records[id_column].astype(str).str.lower())
    return keyed.merge(couplings.assign(bc_id=couplings["bc_id"].astype(str).str.lower()), on="bc_id")


def load_sales_users(lookups: Lookups) -> pd.DataFrame:
    """Sales users with what decides whether they can own records (SALESPEOPLE)."""
    columns = ["systemuserid", "internalemailaddress", "fullname", "isdisabled", "islicensed", "isintegrationuser"]
    return pd.DataFrame(lookups.rows("systemusers", select=columns), columns=columns)


def load_local_currency_code(lookups: Lookups) -> str:
    return local_currency_code(lookups)


def _base_currency_code(lookups: Lookups) -> str | None:
    """The ISO code of the Sales organization's base currency."""
    organizations = lookups.rows("organizations", select=["_basecurrencyid_value"])
    base_id = organizations[0].get("_basecurrencyid_value") if organizations else None
    if not base_id:
        return None
    found = lookups.rows(
        "transactioncurrencies", select=["isocurrencycode"], filter=f"transactioncurrencyid eq {base_id}"
    )
    return found[0]["isocurrencycode"] if found else None


def load_exchange_rates(lookups: Lookups) -> pd.DataFrame:
    """The Sales exchange rate of every BC currency with a current rate: units of it per unit of the
    Sales base currency (BC: GetCRMLCYToFCYExchangeRate; the inverse of the rate BC shows).

    BC's currency factor of a currency is ``exchangeRateAmount / relationalExchangeRateAmount``
    (times the relational currency's factor when the rate is given against another currency), from
    the rate with the latest starting date up to today. A Sales base currency other than the local
    currency divides by its own factor. Currencies without a rate are left out (their records fail).
    """
    from include.bc_sales_sync.hooks.exceptions import NotFound

    local = lookups.get("local_currency_code").upper()
    columns = [
        "currencyCode",
        "startingDate",
        "exchangeRateAmount",
        "relationalCurrencyCode",
        "relationalExchangeRateAmount",
    ]
    try:
        rates = _bc_rows(lookups, "currencyExchangeRates", columns)
    except NotFound:
        log.warning("Business Central serves no currencyExchangeRates; currencies without a rate cannot be synced.")
        rates = pd.DataFrame(columns=columns)
    today = dt.datetime.now(dt.UTC).date().isoformat()
    rates = rates[rates["startingDate"].astype(str).str[:10] <= today]
    current = rates.sort_values("startingDate").groupby(rates["currencyCode"].str.upper()).last()

    factors: dict[str, float | None] = {local: 1.0, "": 1.0}

    def factor(code: str, seen: frozenset[str] = frozenset()) -> float | None:
        if code in factors:
            return factors[code]
        if code not in current.index or code in seen:
            return None
        row = current.loc[code]
        amount, relational = float(row["exchangeRateAmount"] or 0), float(row["relationalExchangeRateAmount"] or 0)
        other = factor(str(row["relationalCurrencyCode"] or "").upper(), seen | {code})
        factors[code] = amount / relational * other if amount > 0 and relational > 0 and other else None
        return factors[code]

    base = (_base_currency_code(lookups) or local).upper()
    base_factor = factor(base)
    out = []
    for code in sorted({*current.index, local}):  # one pass per currency
        own = factor(code)
        if own and base_factor:
            out.append({"code": code, "exchangerate": round(own / base_factor, 10)})
    return pd.DataFrame(out, columns=["code", "exchangerate"])


def load_currencies(lookups: Lookups) -> pd.DataFrame:
    """BC currency code -> the Sales currency it is coupled to (CURRENCY); the local currency's code
    -> the local Sales currency."""
    bc = _bc_rows(lookups, "currencies", ["id", "code"])
    coupled = _coupled(lookups, "CURRENCY", bc, "id")
    frame = pd.DataFrame({"code": coupled["code"].astype(str).str.upper(), "transactioncurrencyid": coupled["crm_id"]})
    local = lookups.get("local_currency_code").upper()
    if local not in set(frame["code"]):
        local_row = pd.DataFrame({"code": [local], "transactioncurrencyid": [lookups.get("local_currency")]})
        frame = pd.concat([frame, local_row], ignore_index=True)
    return frame


def load_salespeople(lookups: Lookups) -> pd.DataFrame:
    """BC salesperson code -> the Sales user it is coupled to (SALESPEOPLE)."""
    bc = _bc_rows(lookups, "salespeoplePurchasers", ["id", "code"])
    coupled = _coupled(lookups, "SALESPEOPLE", bc, "id")
    return pd.DataFrame({"code": coupled["code"].astype(str).str.upper(), "systemuserid": coupled["crm_id"]})


def load_price_group_currencies(lookups: Lookups) -> pd.DataFrame:
    """Per customer price group, the currency of its first sales price in BC's key order (what the
    group's price list is created in)."""
    key = ["Item_No", "Starting_Date", "Currency_Code", "Variant_Code", "Unit_of_Measure_Code", "Minimum_Quantity"]
    prices = _bc_rows(
        lookups,
        "SalesPrices",
        ["Sales_Code", *key],
        filter="Sales_Type eq 'Customer Price Group' and Sales_Code ne ''",
        web_service=True,
    )
    first = prices.sort_values(["Sales_Code", *key], kind="stable").drop_duplicates("Sales_Code")
    return pd.DataFrame({"group": first["Sales_Code"].astype(str).str.upper(), "currency_code": first["Currency_Code"]})


def load_price_lists(lookups: Lookups) -> pd.DataFrame:
    """Every Sales price list with its currency and state."""
    columns = ["pricelevelid", "name", "_transactioncurrencyid_value", "statecode"]
    frame = pd.DataFrame(lookups.rows("pricelevels", select=columns), columns=columns)
    return frame.rename(columns={"_transactioncurrencyid_value": "transactioncurrencyid"})


def load_price_groups(lookups: Lookups) -> pd.DataFrame:
    """Customer price group code -> its coupled Sales price list and that list's currency."""
    bc = _bc_rows(lookups, "CustomerPriceGroups", ["SystemId", "Code"], web_service=True)
    coupled = _coupled(lookups, "CUSTPRCGRP-PRICE", bc, "SystemId")
    lists = lookups.get("price_lists")
    merged = coupled.merge(lists, left_on="crm_id", right_on="pricelevelid", how="left")
    return pd.DataFrame(
        {
            "code": merged["Code"].astype(str).str.upper(),
            "pricelevelid": merged["crm_id"],
            "transactioncurrencyid": merged["transactioncurrencyid"],
        }
    )


def load_products(lookups: Lookups) -> pd.DataFrame:
    """Products coupled to BC items (kind ``Item``) and resources (``Resource``): number, unit, state."""
    columns = ["productid", "productnumber", "statecode", "_defaultuomid_value", "_defaultuomscheduleid_value"]
    products = pd.DataFrame(lookups.rows("products", select=columns), columns=columns)
    parts = []
    for kind, mapping in (("Item", "ITEM-PRODUCT"), ("Resource", "RESOURCE-PRODUCT")):
        couplings = lookups.get(COUPLINGS_PREFIX + mapping)
        coupled = products[products["productid"].isin(set(couplings["crm_id"]))]
        parts.append(coupled.assign(kind=kind))
    merged = pd.concat(parts, ignore_index=True)
    return pd.DataFrame(
        {
            "kind": merged["kind"],
            "number": merged["productnumber"],
            "productid": merged["productid"],
            "uomid": merged["_defaultuomid_value"],
            "uomscheduleid": merged["_defaultuomscheduleid_value"],
            "statecode": merged["statecode"],
        }
    )


def load_price_list_items(lookups: Lookups) -> pd.DataFrame:
    """Items of every price list but the default one (which every synchronized product is on)."""
    lookup_columns = ["_pricelevelid_value", "_productid_value", "_uomid_value"]
    columns = ["productpricelevelid", *lookup_columns]
    default_id = lookups.get("default_price_list")
    frame = pd.DataFrame(
        lookups.rows("productpricelevels", select=columns, filter=f"_pricelevelid_value ne {default_id}"),
        columns=columns,
    )
    return frame.rename(columns={c: c[1:-6] for c in lookup_columns})


# -- contacts and opportunities -----------------------------------------------------------------

CUSTOMER_COMPANY_COLUMNS = ["company_no", "customer_no", "customer_id", "accountid"]
# Marketing Setup "Bus. Rel. Code for Customers" in a BC company set up as BC sets it up.
CUSTOMER_RELATION_CODE = "CUST"


def load_customer_companies(lookups: Lookups) -> pd.DataFrame:
    """Company contacts linked to a customer by the customers' business relation (mapping option
    ``customer_relation_code``), with the customer and the account it is coupled to (CUSTOMER;
    None when it is not coupled)."""
    code = lookups.options.get("customer_relation_code") or CUSTOMER_RELATION_CODE
    links = _bc_rows(
        lookups,
        "ContactBusinessRelations",
        ["Contact_No", "No"],
        filter=f"Link_to_Table eq 'Customer' and Business_Relation_Code eq {odata_string(code)}",
        web_service=True,
    )
    customers = _bc_rows(lookups, "customers", ["id", "number"])
    couplings = lookups.get(COUPLINGS_PREFIX + "CUSTOMER")
    accounts = dict(zip(couplings["bc_id"].astype(str).str.lower(), couplings["crm_id"], strict=True))
    ids = dict(zip(customers["number"], customers["id"].astype(str).str.lower(), strict=True))
    frame = pd.DataFrame({"company_no": links["Contact_No"], "customer_no": links["No"]})
    frame["customer_id"] = frame["customer_no"].map(ids)
    frame["accountid"] = frame["customer_id"].map(accounts)
    return frame.astype(object).where(frame.notna(), None)[CUSTOMER_COMPANY_COLUMNS]


def load_person_contacts(lookups: Lookups) -> pd.DataFrame:
    """BC person contact number -> the Sales contact it is coupled to (CONTACT)."""
    persons = _bc_rows(lookups, "ContactCard", ["SystemId", "No"], filter="Type eq 'Person'", web_service=True)
    coupled = _coupled(lookups, "CONTACT", persons, "SystemId")
    return pd.DataFrame({"number": coupled["No"].astype(str), "contactid": coupled["crm_id"]})


LOADERS: dict[str, Callable[[Lookups], Any]] = {
    "unit_groups": load_unit_groups,
    "units": load_units,
    "vendors": load_vendors,
    "sales_users": load_sales_users,
    "local_currency_code": load_local_currency_code,
    "exchange_rates": load_exchange_rates,
    "currencies": load_currencies,
    "salespeople": load_salespeople,
    "price_group_currencies": load_price_group_currencies,
    "price_lists": load_price_lists,
    "price_groups": load_price_groups,
    "products": load_products,
    "price_list_items": load_price_list_items,
    "customer_companies": load_customer_companies,
    "person_contacts": load_person_contacts,
}
# Lookups that are prerequisites: ensured (found or created) before the chunk loop, not loaded here.
ENSURED = frozenset({"local_currency", "default_price_list"})
# How a constant lookup is named in TransformContext.constants.
CONSTANT_NAMES = {"local_currency": "local_currency_id", "default_price_list": "default_price_list_id"}
