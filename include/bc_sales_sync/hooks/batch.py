"""Dataverse ``$batch``: the operations and their results, the multipart/mixed request body, and
reading the multipart response back (change sets flattened, each part paired with its operation).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from email import policy
from email.message import Message
from email.parser import BytesParser
from typing import Any

from include.bc_sales_sync.hooks.base import json_bytes
from include.bc_sales_sync.hooks.exceptions import DynamicsApiError
from include.bc_sales_sync.odata import format_key

_ENTITY_ID = re.compile(r"\(([^()]*)\)\s*$")


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
    :param select: with ``Prefer: return=representation``, the columns the answer returns.
    """

    method: str
    url: str | None = None
    entity_set: str | None = None
    key: Any = None
    body: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    content_id: str | None = None
    select: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        if not self.url and not self.entity_set:
            raise ValueError("A BatchOperation needs a url or an entity_set.")

    @property
    def path(self) -> str:
        """The request path relative to the API root."""
        if self.url:
            path = self.url.lstrip("/")
        elif self.key is None:
            path = str(self.entity_set)
        else:
            path = f"{self.entity_set}({format_key(self.key)})"
        return f"{path}?$select={','.join(self.select)}" if self.select else path


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
class ResponsePart:
    """One part of a ``$batch`` response: the answer to one operation (or to a whole change set)."""

    status: int
    headers: dict[str, str]
    body: Any
    content_id: str | None


# ---------------------------------------------------------------------- the request


def encode_batch(
    operations: list[BatchOperation], boundary: str, api_url: Callable[[str], str], *, change_set: bool = False
) -> bytes:
    """The multipart/mixed body of one ``$batch`` request (CRLF line ends, absolute inner URLs).

    :param operations: up to 1,000 operations.
    :param boundary: the multipart boundary, as sent in the Content-Type header.
    :param api_url: the absolute URL of a path relative to the API root.
    :param change_set: wrap the operations in one change set (all or nothing).
    """
    out: list[bytes] = []
    if change_set:
        inner = f"changeset_{uuid.uuid4()}"
        out.append(f"--{boundary}\r\nContent-Type: multipart/mixed; boundary={inner}\r\n\r\n".encode())
        for index, op in enumerate(operations, 1):
            out.append(f"--{inner}\r\n".encode())
            out.append(_encode_part(op, op.content_id or str(index), api_url))
        out.append(f"--{inner}--\r\n".encode())
    else:
        for op in operations:
            out.append(f"--{boundary}\r\n".encode())
            out.append(_encode_part(op, op.content_id, api_url))
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out)


def _encode_part(op: BatchOperation, content_id: str | None, api_url: Callable[[str], str]) -> bytes:
    head = "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
    if content_id:
        head += f"Content-ID: {content_id}\r\n"
    url = op.path if op.path.startswith("$") else api_url(op.path)
    lines = [f"{op.method} {url} HTTP/1.1"]
    headers = dict(op.headers)
    if op.body is not None:
        headers.setdefault("Content-Type", "application/json; type=entry")
    for name, value in headers.items():
        if "\r" in f"{name}{value}" or "\n" in f"{name}{value}":
            raise ValueError(f"Header {name!r} of a batch operation on {op.path} contains a line break.")
        lines.append(f"{name}: {value}")
    payload = json_bytes(op.body) if op.body is not None else b""
    return (head + "\r\n" + "\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + payload + b"\r\n"


# ---------------------------------------------------------------------- the response


def parse_batch_response(content_type: str, body: bytes) -> list[ResponsePart]:
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


def match_results(operations: list[BatchOperation], parts: list[ResponsePart], change_set: bool) -> list[BatchResult]:
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
        r if r is not None else BatchResult(op, 424, error_code="NotExecuted", error_message=f"Not executed: {reason}.")
        for op, r in zip(operations, results, strict=True)
    ]


def entity_id_of(headers: Mapping[str, str]) -> str | None:
    """The id inside ``OData-EntityId`` (or ``Location``): a GUID, or the key text of an alternate key."""
    value = header_value(headers, "OData-EntityId") or header_value(headers, "Location")
    if not value:
        return None
    match = _ENTITY_ID.search(value)
    return match.group(1) if match else None


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header ``name`` whatever its case in ``headers``."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _walk(message: Message) -> Iterator[ResponsePart]:
    payload = message.get_payload()
    if not isinstance(payload, list):
        return
    for part in payload:
        if part.is_multipart():  # a change set response
            yield from _walk(part)
            continue
        raw = part.get_payload(decode=True) or b""
        yield _parse_http_response(raw, part.get("Content-ID"))


def _parse_http_response(raw: bytes, content_id: str | None) -> ResponsePart:
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
    return ResponsePart(status, headers, parsed, content_id.strip() if content_id else None)


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


def _result(op: BatchOperation, part: ResponsePart) -> BatchResult:
    code = message = None
    if part.status >= 400:
        code, message = _error_of(part.body)
        message = message or f"HTTP {part.status}"
    return BatchResult(
        operation=op,
        status=part.status,
        entity_id=entity_id_of(part.headers),
        body=part.body,
        error_code=code,
        error_message=message,
        headers=part.headers,
    )
