"""The ``multipart/mixed`` wire format of ``$batch``: reading requests, writing responses.

A batch body is a list of parts, each either one ``application/http`` request or a change set
(a nested ``multipart/mixed`` of requests). Inner requests carry a request line with an
absolute, relative or ``$n`` URL, their own headers and an optional JSON body. Lines may end
with CRLF or LF. The response mirrors the structure with ``batchresponse_``/``changesetresponse_``
boundaries and one ``HTTP/1.1 <status>`` message per request.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from include.sandbox.dataverse.errors import odata_error

MAX_OPERATIONS = 1000
CRLF = "\r\n"

REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    304: "Not Modified",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    412: "Precondition Failed",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
}


@dataclass
class Request:
    """One request inside a batch."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    content_id: str | None = None


@dataclass
class ChangeSet:
    requests: list[Request] = field(default_factory=list)


@dataclass
class Response:
    """One response inside a batch."""

    status: int
    headers: dict[str, str]
    body: bytes = b""
    content_id: str | None = None


def boundary_of(content_type: str | None) -> str | None:
    """The ``boundary`` parameter of a ``multipart/mixed`` content type."""
    if not content_type or "multipart/mixed" not in content_type.lower():
        return None
    for param in content_type.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "boundary":
            return value.strip().strip('"') or None
    return None


def _split(text: str, boundary: str) -> list[str]:
    delimiter = f"--{boundary}"
    parts: list[str] = []
    current: list[str] | None = None
    closed = False
    for line in text.split("\n"):
        stripped = line.rstrip()
        if stripped == delimiter:
            if current is not None:
                parts.append("\n".join(current))
            current = []
        elif stripped == f"{delimiter}--":
            if current is not None:
                parts.append("\n".join(current))
            closed = True
            break
        elif current is not None:
            current.append(line)
    if not closed:
        raise odata_error(
            f"The batch body is not valid multipart/mixed: the closing delimiter '--{boundary}--' is missing."
        )
    return parts


def _headers_and_body(part: str) -> tuple[dict[str, str], str]:
    head, _, body = part.partition("\n\n")
    headers: dict[str, str] = {}
    for line in head.split("\n"):
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return headers, body


def _request(part: str, content_id: str | None) -> Request:
    headers, payload = _headers_and_body(part)
    if "application/http" not in headers.get("content-type", "application/http").lower():
        raise odata_error("Each batch part must have 'Content-Type: application/http' or be a change set.")
    payload = payload.lstrip("\n")
    request_line, _, rest = payload.partition("\n")
    request_line = request_line.strip()
    method, _, target = request_line.partition(" ")
    if target.rpartition(" ")[2].upper().startswith("HTTP/"):
        target = target.rpartition(" ")[0]
    if not method or not target:
        raise odata_error(f"The batch part request line '{request_line}' is not 'METHOD URL HTTP/1.1'.")
    if rest.startswith("\n"):
        inner_headers, body = {}, rest[1:]
    else:
        inner_headers, body = _headers_and_body(rest)
    return Request(
        method=method.upper(),
        url=target.strip(),
        headers=inner_headers,
        body=body.strip().encode(),
        content_id=content_id or headers.get("content-id"),
    )


def parse(body: bytes, content_type: str | None) -> list[Request | ChangeSet]:
    """Read a batch body; raises a 400 error when it is malformed or has too many operations."""
    boundary = boundary_of(content_type)
    if boundary is None:
        raise odata_error("A $batch request needs 'Content-Type: multipart/mixed; boundary=batch_<id>'.")
    text = body.decode("utf-8").replace("\r\n", "\n")
    items: list[Request | ChangeSet] = []
    count = 0
    for part in _split(text, boundary):
        headers, inner = _headers_and_body(part)
        changeset_boundary = boundary_of(headers.get("content-type"))
        if changeset_boundary:
            changeset = ChangeSet()
            for inner_part in _split(inner, changeset_boundary):
                inner_headers, _ = _headers_and_body(inner_part)
                changeset.requests.append(_request(inner_part, inner_headers.get("content-id")))
            count += len(changeset.requests)
            items.append(changeset)
        else:
            items.append(_request(part, headers.get("content-id")))
            count += 1
        if count > MAX_OPERATIONS:
            raise odata_error(
                f"The batch has more than {MAX_OPERATIONS} operations. A $batch request can contain at most "
                f"{MAX_OPERATIONS} requests; split it into several batches."
            )
    return items


def _message(response: Response) -> str:
    lines = [
        "Content-Type: application/http",
        "Content-Transfer-Encoding: binary",
    ]
    if response.content_id is not None:
        lines.append(f"Content-ID: {response.content_id}")
    lines += ["", f"HTTP/1.1 {response.status} {REASONS.get(response.status, 'Unknown')}"]
    lines += [f"{k}: {v}" for k, v in response.headers.items()]
    lines.append("")
    text = CRLF.join(lines) + CRLF
    if response.body:
        text += response.body.decode() + CRLF
    return text


def render(items: list[Response | list[Response]]) -> tuple[str, bytes]:
    """Write a batch response; returns its content type and body."""
    boundary = f"batchresponse_{uuid.uuid4()}"
    chunks: list[str] = []
    for item in items:
        chunks.append(f"--{boundary}{CRLF}")
        if isinstance(item, list):
            inner = f"changesetresponse_{uuid.uuid4()}"
            chunks.append(f"Content-Type: multipart/mixed; boundary={inner}{CRLF}{CRLF}")
            for response in item:
                chunks.append(f"--{inner}{CRLF}")
                chunks.append(_message(response))
            chunks.append(f"--{inner}--{CRLF}")
        else:
            chunks.append(_message(item))
    chunks.append(f"--{boundary}--{CRLF}")
    return f"multipart/mixed; boundary={boundary}", "".join(chunks).encode()
