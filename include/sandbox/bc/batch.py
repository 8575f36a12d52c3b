"""JSON ``$batch`` of the BC emulator: each operation runs through :meth:`Engine.handle` in a savepoint of its own.

``Isolation: snapshot`` rolls the whole batch back at the first failed operation.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from include.sandbox.bc.errors import bad_request, error_body
from include.sandbox.bc.messages import JSON_TYPE, Request, Response, json_response
from include.sandbox.bc.writing import request_body

if TYPE_CHECKING:
    from include.sandbox.bc.engine import Engine

MAX_BATCH = 100


class _Rollback(Exception):
    """Undo an isolated batch in which an operation failed."""


def run_batch(engine: Engine, req: Request) -> Response:
    content_type = req.headers.get("content-type", "")
    if "json" not in content_type:
        raise bad_request(
            "Send the $batch in the JSON batch format (Content-Type: application/json, body "
            '{"requests": [...]}); the multipart format is not served here.'
        )
    body = request_body(req)
    requests_ = body.get("requests")
    if not isinstance(requests_, list):
        raise bad_request('The $batch body must be a JSON object with a "requests" array.')
    if len(requests_) > MAX_BATCH:
        raise bad_request(
            f"The batch has {len(requests_)} operations; the maximum is {MAX_BATCH}. Split it into smaller batches."
        )
    isolated = req.headers.get("isolation", "").strip().lower() == "snapshot"
    base_path = req.path[: -len("$batch")]
    responses: list[dict] = []
    try:
        with engine.store.transaction():
            failed = False
            for op in requests_:
                if failed:
                    responses.append(_not_run(op))
                    continue
                result = _batch_operation(engine, req, op, base_path)
                responses.append(result)
                if isolated and result["status"] >= 400:
                    failed = True
            if failed:
                raise _Rollback
    except _Rollback:
        pass
    return json_response(200, {"responses": responses})


def _not_run(op: Any) -> dict:
    op_id = op.get("id") if isinstance(op, dict) else None
    return {
        "id": op_id,
        "status": 424,
        "headers": {"content-type": JSON_TYPE},
        "body": error_body(
            "BadRequest_FailedDependency",
            "This operation was not run: an earlier operation of this isolated batch failed and the batch was rolled back.",
        ),
    }


def _batch_operation(engine: Engine, req: Request, op: Any, base_path: str) -> dict:
    if not isinstance(op, dict):
        return {
            "id": None,
            "status": 400,
            "headers": {"content-type": JSON_TYPE},
            "body": error_body("BadRequest", "Each batch request must be a JSON object with method and url."),
        }
    op_id = op.get("id")
    method = str(op.get("method", "")).upper()
    url = op.get("url")
    if method not in ("GET", "POST", "PATCH", "DELETE", "PUT") or not isinstance(url, str):
        return {
            "id": op_id,
            "status": 400,
            "headers": {"content-type": JSON_TYPE},
            "body": error_body("BadRequest", "A batch request needs a method (GET, POST, PATCH, DELETE) and a url."),
        }
    parts = urlsplit(url)
    # absolute URLs and absolute paths are taken as they are; others are relative to api/v2.0/
    path = parts.path if parts.scheme or url.startswith("/") else base_path + parts.path
    headers = {str(k).lower(): str(v) for k, v in (op.get("headers") or {}).items()}
    body = op.get("body")
    raw = b"" if body is None else json.dumps(body).encode()
    if engine.controls is not None:
        engine.controls.count_operation(method, engine.entity_of(path))
    sub = Request(method, path, parts.query, headers, raw, req.base, in_batch=True)
    try:
        with engine.store.transaction():
            response = engine.handle(sub)
            if response.status >= 400:
                raise _Rollback
    except _Rollback:
        pass
    out = {"id": op_id, "status": response.status, "headers": response.headers}
    if response.payload is not None:
        out["body"] = response.payload
    return out
