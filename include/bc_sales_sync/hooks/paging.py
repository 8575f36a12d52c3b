"""Server-driven paging of an OData collection: one page at a time, following ``@odata.nextLink``.

Only one page is held at a time, so memory stays bounded by the page size whatever the data size.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import msgspec
import requests

from include.bc_sales_sync.hooks.exceptions import DynamicsApiError, safe_url


class PagingMixin:
    """:meth:`_iter_odata_pages` for a hook with ``request``, ``log`` and ``service_name``."""

    request: Callable[..., requests.Response]
    service_name: str
    log: logging.Logger

    def _iter_odata_pages(
        self, url: str, params: Mapping[str, Any] | None, headers: Mapping[str, str], label: str
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield each page's ``value`` list, following ``@odata.nextLink`` verbatim until it is absent.

        :param url: the collection's URL.
        :param params: the query options of the first request (a next link carries its own).
        :param headers: headers for every page, e.g. ``Prefer: odata.maxpagesize=...``.
        :param label: how log lines and errors name the collection.
        """
        next_url: str | None = url
        query: Mapping[str, Any] | None = params
        page = total = 0
        seen: set[str] = set()
        while next_url:
            response = self.request("GET", next_url, params=query, headers=headers)
            records, link = self._decode_page(response, label)
            page += 1
            total += len(records)
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

    def _decode_page(self, response: requests.Response, label: str) -> tuple[list[dict[str, Any]], str | None]:
        """A page's records and its next link (``None`` on the last page)."""
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
        return records, payload.get("@odata.nextLink")
