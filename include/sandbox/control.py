"""The control surface every emulator shares: request statistics and fault injection.

``GET /_sandbox/stats``, ``POST /_sandbox/reset`` and ``POST /_sandbox/faults`` are served by
:class:`SandboxMiddleware`, which wraps an emulator's ASGI app, counts its requests and injects
the configured faults before the request reaches it.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

CONTROL_PREFIX = "/_sandbox/"


class FaultSpecError(ValueError):
    """The body of ``POST /_sandbox/faults`` is not a valid fault specification."""


@dataclass
class Faults:
    """What to inject. Each POST replaces the whole set; ``{}`` clears it.

    :param status: an HTTP error status (429 or 4xx/5xx) answered instead of the real response.
    :param rate: the share of requests (0..1) that get ``status``; 1 when only ``count`` is given.
    :param count: answer ``status`` to exactly this many requests, then stop.
    :param retry_after: seconds sent in ``Retry-After`` with ``status``.
    :param latency_ms: delay added to every request.
    :param drop_rate: the share of requests whose connection is closed with no response.
    :param path: only requests whose path contains this text are affected.
    :param seed: seeds the random choice, for repeatable runs.
    """

    status: int | None = None
    rate: float = 0.0
    count: int | None = None
    retry_after: float | None = None
    latency_ms: float = 0.0
    drop_rate: float = 0.0
    path: str | None = None
    seed: int | None = None

    @classmethod
    def parse(cls, spec: Any) -> Faults:
        if not isinstance(spec, dict):
            raise FaultSpecError('The fault specification must be a JSON object, e.g. {"status": 429, "rate": 0.3}.')
        allowed = set(cls.__dataclass_fields__)
        unknown = sorted(set(spec) - allowed)
        if unknown:
            raise FaultSpecError(f"Unknown fault option(s) {unknown}; allowed: {sorted(allowed)}.")
        faults = cls()
        if "status" in spec:
            status = spec["status"]
            if not isinstance(status, int) or isinstance(status, bool) or not 400 <= status <= 599:
                raise FaultSpecError(f"'status' must be an HTTP error status between 400 and 599, not {status!r}.")
            faults.status = status
            faults.rate = 1.0 if "rate" not in spec else faults.rate
        for name in ("rate", "drop_rate"):
            if name in spec:
                value = spec[name]
                if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
                    raise FaultSpecError(f"'{name}' must be a number between 0 and 1, not {value!r}.")
                setattr(faults, name, float(value))
        for name in ("retry_after", "latency_ms"):
            if name in spec:
                value = spec[name]
                if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                    raise FaultSpecError(f"'{name}' must be a number of at least 0, not {value!r}.")
                setattr(faults, name, float(value))
        for name in ("count", "seed"):
            if name in spec:
                value = spec[name]
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise FaultSpecError(f"'{name}' must be a whole number of at least 0, not {value!r}.")
                setattr(faults, name, value)
        if "path" in spec:
            if not isinstance(spec["path"], str):
                raise FaultSpecError("'path' must be a string.")
            faults.path = spec["path"]
        if (faults.rate or faults.count or faults.retry_after is not None) and faults.status is None:
            raise FaultSpecError("'rate', 'count' and 'retry_after' need a 'status'.")
        return faults

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v not in (None, 0.0)}


@dataclass
class Controls:
    """Statistics and faults of one emulator; shared with the emulator's app for batch counts."""

    name: str
    entity_of: Callable[[str], str | None] = lambda path: None
    fault_response: Callable[[int, float | None], tuple[dict, dict[str, str]]] = lambda status, retry: (
        {"error": {"code": str(status), "message": "Injected fault."}},
        {},
    )
    on_reset: Callable[[], None] | None = None
    # ``{"expire_tokens": true}`` revokes every token this authority has issued (see tokens.py).
    authority: Any = None
    faults: Faults = field(default_factory=Faults)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _random: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        self.clear_stats()

    def clear_stats(self) -> None:
        self.total = 0
        self.by_method: Counter[str] = Counter()
        self.by_status: Counter[int] = Counter()
        self.by_entity: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.batch_operations: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.injected: Counter[str] = Counter()

    def count_operation(self, method: str, entity: str | None) -> None:
        """Count one operation inside a ``$batch`` (the batch itself is one request)."""
        with self._lock:
            self.batch_operations[entity or "(other)"][method] += 1

    def stats(self) -> dict:
        with self._lock:
            return {
                "emulator": self.name,
                "total": self.total,
                "by_method": dict(self.by_method),
                "by_status": {str(k): v for k, v in self.by_status.items()},
                "by_entity": {k: dict(v) for k, v in sorted(self.by_entity.items())},
                "batch_operations": {k: dict(v) for k, v in sorted(self.batch_operations.items())},
                "batch_operations_total": sum(sum(c.values()) for c in self.batch_operations.values()),
                "injected_faults": dict(self.injected),
                "faults": self.faults.as_dict(),
            }

    def set_faults(self, spec: Any) -> Faults:
        faults = Faults.parse(spec)
        with self._lock:
            self.faults = faults
            self._random = random.Random(faults.seed)
        return faults

    def decide(self, path: str) -> tuple[str | None, float]:
        """Pick the fault for one request: (``"drop"``, ``"status"`` or None, latency seconds)."""
        with self._lock:
            f = self.faults
            if f.path and f.path not in path:
                return None, 0.0
            latency = f.latency_ms / 1000
            if f.drop_rate and self._random.random() < f.drop_rate:
                self.injected["drop"] += 1
                return "drop", latency
            if f.status is not None:
                if f.count is not None:
                    if f.count > 0:
                        f.count -= 1
                        self.injected[str(f.status)] += 1
                        return "status", latency
                elif self._random.random() < f.rate:
                    self.injected[str(f.status)] += 1
                    return "status", latency
            return None, latency


async def _read_body(receive: Receive) -> bytes:
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return body


async def _send_json(send: Send, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
    body = json.dumps(payload).encode()
    raw = [(b"content-type", b"application/json; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _drop_connection(send: Send) -> bool:
    """Close the client's TCP connection without a response, as a flaky network does."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        return False
    transport.close()
    return True


class SandboxMiddleware:
    """Wraps an emulator: serves ``/_sandbox/*``, counts requests and injects faults."""

    def __init__(self, app: ASGIApp, controls: Controls):
        self.app = app
        self.controls = controls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith(CONTROL_PREFIX):
            await self._control(scope, receive, send)
            return
        c = self.controls
        with c._lock:
            c.total += 1
            c.by_method[scope["method"]] += 1
            c.by_entity[c.entity_of(path) or "(other)"][scope["method"]] += 1
        action, latency = c.decide(path)
        if latency:
            await asyncio.sleep(latency)
        if action == "drop" and _drop_connection(send):
            return
        if action is not None:
            status = c.faults.status or 503
            payload, headers = c.fault_response(status, c.faults.retry_after)
            if c.faults.retry_after is not None:
                headers = {**headers, "Retry-After": f"{c.faults.retry_after:g}"}
            with c._lock:
                c.by_status[status] += 1
            await _send_json(send, status, payload, headers)
            return

        async def counting_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                with c._lock:
                    c.by_status[message["status"]] += 1
            await send(message)

        await self.app(scope, receive, counting_send)

    async def _control(self, scope: Scope, receive: Receive, send: Send) -> None:
        c, method, action = self.controls, scope["method"], scope["path"][len(CONTROL_PREFIX) :].strip("/")
        body = await _read_body(receive)
        if action == "stats" and method == "GET":
            await _send_json(send, 200, c.stats())
        elif action == "stats" and method == "DELETE":
            c.clear_stats()
            await _send_json(send, 200, c.stats())
        elif action == "faults" and method == "GET":
            await _send_json(send, 200, c.faults.as_dict())
        elif action == "faults" and method == "POST":
            try:
                spec = json.loads(body or b"{}")
                expire = spec.pop("expire_tokens", False) if isinstance(spec, dict) else False
                if not isinstance(expire, bool):
                    raise FaultSpecError("'expire_tokens' must be true or false.")
                faults = c.set_faults(spec)
                if expire and c.authority is not None:
                    c.authority.revoke_all()
            except json.JSONDecodeError as exc:
                await _send_json(
                    send, 400, {"error": {"code": "BadRequest", "message": f"The body is not valid JSON: {exc}."}}
                )
                return
            except FaultSpecError as exc:
                await _send_json(send, 400, {"error": {"code": "BadRequest", "message": str(exc)}})
                return
            await _send_json(send, 200, faults.as_dict())
        elif action == "reset" and method == "POST":
            if c.on_reset:
                c.on_reset()
            c.clear_stats()
            c.set_faults({})
            await _send_json(send, 200, {"reset": True})
        else:
            await _send_json(
                send,
                404 if action not in ("stats", "faults", "reset") else 405,
                {
                    "error": {
                        "code": "NotFound",
                        "message": f"No control endpoint {method} {scope['path']}. "
                        "Use GET /_sandbox/stats, DELETE /_sandbox/stats, GET|POST /_sandbox/faults or POST /_sandbox/reset.",
                    }
                },
            )
