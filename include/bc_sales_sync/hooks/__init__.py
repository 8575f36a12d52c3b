"""Hooks for Dynamics 365 Business Central and Dataverse (Dynamics 365 Sales): the only code that speaks HTTP
to the two APIs. Errors are typed (``exceptions``); tokens come from Entra ID (``auth``)."""

from __future__ import annotations

from include.bc_sales_sync.hooks.business_central import BcBatchRequest, BcBatchResponse, BusinessCentralHook
from include.bc_sales_sync.hooks.dataverse import BatchOperation, BatchResult, DataverseHook
from include.bc_sales_sync.hooks.exceptions import (
    AuthenticationError,
    BadRequest,
    ConfigurationError,
    Conflict,
    ConnectionDropped,
    DynamicsApiError,
    DynamicsError,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    RateLimited,
    TransientError,
)

__all__ = [
    "AuthenticationError",
    "BadRequest",
    "BatchOperation",
    "BatchResult",
    "BcBatchRequest",
    "BcBatchResponse",
    "BusinessCentralHook",
    "ConfigurationError",
    "Conflict",
    "ConnectionDropped",
    "DataverseHook",
    "DynamicsApiError",
    "DynamicsError",
    "NotFound",
    "PermissionDenied",
    "PreconditionFailed",
    "RateLimited",
    "TransientError",
]
