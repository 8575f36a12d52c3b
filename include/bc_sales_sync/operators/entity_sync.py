"""``EntitySyncOperator``: runs one mapping (one BC sync job) from an Airflow task.

The operator only wires Airflow to the job skeleton: it resolves the mapping (defaults plus user
overrides), picks the window from the run, opens the connections in ``execute`` (never at parse
time) and returns a small summary to XCom.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from include.bc_sales_sync.jobs import Window

# The same overlap as every job's (include.bc_sales_sync.jobs.incremental.DEFAULT_OVERLAP); kept
# here as a literal so that importing a DAG file does not import the jobs.
DEFAULT_OVERLAP = dt.timedelta(seconds=2)
# Sales -> BC reads start 999 ms before their watermark, as BC's do (jobs.incremental.SALES_OVERLAP).
SALES_OVERLAP = dt.timedelta(milliseconds=999)


class EntitySyncOperator(BaseOperator):
    """Synchronizes one mapping between Business Central and Dynamics 365 Sales.

    As BC's job does, a bidirectional mapping runs Business Central → Sales first, then Sales →
    Business Central, each with its own watermark, job record and counters; the task returns the
    first direction's summary with the second's under ``from_crm``.

    Scheduled runs read what changed since the mapping's watermark; backfill runs read exactly
    their data interval; ``params.full_sync`` reads everything. ``params.mappings`` (a list of
    mapping names or task ids) runs a subset, the other tasks skip; a disabled mapping (BC's
    OPPORTUNITY has no job of its own) skips unless that list names it; ``params.dry_run``
    reports what would change and writes nothing. A task runs once the tasks before it succeeded
    or skipped (trigger rule ``none_failed``), so a skipped task does not skip the ones after it.

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
        # A task skipped (not chosen, disabled) must not skip the tasks after it; a failed one still stops them.
        kwargs.setdefault("trigger_rule", "none_failed")
        super().__init__(**kwargs)
        self.mapping = mapping
        self.business_central_conn_id = business_central_conn_id
        self.dataverse_conn_id = dataverse_conn_id
        self.state_conn_id = state_conn_id
        self.page_size = page_size
        self.overlap = overlap

    def execute(self, context: Context) -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        from include.bc_sales_sync.jobs import RunOptions
        from include.bc_sales_sync.jobs.connections import open_connections
        from include.bc_sales_sync.mappings.registry import load_mappings
        from include.bc_sales_sync.sync.directions import run_mapping

        params = context.get("params") or {}
        mapping = load_mappings()[self.mapping]
        subset = [str(m).strip() for m in params.get("mappings") or [] if str(m).strip()]
        named = mapping.name in subset or mapping.task_id in subset
        if subset and not named:
            raise AirflowSkipException(f"{mapping.name} is not among the mappings chosen for this run: {subset}.")
        if not mapping.enabled and not named:
            raise AirflowSkipException(
                f"{mapping.name} is disabled in the mapping settings. Name it in the run's 'mappings' param to "
                f'run it once, or enable it with the override {{"{mapping.name}": {{"enabled": true}}}}.'
            )

        options = RunOptions(
            dry_run=bool(params.get("dry_run", False)),
            full_sync=bool(params.get("full_sync", False)),
            page_size=self.page_size,
            run_id=context["run_id"],
            dag_id=self.dag_id,
            task_id=self.task_id,
        )
        with open_connections(self.business_central_conn_id, self.dataverse_conn_id, self.state_conn_id) as c:

            def window_of(direction: str) -> Window:
                return self.window(context, c.state, mapping.name, full_sync=options.full_sync, direction=direction)

            return run_mapping(mapping, c.bc, c.dataverse, c.state, options, window_of)

    def window(
        self, context: Context, state, mapping_name: str, *, full_sync: bool = False, direction: str = "to_crm"
    ) -> Window:
        """The records this run reads (see the class docstring and :mod:`include.bc_sales_sync.jobs.incremental`)."""
        from include.bc_sales_sync.jobs import choose_window, run_type_of

        return choose_window(
            None if full_sync else state.watermark(mapping_name, direction),
            full_sync=full_sync,
            run_type=run_type_of(context),
            data_interval=(context.get("data_interval_start"), context.get("data_interval_end")),
            overlap=self.overlap if direction == "to_crm" else SALES_OVERLAP,
        )
