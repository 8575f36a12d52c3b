"""The sync state store: couplings, watermarks, work dates, sync job logs, per-record errors and mapping locks.

See ``README.md`` in this folder for the tables and how to point the store at PostgreSQL.
"""

from .database import connection_url, default_sqlite_url, resolve_url
from .errors import CouplingConflict, LockLost, MappingLocked, StateStoreError, UnknownJob
from .locks import LockHandle
from .models import BC_SIDE, DIRECTIONS, FROM_CRM, SALES_SIDE, SIDES, TO_CRM
from .store import StateStore

__all__ = [
    "BC_SIDE",
    "DIRECTIONS",
    "FROM_CRM",
    "SALES_SIDE",
    "SIDES",
    "TO_CRM",
    "CouplingConflict",
    "LockHandle",
    "LockLost",
    "MappingLocked",
    "StateStore",
    "StateStoreError",
    "UnknownJob",
    "connection_url",
    "default_sqlite_url",
    "resolve_url",
]
