"""CONTACT: a BC person contact becomes a Sales contact (facts §2.4, Business Central -> Sales).

Only persons that belong to a company (the source filter) whose company contact is linked to a
customer by the customers' business relation are synchronized; the others are left out, as BC
leaves them out. The contact's parent (``parentcustomerid``) is the account coupled to that
customer: a customer that is not coupled yet is an error that is retried on the next run. The
mapped fields are copied (empty text as null); set by code, as for customers: the currency
(blank = the local currency) and the owner from the salesperson (BC's person ownership).
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
    text,
    without,
)
from include.bc_sales_sync.transforms.references import (
    CUSTOMER_COMPANY_COLUMNS,
    blank_to_none,
    code_of,
    currency_ids,
    frame,
    owner_ids,
    resolve,
)

PERSON = "Person"
PARENT_BIND = "parentcustomerid_account@odata.bind"  # the account side of the polymorphic lookup


def contact_labels(src: pd.DataFrame) -> pd.Series:
    """``Contact CT000011 (Robert Townes)`` per record, for messages."""
    name = text(src["Name"]).str.strip() if "Name" in src else pd.Series("", index=src.index)
    return "Contact " + text(src["No"]) + name.map(lambda n: f" ({n})" if n else "")


def persons_to_contacts(src: pd.DataFrame, ctx: TransformContext) -> TransformResult:
    """:param ctx: lookups ``customer_companies``, ``salespeople`` and ``currencies`` (see
    :mod:`.references`), constant ``local_currency_id``."""
    errors = ErrorCollector()
    label = contact_labels(src)
    company_no = code_of(src["Company_No"])
    companies = frame(ctx.lookups, "customer_companies", CUSTOMER_COMPANY_COLUMNS)
    customer_no = resolve(company_no, companies, "company_no", "customer_no")
    is_person = text(src["Type"]).eq(PERSON) if "Type" in src else pd.Series(True, index=src.index)
    ignored = src.loc[~is_person | (company_no == "") | customer_no.isna(), "bc_id"]

    account_id = resolve(company_no, companies, "company_no", "accountid")
    waiting = customer_no.notna() & account_id.isna()
    errors.add(
        src.loc[waiting, "bc_id"],
        "Company_No",
        label[waiting]
        + ": its company "
        + company_no[waiting]
        + " belongs to customer "
        + customer_no[waiting].astype(str)
        + ", which is not coupled to a Sales account yet. Run the CUSTOMER job (or fix the customer's errors); "
        "the contact is retried on the next run.",
    )
    currency_id = currency_ids(src, ctx.lookups, ctx.constants.get("local_currency_id"), errors, label, "contact")
    owner_id = owner_ids(src, ctx.lookups, errors, label, "contact", "contact")

    rows = apply_field_maps(src, ctx.mapping)
    text_columns = [f.target for f in ctx.mapping.fields if f.source and f.target in rows]
    for column in text_columns:
        rows[column] = text(rows[column]).str.strip()
    blank_to_none(rows, text_columns)
    rows[PARENT_BIND] = bind("accounts", account_id)
    rows["transactioncurrencyid@odata.bind"] = bind("transactioncurrencies", currency_id)
    rows["ownerid@odata.bind"] = bind("systemusers", owner_id)

    error_frame = errors.frame()
    error_frame = error_frame[~error_frame["bc_id"].isin(set(ignored))]
    rows = without(rows, [*error_frame["bc_id"], *ignored])
    return TransformResult(
        primary=TargetRows(
            "contacts",
            clean(rows),
            insert_only=insert_only_columns(ctx.mapping),
            not_null=frozenset({"ownerid@odata.bind"}),
        ),
        errors=error_frame.reset_index(drop=True),
        ignored=frozenset(ignored),
    )
