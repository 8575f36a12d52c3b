"""The bc_customer_statistics DAG run as Airflow runs it (``dag.test``) against the sandbox, after the sync DAGs."""

from __future__ import annotations

import pytest
import requests

from tests.e2e.test_bc_sales_sync_dag import airflow_db, dag_env, run_dag, stats  # noqa: F401 (fixtures)

TASKS = ["account_statistics", "invoice_payment_status", "report"]
WORK_DATE = "2025-05-31"  # the demo company's documents are from the first half of 2025


def succeeded(dag_run, states: dict[str, str]) -> bool:
    return str(dag_run.state).endswith("success") and all(states[t].endswith("success") for t in TASKS)


def job_counts(state, run_id: str) -> dict[str, tuple[int, int, int, int]]:
    return {
        j.mapping: (j.inserted, j.modified, j.unchanged, j.failed)
        for j in state.jobs(limit=50).itertuples()
        if j.run_id == run_id
    }


@pytest.mark.usefixtures("dag_env")
def test_statistics_dag_after_the_sync_dags_then_by_hand_for_one_customer(sandbox):
    from include.bc_sales_sync.hooks import BusinessCentralHook, DataverseHook
    from include.bc_sales_sync.state import StateStore

    config = sandbox.config
    ca = str(config.ca_file)
    for dag_id in ("bc_dataverse_sync", "bc_sales_sync"):
        dag_run, states = run_dag(dag_id)
        assert str(dag_run.state).endswith("success"), states

    dag_run, states = run_dag("bc_customer_statistics", work_date=WORK_DATE)
    assert succeeded(dag_run, states), states
    state = StateStore.from_airflow("bc_sync_state")
    assert job_counts(state, dag_run.run_id) == {
        "CUSTOMER STATISTICS": (5, 0, 0, 0),
        "INVOICE PAYMENT STATUS": (0, 0, 6, 0),
    }
    dataverse = DataverseHook()
    found = {
        r["nav_customerno"]: r
        for page in dataverse.iter_pages("nav_accountstatisticses", select=["nav_customerno", "nav_balancelcy"])
        for r in page
    }
    assert set(found) == {"10000", "30000", "40000", "50000", "70000"}

    # The rest of a partly paid invoice is paid in BC; then the "update statistics" action for that customer.
    bc = BusinessCentralHook()
    journal = next(r for page in bc.iter_pages("customerPaymentJournals") for r in page)
    bc.create(
        f"customerPaymentJournals({journal['id']})/customerPayments",
        {"customerNumber": "30000", "amount": -1241.5, "appliesToInvoiceNumber": "PS-INV103003"},
    )
    bc.post_action("customerPaymentJournals", journal["id"], "post")
    requests.delete(f"{config.dataverse_url}/_sandbox/stats", verify=ca, timeout=10)
    dag_run, states = run_dag("bc_customer_statistics", customers=["30000"], work_date=WORK_DATE)
    assert succeeded(dag_run, states), states
    assert job_counts(state, dag_run.run_id) == {
        "CUSTOMER STATISTICS": (0, 1, 0, 0),
        "INVOICE PAYMENT STATUS": (0, 1, 0, 0),
    }
    written = stats(config.dataverse_url, ca)["batch_operations"]
    assert written["nav_accountstatisticses"] == {"PATCH": 1}
    balance = next(
        r["nav_balancelcy"]
        for page in dataverse.iter_pages(
            "nav_accountstatisticses", select=["nav_balancelcy"], filter="nav_customerno eq '30000'"
        )
        for r in page
    )
    assert balance == pytest.approx(found["30000"]["nav_balancelcy"] - 1241.5)
    invoice = next(
        r
        for page in dataverse.iter_pages(
            "invoices", select=["statecode", "statuscode"], filter="invoicenumber eq 'PS-INV103003'"
        )
        for r in page
    )
    assert (invoice["statecode"], invoice["statuscode"]) == (2, 100001)  # paid in full now

    # The scheduled run after it: the change was written already, nothing is written again.
    requests.delete(f"{config.dataverse_url}/_sandbox/stats", verify=ca, timeout=10)
    dag_run, states = run_dag("bc_customer_statistics", work_date=WORK_DATE)
    assert succeeded(dag_run, states), states
    counts = job_counts(state, dag_run.run_id)
    assert all(inserted == modified == failed == 0 for inserted, modified, _, failed in counts.values()), counts
    assert stats(config.dataverse_url, ca).get("batch_operations_total", 0) == 0


@pytest.mark.usefixtures("dag_env")
def test_a_bad_work_date_fails_the_statistics_without_retrying():
    _, states = run_dag("bc_customer_statistics", work_date="2025-13-45")
    # Both jobs fail at once (their alert says so); the report still runs.
    assert states["account_statistics"].endswith("failed"), states
    assert states["invoice_payment_status"].endswith("failed"), states
    assert states["report"].endswith("success"), states
