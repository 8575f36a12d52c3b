"""Business Central's error responses: ``{"error": {"code": ..., "message": "...  CorrelationId:  <guid>."}}``."""

from __future__ import annotations

import uuid


class BCError(Exception):
    """An error answered the way BC answers it.

    :param status: the HTTP status.
    :param code: BC's error code (``BadRequest_NotFound``, ``Internal_RecordNotFound``, ...).
    :param message: the text before BC's correlation id; it names the record and field and,
        where it helps, what to do.
    """

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict:
        return error_body(self.code, self.message)


def error_body(code: str, message: str) -> dict:
    message = message.rstrip()
    return {"error": {"code": code, "message": f"{message}  CorrelationId:  {uuid.uuid4()}."}}


def bad_request(message: str, code: str = "BadRequest") -> BCError:
    return BCError(400, code, message)


def not_found_segment(segment: str) -> BCError:
    return BCError(404, "BadRequest_ResourceNotFound", f"Resource not found for the segment '{segment}'.")


def record_not_found(caption: str, fields: str) -> BCError:
    return BCError(
        404, "Internal_RecordNotFound", f"The {caption} does not exist. Identification fields and values: {fields}"
    )


def method_not_allowed(method: str, entity_set: str) -> BCError:
    return BCError(
        405,
        "BadRequest_MethodNotAllowed",
        f"'{method}' requests for '{entity_set}' of EdmType 'Entity' are not allowed within "
        "Microsoft Dynamics 365 Business Central OData web services.",
    )


def field_error(message: str) -> BCError:
    return BCError(400, "Application_FieldValidationException", message)


def invalid_relation(field: str, table: str, value: str, related: str) -> BCError:
    """A code that names no record of the table its field relates to (BC's table relation check)."""
    return BCError(
        400,
        "Internal_InvalidTableRelation",
        f"The field {field} of table {table} contains a value ({value}) that cannot be found in the related "
        f"table ({related}).",
    )


class UnknownRelatedId(BCError):
    """An id that names no record of the related table; :meth:`named` words it as BC's API pages do."""

    def __init__(self, column: str, related: str):
        super().__init__(400, "Application_DialogException", f'The "{column}" does not match to a {related}.')
        self.column = column
        self.related = related

    def named(self, prop: str) -> BCError:
        return BCError(self.status, self.code, f'The "{prop}" does not match to a {self.related}.')


def dialog(message: str) -> BCError:
    """A business rule of BC's application code refused the change (AL ``Error()``)."""
    return BCError(400, "Application_DialogException", message)


FAULT_CODES = {
    429: ("Application_TooManyRequests", "Too many requests reached. Retry the request after the delay."),
    500: ("Internal_ServerError", "An unexpected error occurred on the server."),
    502: ("Internal_BadGateway", "The service is temporarily unreachable. Retry the request."),
    503: ("Internal_ServiceUnavailable", "The service is temporarily unavailable. Retry the request later."),
    504: ("Internal_GatewayTimeout", "The request timed out. Retry the request."),
    408: ("Internal_OperationTimeout", "The operation timed out and the session was canceled."),
}


def fault_response(status: int, retry_after: float | None) -> tuple[dict, dict[str, str]]:
    """The body of an injected fault, shaped as BC shapes the same failure."""
    code, message = FAULT_CODES.get(status, (f"Internal_Http{status}", f"The request failed with HTTP {status}."))
    return error_body(code, message), {"odata-version": "4.0"}
