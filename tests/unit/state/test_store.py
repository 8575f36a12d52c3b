"""Behaviour of the sync state store on SQLite.

The class ``TestStateStore`` runs on whatever database the ``backend`` fixture names; here it is a SQLite file,
and ``tests/integration/test_state_postgres.py`` runs the same class on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from include.bc_sales_sync.state import (
    FROM_CRM,
    TO_CRM,
    CouplingConflict,
    LockLost,
    MappingLocked,
    StateStore,
    StateStoreError,
    UnknownJob,
    connection_url,
)
from include.bc_sales_sync.state.models import Base, Watermark

MAPPING = "ITEM-PRODUCT"
T0 = dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.UTC)
HEAD = "0003"
TABLES = {
    "sync_coupling",
    "sync_watermark",
    "sync_work_date",
    "sync_job",
    "sync_error",
    "sync_lock",
    "sync_alembic_version",
}
STATISTICS = "CUSTOMER STATISTICS"
COUPLING_COLUMNS = [
    "bc_id",
    "crm_id",
    "bc_modified_at",
    "crm_modified_at",
    "last_result",
    "last_error",
    "failed_count",
    "skipped",
    "extra",
]


class Clock:
    """A settable UTC clock, so expiry and age rules are tested without waiting."""

    def __init__(self, now: dt.datetime):
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, delta: dt.timedelta) -> None:
        self.now += delta


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """The database the behaviour tests run on (the PostgreSQL module overrides this fixture)."""
    return request.param


@pytest.fixture
def state_url(backend: str, request: pytest.FixtureRequest, tmp_path) -> Any:
    """An empty database of the chosen backend: a SQLite file, or a fresh PostgreSQL schema."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return request.getfixturevalue(f"{backend}_state_url")


@pytest.fixture
def clock() -> Clock:
    return Clock(dt.datetime.now(dt.UTC).replace(microsecond=0))


@pytest.fixture
def store(state_url: Any, clock: Clock) -> Iterator[StateStore]:
    with StateStore(state_url, clock=clock) as opened:
        yield opened


def success_rows(ids: list[str], at: dt.datetime = T0, **extra_columns: Any) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "bc_id": ids,
            "crm_id": [f"crm-{i}" for i in ids],
            "bc_modified_at": [at] * len(ids),
            "crm_modified_at": [at + dt.timedelta(seconds=1)] * len(ids),
            **extra_columns,
        }
    )


def failure_rows(ids: list[str], message: str = "Unit group 'NAV PCS' not found", **columns: Any) -> pd.DataFrame:
    return pd.DataFrame({"bc_id": ids, "message": [message] * len(ids), **columns})


def count_statements(store: StateStore) -> list[str]:
    """Every statement the store's engine sends from now on (an executemany counts once per batch)."""
    seen: list[str] = []
    sa.event.listen(store.engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    return seen


def run_migration(store: StateStore, command_name: str, revision: str) -> None:
    """``alembic upgrade|downgrade revision`` on the store's database.

    On PostgreSQL the session runs in a time zone west of UTC, where midnight UTC is still the day before: the
    migrations must not depend on it.
    """
    from alembic import command

    config = store.db.alembic_config()
    with store.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL TIME ZONE 'America/New_York'")
        config.attributes["connection"] = conn
        getattr(command, command_name)(config, revision)


class TestStateStore:
    # ------------------------------------------------------------------------------------------------ schema

    def test_migrations_create_the_schema_and_are_idempotent(self, store: StateStore, state_url: Any) -> None:
        assert set(sa.inspect(store.engine).get_table_names()) >= TABLES
        assert store.schema_revision() == HEAD
        statements = count_statements(store)
        store.migrate()
        with StateStore(state_url) as again:
            assert again.schema_revision() == HEAD
        # Already current: migrate() only reads the revision.
        assert all(not s.lstrip().upper().startswith(("CREATE", "ALTER", "INSERT", "UPDATE")) for s in statements)
        with store.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"version_table": "sync_alembic_version"})
            assert compare_metadata(context, Base.metadata) == []

    def test_concurrent_first_starts_migrate_once(self, state_url: Any) -> None:
        errors: list[BaseException] = []
        barrier = threading.Barrier(4)

        def start() -> None:
            try:
                barrier.wait(timeout=30)
                StateStore(state_url).close()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=start) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        with StateStore(state_url, migrate=False) as store:
            assert store.schema_revision() == HEAD

    def test_downgrade_then_upgrade(self, store: StateStore) -> None:
        run_migration(store, "downgrade", "base")
        assert not (TABLES - {"sync_alembic_version"}) & set(sa.inspect(store.engine).get_table_names())
        store.migrate()
        assert store.schema_revision() == HEAD
        assert set(sa.inspect(store.engine).get_table_names()) >= TABLES

    def test_the_statistics_work_date_moves_from_a_watermark_to_its_table_and_back(self, state_url: Any) -> None:
        fake_watermark = f"{STATISTICS}/work date"
        with StateStore(state_url, migrate=False) as store:
            run_migration(store, "upgrade", "0001")
            # What the statistics job kept before: the work date as a watermark at midnight UTC.
            store.advance_watermark(fake_watermark, dt.datetime(2024, 3, 1, tzinfo=dt.UTC))
            store.advance_watermark(STATISTICS, T0)
            store.advance_watermark(fake_watermark, T0, direction=FROM_CRM)  # not the job's: stays

            run_migration(store, "upgrade", "head")
            assert store.work_date(STATISTICS) == dt.date(2024, 3, 1)
            assert store.watermark(fake_watermark) is None
            assert store.watermark(STATISTICS) == T0
            assert store.watermark(fake_watermark, FROM_CRM) == T0

            store.set_work_date(STATISTICS, dt.date(2024, 3, 2))
            run_migration(store, "downgrade", "0001")
            assert "sync_work_date" not in sa.inspect(store.engine).get_table_names()
            assert store.watermark(fake_watermark) == dt.datetime(2024, 3, 2, tzinfo=dt.UTC)
            assert store.watermark(STATISTICS) == T0
            # Stored as the models store times (on SQLite: the same text), so comparisons with it stay right.
            with store.engine.connect() as conn:
                stored = sa.select(sa.func.count()).where(
                    Watermark.mapping == fake_watermark, Watermark.value == dt.datetime(2024, 3, 2, tzinfo=dt.UTC)
                )
                assert conn.execute(stored).scalar_one() == 1

            run_migration(store, "upgrade", "head")
            assert store.work_date(STATISTICS) == dt.date(2024, 3, 2)
            assert store.watermark(fake_watermark) is None

    def test_a_database_from_a_newer_version_is_refused(self, store: StateStore, state_url: Any) -> None:
        with store.engine.begin() as conn:
            conn.execute(sa.text("UPDATE sync_alembic_version SET version_num = '9999'"))
        with pytest.raises(StateStoreError, match=r"'9999'.*newer version"):
            StateStore(state_url)

    # --------------------------------------------------------------------------------------------- couplings

    def test_empty_couplings_have_the_columns_and_dtypes(self, store: StateStore) -> None:
        empty = store.couplings(MAPPING)
        assert empty.empty
        assert list(empty.columns[: len(COUPLING_COLUMNS)]) == COUPLING_COLUMNS
        store.record_success(MAPPING, store.start_job(MAPPING), success_rows(["1"]))
        full = store.couplings(MAPPING)
        assert full.dtypes.to_dict() == empty.dtypes.to_dict()
        assert str(full["bc_modified_at"].dtype) == "datetime64[us, UTC]"
        assert full["skipped"].dtype == bool
        assert full["failed_count"].dtype == "int64"

    def test_record_success_inserts_then_updates(self, store: StateStore) -> None:
        job = store.start_job(MAPPING)
        store.record_success(MAPPING, job, success_rows(["1", "2"], extra=[{"pricelevel_item": "p-1"}, None]))
        first = store.couplings(MAPPING).set_index("bc_id")
        assert list(first.index) == ["1", "2"]
        assert first.loc["1", "crm_id"] == "crm-1"
        assert first.loc["1", "bc_modified_at"] == pd.Timestamp(T0)
        assert first.loc["1", "crm_modified_at"] == pd.Timestamp(T0 + dt.timedelta(seconds=1))
        assert first.loc["1", "last_result"] == "success"
        assert first.loc["1", "extra"] == {"pricelevel_item": "p-1"}
        assert first.loc["2", "extra"] is None
        assert first.loc["1", "last_job_id"] == job
        assert not first["skipped"].any()
        assert (first["failed_count"] == 0).all()

        later = T0 + dt.timedelta(hours=1)
        job2 = store.start_job(MAPPING)
        store.record_success(
            MAPPING,
            job2,
            pd.DataFrame(
                {
                    # "1" newer on the BC side only; "2" older: its times must not move back.
                    "bc_id": ["1", "2"],
                    "crm_id": ["crm-1", "crm-2"],
                    "bc_modified_at": [later, T0 - dt.timedelta(days=1)],
                    "crm_modified_at": [None, T0 - dt.timedelta(days=1)],
                    "extra": [None, {"pricelevel_item": "p-2"}],
                }
            ),
        )
        second = store.couplings(MAPPING).set_index("bc_id")
        assert second.loc["1", "bc_modified_at"] == pd.Timestamp(later)
        assert second.loc["1", "crm_modified_at"] == pd.Timestamp(T0 + dt.timedelta(seconds=1))  # null kept it
        assert second.loc["1", "extra"] == {"pricelevel_item": "p-1"}  # null keeps the stored extra
        assert second.loc["2", "bc_modified_at"] == pd.Timestamp(T0)
        assert second.loc["2", "extra"] == {"pricelevel_item": "p-2"}
        assert (second["last_job_id"] == job2).all()

    def test_recoupling_and_moving_times_back(self, store: StateStore) -> None:
        job = store.start_job(MAPPING)
        store.record_success(MAPPING, job, success_rows(["1", "2"]))
        earlier = T0 - dt.timedelta(seconds=1)
        rows = success_rows(["1", "2"], at=earlier)
        rows["crm_id"] = ["crm-1-recreated", "crm-2"]
        store.record_success(MAPPING, job, rows)
        after = store.couplings(MAPPING).set_index("bc_id")
        # A new target row: its own modified time counts, even if older than the old row's.
        assert after.loc["1", "crm_id"] == "crm-1-recreated"
        assert after.loc["1", "crm_modified_at"] == pd.Timestamp(earlier + dt.timedelta(seconds=1))
        assert after.loc["1", "bc_modified_at"] == pd.Timestamp(T0)  # same record: only forward
        assert after.loc["2", "crm_modified_at"] == pd.Timestamp(T0 + dt.timedelta(seconds=1))

        # The conflict rule moves a time back on purpose.
        store.record_success(MAPPING, job, success_rows(["2"], at=earlier), forward_only=False)
        assert store.couplings(MAPPING, bc_ids=["2"]).loc[0, "bc_modified_at"] == pd.Timestamp(earlier)

    def test_record_success_keeps_the_last_row_of_a_repeated_record(self, store: StateStore) -> None:
        rows = pd.concat([success_rows(["1"]), success_rows(["1"], at=T0 + dt.timedelta(minutes=5))])
        store.record_success(MAPPING, store.start_job(MAPPING), rows)
        couplings = store.couplings(MAPPING)
        assert len(couplings) == 1
        assert couplings.loc[0, "bc_modified_at"] == pd.Timestamp(T0 + dt.timedelta(minutes=5))

    def test_times_come_back_as_utc(self, store: StateStore) -> None:
        cet = dt.timezone(dt.timedelta(hours=1))
        rows = success_rows(["1"])
        rows["bc_modified_at"] = [dt.datetime(2024, 3, 1, 13, 0, tzinfo=cet)]
        rows["crm_modified_at"] = [dt.datetime(2024, 3, 1, 12, 30)]  # naive: taken as UTC
        store.record_success(MAPPING, store.start_job(MAPPING), rows)
        row = store.couplings(MAPPING).iloc[0]
        assert row["bc_modified_at"] == pd.Timestamp("2024-03-01 12:00", tz="UTC")
        assert row["crm_modified_at"] == pd.Timestamp("2024-03-01 12:30", tz="UTC")
        assert str(row["bc_modified_at"].tz) == "UTC"

    def test_same_error_twice_skips_a_different_error_does_not(self, store: StateStore) -> None:
        job1 = store.start_job(MAPPING)
        first = store.record_failure(MAPPING, job1, failure_rows(["1", "2"]))
        assert list(first.columns) == ["bc_id", "message", "skipped"]
        assert not first["skipped"].any()
        created = store.couplings(MAPPING).set_index("bc_id")
        assert created["crm_id"].isna().all()  # the first insert failed: no target yet
        assert (created["last_result"] == "failure").all()
        assert (created["failed_count"] == 1).all()

        job2 = store.start_job(MAPPING)
        rows = pd.concat([failure_rows(["1"]), failure_rows(["2"], message="Price must not be negative")])
        second = store.record_failure(MAPPING, job2, rows)
        assert second.set_index("bc_id")["skipped"].to_dict() == {"1": True, "2": False}
        after = store.couplings(MAPPING).set_index("bc_id")
        assert bool(after.loc["1", "skipped"]) and not bool(after.loc["2", "skipped"])
        assert after.loc["2", "last_error"] == "Price must not be negative"
        assert (after["failed_count"] == 2).all()
        assert after.loc["1", "skipped_at"] == pd.Timestamp(store.db.now())

        # Already skipped: failing again does not "become" skipped a second time.
        third = store.record_failure(MAPPING, store.start_job(MAPPING), failure_rows(["1"]))
        assert not third["skipped"].any()
        assert bool(store.couplings(MAPPING, bc_ids=["1"]).loc[0, "skipped"])

    def test_success_clears_the_failure(self, store: StateStore) -> None:
        job = store.start_job(MAPPING)
        store.record_failure(MAPPING, job, failure_rows(["1"]))
        store.record_failure(MAPPING, job, failure_rows(["1"]))
        store.record_success(MAPPING, job, success_rows(["1"]))
        row = store.couplings(MAPPING).iloc[0]
        assert row["last_result"] == "success"
        assert pd.isna(row["last_error"])
        assert row["failed_count"] == 0
        assert not row["skipped"]
        assert row["crm_id"] == "crm-1"

    def test_failed_not_skipped_and_skipped(self, store: StateStore) -> None:
        job = store.start_job(MAPPING)
        store.record_success(MAPPING, job, success_rows(["ok"]))
        store.record_failure(MAPPING, job, failure_rows(["retry", "skip"]))
        store.record_failure(MAPPING, job, failure_rows(["skip"]))
        store.record_failure("OTHER", store.start_job("OTHER"), failure_rows(["retry-elsewhere"]))
        assert store.failed_not_skipped(MAPPING)["bc_id"].tolist() == ["retry"]
        assert store.skipped(MAPPING)["bc_id"].tolist() == ["skip"]
        assert list(store.skipped(MAPPING).columns[: len(COUPLING_COLUMNS)]) == COUPLING_COLUMNS

    def test_restore_unskips_and_the_record_is_retried(self, store: StateStore) -> None:
        job = store.start_job(MAPPING)
        store.record_failure(MAPPING, job, failure_rows(["1", "2", "3"]))
        store.record_failure(MAPPING, job, failure_rows(["1", "2"]))
        assert store.restore(MAPPING, ["1", "3", "missing"]) == 1  # "3" was failing but not skipped
        assert store.skipped(MAPPING)["bc_id"].tolist() == ["2"]
        assert sorted(store.failed_not_skipped(MAPPING)["bc_id"]) == ["1", "3"]
        assert pd.isna(store.couplings(MAPPING, bc_ids=["1"]).loc[0, "skipped_at"])

    def test_uncouple(self, store: StateStore) -> None:
        store.record_success(MAPPING, store.start_job(MAPPING), success_rows(["1", "2", "3"]))
        store.record_success("OTHER", store.start_job("OTHER"), success_rows(["1"]))
        assert store.uncouple(MAPPING, ["1", "3", "missing"]) == 2
        assert store.couplings(MAPPING)["bc_id"].tolist() == ["2"]
        assert store.couplings("OTHER")["bc_id"].tolist() == ["1"]

    def test_couplings_filters(self, store: StateStore) -> None:
        store.record_success(MAPPING, store.start_job(MAPPING), success_rows(["1", "2", "3"]))
        assert store.couplings(MAPPING, bc_ids=pd.Series(["3", "1", "9"]))["bc_id"].tolist() == ["1", "3"]
        assert store.couplings(MAPPING, crm_ids=["crm-2"])["bc_id"].tolist() == ["2"]
        assert store.couplings(MAPPING, bc_ids=["1", "2"], crm_ids=["crm-2", "crm-3"])["bc_id"].tolist() == ["2"]
        assert store.couplings(MAPPING, bc_ids=[]).empty

    def test_couplings_are_one_to_one(self, store: StateStore) -> None:
        store.couple(MAPPING, "1000", "crm-x")
        store.couple(MAPPING, "1000", "crm-x")  # the same coupling again: nothing to do
        with pytest.raises(CouplingConflict) as caught:
            store.couple(MAPPING, "1001", "crm-x")
        message = str(caught.value)
        assert all(part in message for part in (MAPPING, "'1000'", "'1001'", "'crm-x'", "uncouple"))
        assert (caught.value.bc_id, caught.value.coupled_bc_id) == ("1001", "1000")

        job = store.start_job(MAPPING)
        rows = success_rows(["1001", "1002"])
        rows["crm_id"] = ["crm-x", "crm-y"]
        with pytest.raises(CouplingConflict, match="already coupled to BC record '1000'"):
            store.record_success(MAPPING, job, rows)
        assert store.couplings(MAPPING)["bc_id"].tolist() == ["1000"]  # the whole call rolled back

        rows["crm_id"] = ["crm-z", "crm-z"]
        with pytest.raises(CouplingConflict, match="more than one BC record"):
            store.record_success(MAPPING, job, rows)
        with pytest.raises(CouplingConflict):
            store.record_failure(MAPPING, job, failure_rows(["1001"], crm_id=["crm-x"]))

        store.couple("OTHER", "1001", "crm-x")  # one-to-one per mapping only
        store.uncouple(MAPPING, ["1000"])
        store.couple(MAPPING, "1001", "crm-x")
        assert store.couplings(MAPPING, crm_ids=["crm-x"])["bc_id"].tolist() == ["1001"]

    def test_coupling_to_another_row_resets_the_history(self, store: StateStore) -> None:
        job = store.start_job(MAPPING)
        store.record_success(MAPPING, job, success_rows(["1"]))
        store.record_failure(MAPPING, job, failure_rows(["1"]))
        store.couple(MAPPING, "1", "crm-new")
        row = store.couplings(MAPPING).iloc[0]
        assert row["crm_id"] == "crm-new"
        assert pd.isna(row["bc_modified_at"]) and pd.isna(row["crm_modified_at"])
        assert pd.isna(row["last_result"]) and row["failed_count"] == 0

    def test_bad_input_names_the_problem(self, store: StateStore) -> None:
        job = store.start_job(MAPPING)
        with pytest.raises(ValueError, match="crm_modified_at"):
            store.record_success(MAPPING, job, pd.DataFrame({"bc_id": ["1"], "crm_id": ["x"], "bc_modified_at": [T0]}))
        with pytest.raises(ValueError, match="no bc_id"):
            store.record_failure(MAPPING, job, pd.DataFrame({"bc_id": [None], "message": ["x"]}))
        with pytest.raises(UnknownJob):
            store.record_failure(MAPPING, "no-such-job", failure_rows(["1"]))
        assert store.couplings(MAPPING).empty

    def test_ten_thousand_couplings_in_a_bounded_number_of_statements(self, store: StateStore) -> None:
        n = 10_000
        ids = [f"ITEM-{i:05d}" for i in range(n)]
        job = store.start_job(MAPPING)
        statements = count_statements(store)
        store.record_success(MAPPING, job, success_rows(ids))
        assert len(statements) <= 20, f"{len(statements)} statements for {n} rows"

        statements.clear()
        couplings = store.couplings(MAPPING)
        assert len(statements) <= 2  # (BEGIN on SQLite) and one SELECT
        assert len(couplings) == n
        assert couplings["bc_id"].tolist() == ids
        assert (couplings["crm_id"] == "crm-" + couplings["bc_id"]).all()

        statements.clear()
        again = success_rows(ids, at=T0 + dt.timedelta(hours=1))
        store.record_success(MAPPING, job, again)
        assert len(statements) <= 20
        statements.clear()
        chunked = store.couplings(MAPPING, bc_ids=ids)
        assert len(statements) <= 11
        assert (chunked["bc_modified_at"] == pd.Timestamp(T0 + dt.timedelta(hours=1))).all()

    # -------------------------------------------------------------------------------------------- watermarks

    def test_watermark_only_moves_forward_and_is_capped(self, store: StateStore) -> None:
        assert store.watermark(MAPPING) is None
        assert store.advance_watermark(MAPPING, T0) == T0
        assert store.advance_watermark(MAPPING, T0 - dt.timedelta(hours=1)) == T0
        assert store.advance_watermark(MAPPING, None) == T0
        assert store.advance_watermark(MAPPING, pd.NaT) == T0
        cap = T0 + dt.timedelta(minutes=30)
        assert store.advance_watermark(MAPPING, T0 + dt.timedelta(days=1), cap=cap) == cap
        assert store.watermark(MAPPING) == cap
        assert store.watermark(MAPPING).tzinfo == dt.UTC
        assert store.watermark(MAPPING, "from_crm") is None
        store.advance_watermark(MAPPING, T0, direction="from_crm")
        store.reset_watermark(MAPPING, "to_crm")
        assert store.watermark(MAPPING) is None
        assert store.watermark(MAPPING, "from_crm") == T0
        store.reset_watermark(MAPPING)
        assert store.watermark(MAPPING, "from_crm") is None
        with pytest.raises(ValueError, match="direction"):
            store.watermark(MAPPING, "sideways")

    def test_directions_are_kept_apart(self, store: StateStore) -> None:
        assert (TO_CRM, FROM_CRM) == ("to_crm", "from_crm")  # the names the tables store
        later = T0 + dt.timedelta(hours=1)
        store.advance_watermark(MAPPING, T0, direction=TO_CRM)
        assert store.advance_watermark(MAPPING, later + dt.timedelta(hours=1), direction=FROM_CRM, cap=later) == later
        assert store.watermark(MAPPING) == store.watermark(MAPPING, TO_CRM) == T0  # BC -> Sales by default
        assert store.watermark(MAPPING, direction=FROM_CRM) == later
        store.reset_watermark(MAPPING, direction=FROM_CRM)
        assert (store.watermark(MAPPING, TO_CRM), store.watermark(MAPPING, FROM_CRM)) == (T0, None)
        assert store.job(store.start_job(MAPPING))["direction"] == TO_CRM
        assert store.job(store.start_job(MAPPING, direction=FROM_CRM))["direction"] == FROM_CRM
        for call in (
            lambda: store.advance_watermark(MAPPING, T0, direction="to_bc"),
            lambda: store.reset_watermark(MAPPING, "to_bc"),
            lambda: store.start_job(MAPPING, direction="to_bc"),
        ):
            with pytest.raises(ValueError, match="direction must be one of"):
                call()

    # -------------------------------------------------------------------------------------------- work dates

    def test_work_date_only_moves_forward(self, store: StateStore) -> None:
        assert store.work_date(STATISTICS) is None
        store.set_work_date(STATISTICS, dt.date(2024, 12, 31))
        store.set_work_date(STATISTICS, dt.date(2024, 12, 30))  # never back
        assert store.work_date(STATISTICS) == dt.date(2024, 12, 31)
        store.set_work_date(STATISTICS, dt.date(2025, 1, 1))
        assert store.work_date(STATISTICS) == dt.date(2025, 1, 1)
        assert type(store.work_date(STATISTICS)) is dt.date
        assert store.work_date("OTHER JOB") is None
        assert store.watermark(STATISTICS) is None  # a work date is not a watermark
        with pytest.raises(TypeError, match="must be a date"):
            store.set_work_date(STATISTICS, dt.datetime(2025, 1, 2, tzinfo=dt.UTC))

    # -------------------------------------------------------------------------------------------------- jobs

    def test_job_counters_and_finish(self, store: StateStore, clock: Clock) -> None:
        window = (T0, T0 + dt.timedelta(minutes=30))
        job = store.start_job(
            MAPPING,
            run_id="manual__2024-03-01",
            dag_id="bc_sales_sync",
            task_id="item_product",
            window_start=window[0],
            window_end=window[1],
        )
        started = store.job(job)
        assert started["status"] == "running" and started["finished_at"] is None
        assert started["window_start"] == window[0] and started["window_end"] == window[1]
        store.add_counts(job, inserted=5, unchanged=2)
        store.add_counts(job, inserted=1, failed=1, skipped=0)
        clock.advance(dt.timedelta(minutes=2))
        finished = store.finish_job(job, status="failed", message="1 record failed")
        assert {k: finished[k] for k in ("inserted", "modified", "unchanged", "skipped", "failed", "deleted")} == {
            "inserted": 6,
            "modified": 0,
            "unchanged": 2,
            "skipped": 0,
            "failed": 1,
            "deleted": 0,
        }
        assert finished["status"] == "failed" and finished["message"] == "1 record failed"
        assert finished["finished_at"] - finished["started_at"] == dt.timedelta(minutes=2)
        assert finished["run_id"] == "manual__2024-03-01" and finished["dry_run"] is False
        assert store.job(job) == finished

        with pytest.raises(ValueError, match="unknown counter"):
            store.add_counts(job, created=1)
        with pytest.raises(UnknownJob):
            store.add_counts("nope", inserted=1)
        with pytest.raises(UnknownJob):
            store.finish_job("nope")
        with pytest.raises(UnknownJob):
            store.job("nope")

    def test_jobs_newest_first(self, store: StateStore, clock: Clock) -> None:
        ids = []
        for mapping in (MAPPING, "OTHER", MAPPING):
            ids.append(store.start_job(mapping, dry_run=mapping == "OTHER"))
            clock.advance(dt.timedelta(seconds=1))
        jobs = store.jobs()
        assert jobs["id"].tolist() == ids[::-1]
        assert store.jobs(MAPPING)["id"].tolist() == [ids[2], ids[0]]
        assert store.jobs(limit=1)["id"].tolist() == [ids[2]]
        assert jobs.set_index("id").loc[ids[1], "dry_run"]
        assert store.jobs("NONE").empty and "inserted" in store.jobs("NONE").columns

    def test_errors_listing(self, store: StateStore, clock: Clock) -> None:
        job1 = store.start_job(MAPPING)
        store.record_failure(MAPPING, job1, failure_rows(["1"], crm_id=["crm-1"], field=["price"]))
        clock.advance(dt.timedelta(seconds=1))
        job2 = store.start_job(MAPPING)
        store.record_failure(MAPPING, job2, failure_rows(["2", "3"], message="x" * 5000))
        store.record_failure("OTHER", store.start_job("OTHER"), failure_rows(["9"]))

        first = store.errors(job1)
        assert first[["source_id", "target_id", "field"]].values.tolist() == [["1", "crm-1", "price"]]
        assert first.loc[0, "message"] == "Unit group 'NAV PCS' not found"
        second = store.errors(job_id=job2)
        assert sorted(second["source_id"]) == ["2", "3"]
        assert second["target_id"].isna().all()
        assert (second["message"].str.len() == 2048).all()  # cut to the stored length
        by_mapping = store.errors(mapping=MAPPING)
        assert len(by_mapping) == 3 and by_mapping.loc[2, "source_id"] == "1"  # newest first
        assert len(store.errors(limit=2)) == 2
        assert store.errors("nope").empty and "message" in store.errors("nope").columns
        assert store.couplings(MAPPING, bc_ids=["2"]).loc[0, "last_error"] == "x" * 2047 + "…"

    def test_cleanup_deletes_old_finished_jobs_without_open_failures(self, store: StateStore, clock: Clock) -> None:
        def finished_job(failed_ids: tuple[str, ...] = ()) -> str:
            job = store.start_job(MAPPING)
            if failed_ids:
                store.record_failure(MAPPING, job, failure_rows(list(failed_ids)))
                store.add_counts(job, failed=len(failed_ids))
            store.finish_job(job)
            return job

        clean_old = finished_job()
        failing_old = finished_job(("still-failing",))
        recovered_old = finished_job(("recovered",))
        store.record_success(MAPPING, clean_old, success_rows(["recovered"]))
        running_old = store.start_job(MAPPING)
        clock.advance(dt.timedelta(days=40))
        recent = finished_job(("recent",))

        assert store.cleanup(dt.timedelta(days=30)) == 2
        remaining = set(store.jobs(limit=100)["id"])
        assert remaining == {failing_old, running_old, recent}
        assert clean_old not in remaining and recovered_old not in remaining
        assert set(store.errors()["job_id"]) == {failing_old, recent}
        assert store.cleanup(dt.timedelta(days=30)) == 0

    # ------------------------------------------------------------------------------------------------- locks

    def test_lock_excludes_another_holder(self, store: StateStore, state_url: Any, clock: Clock) -> None:
        with StateStore(state_url, clock=clock, migrate=False) as other_worker:
            with store.lock(MAPPING, "manual__run-1") as handle:
                assert handle.holder == "manual__run-1"
                with pytest.raises(MappingLocked) as caught, other_worker.lock(MAPPING, "scheduled__run-2"):
                    pytest.fail("two holders at once")
                assert caught.value.mapping == MAPPING and caught.value.holder == "manual__run-1"
                assert MAPPING in str(caught.value) and "manual__run-1" in str(caught.value)
                with other_worker.lock("OTHER", "scheduled__run-2"):  # other mappings are free
                    assert set(store.locks()["mapping"]) == {MAPPING, "OTHER"}
            with other_worker.lock(MAPPING, "scheduled__run-2"):  # released on exit
                pass
        assert store.locks().empty

    def test_lock_is_released_on_exception(self, store: StateStore) -> None:
        with pytest.raises(RuntimeError, match="load failed"), store.lock(MAPPING, "run-1"):
            raise RuntimeError("load failed")
        with store.lock(MAPPING, "run-2"):
            assert store.locks()["holder"].tolist() == ["run-2"]

    def test_expired_lock_is_taken_over(self, store: StateStore, clock: Clock) -> None:
        dead = store.acquire_lock(MAPPING, "run-that-died", ttl=dt.timedelta(hours=1))
        with pytest.raises(MappingLocked):
            store.acquire_lock(MAPPING, "run-2")
        clock.advance(dt.timedelta(hours=1, seconds=1))
        with store.lock(MAPPING, "run-2", ttl=dt.timedelta(minutes=10)) as handle:
            assert store.locks()["holder"].tolist() == ["run-2"]
            with pytest.raises(LockLost):
                dead.refresh()
            assert store.release_lock(MAPPING, "run-that-died") is False  # cannot release someone else's
            clock.advance(dt.timedelta(minutes=9))
            assert handle.refresh() == clock.now + dt.timedelta(minutes=10)
            clock.advance(dt.timedelta(minutes=9))
            with pytest.raises(MappingLocked):  # refreshed: still live
                store.acquire_lock(MAPPING, "run-3")
        assert store.locks().empty

    def test_same_holder_takes_its_lock_again_and_break_lock(self, store: StateStore) -> None:
        store.acquire_lock(MAPPING, "run-1")
        store.acquire_lock(MAPPING, "run-1")  # a retried task of the same run
        assert store.break_lock(MAPPING) is True
        assert store.locks().empty
        with pytest.raises(ValueError, match="ttl"):
            store.acquire_lock(MAPPING, "run-1", ttl=dt.timedelta(0))

    def test_lock_has_one_winner_under_concurrency(self, store: StateStore) -> None:
        contenders = 6
        barrier = threading.Barrier(contenders)
        release = threading.Event()
        done = threading.Condition()
        winners: list[str] = []
        refused: list[str] = []
        unexpected: list[BaseException] = []

        def contend(holder: str) -> None:
            try:
                barrier.wait(timeout=30)
                with store.lock(MAPPING, holder):
                    winners.append(holder)
                    release.wait(timeout=30)
            except MappingLocked as exc:
                with done:
                    refused.append(exc.holder)
                    done.notify_all()
            except BaseException as exc:
                unexpected.append(exc)

        threads = [threading.Thread(target=contend, args=(f"run-{i}",)) for i in range(contenders)]
        for thread in threads:
            thread.start()
        with done:
            assert done.wait_for(lambda: len(refused) + len(unexpected) >= contenders - 1, timeout=60)
        release.set()
        for thread in threads:
            thread.join(timeout=60)
        assert unexpected == []
        assert len(winners) == 1
        assert refused == [winners[0]] * (contenders - 1)
        assert store.locks().empty


# ---------------------------------------------------------------------------------- where the database is


def test_connection_url_from_airflow_connections() -> None:
    postgres = SimpleNamespace(
        conn_id="bc_sync_state",
        conn_type="postgres",
        host="db.internal",
        login="sync",
        password="p@ss/word",
        port=5433,
        schema="bc_sync",
        extra_dejson={"sslmode": "require", "cursor": "dictcursor"},
    )
    url = connection_url(postgres)
    assert url.drivername == "postgresql+psycopg2"
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "sync",
        "p@ss/word",
        "db.internal",
        5433,
        "bc_sync",
    )
    assert dict(url.query) == {"sslmode": "require"}  # only libpq options pass through
    assert "p@ss" not in repr(StateStore(url, migrate=False))  # creating the engine does not connect

    sqlite_conn = SimpleNamespace(conn_type="sqlite", host="", schema="/data/state.db", login=None, password=None)
    assert connection_url(sqlite_conn).render_as_string() == "sqlite:////data/state.db"
    with pytest.raises(StateStoreError, match="'postgres' or 'sqlite'"):
        connection_url(SimpleNamespace(conn_id="x", conn_type="http"))


def test_from_airflow_reads_the_connection_then_the_environment_then_a_default(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))
    monkeypatch.delenv("BC_SYNC_STATE_URL", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_BC_SYNC_STATE", f"sqlite:///{tmp_path / 'from_conn.db'}")
    with StateStore.from_airflow() as store:
        assert store.url.database == str(tmp_path / "from_conn.db")
        assert store.schema_revision() == HEAD

    monkeypatch.delenv("AIRFLOW_CONN_BC_SYNC_STATE")
    monkeypatch.setenv("BC_SYNC_STATE_URL", f"sqlite:///{tmp_path / 'from_env.db'}")
    with StateStore.from_airflow(migrate=False) as store:
        assert store.url.database == str(tmp_path / "from_env.db")

    monkeypatch.delenv("BC_SYNC_STATE_URL")
    with StateStore.from_airflow(migrate=False) as store:
        assert store.url.database == str(tmp_path / "airflow" / "bc_sales_sync_state.db")

    monkeypatch.delenv("AIRFLOW_HOME")
    monkeypatch.chdir(tmp_path)
    with StateStore.from_airflow(migrate=False) as store:
        assert store.url.database == str(tmp_path / ".airflow" / "bc_sales_sync_state.db")


def test_unsupported_database_is_refused() -> None:
    with pytest.raises(StateStoreError, match="SQLite or PostgreSQL"):
        StateStore("mysql+pymysql://root@127.0.0.1/test", migrate=False)
