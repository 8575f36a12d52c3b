"""CUSTOMER: a BC customer becomes a Sales account (facts §2.3, Business Central -> Sales).

The mapped fields are copied (empty text is sent as null, Sales' own empty value); a new
account is a Customer (relationship type 3, BC's account template). Set by code: the currency
(blank = the local currency; another one must be coupled by CURRENCY) and, as BC's person
ownership model does, the owner: the Sales user coupled to the customer's salesperson. A blank
salesperson leaves the owner alone; a salesperson that is not coupled is an error that is
retried on the next run.
"""

from __future__ import annotations

import pandas as pd

from include.bc_sales_sync.transforms.base import (
    ErrorCollector,
    TargetRows,
    TransformContext,
    TransformResult,
    apply_field_maps,
    bind,
    clean,
    insert_only_columns,
    numbers,
    text,
    without,
)
from include.bc_sales_sync.transforms.references import blank_to_none, currency_ids, owner_ids

ACCOUNT_NAME_MAX = 160
CUSTOMER_TYPE_CUSTOMER = 3
OPTIONAL_TEXT = [
    "accountnumber",
    "address1_line1",
    "address1_line2",
    "address1_postalcode",
    "address1_city",
    "address1_country",
    "address1_stateorprovince",
    "emailaddress1",
    "websiteurl",
    "telephone1",
    "fax",
    "address1_primarycontactname",
]


def customers_to_accounts(src: pd.DataFrame, ctx: TransformContext) -> TransformResult:
    """:param ctx: lookups ``salespeople`` and ``currencies`` (see :mod:`.references`), constant
    ``local_currency_id``."""
    errors = ErrorCollector()
    number = text(src["No"])
    name = text(src["Name"]).str.strip()
    label = "Customer " + number + name.map(lambda n: f" ({n})" if n else "")

    errors.add(
        src.loc[name == "", "bc_id"],
        "Name",
        label[name == ""] + " has no name; a Sales account needs one. Enter the name in Business Central.",
    )
    long = name.str.len() > ACCOUNT_NAME_MAX
    errors.add(
        src.loc[long, "bc_id"],
        "Name",
        label[long] + f": the name is longer than the {ACCOUNT_NAME_MAX} characters of a Sales account name.",
    )

    currency_id = currency_ids(src, ctx.lookups, ctx.constants.get("local_currency_id"), errors, label, "customer")
    owner_id = owner_ids(src, ctx.lookups, errors, label, "account", "customer")

    rows = apply_field_maps(src, ctx.mapping)
    rows["name"] = name
    if "creditlimit" in rows:
        # Sales credit limits cannot be negative; BC's cannot either, but a web service may send one.
        rows["creditlimit"] = numbers(rows["creditlimit"]).clip(lower=0)
    text_columns = [c for c in OPTIONAL_TEXT if c in rows]
    for column in text_columns:
        rows[column] = text(rows[column]).str.strip()
    blank_to_none(rows, text_columns)
    rows["transactioncurrencyid@odata.bind"] = bind("transactioncurrencies", currency_id)
    rows["ownerid@odata.bind"] = bind("systemusers", owner_id)

    error_frame = errors.frame()
    rows = without(rows, error_frame["bc_id"])
    return TransformResult(
        primary=TargetRows(
            "accounts",
            clean(rows),
            insert_only=insert_only_columns(ctx.mapping),
            not_null=frozenset({"ownerid@odata.bind"}),
        ),
        errors=error_frame,
    )
