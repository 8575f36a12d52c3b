"""Opening what a job talks to from Airflow connections, and closing it all, also on failure."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass
class Connections:
    """The hooks and the state store of one run."""

    bc: Any
    dataverse: Any
    state: Any


@contextlib.contextmanager
def open_connections(
    business_central_conn_id: str = "business_central_default",
    dataverse_conn_id: str = "dataverse_default",
    state_conn_id: str = "bc_sync_state",
) -> Iterator[Connections]:
    """The Business Central and Dataverse hooks and the state store, closed on exit.

    Hooks are created here, at run time, never when a DAG file is parsed.
    """
    from include.bc_sales_sync.hooks import BusinessCentralHook, DataverseHook
    from include.bc_sales_sync.state import StateStore

    with contextlib.ExitStack() as stack:
        state = StateStore.from_airflow(state_conn_id)
        stack.callback(state.close)
        bc = BusinessCentralHook(business_central_conn_id)
        stack.callback(bc.close)
        dataverse = DataverseHook(dataverse_conn_id)
        stack.callback(dataverse.close)
        yield Connections(bc, dataverse, state)
