"""The Dataverse emulator's parsers and helpers, without HTTP: keys, Prefer, paging cookies,
multipart batches, the rate limiter and the table definitions."""

from __future__ import annotations

from urllib.parse import quote, unquote

import pytest

from include.sandbox.dataverse import batch
from include.sandbox.dataverse.app import RateLimiter
from include.sandbox.dataverse.errors import DataverseError
from include.sandbox.dataverse.schema import BY_LOGICAL, TABLES
from include.sandbox.dataverse.urls import (
    Prefer,
    format_key,
    paging_cookie,
    parse_key,
    read_paging_cookie,
    split_path,
    split_segment,
)


def test_paths_split_outside_quoted_keys():
    assert split_path("products(productnumber='A/B')/name") == ["products(productnumber='A/B')", "name"]
    assert split_path("products(productnumber=%27A%2FB%27)") == ["products(productnumber='A/B')"]
    assert split_segment("accounts(123)") == ("accounts", "123")
    assert split_segment("accounts") == ("accounts", None)


def test_keys_are_guids_or_alternate_key_pairs():
    guid = "6F2A1C4E-8B3D-4E5F-9A7B-1C2D3E4F5A6B"
    assert parse_key(guid) == guid.lower()
    assert parse_key("{" + guid + "}") == guid.lower()
    assert parse_key("productnumber='O''Neil, Inc.'") == {"productnumber": "O'Neil, Inc."}
    assert parse_key("k1='a',k2=2,k3=true") == {"k1": "a", "k2": 2, "k3": True}
    assert format_key({"productnumber": "O'Neil"}) == "productnumber='O''Neil'"
    with pytest.raises(DataverseError):
        parse_key("not a key")


def test_prefer_header():
    prefer = Prefer.parse('return=representation,odata.maxpagesize=10, odata.include-annotations="*"')
    assert prefer.return_representation and prefer.max_page_size == 10
    assert prefer.wants("OData.Community.Display.V1.FormattedValue")
    assert Prefer.parse("odata.maxpagesize=6000").max_page_size is None
    assert Prefer.parse("odata.continue-on-error").continue_on_error
    narrow = Prefer.parse('odata.include-annotations="OData.Community.Display.V1.FormattedValue"')
    assert narrow.wants("OData.Community.Display.V1.FormattedValue")
    assert not narrow.wants("Microsoft.Dynamics.CRM.lookuplogicalname")


def test_paging_cookie_round_trip():
    token = paging_cookie(
        2, "accountid", "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222", "r42"
    )
    assert token.startswith('<cookie pagenumber="2" pagingcookie="%253ccookie%2520page%253d%25221%2522')
    assert token.endswith('istracking="False" />')
    # Clients put it in the URL url-encoded once; the server reads it decoded once.
    cookie = read_paging_cookie(unquote(quote(token)))
    assert (cookie.page, cookie.position) == (2, "r42")
    with pytest.raises(DataverseError):
        read_paging_cookie("garbage")


def test_batch_parsing_with_changeset_and_lf_line_endings():
    body = (
        b"--batch_1\n"
        b"Content-Type: multipart/mixed; boundary=changeset_1\n\n"
        b"--changeset_1\n"
        b"Content-Type: application/http\nContent-Transfer-Encoding: binary\nContent-ID: 1\n\n"
        b"POST https://host/api/data/v9.2/accounts HTTP/1.1\nContent-Type: application/json\n\n"
        b'{"name": "A"}\n'
        b"--changeset_1--\n"
        b"--batch_1\n"
        b"Content-Type: application/http\n\n"
        b"GET accounts?$filter=name eq 'A' HTTP/1.1\n\n"
        b"--batch_1--\n"
    )
    items = batch.parse(body, 'multipart/mixed; boundary="batch_1"')
    assert isinstance(items[0], batch.ChangeSet)
    (create,) = items[0].requests
    assert (create.method, create.url, create.content_id, create.body) == (
        "POST",
        "https://host/api/data/v9.2/accounts",
        "1",
        b'{"name": "A"}',
    )
    assert create.headers == {"content-type": "application/json"}
    assert (items[1].method, items[1].url, items[1].body) == ("GET", "accounts?$filter=name eq 'A'", b"")


def test_batch_rejects_bad_bodies():
    with pytest.raises(DataverseError):
        batch.parse(b"--x\n\nGET a HTTP/1.1\n\n--x--\n", "application/json")
    with pytest.raises(DataverseError):
        batch.parse(b"--x\nContent-Type: application/http\n\nGET a HTTP/1.1\n\n", "multipart/mixed; boundary=x")
    too_many = "".join("--x\nContent-Type: application/http\n\nGET a HTTP/1.1\n\n" for _ in range(1001)) + "--x--\n"
    with pytest.raises(DataverseError) as caught:
        batch.parse(too_many.encode(), "multipart/mixed; boundary=x")
    assert caught.value.status == 400


def test_batch_response_rendering():
    content_type, body = batch.render(
        [
            batch.Response(204, {"OData-EntityId": "https://h/api/data/v9.2/accounts(1)"}),
            [batch.Response(400, {"Content-Type": "application/json"}, b'{"error":{}}', content_id="2")],
        ]
    )
    boundary = batch.boundary_of(content_type)
    assert boundary and boundary.startswith("batchresponse_")
    text = body.decode()
    assert text.endswith(f"--{boundary}--\r\n")
    assert "HTTP/1.1 204 No Content\r\nOData-EntityId: https://h/api/data/v9.2/accounts(1)" in text
    assert "Content-ID: 2\r\n\r\nHTTP/1.1 400 Bad Request" in text


def test_rate_limiter_window():
    now = [1000.0]
    limiter = RateLimiter(2, 10, clock=lambda: now[0])
    assert limiter.check("u") == (None, 1)
    assert limiter.check("u") == (None, 0)
    assert limiter.check("u") == (10, 0)
    assert limiter.check("other")[0] is None
    now[0] += 4.5
    assert limiter.check("u") == (6, 0)
    now[0] += 6
    assert limiter.check("u")[0] is None


def test_table_definitions_are_consistent():
    for table in TABLES:
        assert table.primary_id in table.by_name
        for key in (*table.alternate_keys, *table.unique):
            assert all(name in table.by_name for name in key), (table.logical, key)
        for column in table.columns:
            for target in column.targets:
                assert target in BY_LOGICAL, (table.logical, column.name, target)
            if column.type_column:
                assert column.type_column in table.by_name
        if table.states:
            statuses = [s for _default, allowed in table.states.values() for s in allowed]
            assert len(statuses) == len(set(statuses)), table.logical
            assert set(statuses) == set(table.by_name["statuscode"].options), table.logical
    product = BY_LOGICAL["product"]
    assert product.default_state == 2 and product.alternate_keys == (("productnumber",),)
    assert set(BY_LOGICAL["invoice"].navigation) >= {"customerid_account", "customerid_contact", "ownerid"}
    assert "objectid_account" in BY_LOGICAL["annotation"].navigation
