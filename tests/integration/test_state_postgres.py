"""The state store's behaviour tests (``tests/unit/state/test_store.py`` and ``test_two_way.py``: couplings of
both directions, deletion conflicts and migration 0003 up and down) run again on PostgreSQL.

The local server at 127.0.0.1:5432 (trust auth) gets a database of its own for this test session,
``bc_sync_test_<random>``, dropped at the end; every test works in a fresh schema of it. A server that is down is
started with ``pg_ctlcluster``; the tests are skipped only when that cannot work.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

# The behaviour tests and the fixtures they use, collected here again with the ``backend`` fixture below.
from tests.unit.state.test_store import TestStateStore, clock, state_url, store  # noqa: F401
from tests.unit.state.test_two_way import TestTwoWayCouplings  # noqa: F401

pytestmark = pytest.mark.postgres

ADMIN_URL = make_url(
    os.environ.get("BC_SYNC_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
).update_query_dict({"connect_timeout": "5"})


@pytest.fixture(params=["postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def _reachable(engine: sa.Engine) -> str | None:
    """``None`` when the server answers, else why not."""
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return None
    except sa.exc.OperationalError as exc:
        return str(exc.orig).strip().splitlines()[0]


def _start_server() -> str:
    """Start the local cluster; returns what happened, for the skip reason."""
    versions = sorted(p.name for p in Path("/etc/postgresql").glob("*")) if Path("/etc/postgresql").is_dir() else []
    if not versions:
        return "no PostgreSQL cluster is installed here (/etc/postgresql is empty)"
    command = ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{' '.join(command)} failed: {exc}"
    return f"{' '.join(command)} exited with {done.returncode}: {(done.stderr or done.stdout).strip()[:300]}"


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[URL]:
    """A new database on the local server for this session, dropped afterwards."""
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    problem = _reachable(admin)
    if problem is not None:
        started = _start_server()
        # pg_ctlcluster waits for the server by default; a few more tries cover a slow first accept.
        for _ in range(10):
            problem = _reachable(admin)
            if problem is None:
                break
            time.sleep(1)
        else:
            pytest.skip(
                f"PostgreSQL at {ADMIN_URL.host}:{ADMIN_URL.port} is down ({problem}) and could not be started: {started}"
            )
    name = f"bc_sync_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield ADMIN_URL.set(database=name)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def postgres_state_url(postgres_database: URL) -> Iterator[URL]:
    """An empty schema of the session's database; the store finds it through the search path."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(postgres_database, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield postgres_database.update_query_dict({"options": f"-csearch_path={schema}"})
    finally:
        with engine.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        engine.dispose()


def test_the_store_uses_its_own_schema(postgres_state_url: URL) -> None:
    from include.bc_sales_sync.state import StateStore

    with StateStore(postgres_state_url) as opened, opened.engine.connect() as conn:
        schema = conn.exec_driver_sql("SELECT current_schema()").scalar()
        assert schema == postgres_state_url.query["options"].split("=", 1)[1]
        assert "sync_coupling" in sa.inspect(conn).get_table_names(schema=schema)
