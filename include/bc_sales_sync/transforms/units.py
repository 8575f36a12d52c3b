"""UNIT OF MEASURE: a BC unit of measure becomes a Sales unit group ``NAV <code>`` holding one unit.

Dataverse creates a group's base unit from ``baseuomname`` when the group is created, so the
group is written once with the code; afterwards the rules of BC's ValidateCRMUoMSchedule apply:
an inactive group or a group with more than one unit cannot be synchronized, and a base unit
whose name differs from the code is renamed to it.
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
    text,
    too_long,
    without,
)

UNIT_GROUP_PREFIX = "NAV "
UNIT_GROUP_COLUMNS = [
    "uomscheduleid",
    "schedule_name",
    "statecode",
    "uomid",
    "uom_name",
    "quantity",
    "isschedulebaseuom",
]


def unit_group_name(code: pd.Series) -> pd.Series:
    return UNIT_GROUP_PREFIX + text(code)


def units_to_unit_groups(src: pd.DataFrame, ctx: TransformContext) -> TransformResult:
    """:param ctx: ``lookups["unit_groups"]`` holds the existing groups' units (:data:`UNIT_GROUP_COLUMNS`)."""
    errors = ErrorCollector()
    code = text(src["code"]).str.strip()
    blank = code == ""
    errors.add(src.loc[blank, "bc_id"], "code", "The unit of measure has no code; give it a code in Business Central.")
    long = too_long(code, 100)
    errors.add(
        src.loc[long, "bc_id"],
        "code",
        "The unit of measure code is longer than the 100 characters a Sales unit name can hold; shorten it.",
    )

    groups = ctx.lookups.get("unit_groups", pd.DataFrame(columns=UNIT_GROUP_COLUMNS))
    existing = groups[groups["uomscheduleid"].isin(src["target_id"])]
    inactive = existing.loc[existing["statecode"].fillna(0).astype(int) != 0, "uomscheduleid"].unique()
    unit_counts = existing.dropna(subset=["uomid"]).groupby("uomscheduleid")["uomid"].nunique()
    crowded = unit_counts[unit_counts > 1].index
    for ids, message in (
        (
            inactive,
            "The unit group {name} exists in Sales but is inactive, so it cannot be synchronized. Activate it in Sales.",
        ),
        (
            crowded,
            "The unit group {name} in Sales contains more than one unit; a unit group synchronized from Business "
            "Central must hold exactly one. Remove the extra units in Sales.",
        ),
    ):
        hit = src["target_id"].isin(ids)
        errors.add(
            src.loc[hit, "bc_id"], "code", unit_group_name(code[hit]).map(lambda n, m=message: m.format(name=f"'{n}'"))
        )

    rows = apply_field_maps(src, ctx.mapping)
    rows["baseuomname"] = code
    rows["name"] = unit_group_name(code)
    error_frame = errors.frame()
    rows = without(rows, error_frame["bc_id"])

    # A coupled group whose single unit is not named after the code gets its unit renamed.
    base_units = existing[existing["isschedulebaseuom"].fillna(False).astype(bool)]
    renames = (
        rows[["bc_id", "target_id", "baseuomname"]]
        .merge(base_units, left_on="target_id", right_on="uomscheduleid")
        .query("uom_name != baseuomname")
    )
    children = []
    if not renames.empty:
        unit_rows = pd.DataFrame(
            {"bc_id": renames["bc_id"], "target_id": renames["uomid"], "name": renames["baseuomname"]}
        )
        children.append(TargetRows("uoms", clean(unit_rows)))
    return TransformResult(
        primary=TargetRows("uomschedules", clean(rows), insert_only=insert_only_columns(ctx.mapping) | {"baseuomname"}),
        children=children,
        errors=error_frame,
    )


def resolve_unit_groups(groups: pd.DataFrame) -> pd.DataFrame:
    """Per unit code, the group and unit a product may use, or the reason it may not.

    Mirrors BC's GetValidCRMUnitOfMeasureRecords: exactly one group named ``NAV <code>``, holding
    exactly one unit, named ``<code>``, the group's base unit, with quantity 1.

    :return: columns ``code``, ``uomscheduleid``, ``uomid``, ``problem`` (None when usable).
    """
    named = groups[groups["schedule_name"].fillna("").str.startswith(UNIT_GROUP_PREFIX)].copy()
    named["code"] = named["schedule_name"].str[len(UNIT_GROUP_PREFIX) :]
    out = []
    for code, rows in named.groupby("code", sort=True):
        group = f"'{UNIT_GROUP_PREFIX}{code}'"
        schedules = rows["uomscheduleid"].unique()
        units = rows.dropna(subset=["uomid"])
        problem = None
        if len(schedules) > 1:
            problem = f"There are {len(schedules)} unit groups named {group} in Sales; keep only one."
        elif units.empty:
            problem = f"The unit group {group} in Sales has no unit."
        elif units["uomid"].nunique() > 1:
            problem = f"The unit group {group} in Sales contains more than one unit; it must hold exactly one."
        else:
            unit = units.iloc[0]
            if unit["uom_name"] != code:
                problem = f"The unit in the unit group {group} is named '{unit['uom_name']}'; expected '{code}'."
            elif not bool(unit["isschedulebaseuom"]):
                problem = f"The unit '{code}' is not the base unit of the unit group {group}."
            elif float(unit["quantity"] or 0) != 1:
                problem = f"The unit '{code}' in the unit group {group} must have quantity 1."
        first = units.iloc[0] if not units.empty else None
        out.append(
            {
                "code": code,
                "uomscheduleid": schedules[0],
                "uomid": None if first is None else first["uomid"],
                "problem": problem,
            }
        )
    return pd.DataFrame(out, columns=["code", "uomscheduleid", "uomid", "problem"])
