"""BusinessCentralHook: URLs, company lookup, paging, writes with If-Match, bound actions and JSON $batch."""

from __future__ import annotations

import uuid

import pytest

from include.bc_sales_sync.hooks import (
    BcBatchRequest,
    BusinessCentralHook,
    ConfigurationError,
    Conflict,
    NotFound,
)
from tests.unit.hooks.conftest import BC_HOST, COMPANY_ID, COMPANY_NAME, TENANT, Call, Reply

ROOT = f"{BC_HOST}/v2.0/{TENANT}/sandbox"
API = f"{ROOT}/api/v2.0"
COMPANY = f"{API}/companies({COMPANY_ID})"
ITEM = str(uuid.UUID(int=42))


@pytest.fixture
def hook(connect):
    return connect(BusinessCentralHook, BC_HOST, extra={"environment": "sandbox", "company_id": COMPANY_ID})


def test_urls(hook):
    assert hook.api_url("items") == f"{COMPANY}/items"
    assert hook.api_url("companies", company=False) == f"{API}/companies"
    assert hook.api_url(f"salesInvoices({ITEM})/salesInvoiceLines").endswith(f"salesInvoices({ITEM})/salesInvoiceLines")


def test_web_service_url_quotes_the_company_name(connect):
    hook = connect(
        BusinessCentralHook, BC_HOST, extra={"environment": "sandbox", "company_name": "CRONUS USA, Inc. & O'Brien"}
    )
    assert hook.web_service_url("SalesPrices") == (
        f"{ROOT}/ODataV4/Company('CRONUS%20USA%2C%20Inc.%20%26%20O''Brien')/SalesPrices"
    )


def test_custom_api_route(connect):
    hook = connect(
        BusinessCentralHook,
        BC_HOST,
        extra={"environment": "sandbox", "company_id": COMPANY_ID, "api_route": "/api/contoso/sync/v1.0/"},
    )
    assert hook.api_url("things") == f"{ROOT}/api/contoso/sync/v1.0/companies({COMPANY_ID})/things"


def test_environment_defaults_to_production(connect):
    hook = connect(BusinessCentralHook, BC_HOST, extra={"company_id": COMPANY_ID})
    assert hook.api_url("items").startswith(f"{BC_HOST}/v2.0/{TENANT}/production/api/v2.0/")


def test_company_id_is_looked_up_by_name_once(connect, fake):
    hook = connect(BusinessCentralHook, BC_HOST, extra={"environment": "sandbox", "company_name": COMPANY_NAME})
    fake.route("GET", r"/companies\?", Reply(200, {"value": [{"id": COMPANY_ID, "name": COMPANY_NAME}]}))
    fake.route("GET", r"/items", Reply(200, {"value": []}))

    list(hook.iter_pages("items"))
    list(hook.iter_pages("items"))

    lookup = fake.api_calls[0]
    assert lookup.query["$filter"] == [f"name eq '{COMPANY_NAME}'"]
    assert [c.path.rsplit("/", 1)[-1] for c in fake.api_calls[1:]] == ["items", "items"]


def test_company_name_is_looked_up_by_id_for_web_services(hook, fake):
    fake.route("GET", rf"/companies\({COMPANY_ID}\)$", Reply(200, {"id": COMPANY_ID, "name": COMPANY_NAME}))
    fake.route("GET", r"/ODataV4/", Reply(200, {"value": [{"No": "1896-S"}]}))

    assert list(hook.iter_pages("ItemCard", web_service=True, select=["No"])) == [[{"No": "1896-S"}]]

    assert fake.api_calls[1].url == f"{ROOT}/ODataV4/Company('CRONUS%20International%20Ltd.')/ItemCard?$select=No"


def test_missing_company_names_the_fields(connect):
    hook = connect(BusinessCentralHook, BC_HOST, extra={"environment": "sandbox"})
    with pytest.raises(ConfigurationError, match="'company_id' \\(or 'company_name'\\)"):
        hook.api_url("items")


def test_unknown_company_name(connect, fake):
    hook = connect(BusinessCentralHook, BC_HOST, extra={"environment": "sandbox", "company_name": "Nope"})
    fake.route("GET", r"/companies\?", Reply(200, {"value": []}))
    with pytest.raises(ConfigurationError, match="no company named 'Nope'"):
        _ = hook.company_id


def test_scope_is_the_business_central_resource_whatever_the_host(hook, fake):
    fake.route("GET", r"/items", Reply(200, {"value": []}))
    list(hook.iter_pages("items"))
    assert "scope=https%3A%2F%2Fapi.businesscentral.dynamics.com%2F.default" in fake.token_calls[0].body.decode()


def test_iter_pages_pages_lazily_with_maxpagesize(hook, fake):
    link = f"{COMPANY}/items?$select=number&$skiptoken=abc"
    fake.route("GET", r"skiptoken=abc", Reply(200, {"value": [{"number": "3"}]}))
    fake.route(
        "GET", r"/items\?\$filter", Reply(200, {"value": [{"number": "1"}, {"number": "2"}], "@odata.nextLink": link})
    )

    pages = hook.iter_pages(
        "items",
        filter="lastModifiedDateTime gt 2024-01-01T00:00:00Z",
        select=["number", "displayName"],
        expand=["itemCategory"],
        orderby=["lastModifiedDateTime"],
        page_size=2,
    )
    assert next(pages) == [{"number": "1"}, {"number": "2"}]
    assert len(fake.api_calls) == 1
    assert list(pages) == [[{"number": "3"}]]

    first, second = fake.api_calls
    assert first.query == {
        "$filter": ["lastModifiedDateTime gt 2024-01-01T00:00:00Z"],
        "$select": ["number,displayName"],
        "$expand": ["itemCategory"],
        "$orderby": ["lastModifiedDateTime"],
    }
    assert second.url == link
    assert first.headers["Prefer"] == second.headers["Prefer"] == "odata.maxpagesize=2"


def test_page_size_is_capped_at_20000(hook, fake):
    fake.route("GET", r"/items", Reply(200, {"value": []}))
    list(hook.iter_pages("items", page_size=50000))
    assert fake.api_calls[0].headers["Prefer"] == "odata.maxpagesize=20000"


def test_get_create_update_delete(hook, fake):
    fake.route("GET", rf"/items\({ITEM}\)", Reply(200, {"id": ITEM, "@odata.etag": 'W/"JzQ0Oyc="'}))
    fake.route("POST", r"/items$", Reply(201, {"id": ITEM, "number": "1000"}))
    fake.route("PATCH", rf"/items\({ITEM}\)", Reply(200, {"id": ITEM, "displayName": "B"}))
    fake.route("DELETE", rf"/items\({ITEM}\)", Reply(204))

    assert hook.get("items", ITEM)["id"] == ITEM
    assert hook.create("items", {"number": "1000"}) == {"id": ITEM, "number": "1000"}
    assert hook.update("items", ITEM, {"displayName": "B"}, etag='W/"JzQ0Oyc="')["displayName"] == "B"
    hook.delete("items", ITEM)

    _, create, update, delete = fake.api_calls
    assert create.json() == {"number": "1000"}
    assert update.headers["If-Match"] == 'W/"JzQ0Oyc="'
    assert delete.headers["If-Match"] == "*"


def test_stale_etag_is_a_conflict(hook, fake):
    fake.route(
        "PATCH",
        r"/items\(",
        Reply(
            409, {"error": {"code": "Request_EntityChanged", "message": "Another user has already changed the record."}}
        ),
    )
    with pytest.raises(Conflict, match="Request_EntityChanged"):
        hook.update("items", ITEM, {"displayName": "B"}, etag='W/"old"')


def test_web_service_record_keys_are_quoted(hook, fake):
    fake.route("GET", rf"/companies\({COMPANY_ID}\)$", Reply(200, {"name": COMPANY_NAME}))
    fake.route("GET", r"/ItemCard\(", Reply(404, {"error": {"code": "BadRequest_NotFound", "message": "gone"}}))
    with pytest.raises(NotFound):
        hook.get("ItemCard", "1906-S", web_service=True)
    assert fake.api_calls[-1].url.endswith("/ItemCard('1906-S')")


def test_post_action(hook, fake):
    fake.route("POST", r"Microsoft\.NAV\.post$", Reply(204))
    assert hook.post_action("salesInvoices", ITEM, "post") == {}
    assert fake.api_calls[0].url == f"{COMPANY}/salesInvoices({ITEM})/Microsoft.NAV.post"


def json_batch_server(fail: dict[int, tuple[int, dict]] | None = None, missing: set[int] = frozenset()):
    def handle(call: Call) -> Reply:
        requests = call.json()["requests"]
        responses = []
        for index, request in enumerate(requests):
            if index in missing:
                continue
            status, body = (fail or {}).get(index, (200, {"id": request["id"]}))
            responses.append({"id": request["id"], "status": status, "headers": {}, "body": body})
        return Reply(200, {"responses": list(reversed(responses))})

    return handle


def test_batch_in_chunks_of_100_with_ids_mapped_back(hook, fake):
    fake.route(
        "POST",
        r"/api/v2\.0/\$batch$",
        json_batch_server({3: (400, {"error": {"code": "Application_FieldValidationException", "message": "Bad"}})}),
    )
    requests = [BcBatchRequest("PATCH", f"items({uuid.UUID(int=i)})", {"unitPrice": i}) for i in range(250)]

    results = hook.batch(requests)

    assert [len(c.json()["requests"]) for c in fake.api_calls] == [100, 100, 50]
    assert [r.request for r in results] == requests
    assert [i for i, r in enumerate(results) if not r.ok] == [3, 103, 203]  # the 4th of every chunk
    assert results[3].error_code == "Application_FieldValidationException"
    entry = fake.api_calls[0].json()["requests"][0]
    assert entry == {
        "id": "1",
        "method": "PATCH",
        "url": f"companies({COMPANY_ID})/items({uuid.UUID(int=0)})",
        "headers": {"If-Match": "*", "Content-Type": "application/json"},
        "body": {"unitPrice": 0},
    }
    assert "Isolation" not in fake.api_calls[0].headers


def test_batch_missing_responses_and_transactions(hook, fake):
    fake.route("POST", r"/\$batch$", json_batch_server(missing={1}))
    results = hook.batch([BcBatchRequest("GET", "items"), BcBatchRequest("GET", "customers")], transactional=True)
    assert [r.status for r in results] == [200, 424]
    assert fake.api_calls[0].headers["Isolation"] == "snapshot"


def test_batch_throttled_operations_are_sent_again(hook, fake, clock):
    fake.route(
        "POST",
        r"/\$batch$",
        json_batch_server({0: (429, {"error": {"code": "Too many requests", "message": "slow down"}})}),
        json_batch_server(),
    )
    results = hook.batch([BcBatchRequest("GET", "items"), BcBatchRequest("GET", "customers")])
    assert all(r.ok for r in results)
    assert [len(c.json()["requests"]) for c in fake.api_calls] == [2, 1]
    assert len(clock.waits) == 1


def test_list_companies_and_test_connection(hook, fake):
    fake.route("GET", r"/companies$", Reply(200, {"value": [{"id": COMPANY_ID, "name": COMPANY_NAME}]}))
    assert hook.list_companies() == [{"id": COMPANY_ID, "name": COMPANY_NAME}]
    ok, message = hook.test_connection()
    assert ok and COMPANY_NAME in message


def test_test_connection_with_an_unknown_company(connect, fake):
    hook = connect(BusinessCentralHook, BC_HOST, extra={"environment": "sandbox", "company_id": str(uuid.UUID(int=9))})
    fake.route("GET", r"/companies$", Reply(200, {"value": [{"id": COMPANY_ID, "name": COMPANY_NAME}]}))
    ok, message = hook.test_connection()
    assert not ok and "is not among its 1 companies" in message
