"""UNIT OF MEASURE transform and the unit group rules products rely on."""

from __future__ import annotations

import pandas as pd

from include.bc_sales_sync.mappings.catalogue import UNIT_OF_MEASURE
from include.bc_sales_sync.transforms.base import TransformContext
from include.bc_sales_sync.transforms.units import UNIT_GROUP_COLUMNS, resolve_unit_groups, units_to_unit_groups


def unit(code: str, target_id: str | None = None) -> dict:
    return {
        "id": f"id-{code}",
        "bc_id": f"id-{code}",
        "target_id": target_id or f"t-{code}",
        "code": code,
        "displayName": code.title(),
    }


def groups(*rows) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=UNIT_GROUP_COLUMNS)


def group_row(schedule, name, uom, uom_name, quantity=1.0, base=True, state=0):
    return {
        "uomscheduleid": schedule,
        "schedule_name": name,
        "statecode": state,
        "uomid": uom,
        "uom_name": uom_name,
        "quantity": quantity,
        "isschedulebaseuom": base,
    }


def run(rows, existing=None):
    ctx = TransformContext(UNIT_OF_MEASURE, lookups={"unit_groups": existing if existing is not None else groups()})
    return units_to_unit_groups(pd.DataFrame(rows), ctx)


def test_unit_group_named_nav_code_with_base_unit_on_insert():
    result = run([unit("PCS"), unit("Stück")])
    rows = result.primary.rows.set_index("bc_id")
    assert rows.loc["id-PCS", "name"] == "NAV PCS"
    assert rows.loc["id-PCS", "baseuomname"] == "PCS"
    assert rows.loc["id-Stück", "name"] == "NAV Stück"
    assert "baseuomname" in result.primary.insert_only
    assert result.errors.empty and result.children == []


def test_blank_code_is_an_error():
    result = run([unit("PCS"), unit("  ")])
    assert result.errors["bc_id"].tolist() == ["id-  "]
    assert result.primary.rows["bc_id"].tolist() == ["id-PCS"]


def test_group_with_two_units_cannot_be_synchronized():
    existing = groups(group_row("t-BOX", "NAV BOX", "u1", "BOX"), group_row("t-BOX", "NAV BOX", "u2", "BOX6", 6, False))
    result = run([unit("BOX")], existing)
    (error,) = result.errors.to_dict("records")
    assert "exactly one" in error["message"] and "'NAV BOX'" in error["message"]
    assert result.primary.rows.empty


def test_inactive_group_is_an_error():
    result = run([unit("KG")], groups(group_row("t-KG", "NAV KG", "u1", "KG", state=1)))
    assert "inactive" in result.errors.iloc[0]["message"]


def test_base_unit_with_another_name_is_renamed_to_the_code():
    result = run([unit("PCS")], groups(group_row("t-PCS", "NAV PCS", "u-pcs", "Piece")))
    (renames,) = result.children
    assert renames.entity_set == "uoms"
    assert renames.rows.to_dict("records") == [{"bc_id": "id-PCS", "target_id": "u-pcs", "name": "PCS"}]


def test_resolve_unit_groups_reports_each_problem():
    resolved = resolve_unit_groups(
        groups(
            group_row("g1", "NAV PCS", "u1", "PCS"),
            group_row("g2", "NAV BOX", "u2", "BOX"),
            group_row("g2", "NAV BOX", "u3", "BOX6", 6, False),
            group_row("g3", "NAV KG", "u4", "Kilo"),
            group_row("g4", "NAV SET", "u5", "SET", 2),
            group_row("g5", "NAV DAY", None, None),
            group_row("g6", "Other group", "u6", "X"),
        )
    ).set_index("code")
    assert pd.isna(resolved.loc["PCS", "problem"]) and resolved.loc["PCS", "uomid"] == "u1"
    assert "more than one unit" in resolved.loc["BOX", "problem"]
    assert "expected 'KG'" in resolved.loc["KG", "problem"]
    assert "quantity 1" in resolved.loc["SET", "problem"]
    assert "no unit" in resolved.loc["DAY", "problem"]
    assert "X" not in resolved.index and "Other group" not in resolved.index
