"""The HTTP face of the Dataverse emulator: bearer tokens, callers, service protection, responses.

Every request under ``/api/data/v9.2/`` needs a bearer token from the sandbox's Entra ID issued for
the Dataverse URL (no trailing slash); a missing, expired, revoked or foreign token gets 401 with
``WWW-Authenticate: Bearer authorization_uri=...``. The token's ``oid`` selects the calling
systemuser (by ``azureactivedirectoryobjectid``, else by id); ``CallerObjectId`` impersonates
another user by Entra object id. When ``dataverse_request_limit`` is set, more than that many
requests per user within ``dataverse_window_seconds`` get 429 with code 0x80072322 and
``Retry-After`` (seconds until the oldest request leaves the window); a ``$batch`` counts once.
"""

from __future__ import annotations

import asyncio
import collections
import math
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from starlette.types import Receive, Scope, Send

from include.sandbox.config import SandboxConfig
from include.sandbox.dataverse import errors
from include.sandbox.dataverse.errors import DataverseError
from include.sandbox.dataverse.records import API_PREFIX, Context
from include.sandbox.dataverse.service import Reply, Service, error_reply
from include.sandbox.tokens import TokenAuthority, TokenError


def protection_error(limit: int, window: int, retry_after: int) -> DataverseError:
    return DataverseError(
        429,
        errors.TOO_MANY_REQUESTS,
        f"Number of requests exceeded the limit of {limit} over time window of {window} seconds.",
        {"Retry-After": str(retry_after)},
    )


class RateLimiter:
    """Sliding-window request counts per user (Dataverse's "number of requests" limit)."""

    def __init__(self, limit: int, window: float, clock=time.monotonic):
        self.limit = limit
        self.window = window
        self.clock = clock
        self._seen: dict[str, collections.deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, user: str) -> tuple[int | None, int]:
        """Record a request; returns (seconds to wait or None, requests left in the window)."""
        if self.limit <= 0:
            return None, -1
        now = self.clock()
        with self._lock:
            seen = self._seen.setdefault(user, collections.deque())
            while seen and seen[0] <= now - self.window:
                seen.popleft()
            if len(seen) >= self.limit:
                return max(1, math.ceil(seen[0] + self.window - now)), 0
            seen.append(now)
            return None, self.limit - len(seen)

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()


@dataclass
class Caller:
    user_id: str
    business_unit_id: str
    disabled: bool


class DataverseApp:
    """ASGI app of the Web API (wrapped by the sandbox's control middleware)."""

    def __init__(self, service: Service, config: SandboxConfig, authority: TokenAuthority):
        self.service = service
        self.config = config
        self.authority = authority
        self.audience = config.dataverse_url.rstrip("/")
        self.limiter = RateLimiter(config.dataverse_request_limit, config.dataverse_window_seconds)
        self.reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dataverse-read-ahead")

    def clear(self) -> None:
        """Forget the rate windows (after a reset)."""
        self.limiter.clear()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        reply = await self._serve(scope, bytes(body))
        await self._send(send, reply, scope["method"])

    async def _serve(self, scope: Scope, body: bytes) -> Reply:
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1").split("?", 1)[0]
        root = API_PREFIX.rstrip("/")
        if raw_path != root and not raw_path.startswith(API_PREFIX):
            segment = raw_path.strip("/").split("/")[0] or "/"
            return error_reply(errors.segment_not_found(segment))
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            claims = self.authority.validate(headers.get("authorization"), self.audience)
        except TokenError as exc:
            reply = error_reply(DataverseError(401, errors.AUTHENTICATION, exc.message))
            reply.headers["WWW-Authenticate"] = (
                f"Bearer authorization_uri={self.config.authority}/oauth2/authorize, resource_id={self.audience}/"
            )
            return reply
        target = raw_path[len(API_PREFIX) :] if raw_path.startswith(API_PREFIX) else ""
        query = scope.get("query_string", b"").decode("latin-1")
        if query:
            target = f"{target}?{query}"
        oid = str(claims.get("oid") or "")
        # Store work runs in a worker thread so the event loop (shared with the other emulators) stays
        # free. The loop's default executor is shut down promptly when the sandbox stops.
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._handle, scope["method"], target, headers, body, oid)

    def _handle(self, method: str, target: str, headers: dict[str, str], body: bytes, oid: str) -> Reply:
        try:
            with self.service.lock:
                ctx = self._context(oid, headers.get("callerobjectid"))
        except DataverseError as exc:
            return error_reply(exc)
        wait, remaining = self.limiter.check(ctx.user_id)
        if wait is not None:
            return error_reply(protection_error(self.limiter.limit, int(self.limiter.window), wait))
        reply = self.service.handle(method, target, headers, body, ctx)
        if reply.next_target:
            # Queued while the client receives this page; the next request finds its page ready.
            self.reader.submit(self.service.read_ahead)
        if remaining >= 0:
            reply.headers["x-ms-ratelimit-burst-remaining-xrm-requests"] = str(remaining)
        return reply

    def _context(self, oid: str, impersonate: str | None) -> Context:
        caller = self._caller(oid)
        if caller is None:
            raise DataverseError(
                403,
                errors.NOT_A_MEMBER,
                f"The user with object id {oid} is not a member of the organization. Create an application user "
                "(systemuser with applicationid and azureactivedirectoryobjectid) for the app.",
            )
        if impersonate:
            target = self._caller(impersonate.strip())
            if target is None:
                raise DataverseError(
                    404,
                    errors.NOT_FOUND,
                    f"No systemuser has azureactivedirectoryobjectid {impersonate} (CallerObjectId header).",
                )
            caller = target
        if caller.disabled:
            raise DataverseError(403, errors.NOT_A_MEMBER, f"The user {caller.user_id} is disabled.")
        return Context(user_id=caller.user_id, business_unit_id=caller.business_unit_id)

    def _caller(self, oid: str) -> Caller | None:
        try:
            oid = str(uuid.UUID(oid))
        except ValueError:
            return None
        store = self.service.store
        rows = store.find("systemusers", azureactivedirectoryobjectid=oid)
        row = rows[0] if rows else store.get("systemusers", oid)
        if row is None:
            return None
        return Caller(row["systemuserid"], row["_businessunitid_value"], bool(row.get("isdisabled")))

    @staticmethod
    async def _send(send: Send, reply: Reply, method: str) -> None:
        headers = [(b"odata-version", b"4.0"), (b"req_id", str(uuid.uuid4()).encode())]
        body = reply.body if method != "HEAD" else b""
        if reply.content_type and reply.status not in (204, 304):
            headers.append((b"content-type", reply.content_type.encode()))
        headers.append((b"content-length", str(len(body) if reply.status not in (204, 304) else 0).encode()))
        headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers.items()]
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": body if reply.status not in (204, 304) else b""})
