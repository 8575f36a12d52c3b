"""What counts as a change, and who wins a conflict (pure rules, both directions)."""

from __future__ import annotations

import pandas as pd
import pytest

from include.bc_sales_sync.mappings import ConflictPolicy
from include.bc_sales_sync.mappings.catalogue import CUSTOMER, ITEM_PRODUCT
from include.bc_sales_sync.sync import conflicts as cf

T = pd.Timestamp("2026-12-01T10:00:00Z")


def test_a_record_counts_as_changed_from_ten_milliseconds_on_or_when_never_synced():
    modified = pd.Series([T + pd.Timedelta(milliseconds=9), T + pd.Timedelta(milliseconds=10), T])
    synced = pd.Series([T, T, None])
    assert cf.changed_since(modified, synced).tolist() == [False, True, True]


def test_a_sales_row_changed_by_someone_else_in_the_second_of_the_sync_counts_as_changed():
    changed = cf.sales_changed(
        pd.Series([T, T, T + pd.Timedelta(seconds=1)]),
        pd.Series([T, T, T]),
        pd.Series(["USER-1", "integration", "integration"]),
        "Integration",
    )
    assert changed.tolist() == [True, False, True]


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (None, "", True),
        ("  x ", "x", True),
        (1.00001, 1.0, True),
        (1.5, 1.0, False),
        (True, 1, True),
        ("a", None, False),
    ],
)
def test_values_compare_as_bc_transfers_them(a, b, same):
    assert cf.same_value(a, b) is same


def test_only_the_columns_that_differ_are_written():
    assert cf.differing({"Name": "A", "City": "X"}, {"Name": "A", "City": "Y"}, ["Name", "City"]) == ["City"]


def test_the_two_way_columns_of_a_mapping_by_side():
    assert {"Name", "Phone_No"} <= cf.both_way_columns(CUSTOMER, "bc")
    assert "Credit_Limit_LCY" not in cf.both_way_columns(CUSTOMER, "bc")
    assert cf.both_way_columns(ITEM_PRODUCT, "sales") == {"name"}


@pytest.mark.parametrize(
    ("policy", "to_crm", "from_crm"),
    [
        (ConflictPolicy.FAIL, cf.FAIL, cf.FAIL),
        (ConflictPolicy.BC_WINS, cf.WRITE, cf.SKIP),
        (ConflictPolicy.SALES_WINS, cf.SKIP, cf.WRITE),
    ],
)
def test_the_policy_decides_per_direction(policy, to_crm, from_crm):
    assert (cf.resolve(policy, "to_crm"), cf.resolve(policy, "from_crm")) == (to_crm, from_crm)


def test_the_conflict_message_names_the_record_the_fields_and_what_to_do():
    message = cf.conflict_message("Customer 10000", ["Phone_No", "City"], CUSTOMER)
    assert message.startswith("Customer 10000 changed both in Business Central and in Sales")
    assert "Phone_No <-> telephone1, City <-> address1_city are synchronized both ways" in message
    assert "conflict_policy" in message and "retried on the next run" in message
