"""Dataverse error responses: ``{"error": {"code": "0x...", "message": "..."}}`` with its HTTP status.

The codes are the platform's HRESULTs (hex strings), not HTTP statuses:

=============  ======  ===========================================================
code           status  meaning here
=============  ======  ===========================================================
0x80040217     404     ObjectDoesNotExist: no record with that id or key
0x80040237     412     DuplicateRecord: a key or unique column combination exists
0x80060882     412     ConcurrencyVersionMismatch: the If-Match ETag is stale
0x80060888     400/404 OData parse errors: unknown segment, property, query option
0x80044331     400     validation failed: a value is too long or out of range
0x8004431a     400     an option set value is not one of the column's options
0x80040203     400     InvalidArgument: a required column is missing, a rule is broken
0x80072322     429     service protection: too many requests in the time window
0x8005F101     401     the bearer token is missing, invalid or expired
0x80072560     403     the caller is not a user of this organization
=============  ======  ===========================================================
"""

from __future__ import annotations

NOT_FOUND = "0x80040217"
DUPLICATE = "0x80040237"
VERSION_MISMATCH = "0x80060882"
ODATA = "0x80060888"
VALIDATION = "0x80044331"
OPTION_RANGE = "0x8004431a"
INVALID_ARGUMENT = "0x80040203"
TOO_MANY_REQUESTS = "0x80072322"
AUTHENTICATION = "0x8005F101"
NOT_A_MEMBER = "0x80072560"
UNEXPECTED = "0x80040216"


class DataverseError(Exception):
    """An error the Web API answers with; ``headers`` are added to the response."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message}}


def bad_request(message: str, code: str = INVALID_ARGUMENT) -> DataverseError:
    return DataverseError(400, code, message)


def odata_error(message: str, status: int = 400) -> DataverseError:
    return DataverseError(status, ODATA, message)


def not_found(logical: str, key: str) -> DataverseError:
    return DataverseError(404, NOT_FOUND, f"{logical} With Id = {key} Does Not Exist")


def duplicate(detail: str = "") -> DataverseError:
    message = "A record with matching key values already exists."
    return DataverseError(412, DUPLICATE, f"{message} {detail}".strip())


def segment_not_found(segment: str) -> DataverseError:
    return DataverseError(404, ODATA, f"Resource not found for the segment '{segment}'.")
