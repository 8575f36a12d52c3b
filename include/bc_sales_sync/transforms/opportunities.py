"""OPPORTUNITY: an open BC opportunity becomes a Sales opportunity (facts §2.10, Business Central -> Sales).

Description, estimated value (LCY) and estimated closing date are copied. Set by code: the
contact (``parentcontactid``: the Sales contact coupled to the person by CONTACT), the account
(``parentaccountid``: the account coupled to the customer of the contact's company), the owner
from the salesperson (BC's person ownership) and the local currency, the currency of an amount
in LCY. A person or customer that is not coupled yet is an error retried on the next run.
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
from include.bc_sales_sync.transforms.references import (
    CUSTOMER_COMPANY_COLUMNS,
    PERSON_CONTACT_COLUMNS,
    bc_date,
    code_of,
    frame,
    not_coupled,
    owner_ids,
    resolve,
)


def opportunity_labels(src: pd.DataFrame) -> pd.Series:
    """``Opportunity OP000001 (Reception refit)`` per record, for messages."""
    description = text(src["Description"]).str.strip()
    return "Opportunity " + text(src["No"]) + description.map(lambda d: f" ({d})" if d else "")


def opportunities_to_opportunities(src: pd.DataFrame, ctx: TransformContext) -> TransformResult:
    """:param ctx: lookups ``person_contacts``, ``customer_companies`` and ``salespeople`` (see
    :mod:`.references`), constant ``local_currency_id``."""
    errors = ErrorCollector()
    label = opportunity_labels(src)
    contact_id = _contacts(src, ctx, errors, label)
    account_id = _accounts(src, ctx, errors, label)
    owner_id = owner_ids(src, ctx.lookups, errors, label, "opportunity", "opportunity")

    rows = apply_field_maps(src, ctx.mapping)
    if "name" in rows:
        rows["name"] = text(rows["name"]).str.strip().map(lambda v: v or None)
    if "estimatedvalue" in rows:
        rows["estimatedvalue"] = numbers(rows["estimatedvalue"]).clip(lower=0)
    if "estimatedclosedate" in rows:
        rows["estimatedclosedate"] = bc_date(rows["estimatedclosedate"])
    rows["parentcontactid@odata.bind"] = bind("contacts", contact_id)
    rows["parentaccountid@odata.bind"] = bind("accounts", account_id)
    rows["ownerid@odata.bind"] = bind("systemusers", owner_id)
    # Facts §2.10 map no currency; the estimated value is in LCY, so the opportunity is in the local currency.
    rows["transactioncurrencyid@odata.bind"] = bind(
        "transactioncurrencies", pd.Series(ctx.constants.get("local_currency_id"), index=rows.index)
    )

    error_frame = errors.frame()
    rows = without(rows, error_frame["bc_id"])
    return TransformResult(
        primary=TargetRows(
            "opportunities",
            clean(rows),
            insert_only=insert_only_columns(ctx.mapping),
            not_null=frozenset({"ownerid@odata.bind"}),
        ),
        errors=error_frame,
    )


def _contacts(src: pd.DataFrame, ctx: TransformContext, errors: ErrorCollector, label: pd.Series) -> pd.Series:
    """The Sales contact of each opportunity's person. An opportunity with the company contact itself
    has no person: its contact stays empty and the company is its account (the facts are silent on
    this case; CONTACT never synchronizes company contacts)."""
    contact_no, company_no = code_of(src["Contact_No"]), code_of(src["Contact_Company_No"])
    persons = frame(ctx.lookups, "person_contacts", PERSON_CONTACT_COLUMNS)
    contact_id = resolve(contact_no, persons, "number", "contactid")
    of_person = (contact_no != "") & (contact_no != company_no)
    missing = of_person & contact_id.isna()
    errors.add(
        src.loc[missing, "bc_id"],
        "Contact_No",
        not_coupled(label[missing], "its contact", contact_no[missing], "a Sales contact", "CONTACT", "opportunity"),
    )
    return contact_id.where(of_person, None)


def _accounts(src: pd.DataFrame, ctx: TransformContext, errors: ErrorCollector, label: pd.Series) -> pd.Series:
    """The account coupled to the customer of each opportunity's company contact. A company that is
    no customer's has no account: an error (the facts are silent; BC's lookup finds no account)."""
    company_no = code_of(src["Contact_Company_No"])
    companies = frame(ctx.lookups, "customer_companies", CUSTOMER_COMPANY_COLUMNS)
    customer_no = resolve(company_no, companies, "company_no", "customer_no")
    account_id = resolve(company_no, companies, "company_no", "accountid")
    no_customer = customer_no.isna()
    errors.add(
        src.loc[no_customer, "bc_id"],
        "Contact_Company_No",
        label[no_customer]
        + ": its company "
        + company_no[no_customer].map(lambda n: n or "(none)")
        + " is not linked to a customer by the customers' business relation, so it has no Sales account. Link the "
        "company to a customer in Business Central (or choose a contact of a customer); the opportunity is retried "
        "on the next run.",
    )
    waiting = ~no_customer & account_id.isna()
    errors.add(
        src.loc[waiting, "bc_id"],
        "Contact_Company_No",
        not_coupled(
            label[waiting],
            "its company's customer",
            customer_no[waiting].astype(str),
            "a Sales account",
            "CUSTOMER",
            "opportunity",
        ),
    )
    return account_id
