"""The filters the statistics read Business Central with (no I/O)."""

from __future__ import annotations

import pandas as pd

from include.bc_sales_sync.statistics.accounts import _same
from include.bc_sales_sync.statistics.sources import Customers, newest_of


def test_customer_conditions_quote_numbers():
    assert Customers(numbers=("10000", "O'NEIL")).condition("Customer_No") == (
        "(Customer_No eq '10000' or Customer_No eq 'O''NEIL')"
    )
    assert Customers(low="C1", high="C9").condition("No") == "(No ge 'C1' and No le 'C9')"


def test_newest():
    frames = [
        pd.DataFrame({"SystemModifiedAt": ["2025-03-03T08:00:00Z", None]}),
        pd.DataFrame({"SystemModifiedAt": ["2025-03-04T08:00:00.123Z"]}),
        pd.DataFrame(columns=["SystemModifiedAt"]),
    ]
    assert newest_of(frames) == pd.Timestamp("2025-03-04T08:00:00.123Z")
    assert newest_of([pd.DataFrame(columns=["SystemModifiedAt"])]) is None


def test_values_compared_with_what_sales_holds():
    assert _same("nav_balancelcy", 10.0, 10.004) and not _same("nav_balancelcy", 10.0, 10.01)
    assert not _same("nav_balancelcy", 10.0, None)
    assert _same("nav_overdueamountsasof", "2025-05-31", "2025-05-31T00:00:00Z")
    assert _same("nav_name", "Relecloud", "Relecloud") and not _same("nav_name", "Relecloud", "Relecloud Ltd")
    assert _same("nav_name", "", None)
