"""Opening the hooks and the state store of a run, and closing them all, also on failure."""

from __future__ import annotations

import pytest

from include.bc_sales_sync.jobs.connections import open_connections


class Opened:
    """Stands in for a hook or the state store: remembers what it was opened with and closing."""

    def __init__(self, kind: str, conn_id: str, closed: list[str]):
        self.kind, self.conn_id, self._closed = kind, conn_id, closed

    def close(self) -> None:
        self._closed.append(self.kind)


@pytest.fixture
def closed(monkeypatch) -> list[str]:
    """What was closed, in order; the hooks and the store are replaced by :class:`Opened`."""
    closed: list[str] = []

    class State:
        @classmethod
        def from_airflow(cls, conn_id):
            return Opened("state", conn_id, closed)

    monkeypatch.setattr("include.bc_sales_sync.state.StateStore", State)
    monkeypatch.setattr("include.bc_sales_sync.hooks.BusinessCentralHook", lambda c: Opened("bc", c, closed))
    monkeypatch.setattr("include.bc_sales_sync.hooks.DataverseHook", lambda c: Opened("dataverse", c, closed))
    return closed


def test_connections_are_opened_from_their_conn_ids_and_closed_on_exit(closed):
    with open_connections("bc_test", "dv_test", "state_test") as c:
        assert (c.bc.conn_id, c.dataverse.conn_id, c.state.conn_id) == ("bc_test", "dv_test", "state_test")
        assert closed == []
    assert closed == ["dataverse", "bc", "state"]


def test_default_conn_ids(closed):
    with open_connections() as c:
        assert (c.bc.conn_id, c.dataverse.conn_id, c.state.conn_id) == (
            "business_central_default",
            "dataverse_default",
            "bc_sync_state",
        )


def test_everything_is_closed_when_the_run_fails(closed):
    with pytest.raises(RuntimeError, match="the job broke"), open_connections():
        raise RuntimeError("the job broke")
    assert closed == ["dataverse", "bc", "state"]


def test_what_was_opened_is_closed_when_a_later_hook_cannot_be_created(closed, monkeypatch):
    def broken(conn_id):
        raise ValueError(f"connection {conn_id} is not defined")

    monkeypatch.setattr("include.bc_sales_sync.hooks.DataverseHook", broken)
    with pytest.raises(ValueError, match="dataverse_default is not defined"), open_connections():
        pytest.fail("the body must not run")
    assert closed == ["bc", "state"]


def test_a_failing_close_does_not_keep_the_others_open(closed, monkeypatch):
    class Refusing(Opened):
        def close(self) -> None:
            raise OSError("socket already gone")

    monkeypatch.setattr("include.bc_sales_sync.hooks.DataverseHook", lambda c: Refusing("dataverse", c, closed))
    with pytest.raises(OSError, match="socket already gone"), open_connections():
        pass
    assert closed == ["bc", "state"]
