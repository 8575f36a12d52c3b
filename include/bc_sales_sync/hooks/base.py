"""``DynamicsHttpHook``: what the Business Central and Dataverse hooks share.

It builds on providers-http's :class:`~airflow.providers.http.hooks.http.HttpHook` but replaces the
parts that do not fit these APIs: connection ``extra`` keys are settings, not headers (``settings``);
the login and password are the Entra ID client id and secret, not basic auth; statuses become typed
errors instead of a bare ``AirflowException``; every request goes through one retry loop that
honours ``Retry-After``, backs off on 5xx and dropped connections, and stays inside a total time
budget (``retries``); collections are read a page at a time (``paging``). This module is the
transport: the session, TLS with the connection's CA bundle, the token header, sending one request.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import logging
import time
import uuid
from collections.abc import Callable, Collection, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from airflow.providers.http.hooks.http import HttpHook

from include.bc_sales_sync.hooks.auth import EntraTokenProvider
from include.bc_sales_sync.hooks.exceptions import (
    ConfigurationError,
    ConnectionDropped,
    DynamicsApiError,
    error_from_response,
    safe_url,
)
from include.bc_sales_sync.hooks.paging import PagingMixin
from include.bc_sales_sync.hooks.retries import IDEMPOTENT_METHODS, RetryMixin
from include.bc_sales_sync.hooks.settings import ConnectionSettings, ConnectionSettingsMixin
from include.bc_sales_sync.odata import build_query


class DynamicsHttpHook(ConnectionSettingsMixin, RetryMixin, PagingMixin, HttpHook):
    """Base hook for the Dynamics 365 Web APIs (Business Central, Dataverse) with Entra ID tokens.

    Connection fields (``conn_type="http"``): host = the service URL (``https://...``); login = the
    Entra ID application (client) id; password = its client secret; extra = settings, never headers:
    ``tenant_id`` (required), ``authority`` (default ``https://login.microsoftonline.com``), ``scope``,
    ``ca_bundle`` (a CA file path, or the PEM text; TLS is always verified), ``page_size``, ``max_retry_seconds``
    (default 300: the total time one call may spend waiting and retrying), ``max_attempts``
    (default 30: a safety net against a service that asks for very short waits), ``timeout``
    (seconds, default 120), ``proxies``.

    Every request counts in :attr:`request_count` (retries included); :attr:`retry_count` counts the
    waits. One hook is meant for one task: it is not thread-safe.

    :param conn_id: the Airflow connection id.
    :param max_retry_seconds: overrides extra ``max_retry_seconds``.
    :param max_attempts: overrides extra ``max_attempts``.
    :param timeout: overrides extra ``timeout``.
    :param page_size: overrides extra ``page_size``.
    :param adapter: a ``requests`` transport adapter to mount for every URL the hook calls, Entra ID
        included (see :class:`~airflow.providers.http.hooks.http.HttpHook`).
    :param tcp_keep_alive: enable TCP keep-alive on the connections.
    """

    conn_name_attr = "dynamics_conn_id"
    default_conn_name = "dynamics_default"
    conn_type = "http"
    hook_name = "Dynamics 365"
    #: The service's name in messages and logs.
    service_name = "Dynamics 365"
    default_headers = {
        "Accept": "application/json",
        "OData-MaxVersion": "4.0",
        "OData-Version": "4.0",
        "User-Agent": "bc-sales-sync",
    }
    connect_timeout = 15.0

    def __init__(
        self,
        conn_id: str | None = None,
        *,
        max_retry_seconds: float | None = None,
        max_attempts: int | None = None,
        timeout: float | None = None,
        page_size: int | None = None,
        adapter: requests.adapters.BaseAdapter | None = None,
        tcp_keep_alive: bool = True,
        method: str = "GET",
    ) -> None:
        super().__init__(
            method=method,
            http_conn_id=conn_id or self.default_conn_name,
            adapter=adapter,  # type: ignore[arg-type]
            tcp_keep_alive=tcp_keep_alive,
        )
        self.conn_id = self.http_conn_id
        self._overrides = {
            "max_retry_seconds": max_retry_seconds,
            "max_attempts": max_attempts,
            "timeout": timeout,
            "page_size": page_size,
        }
        self._settings: ConnectionSettings | None = None
        self._session: requests.Session | None = None
        self._token_provider: EntraTokenProvider | None = None
        #: HTTP requests sent to the service (every attempt, retries included; token requests excluded).
        self.request_count = 0
        #: Waits before another attempt (whole requests and, for batches, resubmitted operations).
        self.retry_count = 0
        # Replaceable in tests, so waits can be asserted without spending them.
        self._sleep: Callable[[float], None] = time.sleep
        self._clock: Callable[[], float] = time.monotonic

    # The logger is a standard one so records reach Airflow's task log and pytest's caplog alike.
    @property
    def log(self) -> logging.Logger:  # type: ignore[override]
        return logging.getLogger(f"{type(self).__module__}.{type(self).__name__}")

    # ------------------------------------------------------------------ connection and session

    def get_conn(self, headers: dict[Any, Any] | None = None, extra_options: dict[str, Any] | None = None):
        """The hook's ``requests.Session``, created once.

        Unlike :meth:`HttpHook.get_conn`, connection extra keys are not turned into headers and the
        login/password are not sent as basic auth (they are the Entra ID client credentials).

        :param headers: headers added to the session for every later request.
        :param extra_options: ignored; settings come from the connection extra.
        """
        if self._session is None:
            settings = self.settings
            self.base_url = settings.base_url
            self._base_url_initialized = True
            session = requests.Session()
            session.auth = None
            session.verify = settings.verify
            if settings.proxies:
                session.proxies.update(settings.proxies)
            session.headers.update(self.default_headers)
            self._configure_session_from_mount_adapters(session)
            self._session = session
        if headers:
            self._session.headers.update(headers)
        return self._session

    @property
    def token_provider(self) -> EntraTokenProvider:
        """The Entra ID token source of this hook's connection."""
        if self._token_provider is None:
            settings = self.settings
            session = requests.Session()
            if settings.proxies:
                session.proxies.update(settings.proxies)
            if self.adapter is not None:
                session.mount("https://", self.adapter)
            self._token_provider = EntraTokenProvider(
                client_id=settings.client_id,
                client_secret=settings.client_secret,
                tenant_id=settings.tenant_id,
                scope=settings.scope,
                authority=settings.authority,
                ca_bundle=settings.ca_bundle,
                conn_id=settings.conn_id,
                timeout=min(settings.timeout, 60.0),
                session=session,
            )
        return self._token_provider

    def close(self) -> None:
        """Close the pooled HTTP connections (to the service and to Entra ID)."""
        if self._session is not None:
            self._session.close()
            self._session = None
        if self._token_provider is not None:
            self._token_provider.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def url(self, path: str) -> str:
        """An absolute URL on this hook's service: ``path`` relative to the host, or already absolute.

        :raises DynamicsApiError: an absolute URL points to another host (the token must not go there).
        """
        base = self.settings.base_url
        if "://" not in path:
            return f"{base}/{path.lstrip('/')}"
        target, own = urlsplit(path), urlsplit(base)
        if (target.scheme, target.hostname, target.port) != (own.scheme, own.hostname, own.port):
            raise DynamicsApiError(
                f"{self.service_name} returned a link to {target.scheme}://{target.netloc}, outside {base}; "
                "refusing to send the access token there.",
                url=path,
            )
        return path

    # ------------------------------------------------------------------ requests with retries

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        ok_statuses: Collection[int] = (),
        timeout: float | None = None,
    ) -> requests.Response:
        """Send one API request, with authentication, typed errors and retries.

        Retries: 429 after ``Retry-After`` (or backoff if absent); 503 with backoff; 408/500/502/504
        and dropped connections with backoff only when the request is idempotent; all inside
        ``max_retry_seconds`` and ``max_attempts``. A 401 fetches a new token once per call.

        :param method: the HTTP method.
        :param url: a path relative to the host, or an absolute URL on the same host.
        :param params: query options (``$filter`` ...), encoded with :func:`~include.bc_sales_sync.odata.build_query`.
        :param json: a JSON body.
        :param data: a raw body (bytes or text); give ``Content-Type`` in ``headers``.
        :param headers: extra request headers.
        :param idempotent: whether sending the request twice is harmless; by default true for
            GET, HEAD, OPTIONS, PUT, PATCH and DELETE, false for POST.
        :param ok_statuses: error statuses returned as a response instead of raised.
        :param timeout: seconds to wait for the response (default: the connection's).
        :raises DynamicsApiError: a typed subclass for the failure (see ``exceptions.py``).
        """
        method = method.upper()
        full_url = self.url(url)
        query = build_query(params)
        if query:
            full_url += ("&" if "?" in full_url else "?") + query
        body: bytes | None
        request_headers = dict(headers or {})
        if json is not None:
            body = json_bytes(json)
            request_headers.setdefault("Content-Type", "application/json; charset=utf-8")
        elif isinstance(data, str):
            body = data.encode("utf-8")
        else:
            body = data
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS

        def attempt() -> requests.Response:
            return self._send(method, full_url, body, request_headers, ok_statuses, timeout)

        return self.with_retries(attempt, idempotent=idempotent, what=f"{method} {safe_url(full_url)}")

    def _token(self, *, force_refresh: bool = False) -> str:
        return self.token_provider.get_token(force_refresh=force_refresh)

    def _send(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: Mapping[str, str],
        ok_statuses: Collection[int],
        timeout: float | None,
    ) -> requests.Response:
        session = self.get_conn()
        settings = self.settings
        token = self._token()
        response: requests.Response | None = None
        for refreshed in (False, True):
            self.request_count += 1
            try:
                response = session.request(
                    method,
                    url,
                    data=body,
                    headers={**headers, "Authorization": f"Bearer {token}"},
                    # Per request: a session-level verify would lose against REQUESTS_CA_BUNDLE.
                    verify=settings.verify,
                    timeout=(self.connect_timeout, timeout or settings.timeout),
                    allow_redirects=False,
                )
            except requests.exceptions.RequestException as exc:
                raise self._dropped(method, url, exc) from None
            if response.status_code == 401 and not refreshed:
                self.log.info(
                    "%s %s %s: the access token was rejected (401); fetching a new one.",
                    self.service_name,
                    method,
                    safe_url(url),
                )
                token = self._token(force_refresh=True)
                continue
            break
        assert response is not None
        if response.status_code >= 400 and response.status_code not in ok_statuses:
            raise error_from_response(response, service=self.service_name, method=method, url=url)
        self.log.debug("%s %s %s -> %d", self.service_name, method, safe_url(url), response.status_code)
        return response

    def _dropped(self, method: str, url: str, exc: requests.exceptions.RequestException) -> Exception:
        if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.InvalidHeader)):
            return DynamicsApiError(
                f"{self.service_name} {method} {safe_url(url)}: invalid request ({type(exc).__name__}).",
                url=url,
                method=method,
            )
        if isinstance(exc, requests.exceptions.SSLError):
            return ConfigurationError(
                f"Connection '{self.conn_id}': the TLS certificate of {self.settings.base_url} could not be "
                "verified; set extra 'ca_bundle' to the CA file that signed it."
            )
        # Nothing reached the server if the connection never opened: safe to send again whatever the method.
        reason = exc.args[0] if exc.args else None
        reason = getattr(reason, "reason", reason)
        never_sent = isinstance(exc, requests.exceptions.ConnectTimeout) or type(reason).__name__ in (
            "NewConnectionError",
            "ConnectTimeoutError",
        )
        return ConnectionDropped(
            f"{self.service_name} {method} {safe_url(url)}: no response ({type(exc).__name__}); "
            "the connection was refused, closed or timed out.",
            url=url,
            method=method,
            sent=not never_sent,
        )

    # ------------------------------------------------------------------ HttpHook compatibility

    def run(
        self,
        endpoint: str | None = None,
        data: dict[str, Any] | str | None = None,
        headers: dict[str, Any] | None = None,
        extra_options: dict[str, Any] | None = None,
        **request_kwargs: Any,
    ) -> requests.Response:
        """:meth:`HttpHook.run` through this hook's auth, retries and typed errors.

        :param endpoint: a path relative to the host, or an absolute URL on it.
        :param data: query parameters for GET, otherwise the body.
        :param headers: extra request headers.
        :param extra_options: ``{"check_response": False}`` returns error responses instead of raising.
        :param request_kwargs: ``json=`` is supported.
        """
        ok = range(400, 600) if (extra_options or {}).get("check_response") is False else ()
        if self.method in ("GET", "HEAD"):
            params = data if isinstance(data, Mapping) else None
            return self.request(self.method, endpoint or "", params=params, headers=headers, ok_statuses=ok)
        return self.request(
            self.method,
            endpoint or "",
            json=request_kwargs.get("json"),
            data=None if isinstance(data, Mapping) else data,
            headers=headers,
            ok_statuses=ok,
        )


def json_bytes(value: Any) -> bytes:
    """A request body: compact UTF-8 JSON; dates, GUIDs, decimals and numpy/pandas scalars as JSON values."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_default).encode("utf-8")


def _json_default(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, decimal.Decimal):
        return float(value)
    # numpy / pandas scalars carry .item(); NaN is not JSON.
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    raise TypeError(f"Cannot send a {type(value).__name__} as JSON.")
