"""CustomerStatisticsOperator: its params become the run's options; bad ones fail at once."""

from __future__ import annotations

import datetime as dt

import pytest
from airflow.sdk.exceptions import AirflowFailException

from include.bc_sales_sync.operators.customer_statistics import (
    CustomerStatisticsOperator,
    parse_customers,
    parse_work_date,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ()),
        ([], ()),
        ("", ()),
        (["10000", " 20000 ", "10000", ""], ("10000", "20000")),
        ("10000, c00010", ("10000", "C00010")),
        ([30000], ("30000",)),
    ],
)
def test_customers_param(value, expected):
    assert parse_customers(value) == expected


@pytest.mark.parametrize(("value", "text"), [(["X" * 21], "longer than the 20"), ([{"no": 1}], "as text"), (5, "list")])
def test_bad_customers_param_says_what_is_wrong(value, text):
    with pytest.raises(ValueError, match=text):
        parse_customers(value)


def test_work_date_param():
    assert parse_work_date("") is None and parse_work_date(None) is None
    assert parse_work_date("2025-05-31") == dt.date(2025, 5, 31)
    assert parse_work_date(dt.datetime(2025, 5, 31, 12)) == dt.date(2025, 5, 31)
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        parse_work_date("31/05/2025")


def test_options_from_params():
    operator = CustomerStatisticsOperator(task_id="account_statistics", page_size=100)
    options = operator.options(
        {"run_id": "manual__1", "params": {"customers": ["10000"], "full_refresh": True, "work_date": "2025-05-31"}}
    )
    assert options.customers == ("10000",) and options.full_refresh is True
    assert options.work_date == dt.date(2025, 5, 31) and options.page_size == 100
    assert (options.run_id, options.task_id) == ("manual__1", "account_statistics")
    defaults = operator.options({"run_id": "scheduled__1", "params": {}})
    assert (defaults.customers, defaults.full_refresh, defaults.work_date) == ((), False, None)


def test_a_bad_param_fails_without_retrying():
    operator = CustomerStatisticsOperator(task_id="account_statistics")
    with pytest.raises(AirflowFailException, match="work_date"):
        operator.options({"run_id": "r", "params": {"work_date": "tomorrow"}})


def test_unknown_job_is_refused():
    with pytest.raises(ValueError, match="invoice_payment_status"):
        CustomerStatisticsOperator(task_id="x", job="everything")
