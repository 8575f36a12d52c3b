"""Errors raised by the sync state store; each message says what to do about it."""

from __future__ import annotations

import datetime as dt


class StateStoreError(Exception):
    """Base class of the state store's errors."""


class MappingLocked(StateStoreError):
    """Another live run holds the mapping's lock.

    :param mapping: the mapping that is locked.
    :param holder: who holds it (a run id, or host and process id).
    :param expires_at: when the lock may be taken over if its holder never releases it.
    """

    def __init__(self, mapping: str, holder: str, expires_at: dt.datetime | None = None):
        self.mapping = mapping
        self.holder = holder
        self.expires_at = expires_at
        until = f" until {expires_at.isoformat()}" if expires_at else ""
        super().__init__(
            f"Mapping {mapping!r} is being synchronized by {holder!r} (lock held{until}). "
            "Wait for that run to finish; if it died, its lock is taken over once it expires, "
            "or remove it with StateStore.break_lock()."
        )


class LockLost(StateStoreError):
    """The caller's lock was taken over (it had expired) or removed while the caller still worked."""

    def __init__(self, mapping: str, holder: str):
        self.mapping = mapping
        self.holder = holder
        super().__init__(
            f"The lock on mapping {mapping!r} held by {holder!r} expired or was removed while the run was still "
            "working. Another run may be syncing this mapping now; stop this run and use a longer lock ttl."
        )


class CouplingConflict(StateStoreError):
    """A Dataverse row is already coupled to another BC record of the same mapping (couplings are one-to-one).

    :param mapping: the mapping.
    :param bc_id: the BC record that was to be coupled.
    :param crm_id: the Dataverse row it was to be coupled to.
    :param coupled_bc_id: the BC record that row is coupled to already (``None`` when the clash is inside the
        caller's own input).
    :param count: how many conflicting rows the call had in all.
    """

    def __init__(self, mapping: str, bc_id: str, crm_id: str, coupled_bc_id: str | None, count: int = 1):
        self.mapping = mapping
        self.bc_id = bc_id
        self.crm_id = crm_id
        self.coupled_bc_id = coupled_bc_id
        self.count = count
        other = (
            f"is already coupled to BC record {coupled_bc_id!r}"
            if coupled_bc_id is not None
            else "is given for more than one BC record in the same call"
        )
        more = f" ({count - 1} more conflicting rows in this call)" if count > 1 else ""
        super().__init__(
            f"Mapping {mapping!r}: cannot couple BC record {bc_id!r} to Dataverse row {crm_id!r}: that row {other}. "
            f"A row can be coupled to one record only: uncouple the other record first{more}."
        )


class UnknownJob(StateStoreError):
    """No sync job has that id."""

    def __init__(self, job_id: str):
        self.job_id = job_id
        super().__init__(f"No sync job has id {job_id!r}; start one with StateStore.start_job() first.")
