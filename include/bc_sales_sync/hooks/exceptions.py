"""Typed errors raised by the Business Central and Dataverse hooks.

Every error that comes from an HTTP response is a :class:`DynamicsApiError` carrying the status,
the service's error code and message, the request id and the URL (with secret query values
redacted), so callers can branch on the type and users can read what went wrong and what to do.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

# Query parameters whose values are secrets or opaque server state: never shown in errors or logs.
_SECRET_QUERY_KEYS = {
    "$skiptoken",
    "$deltatoken",
    "access_token",
    "api-key",
    "apikey",
    "client_secret",
    "code",
    "key",
    "password",
    "sig",
    "signature",
    "token",
}
_SAFE = "$'(),/:=@!*+"
_REQUEST_ID_HEADERS = ("x-ms-service-request-id", "request-id", "x-ms-request-id", "req_id", "ms-correlation-x")


def safe_url(url: str | None) -> str:
    """``url`` with the values of secret or opaque query parameters replaced by ``***``."""
    if not url:
        return ""
    parts = urlsplit(url)
    if not parts.query:
        return url
    query = "&".join(
        f"{key}=***" if key.lower() in _SECRET_QUERY_KEYS else f"{key}={quote(value, safe=_SAFE)}"
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
    )
    return urlunsplit(parts._replace(query=query))


class DynamicsError(AirflowException):
    """Base of every error the hooks raise."""


class ConfigurationError(DynamicsError, AirflowFailException, ValueError):
    """The Airflow connection is incomplete or invalid; retrying the task cannot help."""


class DynamicsApiError(DynamicsError):
    """An API call failed.

    :param message: what failed, in words a user can act on.
    :param status: the HTTP status, or ``None`` when no response arrived.
    :param code: the service's error code (``error.code``, an AADSTS code for Entra ID).
    :param service_message: the service's own error message.
    :param request_id: the service's request id, for a support ticket.
    :param url: the request URL (secret query values are redacted here).
    :param method: the HTTP method.
    """

    hint: str = ""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        service_message: str | None = None,
        request_id: str | None = None,
        url: str | None = None,
        method: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.service_message = service_message
        self.request_id = request_id
        self.url = safe_url(url)
        self.method = method
        # Filled in when the hook gave up retrying, so the message says how hard it tried.
        self.attempts = 1
        self.retry_seconds = 0.0
        self.retry_budget: float | None = None

    def __str__(self) -> str:
        text = self.message
        if self.request_id:
            text += f" (request id {self.request_id})"
        if self.retry_budget is not None:
            text += f" Gave up after {self.attempts} attempt(s) over {self.retry_seconds:.0f} s"
            retry_after = getattr(self, "retry_after", None)
            if retry_after is not None and retry_after > self.retry_budget - self.retry_seconds:
                text += f"; the service asked to wait {retry_after:g} s more"
            text += (
                f" (retry budget max_retry_seconds={self.retry_budget:g}: raise it in the connection extra if the"
                " service needs longer, or run the task again later)."
            )
        return text


class BadRequest(DynamicsApiError):
    """400 (and other client errors without a more specific type): the request itself is wrong."""


class AuthenticationError(DynamicsApiError, AirflowFailException):
    """The token request was refused, or the service rejected a fresh token (401).

    Retrying the task does not help: a connection field (client id, secret, tenant, scope) must be fixed.
    """


class PermissionDenied(DynamicsApiError, AirflowFailException):
    """403: the application user lacks a privilege or security role for this operation."""


class NotFound(DynamicsApiError):
    """404: the record, entity set or endpoint does not exist."""


class Conflict(DynamicsApiError):
    """409: the record was changed by someone else, or a record with the same key exists."""


class PreconditionFailed(Conflict):
    """412: an ``If-Match`` / ``If-None-Match`` condition failed (stale ETag, or the record already exists)."""


class TransientError(DynamicsApiError):
    """A failure that may pass on its own: 408, 5xx, a dropped connection, or an Entra ID outage.

    :param retry_after: seconds the service asked us to wait, when it said so.

    :param sent: ``False`` when the API request certainly never reached the server (e.g. the token
        service failed first, or the connection was refused), so sending it again is always safe.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, sent: bool = True, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after
        self.sent = sent


class ConnectionDropped(TransientError):
    """No response arrived: the connection was refused, reset or closed mid-response, or timed out."""


class RateLimited(TransientError):
    """429: a service protection or rate limit was hit; wait ``retry_after`` seconds before the next request."""


def _first_error(payload: Any) -> tuple[str | None, str | None]:
    """(code, message) of an OData error body, or of an Entra ID error body."""
    if not isinstance(payload, dict):
        return None, None
    error = payload.get("error")
    if isinstance(error, dict):
        code = error.get("code")
        message = error.get("message")
        inner = error.get("innererror")
        if not message and isinstance(inner, dict):
            message = inner.get("message")
        return (str(code) if code not in (None, "") else None), (str(message) if message else None)
    if isinstance(error, str):  # Entra ID: {"error": "invalid_client", "error_description": "AADSTS..."}
        return error, payload.get("error_description")
    return None, None


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date); ``None`` if absent or invalid."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        import datetime as dt

        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = (when - dt.datetime.now(dt.UTC)).total_seconds()
    return max(0.0, seconds) if seconds == seconds else None  # NaN guard


def request_id_of(headers: Any) -> str | None:
    for name in _REQUEST_ID_HEADERS:
        value = headers.get(name) if headers is not None else None
        if value:
            return str(value)
    return None


_HINTS: dict[type[DynamicsApiError], str] = {
    BadRequest: "Fix the request data named in the message (field, value or query option).",
    AuthenticationError: "The service rejected a freshly issued token: check the connection's client id, tenant_id "
    "and scope, and that the application is registered for this service.",
    PermissionDenied: "Give the application user the security role or permission this operation needs.",
    NotFound: "Check the entity set, the record id or key, and the company/environment in the connection extra.",
    Conflict: "The record was changed by someone else or already exists: read it again and retry.",
    PreconditionFailed: "The record changed since it was read (stale ETag) or already exists: read it again and retry.",
    RateLimited: "The service is throttling this client; the hook waits and retries as the service asks.",
    TransientError: "The service had a temporary problem; the hook retries with backoff.",
}


def error_from_response(response: Any, *, service: str, method: str, url: str | None = None) -> DynamicsApiError:
    """The typed error for a failed ``requests`` response (never includes request headers or bodies)."""
    status = response.status_code
    try:
        payload = response.json()
    except (ValueError, json.JSONDecodeError):
        payload = None
    code, service_message = _first_error(payload)
    if not service_message:
        text = (getattr(response, "text", "") or "").strip()
        service_message = text[:300] if text and not text.startswith("<") else (response.reason or "")
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    cls: type[DynamicsApiError]
    if status == 429:
        cls = RateLimited
    elif status in (408, 500, 502, 503, 504):
        cls = TransientError
    elif status == 400:
        cls = BadRequest
    elif status == 401:
        cls = AuthenticationError
    elif status == 403:
        cls = PermissionDenied
    elif status == 404:
        cls = NotFound
    elif status == 409:
        cls = Conflict
    elif status == 412:
        cls = PreconditionFailed
    elif 400 <= status < 500:
        cls = BadRequest
    else:
        cls = DynamicsApiError
    shown_url = safe_url(url or getattr(response, "url", None))
    label = f"{code}: " if code else ""
    message = f"{service} {method} {shown_url} failed with HTTP {status}: {label}{service_message}".rstrip()
    if not message.endswith("."):
        message += "."
    hint = _HINTS.get(cls)
    if hint:
        message += f" {hint}"
    kwargs: dict[str, Any] = {
        "status": status,
        "code": code,
        "service_message": service_message,
        "request_id": request_id_of(response.headers),
        "url": url or getattr(response, "url", None),
        "method": method,
    }
    if issubclass(cls, TransientError):
        return cls(message, retry_after=retry_after, **kwargs)
    return cls(message, **kwargs)


_AADSTS = re.compile(r"AADSTS(\d+)")


def aadsts_code(text: str | None) -> str | None:
    """``"AADSTS7000215"`` from an Entra ID error description, if it has one."""
    match = _AADSTS.search(text or "")
    return f"AADSTS{match.group(1)}" if match else None
