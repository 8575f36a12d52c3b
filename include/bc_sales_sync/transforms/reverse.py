"""Sales → Business Central transforms: Sales rows in, the BC values they mean out (pure pandas).

A reverse transform gets the changed Sales rows of a chunk (``crm_id``, ``bc_id`` and the Sales
columns of the fields mapped that way) and the coupled BC records as they are now (``bc_id``,
their current values and ``bc_label``, the number messages call them by), and returns the BC values each record should have, by BC field name, and
one error row per record it rejects; a mapping's ``from_crm_lookups`` option names the lookups
handed in with ``ctx`` (loaded once per run). What actually changes, and whether that is a conflict, is
decided by the engine by comparing both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from include.bc_sales_sync.mappings import Mapping
from include.bc_sales_sync.transforms.base import ERROR_COLUMNS, TransformContext

ACCOUNT_INACTIVE = 1  # account statecode
PRODUCT_ACTIVE = 0  # product statecode
CUSTOMER_NOT_BLOCKED = " "
CUSTOMER_BLOCKED_ALL = "All"
PERSON = "Person"  # BC's constant Type of a contact created or updated from Sales
PARENT, CURRENCY = "_parentcustomerid_value", "_transactioncurrencyid_value"


@dataclass
class ReverseResult:
    """BC values per record (``bc_id`` and one column per BC field) and the records rejected."""

    values: pd.DataFrame
    errors: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=ERROR_COLUMNS))


def copy_fields(
    sales: pd.DataFrame, bc: pd.DataFrame, mapping: Mapping, ctx: TransformContext | None = None
) -> ReverseResult:
    """The Sales value of every field mapped to BC, under its BC name; a value longer than the BC
    field allows is a per-record error (options ``bc_field_lengths``: BC field -> length)."""
    columns = {f.target: f.source for f in mapping.from_crm_fields}
    values = sales[["bc_id", *columns]].rename(columns=columns).copy()
    for column in columns.values():
        values[column] = values[column].map(_text_or_value)
    if mapping.options.get("keep_bc_value_when_blank"):
        values = _keep_bc_when_blank(values, bc, list(columns.values()))
    return ReverseResult(values, _too_long(values, sales, bc, mapping))


def accounts_to_customers(
    sales: pd.DataFrame, bc: pd.DataFrame, mapping: Mapping, ctx: TransformContext | None = None
) -> ReverseResult:
    """The account's fields; by code, its currency's BC code (the local currency is blank; a
    currency not coupled to a BC currency rejects the account); and BC's rule for a deactivated
    account: a customer not blocked yet becomes Blocked = All (only Active → Inactive is handled;
    reactivating does not unblock).

    :param ctx: lookup ``currencies``, constant ``local_currency_code`` (when the currency is read).
    """
    result = copy_fields(sales, bc, mapping)
    by_id = sales.set_index("bc_id").loc[result.values["bc_id"]]
    if "statecode" in sales:
        current = result.values["bc_id"].map(bc.set_index("bc_id")["Blocked"]) if "Blocked" in bc else None
        inactive = by_id["statecode"].eq(ACCOUNT_INACTIVE).to_numpy()
        if current is not None:
            block = inactive & current.fillna(CUSTOMER_NOT_BLOCKED).str.strip().eq("").to_numpy()
            result.values["Blocked"] = current.where(~block, CUSTOMER_BLOCKED_ALL).to_numpy()
    if CURRENCY in by_id and ctx is not None:
        ids = by_id[CURRENCY].map(_lower)
        labels = "Account " + by_id["crm_id"].astype(str)
        if "accountnumber" in by_id:
            labels = "Customer " + by_id["accountnumber"].fillna(by_id["crm_id"]).astype(str)
        code, unknown_errors = _currencies(ids, labels, ctx, "account")
        result.values["Currency_Code"] = code.to_numpy()
        result.errors = pd.concat([e for e in (result.errors, unknown_errors) if not e.empty] or [result.errors])
    return result


def products_to_items(
    sales: pd.DataFrame, bc: pd.DataFrame, mapping: Mapping, ctx: TransformContext | None = None
) -> ReverseResult:
    """The product's fields, and BC's rule: the item (or resource) is blocked when the product is
    not Active in Sales."""
    result = copy_fields(sales, bc, mapping)
    if "statecode" in sales:
        states = sales.set_index("bc_id").loc[result.values["bc_id"], "statecode"]
        result.values["Blocked"] = states.ne(PRODUCT_ACTIVE).to_numpy()
    return result


def contacts_to_persons(
    sales: pd.DataFrame, bc: pd.DataFrame, mapping: Mapping, ctx: TransformContext | None = None
) -> ReverseResult:
    """The contact's fields, and by code (facts §2.4): Type = Person; Company No. = the company
    contact of the customer coupled to the parent account; the currency code of its currency
    (the local currency is blank). A parent account without such a company, or a currency not
    coupled to a BC currency, rejects the contact.

    :param ctx: lookups ``customer_companies`` and ``currencies``, constant ``local_currency_code``.
    """
    result = copy_fields(sales, bc, mapping)
    lookups = ctx.lookups if ctx is not None else {}
    by_id = sales.set_index("bc_id").loc[result.values["bc_id"]]
    label = _contact_labels(by_id, bc)
    companies = lookups.get("customer_companies", pd.DataFrame(columns=["accountid", "company_no"]))
    parent = by_id[PARENT].map(_lower) if PARENT in by_id else pd.Series(None, index=by_id.index, dtype=object)
    company = parent.map(dict(zip(companies["accountid"].map(_lower), companies["company_no"], strict=True)))
    errors = [result.errors]
    no_company = company.isna()
    errors.append(
        _errors(
            by_id.index[no_company],
            "parentcustomerid",
            label[no_company]
            + " cannot be synchronized because its company does not exist in Business Central: its Sales account "
            + parent[no_company].fillna("(none)").astype(str)
            + " is not coupled to a customer with a company contact. Couple the account to a customer (or choose "
            "an account that is coupled) in Sales; the contact is retried on the next run.",
        )
    )
    ids = by_id[CURRENCY].map(_lower) if CURRENCY in by_id else pd.Series(None, index=by_id.index, dtype=object)
    code, unknown_errors = _currencies(ids, label, ctx, "contact")
    errors.append(unknown_errors)
    result.values["Company_No"] = company.to_numpy()
    result.values["Currency_Code"] = code.to_numpy()
    result.values["Type"] = PERSON
    result.errors = pd.concat([e for e in errors if not e.empty] or [result.errors], ignore_index=True)
    return result


def _contact_labels(by_id: pd.DataFrame, bc: pd.DataFrame) -> pd.Series:
    """``Contact CT000011 (Robert Townes)``: the BC number where known, and the Sales name."""
    numbers = by_id.index.map(bc.set_index("bc_id")["bc_label"]) if "bc_label" in bc else by_id["crm_id"]
    names = by_id["fullname"] if "fullname" in by_id else pd.Series("", index=by_id.index)
    suffix = names.map(lambda n: f" ({n})" if isinstance(n, str) and n.strip() else "")
    return "Contact " + pd.Series(numbers, index=by_id.index).fillna(by_id["crm_id"]).astype(str) + suffix


def _currencies(
    ids: pd.Series, labels: pd.Series, ctx: TransformContext | None, what: str
) -> tuple[pd.Series, pd.DataFrame]:
    """BC currency codes of Sales currency ids, and an error for each record whose currency is not
    coupled to a BC currency (``labels`` name the records, ``what`` says what is retried)."""
    lookups = ctx.lookups if ctx is not None else {}
    code, unknown = _currency_codes(ids, lookups, ctx.constants.get("local_currency_code") if ctx else None)
    errors = _errors(
        ids.index[unknown],
        "transactioncurrencyid",
        labels[unknown]
        + ": its Sales currency "
        + ids[unknown].astype(str)
        + " is not coupled to a Business Central currency. Run the CURRENCY job or choose another currency "
        f"in Sales; the {what} is retried on the next run.",
    )
    return code, errors


def _currency_codes(ids: pd.Series, lookups: dict, local_code: str | None) -> tuple[pd.Series, pd.Series]:
    """BC currency codes of Sales currency ids ('' for none and the local currency), and which ids
    no BC currency is coupled to."""
    currencies = lookups.get("currencies", pd.DataFrame(columns=["code", "transactioncurrencyid"]))
    codes = dict(zip(currencies["transactioncurrencyid"].map(_lower), currencies["code"], strict=True))
    code = ids.map(codes)
    unknown = ids.notna() & code.isna()
    code = code.fillna("").astype(str)
    return code.where(code.str.upper() != (local_code or "").upper(), ""), unknown


def _errors(bc_ids, field_name: str, messages: pd.Series) -> pd.DataFrame:
    return pd.DataFrame({"bc_id": list(bc_ids), "field": field_name, "message": list(messages)}, columns=ERROR_COLUMNS)


def _lower(value):
    return value.lower() if isinstance(value, str) and value else None


def _text_or_value(value):
    if isinstance(value, str):
        return value.strip()
    return None if value is None or (isinstance(value, float) and pd.isna(value)) else value


def _keep_bc_when_blank(values: pd.DataFrame, bc: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """A blank Sales value never clears a BC value: the BC value is kept."""
    current = bc.set_index("bc_id")
    for column in columns:
        if column not in current:
            continue
        blank = values[column].map(lambda v: v is None or v == "")
        values.loc[blank, column] = values.loc[blank, "bc_id"].map(current[column])
    return values


def _too_long(values: pd.DataFrame, sales: pd.DataFrame, bc: pd.DataFrame, mapping: Mapping) -> pd.DataFrame:
    lengths = mapping.options.get("bc_field_lengths", {})
    numbers = bc.set_index("bc_id")["bc_label"].dropna().to_dict() if "bc_label" in bc else {}
    by_source = {f.source: f.target for f in mapping.from_crm_fields}
    errors = []
    for column, limit in lengths.items():
        if column not in values:
            continue
        long = values[values[column].map(lambda v, n=limit: isinstance(v, str) and len(v) > n)]
        label = mapping.options.get("from_crm_label", "row")
        for bc_id, value in zip(long["bc_id"], long[column], strict=True):
            crm = sales.loc[sales["bc_id"] == bc_id, "crm_id"].iloc[0]
            number = f" (Business Central {label} {numbers[bc_id]})" if bc_id in numbers else ""
            errors.append(
                {
                    "bc_id": bc_id,
                    "field": by_source.get(column, column),
                    "message": f"The {label} {crm}{number} in Sales has {by_source.get(column, column)} '{value[:40]}' "
                    f"({len(value)} characters); Business Central's {column} takes at most {limit}. "
                    "Shorten it in Sales; the record is retried on the next run.",
                }
            )
    return pd.DataFrame(errors, columns=ERROR_COLUMNS)
