"""The customer statistics jobs against the sandbox: account statistics and invoice payment status."""

from __future__ import annotations

import datetime as dt

import pytest
import requests

from include.bc_sales_sync.statistics import accounts as account_statistics
from include.bc_sales_sync.statistics import base as statistics_base
from include.bc_sales_sync.statistics import figures as f
from include.bc_sales_sync.statistics.accounts import AccountStatisticsJob
from include.bc_sales_sync.statistics.base import PAYMENT_STATUS, STATISTICS, StatisticsOptions
from include.bc_sales_sync.statistics.payments import InvoicePaymentStatusJob
from tests.integration.sync.conftest import rows
from tests.integration.sync.test_invoices import EVERYTHING, invoices_by_number
from tests.integration.sync.test_prerequisites_and_prices import (
    PREREQUISITES,
    errors_of,
    exchange_rates,  # noqa: F401 (the fixture every test here uses)
    run_all,
    runner,
)

pytestmark = pytest.mark.usefixtures("exchange_rates")

# The demo company's documents are from the first half of 2025: its work date.
WORK_DATE = dt.date(2025, 5, 31)
COUPLED = {"10000", "30000", "40000", "50000", "70000"}  # the others' salespeople have no Sales user
STAT_COLUMNS = [f.KEY, *[c for c in f.COLUMNS if c != f.CURRENCY_BIND], "_transactioncurrencyid_value"]


@pytest.fixture
def run_job(bc, dataverse, state):
    return runner(bc, dataverse, state)


@pytest.fixture
def run_statistics(bc, dataverse, state):
    """``run_statistics(job="account" | "payment", **StatisticsOptions fields)`` -> the summary dict."""

    def run(job: str = "account", **options) -> dict:
        options.setdefault("work_date", WORK_DATE)
        options.setdefault("run_id", "test")
        cls = AccountStatisticsJob if job == "account" else InvoicePaymentStatusJob
        return cls(bc, dataverse, state, StatisticsOptions(**options)).run().as_dict()

    return run


def statistics_rows(dataverse) -> dict[str, dict]:
    found = rows(dataverse, f.ENTITY_SET, select=STAT_COLUMNS)
    return {r["nav_customerno"]: {k: v for k, v in r.items() if not k.startswith("@")} for r in found}


def accounts(dataverse) -> dict[str, dict]:
    found = rows(dataverse, "accounts", select=["accountid", "accountnumber", "_nav_accountstatisticsid_value"])
    return {a["accountnumber"]: a for a in found if a["accountnumber"]}


def counts(summary: dict) -> tuple[int, int, int, int, int]:
    return tuple(summary[k] for k in ("inserted", "modified", "unchanged", "skipped", "failed"))


def pay(bc, customer: str, amount: float, invoice: str | None = None) -> None:
    journal = next(iter(rows(bc, "customerPaymentJournals", filter="code eq 'GENERAL'")))
    line = {"customerNumber": customer, "amount": -amount}
    if invoice:
        line["appliesToInvoiceNumber"] = invoice
    bc.create(f"customerPaymentJournals({journal['id']})/customerPayments", line)
    bc.post_action("customerPaymentJournals", journal["id"], "post")


def written(stats) -> int:
    """Write operations Dataverse received since the counters were cleared (inside $batch or not)."""
    seen = stats["dataverse"].read()
    return seen.get("batch_operations_total", 0) + sum(seen["by_method"].get(m, 0) for m in ("PATCH", "POST"))


def test_first_run_uploads_every_coupled_customer_and_a_rerun_writes_nothing(
    run_job, run_statistics, bc, dataverse, state, stats
):
    run_all(run_job, PREREQUISITES)
    summary = run_statistics()
    assert counts(summary) == (5, 0, 0, 0, 0)

    found = statistics_rows(dataverse)
    assert set(found) == COUPLED
    linked = accounts(dataverse)
    for number, row in found.items():
        assert linked[number]["_nav_accountstatisticsid_value"] == row[f.KEY]
    # Accounts of customers that are not coupled, and the Sales-only account, get no statistics.
    assert all(a["_nav_accountstatisticsid_value"] is None for n, a in linked.items() if n not in COUPLED)

    # Figures against what BC's customer card shows (FlowFields computed by the emulator).
    cards = {c["No"]: c for c in rows(bc, "CustomerCard", web_service=True)}
    local = next(iter(rows(bc, "companyInformation", select=["currencyCode"])))["currencyCode"]
    base = next(iter(rows(dataverse, "transactioncurrencies", filter=f"isocurrencycode eq '{local}'")))
    for number, row in found.items():
        card = cards[number]
        assert row["nav_name"] == card["Name"]
        assert row["nav_balancelcy"] == pytest.approx(card["Balance_LCY"])
        assert row["nav_outstandingorderslcy"] == pytest.approx(card["Outstanding_Orders_LCY"], abs=0.02)
        assert row["nav_shippednotinvoicedlcy"] == pytest.approx(card["Shipped_Not_Invoiced_LCY"], abs=0.02)
        assert row["nav_outstandinginvoiceslcy"] == pytest.approx(card["Outstanding_Invoices_LCY"], abs=0.02)
        assert row["nav_totalsaleslcy"] >= card["Sales_LCY"]  # all of the demo's sales are in 2025 (+ prepayments)
        assert row["nav_creditlimitlcy"] == card["Credit_Limit_LCY"]
        assert row["nav_overdueamountsasof"] == "2025-05-31"
        assert row["_transactioncurrencyid_value"] == base["transactioncurrencyid"]
    # 10000's open invoice falls due on 5 June: not overdue on 31 May; the others' are.
    assert found["10000"]["nav_overdueamountslcy"] == 0 and found["10000"]["nav_balancelcy"] > 0
    assert all(found[n]["nav_overdueamountslcy"] == found[n]["nav_balancelcy"] for n in COUPLED - {"10000"})
    relecloud = found["50000"]
    assert relecloud["nav_outstandingserviceorderslcy"] == 1840.0
    assert (relecloud["nav_servshippednotinvoicedlcy"], relecloud["nav_outstandingservinvoiceslcy"]) == (415.5, 620.0)
    assert relecloud["nav_invoicedprepaymentamountlcy"] == pytest.approx(1282.2)
    from_shipment = sum(
        x["Outstanding_Amount_LCY"]
        for x in rows(bc, "SalesLines", web_service=True, filter="Sell_to_Customer_No eq '50000' and Shipment_No ne ''")
    )
    assert from_shipment > 0
    assert relecloud["nav_totallcy"] == pytest.approx(
        relecloud["nav_balancelcy"]
        + relecloud["nav_outstandingorderslcy"]
        + relecloud["nav_shippednotinvoicedlcy"]
        + relecloud["nav_outstandinginvoiceslcy"]
        + 1840.0
        + 415.5
        + 620.0
        - from_shipment
        - relecloud["nav_invoicedprepaymentamountlcy"]
    )
    assert relecloud["nav_totalsaleslcy"] == pytest.approx(cards["50000"]["Sales_LCY"] + 1025.76)  # + prepayment

    stats["dataverse"].clear()
    stats["bc"].clear()
    again = run_statistics()
    assert (again["inserted"], again["modified"], again["failed"]) == (0, 0, 0)
    assert written(stats) == 0
    assert stats["bc"].read()["total"] <= 10  # a constant handful: what changed, nothing else
    assert state.job(summary["job_id"])["status"] == "succeeded"


def test_a_payment_refreshes_only_its_customer_and_its_invoices_state(run_job, run_statistics, bc, dataverse, stats):
    run_all(run_job, EVERYTHING)
    assert counts(run_statistics()) == (5, 0, 0, 0, 0)
    first = run_statistics("payment")
    assert (first["modified"], first["unchanged"], first["failed"]) == (0, 6, 0)  # the invoice job set them
    before = statistics_rows(dataverse)

    pay(bc, "10000", 1000.0, "PS-INV103008")
    stats["dataverse"].clear()
    summary = run_statistics()
    assert (summary["read"], summary["modified"], summary["failed"]) == (1, 1, 0)
    assert stats["dataverse"].read()["batch_operations"][f.ENTITY_SET] == {"PATCH": 1}
    after = statistics_rows(dataverse)
    assert after["10000"]["nav_balancelcy"] == pytest.approx(before["10000"]["nav_balancelcy"] - 1000)
    assert after["10000"]["nav_totallcy"] == pytest.approx(before["10000"]["nav_totallcy"] - 1000)
    assert {n: r for n, r in after.items() if n != "10000"} == {n: r for n, r in before.items() if n != "10000"}

    status = run_statistics("payment")
    assert (status["modified"], status["failed"]) == (1, 0)
    invoice = invoices_by_number(dataverse)["PS-INV103008"]
    assert (invoice["statecode"], invoice["statuscode"]) == (2, 100002)  # Paid / Partial

    pay(bc, "10000", 1352.12, "PS-INV103008")  # the rest: a paid invoice is re-activated, then completed
    status = run_statistics("payment")
    assert (status["modified"], status["failed"]) == (1, 0)
    invoice = invoices_by_number(dataverse)["PS-INV103008"]
    assert (invoice["statecode"], invoice["statuscode"]) == (2, 100001)  # Paid / Complete
    assert run_statistics()["modified"] == 1
    assert statistics_rows(dataverse)["10000"]["nav_balancelcy"] == 0


def test_the_customers_param_refreshes_just_those(run_job, run_statistics, bc, dataverse, stats):
    run_all(run_job, PREREQUISITES)
    run_statistics()
    bc.update("CustomerCard", "30000", {"Credit_Limit_LCY": 17500.0}, web_service=True)
    bc.update("CustomerCard", "40000", {"Credit_Limit_LCY": 12500.0}, web_service=True)
    stats["dataverse"].clear()
    summary = run_statistics(customers=("30000", "20000", "99999"))
    # 30000 refreshed; 20000 is not coupled and 99999 does not exist: skipped; 40000 waits for the schedule.
    assert (summary["read"], summary["modified"], summary["skipped"], summary["failed"]) == (1, 1, 2, 0)
    found = statistics_rows(dataverse)
    assert found["30000"]["nav_creditlimitlcy"] == 17500.0
    assert found["40000"]["nav_creditlimitlcy"] == 10000.0
    assert "20000" not in found
    scheduled = run_statistics()
    assert (scheduled["modified"], scheduled["unchanged"]) == (1, 1)  # 40000 changed; 30000 already written
    assert statistics_rows(dataverse)["40000"]["nav_creditlimitlcy"] == 12500.0


def test_a_new_customer_without_activity_then_deleted_in_bc(run_job, run_statistics, bc, dataverse, state):
    run_all(run_job, PREREQUISITES)
    run_statistics()
    new = bc.create("customers", {"displayName": "Fabrikam Startup", "salespersonCode": "JR", "creditLimit": 3000})
    assert run_job("CUSTOMER").as_dict()["inserted"] == 1
    summary = run_statistics()
    assert (summary["inserted"], summary["failed"]) == (1, 0)
    row = statistics_rows(dataverse)[new["number"]]
    assert row["nav_creditlimitlcy"] == 3000.0
    assert all(row[c] == 0 for c in f.MONEY_COLUMNS if c != "nav_creditlimitlcy")

    bc.delete("customers", new["id"])
    first = run_statistics(full_refresh=True)
    assert (first["failed"], first["unchanged"]) == (1, 5)
    message = errors_of(state, STATISTICS)[new["id"]]
    assert f"Customer {new['number']} (id {new['id']}) was not found in Business Central" in message
    second = run_statistics(full_refresh=True)
    assert second["failed"] == 1  # the same error twice: now skipped
    assert bool(state.couplings(STATISTICS, bc_ids=[new["id"]])["skipped"].iloc[0])
    third = run_statistics(full_refresh=True)
    assert (third["failed"], third["skipped"]) == (0, 1)


def test_an_account_deleted_in_sales_fails_then_is_skipped(run_job, run_statistics, dataverse, state):
    run_all(run_job, PREREQUISITES)
    run_statistics()
    account = accounts(dataverse)["40000"]
    dataverse.delete("accounts", account["accountid"])
    summary = run_statistics(customers=("40000",))
    assert summary["failed"] == 1
    (message,) = errors_of(state, STATISTICS).values()
    assert f"Customer 40000 (Alpine Ski House) is coupled to Sales account {account['accountid']}" in message
    assert "was not found in Sales" in message
    assert run_statistics(customers=("40000",))["failed"] == 1
    assert run_statistics(customers=("40000",))["skipped"] == 1


def test_statistics_deleted_in_sales_are_created_again_and_linked(run_job, run_statistics, bc, dataverse):
    run_all(run_job, PREREQUISITES)
    run_statistics()
    gone = statistics_rows(dataverse)["30000"]
    dataverse.delete(f.ENTITY_SET, gone[f.KEY])
    pay(bc, "30000", 100.0)
    summary = run_statistics()
    assert (summary["modified"], summary["failed"]) == (1, 0)
    again = statistics_rows(dataverse)["30000"]
    assert again[f.KEY] == gone[f.KEY] and again["nav_balancelcy"] == pytest.approx(gone["nav_balancelcy"] - 100)
    assert accounts(dataverse)["30000"]["_nav_accountstatisticsid_value"] == gone[f.KEY]


def test_overdue_amounts_follow_the_work_date_without_data_changes(run_job, run_statistics, dataverse, monkeypatch):
    """Scheduled runs use today's date; an entry falling due changes no data, yet its customer is refreshed."""
    run_all(run_job, PREREQUISITES)
    today = [dt.datetime(2025, 6, 1, 8, 0, tzinfo=dt.UTC)]
    monkeypatch.setattr(statistics_base, "now", lambda: today[0])
    assert counts(run_statistics(work_date=None))[0] == 5
    assert statistics_rows(dataverse)["10000"]["nav_overdueamountslcy"] == 0  # due 5 June
    today[0] = dt.datetime(2025, 6, 10, 8, 0, tzinfo=dt.UTC)
    summary = run_statistics(work_date=None)
    assert (summary["read"], summary["modified"]) == (1, 1)  # 10000 alone
    row = statistics_rows(dataverse)["10000"]
    assert row["nav_overdueamountslcy"] == row["nav_balancelcy"] > 0
    assert row["nav_overdueamountsasof"] == "2025-06-10"


def test_pages_and_ranges_give_the_same_figures(run_job, run_statistics, dataverse, state, monkeypatch):
    """Tiny pages: customers read three at a time, each group's entries and lines by number range."""
    run_all(run_job, PREREQUISITES)
    assert counts(run_statistics(page_size=3)) == (5, 0, 0, 0, 0)
    paged = statistics_rows(dataverse)
    assert counts(run_statistics(full_refresh=True)) == (0, 0, 5, 0, 0)  # one page: the same figures
    # More changed customers than fit a filter list: every customer is paged through, keeping those.
    monkeypatch.setattr(account_statistics, "LIST_LIMIT", 1)
    state.uncouple(STATISTICS, state.couplings(STATISTICS)["bc_id"].head(2))  # as if never uploaded
    summary = run_statistics(page_size=2)
    assert (summary["read"], summary["inserted"], summary["failed"]) == (2, 2, 0)
    assert statistics_rows(dataverse) == paged


def test_throttled_dataverse_loses_nothing(run_job, run_statistics, bc, dataverse, connections, state):
    run_all(run_job, EVERYTHING)
    pay(bc, "30000", 1241.5)  # the rest of PS-INV103003: paid in full
    c = connections.config
    requests.post(
        f"{c.dataverse_url}/_sandbox/faults",
        json={"status": 429, "rate": 0.3, "retry_after": 0.05, "seed": 7},
        verify=str(c.ca_file),
        timeout=10,
    ).raise_for_status()
    try:
        summary = run_statistics()
        status = run_statistics("payment")
        injected = requests.get(f"{c.dataverse_url}/_sandbox/stats", verify=str(c.ca_file), timeout=10).json()
    finally:
        requests.post(f"{c.dataverse_url}/_sandbox/faults", json={}, verify=str(c.ca_file), timeout=10)
    assert sum(injected["injected_faults"].values()) > 0
    assert counts(summary) == (5, 0, 0, 0, 0)
    assert (status["modified"], status["failed"]) == (1, 0)
    assert set(statistics_rows(dataverse)) == COUPLED
    assert all(a["_nav_accountstatisticsid_value"] for n, a in accounts(dataverse).items() if n in COUPLED)
    invoice = invoices_by_number(dataverse)["PS-INV103003"]
    assert (invoice["statecode"], invoice["statuscode"]) == (2, 100001)
    assert state.errors(mapping=STATISTICS).empty and state.errors(mapping=PAYMENT_STATUS).empty


def test_the_customers_param_repairs_statistics_edited_in_sales(run_job, run_statistics, dataverse, stats):
    run_all(run_job, PREREQUISITES)
    run_statistics()
    row = statistics_rows(dataverse)["40000"]
    dataverse.update(f.ENTITY_SET, row[f.KEY], {"nav_balancelcy": 1.0, "nav_name": "edited by hand"})
    assert counts(run_statistics())[:2] == (0, 0)  # a scheduled run goes by what it wrote last
    summary = run_statistics(customers=("40000", "10000"))
    assert (summary["read"], summary["modified"], summary["unchanged"]) == (2, 1, 1)
    assert statistics_rows(dataverse)["40000"] == row
    stats["dataverse"].clear()
    assert counts(run_statistics(customers=("40000",))) == (0, 0, 1, 0, 0)
    assert written(stats) == 0


def test_a_failed_invoice_state_is_retried_then_an_invoice_gone_from_sales_is_skipped(
    run_job, run_statistics, bc, dataverse, state, monkeypatch
):
    from include.bc_sales_sync.hooks.dataverse import BatchResult, DataverseHook

    run_all(run_job, EVERYTHING)
    run_statistics("payment")
    pay(bc, "10000", 1000.0, "PS-INV103008")
    refused = lambda self, ops, **kw: [  # noqa: E731
        BatchResult(op, 400, error_code="0x80040203", error_message="Refused for the test.") for op in ops
    ]
    with monkeypatch.context() as patched:
        patched.setattr(DataverseHook, "batch", refused)
        failed = run_statistics("payment")
    assert (failed["modified"], failed["failed"]) == (0, 1)
    message = errors_of(state, PAYMENT_STATUS)["PS-INV103008"]
    assert message.startswith("Invoice PS-INV103008: Writing invoices(") and "Refused for the test." in message
    assert invoices_by_number(dataverse)["PS-INV103008"]["statecode"] == 0

    retried = run_statistics("payment")  # retried first, though its entry did not change again
    assert (retried["modified"], retried["failed"]) == (1, 0)
    assert (invoices_by_number(dataverse)["PS-INV103008"]["statuscode"]) == 100002
    assert state.failed_not_skipped(PAYMENT_STATUS).empty

    # A failure that another job repairs (the invoice job writes the state with the invoice): cleared, no write.
    with monkeypatch.context() as patched:
        patched.setattr(DataverseHook, "batch", refused)
        pay(bc, "70000", 230.0, "PS-INV103007")
        assert run_statistics("payment")["failed"] == 1
    run_job("POSTEDSALESINV-INV")  # the invoices paid since its last run
    assert (invoices_by_number(dataverse)["PS-INV103007"]["statuscode"]) == 100002
    cleared = run_statistics("payment")
    assert (cleared["modified"], cleared["failed"]) == (0, 0) and cleared["unchanged"] >= 1
    assert state.failed_not_skipped(PAYMENT_STATUS).empty

    # A failure whose invoice then disappears from Sales: it fails again, then is skipped.
    with monkeypatch.context() as patched:
        patched.setattr(DataverseHook, "batch", refused)
        pay(bc, "40000", 13.0, "PS-INV103005")
        assert run_statistics("payment")["failed"] == 1
    invoice = invoices_by_number(dataverse)["PS-INV103005"]
    dataverse.delete("invoices", invoice["invoiceid"])
    assert run_statistics("payment")["failed"] == 1
    newest = state.errors(mapping=PAYMENT_STATUS)  # newest first
    assert (
        "no coupled Sales invoice has this number" in newest[newest["source_id"] == "PS-INV103005"]["message"].iloc[0]
    )
    assert run_statistics("payment")["failed"] == 1  # the same error twice: skipped now
    assert set(state.skipped(PAYMENT_STATUS)["bc_id"]) == {"PS-INV103005"}
    assert run_statistics("payment")["failed"] == 0
