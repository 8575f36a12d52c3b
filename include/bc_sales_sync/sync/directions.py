"""One mapping in every direction it synchronizes: Business Central → Sales first, then Sales →
Business Central, as BC's job runs them, each with its own watermark, job record and counters."""

from __future__ import annotations

from collections.abc import Callable

from include.bc_sales_sync.jobs import RunOptions, Window, run_job
from include.bc_sales_sync.mappings import Mapping
from include.bc_sales_sync.state import FROM_CRM, TO_CRM
from include.bc_sales_sync.sync.from_crm import SalesToBcJob
from include.bc_sales_sync.sync.job import EntitySyncJob


def run_mapping(
    mapping: Mapping, bc, dataverse, state, options: RunOptions, window_of: Callable[[str], Window]
) -> dict:
    """Run ``mapping`` once in each of its directions.

    :param window_of: the window of a direction (``to_crm`` or ``from_crm``).
    :return: the first direction's summary, with the Sales → BC one under ``from_crm`` when both ran.
    """
    summaries = []
    if mapping.syncs_to_crm:
        job = EntitySyncJob(mapping, bc, dataverse)
        summaries.append(run_job(job, state, options, window_of(TO_CRM)).as_dict())
    if mapping.syncs_from_crm:
        job = SalesToBcJob(mapping, bc, dataverse)
        summaries.append(run_job(job, state, options, window_of(FROM_CRM)).as_dict())
    first, *rest = summaries
    return {**first, FROM_CRM: rest[0]} if rest else first
