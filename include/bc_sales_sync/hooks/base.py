"""``DynamicsHttpHook``: what the Business Central and Dataverse hooks share.

It builds on providers-http's :class:`~airflow.providers.http.hooks.http.HttpHook` but replaces the
parts that do not fit these APIs: connection ``extra`` keys are settings, not headers; the login and
password are the Entra ID client id and secret, not basic auth; statuses become typed errors instead
of a bare ``AirflowException``; and every request goes through one retry loop (tenacity) that honours
``Retry-After``, backs off on 5xx and dropped connections, and stays inside a total time budget.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import random
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import msgspec
import requests
import tenacity
from airflow.providers.http.hooks.http import HttpHook

from include.bc_sales_sync.hooks.auth import DEFAULT_AUTHORITY, EntraTokenProvider
from include.bc_sales_sync.hooks.exceptions import (
    ConfigurationError,
    ConnectionDropped,
    DynamicsApiError,
    RateLimited,
    TransientError,
    error_from_response,
    safe_url,
)
from include.bc_sales_sync.odata import build_query
from include.bc_sales_sync.odata import odata_time as odata_time  # sync/engine.py imports it from here

T = TypeVar("T")
Op = TypeVar("Op")
R = TypeVar("R")

# Replaying these cannot create a second record: GET/HEAD read, PUT/PATCH set values on a known
# key (our PATCHes are upserts with deterministic ids), DELETE removes a known key. POST may create.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})
# 503 means "not processed, come back later" and 429 is rejected before any work, so even a
# non-idempotent request may be sent again; 500/502/504 may have been half done.
_RETRY_ALWAYS = frozenset({429, 503})
_RETRY_IF_IDEMPOTENT = frozenset({408, 500, 502, 504})

# Settings every Dynamics connection understands in its ``extra``.
COMMON_EXTRA_FIELDS = frozenset(
    {
        "tenant_id",
        "authority",
        "scope",
        "ca_bundle",
        "page_size",
        "max_retry_seconds",
        "max_attempts",
        "timeout",
        "verify",
        "proxies",
    }
)


@dataclass(frozen=True)
class ConnectionSettings:
    """The settings of one Dynamics connection, validated.

    :param conn_id: the Airflow connection id.
    :param base_url: ``https://host[:port]`` from the connection host (and port).
    :param client_id: the Entra ID application (client) id: the connection login.
    :param client_secret: the client secret: the connection password.
    :param tenant_id: extra ``tenant_id``.
    :param authority: extra ``authority``, the login host.
    :param scope: extra ``scope``, or the service's default.
    :param ca_bundle: extra ``ca_bundle``: a CA file that verifies the service's certificates.
    :param page_size: extra ``page_size``: records per page requested with ``Prefer: odata.maxpagesize``.
    :param max_retry_seconds: extra ``max_retry_seconds``: the total time one call may spend retrying.
    :param max_attempts: extra ``max_attempts``: the attempts one call may make.
    :param timeout: extra ``timeout``: seconds to wait for a response.
    :param proxies: extra ``proxies``.
    :param extra: every extra key, for service-specific settings.
    """

    conn_id: str
    base_url: str
    client_id: str
    client_secret: str = field(repr=False)
    tenant_id: str
    authority: str
    scope: str
    ca_bundle: str | None
    page_size: int
    max_retry_seconds: float
    max_attempts: int
    timeout: float
    proxies: Mapping[str, str] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def verify(self) -> str | bool:
        """What requests gets as ``verify=``: the CA bundle, or ``True`` (the default store). Never ``False``."""
        return self.ca_bundle or True


class DynamicsHttpHook(HttpHook):
    """Base hook for the Dynamics 365 Web APIs (Business Central, Dataverse) with Entra ID tokens.

    Connection fields (``conn_type="http"``): host = the service URL (``https://...``); login = the
    Entra ID application (client) id; password = its client secret; extra = settings, never headers:
    ``tenant_id`` (required), ``authority`` (default ``https://login.microsoftonline.com``), ``scope``,
    ``ca_bundle`` (a CA file path; TLS is always verified), ``page_size``, ``max_retry_seconds``
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
    extra_fields: frozenset[str] = frozenset()
    default_page_size = 1000
    max_page_size = 5000
    default_headers = {
        "Accept": "application/json",
        "OData-MaxVersion": "4.0",
        "OData-Version": "4.0",
        "User-Agent": "bc-sales-sync",
    }
    default_max_retry_seconds = 300.0
    default_max_attempts = 30
    default_timeout = 120.0
    connect_timeout = 15.0
    #: Exponential backoff without ``Retry-After``: first wait, ceiling, and random jitter added (seconds).
    backoff_initial = 1.0
    backoff_max = 30.0
    backoff_jitter = 1.0

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

    @property
    def settings(self) -> ConnectionSettings:
        """The validated connection settings (read once per hook)."""
        if self._settings is None:
            self._settings = self._read_settings(self.get_connection(self.http_conn_id))
        return self._settings

    def default_scope(self, base_url: str) -> str:
        """The token scope when the connection's extra has none."""
        return f"{base_url}/.default"

    def _read_settings(self, conn: Any) -> ConnectionSettings:
        cid = self.http_conn_id
        extra = dict(conn.extra_dejson or {})
        unknown = sorted(set(extra) - COMMON_EXTRA_FIELDS - self.extra_fields)
        if unknown:
            # Plain HttpHook would send these as headers; here they are ignored, so say so (names only).
            self.log.warning("Connection '%s': ignoring unknown extra key(s) %s.", cid, ", ".join(unknown))

        host = (conn.host or "").strip().rstrip("/")
        if not host:
            raise ConfigurationError(
                f"Connection '{cid}' has no host; set it to the {self.service_name} URL (https://...)."
            )
        base_url = host if "://" in host else f"{conn.schema or 'https'}://{host}"
        if conn.port and not urlsplit(base_url).port:
            base_url = f"{base_url}:{conn.port}"
        parts = urlsplit(base_url)
        if parts.scheme != "https" or not parts.hostname:
            raise ConfigurationError(
                f"Connection '{cid}': the host must be an https:// URL (TLS is always used), not {base_url!r}."
            )
        if not conn.login:
            raise ConfigurationError(
                f"Connection '{cid}' has no login; set it to the Entra ID application (client) id."
            )
        if not conn.password:
            raise ConfigurationError(f"Connection '{cid}' has no password; set it to the application's client secret.")
        tenant_id = str(extra.get("tenant_id") or "").strip()
        if not tenant_id:
            raise ConfigurationError(
                f"Connection '{cid}': extra 'tenant_id' is missing; set it to the Entra ID directory (tenant) id."
            )

        ca_bundle = extra.get("ca_bundle")
        verify = extra.get("verify", extra.get("verify_ssl"))
        if isinstance(verify, str) and verify.strip().lower() in ("false", "0", "no", "off"):
            verify = False
        if verify is False:
            raise ConfigurationError(
                f"Connection '{cid}': TLS verification cannot be switched off; remove extra 'verify' and set "
                "'ca_bundle' to the CA file that signed the server's certificate."
            )
        if isinstance(verify, str) and verify.strip().lower() not in ("true", "1", "yes", "on") and not ca_bundle:
            ca_bundle = verify  # requests' convention: verify=<path>
        if ca_bundle is not None:
            ca_bundle = os.path.expanduser(str(ca_bundle))
            if not os.path.exists(ca_bundle):
                raise ConfigurationError(
                    f"Connection '{cid}': extra 'ca_bundle' points to {ca_bundle}, which does not exist; "
                    "set it to the path of the CA certificate file."
                )

        def number(name: str, default: float, cast: Callable[[Any], float], minimum: float) -> Any:
            value = self._overrides.get(name)
            if value is None:
                value = extra.get(name, default)
            try:
                value = cast(value)
            except (TypeError, ValueError):
                raise ConfigurationError(
                    f"Connection '{cid}': extra '{name}' must be a number, not {value!r}."
                ) from None
            if value < minimum:
                raise ConfigurationError(f"Connection '{cid}': extra '{name}' must be at least {minimum:g}.")
            return value

        page_size = number("page_size", self.default_page_size, int, 1)
        if page_size > self.max_page_size:
            self.log.warning(
                "Connection '%s': page_size %d exceeds the %s maximum; using %d.",
                cid,
                page_size,
                self.service_name,
                self.max_page_size,
            )
            page_size = self.max_page_size
        proxies = extra.get("proxies", extra.get("proxy"))
        return ConnectionSettings(
            conn_id=cid,
            base_url=base_url,
            client_id=str(conn.login),
            client_secret=str(conn.password),
            tenant_id=tenant_id,
            authority=str(extra.get("authority") or DEFAULT_AUTHORITY),
            scope=str(extra.get("scope") or self.default_scope(base_url)),
            ca_bundle=ca_bundle,
            page_size=page_size,
            max_retry_seconds=number("max_retry_seconds", self.default_max_retry_seconds, float, 0),
            max_attempts=number("max_attempts", self.default_max_attempts, int, 1),
            timeout=number("timeout", self.default_timeout, float, 1),
            proxies=proxies if isinstance(proxies, Mapping) else None,
            extra=extra,
        )

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
            body = _json_bytes(json)
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

    def with_retries(self, fn: Callable[[], T], *, idempotent: bool, what: str) -> T:
        """Call ``fn`` until it succeeds, retrying retryable :class:`DynamicsApiError` as described in
        :meth:`request`. Raises the last error, annotated with the attempts made, when giving up.

        :param fn: one attempt.
        :param idempotent: whether ``fn`` may be repeated after an unclear failure.
        :param what: how log lines name the call.
        """
        settings = self.settings
        start = self._clock()

        def wait(state: tenacity.RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            retry_after = getattr(error, "retry_after", None)
            if retry_after is not None:
                # Honour the service's wait; a wait beyond the budget makes ``stop`` give up now.
                return min(float(retry_after), settings.max_retry_seconds + 1)
            return self._backoff(state.attempt_number)

        def stop(state: tenacity.RetryCallState) -> bool:
            if state.attempt_number >= settings.max_attempts:
                return True
            return (self._clock() - start) + state.upcoming_sleep > settings.max_retry_seconds

        def before_sleep(state: tenacity.RetryCallState) -> None:
            self.retry_count += 1
            error = state.outcome.exception() if state.outcome else None
            reason = (
                f"HTTP {error.status} {type(error).__name__}"
                if isinstance(error, DynamicsApiError) and error.status
                else type(error).__name__
            )
            self.log.warning(
                "%s %s: %s; retry %d of %d in %.1f s.",
                self.service_name,
                what,
                reason,
                state.attempt_number,
                settings.max_attempts - 1,
                state.upcoming_sleep,
            )

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(lambda exc: self._retryable(exc, idempotent)),
            wait=wait,
            stop=stop,
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        attempts = 0

        def counted() -> T:
            nonlocal attempts
            attempts += 1
            return fn()

        try:
            return retrying(counted)
        except DynamicsApiError as error:
            # Only a retryable error can end the loop by exhausting the budget: say how hard we tried.
            if self._retryable(error, idempotent):
                error.attempts = attempts
                error.retry_seconds = self._clock() - start
                error.retry_budget = settings.max_retry_seconds
            raise

    def retry_operations(
        self,
        items: list[Op],
        send: Callable[[list[Op]], list[R]],
        retry_after: Callable[[Op, R], float | bool | None],
        *,
        what: str,
    ) -> list[R]:
        """Send ``items`` (the operations of one batch) and send again those whose own result was
        throttled or failed temporarily, until none is left or the retry budget is spent.

        :param items: the operations.
        :param send: sends a list of operations, returns their results in the same order.
        :param retry_after: per (operation, result): ``False`` when done (success or a lasting
            failure); otherwise the seconds the service asked to wait, or ``None`` for backoff.
        :param what: how log lines name the batch.
        :return: one result per operation, in order; operations still failing keep their last result.
        """
        settings = self.settings
        results = send(items)
        start = self._clock()
        attempt = 1
        while True:
            pending: list[int] = []
            waits: list[float] = []
            for index, (item, result) in enumerate(zip(items, results, strict=True)):
                decision = retry_after(item, result)
                if decision is False:
                    continue
                pending.append(index)
                if decision is not None and decision is not True:
                    waits.append(float(decision))
            if not pending:
                return results
            wait = max(waits) if waits else self._backoff(attempt)
            if attempt >= settings.max_attempts or (self._clock() - start) + wait > settings.max_retry_seconds:
                self.log.warning(
                    "%s %s: %d operation(s) still throttled or failing after %d attempt(s) over %.0f s "
                    "(max_attempts=%d, max_retry_seconds=%g); reporting them as failed.",
                    self.service_name,
                    what,
                    len(pending),
                    attempt,
                    self._clock() - start,
                    settings.max_attempts,
                    settings.max_retry_seconds,
                )
                for index in pending:
                    result = results[index]
                    if hasattr(result, "error_message"):
                        result.error_message = (
                            f"{result.error_message or 'Temporary failure'} (gave up after {attempt} attempt(s); "
                            "it is retried on the next run)"
                        )
                return results
            self.retry_count += 1
            self.log.warning(
                "%s %s: %d of %d operation(s) throttled or failed temporarily; sending them again in %.1f s "
                "(attempt %d of %d).",
                self.service_name,
                what,
                len(pending),
                len(items),
                wait,
                attempt + 1,
                settings.max_attempts,
            )
            self._sleep(wait)
            again = send([items[i] for i in pending])
            for index, result in zip(pending, again, strict=True):
                results[index] = result
            attempt += 1

    def _backoff(self, attempt: int) -> float:
        return min(self.backoff_max, self.backoff_initial * 2 ** (attempt - 1)) + random.uniform(0, self.backoff_jitter)

    @staticmethod
    def _retryable(error: BaseException, idempotent: bool) -> bool:
        if not isinstance(error, TransientError):
            return False
        if not error.sent or isinstance(error, RateLimited):
            return True
        if isinstance(error, ConnectionDropped):
            return idempotent
        if error.status in _RETRY_ALWAYS:
            return True
        return idempotent and (error.status in _RETRY_IF_IDEMPOTENT or error.status is None)

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

    # ------------------------------------------------------------------ OData helpers

    def _iter_odata_pages(
        self, url: str, params: Mapping[str, Any] | None, headers: Mapping[str, str], label: str
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield each page's ``value`` list, following ``@odata.nextLink`` verbatim until it is absent."""
        next_url: str | None = url
        query: Mapping[str, Any] | None = params
        page = total = 0
        seen: set[str] = set()
        while next_url:
            response = self.request("GET", next_url, params=query, headers=headers)
            try:
                # msgspec decodes a page of 5,000 records about twice as fast as the json module.
                payload = msgspec.json.decode(response.content)
            except msgspec.DecodeError as exc:
                raise DynamicsApiError(
                    f"{self.service_name} GET {safe_url(response.url)} returned a page that is not valid JSON "
                    f"({exc}); the response was cut off or is not from the OData API.",
                    url=response.url,
                    method="GET",
                ) from None
            records = payload.get("value") if isinstance(payload, dict) else None
            if not isinstance(records, list):
                raise DynamicsApiError(
                    f"{self.service_name} GET {safe_url(response.url)} returned no 'value' list; is "
                    f"'{label}' a collection?",
                    url=response.url,
                    method="GET",
                )
            page += 1
            total += len(records)
            link = payload.get("@odata.nextLink")
            del payload
            self.log.info(
                "%s %s: page %d, %d record(s), %d so far%s.",
                self.service_name,
                label,
                page,
                len(records),
                total,
                "" if link else " (last page)",
            )
            yield records
            if link and link in seen:
                raise DynamicsApiError(
                    f"{self.service_name} {label}: the server repeated a next link; stopping to avoid a loop.",
                    url=link,
                    method="GET",
                )
            if link:
                seen.add(link)
            next_url, query = link, None

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


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_default).encode("utf-8")


def _json_default(value: Any) -> Any:
    import decimal

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
