"""``EntitySyncOperator``: runs one mapping (one BC sync job) from an Airflow task.

The operator only wires Airflow to the engine: it resolves the mapping (defaults plus user
overrides), picks the window from the run, builds the hooks and the state store in ``execute``
(never at parse time) and returns a small summary to XCom.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from include.bc_sales_sync.sync.engine import Window

# Re-read this much before the watermark: upserts are idempotent and unchanged records cost no
# write, so a small overlap guards against records committed with a slightly older timestamp.
DEFAULT_OVERLAP = dt.timedelta(seconds=2)


class EntitySyncOperator(BaseOperator):
    """Synchronizes one mapping from Business Central to Dynamics 365 Sales.

    Scheduled runs read what changed since the mapping's watermark; backfill runs read exactly
    their data interval; ``params.full_sync`` reads everything. ``params.mappings`` (a list of
    mapping names or task ids) runs a subset, the other tasks skip; ``params.dry_run`` reports
    what would change and writes nothing.

    :param mapping: the mapping name, e.g. ``ITEM-PRODUCT``.
    :param business_central_conn_id: the Business Central connection.
    :param dataverse_conn_id: the Dataverse (Dynamics 365 Sales) connection.
    :param state_conn_id: the connection of the sync state database (SQLite file when absent).
    :param page_size: records per page read from Business Central (and per chunk written).
    :param overlap: how far before the watermark a scheduled run starts reading.
    """

    template_fields: Sequence[str] = ("mapping", "business_central_conn_id", "dataverse_conn_id", "state_conn_id")
    ui_color = "#d6eaf8"

    def __init__(
        self,
        *,
        mapping: str,
        business_central_conn_id: str = "business_central_default",
        dataverse_conn_id: str = "dataverse_default",
        state_conn_id: str = "bc_sync_state",
        page_size: int = 5000,
        overlap: dt.timedelta = DEFAULT_OVERLAP,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.mapping = mapping
        self.business_central_conn_id = business_central_conn_id
        self.dataverse_conn_id = dataverse_conn_id
        self.state_conn_id = state_conn_id
        self.page_size = page_size
        self.overlap = overlap

    def execute(self, context: Context) -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        from include.bc_sales_sync.hooks import BusinessCentralHook, DataverseHook
        from include.bc_sales_sync.mappings.registry import load_mappings
        from include.bc_sales_sync.state import StateStore
        from include.bc_sales_sync.sync.engine import RunOptions, SyncEngine

        params = context.get("params") or {}
        mapping = load_mappings()[self.mapping]
        subset = [str(m).strip() for m in params.get("mappings") or [] if str(m).strip()]
        if subset and mapping.name not in subset and mapping.task_id not in subset:
            raise AirflowSkipException(f"{mapping.name} is not among the mappings chosen for this run: {subset}.")
        if not mapping.enabled:
            raise AirflowSkipException(f"{mapping.name} is disabled in the mapping settings.")

        state = StateStore.from_airflow(self.state_conn_id)
        options = RunOptions(
            dry_run=bool(params.get("dry_run", False)),
            full_sync=bool(params.get("full_sync", False)),
            page_size=self.page_size,
            run_id=context["run_id"],
            dag_id=self.dag_id,
            task_id=self.task_id,
        )
        engine = SyncEngine(
            mapping,
            BusinessCentralHook(self.business_central_conn_id),
            DataverseHook(self.dataverse_conn_id),
            state,
            options,
        )
        return engine.run(self.window(context, state, mapping.name, full_sync=options.full_sync)).as_dict()

    def window(self, context: Context, state, mapping_name: str, *, full_sync: bool = False) -> Window:
        """The records this run reads (see the class docstring)."""
        from include.bc_sales_sync.sync.engine import Window

        if full_sync:
            return Window(kind="full")
        dag_run = context.get("dag_run")
        run_type = getattr(dag_run, "run_type", None)
        run_type = str(getattr(run_type, "value", run_type) or "").lower()  # an enum in the Task SDK
        start, end = context.get("data_interval_start"), context.get("data_interval_end")
        if run_type == "backfill" and start is not None and end is not None and start < end:
            return Window(start, end, kind="interval")
        watermark = state.watermark(mapping_name)
        return Window(watermark - self.overlap if watermark else None, kind="incremental")
