"""Resolving Business Central codes to the Sales rows they are coupled to, for every transform.

A BC record refers to others by code (a salesperson code, a currency code, an item number);
Sales refers to rows by id. The lookup frames the engine loads once per run map one to the
other; these helpers merge them in (vectorized, one merge per reference) and phrase the
per-record error when a reference is not coupled yet.
"""

from __future__ import annotations

import pandas as pd

from include.bc_sales_sync.transforms.base import ErrorCollector, text

# Lookup frame layouts (see include.bc_sales_sync.sync.lookups).
SALESPEOPLE_COLUMNS = ["code", "systemuserid"]
CURRENCY_COLUMNS = ["code", "transactioncurrencyid"]
PRODUCT_COLUMNS = ["kind", "number", "productid", "uomid", "uomscheduleid", "statecode"]
PRICE_GROUP_COLUMNS = ["code", "pricelevelid", "transactioncurrencyid"]
PRICE_LIST_COLUMNS = ["pricelevelid", "name", "transactioncurrencyid", "statecode"]
PRICE_LIST_ITEM_COLUMNS = ["pricelevelid", "productid", "uomid"]
CUSTOMER_COMPANY_COLUMNS = ["company_no", "customer_no", "customer_id", "accountid"]
PERSON_CONTACT_COLUMNS = ["number", "contactid"]


def frame(ctx_lookups: dict[str, pd.DataFrame], name: str, columns: list[str]) -> pd.DataFrame:
    """A lookup frame, or an empty one with its columns when the run did not load it."""
    found = ctx_lookups.get(name)
    if found is None:
        return pd.DataFrame(columns=columns)
    return found


def resolve(codes: pd.Series, table: pd.DataFrame, key: str, value: str) -> pd.Series:
    """``table[value]`` for each code (matched on ``table[key]``), aligned with ``codes``; NaN when absent."""
    if table.empty:
        return pd.Series(None, index=codes.index, dtype=object)
    lookup = table.drop_duplicates(key).set_index(key)[value]
    return codes.map(lookup)


def code_of(series: pd.Series) -> pd.Series:
    """BC codes as BC stores them: trimmed and upper case."""
    return text(series).str.strip().str.upper()


def blank_to_none(frame: pd.DataFrame, columns: list[str]) -> None:
    """Empty text becomes None: Dataverse stores an empty string as null, so both compare equal."""
    for column in columns:
        if column in frame:
            values = frame[column]
            frame[column] = values.where(values.notna() & (values.astype(str) != ""), None)


def not_coupled(label: pd.Series, what: str, codes: pd.Series, sales_row: str, job: str, record: str) -> pd.Series:
    """'<label>: <what> <code> is not coupled to a <Sales row> yet ...' for each record."""
    return (
        label
        + f": {what} "
        + codes
        + f" is not coupled to {sales_row} yet. Run the {job} job (or fix its errors); the {record} is retried "
        "on the next run."
    )


def bc_date(series: pd.Series) -> pd.Series:
    """BC dates as Dataverse date-only values; BC's blank date (0001-01-01) becomes None."""
    values = text(series).str[:10]
    return values.where(~values.isin(["", "0001-01-01"]), None)


def _column(src: pd.DataFrame, name: str) -> pd.Series:
    return src[name] if name in src else pd.Series("", index=src.index)


def owner_ids(
    src: pd.DataFrame, lookups: dict[str, pd.DataFrame], errors: ErrorCollector, label: pd.Series, row: str, record: str
) -> pd.Series:
    """The owner of each record's Sales ``row``, as BC's person ownership model sets it: the Sales
    user coupled to its salesperson. A blank salesperson gives None (the owner is left alone); a
    salesperson that is not coupled is an error, retried on the next run."""
    salesperson = code_of(_column(src, "Salesperson_Code"))
    owner_id = resolve(salesperson, frame(lookups, "salespeople", SALESPEOPLE_COLUMNS), "code", "systemuserid")
    missing = (salesperson != "") & owner_id.isna()
    errors.add(
        src.loc[missing, "bc_id"],
        "Salesperson_Code",
        label[missing]
        + ": its salesperson "
        + salesperson[missing]
        + f" is not coupled to a Sales user, so the {row} has no owner. Give the salesperson the e-mail of a Sales "
        f"user and run the SALESPEOPLE job (or fix its errors); the {record} is retried on the next run.",
    )
    return owner_id.where(salesperson != "", None)


def currency_ids(
    src: pd.DataFrame,
    lookups: dict[str, pd.DataFrame],
    local_id: str | None,
    errors: ErrorCollector,
    label: pd.Series,
    record: str,
) -> pd.Series:
    """The Sales currency of each record's ``Currency_Code``: blank is the local currency, another
    one must be coupled by CURRENCY (an error otherwise, retried on the next run)."""
    code = code_of(_column(src, "Currency_Code"))
    currency_id = resolve(code, frame(lookups, "currencies", CURRENCY_COLUMNS), "code", "transactioncurrencyid")
    currency_id = currency_id.where(code != "", local_id)
    missing = (code != "") & currency_id.isna()
    errors.add(
        src.loc[missing, "bc_id"],
        "Currency_Code",
        not_coupled(label[missing], "its currency", code[missing], "a Sales currency", "CURRENCY", record),
    )
    return currency_id
