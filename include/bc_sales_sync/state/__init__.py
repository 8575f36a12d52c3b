"""The sync state store: couplings, watermarks, sync job logs, per-record errors and mapping locks.

See ``README.md`` in this folder for the tables and how to point the store at PostgreSQL.
"""

from .errors import CouplingConflict, LockLost, MappingLocked, StateStoreError, UnknownJob
from .store import LockHandle, StateStore, connection_url, default_sqlite_url, resolve_url

__all__ = [
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
