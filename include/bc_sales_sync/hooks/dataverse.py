"""``DataverseHook``: the Dataverse Web API v9.2 behind Dynamics 365 Sales.

Reads page through ``@odata.nextLink``; writes are upserts (``PATCH`` on a deterministic id or an
alternate key) that many operations at a time go through multipart ``$batch`` requests of up to
1,000 operations with ``Prefer: odata.continue-on-error``, so one bad record never sinks the rest.
The multipart encoding and decoding of ``$batch`` is in :mod:`~include.bc_sales_sync.hooks.batch`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping
from functools import cached_property
from typing import Any

from include.bc_sales_sync.hooks.base import DynamicsHttpHook
from include.bc_sales_sync.hooks.batch import (
    BatchOperation,
    BatchResult,
    encode_batch,
    entity_id_of,
    header_value,
    match_results,
    parse_batch_response,
)
from include.bc_sales_sync.hooks.exceptions import DynamicsApiError, error_from_response, parse_retry_after
from include.bc_sales_sync.hooks.retries import IDEMPOTENT_METHODS, retryable_status
from include.bc_sales_sync.odata import chunked, comma_list, format_key

MAX_BATCH_SIZE = 1000
MAX_PAGE_SIZE = 5000


class DataverseHook(DynamicsHttpHook):
    """Talks to the Dataverse Web API of one Dynamics 365 organization.

    Connection (``conn_type="http"``):

    * host: the organization URL, ``https://<org>.crm.dynamics.com`` (or the sandbox,
      ``https://127.0.0.1:8442``)
    * login / password: the Entra ID application (client) id and client secret of an application
      user in the organization
    * extra: ``tenant_id`` (required), ``authority`` (default ``https://login.microsoftonline.com``),
      ``scope`` (default ``<host>/.default``), ``ca_bundle``, ``page_size`` (default 1000, at most
      5,000), ``api_version`` (default ``v9.2``), ``max_retry_seconds``, ``max_attempts``, ``timeout``.

    :param dataverse_conn_id: the Airflow connection id.
    :param kwargs: see :class:`~include.bc_sales_sync.hooks.base.DynamicsHttpHook`.
    """

    conn_name_attr = "dataverse_conn_id"
    default_conn_name = "dataverse_default"
    conn_type = "http"
    hook_name = "Dynamics 365 Sales (Dataverse)"
    service_name = "Dataverse"
    extra_fields = frozenset({"api_version"})
    default_page_size = 1000
    max_page_size = MAX_PAGE_SIZE

    def __init__(self, dataverse_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(dataverse_conn_id, **kwargs)
        self.dataverse_conn_id = dataverse_conn_id
        self._batch_number = 0

    # ------------------------------------------------------------------ URLs

    @property
    def api_root(self) -> str:
        """``/api/data/v9.2``."""
        return f"/api/data/{str(self.settings.extra.get('api_version') or 'v9.2').strip('/')}"

    def api_url(self, path: str = "") -> str:
        """The absolute URL of ``path`` (relative to the API root, e.g. ``accounts(<id>)``)."""
        path = path.lstrip("/")
        return self.url(f"{self.api_root}/{path}" if path else self.api_root)

    def record_url(self, entity_set: str, key: Any) -> str:
        """``.../api/data/v9.2/<entity_set>(<key>)``; ``key`` as in :func:`~include.bc_sales_sync.odata.format_key`."""
        return self.api_url(f"{entity_set}({format_key(key)})")

    # ------------------------------------------------------------------ reads

    def iter_pages(
        self,
        entity_set: str,
        *,
        filter: str | None = None,
        select: Iterable[str] | str | None = None,
        orderby: Iterable[str] | str | None = None,
        expand: Iterable[str] | str | None = None,
        page_size: int | None = None,
        annotations: bool | str = False,
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield the rows of ``entity_set`` one page (a list) at a time; only one page is held.

        :param entity_set: e.g. ``products``.
        :param filter: an OData ``$filter``.
        :param select: the columns to return (always pass it: Dataverse returns every column otherwise).
        :param orderby: the sort order.
        :param expand: navigation properties to expand.
        :param page_size: rows per page (``Prefer: odata.maxpagesize``), at most 5,000.
        :param annotations: ``True`` for every annotation (formatted values, lookup names), or the
            annotation filter to ask for, e.g. ``"OData.Community.Display.V1.FormattedValue"``.
        """
        size = min(page_size or self.settings.page_size, MAX_PAGE_SIZE)
        prefer = [f"odata.maxpagesize={size}"]
        if annotations:
            prefer.append(f'odata.include-annotations="{"*" if annotations is True else annotations}"')
        params = {
            "$select": comma_list(select),
            "$filter": filter,
            "$orderby": comma_list(orderby),
            "$expand": comma_list(expand),
        }
        yield from self._iter_odata_pages(self.api_url(entity_set), params, {"Prefer": ",".join(prefer)}, entity_set)

    def get(
        self,
        entity_set: str,
        key: Any,
        *,
        select: Iterable[str] | str | None = None,
        expand: Iterable[str] | str | None = None,
    ) -> dict[str, Any]:
        """One row by its id or alternate key.

        :raises NotFound: no such row.
        """
        params = {"$select": comma_list(select), "$expand": comma_list(expand)}
        return self.request("GET", self.record_url(entity_set, key), params=params).json()

    def who_am_i(self) -> dict[str, Any]:
        """``WhoAmI``: ``UserId`` (the application user), ``BusinessUnitId``, ``OrganizationId``."""
        return self.request("GET", self.api_url("WhoAmI")).json()

    @cached_property
    def user_id(self) -> str:
        """The id (lower case) of the Sales user this connection acts as, asked once (``WhoAmI``)."""
        return str(self.who_am_i()["UserId"]).lower()

    # ------------------------------------------------------------------ writes

    def create(
        self, entity_set: str, record: Mapping[str, Any], return_representation: bool = False
    ) -> str | dict[str, Any]:
        """Create a row (POST; not re-sent after a dropped connection, as it could create a duplicate:
        prefer :meth:`upsert` with a deterministic id).

        :return: the new row's id, or with ``return_representation`` the row as stored.
        """
        headers = {"Prefer": "return=representation"} if return_representation else {}
        response = self.request("POST", self.api_url(entity_set), json=dict(record), headers=headers)
        if return_representation and response.content:
            return response.json()
        entity_id = entity_id_of(response.headers)
        if entity_id is None:
            raise DynamicsApiError(
                f"Dataverse created a row in {entity_set} but sent no OData-EntityId header.",
                status=response.status_code,
                url=response.url,
                method="POST",
            )
        return entity_id

    def upsert(
        self,
        entity_set: str,
        key: Any,
        record: Mapping[str, Any],
        *,
        create_only: bool = False,
        update_only: bool = False,
    ) -> str:
        """Create or update the row with this key (``PATCH``; safe to repeat).

        :param key: a deterministic GUID, or an alternate key mapping.
        :param create_only: fail with :class:`~.exceptions.PreconditionFailed` if it exists (``If-None-Match: *``).
        :param update_only: fail with :class:`~.exceptions.NotFound` if it does not exist (``If-Match: *``).
        :return: the row's id.
        """
        if create_only and update_only:
            raise ValueError("create_only and update_only exclude each other.")
        headers = {"If-None-Match": "*"} if create_only else {"If-Match": "*"} if update_only else {}
        response = self.request("PATCH", self.record_url(entity_set, key), json=dict(record), headers=headers)
        return entity_id_of(response.headers) or str(key)

    def update(self, entity_set: str, key: Any, changes: Mapping[str, Any], etag: str = "*") -> None:
        """Change an existing row (``If-Match``: the row's ``@odata.etag`` for optimistic concurrency, or ``*``).

        :raises NotFound: no such row.
        :raises PreconditionFailed: the row changed since ``etag`` was read.
        """
        self.request("PATCH", self.record_url(entity_set, key), json=dict(changes), headers={"If-Match": etag})

    def delete(self, entity_set: str, key: Any, etag: str | None = None) -> None:
        """Delete a row.

        :raises NotFound: no such row.
        """
        headers = {"If-Match": etag} if etag else {}
        self.request("DELETE", self.record_url(entity_set, key), headers=headers)

    # ------------------------------------------------------------------ $batch

    def batch(
        self,
        operations: Iterable[BatchOperation],
        *,
        continue_on_error: bool = True,
        chunk_size: int = MAX_BATCH_SIZE,
        change_set: bool = False,
        idempotent: bool | None = None,
    ) -> list[BatchResult]:
        """Run ``operations`` through ``$batch`` requests of up to ``chunk_size`` (at most 1,000).

        Returns one :class:`BatchResult` per operation, in order. A throttled (429) or unavailable
        (503) batch is sent again after the wait the service asks for; with continue-on-error,
        operations answered 429/503 on their own are sent again in a smaller batch, within the
        retry budget, and keep their failure if it runs out.

        :param operations: the operations; consumed lazily, one chunk at a time.
        :param continue_on_error: ``Prefer: odata.continue-on-error``: every operation runs and
            reports its own outcome. Without it the service stops at the first failure and the
            operations after it come back with status 424.
        :param chunk_size: operations per request.
        :param change_set: put each chunk in one change set (all or nothing).
        :param idempotent: whether a chunk may be re-sent after a dropped connection; by default
            true when no operation is a POST (upserts by id are safe to repeat).
        """
        results: list[BatchResult] = []
        for chunk_results in self.iter_batch(
            operations,
            continue_on_error=continue_on_error,
            chunk_size=chunk_size,
            change_set=change_set,
            idempotent=idempotent,
        ):
            results.extend(chunk_results)
        return results

    def iter_batch(
        self,
        operations: Iterable[BatchOperation],
        *,
        continue_on_error: bool = True,
        chunk_size: int = MAX_BATCH_SIZE,
        change_set: bool = False,
        idempotent: bool | None = None,
    ) -> Iterator[list[BatchResult]]:
        """Like :meth:`batch`, but yields each chunk's results as soon as they arrive, so a caller can
        record progress per chunk and memory stays bounded by the chunk size."""
        size = max(1, min(chunk_size, MAX_BATCH_SIZE))
        for chunk in chunked(operations, size):
            yield self._batch_chunk(chunk, continue_on_error, change_set, idempotent)

    def _batch_chunk(
        self,
        chunk: list[BatchOperation],
        continue_on_error: bool,
        change_set: bool,
        idempotent: bool | None,
    ) -> list[BatchResult]:
        self._batch_number += 1
        number = self._batch_number

        def send(items: list[BatchOperation]) -> list[BatchResult]:
            safe = idempotent if idempotent is not None else all(op.method in IDEMPOTENT_METHODS for op in items)
            return self._send_batch(items, continue_on_error, change_set, safe)

        def retry_after(op: BatchOperation, result: BatchResult) -> float | bool | None:
            if change_set or not continue_on_error:
                return False
            if retryable_status(result.status, op.method):
                return parse_retry_after(header_value(result.headers, "Retry-After"))
            return False

        results = self.retry_operations(chunk, send, retry_after, what=f"$batch {number}")
        failed = sum(1 for r in results if not r.ok)
        self.log.info(
            "Dataverse $batch %d: %d operation(s), %d succeeded, %d failed.",
            number,
            len(chunk),
            len(chunk) - failed,
            failed,
        )
        return results

    def _send_batch(
        self, operations: list[BatchOperation], continue_on_error: bool, change_set: bool, idempotent: bool
    ) -> list[BatchResult]:
        boundary = f"batch_{uuid.uuid4()}"
        body = self.build_batch_body(operations, boundary, change_set=change_set)
        headers = {"Content-Type": f"multipart/mixed; boundary={boundary}"}
        if continue_on_error:
            headers["Prefer"] = "odata.continue-on-error"
        # Without continue-on-error the service answers 400 with the failing part in a multipart body.
        response = self.request(
            "POST", self.api_url("$batch"), data=body, headers=headers, idempotent=idempotent, ok_statuses=(400,)
        )
        content_type = response.headers.get("Content-Type", "")
        if not content_type.lower().startswith("multipart/"):
            if response.status_code >= 400:
                raise error_from_response(response, service=self.service_name, method="POST", url=response.url)
            raise DynamicsApiError(
                f"Dataverse $batch answered HTTP {response.status_code} with {content_type or 'no content type'}, "
                "not a multipart response; the outcome of its operations is unknown.",
                status=response.status_code,
                url=response.url,
                method="POST",
            )
        parts = parse_batch_response(content_type, response.content)
        return match_results(operations, parts, change_set)

    def build_batch_body(self, operations: list[BatchOperation], boundary: str, *, change_set: bool = False) -> bytes:
        """The multipart/mixed body of one ``$batch`` request to this organization
        (see :func:`~include.bc_sales_sync.hooks.batch.encode_batch`)."""
        return encode_batch(operations, boundary, self.api_url, change_set=change_set)

    # ------------------------------------------------------------------ connection test

    def test_connection(self) -> tuple[bool, str]:
        """Call ``WhoAmI`` with a fresh token."""
        try:
            me = self.who_am_i()
            return True, (
                f"Connected to Dataverse at {self.settings.base_url} as user {me.get('UserId')} "
                f"(organization {me.get('OrganizationId')})."
            )
        except Exception as exc:
            return False, str(exc)
