"""Fixtures for the hook unit tests: a fake HTTPS service mounted as the hook's transport adapter.

``FakeService`` answers Entra ID (OpenID discovery and the token endpoint) itself and every other
request from routes a test registers, recording each request (method, URL, headers, body, the
``verify`` value requests passed down). Waits are recorded by a fake clock instead of slept;
``dropped()`` and ``refused()`` are the errors requests raises for a lost or refused connection.
"""

from __future__ import annotations

import io
import itertools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.exceptions import NewConnectionError, ProtocolError

TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT_ID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
CLIENT_SECRET = "unit-test-client-secret-Zq81xX"
LOGIN_HOST = "https://login.sandbox.test"
BC_HOST = "https://bc.sandbox.test"
DATAVERSE_HOST = "https://org.sandbox.test"
COMPANY_ID = "5a3e7c1d-2b4f-4a6e-8c9d-0e1f2a3b4c5d"
COMPANY_NAME = "CRONUS International Ltd."


@dataclass
class Reply:
    """A canned response."""

    status: int = 200
    json: Any = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Call:
    method: str
    url: str
    headers: CaseInsensitiveDict
    body: bytes
    verify: Any

    @property
    def path(self) -> str:
        return self.url.split("?", 1)[0].split("://", 1)[1].split("/", 1)[1]

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(self.url.split("?", 1)[1]) if "?" in self.url else {}

    def json(self) -> Any:
        return json.loads(self.body)


Handler = Callable[[Call], "Reply | BaseException"]


class FakeService(BaseAdapter):
    """Entra ID plus registered API routes, behind ``requests``' transport adapter interface."""

    def __init__(self) -> None:
        super().__init__()
        self.routes: list[tuple[str, re.Pattern[str], Iterator[Reply | BaseException | Handler]]] = []
        self.calls: list[Call] = []
        self.token_calls: list[Call] = []
        self.valid_tokens: set[str] = set()
        self.client_secret = CLIENT_SECRET
        self.token_error: Reply | None = None
        self._serial = itertools.count(1)

    def route(self, method: str, pattern: str, *replies: Reply | BaseException | Handler) -> None:
        """Answer requests whose method matches and URL matches ``pattern`` (a regex searched in the
        URL) with ``replies`` in turn; the last one repeats."""
        sequence = itertools.chain(replies[:-1], itertools.repeat(replies[-1]))
        self.routes.insert(0, (method.upper(), re.compile(pattern), sequence))

    def expire_tokens(self) -> None:
        self.valid_tokens.clear()

    @property
    def api_calls(self) -> list[Call]:
        return [c for c in self.calls if not c.url.startswith(LOGIN_HOST)]

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        call = Call(request.method, request.url, CaseInsensitiveDict(request.headers), body, verify)
        self.calls.append(call)
        reply = self._entra(call) if request.url.startswith(LOGIN_HOST) else self._api(call)
        if isinstance(reply, BaseException):
            raise reply
        return _response(request, reply)

    def close(self) -> None:
        pass

    def _entra(self, call: Call) -> Reply:
        tenant = call.path.split("/", 1)[0]
        if tenant != TENANT:
            return Reply(400, _entra_error("invalid_tenant", 90002, f"Tenant '{tenant}' not found."))
        if call.method == "GET" and call.path.endswith("openid-configuration"):
            base = f"{LOGIN_HOST}/{TENANT}"
            return Reply(
                200,
                {
                    "issuer": f"{base}/v2.0",
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    "token_endpoint": f"{base}/oauth2/v2.0/token",
                },
            )
        self.token_calls.append(call)
        if self.token_error is not None:
            return self.token_error
        form = {k: v[0] for k, v in parse_qs(call.body.decode()).items()}
        if form.get("client_secret") != self.client_secret:
            return Reply(401, _entra_error("invalid_client", 7000215, "Invalid client secret provided."))
        if not form.get("scope", "").endswith("/.default"):
            return Reply(400, _entra_error("invalid_scope", 1002012, "Scope must end with /.default."))
        token = f"fake-access-token-{next(self._serial)}-{'x' * 16}"
        self.valid_tokens.add(token)
        return Reply(200, {"token_type": "Bearer", "expires_in": 3599, "access_token": token})

    def _api(self, call: Call) -> Reply | BaseException:
        auth = call.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.valid_tokens:
            return Reply(401, {"error": {"code": "ExpiredAuthTicket", "message": "The access token has expired."}})
        for method, pattern, sequence in self.routes:
            if method == call.method and pattern.search(call.url):
                reply = next(sequence)
                if callable(reply) and not isinstance(reply, (Reply, BaseException)):
                    reply = reply(call)
                return reply
        return Reply(404, {"error": {"code": "0x80060888", "message": f"No route for {call.method} {call.path}."}})


def _entra_error(error: str, code: int, description: str) -> dict:
    return {
        "error": error,
        "error_description": f"AADSTS{code}: {description} Trace ID: t Correlation ID: c Timestamp: now",
        "error_codes": [code],
    }


def _response(request, reply: Reply) -> requests.Response:
    response = requests.Response()
    response.status_code = reply.status
    body = reply.body
    headers = dict(reply.headers)
    if reply.json is not None:
        body = json.dumps(reply.json).encode()
        headers.setdefault("Content-Type", "application/json; odata.metadata=minimal")
    response.headers = CaseInsensitiveDict(headers)
    response.raw = io.BytesIO(body)
    response._content = body
    response.url = request.url
    response.request = request
    response.reason = {200: "OK", 204: "No Content", 400: "Bad Request", 401: "Unauthorized"}.get(reply.status, "")
    response.encoding = "utf-8"
    return response


def dropped() -> requests.exceptions.ConnectionError:
    """What requests raises when the server closes the connection without answering."""
    return requests.exceptions.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError(104)))


def refused() -> requests.exceptions.ConnectionError:
    reason = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")
    return requests.exceptions.ConnectionError(requests.packages.urllib3.exceptions.MaxRetryError(None, "/", reason))


class FakeClock:
    """``sleep`` records the wait and moves ``now`` forward: retries cost no real time."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


@pytest.fixture
def fake() -> FakeService:
    return FakeService()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ca_file(tmp_path) -> str:
    path = tmp_path / "ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\nnot used by the fake transport\n-----END CERTIFICATE-----\n")
    return str(path)


@pytest.fixture
def connect(monkeypatch, fake, clock, ca_file):
    """``connect(hook_class, host, extra=..., **hook_kwargs)`` -> a hook on the fake service, with
    its connection given as an ``AIRFLOW_CONN_*`` variable."""

    def make(hook_class, host: str, *, extra: dict | None = None, password: str = CLIENT_SECRET, **kwargs):
        conn_id = f"unit_{hook_class.__name__.lower()}"
        merged = {"tenant_id": TENANT, "authority": LOGIN_HOST, "ca_bundle": ca_file, **(extra or {})}
        conn = {"conn_type": "http", "host": host, "login": CLIENT_ID, "password": password, "extra": merged}
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
        hook = hook_class(conn_id, adapter=fake, **kwargs)
        hook._sleep = clock.sleep
        hook._clock = clock
        return hook

    return make
