"""Lookup frames and constants a transform needs, read once per run (never once per record).

Each loader takes the run's :class:`Lookups` and returns a DataFrame or a value. Loaders that
ensure something exists in Sales (the local currency, the default price list) create it only
when the run may write. ``couplings:<MAPPING>`` gives another mapping's couplings (``bc_id``,
``crm_id``, ``extra``), e.g. ``couplings:CUSTOMER`` to find the account of an invoice's customer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pandas as pd

from include.bc_sales_sync.mappings.catalogue import DEFAULT_PRICE_LIST_NAME
from include.bc_sales_sync.transforms.base import deterministic_id
from include.bc_sales_sync.transforms.units import UNIT_GROUP_COLUMNS, UNIT_GROUP_PREFIX, resolve_unit_groups

log = logging.getLogger(__name__)


COUPLINGS_PREFIX = "couplings:"


def odata_string(value: str) -> str:
    """A quoted OData string literal."""
    return "'" + value.replace("'", "''") + "'"


class LookupFailed(LookupError):
    """A lookup every record of the run depends on failed; the message says what to fix."""


class Lookups:
    """Loads lookups on first use and keeps them for the rest of the run."""

    def __init__(self, bc, dataverse, *, state=None, dry_run: bool = False, options: dict[str, Any] | None = None):
        self.bc = bc
        self.dataverse = dataverse
        self.state = state
        self.dry_run = dry_run
        self.options = options or {}
        self._cache: dict[str, Any] = {}

    def get(self, name: str) -> Any:
        if name not in self._cache:
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


def load_local_currency(lookups: Lookups) -> str | None:
    """The Sales currency of the BC local currency, created (name = symbol = code) when missing."""
    code = local_currency_code(lookups)
    found = lookups.rows(
        "transactioncurrencies",
        select=["transactioncurrencyid", "isocurrencycode"],
        filter=f"isocurrencycode eq {odata_string(code)}",
    )
    if found:
        return found[0]["transactioncurrencyid"]
    currency_id = deterministic_id("CURRENCY", code)
    if lookups.dry_run:
        log.info("Dry run: would create the Sales currency %s.", code)
        return currency_id
    log.info("Creating the Sales currency %s for the local currency.", code)
    lookups.dataverse.upsert(
        "transactioncurrencies",
        currency_id,
        {
            "isocurrencycode": code,
            "currencyname": code,
            "currencysymbol": code,
            "exchangerate": 1.0,
            "currencyprecision": 2,
        },
        create_only=True,
    )
    return currency_id


def load_default_price_list(lookups: Lookups) -> str:
    """The price list every synchronized product is on; created in the local currency when missing."""
    found = lookups.rows(
        "pricelevels",
        select=["pricelevelid", "name"],
        filter=f"name eq {odata_string(DEFAULT_PRICE_LIST_NAME)}",
    )
    if found:
        return found[0]["pricelevelid"]
    price_list_id = deterministic_id("PRICE LIST", DEFAULT_PRICE_LIST_NAME)
    if lookups.dry_run:
        log.info("Dry run: would create the price list '%s'.", DEFAULT_PRICE_LIST_NAME)
        return price_list_id
    currency_id = lookups.get("local_currency")
    log.info("Creating the price list '%s'.", DEFAULT_PRICE_LIST_NAME)
    lookups.dataverse.upsert(
        "pricelevels",
        price_list_id,
        {
            "name": DEFAULT_PRICE_LIST_NAME,
            "description": "Created by the Business Central synchronization; do not edit by hand.",
            "transactioncurrencyid@odata.bind": f"/transactioncurrencies({currency_id})",
        },
        create_only=True,
    )
    return price_list_id


LOADERS: dict[str, Callable[[Lookups], Any]] = {
    "unit_groups": load_unit_groups,
    "units": load_units,
    "vendors": load_vendors,
    "local_currency": load_local_currency,
    "default_price_list": load_default_price_list,
}
# How a constant lookup is named in TransformContext.constants.
CONSTANT_NAMES = {"local_currency": "local_currency_id", "default_price_list": "default_price_list_id"}
