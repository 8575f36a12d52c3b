"""Entra ID (Azure AD) client-credentials tokens for the Business Central and Dataverse hooks.

Tokens come from ``msal.ConfidentialClientApplication``, whose in-memory cache hands out the same
token until shortly before it expires. TLS to the token service is verified with the connection's
CA bundle, passed on every request: requests lets ``REQUESTS_CA_BUNDLE`` override a session-level
``verify``, so a session setting alone would not reach msal's calls.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from typing import Any
from urllib.parse import urlsplit

import requests

from include.bc_sales_sync.hooks.exceptions import (
    AuthenticationError,
    ConfigurationError,
    ConnectionDropped,
    TransientError,
    aadsts_code,
)

log = logging.getLogger(__name__)

DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
# Microsoft's own login hosts: msal may run instance discovery against them. Any other host (the
# sandbox) is contacted directly, which needs ``instance_discovery=False``.
MICROSOFT_LOGIN_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoft.com",
        "login.windows.net",
        "sts.windows.net",
        "login.chinacloudapi.cn",
        "login.partner.microsoftonline.cn",
        "login.microsoftonline.us",
        "login.usgovcloudapi.net",
        "login-us.microsoftonline.com",
    }
)
# Entra ID errors that are worth another try: the token service had a problem, not our request.
_TRANSIENT_ENTRA_ERRORS = {"temporarily_unavailable", "server_error", "service_unavailable"}
_TRANSIENT_AADSTS = {"AADSTS50196", "AADSTS90033", "AADSTS90055", "AADSTS50001000"}


def mask_secret(value: str | None) -> None:
    """Register ``value`` with Airflow's secrets masker (a no-op outside Airflow)."""
    if not value:
        return
    try:
        from airflow.sdk.log import mask_secret as airflow_mask_secret
    except ImportError:  # plain-Python use (scripts, benchmarks) without the Task SDK
        return
    airflow_mask_secret(value)


class _VerifiedHttpClient:
    """The ``http_client`` msal calls: a requests session that always sends ``verify`` and a timeout."""

    def __init__(self, session: requests.Session, verify: str | bool, timeout: float, counter: TokenCounter):
        self._session = session
        self._verify = verify
        self._timeout = timeout
        self._counter = counter

    def _kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        kwargs["verify"] = self._verify
        kwargs.setdefault("timeout", self._timeout)
        return kwargs

    def get(self, url: str, params: Any = None, headers: Any = None, **kwargs: Any) -> requests.Response:
        return self._session.get(url, params=params, headers=headers, **self._kwargs(kwargs))

    def post(self, url: str, params: Any = None, data: Any = None, headers: Any = None, **kwargs: Any):
        self._counter.token_requests += 1
        return self._session.post(url, params=params, data=data, headers=headers, **self._kwargs(kwargs))

    def close(self) -> None:
        self._session.close()


class TokenCounter:
    """How many token requests went to Entra ID (cache hits are not counted)."""

    def __init__(self) -> None:
        self.token_requests = 0


class EntraTokenProvider:
    """Client-credentials access tokens for one application and one resource.

    :param client_id: the application (client) id; the connection's login.
    :param client_secret: the client secret; the connection's password. Never logged or shown.
    :param tenant_id: the directory (tenant) id or domain; extra ``tenant_id``.
    :param scope: the resource scope, ``<resource>/.default``.
    :param authority: the login host, e.g. ``https://login.microsoftonline.com`` or the sandbox's
        ``https://127.0.0.1:8443``; a URL with a path is taken as the complete authority.
    :param ca_bundle: a CA bundle file that verifies the token service's certificate (``None``: the
        system default store).
    :param conn_id: the Airflow connection these settings come from, named in error messages.
    :param timeout: seconds to wait for the token service.
    :param session: the requests session to use (adapters mounted by the hook apply to it as well).
    """

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        tenant_id: str,
        scope: str,
        authority: str = DEFAULT_AUTHORITY,
        ca_bundle: str | None = None,
        conn_id: str = "",
        timeout: float = 30.0,
        session: requests.Session | None = None,
    ):
        self.client_id = client_id
        self._client_secret = client_secret
        self.tenant_id = tenant_id
        self.scope = scope
        self.conn_id = conn_id
        self.authority_url = self._authority_url(authority, tenant_id)
        self.ca_bundle = ca_bundle
        self.timeout = timeout
        self._session = session or requests.Session()
        self._counter = TokenCounter()
        self._app: Any = None
        self._lock = threading.Lock()
        self.refresh_count = 0
        mask_secret(client_secret)

    def __repr__(self) -> str:
        return (
            f"EntraTokenProvider(client_id={self.client_id!r}, authority={self.authority_url!r}, scope={self.scope!r})"
        )

    @property
    def token_request_count(self) -> int:
        """Token requests sent to Entra ID so far (cache hits excluded)."""
        return self._counter.token_requests

    def _authority_url(self, authority: str, tenant_id: str) -> str:
        authority = (authority or DEFAULT_AUTHORITY).rstrip("/")
        parts = urlsplit(authority)
        if parts.scheme != "https" or not parts.hostname:
            raise ConfigurationError(
                f"Connection '{self.conn_id}': extra 'authority' must be an https:// login host such as "
                f"{DEFAULT_AUTHORITY}, not {authority!r}."
            )
        if parts.path not in ("", "/"):
            return authority
        if not tenant_id:
            raise ConfigurationError(
                f"Connection '{self.conn_id}': extra 'tenant_id' is missing; set it to the Entra ID directory "
                "(tenant) id of the application."
            )
        return f"{authority}/{tenant_id}"

    def _application(self) -> Any:
        if self._app is None:
            import msal

            host = (urlsplit(self.authority_url).hostname or "").lower()
            self._app = msal.ConfidentialClientApplication(
                self.client_id,
                client_credential=self._client_secret,
                authority=self.authority_url,
                instance_discovery=host in MICROSOFT_LOGIN_HOSTS,
                http_client=_VerifiedHttpClient(self._session, self.ca_bundle or True, self.timeout, self._counter),
                token_cache=msal.TokenCache(),
            )
        return self._app

    def get_token(self, *, force_refresh: bool = False) -> str:
        """An access token for :attr:`scope`, from msal's cache unless it is (nearly) expired.

        :param force_refresh: drop the cached token first, e.g. after the service answered 401.
        :raises AuthenticationError: Entra ID refused the request (wrong secret, client id, tenant or scope).
        :raises TransientError: the token service was unreachable or had a temporary failure.
        """
        from msal.exceptions import MsalServiceError

        with self._lock:
            try:
                app = self._application()
                if force_refresh:
                    self._drop_cached_tokens(app)
                    self.refresh_count += 1
                result = app.acquire_token_for_client(scopes=[self.scope])
            except requests.exceptions.HTTPError as exc:
                status = exc.response.status_code if exc.response is not None else None
                raise TransientError(
                    f"Entra ID at {self.authority_url} answered HTTP {status} during discovery for connection "
                    f"'{self.conn_id}'; retrying.",
                    status=status,
                    url=self.authority_url,
                    sent=False,
                ) from None
            except requests.exceptions.RequestException as exc:
                raise ConnectionDropped(
                    f"Could not reach Entra ID at {self.authority_url} for connection '{self.conn_id}': "
                    f"{type(exc).__name__}. Check the network and extra 'authority'/'ca_bundle'.",
                    url=self.authority_url,
                    sent=False,
                ) from None
            except MsalServiceError as exc:
                # msal raises this for a 5xx from the token endpoint (4xx come back as an error result).
                raise TransientError(
                    f"Entra ID at {self.authority_url} could not issue a token for connection '{self.conn_id}' "
                    f"right now ({self._redact(str(exc))}); retrying.",
                    url=self.authority_url,
                    sent=False,
                ) from None
            except ValueError as exc:
                # msal raises ValueError when OIDC discovery fails (e.g. an unknown tenant) or the authority is bad.
                raise self._error_from_text(_chain_text(exc)) from None
            if not isinstance(result, dict) or "access_token" not in result:
                raise self._error_from_result(result if isinstance(result, dict) else {})
            token = result["access_token"]
            mask_secret(token)
            if result.get("token_source") != "cache":
                log.info(
                    "Fetched an Entra ID token for %s (connection '%s'), valid %s s.",
                    self.scope,
                    self.conn_id,
                    result.get("expires_in", "?"),
                )
            return token

    def close(self) -> None:
        """Close the pooled connections to Entra ID (the cached token stays usable)."""
        self._session.close()

    def _drop_cached_tokens(self, app: Any) -> None:
        cache = app.token_cache
        kind = cache.CredentialType.ACCESS_TOKEN
        for item in list(cache.search(kind)):
            cache.remove_at(item)

    def _redact(self, text: str) -> str:
        return text.replace(self._client_secret, "***") if self._client_secret else text

    def _fix_for(self, error: str, code: str | None) -> str:
        conn = f"connection '{self.conn_id}'"
        if code in ("AADSTS7000215", "AADSTS7000222", "AADSTS7000216") or error == "invalid_client":
            return (
                f"The client secret is wrong or expired: put the application's current client secret in the "
                f"password of {conn}."
            )
        if code in ("AADSTS700016", "AADSTS700038") or error == "unauthorized_client":
            return (
                f"Application '{self.client_id}' is not registered in tenant '{self.tenant_id}': check the login "
                f"(application client id) and extra 'tenant_id' of {conn}."
            )
        if code in ("AADSTS90002", "AADSTS90013", "AADSTS900023") or error == "invalid_tenant":
            return f"Tenant '{self.tenant_id}' was not found: check extra 'tenant_id' (and 'authority') of {conn}."
        if code in ("AADSTS1002012", "AADSTS70011", "AADSTS500011", "AADSTS500014") or error in (
            "invalid_scope",
            "invalid_resource",
        ):
            return (
                f"Scope '{self.scope}' is not valid for this tenant: check extra 'scope' (or the host) of {conn}; "
                "it must be the service URL followed by /.default."
            )
        return f"Check the login (client id), password (client secret) and extra 'tenant_id' of {conn}."

    def _error_from_result(self, result: dict[str, Any]) -> AuthenticationError | TransientError:
        error = str(result.get("error") or "unknown_error")
        description = self._redact(str(result.get("error_description") or ""))
        code = aadsts_code(description)
        if code is None and result.get("error_codes"):
            code = f"AADSTS{result['error_codes'][0]}"
        # Keep the first sentence; trace and correlation ids follow it and add noise.
        summary = description.split(" Trace ID:")[0].strip()
        if error in _TRANSIENT_ENTRA_ERRORS or code in _TRANSIENT_AADSTS:
            return TransientError(
                f"Entra ID could not issue a token for connection '{self.conn_id}' right now ({error}"
                f"{', ' + code if code else ''}): {summary}",
                code=code or error,
                service_message=summary,
                url=self.authority_url,
                sent=False,
            )
        return AuthenticationError(
            f"Entra ID refused the token request of connection '{self.conn_id}' ({error}"
            f"{', ' + code if code else ''}): {summary} {self._fix_for(error, code)}",
            status=401 if error == "invalid_client" else 400,
            code=code or error,
            service_message=summary,
            url=self.authority_url,
        )

    def _error_from_text(self, text: str) -> AuthenticationError:
        text = self._redact(text)
        code = aadsts_code(text)
        # msal wraps a failed OpenID discovery (an unknown tenant answers 400 there) in its own message.
        discovery = "OIDC Discovery failed" in text or "Unable to get authority configuration" in text
        error = "invalid_tenant" if code == "AADSTS90002" or (discovery and code is None) else "invalid_request"
        detail = text.split(" Trace ID:")[0]
        body = re.search(r"HTTP status: (\d+), Error: (\{.*\})", text)
        if body:
            try:
                described = json.loads(body.group(2)).get("error_description")
            except ValueError:
                described = None
            if described:
                detail = f"OpenID discovery answered HTTP {body.group(1)}: {described.split(' Trace ID:')[0].strip()}"
        if len(detail) > 400:
            detail = detail[:400] + "..."
        return AuthenticationError(
            f"Entra ID rejected the authority {self.authority_url} of connection '{self.conn_id}'"
            f"{' (' + code + ')' if code else ''}: {detail} {self._fix_for(error, code)}",
            status=400,
            code=code or error,
            service_message=detail,
            url=self.authority_url,
        )


def _chain_text(exc: BaseException) -> str:
    """The messages of ``exc`` and the errors it was raised from: msal hides Entra's answer in the context."""
    texts, seen = [], set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts.append(str(current))
        current = current.__cause__ or current.__context__
    return " | ".join(reversed(texts))
