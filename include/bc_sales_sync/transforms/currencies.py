"""CURRENCY: a BC currency becomes a Sales transaction currency, matched by ISO code (facts §2.5).

Code -> isocurrencycode, Symbol -> currencysymbol, Description -> currencyname; an empty symbol
or name falls back to the code, a new currency gets Sales' default precision (2). The exchange
rate is computed as BC does: units of the currency per unit of the Sales base currency, the
inverse of the rate BC shows (see ``exchange_rates`` in :mod:`include.bc_sales_sync.sync.lookups`).
A currency without an exchange rate cannot be created or updated.
"""

from __future__ import annotations

import pandas as pd

from include.bc_sales_sync.transforms.base import (
    ErrorCollector,
    TargetRows,
    TransformContext,
    TransformResult,
    apply_field_maps,
    clean,
    insert_only_columns,
    numbers,
    text,
    without,
)
from include.bc_sales_sync.transforms.references import code_of

ISO_CODE_MAX = 5  # transactioncurrency.isocurrencycode holds at most 5 characters
NAME_MAX = 100
SYMBOL_MAX = 10
RATE_DECIMALS = 10  # BC rounds FCY-to-FCY rates to 1e-10
EXCHANGE_RATE_COLUMNS = ["code", "exchangerate"]


def currencies_to_transaction_currencies(src: pd.DataFrame, ctx: TransformContext) -> TransformResult:
    """:param ctx: ``lookups["exchange_rates"]`` (:data:`EXCHANGE_RATE_COLUMNS`): the Sales rate per code."""
    errors = ErrorCollector()
    code = code_of(src["code"])
    label = "Currency " + code
    blank = code == ""
    errors.add(src.loc[blank, "bc_id"], "code", "A currency has no code; give it a code in Business Central.")
    long = code.str.len() > ISO_CODE_MAX
    errors.add(
        src.loc[long, "bc_id"],
        "code",
        label[long]
        + f": the code is longer than the {ISO_CODE_MAX} characters of a Sales currency code (ISO 4217 codes have "
        "3). Use the ISO code as the currency code in Business Central.",
    )

    rates = ctx.lookups.get("exchange_rates", pd.DataFrame(columns=EXCHANGE_RATE_COLUMNS))
    rate = numbers(code.map(rates.drop_duplicates("code").set_index("code")["exchangerate"]))
    no_rate = ~blank & ~long & ~(rate > 0)
    errors.add(
        src.loc[no_rate, "bc_id"],
        "exchangerate",
        label[no_rate]
        + " has no exchange rate in Business Central, so it cannot be created or updated in Sales. Enter its "
        "exchange rate (Currency Exchange Rates) in Business Central; the currency is retried on the next run.",
    )

    rows = apply_field_maps(src, ctx.mapping)
    rows["isocurrencycode"] = code
    name = text(src.get("displayName", pd.Series("", index=src.index))).str.strip()
    rows["currencyname"] = name.where(name != "", code).str[:NAME_MAX]
    symbol = text(src.get("symbol", pd.Series("", index=src.index))).str.strip()
    rows["currencysymbol"] = symbol.where(symbol != "", code).str[:SYMBOL_MAX]
    rows["exchangerate"] = rate.round(RATE_DECIMALS)

    error_frame = errors.frame()
    rows = without(rows, error_frame["bc_id"])
    return TransformResult(
        primary=TargetRows("transactioncurrencies", clean(rows), insert_only=insert_only_columns(ctx.mapping)),
        errors=error_frame,
    )
