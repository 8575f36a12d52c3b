"""``BusinessCentralHook``: the Business Central API v2.0 and published ODataV4 web services.

Reads page through ``@odata.nextLink`` one page at a time; writes use ``If-Match``; many writes go
in JSON ``$batch`` requests of up to 100 operations (Business Central's limit).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from include.bc_sales_sync.hooks.base import DynamicsHttpHook
from include.bc_sales_sync.hooks.exceptions import ConfigurationError, DynamicsApiError, parse_retry_after
from include.bc_sales_sync.hooks.retries import IDEMPOTENT_METHODS, retryable_status
from include.bc_sales_sync.odata import chunked, comma_list, format_key, odata_literal, odata_string

BC_RESOURCE = "https://api.businesscentral.dynamics.com"
MAX_BATCH_SIZE = 100


@dataclass
class BcBatchRequest:
    """One operation of a Business Central JSON ``$batch``.

    :param method: ``GET``, ``POST``, ``PATCH`` or ``DELETE``.
    :param path: the resource inside the company, e.g. ``items(<id>)`` or
        ``salesInvoices(<id>)/Microsoft.NAV.post``.
    :param body: the JSON body, for POST and PATCH.
    :param headers: extra headers; PATCH and DELETE get ``If-Match: *`` unless given one.
    """

    method: str
    path: str
    body: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class BcBatchResponse:
    """The outcome of one :class:`BcBatchRequest`, in request order.

    :param request: the request this answers.
    :param status: its HTTP status (424 when it was not carried out because the batch stopped).
    :param body: the response JSON, if any.
    :param headers: the response headers.
    :param error_code: ``error.code`` for a failure.
    :param error_message: ``error.message`` for a failure.
    """

    request: BcBatchRequest
    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    error_code: str | None = None
    error_message: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class BusinessCentralHook(DynamicsHttpHook):
    """Talks to the Business Central API v2.0 of one environment and company.

    Connection (``conn_type="http"``):

    * host: ``https://api.businesscentral.dynamics.com`` (or the sandbox, ``https://127.0.0.1:8441``)
    * login / password: the Entra ID application (client) id and client secret
    * extra: ``tenant_id`` (required), ``environment`` (default ``production``), ``company_id`` or
      ``company_name``, ``authority`` (default ``https://login.microsoftonline.com``), ``scope``
      (default ``https://api.businesscentral.dynamics.com/.default``), ``ca_bundle``, ``page_size``
      (default 1000, at most 20,000), ``api_route`` (default ``api/v2.0``; e.g.
      ``api/contoso/sync/v1.0`` for a custom API), ``max_retry_seconds``, ``max_attempts``, ``timeout``.

    :param business_central_conn_id: the Airflow connection id.
    :param company_id: overrides extra ``company_id``.
    :param company_name: overrides extra ``company_name``.
    :param environment: overrides extra ``environment``.
    :param kwargs: see :class:`~include.bc_sales_sync.hooks.base.DynamicsHttpHook`.
    """

    conn_name_attr = "business_central_conn_id"
    default_conn_name = "business_central_default"
    conn_type = "http"
    hook_name = "Dynamics 365 Business Central"
    service_name = "Business Central"
    extra_fields = frozenset({"environment", "company_id", "company_name", "api_route"})
    default_page_size = 1000
    max_page_size = 20000
    default_headers = {"Accept": "application/json", "User-Agent": "bc-sales-sync"}

    def __init__(
        self,
        business_central_conn_id: str = default_conn_name,
        *,
        company_id: str | None = None,
        company_name: str | None = None,
        environment: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(business_central_conn_id, **kwargs)
        self.business_central_conn_id = business_central_conn_id
        self._company_id = company_id
        self._company_name = company_name
        self._environment = environment

    def default_scope(self, base_url: str) -> str:
        # Business Central tokens are always for the public resource, whatever host serves the API.
        return f"{BC_RESOURCE}/.default"

    # ------------------------------------------------------------------ URLs

    @property
    def environment(self) -> str:
        return self._environment or str(self.settings.extra.get("environment") or "production")

    @property
    def environment_root(self) -> str:
        """``/v2.0/{tenant}/{environment}``: the path every URL of this environment starts with."""
        return f"/v2.0/{quote(self.settings.tenant_id, safe='')}/{quote(self.environment, safe='')}"

    @property
    def api_root(self) -> str:
        """``/v2.0/{tenant}/{environment}/api/v2.0`` (or the custom API route of extra ``api_route``)."""
        route = str(self.settings.extra.get("api_route") or "api/v2.0").strip("/")
        return f"{self.environment_root}/{route}"

    def api_url(self, path: str = "", *, company: bool = True) -> str:
        """The absolute URL of ``path`` in the API, inside the company unless ``company=False``.

        :param path: e.g. ``items``, ``items(<id>)``, ``salesInvoices(<id>)/salesInvoiceLines``.
        :param company: prefix ``companies(<id>)/``; False for ``companies`` itself or ``$batch``.
        """
        prefix = self.api_root
        if company:
            prefix += f"/companies({self.company_id})"
        path = path.lstrip("/")
        return self.url(f"{prefix}/{path}" if path else prefix)

    def web_service_url(self, service: str) -> str:
        """The URL of a published ODataV4 web service of the company:
        ``/v2.0/{tenant}/{env}/ODataV4/Company('{name}')/{service}`` with the name URL-quoted.

        :param service: the published service name, e.g. ``SalesPrices``.
        """
        company = quote(odata_string(self.company_name), safe="'")
        return self.url(f"{self.environment_root}/ODataV4/Company({company})/{service.lstrip('/')}")

    # ------------------------------------------------------------------ company

    @property
    def company_id(self) -> str:
        """The company's id: from the connection, or looked up once by ``company_name``."""
        if self._company_id is None:
            configured = self.settings.extra.get("company_id")
            if configured:
                self._company_id = str(configured)
            else:
                name = self._configured_company_name()
                if not name:
                    raise ConfigurationError(
                        f"Connection '{self.conn_id}': set extra 'company_id' (or 'company_name') to the "
                        "Business Central company to synchronize."
                    )
                found = self._find_company(f"name eq {odata_literal(name)}")
                if not found:
                    raise ConfigurationError(
                        f"Connection '{self.conn_id}': Business Central environment '{self.environment}' has no "
                        f"company named {name!r}; check extra 'company_name' (names are case-sensitive)."
                    )
                self._company_id = str(found["id"])
                self._company_name = str(found.get("name") or name)
        return self._company_id

    @property
    def company_name(self) -> str:
        """The company's name (web service URLs need it): from the connection, or looked up by id."""
        name = self._configured_company_name()
        if name:
            return name
        company_id = self.company_id
        if self._company_name is None:
            response = self.request("GET", self.api_url(f"companies({company_id})", company=False))
            self._company_name = str(response.json()["name"])
        return self._company_name

    def _configured_company_name(self) -> str | None:
        name = self._company_name or self.settings.extra.get("company_name")
        return str(name) if name else None

    def _find_company(self, filter: str) -> dict[str, Any] | None:
        for page in self._iter_odata_pages(
            self.api_url("companies", company=False), {"$filter": filter}, {}, "companies"
        ):
            if page:
                return page[0]
        return None

    def list_companies(self) -> list[dict[str, Any]]:
        """The companies of the environment (``id``, ``name``, ``displayName`` ...)."""
        companies: list[dict[str, Any]] = []
        for page in self._iter_odata_pages(self.api_url("companies", company=False), None, {}, "companies"):
            companies.extend(page)
        return companies

    # ------------------------------------------------------------------ reads

    def iter_pages(
        self,
        entity_set: str,
        *,
        filter: str | None = None,
        select: Iterable[str] | str | None = None,
        expand: Iterable[str] | str | None = None,
        orderby: Iterable[str] | str | None = None,
        page_size: int | None = None,
        web_service: bool = False,
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield the records of ``entity_set`` one page (a list) at a time; only one page is held.

        :param entity_set: e.g. ``items``, ``customers``; with ``web_service=True`` a published
            web service name such as ``SalesPrices``.
        :param filter: an OData ``$filter``, e.g. ``lastModifiedDateTime gt 2024-01-01T00:00:00Z``.
        :param select: the properties to return.
        :param expand: navigation properties to expand.
        :param orderby: the sort order.
        :param page_size: records per page (``Prefer: odata.maxpagesize``), at most 20,000.
        :param web_service: read a published ODataV4 web service instead of the API.
        """
        url = self.web_service_url(entity_set) if web_service else self.api_url(entity_set)
        params = {
            "$filter": filter,
            "$select": comma_list(select),
            "$expand": comma_list(expand),
            "$orderby": comma_list(orderby),
        }
        size = min(page_size or self.settings.page_size, self.max_page_size)
        headers = {"Prefer": f"odata.maxpagesize={size}"}
        yield from self._iter_odata_pages(url, params, headers, entity_set)

    def get(
        self,
        entity_set: str,
        id: Any,
        *,
        select: Iterable[str] | str | None = None,
        expand: Iterable[str] | str | None = None,
        web_service: bool = False,
    ) -> dict[str, Any]:
        """One record by its key (``id`` GUID in the API; the page's key fields in a web service).

        :raises NotFound: no such record.
        """
        url = self._record_url(entity_set, id, web_service)
        return self.request("GET", url, params={"$select": comma_list(select), "$expand": comma_list(expand)}).json()

    # ------------------------------------------------------------------ writes

    def create(self, entity_set: str, record: Mapping[str, Any], *, web_service: bool = False) -> dict[str, Any]:
        """Create a record; returns it as Business Central stored it (201 body)."""
        url = self.web_service_url(entity_set) if web_service else self.api_url(entity_set)
        return _json_or_empty(self.request("POST", url, json=dict(record)))

    def update(
        self,
        entity_set: str,
        id: Any,
        changes: Mapping[str, Any],
        etag: str = "*",
        *,
        web_service: bool = False,
    ) -> dict[str, Any]:
        """Change a record; returns it as stored (200 body).

        :param etag: the ``@odata.etag`` read with the record (fails with
            :class:`~include.bc_sales_sync.hooks.exceptions.Conflict` if someone changed it since), or
            ``*`` to overwrite.
        """
        url = self._record_url(entity_set, id, web_service)
        return _json_or_empty(self.request("PATCH", url, json=dict(changes), headers={"If-Match": etag}))

    def delete(self, entity_set: str, id: Any, etag: str = "*", *, web_service: bool = False) -> None:
        """Delete a record."""
        self.request("DELETE", self._record_url(entity_set, id, web_service), headers={"If-Match": etag})

    def post_action(
        self, entity_set: str, id: Any, action: str, body: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Call a bound action such as ``Microsoft.NAV.post`` on a record (not retried after a dropped
        connection: an action may not be safe to run twice).

        :param action: ``Microsoft.NAV.<name>`` or just ``<name>``.
        """
        if "." not in action:
            action = f"Microsoft.NAV.{action}"
        url = f"{self._record_url(entity_set, id, False)}/{action}"
        return _json_or_empty(self.request("POST", url, json=dict(body or {})))

    def batch(
        self,
        requests: Iterable[BcBatchRequest],
        *,
        transactional: bool = False,
        chunk_size: int = MAX_BATCH_SIZE,
        idempotent: bool | None = None,
    ) -> list[BcBatchResponse]:
        """Send ``requests`` as JSON ``$batch`` calls of up to 100; one response per request, in order.

        Operations answered 429/503 (and, for idempotent ones, 408/5xx) are sent again in a later
        batch after the wait the service asks for, within the retry budget.

        :param requests: the operations; consumed lazily, one chunk at a time.
        :param transactional: ``Isolation: snapshot``: each chunk succeeds or fails as a whole.
        :param chunk_size: operations per request (at most 100).
        :param idempotent: whether a chunk may be re-sent after a dropped connection; by default
            true when no operation is a POST.
        """
        results: list[BcBatchResponse] = []
        for chunk in chunked(requests, min(chunk_size, MAX_BATCH_SIZE)):
            results.extend(self._batch_chunk(chunk, transactional, idempotent))
        return results

    def _batch_chunk(
        self, chunk: list[BcBatchRequest], transactional: bool, idempotent: bool | None
    ) -> list[BcBatchResponse]:
        def send(items: list[BcBatchRequest]) -> list[BcBatchResponse]:
            safe = idempotent if idempotent is not None else all(r.method.upper() in IDEMPOTENT_METHODS for r in items)
            payload = {"requests": [self._batch_entry(str(i), r) for i, r in enumerate(items, 1)]}
            headers = {"Isolation": "snapshot"} if transactional else {}
            response = self.request(
                "POST", self.api_url("$batch", company=False), json=payload, headers=headers, idempotent=safe
            )
            return self._parse_batch(items, response.json())

        def retry_after(item: BcBatchRequest, result: BcBatchResponse) -> float | bool | None:
            if not retryable_status(result.status, item.method) or transactional:
                return False
            headers = {k.lower(): v for k, v in (result.headers or {}).items()}
            return parse_retry_after(headers.get("retry-after"))

        results = self.retry_operations(chunk, send, retry_after, what="$batch")
        failed = sum(1 for r in results if not r.ok)
        self.log.info(
            "Business Central $batch: %d operation(s), %d succeeded, %d failed.",
            len(chunk),
            len(chunk) - failed,
            failed,
        )
        return results

    def _batch_entry(self, request_id: str, request: BcBatchRequest) -> dict[str, Any]:
        method = request.method.upper()
        headers = dict(request.headers)
        if method in ("PATCH", "DELETE"):
            headers.setdefault("If-Match", "*")
        entry: dict[str, Any] = {
            "id": request_id,
            "method": method,
            "url": f"companies({self.company_id})/{request.path.lstrip('/')}",
        }
        if request.body is not None:
            headers.setdefault("Content-Type", "application/json")
            entry["body"] = dict(request.body)
        if headers:
            entry["headers"] = headers
        return entry

    def _parse_batch(self, items: list[BcBatchRequest], payload: Any) -> list[BcBatchResponse]:
        responses = payload.get("responses") if isinstance(payload, dict) else None
        if not isinstance(responses, list):
            raise DynamicsApiError(
                "Business Central $batch answered without a 'responses' list; the batch outcome is unknown.",
                method="POST",
                url=self.api_url("$batch", company=False),
            )
        by_id = {str(r.get("id")): r for r in responses if isinstance(r, dict)}
        results = []
        for index, item in enumerate(items, 1):
            raw = by_id.get(str(index))
            if raw is None:
                results.append(
                    BcBatchResponse(
                        item,
                        424,
                        error_code="NotExecuted",
                        error_message="Business Central did not carry out this operation (the batch stopped early).",
                    )
                )
                continue
            status = int(raw.get("status") or 0)
            body = raw.get("body")
            code = message = None
            if status >= 400:
                error = body.get("error") if isinstance(body, dict) else None
                if isinstance(error, dict):
                    code, message = error.get("code"), error.get("message")
                message = message or f"HTTP {status}"
            results.append(BcBatchResponse(item, status, body, raw.get("headers") or {}, code, message))
        return results

    # ------------------------------------------------------------------ helpers

    def _record_url(self, entity_set: str, id: Any, web_service: bool) -> str:
        key = format_key(id)
        if web_service:
            return f"{self.web_service_url(entity_set)}({key})"
        return self.api_url(f"{entity_set}({key})")

    def test_connection(self) -> tuple[bool, str]:
        """List the environment's companies and check the configured company is among them."""
        try:
            companies = self.list_companies()
            wanted_id = self._company_id or self.settings.extra.get("company_id")
            wanted_name = self._configured_company_name()
            if not (wanted_id or wanted_name):
                return (
                    True,
                    f"Connected to Business Central environment '{self.environment}': {len(companies)} companies.",
                )
            for company in companies:
                if (wanted_id and str(company.get("id")) == str(wanted_id)) or (
                    not wanted_id and company.get("name") == wanted_name
                ):
                    return True, (
                        f"Connected to Business Central environment '{self.environment}', company "
                        f"'{company.get('name')}' ({company.get('id')})."
                    )
            return False, (
                f"Connected to Business Central environment '{self.environment}', but company "
                f"{wanted_id or wanted_name!r} is not among its {len(companies)} companies; check extra "
                "'company_id' / 'company_name'."
            )
        except Exception as exc:
            return False, str(exc)


def _json_or_empty(response: Any) -> dict[str, Any]:
    if response.status_code == 204 or not response.content:
        return {}
    return response.json()
