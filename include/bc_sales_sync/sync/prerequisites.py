"""Rows every chunk of a run needs in Sales, created (when missing) before the chunk loop starts.

The local currency (the Sales currency of BC's local currency) and the default price list every
synchronized product is on. Each is looked up first and created only when missing, with a
deterministic id, so a rerun finds it; a dry run only says what it would create. Lookups then
read them like any other lookup, and never write.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from include.bc_sales_sync.mappings.catalogue import DEFAULT_PRICE_LIST_NAME
from include.bc_sales_sync.odata import odata_string
from include.bc_sales_sync.sync.lookups import Lookups, local_currency_code
from include.bc_sales_sync.transforms.base import deterministic_id

log = logging.getLogger(__name__)


def _find_or_create(
    lookups: Lookups, entity_set: str, key: str, condition: str, new_id: str, what: str, body, *, dry_run: bool
) -> str:
    """The id of the row matching ``condition``; created with ``body()`` and ``new_id`` when missing."""
    found = lookups.rows(entity_set, select=[key], filter=condition)
    if found:
        return found[0][key]
    if dry_run:
        log.info("Dry run: would create %s.", what)
        return new_id
    log.info("Creating %s.", what)
    lookups.dataverse.upsert(entity_set, new_id, body(), create_only=True)
    return new_id


def ensure_local_currency(lookups: Lookups, *, dry_run: bool) -> str:
    """The Sales currency of the BC local currency, created (name = symbol = code) when missing."""
    code = local_currency_code(lookups)
    return _find_or_create(
        lookups,
        "transactioncurrencies",
        "transactioncurrencyid",
        f"isocurrencycode eq {odata_string(code)}",
        deterministic_id("CURRENCY", code),
        f"the Sales currency {code} for the local currency",
        lambda: {
            "isocurrencycode": code,
            "currencyname": code,
            "currencysymbol": code,
            "exchangerate": 1.0,
            "currencyprecision": 2,
        },
        dry_run=dry_run,
    )


def ensure_default_price_list(lookups: Lookups, *, dry_run: bool) -> str:
    """The price list every synchronized product is on; created in the local currency when missing."""

    def body() -> dict:
        currency_id = ensure(lookups, ["local_currency"], dry_run=dry_run)["local_currency"]
        return {
            "name": DEFAULT_PRICE_LIST_NAME,
            "description": "Created by the Business Central synchronization; do not edit by hand.",
            "transactioncurrencyid@odata.bind": f"/transactioncurrencies({currency_id})",
        }

    return _find_or_create(
        lookups,
        "pricelevels",
        "pricelevelid",
        f"name eq {odata_string(DEFAULT_PRICE_LIST_NAME)}",
        deterministic_id("PRICE LIST", DEFAULT_PRICE_LIST_NAME),
        f"the price list '{DEFAULT_PRICE_LIST_NAME}'",
        body,
        dry_run=dry_run,
    )


# Lookup names whose rows are ensured rather than only read, in the order they are ensured.
PREREQUISITES: dict[str, Callable[..., str]] = {
    "local_currency": ensure_local_currency,
    "default_price_list": ensure_default_price_list,
}


# Lookups that read a prerequisite, so a mapping naming them needs it ensured too.
NEEDED_BY = {"currencies": ("local_currency",), "price_list_items": ("default_price_list",)}


def ensure(lookups: Lookups, names: Iterable[str], *, dry_run: bool) -> dict[str, str]:
    """Ensure the prerequisites that the lookups ``names`` are or read exist, and hand their ids
    to ``lookups``.

    :return: the id of each prerequisite ensured.
    """
    names = set(names)
    needed = names | {p for name in names for p in NEEDED_BY.get(name, ())}
    ensured = {}
    for name in PREREQUISITES:
        if name in needed:
            if not lookups.has(name):
                lookups.provide(name, PREREQUISITES[name](lookups, dry_run=dry_run))
            ensured[name] = lookups.get(name)
    return ensured
