"""Airflow operators of the sync (imported by DAG files, so nothing heavy at module level)."""

from include.bc_sales_sync.operators.entity_sync import EntitySyncOperator

__all__ = ["EntitySyncOperator"]
