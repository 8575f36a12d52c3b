"""The invoice payment status job's decisions: which state each Sales invoice gets, and how it is sent."""

from __future__ import annotations

import pandas as pd
import pytest

from include.bc_sales_sync.hooks.batch import BatchResult
from include.bc_sales_sync.jobs import Chunk
from include.bc_sales_sync.statistics.payments import InvoicePaymentStatusJob, _Entries

ACTIVE, BILLED = 0, 4
PAID, COMPLETE, PARTIAL = 2, 100001, 100002


def entry(number: str, amount: float, remaining: float, entry_no: int = 1) -> dict:
    return {
        "Entry_No": entry_no,
        "Document_No": number,
        "Customer_No": "C1",
        "Amount": amount,
        "Remaining_Amount": remaining,
        "SystemModifiedAt": "2025-05-01T10:00:00Z",
    }


def invoice(number: str, state: int = ACTIVE, status: int = BILLED) -> dict:
    return {"invoiceid": f"inv-{number.lower()}", "invoicenumber": number, "statecode": state, "statuscode": status}


class Dataverse:
    """Answers ``iter_pages`` with the given invoices and ``batch`` with 204, or 400 for the refused keys."""

    def __init__(self, invoices: list[dict] = (), refuse: set[str] = frozenset()):
        self.invoices, self.refuse = list(invoices), refuse
        self.batches: list[list] = []

    def iter_pages(self, entity_set, **kwargs):
        yield self.invoices

    def batch(self, operations, **kwargs):
        self.batches.append(list(operations))
        return [
            BatchResult(op, 400, error_message="Invalid state transition")
            if op.key in self.refuse
            else BatchResult(op, 204)
            for op in operations
        ]


def job(dataverse=None, *, coupled=(), skipped=(), retry=()) -> InvoicePaymentStatusJob:
    """A job as :meth:`read` leaves it, without reading anything."""
    j = InvoicePaymentStatusJob(None, dataverse, state=None)
    j.coupled, j.skipped, j.retry, j.done = set(coupled), set(skipped), set(retry), set()
    return j


def decide(j: InvoicePaymentStatusJob, entries: list[dict], invoices: list[dict] | None):
    chunk = Chunk(_Entries(pd.DataFrame(entries), None if invoices is None else pd.DataFrame(invoices)))
    planned = j.plan(chunk, None)
    return chunk, planned, j.transform(planned, None)


def test_each_invoice_gets_the_state_of_its_remaining_amount():
    entries = [entry("I1", 100, 0), entry("I2", 100, 40), entry("I3", 100, 100), entry("I4", 100, 100)]
    invoices = [invoice("I1"), invoice("I2"), invoice("I3"), invoice("I4", PAID, COMPLETE)]
    chunk, _, changes = decide(job(), entries, invoices)

    assert [(w.number, w.state, w.status, w.current_state) for w in changes.writes] == [
        ("I1", PAID, COMPLETE, ACTIVE),
        ("I2", PAID, PARTIAL, ACTIVE),
        ("I4", ACTIVE, BILLED, PAID),  # the payment was reversed
    ]
    assert changes.updates == 3 and changes.counts["unchanged"] == 1  # I3: nothing paid, still billed
    assert chunk.size == 4
    assert changes.successes is None and changes.failures is None


def test_the_newest_entry_of_an_invoice_counts_and_an_invoice_is_handled_once_per_run():
    j = job()
    entries = [entry("I1", 100, 0, entry_no=7), entry("I1", 100, 100, entry_no=3)]
    _, _, changes = decide(j, entries, [invoice("I1")])
    assert [(w.number, w.status) for w in changes.writes] == [("I1", COMPLETE)]

    _, planned, again = decide(j, entries, [invoice("I1")])
    assert not planned and not again.writes


def test_skipped_invoices_are_counted_and_left_alone():
    _, _, changes = decide(
        job(skipped={"I1"}), [entry("I1", 100, 0), entry("I2", 100, 0)], [invoice("I1"), invoice("I2")]
    )
    assert [w.number for w in changes.writes] == ["I2"]
    assert changes.counts["skipped"] == 1


def test_an_invoice_that_failed_last_time_and_is_right_now_is_recorded_as_synced():
    _, _, changes = decide(job(retry={"I1"}), [entry("I1", 100, 0)], [invoice("I1", PAID, COMPLETE)])
    assert not changes.writes and changes.counts["unchanged"] == 1
    success = changes.successes.iloc[0]
    assert (success["bc_id"], success["crm_id"]) == ("I1", "inv-i1")
    assert success["extra"] == {"statecode": PAID, "statuscode": COMPLETE}
    assert success["bc_modified_at"] == pd.Timestamp("2025-05-01T10:00:00Z")


def test_entries_of_invoices_not_in_sales_are_ignored_unless_they_failed_last_time():
    dataverse = Dataverse([invoice("I1")])
    j = job(dataverse, coupled={"inv-i1"}, retry={"I9"})
    chunk, _, changes = decide(j, [entry("I1", 100, 0), entry("I8", 100, 0), entry("I9", 100, 0)], None)

    assert [w.number for w in changes.writes] == ["I1"] and chunk.size == 1
    failure = changes.failures.iloc[0]
    assert (failure["bc_id"], failure["field"]) == ("I9", "invoicenumber")
    assert "no coupled Sales invoice has this number any more" in failure["message"]


def test_uncoupled_sales_invoices_with_the_same_number_are_not_touched():
    j = job(Dataverse([invoice("I1")]), coupled=set())
    _, planned, changes = decide(j, [entry("I1", 100, 0)], None)
    assert planned.merged.empty and not changes.writes


@pytest.mark.parametrize(
    ("current", "wanted", "expected"),
    [
        ((ACTIVE, BILLED), (PAID, COMPLETE), [[], ["set"]]),  # active: nothing to re-activate
        ((PAID, PARTIAL), (PAID, COMPLETE), [["reopen"], ["set"]]),  # paid invoices go back to active first
        ((PAID, COMPLETE), (ACTIVE, BILLED), [["reopen"], []]),  # re-activating is all it takes
    ],
)
def test_invoices_not_active_are_reactivated_before_their_new_state(current, wanted, expected):
    dataverse = Dataverse()
    j = job(dataverse)
    remaining = {(PAID, COMPLETE): 0, (PAID, PARTIAL): 40, (ACTIVE, BILLED): 100}[wanted]
    _, _, changes = decide(j, [entry("I1", 100, remaining)], [invoice("I1", *current)])
    outcome = j.write(changes, None)

    reopen = {"statecode": ACTIVE, "statuscode": BILLED}
    assert [["reopen" if op.body == reopen else "set" for op in b] for b in dataverse.batches] == expected
    assert outcome.modified == 1 and outcome.failures is None
    assert outcome.successes["extra"].tolist() == [{"statecode": wanted[0], "statuscode": wanted[1]}]


def test_a_refused_reactivation_fails_the_invoice_without_setting_its_state():
    dataverse = Dataverse(refuse={"inv-i1"})
    j = job(dataverse)
    _, _, changes = decide(j, [entry("I1", 100, 0)], [invoice("I1", PAID, PARTIAL)])
    outcome = j.write(changes, None)

    assert [len(b) for b in dataverse.batches] == [1, 0]
    assert outcome.modified == 0 and outcome.successes is None
    failure = outcome.failures.iloc[0]
    assert (failure["bc_id"], failure["crm_id"], failure["field"]) == ("I1", "inv-i1", "statecode")
    assert failure["message"].startswith("Invoice I1: Re-activating the invoice before changing its state failed")
    assert "HTTP 400" in failure["message"] and "Invalid state transition" in failure["message"]
