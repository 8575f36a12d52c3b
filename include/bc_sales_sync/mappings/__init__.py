"""Declarative table mappings: what each sync job reads, how it matches, and where it writes.

A mapping is data. The default catalogue (:mod:`.catalogue`) holds the mappings BC's own
integration sets up; users override any of them without editing code through the Airflow
Variable ``bc_sales_sync_mappings`` (JSON) and get the defaults back by deleting it
(``python -m include.bc_sales_sync.mappings reset``).
"""

from include.bc_sales_sync.mappings.model import (
    ConflictPolicy,
    Direction,
    FieldMap,
    Mapping,
    MappingError,
    Source,
    Target,
)

__all__ = ["ConflictPolicy", "Direction", "FieldMap", "Mapping", "MappingError", "Source", "Target"]
