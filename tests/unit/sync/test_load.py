"""The write plan for one record: order of the writes, Not Null columns, required rows,
and how a create refused as a duplicate is reported. Dataverse is a fake that answers by rule."""

from __future__ import annotations

import pandas as pd

from include.bc_sales_sync.hooks.dataverse import BatchResult
from include.bc_sales_sync.sync.load import load
from include.bc_sales_sync.sync.plan import RecordPlan, WritePlan, operations
from include.bc_sales_sync.transforms.base import TargetRows


def invoice_rows() -> tuple[TargetRows, TargetRows]:
    header = TargetRows(
        "invoices",
        pd.DataFrame([{"bc_id": "b1", "target_id": "i1", "name": "PS-1", "ownerid@odata.bind": None, "statecode": 2}]),
        final=("statecode",),
        not_null=frozenset({"ownerid@odata.bind"}),
    )
    lines = TargetRows(
        "invoicedetails",
        pd.DataFrame([{"bc_id": "b1", "target_id": "l1", "invoiceid@odata.bind": "/invoices(i1)", "quantity": 2}]),
        insert_only=frozenset({"invoiceid@odata.bind"}),
    )
    return header, lines


def plan_for(create: bool) -> tuple[RecordPlan, list]:
    header, lines = invoice_rows()
    children = [(lines, lines.rows.to_dict("records")[0])]
    ops = operations("b1", header, header.rows.to_dict("records")[0], children, create=create)
    return RecordPlan("b1", "i1", create, "hash", ops, children), ops


def test_a_new_record_is_written_then_its_children_then_its_final_columns():
    _, ops = plan_for(create=True)
    assert [(op.role, op.entity_set, op.create) for op in ops] == [
        ("primary", "invoices", True),
        ("child", "invoicedetails", True),
        ("final", "invoices", False),
    ]
    # a None in a Not Null column is not sent; final columns wait for their own request
    assert ops[0].body == {"name": "PS-1"}
    assert ops[1].body == {"invoiceid@odata.bind": "/invoices(i1)", "quantity": 2}
    assert ops[2].body == {"statecode": 2}


def test_an_existing_record_is_updated_then_its_children_then_its_final_columns():
    _, ops = plan_for(create=False)
    assert [(op.role, op.create) for op in ops] == [("primary", False), ("child", False), ("final", False)]
    assert ops[1].body == {"quantity": 2}  # insert-only columns stay out of an update


class FakeDataverse:
    """Answers each operation by ``rule(entity_set, key, headers)`` and keeps what was sent."""

    def __init__(self, rule):
        self.rule, self.sent, self.clock = rule, [], 0

    def batch(self, operations, continue_on_error=True):
        self.sent.append(operations)
        out = []
        for op in operations:
            status, message = self.rule(op.entity_set, op.key, op.headers)
            self.clock += 1
            body = {"modifiedon": f"2026-01-01T00:00:{self.clock:02d}Z"} if status < 300 and op.select else None
            out.append(
                BatchResult(
                    op, status, body=body, error_code="0x80040237" if status == 412 else None, error_message=message
                )
            )
        return out


def conditions(op) -> dict:
    """The create-only / update-only headers of an operation."""
    return {k: v for k, v in op.headers.items() if k in ("If-Match", "If-None-Match")}


def test_required_rows_go_first_once_and_an_existing_one_is_fine():
    dataverse = FakeDataverse(lambda entity_set, key, headers: (412, "exists") if key == "pl1" else (204, None))
    plan, _ = plan_for(create=True)
    required = TargetRows(
        "pricelevels", pd.DataFrame([{"bc_id": None, "target_id": "pl1", "name": "Price List in GBP"}] * 2)
    )
    outcomes = load(dataverse, WritePlan({"b1": plan}, [required]))
    assert outcomes == {"b1": None}
    (sent,) = dataverse.sent
    assert [(op.entity_set, op.key, conditions(op)) for op in sent][:2] == [
        ("pricelevels", "pl1", {"If-None-Match": "*"}),
        ("invoices", "i1", {"If-None-Match": "*"}),
    ]
    assert len(sent) == 4


def test_a_create_refused_as_a_duplicate_key_reports_that_refusal():
    def rule(entity_set, key, headers):
        if entity_set == "invoices" and "If-None-Match" in headers:
            return 412, "A record with matching key values already exists."
        if entity_set == "invoices":
            return 404, "invoice With Id = i1 Does Not Exist"
        return 204, None

    dataverse = FakeDataverse(rule)
    plan, _ = plan_for(create=True)
    (message,) = load(dataverse, WritePlan({"b1": plan})).values()
    assert "HTTP 412" in message and "matching key values already exists" in message
    assert "Then, as an update" in message and "HTTP 404" in message
    # the second attempt updated the row
    assert conditions(dataverse.sent[1][0]) == {"If-Match": "*"}


def test_a_child_missing_from_an_existing_record_is_created():
    created: set[str] = set()

    def rule(entity_set, key, headers):
        if entity_set == "invoicedetails" and "If-Match" in headers and key not in created:
            return 404, "invoicedetail With Id = l1 Does Not Exist"
        created.add(key)
        return 204, None

    dataverse = FakeDataverse(rule)
    plan, _ = plan_for(create=False)
    assert load(dataverse, WritePlan({"b1": plan})) == {"b1": None}
    first, second = dataverse.sent
    assert [op.key for op in first] == ["i1", "l1", "i1"]  # update, line, state
    # the line is created, then the invoice gets its final columns again (its state closes it last)
    assert [(op.key, conditions(op)) for op in second] == [("l1", {"If-None-Match": "*"}), ("i1", {"If-Match": "*"})]
    assert [op.role for op in plan.operations] == ["child", "final"]


def test_the_rows_own_writes_return_its_modified_time_which_the_plan_keeps():
    dataverse = FakeDataverse(lambda entity_set, key, headers: (204, None))
    plan, _ = plan_for(create=True)
    load(dataverse, WritePlan({"b1": plan}))
    (sent,) = dataverse.sent
    # the invoice's own writes ask for modifiedon only; its line is written without an answer
    assert [(op.entity_set, op.select, op.headers.get("Prefer")) for op in sent] == [
        ("invoices", ("modifiedon",), "return=representation"),
        ("invoicedetails", (), None),
        ("invoices", ("modifiedon",), "return=representation"),
    ]
    assert sent[0].path == "invoices('i1')?$select=modifiedon"  # a GUID would go unquoted
    assert plan.modified_on == "2026-01-01T00:00:03Z"  # the last write of the row: its final columns


def gone():
    """Rows missing until created: an update of a missing row answers 404."""
    created: set[str] = set()

    def rule(entity_set, key, headers):
        if "If-Match" in headers and key not in created:
            return 404, f"{entity_set} With Id = {key} Does Not Exist"
        created.add(key)
        return 204, None

    return rule


def test_a_synchronized_row_deleted_in_sales_is_a_deletion_conflict_not_re_created():
    dataverse = FakeDataverse(gone())
    plan, _ = plan_for(create=False)
    plan.may_recreate = False
    (message,) = load(dataverse, WritePlan({"b1": plan}), name="POSTEDSALESINV-INV").values()
    assert plan.deleted and len(dataverse.sent) == 1  # nothing was created
    assert "coupled to a deleted record: invoices(i1) no longer exists in Sales" in message
    assert "restore-deleted --mapping 'POSTEDSALESINV-INV'" in message


def test_a_row_coupled_by_hand_or_restored_is_created_when_missing():
    dataverse = FakeDataverse(gone())
    plan, _ = plan_for(create=False)  # may_recreate: never synchronized since it was coupled
    assert load(dataverse, WritePlan({"b1": plan})) == {"b1": None}
    assert plan.created and not plan.deleted
    assert conditions(dataverse.sent[1][0]) == {"If-None-Match": "*"}
