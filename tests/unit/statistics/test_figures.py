"""The statistics figures, computed for hand-made customers (no I/O)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from include.bc_sales_sync.statistics import figures as f

WORK_DATE = dt.date(2025, 5, 31)
YEAR = (dt.date(2025, 1, 1), dt.date(2025, 12, 31))
CURRENCY = "5b0f1f7e-0000-4000-8000-000000000001"


def entry(customer="C1", posted="2025-03-01", due="2025-04-01", kind="Invoice", open_=True, remaining=0.0, sales=0.0):
    return {
        "Entry_No": 0,
        "Customer_No": customer,
        "Posting_Date": posted,
        "Due_Date": due,
        "Document_Type": kind,
        "Document_No": "X",
        "Open": open_,
        "Amount": remaining,
        "Remaining_Amount": remaining,
        "Remaining_Amt_LCY": remaining,
        "Sales_LCY": sales,
        "SystemModifiedAt": "2025-05-01T00:00:00Z",
    }


def line(
    kind="Order", bill_to="C1", sell_to=None, outstanding=0.0, shipped=0.0, prepaid=0.0, prepaid_tax=0.0, shipment=""
):
    return {
        "Document_Type": kind,
        "Document_No": "D",
        "Line_No": 10000,
        "Sell_to_Customer_No": sell_to or bill_to,
        "Bill_to_Customer_No": bill_to,
        "Shipment_No": shipment,
        "Outstanding_Amount_LCY": outstanding,
        "Shipped_Not_Invoiced_LCY": shipped,
        "Prepmt_Amount_Inv_LCY": prepaid,
        "Prepmt_VAT_Amount_Inv_LCY": prepaid_tax,
        "SystemModifiedAt": "2025-05-01T00:00:00Z",
    }


def customer(no="C1", name="Hand Made Ltd.", limit=5000.0, serv=(0.0, 0.0, 0.0)):
    return {
        "SystemId": "00000000-0000-0000-0000-00000000000" + no[-1],
        "No": no,
        "Name": name,
        "Credit_Limit_LCY": limit,
        "Outstanding_Serv_Orders_LCY": serv[0],
        "Serv_Shipped_Not_Invoiced_LCY": serv[1],
        "Outstanding_Serv_Invoices_LCY": serv[2],
        "SystemModifiedAt": "2025-05-01T00:00:00Z",
    }


ENTRIES = [
    entry(due="2025-05-30", remaining=1000.0, sales=800.0),  # overdue (due before the work date)
    entry(due="2025-05-31", remaining=250.0, sales=200.0),  # due on the work date: not overdue yet
    entry(due="2025-02-01", open_=False, remaining=0.0, sales=400.0),  # paid
    entry(kind="Payment", due="0001-01-01", remaining=-100.0),  # a payment not applied: blank due date counts
    entry(posted="2024-12-20", due="2025-01-19", kind="Credit Memo", open_=False, sales=-300.0),  # last year
    entry(posted="2025-06-10", due="2025-07-10", remaining=50.0, sales=40.0),  # after the work date, same year
    entry(customer="C2", remaining=999.0, sales=999.0),  # another customer
]
LINES = [
    line(outstanding=600.0, shipped=150.0, prepaid=80.0, prepaid_tax=20.0),
    line(outstanding=300.0),
    line(kind="Invoice", outstanding=120.0),  # a draft invoice
    line(kind="Invoice", bill_to="C2", sell_to="C1", outstanding=70.0, shipment="SHP1"),  # from a shipment to C1
    line(kind="Quote", outstanding=5000.0),  # quotes do not count
    line(bill_to="C2", outstanding=999.0),
]


def compute(entries=ENTRIES, lines=LINES, customers=None) -> pd.DataFrame:
    sums = f.add_sums(f.entry_sums(pd.DataFrame(entries), WORK_DATE, YEAR), f.line_sums(pd.DataFrame(lines)))
    return f.statistics_rows(pd.DataFrame(customers or [customer(serv=(10.0, 20.0, 30.0))]), sums, WORK_DATE, CURRENCY)


def test_each_figure_of_a_hand_made_customer():
    row = compute().iloc[0]
    assert row["nav_name"] == "Hand Made Ltd." and row["nav_customerno"] == "C1"
    assert row["nav_balancelcy"] == 1200.0  # 1000 + 250 - 100 + 50 (open entries only)
    assert row["nav_overdueamountslcy"] == 900.0  # 1000 - 100: due before 31 May
    assert row["nav_overdueamountsasof"] == "2025-05-31"
    assert row["nav_totalsaleslcy"] == 1440.0  # 800 + 200 + 400 + 40: the 2024 credit memo is another year
    assert row["nav_outstandingorderslcy"] == 900.0
    assert row["nav_shippednotinvoicedlcy"] == 150.0
    assert row["nav_outstandinginvoiceslcy"] == 120.0  # billed to C1; the line from a shipment is billed to C2
    assert row["nav_invoicedprepaymentamountlcy"] == 100.0
    assert (row["nav_outstandingserviceorderslcy"], row["nav_servshippednotinvoicedlcy"]) == (10.0, 20.0)
    assert row["nav_outstandingservinvoiceslcy"] == 30.0
    assert row["nav_creditlimitlcy"] == 5000.0
    # balance + orders + shipped + invoices + service - invoiced from shipments (sold to C1) - prepayments
    assert row["nav_totallcy"] == pytest.approx(1200 + 900 + 150 + 120 + 60 - 70 - 100)
    assert row[f.CURRENCY_BIND] == f"/transactioncurrencies({CURRENCY})"


def test_a_customer_without_activity_gets_zeros():
    row = compute(customers=[customer(no="C9", limit=0.0)]).iloc[0]
    assert all(row[c] == 0.0 for c in f.MONEY_COLUMNS)
    assert row["nav_customerno"] == "C9"


def test_another_customers_figures_stay_apart():
    rows = compute(customers=[customer(), customer(no="C2", name="Other")]).set_index("nav_customerno")
    assert rows.at["C2", "nav_balancelcy"] == 999.0
    assert rows.at["C2", "nav_outstandingorderslcy"] == 999.0
    assert rows.at["C2", "nav_outstandinginvoiceslcy"] == 70.0
    assert rows.at["C1", "nav_balancelcy"] == 1200.0


def test_entries_and_lines_read_in_pages_add_up_to_the_same_figures():
    whole = compute()
    sums = None
    for part in (ENTRIES[:2], ENTRIES[2:5], ENTRIES[5:]):
        sums = f.add_sums(sums, f.entry_sums(pd.DataFrame(part), WORK_DATE, YEAR))
    for part in (LINES[:1], LINES[1:]):
        sums = f.add_sums(sums, f.line_sums(pd.DataFrame(part)))
    paged = f.statistics_rows(pd.DataFrame([customer(serv=(10.0, 20.0, 30.0))]), sums, WORK_DATE, CURRENCY)
    assert paged[f.COLUMNS].to_dict("records") == whole[f.COLUMNS].to_dict("records")


def test_empty_pages_and_odd_values():
    assert f.entry_sums(pd.DataFrame(columns=f.ENTRY_FIELDS), WORK_DATE, YEAR).empty
    assert f.line_sums(pd.DataFrame(columns=f.LINE_FIELDS)).empty
    odd = pd.DataFrame([entry(customer=" c1 ", remaining=None), {**entry(remaining=10.004), "Open": "true"}])
    sums = f.entry_sums(odd, WORK_DATE, YEAR)
    assert list(sums.index) == ["C1"] and sums.at["C1", "balance"] == pytest.approx(10.004)
    row = f.statistics_rows(pd.DataFrame([customer()]), sums, WORK_DATE, None).iloc[0]
    assert row["nav_balancelcy"] == 10.0 and row[f.CURRENCY_BIND] is None


def test_money_is_rounded_to_cents_without_negative_zero():
    sums = f.entry_sums(pd.DataFrame([entry(remaining=0.004), entry(remaining=-0.004)]), WORK_DATE, YEAR)
    row = f.statistics_rows(pd.DataFrame([customer()]), sums, WORK_DATE, CURRENCY).iloc[0]
    assert row["nav_balancelcy"] == 0.0 and str(row["nav_balancelcy"]) == "0.0"


def test_long_names_are_cut_to_the_sales_column():
    row = compute(customers=[customer(name="N" * 130)]).iloc[0]
    assert len(row["nav_name"]) == f.NAME_MAX


def test_body_and_hash():
    row = compute().iloc[0].to_dict()
    body = f.body_of(row)
    assert list(body) == f.COLUMNS
    assert all(isinstance(body[c], float) for c in f.MONEY_COLUMNS)
    assert f.payload_hash(body) == f.payload_hash(dict(reversed(list(body.items()))))
    assert f.payload_hash(body) != f.payload_hash({**body, "nav_balancelcy": 1.0})
    assert f.CURRENCY_BIND not in f.body_of({**row, f.CURRENCY_BIND: None})


@pytest.mark.parametrize(
    ("work_date", "year_start", "expected"),
    [
        (dt.date(2025, 5, 31), dt.date(2026, 1, 1), (dt.date(2025, 1, 1), dt.date(2025, 12, 31))),
        (dt.date(2026, 3, 15), dt.date(2025, 7, 1), (dt.date(2025, 7, 1), dt.date(2026, 6, 30))),
        (dt.date(2026, 7, 1), dt.date(2025, 7, 1), (dt.date(2026, 7, 1), dt.date(2027, 6, 30))),
        (dt.date(2026, 6, 30), None, (dt.date(2026, 1, 1), dt.date(2026, 12, 31))),
        (dt.date(2025, 3, 1), dt.date(2024, 2, 29), (dt.date(2025, 2, 28), dt.date(2026, 2, 27))),
    ],
)
def test_fiscal_year_of_the_work_date(work_date, year_start, expected):
    assert f.fiscal_year(work_date, year_start) == expected


def test_customers_named_in_frames():
    frames = [pd.DataFrame({"Customer_No": ["10000", " 20000", "", None]}), pd.DataFrame({"Other": [1]})]
    assert f.customers_in(frames, "Customer_No") == {"10000", "20000"}
