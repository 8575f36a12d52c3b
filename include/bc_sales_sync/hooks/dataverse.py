"""``DataverseHook``: the Dataverse Web API v9.2 behind Dynamics 365 Sales.

Reads page through ``@odata.nextLink``; writes are upserts (``PATCH`` on a deterministic id or an
alternate key) that many operations at a time go through multipart ``$batch`` requests of up to
1,000 operations with ``Prefer: odata.continue-on-error``, so one bad record never sinks the rest.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from email import policy
from email.message import Message
from email.parser import BytesParser
from typing import Any

from include.bc_sales_sync.hooks.base import IDEMPOTENT_METHODS, DynamicsHttpHook, _json_bytes
from include.bc_sales_sync.hooks.exceptions import DynamicsApiError, error_from_response, parse_retry_after
from include.bc_sales_sync.odata import chunked, comma_list, format_key

MAX_BATCH_SIZE = 1000
MAX_PAGE_SIZE = 5000
_ENTITY_ID = re.compile(r"\(([^()]*)\)\s*$")
# Statuses of a batch operation that was not carried out and may simply be sent again.
_OPERATION_RETRY_ALWAYS = frozenset({429, 503})
_OPERATION_RETRY_IF_IDEMPOTENT = frozenset({408, 500, 502, 504})


@dataclass
class BatchOperation:
    """One operation of a Dataverse ``$batch``.

    Give either ``url`` (relative to ``/api/data/v9.2/``, e.g. ``accounts(<id>)`` or
    ``accounts(accountnumber='A1')``) or ``entity_set`` with an optional ``key``.

    :param method: ``GET``, ``POST``, ``PATCH``, ``PUT`` or ``DELETE``.
    :param url: the request path relative to the API root.
    :param entity_set: the entity set name, e.g. ``products``.
    :param key: a GUID, or a mapping for an alternate key (see :func:`~include.bc_sales_sync.odata.format_key`).
    :param body: the JSON body.
    :param headers: extra headers, e.g. ``{"If-None-Match": "*"}`` (create only) or
        ``{"If-Match": "*"}`` (update only).
    :param content_id: a Content-ID for references (``$1``) inside a change set.
    """

    method: str
    url: str | None = None
    entity_set: str | None = None
    key: Any = None
    body: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    content_id: str | None = None

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        if not self.url and not self.entity_set:
            raise ValueError("A BatchOperation needs a url or an entity_set.")

    @property
    def path(self) -> str:
        """The request path relative to the API root."""
        if self.url:
            return self.url.lstrip("/")
        if self.key is None:
            return str(self.entity_set)
        return f"{self.entity_set}({format_key(self.key)})"


@dataclass
class BatchResult:
    """The outcome of one :class:`BatchOperation`, in operation order.

    :param operation: the operation this answers.
    :param status: its HTTP status; 424 when it was not carried out (an earlier failure stopped the
        batch or rolled back its change set).
    :param entity_id: the record id from ``OData-EntityId`` (a GUID), when the service sent one.
    :param body: the response JSON, if any.
    :param error_code: ``error.code`` for a failure (an HRESULT such as ``0x80040237``).
    :param error_message: ``error.message`` for a failure.
    :param headers: the operation's response headers.
    """

    operation: BatchOperation
    status: int
    entity_id: str | None = None
    body: Any = None
    error_code: str | None = None
    error_message: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class _Part:
    status: int
    headers: dict[str, str]
    body: Any
    content_id: str | None


class DataverseHook(DynamicsHttpHook):
    """Talks to the Dataverse Web API of one Dynamics 365 organization.

    Connection (``conn_type="http"``):

    * host: the organization URL, ``https://<org>.crm.dynamics.com`` (or the sandbox,
      ``https://127.0.0.1:8442``)
    * login / password: the Entra ID application (client) id and client secret of an application
      user in the organization
    * extra: ``tenant_id`` (required), ``authority`` (default ``https://login.microsoftonline.com``),
      ``scope`` (default ``<host>/.default``), ``ca_bundle``, ``page_size`` (default 1000, at most
      5,000), ``api_version`` (default ``v9.2``), ``max_retry_seconds``, ``max_attempts``, ``timeout``.

    :param dataverse_conn_id: the Airflow connection id.
    :param kwargs: see :class:`~include.bc_sales_sync.hooks.base.DynamicsHttpHook`.
    """

    conn_name_attr = "dataverse_conn_id"
    default_conn_name = "dataverse_default"
    conn_type = "http"
    hook_name = "Dynamics 365 Sales (Dataverse)"
    service_name = "Dataverse"
    extra_fields = frozenset({"api_version"})
    default_page_size = 1000
    max_page_size = MAX_PAGE_SIZE

    def __init__(self, dataverse_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(dataverse_conn_id, **kwargs)
        self.dataverse_conn_id = dataverse_conn_id
        self._batch_number = 0

    # ------------------------------------------------------------------ URLs

    @property
    def api_root(self) -> str:
        """``/api/data/v9.2``."""
        return f"/api/data/{str(self.settings.extra.get('api_version') or 'v9.2').strip('/')}"

    def api_url(self, path: str = "") -> str:
        """The absolute URL of ``path`` (relative to the API root, e.g. ``accounts(<id>)``)."""
        path = path.lstrip("/")
        return self.url(f"{self.api_root}/{path}" if path else self.api_root)

    def record_url(self, entity_set: str, key: Any) -> str:
        """``.../api/data/v9.2/<entity_set>(<key>)``; ``key`` as in :func:`~include.bc_sales_sync.odata.format_key`."""
        return self.api_url(f"{entity_set}({format_key(key)})")

    # ------------------------------------------------------------------ reads

    def iter_pages(
        self,
        entity_set: str,
        *,
        filter: str | None = None,
        select: Iterable[str] | str | None = None,
        orderby: Iterable[str] | str | None = None,
        expand: Iterable[str] | str | None = None,
        page_size: int | None = None,
        annotations: bool | str = False,
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield the rows of ``entity_set`` one page (a list) at a time; only one page is held.

        :param entity_set: e.g. ``products``.
        :param filter: an OData ``$filter``.
        :param select: the columns to return (always pass it: Dataverse returns every column otherwise).
        :param orderby: the sort order.
        :param expand: navigation properties to expand.
        :param page_size: rows per page (``Prefer: odata.maxpagesize``), at most 5,000.
        :param annotations: ``True`` for every annotation (formatted values, lookup names), or the
            annotation filter to ask for, e.g. ``"OData.Community.Display.V1.FormattedValue"``.
        """
        size = min(page_size or self.settings.page_size, MAX_PAGE_SIZE)
        prefer = [f"odata.maxpagesize={size}"]
        if annotations:
            prefer.append(f'odata.include-annotations="{"*" if annotations is True else annotations}"')
        params = {
            "$select": comma_list(select),
            "$filter": filter,
            "$orderby": comma_list(orderby),
            "$expand": comma_list(expand),
        }
        yield from self._iter_odata_pages(self.api_url(entity_set), params, {"Prefer": ",".join(prefer)}, entity_set)

    def get(
        self,
        entity_set: str,
        key: Any,
        *,
        select: Iterable[str] | str | None = None,
        expand: Iterable[str] | str | None = None,
    ) -> dict[str, Any]:
        """One row by its id or alternate key.

        :raises NotFound: no such row.
        """
        params = {"$select": comma_list(select), "$expand": comma_list(expand)}
        return self.request("GET", self.record_url(entity_set, key), params=params).json()

    def who_am_i(self) -> dict[str, Any]:
        """``WhoAmI``: ``UserId`` (the application user), ``BusinessUnitId``, ``OrganizationId``."""
        return self.request("GET", self.api_url("WhoAmI")).json()

    # ------------------------------------------------------------------ writes

    def create(
        self, entity_set: str, record: Mapping[str, Any], return_representation: bool = False
    ) -> str | dict[str, Any]:
        """Create a row (POST; not re-sent after a dropped connection, as it could create a duplicate:
        prefer :meth:`upsert` with a deterministic id).

        :return: the new row's id, or with ``return_representation`` the row as stored.
        """
        headers = {"Prefer": "return=representation"} if return_representation else {}
        response = self.request("POST", self.api_url(entity_set), json=dict(record), headers=headers)
        if return_representation and response.content:
            return response.json()
        entity_id = _entity_id(response.headers)
        if entity_id is None:
            raise DynamicsApiError(
                f"Dataverse created a row in {entity_set} but sent no OData-EntityId header.",
                status=response.status_code,
                url=response.url,
                method="POST",
            )
        return entity_id

    def upsert(
        self,
        entity_set: str,
        key: Any,
        record: Mapping[str, Any],
        *,
        create_only: bool = False,
        update_only: bool = False,
    ) -> str:
        """Create or update the row with this key (``PATCH``; safe to repeat).

        :param key: a deterministic GUID, or an alternate key mapping.
        :param create_only: fail with :class:`~.exceptions.PreconditionFailed` if it exists (``If-None-Match: *``).
        :param update_only: fail with :class:`~.exceptions.NotFound` if it does not exist (``If-Match: *``).
        :return: the row's id.
        """
        if create_only and update_only:
            raise ValueError("create_only and update_only exclude each other.")
        headers = {"If-None-Match": "*"} if create_only else {"If-Match": "*"} if update_only else {}
        response = self.request("PATCH", self.record_url(entity_set, key), json=dict(record), headers=headers)
        return _entity_id(response.headers) or str(key)

    def update(self, entity_set: str, key: Any, changes: Mapping[str, Any], etag: str = "*") -> None:
        """Change an existing row (``If-Match``: the row's ``@odata.etag`` for optimistic concurrency, or ``*``).

        :raises NotFound: no such row.
        :raises PreconditionFailed: the row changed since ``etag`` was read.
        """
        self.request("PATCH", self.record_url(entity_set, key), json=dict(changes), headers={"If-Match": etag})

    def delete(self, entity_set: str, key: Any, etag: str | None = None) -> None:
        """Delete a row.

        :raises NotFound: no such row.
        """
        headers = {"If-Match": etag} if etag else {}
        self.request("DELETE", self.record_url(entity_set, key), headers=headers)

    # ------------------------------------------------------------------ $batch

    def batch(
        self,
        operations: Iterable[BatchOperation],
        *,
        continue_on_error: bool = True,
        chunk_size: int = MAX_BATCH_SIZE,
        change_set: bool = False,
        idempotent: bool | None = None,
    ) -> list[BatchResult]:
        """Run ``operations`` through ``$batch`` requests of up to ``chunk_size`` (at most 1,000).

        Returns one :class:`BatchResult` per operation, in order. A throttled (429) or unavailable
        (503) batch is sent again after the wait the service asks for; with continue-on-error,
        operations answered 429/503 on their own are sent again in a smaller batch, within the
        retry budget, and keep their failure if it runs out.

        :param operations: the operations; consumed lazily, one chunk at a time.
        :param continue_on_error: ``Prefer: odata.continue-on-error``: every operation runs and
            reports its own outcome. Without it the service stops at the first failure and the
            operations after it come back with status 424.
        :param chunk_size: operations per request.
        :param change_set: put each chunk in one change set (all or nothing).
        :param idempotent: whether a chunk may be re-sent after a dropped connection; by default
            true when no operation is a POST (upserts by id are safe to repeat).
        """
        results: list[BatchResult] = []
        for chunk_results in self.iter_batch(
            operations,
            continue_on_error=continue_on_error,
            chunk_size=chunk_size,
            change_set=change_set,
            idempotent=idempotent,
        ):
            results.extend(chunk_results)
        return results

    def iter_batch(
        self,
        operations: Iterable[BatchOperation],
        *,
        continue_on_error: bool = True,
        chunk_size: int = MAX_BATCH_SIZE,
        change_set: bool = False,
        idempotent: bool | None = None,
    ) -> Iterator[list[BatchResult]]:
        """Like :meth:`batch`, but yields each chunk's results as soon as they arrive, so a caller can
        record progress per chunk and memory stays bounded by the chunk size."""
        size = max(1, min(chunk_size, MAX_BATCH_SIZE))
        for chunk in chunked(operations, size):
            yield self._batch_chunk(chunk, continue_on_error, change_set, idempotent)

    def _batch_chunk(
        self,
        chunk: list[BatchOperation],
        continue_on_error: bool,
        change_set: bool,
        idempotent: bool | None,
    ) -> list[BatchResult]:
        self._batch_number += 1
        number = self._batch_number

        def send(items: list[BatchOperation]) -> list[BatchResult]:
            safe = idempotent if idempotent is not None else all(op.method in IDEMPOTENT_METHODS for op in items)
            return self._send_batch(items, continue_on_error, change_set, safe)

        def retry_after(op: BatchOperation, result: BatchResult) -> float | bool | None:
            if change_set or not continue_on_error:
                return False
            if result.status in _OPERATION_RETRY_ALWAYS or (
                result.status in _OPERATION_RETRY_IF_IDEMPOTENT and op.method in IDEMPOTENT_METHODS
            ):
                return parse_retry_after(_header(result.headers, "Retry-After"))
            return False

        results = self.retry_operations(chunk, send, retry_after, what=f"$batch {number}")
        failed = sum(1 for r in results if not r.ok)
        self.log.info(
            "Dataverse $batch %d: %d operation(s), %d succeeded, %d failed.",
            number,
            len(chunk),
            len(chunk) - failed,
            failed,
        )
        return results

    def _send_batch(
        self, operations: list[BatchOperation], continue_on_error: bool, change_set: bool, idempotent: bool
    ) -> list[BatchResult]:
        boundary = f"batch_{uuid.uuid4()}"
        body = self.build_batch_body(operations, boundary, change_set=change_set)
        headers = {"Content-Type": f"multipart/mixed; boundary={boundary}"}
        if continue_on_error:
            headers["Prefer"] = "odata.continue-on-error"
        # Without continue-on-error the service answers 400 with the failing part in a multipart body.
        response = self.request(
            "POST", self.api_url("$batch"), data=body, headers=headers, idempotent=idempotent, ok_statuses=(400,)
        )
        content_type = response.headers.get("Content-Type", "")
        if not content_type.lower().startswith("multipart/"):
            if response.status_code >= 400:
                raise error_from_response(response, service=self.service_name, method="POST", url=response.url)
            raise DynamicsApiError(
                f"Dataverse $batch answered HTTP {response.status_code} with {content_type or 'no content type'}, "
                "not a multipart response; the outcome of its operations is unknown.",
                status=response.status_code,
                url=response.url,
                method="POST",
            )
        parts = parse_batch_response(content_type, response.content)
        return self._match(operations, parts, change_set)

    def build_batch_body(self, operations: list[BatchOperation], boundary: str, *, change_set: bool = False) -> bytes:
        """The multipart/mixed body of one ``$batch`` request (CRLF line ends, absolute inner URLs).

        :param operations: up to 1,000 operations.
        :param boundary: the multipart boundary, as sent in the Content-Type header.
        :param change_set: wrap the operations in one change set (all or nothing).
        """
        out: list[bytes] = []
        if change_set:
            inner = f"changeset_{uuid.uuid4()}"
            out.append(f"--{boundary}\r\nContent-Type: multipart/mixed; boundary={inner}\r\n\r\n".encode())
            for index, op in enumerate(operations, 1):
                out.append(f"--{inner}\r\n".encode())
                out.append(self._part(op, op.content_id or str(index)))
            out.append(f"--{inner}--\r\n".encode())
        else:
            for op in operations:
                out.append(f"--{boundary}\r\n".encode())
                out.append(self._part(op, op.content_id))
        out.append(f"--{boundary}--\r\n".encode())
        return b"".join(out)

    def _part(self, op: BatchOperation, content_id: str | None) -> bytes:
        head = "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
        if content_id:
            head += f"Content-ID: {content_id}\r\n"
        url = op.path if op.path.startswith("$") else self.api_url(op.path)
        lines = [f"{op.method} {url} HTTP/1.1"]
        headers = dict(op.headers)
        if op.body is not None:
            headers.setdefault("Content-Type", "application/json; type=entry")
        for name, value in headers.items():
            if "\r" in f"{name}{value}" or "\n" in f"{name}{value}":
                raise ValueError(f"Header {name!r} of a batch operation on {op.path} contains a line break.")
            lines.append(f"{name}: {value}")
        payload = _json_bytes(op.body) if op.body is not None else b""
        return (head + "\r\n" + "\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + payload + b"\r\n"

    def _match(self, operations: list[BatchOperation], parts: list[_Part], change_set: bool) -> list[BatchResult]:
        """Pair response parts with operations: by Content-ID in a change set, otherwise in order."""
        results: list[BatchResult | None] = [None] * len(operations)
        if change_set:
            ids = {(op.content_id or str(i)): i - 1 for i, op in enumerate(operations, 1)}
            unmatched = []
            for part in parts:
                index = ids.get(part.content_id or "")
                if index is None or results[index] is not None:
                    unmatched.append(part)
                else:
                    results[index] = _result(operations[index], part)
            # A failed change set answers with one error part, often without a Content-ID.
            failure = next((p for p in parts if p.status >= 400), None)
            for part in unmatched:
                free = next((i for i, r in enumerate(results) if r is None), None)
                if free is not None:
                    results[free] = _result(operations[free], part)
            reason = "it was rolled back because another operation in its change set failed"
            if failure is not None and failure.body is not None:
                code, message = _error_of(failure.body)
                reason += f" ({code or failure.status}: {message})"
        else:
            for index, part in enumerate(parts[: len(operations)]):
                results[index] = _result(operations[index], part)
            reason = "the batch stopped at an earlier failure (Prefer: odata.continue-on-error was not sent)"
        return [
            r
            if r is not None
            else BatchResult(op, 424, error_code="NotExecuted", error_message=f"Not executed: {reason}.")
            for op, r in zip(operations, results, strict=True)
        ]

    # ------------------------------------------------------------------ connection test

    def test_connection(self) -> tuple[bool, str]:
        """Call ``WhoAmI`` with a fresh token."""
        try:
            me = self.who_am_i()
            return True, (
                f"Connected to Dataverse at {self.settings.base_url} as user {me.get('UserId')} "
                f"(organization {me.get('OrganizationId')})."
            )
        except Exception as exc:
            return False, str(exc)


def parse_batch_response(content_type: str, body: bytes) -> list[_Part]:
    """The parts of a multipart ``$batch`` response, change sets flattened, in order.

    :param content_type: the response's Content-Type, with its boundary.
    :param body: the raw response body.
    """
    message = BytesParser(policy=policy.compat32).parsebytes(
        b"MIME-Version: 1.0\r\nContent-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise DynamicsApiError("Dataverse $batch answered with a multipart type but no parts could be read.")
    return list(_walk(message))


def _walk(message: Message) -> Iterator[_Part]:
    payload = message.get_payload()
    if not isinstance(payload, list):
        return
    for part in payload:
        if part.is_multipart():  # a change set response
            yield from _walk(part)
            continue
        raw = part.get_payload(decode=True) or b""
        yield _parse_http_response(raw, part.get("Content-ID"))


def _parse_http_response(raw: bytes, content_id: str | None) -> _Part:
    raw = raw.lstrip(b"\r\n")
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = raw.partition(b"\n\n")
    lines = head.decode("latin-1").splitlines()
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        raise DynamicsApiError(
            f"A Dataverse $batch response part does not start with an HTTP status line: {lines[:1]!r}."
        ) from None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip():
            headers[name.strip()] = value.strip()
    text = body.strip()
    parsed: Any = None
    if text:
        try:
            parsed = json.loads(text.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            parsed = text.decode("utf-8", "replace")
    return _Part(status, headers, parsed, content_id.strip() if content_id else None)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _entity_id(headers: Mapping[str, str]) -> str | None:
    """The id inside ``OData-EntityId`` (or ``Location``): a GUID, or the key text of an alternate key."""
    value = _header(headers, "OData-EntityId") or _header(headers, "Location")
    if not value:
        return None
    match = _ENTITY_ID.search(value)
    return match.group(1) if match else None


def _error_of(body: Any) -> tuple[str | None, str | None]:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        code = error.get("code") or None
        message = error.get("message")
        inner = error.get("innererror")
        if not message and isinstance(inner, dict):
            message = inner.get("message")
        return code, message
    if isinstance(body, str) and body:
        return None, body[:300]
    return None, None


def _result(op: BatchOperation, part: _Part) -> BatchResult:
    code = message = None
    if part.status >= 400:
        code, message = _error_of(part.body)
        message = message or f"HTTP {part.status}"
    return BatchResult(
        operation=op,
        status=part.status,
        entity_id=_entity_id(part.headers),
        body=part.body,
        error_code=code,
        error_message=message,
        headers=part.headers,
    )
