"""Couplings of both directions and deletion conflicts, on SQLite.

The class ``TestTwoWayCouplings`` runs on whatever database the ``backend`` fixture names (see ``test_store.py``);
``tests/integration/test_state_postgres.py`` runs it again on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from include.bc_sales_sync.state import BC_SIDE, FROM_CRM, SALES_SIDE, TO_CRM, StateStore, UnknownJob
from include.bc_sales_sync.state.models import Base, UTCDateTime
from tests.unit.state import test_store as base
from tests.unit.state.test_store import MAPPING, T0, Clock, failure_rows, run_migration, success_rows

# The fixtures of the behaviour tests (the PostgreSQL module overrides ``backend``).
backend, state_url, clock, store = base.backend, base.state_url, base.clock, base.store

DELETED = "The record cannot be updated because it is coupled to a deleted record."
NEW_COLUMNS = ["from_crm_result", "from_crm_error", "from_crm_failed_count", "from_crm_job_id", "deleted_side"]
NEW_CHECKS = {"ck_sync_coupling_from_crm_result", "ck_sync_coupling_deleted_side"}
NEW_INDEXES = {"ix_sync_coupling_mapping_from_crm_result_skipped", "ix_sync_coupling_from_crm_job_id"}


def deleted_rows(ids: list[str], message: str = DELETED, **columns: Any) -> pd.DataFrame:
    return pd.DataFrame({"bc_id": ids, "crm_id": [f"crm-{i}" for i in ids], "message": [message] * len(ids), **columns})


def coupling(store: StateStore, bc_id: str, mapping: str = MAPPING) -> pd.Series:
    return store.couplings(mapping, bc_ids=[bc_id]).iloc[0]


# The coupling table as revision 0002 left it, to write rows before the upgrade.
LEGACY = sa.table(
    "sync_coupling",
    *(sa.column(name) for name in ("mapping", "bc_id", "crm_id", "last_result", "last_error", "last_job_id")),
    sa.column("failed_count", sa.Integer()),
    sa.column("skipped", sa.Boolean()),
    sa.column("bc_modified_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
)


def legacy_row(bc_id: str, **values: Any) -> dict[str, Any]:
    row = {"mapping": MAPPING, "bc_id": bc_id, "crm_id": f"crm-{bc_id}", "last_result": "success"}
    row.update(last_error=None, last_job_id=None, failed_count=0, skipped=False, bc_modified_at=T0, updated_at=T0)
    return {**row, **values}


def violates(store: StateStore, statement: sa.Executable) -> bool:
    try:
        with store.engine.begin() as conn:
            conn.execute(statement)
    except sa.exc.IntegrityError:
        return True
    return False


class TestTwoWayCouplings:
    # ------------------------------------------------------------------------------------------------ schema

    def test_migration_0003_up_and_down_keeps_the_couplings(self, state_url: Any) -> None:
        with StateStore(state_url, migrate=False) as store:
            run_migration(store, "upgrade", "0002")
            with store.engine.begin() as conn:
                conn.execute(
                    sa.insert(LEGACY),
                    [
                        legacy_row("1"),
                        legacy_row("2", crm_id=None, last_result="failure", last_error="x", failed_count=2),
                    ],
                )

            run_migration(store, "upgrade", "head")
            assert store.schema_revision() == "0003"
            after = store.couplings(MAPPING).set_index("bc_id")
            assert after.loc["1", "last_result"] == "success" and after.loc["1", "bc_modified_at"] == pd.Timestamp(T0)
            assert after.loc["2", "last_error"] == "x" and after.loc["2", "failed_count"] == 2
            assert (after["from_crm_failed_count"] == 0).all()
            assert after[["from_crm_result", "from_crm_error", "from_crm_job_id", "deleted_side"]].isna().all().all()
            inspector = sa.inspect(store.engine)
            assert {c["name"] for c in inspector.get_check_constraints("sync_coupling")} >= NEW_CHECKS
            assert {i["name"] for i in inspector.get_indexes("sync_coupling")} >= NEW_INDEXES
            coupling_table = Base.metadata.tables["sync_coupling"]
            for values in ({"deleted_side": "crm"}, {"from_crm_result": "maybe"}):
                assert violates(store, sa.update(coupling_table).where(coupling_table.c.bc_id == "1").values(values))
            assert not violates(
                store, sa.update(coupling_table).values(deleted_side="sales", from_crm_result="failure")
            )

            run_migration(store, "downgrade", "0002")
            inspector = sa.inspect(store.engine)
            columns = {c["name"] for c in inspector.get_columns("sync_coupling")}
            assert not columns & set(NEW_COLUMNS)
            assert not {c["name"] for c in inspector.get_check_constraints("sync_coupling")} & NEW_CHECKS
            indexes = {i["name"] for i in inspector.get_indexes("sync_coupling")}
            assert not indexes & NEW_INDEXES
            assert {"uq_sync_coupling_mapping_crm_id", "ix_sync_coupling_mapping_last_result_skipped"} <= indexes
            with store.engine.connect() as conn:
                kept = conn.execute(sa.select(LEGACY.c.bc_id, LEGACY.c.last_error).order_by(LEGACY.c.bc_id)).all()
            assert [tuple(r) for r in kept] == [("1", None), ("2", "x")]
            # What 0001 made stays as it was: the check on last_result and the partial unique index.
            assert violates(store, sa.update(LEGACY).values(last_result="maybe"))
            assert violates(store, sa.insert(LEGACY).values(legacy_row("3", crm_id="crm-1")))
            assert not violates(store, sa.insert(LEGACY).values(legacy_row("4", crm_id=None)))

            run_migration(store, "upgrade", "head")
            with store.engine.connect() as conn:
                context = MigrationContext.configure(conn, opts={"version_table": "sync_alembic_version"})
                assert compare_metadata(context, Base.metadata) == []

    def test_couplings_have_the_columns_of_both_directions(self, store: StateStore) -> None:
        empty = store.couplings(MAPPING)
        assert list(empty.columns[-len(NEW_COLUMNS) :]) == NEW_COLUMNS
        assert empty["from_crm_failed_count"].dtype == "int64"
        assert list(store.deleted().columns[:2]) == ["mapping", "bc_id"] and "message" in store.deleted().columns

    # ----------------------------------------------------------------------------------------- two directions

    def test_a_record_can_succeed_to_crm_and_fail_from_crm(self, store: StateStore) -> None:
        to_job = store.start_job(MAPPING)
        from_job = store.start_job(MAPPING, direction=FROM_CRM)
        store.record_success(MAPPING, to_job, success_rows(["1"]))
        store.record_failure(
            MAPPING, from_job, failure_rows(["1"], message="Customer 'C1' is blocked"), direction=FROM_CRM
        )
        row = coupling(store, "1")
        assert (row["last_result"], row["last_job_id"], row["failed_count"]) == ("success", to_job, 0)
        assert pd.isna(row["last_error"])
        assert (row["from_crm_result"], row["from_crm_error"]) == ("failure", "Customer 'C1' is blocked")
        assert (row["from_crm_job_id"], row["from_crm_failed_count"]) == (from_job, 1)
        assert store.failed_not_skipped(MAPPING).empty
        assert store.failed_not_skipped(MAPPING, TO_CRM).empty
        assert store.failed_not_skipped(MAPPING, direction=FROM_CRM)["bc_id"].tolist() == ["1"]
        assert store.errors(from_job)["source_id"].tolist() == ["1"]

        store.record_failure(MAPPING, to_job, failure_rows(["1"]))
        store.record_success(MAPPING, from_job, success_rows(["1"]), direction=FROM_CRM)
        row = coupling(store, "1")
        assert (row["last_result"], row["failed_count"]) == ("failure", 1)  # the other direction's stays
        assert (row["from_crm_result"], row["from_crm_job_id"], row["from_crm_failed_count"]) == (
            "success",
            from_job,
            0,
        )
        assert pd.isna(row["from_crm_error"])
        assert store.failed_not_skipped(MAPPING)["bc_id"].tolist() == ["1"]
        assert store.failed_not_skipped(MAPPING, FROM_CRM).empty

    def test_a_first_sync_from_crm_creates_the_coupling(self, store: StateStore) -> None:
        job = store.start_job(MAPPING, direction=FROM_CRM)
        store.record_success(MAPPING, job, success_rows(["1"]), direction=FROM_CRM)
        row = coupling(store, "1")
        assert (row["crm_id"], row["from_crm_result"], row["from_crm_failed_count"]) == ("crm-1", "success", 0)
        assert pd.isna(row["last_result"]) and row["failed_count"] == 0
        store.record_failure(MAPPING, job, failure_rows(["2"], crm_id=["crm-2"]), direction=FROM_CRM)
        row = coupling(store, "2")
        assert (row["crm_id"], row["from_crm_result"], row["failed_count"]) == ("crm-2", "failure", 0)

    def test_the_same_failure_twice_skips_within_one_direction_only(self, store: StateStore) -> None:
        to_job = store.start_job(MAPPING)
        from_job = store.start_job(MAPPING, direction=FROM_CRM)
        assert not store.record_failure(MAPPING, to_job, failure_rows(["1", "2"]))["skipped"].any()
        # The same message in the other direction is not a repetition.
        assert not store.record_failure(MAPPING, from_job, failure_rows(["1"]), direction=FROM_CRM)["skipped"].any()
        assert store.skipped(MAPPING).empty
        # A different failure in between in the other direction does not break a repetition either.
        store.record_failure(MAPPING, from_job, failure_rows(["2"], message="other"), direction=FROM_CRM)
        assert store.record_failure(MAPPING, to_job, failure_rows(["2"]))["skipped"].tolist() == [True]
        assert store.record_failure(MAPPING, from_job, failure_rows(["1"]), direction=FROM_CRM)["skipped"].tolist() == [
            True
        ]
        assert store.skipped(MAPPING)["bc_id"].tolist() == ["1", "2"]  # one skipped flag, shared
        one = coupling(store, "1")
        assert (one["failed_count"], one["from_crm_failed_count"]) == (1, 2)
        assert store.failed_not_skipped(MAPPING).empty and store.failed_not_skipped(MAPPING, FROM_CRM).empty

        # A success in either direction clears the shared flag, and only its own direction's failure.
        store.record_success(MAPPING, from_job, success_rows(["1"]), direction=FROM_CRM)
        assert store.skipped(MAPPING)["bc_id"].tolist() == ["2"]
        assert store.failed_not_skipped(MAPPING)["bc_id"].tolist() == ["1"]

    def test_successes_from_crm_move_the_times_as_successes_to_crm_do(self, store: StateStore) -> None:
        job = store.start_job(MAPPING, direction=FROM_CRM)
        store.record_success(MAPPING, job, success_rows(["1", "2"]), direction=FROM_CRM)
        earlier, later = T0 - dt.timedelta(minutes=1), T0 + dt.timedelta(minutes=1)
        rows = pd.DataFrame(
            {
                "bc_id": ["1", "2"],
                "crm_id": ["crm-1", "crm-2-recreated"],
                "bc_modified_at": [earlier, later],
                "crm_modified_at": [None, earlier],
            }
        )
        store.record_success(MAPPING, job, rows, direction=FROM_CRM)
        after = store.couplings(MAPPING).set_index("bc_id")
        assert after.loc["1", "bc_modified_at"] == pd.Timestamp(T0)  # only forward
        assert after.loc["1", "crm_modified_at"] == pd.Timestamp(T0 + dt.timedelta(seconds=1))  # null keeps it
        assert after.loc["2", "bc_modified_at"] == pd.Timestamp(later)
        assert after.loc["2", "crm_modified_at"] == pd.Timestamp(earlier)  # another row: its own time
        store.record_success(MAPPING, job, success_rows(["1"], at=earlier), forward_only=False, direction=FROM_CRM)
        assert coupling(store, "1")["bc_modified_at"] == pd.Timestamp(earlier)

    def test_a_first_failure_after_coupling_by_hand(self, store: StateStore) -> None:
        store.couple(MAPPING, "1", "crm-1")
        store.couple(MAPPING, "2", "crm-2")
        job = store.start_job(MAPPING)
        assert not store.record_failure(MAPPING, job, failure_rows(["1"]))["skipped"].any()
        assert not store.record_failure(MAPPING, job, failure_rows(["2"]), direction=FROM_CRM)["skipped"].any()
        # each is retried in the direction it failed, and still new in the other
        assert store.failed_not_skipped(MAPPING)["bc_id"].tolist() == ["1", "2"]
        assert store.failed_not_skipped(MAPPING, FROM_CRM)["bc_id"].tolist() == ["1", "2"]
        assert store.record_failure(MAPPING, job, failure_rows(["1"]))["skipped"].tolist() == [True]

    def test_a_coupling_made_by_hand_is_synchronized_first_by_the_next_run(self, store: StateStore) -> None:
        store.couple(MAPPING, "1", "crm-1")
        assert store.failed_not_skipped(MAPPING)["bc_id"].tolist() == ["1"]
        job = store.start_job(MAPPING)
        store.record_success(MAPPING, job, success_rows(["1"]))
        assert store.failed_not_skipped(MAPPING).empty  # synchronized once: an ordinary coupling now
        assert store.failed_not_skipped(MAPPING, FROM_CRM).empty  # BC's modified time is known

    def test_the_direction_is_checked(self, store: StateStore) -> None:
        job = store.start_job(MAPPING)
        for call in (
            lambda: store.failed_not_skipped(MAPPING, "to_bc"),
            lambda: store.record_success(MAPPING, job, success_rows(["1"]), direction="to_bc"),
            lambda: store.record_failure(MAPPING, job, failure_rows(["1"]), direction="to_bc"),
        ):
            with pytest.raises(ValueError, match=r"direction must be one of \('to_crm', 'from_crm'\), got 'to_bc'"):
                call()
        assert store.couplings(MAPPING).empty

    def test_cleanup_keeps_jobs_whose_failures_from_crm_are_open(self, store: StateStore, clock: Clock) -> None:
        def finished_job(failed_ids: list[str]) -> str:
            job = store.start_job(MAPPING, direction=FROM_CRM)
            store.record_failure(MAPPING, job, failure_rows(failed_ids), direction=FROM_CRM)
            store.add_counts(job, failed=len(failed_ids))
            store.finish_job(job)
            return job

        failing = finished_job(["still-failing"])
        recovered = finished_job(["recovered"])
        store.record_success(MAPPING, store.start_job(MAPPING), success_rows(["still-failing"]))  # the other way
        store.record_success(MAPPING, recovered, success_rows(["recovered"]), direction=FROM_CRM)
        clock.advance(dt.timedelta(days=40))
        store.cleanup(dt.timedelta(days=30))
        remaining = set(store.jobs(limit=100)["id"])
        assert failing in remaining and recovered not in remaining
        assert set(store.errors()["job_id"]) == {failing}

    def test_coupling_by_hand_to_another_row_resets_both_directions(self, store: StateStore) -> None:
        job = store.start_job(MAPPING, direction=FROM_CRM)
        store.record_failure(MAPPING, job, failure_rows(["1"], crm_id=["crm-1"]), direction=FROM_CRM)
        store.mark_deleted(MAPPING, job, deleted_rows(["1"]), BC_SIDE)
        store.couple(MAPPING, "1", "crm-new")
        row = coupling(store, "1")
        assert pd.isna(row["from_crm_result"]) and pd.isna(row["from_crm_error"]) and pd.isna(row["deleted_side"])
        assert row["from_crm_failed_count"] == 0

    # ----------------------------------------------------------------------------------- deletion conflicts

    def test_a_deleted_sales_row_fails_to_crm_and_waits_for_the_operator(self, store: StateStore) -> None:
        job = store.start_job(MAPPING)
        store.record_success(MAPPING, job, success_rows(["1", "2", "3"]))
        store.record_failure(MAPPING, job, failure_rows(["3"]))
        rows = deleted_rows(["1", "3"], field=["name", None])
        assert store.mark_deleted(MAPPING, job, rows, SALES_SIDE) == 2
        assert store.mark_deleted(MAPPING, job, rows, SALES_SIDE) == 2  # found again: still not skipped
        row = coupling(store, "1")
        assert (row["deleted_side"], row["last_result"], row["last_error"]) == ("sales", "failure", DELETED)
        assert (row["failed_count"], row["last_job_id"], bool(row["skipped"])) == (2, job, False)
        assert pd.isna(row["from_crm_result"]) and row["from_crm_failed_count"] == 0
        assert row["crm_id"] == "crm-1" and row["crm_modified_at"] == pd.Timestamp(T0 + dt.timedelta(seconds=1))
        assert store.skipped(MAPPING).empty
        # Not retried in either direction: "3" had failed before and is a deletion conflict now.
        assert store.failed_not_skipped(MAPPING).empty and store.failed_not_skipped(MAPPING, FROM_CRM).empty
        errors = store.errors(job)
        assert (errors["message"] == DELETED).sum() == 4
        assert errors.loc[errors["message"] == DELETED, "field"].tolist().count("name") == 2
        assert set(errors["target_id"].dropna()) == {"crm-1", "crm-3"}

    def test_a_deleted_bc_record_fails_from_crm(self, store: StateStore) -> None:
        to_job = store.start_job(MAPPING)
        from_job = store.start_job(MAPPING, direction=FROM_CRM)
        store.record_success(MAPPING, to_job, success_rows(["1"]))
        store.mark_deleted(MAPPING, from_job, deleted_rows(["1"]), BC_SIDE)
        row = coupling(store, "1")
        assert (row["deleted_side"], row["from_crm_result"], row["from_crm_error"]) == ("bc", "failure", DELETED)
        assert (row["from_crm_job_id"], row["from_crm_failed_count"]) == (from_job, 1)
        assert (row["last_result"], row["last_job_id"], row["failed_count"]) == ("success", to_job, 0)
        assert store.failed_not_skipped(MAPPING, FROM_CRM).empty

    def test_deleted_lists_the_conflicts_of_one_or_every_mapping(self, store: StateStore) -> None:
        job = store.start_job(MAPPING)
        store.record_success(MAPPING, job, success_rows(["1", "2", "3"]))
        store.mark_deleted(MAPPING, job, deleted_rows(["3"]), SALES_SIDE)
        store.mark_deleted(MAPPING, job, deleted_rows(["1"], message="BC record gone"), BC_SIDE)
        store.mark_deleted("OTHER", store.start_job("OTHER"), deleted_rows(["9"]), SALES_SIDE)
        mine = store.deleted(MAPPING)
        assert mine[["mapping", "bc_id", "crm_id", "deleted_side", "message"]].values.tolist() == [
            [MAPPING, "1", "crm-1", "bc", "BC record gone"],
            [MAPPING, "3", "crm-3", "sales", DELETED],
        ]
        assert store.deleted()[["mapping", "bc_id"]].values.tolist() == [
            ["ITEM-PRODUCT", "1"],
            ["ITEM-PRODUCT", "3"],
            ["OTHER", "9"],
        ]
        assert store.deleted("NONE").empty

    def test_a_success_clears_the_deletion_conflict(self, store: StateStore) -> None:
        job = store.start_job(MAPPING)
        store.mark_deleted(MAPPING, job, deleted_rows(["1", "2"]), SALES_SIDE)
        store.record_success(MAPPING, job, success_rows(["1"]))
        store.record_success(
            MAPPING, store.start_job(MAPPING, direction=FROM_CRM), success_rows(["2"]), direction=FROM_CRM
        )
        assert store.deleted(MAPPING).empty
        assert coupling(store, "1")["last_result"] == "success"

    def test_restore_lets_the_next_write_recreate_the_deleted_side(self, store: StateStore) -> None:
        to_job = store.start_job(MAPPING)
        from_job = store.start_job(MAPPING, direction=FROM_CRM)
        store.record_success(MAPPING, to_job, success_rows(["sales-gone", "bc-gone", "other", "failing"]))
        store.record_failure(MAPPING, from_job, failure_rows(["sales-gone"], message="blocked"), direction=FROM_CRM)
        store.record_failure(MAPPING, to_job, failure_rows(["failing"]))
        store.mark_deleted(MAPPING, to_job, deleted_rows(["sales-gone", "other"]), SALES_SIDE)
        store.mark_deleted(MAPPING, from_job, deleted_rows(["bc-gone"]), BC_SIDE)

        assert store.resolve_deleted(MAPPING, ["sales-gone", "bc-gone", "failing", "missing"], action="restore") == 2
        assert store.deleted(MAPPING)["bc_id"].tolist() == ["other"]
        sales = coupling(store, "sales-gone")
        assert pd.isna(sales["deleted_side"]) and sales["crm_id"] == "crm-sales-gone"
        assert pd.isna(sales["last_result"]) and pd.isna(sales["last_error"]) and sales["failed_count"] == 0
        assert pd.isna(sales["crm_modified_at"]) and sales["bc_modified_at"] == pd.Timestamp(T0)
        assert (sales["from_crm_result"], sales["from_crm_error"]) == (
            "failure",
            "blocked",
        )  # not the one that found it
        bc = coupling(store, "bc-gone")
        assert pd.isna(bc["from_crm_result"]) and pd.isna(bc["from_crm_error"]) and bc["from_crm_failed_count"] == 0
        assert pd.isna(bc["bc_modified_at"]) and bc["crm_modified_at"] == pd.Timestamp(T0 + dt.timedelta(seconds=1))
        assert bc["last_result"] == "success" and bc["crm_id"] == "crm-bc-gone"
        assert coupling(store, "failing")["last_result"] == "failure"  # no deletion conflict: left alone

        # Found deleted again after a restore: a first failure again, not a repeated one.
        store.mark_deleted(MAPPING, to_job, deleted_rows(["sales-gone"]), SALES_SIDE)
        assert coupling(store, "sales-gone")["failed_count"] == 1
        assert store.resolve_deleted(MAPPING, action="restore") == 2  # every conflict of the mapping
        assert store.deleted().empty
        assert store.resolve_deleted(MAPPING, [], action="restore") == 0

    def test_remove_uncouples_the_conflicts_only(self, store: StateStore) -> None:
        job = store.start_job(MAPPING)
        store.record_success(MAPPING, job, success_rows(["1", "2", "3", "4"]))
        store.mark_deleted(MAPPING, job, deleted_rows(["1", "2"]), SALES_SIDE)
        store.mark_deleted(MAPPING, job, deleted_rows(["3"]), BC_SIDE)
        store.mark_deleted("OTHER", store.start_job("OTHER"), deleted_rows(["1"]), SALES_SIDE)
        assert store.resolve_deleted(MAPPING, ["1", "4"], action="remove") == 1
        assert store.couplings(MAPPING)["bc_id"].tolist() == ["2", "3", "4"]
        assert store.resolve_deleted(MAPPING, action="remove") == 2
        assert store.couplings(MAPPING)["bc_id"].tolist() == ["4"]
        assert store.deleted()["mapping"].tolist() == ["OTHER"]

    def test_bad_deletion_input_names_the_problem(self, store: StateStore) -> None:
        job = store.start_job(MAPPING)
        with pytest.raises(ValueError, match=r"side must be one of \('bc', 'sales'\)"):
            store.mark_deleted(MAPPING, job, deleted_rows(["1"]), "crm")
        with pytest.raises(ValueError, match="crm_id"):
            store.mark_deleted(MAPPING, job, failure_rows(["1"]), SALES_SIDE)
        with pytest.raises(UnknownJob):
            store.mark_deleted(MAPPING, "no-such-job", deleted_rows(["1"]), SALES_SIDE)
        with pytest.raises(ValueError, match=r"action must be one of \('restore', 'remove'\)"):
            store.resolve_deleted(MAPPING, action="recreate")
        assert store.mark_deleted(MAPPING, job, deleted_rows([]), SALES_SIDE) == 0
        assert store.couplings(MAPPING).empty and store.errors().empty
