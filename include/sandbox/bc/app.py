"""The ASGI application of the BC emulator: turns HTTP requests into :class:`engine.Request` objects.

Requests run on one worker thread of their own: the store is a single SQLite connection, and the
event loop (shared with the other emulators) stays free while a large page is being built. After a
page of a listing the worker computes the next page ahead (:meth:`Engine.read_ahead`).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from starlette.types import Receive, Scope, Send

from include.sandbox.bc.engine import Engine, Request, Response


class BusinessCentralApp:
    """A bare ASGI app (no framework routing: OData URLs carry keys inside segments)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="business-central")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        raw_path = scope.get("raw_path") or scope["path"].encode()
        host = headers.get("host") or f"{self.engine.config.host}:{self.engine.config.bc_port}"
        request = Request(
            method=scope["method"],
            path=raw_path.decode("latin-1").split("?", 1)[0],
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body=body,
            base=f"https://{host}",
        )
        response, payload = await asyncio.get_running_loop().run_in_executor(self.worker, self._answer, request)
        raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()]
        raw_headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": payload})

    def _answer(self, request: Request) -> tuple[Response, bytes]:
        response = self.engine.handle(request)
        payload = response.encode()
        # Queued behind this request on the same worker: while the client receives a page of a
        # listing, the next page is computed (the next request waits for it and finds it ready).
        self.worker.submit(self.engine.read_ahead)
        return response, payload
