"""The account statistics job's decisions for hand-made customers: which customers, and which writes."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pandas as pd
import pytest

from include.bc_sales_sync.hooks.batch import BatchResult
from include.bc_sales_sync.statistics import figures as f
from include.bc_sales_sync.statistics.accounts import AccountStatisticsJob, _Planned
from include.bc_sales_sync.statistics.base import STATISTICS, StatisticsOptions
from include.bc_sales_sync.transforms.base import deterministic_id

WORK_DATE = dt.date(2025, 5, 31)
CURRENCY = "cur-eur"


def cid(n: int) -> str:
    return f"00000000-0000-0000-0000-{n:012d}"


def card(n: int, name: str = "Hand Made Ltd.", limit: float = 1000.0) -> dict:
    return {
        "SystemId": cid(n).upper(),  # BC sends ids in any case; couplings are lower case
        "No": f"C{n}",
        "Name": name,
        "Credit_Limit_LCY": limit,
        "Outstanding_Serv_Orders_LCY": 0.0,
        "Serv_Shipped_Not_Invoiced_LCY": 0.0,
        "Outstanding_Serv_Invoices_LCY": 0.0,
        "SystemModifiedAt": "2025-05-01T10:00:00Z",
    }


def stat(n: int, *, account: str, digest: str = "old", result: str = "success", skipped: bool = False) -> dict:
    extra = {"hash": digest, "account": account, "number": f"C{n}", "linked": True}
    return {"bc_id": cid(n), "crm_id": f"stats-{n}", "extra": extra, "last_result": result, "skipped": skipped}


def job(accounts: dict[int, str], stats: list[dict] = (), dataverse=None, **options) -> AccountStatisticsJob:
    """A job as its read set-up leaves it: coupled customers (number -> account) and the statistics written."""
    j = AccountStatisticsJob(None, dataverse, state=None, options=StatisticsOptions(work_date=WORK_DATE, **options))
    j.work_date, j.currency_id = WORK_DATE, CURRENCY
    j.accounts = {cid(n): account for n, account in accounts.items()}
    columns = ["bc_id", "crm_id", "extra", "last_result", "skipped"]
    j.stats = pd.DataFrame(list(stats), columns=columns).set_index("bc_id")
    return j


def digest_of(n: int, account: str) -> str:
    cards = pd.DataFrame([card(n)]).assign(bc_id=cid(n), account_id=account)
    row = f.statistics_rows(cards, pd.DataFrame(columns=f.SUMS), WORK_DATE, CURRENCY).iloc[0].to_dict()
    return f.payload_hash(f.body_of(row))


def transform(j: AccountStatisticsJob, numbers: list[int], existing_accounts: dict[str, str | None]):
    cards, counts = j._coupled(pd.DataFrame([card(n) for n in numbers]))
    planned = _Planned(cards, pd.DataFrame(columns=f.SUMS), existing_accounts, counts=counts)
    return j.transform(planned, None)


def test_only_coupled_customers_not_skipped_are_refreshed():
    j = job({1: "acc-1", 3: "acc-3"}, [stat(3, account="acc-3", result="failure", skipped=True)])
    cards = pd.DataFrame([card(1), card(2), card(3)])

    found, counts = j._coupled(cards)
    assert found[["bc_id", "account_id"]].values.tolist() == [[cid(1), "acc-1"]]
    assert counts == Counter(skipped=1)  # C3; C2 is simply not coupled

    _, named = j._coupled(cards, named=True)
    assert named == Counter(skipped=2)  # a customer asked for by hand but not coupled is skipped too


def test_customers_never_uploaded_or_failed_last_time_are_refreshed():
    stats = [
        stat(1, account="a"),
        stat(2, account="a", result="failure"),
        stat(3, account="a", result="failure", skipped=True),
    ]
    j = job({1: "a1", 2: "a2", 3: "a3", 4: "a4"}, stats)
    assert j._not_uploaded() == {cid(2), cid(4)}


def test_each_customer_is_inserted_updated_left_unchanged_or_rejected():
    stats = [
        stat(2, account="acc-2", digest="figures changed since"),
        stat(3, account="acc-3", digest=digest_of(3, "acc-3")),
        stat(4, account="acc-old", digest=digest_of(4, "acc-4")),  # coupled to another account since
    ]
    j = job({1: "acc-1", 2: "acc-2", 3: "acc-3", 4: "acc-4", 5: "acc-5"}, stats)
    existing = {"acc-1": None, "acc-2": "stats-2", "acc-3": "stats-3", "acc-4": None}  # acc-5 is gone from Sales
    changes = transform(j, [1, 2, 3, 4, 5], existing)

    writes, accounts = changes.writes
    assert [(w.number, w.existing, w.stats_id) for w in writes] == [
        ("C1", False, None),
        ("C2", True, "stats-2"),
        ("C4", False, "stats-4"),
    ]
    assert accounts is existing
    assert (changes.inserts, changes.updates, changes.counts["unchanged"]) == (2, 1, 1)
    failure = changes.failures.iloc[0]
    assert (failure["bc_id"], failure["field"]) == (cid(5), "accountid")
    assert failure["message"].startswith("Customer C5 (Hand Made Ltd.) is coupled to Sales account acc-5")


def test_a_customer_asked_for_by_hand_is_compared_with_sales_even_when_unchanged():
    j = job({3: "acc-3"}, [stat(3, account="acc-3", digest=digest_of(3, "acc-3"))], customers=("C3",))
    changes = transform(j, [3], {"acc-3": "stats-3"})
    (write,) = changes.writes[0]
    assert write.verify and changes.counts["unchanged"] == 0


def test_a_first_upload_uses_the_row_the_account_links_to_or_a_new_one_to_link():
    j = job({1: "acc-1", 2: "acc-2"})
    writes, accounts = transform(j, [1, 2], {"acc-1": "linked-row", "acc-2": None}).writes
    j._first_upload(writes, accounts)
    assert [(w.stats_id, w.needs_link) for w in writes] == [
        ("linked-row", False),
        (deterministic_id(STATISTICS, cid(2)), True),
    ]


def test_customers_gone_from_business_central_fail_with_their_number():
    j = job({1: "acc-1", 2: "acc-2"}, [stat(1, account="acc-1")])
    failures = j._gone({cid(1), cid(2)}).set_index("bc_id")
    assert failures.loc[cid(1), "message"].startswith(f"Customer C1 (id {cid(1)}) was not found in Business Central")
    assert failures.loc[cid(1), "crm_id"] == "stats-1"
    assert failures.loc[cid(2), "message"].startswith(f"The customer with id {cid(2)} was not found")
    assert "Sales account acc-2" in failures.loc[cid(2), "message"]


class Dataverse:
    """Answers each ``batch`` operation with the status ``status(op)`` gives; keeps what was sent."""

    def __init__(self, status):
        self.status = status
        self.sent: list[tuple[str, str, bool]] = []

    def batch(self, operations, **kwargs):
        results = []
        for op in operations:
            self.sent.append((op.entity_set, op.key, "If-Match" in op.headers))
            results.append(BatchResult(op, self.status(op), error_message="Not here"))
        return results


def test_statistics_deleted_in_sales_are_created_again_and_linked():
    def status(op):  # the row is gone: updating it fails, creating it works
        return 404 if op.entity_set == f.ENTITY_SET and "If-Match" in op.headers else 204

    dataverse = Dataverse(status)
    j = job({2: "acc-2"}, [stat(2, account="acc-2")], dataverse)
    outcome = j.write(transform(j, [2], {"acc-2": "stats-2"}), None)

    assert dataverse.sent == [
        (f.ENTITY_SET, "stats-2", True),  # an update only: it is gone
        (f.ENTITY_SET, "stats-2", False),  # created again
        ("accounts", "acc-2", True),  # and linked
    ]
    assert outcome.modified == 1 and outcome.failures is None
    assert outcome.successes.iloc[0]["extra"]["linked"] is True


@pytest.mark.parametrize(
    ("status", "start"),
    [(404, "Customer C1 (Hand Made Ltd.) is coupled to Sales account acc-1, which was not found"), (500, "Linking")],
)
def test_a_failed_link_fails_the_customer(status, start):
    dataverse = Dataverse(lambda op: status if op.entity_set == "accounts" else 204)
    j = job({1: "acc-1"}, dataverse=dataverse)
    outcome = j.write(transform(j, [1], {"acc-1": None}), None)

    assert outcome.successes is None and outcome.inserted == 0
    failure = outcome.failures.iloc[0]
    assert (failure["bc_id"], failure["field"]) == (cid(1), "accountid")
    assert failure["message"].startswith(start)
