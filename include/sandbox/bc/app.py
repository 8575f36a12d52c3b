"""The ASGI application of the BC emulator: turns HTTP requests into :class:`engine.Request` objects.

Requests are handled on the event loop itself: the store is one SQLite connection, and serving
one request at a time keeps it consistent without locks (a request takes milliseconds).
"""

from __future__ import annotations

from starlette.types import Receive, Scope, Send

from include.sandbox.bc.engine import Engine, Request


class BusinessCentralApp:
    """A bare ASGI app (no framework routing: OData URLs carry keys inside segments)."""

    def __init__(self, engine: Engine):
        self.engine = engine

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
        response = self.engine.handle(request)
        payload = response.encode()
        raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()]
        raw_headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": payload})
