"""The plain request and response objects the BC emulator answers, single or inside a ``$batch``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from include.sandbox.bc.errors import BCError, method_not_allowed

JSON_TYPE = "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8"
_encoder = msgspec.json.Encoder()


@dataclass
class Request:
    method: str
    path: str  # still percent-encoded, no query
    query: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    base: str  # https://host:port
    in_batch: bool = False


@dataclass
class Response:
    status: int
    payload: Any = None  # JSON-ready object
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # a non-JSON body ($metadata), or the payload already encoded

    def encode(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return b"" if self.payload is None else _encoder.encode(self.payload)


def error_response(exc: BCError) -> Response:
    return Response(exc.status, exc.body(), {"content-type": JSON_TYPE, **exc.headers})


def json_response(status: int, payload: Any) -> Response:
    return Response(status, payload, {"content-type": JSON_TYPE, "odata-version": "4.0"})


def only(req: Request, method: str, what: str) -> None:
    if req.method != method:
        raise method_not_allowed(req.method, what)
