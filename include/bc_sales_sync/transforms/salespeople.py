"""SALESPEOPLE: a BC salesperson is coupled to the Sales user with the same e-mail; nothing is written.

The coupling is what lets a salesperson code decide the owner of accounts and invoices (facts
§8.1). Only users that can own records qualify (BC's filter: not disabled, licensed, not an
integration user). E-mails are compared without regard to case, as BC's match-based coupling
does by default; the row handed to the engine carries the e-mail exactly as Sales stores it.
"""

from __future__ import annotations

import pandas as pd

from include.bc_sales_sync.transforms.base import (
    ErrorCollector,
    TargetRows,
    TransformContext,
    TransformResult,
    as_bool,
    clean,
    text,
)

SALES_USER_COLUMNS = [
    "systemuserid",
    "internalemailaddress",
    "fullname",
    "isdisabled",
    "islicensed",
    "isintegrationuser",
]


def salespeople_to_users(src: pd.DataFrame, ctx: TransformContext) -> TransformResult:
    """:param ctx: ``lookups["sales_users"]`` holds the Sales users (:data:`SALES_USER_COLUMNS`)."""
    errors = ErrorCollector()
    code = text(src["code"])
    name = text(src.get("displayName", pd.Series("", index=src.index)))
    label = "Salesperson " + code + name.map(lambda n: f" ({n})" if n else "")
    email = text(src["email"]).str.strip()
    key = email.str.casefold()
    new = ~src["existing"].astype(bool)

    users = ctx.lookups.get("sales_users", pd.DataFrame(columns=SALES_USER_COLUMNS))
    users = users.assign(key=text(users["internalemailaddress"]).str.strip().str.casefold())
    users = users[users["key"] != ""]
    can_own = (
        ~as_bool(users["isdisabled"]) & as_bool(users["islicensed"]) & ~as_bool(users["isintegrationuser"])
        if not users.empty
        else pd.Series(dtype=bool)
    )
    owners = users[can_own].drop_duplicates("key").set_index("key")["internalemailaddress"]
    others = set(users.loc[~can_own, "key"]) if not users.empty else set()

    blank = new & (email == "")
    errors.add(
        src.loc[blank, "bc_id"],
        "email",
        label[blank] + " has no e-mail. A salesperson is coupled to the Sales user with the same e-mail: enter the "
        "user's e-mail on the salesperson in Business Central; it is retried on the next run.",
    )
    taken = new & ~blank & key.duplicated(keep="first")
    errors.add(
        src.loc[taken, "bc_id"],
        "email",
        label[taken]
        + ": another salesperson has the same e-mail "
        + email[taken]
        + "; a Sales user can be coupled to one salesperson only. Give each salesperson their own e-mail.",
    )
    matched = key.map(owners)
    unusable = new & ~blank & matched.isna() & key.isin(others)
    errors.add(
        src.loc[unusable, "bc_id"],
        "email",
        label[unusable]
        + ": the Sales user with the e-mail "
        + email[unusable]
        + " is disabled, not licensed or an integration user, so it cannot own records. Enable and license the "
        "user in Sales (or correct the e-mail in Business Central); it is retried on the next run.",
    )
    missing = new & ~blank & matched.isna() & ~key.isin(others)
    errors.add(
        src.loc[missing, "bc_id"],
        "email",
        label[missing]
        + ": no Sales user has the e-mail "
        + email[missing]
        + ". Create the user in Sales (or correct the e-mail in Business Central); it is retried on the next run.",
    )

    rows = pd.DataFrame(
        {
            "bc_id": src["bc_id"],
            "target_id": src["target_id"],
            # The engine matches exact values: hand it the e-mail as Sales spells it.
            "internalemailaddress": matched.where(matched.notna(), email),
        },
        index=src.index,
    )
    return TransformResult(primary=TargetRows("systemusers", clean(rows)), errors=errors.frame())
