"""The settings of a Dynamics connection: read once from the Airflow connection and validated.

The host is the service URL (always ``https``), the login and password are the Entra ID client
id and secret, and the ``extra`` holds settings (never headers). A mistake names the field to fix
and never shows the secret.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from include.bc_sales_sync.hooks.auth import DEFAULT_AUTHORITY
from include.bc_sales_sync.hooks.exceptions import ConfigurationError

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
    :param ca_bundle: extra ``ca_bundle``: a CA file that verifies the service's certificates (the extra may
        also hold the PEM text itself, which is written to a file of this machine's: see :func:`_ca_bundle`).
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


class ConnectionSettingsMixin:
    """The :attr:`settings` of a hook's connection, with the defaults and limits of its service.

    For a hook with ``http_conn_id``, ``get_connection``, ``log``, ``service_name`` and the
    ``_overrides`` given to its constructor (``None`` for "from the connection").
    """

    http_conn_id: str
    service_name: str
    log: logging.Logger
    get_connection: Callable[[str], Any]
    _overrides: Mapping[str, float | None]
    _settings: ConnectionSettings | None

    #: Service-specific ``extra`` keys, on top of :data:`COMMON_EXTRA_FIELDS`.
    extra_fields: frozenset[str] = frozenset()
    default_page_size = 1000
    max_page_size = 5000
    default_max_retry_seconds = 300.0
    default_max_attempts = 30
    default_timeout = 120.0

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
        ca_bundle = _ca_bundle(cid, extra)

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


def _ca_bundle(cid: str, extra: Mapping[str, Any]) -> str | None:
    """The CA file of extra ``ca_bundle`` (or requests' ``verify=<path>``); TLS cannot be switched off.

    ``ca_bundle`` is a path, or the PEM text of the certificates itself: then the connection carries
    its trust with it (from the metadata database or a secrets backend) and needs no file on the
    worker that runs the task; the text is written once to a file named by its hash.
    """
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
    if ca_bundle is None:
        return None
    ca_bundle = str(ca_bundle)
    if PEM_MARKER in ca_bundle:
        return pem_file(ca_bundle)
    ca_bundle = os.path.expanduser(ca_bundle)
    if not os.path.exists(ca_bundle):
        raise ConfigurationError(
            f"Connection '{cid}': extra 'ca_bundle' points to {ca_bundle}, which does not exist; "
            "set it to the path of the CA certificate file, or to the certificate's PEM text."
        )
    return ca_bundle


PEM_MARKER = "-----BEGIN CERTIFICATE-----"


def pem_file(pem: str, folder: str | None = None) -> str:
    """A file holding ``pem`` (certificates in PEM), written once per content: ``<tmp>/bc_sales_sync_ca/<sha256>.pem``.

    Written to a temporary name and renamed, so concurrent tasks on one worker never read half a file.
    """
    text = pem.strip() + "\n"
    digest = hashlib.sha256(text.encode()).hexdigest()[:32]
    directory = folder or os.path.join(tempfile.gettempdir(), "bc_sales_sync_ca")
    path = os.path.join(directory, f"{digest}.pem")
    if not os.path.exists(path):
        os.makedirs(directory, exist_ok=True)
        fd, partial = tempfile.mkstemp(dir=directory, suffix=".partial")
        with os.fdopen(fd, "w") as file:
            file.write(text)
        os.replace(partial, path)
    return path
