"""Paging: next links stay on the service, pages are OData collections, paging tokens stay out of errors."""

from __future__ import annotations

import pytest

from include.bc_sales_sync.hooks import BadRequest, DataverseHook, DynamicsApiError
from tests.unit.hooks.conftest import DATAVERSE_HOST, Reply

API = f"{DATAVERSE_HOST}/api/data/v9.2"


@pytest.fixture
def hook(connect):
    return connect(DataverseHook, DATAVERSE_HOST)


def test_links_to_other_hosts_are_refused(hook, fake):
    fake.route("GET", r"/accounts", Reply(200, {"value": [{}], "@odata.nextLink": "https://evil.test/steal?x=1"}))
    pages = hook.iter_pages("accounts")
    next(pages)
    with pytest.raises(DynamicsApiError, match="refusing to send the access token"):
        next(pages)


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (Reply(200, body=b'{"value": [{"name": "cut off'), "returned a page that is not valid JSON"),
        (Reply(200, json=[{"name": "a list, not a page"}]), "returned no 'value' list"),
        (Reply(200, json={"error": "no value"}), "returned no 'value' list"),
    ],
)
def test_a_page_that_is_not_an_odata_collection_is_a_clear_error(hook, fake, reply, message):
    fake.route("GET", r"/accounts", reply)
    with pytest.raises(DynamicsApiError, match=message) as raised:
        list(hook.iter_pages("accounts"))
    assert "accounts" in str(raised.value)


def test_pages_keep_non_ascii_text_and_numbers(hook, fake):
    record = {"name": "Åkerlund & Söner, Zürich", "creditlimit": 12345.67, "count": 3, "flag": True, "none": None}
    fake.route("GET", r"/accounts", Reply(200, {"value": [record]}))
    assert list(hook.iter_pages("accounts")) == [[record]]


def test_urls_in_errors_hide_paging_tokens(hook, fake):
    link = f"{API}/accounts?$select=name&$skiptoken=%3Ccookie%20pagenumber=%222%22/%3E"
    fake.route("GET", r"skiptoken", Reply(400, {"error": {"code": "0x80060888", "message": "Bad cookie"}}))
    fake.route("GET", r"/accounts\?\$select=name$", Reply(200, {"value": [{"name": "a"}], "@odata.nextLink": link}))
    with pytest.raises(BadRequest) as info:
        list(hook.iter_pages("accounts", select=["name"]))
    assert "$skiptoken=***" in str(info.value)
    assert "cookie" not in info.value.url
