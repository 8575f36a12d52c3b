"""The OData helpers: literals, $filter conditions, record keys, query strings and chunking (no I/O)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from include.bc_sales_sync.odata import (
    MAX_OR_VALUES,
    any_of,
    between,
    build_query,
    chunked,
    comma_list,
    format_key,
    id_literal,
    odata_literal,
    odata_string,
    odata_time,
)

GUID = "5b0f1f7e-0000-4000-8000-000000000001"

# ---------------------------------------------------------------------- literals


def test_strings_are_quoted_with_quotes_doubled():
    assert odata_string("10000") == "'10000'"
    assert odata_string("O'NEIL") == "'O''NEIL'"
    assert odata_string("'") == "''''"
    assert odata_string("") == "''"


def test_times_are_utc_with_milliseconds_and_z():
    assert odata_time(dt.datetime(2025, 3, 3, 8, 0, 1, 500000)) == "2025-03-03T08:00:01.500Z"  # naive: UTC
    later = dt.datetime(2025, 3, 3, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert odata_time(later) == "2025-03-03T08:00:00.000Z"
    assert odata_time(dt.datetime(2025, 3, 3, 8, 0, 0, 123456, tzinfo=dt.UTC)) == "2025-03-03T08:00:00.123Z"


def test_literals_by_type():
    assert odata_literal(None) == "null"
    assert (odata_literal(True), odata_literal(False)) == ("true", "false")
    assert (odata_literal(7), odata_literal(2.5), odata_literal(Decimal("9.50"))) == ("7", "2.5", "9.50")
    assert odata_literal(uuid.UUID(GUID)) == GUID
    assert odata_literal(GUID) == f"'{GUID}'", "a GUID string is a string: format_key and id_literal tell GUIDs"
    assert odata_literal(dt.date(2025, 1, 31)) == "2025-01-31"
    assert odata_literal(dt.datetime(2025, 1, 31, 12, 30)) == "2025-01-31T12:30:00.000Z"
    assert odata_literal("O'Neil") == "'O''Neil'"


def test_ids_are_bare_guids_or_quoted_strings():
    assert id_literal(GUID) == GUID
    assert id_literal(GUID.upper()) == GUID
    assert id_literal("{" + GUID + "}") == GUID
    assert id_literal("C'1") == "'C''1'"
    assert id_literal("10000") == "'10000'"


# ---------------------------------------------------------------------- $filter conditions


def test_any_of_and_between():
    assert any_of("Customer_No", ["10000", "O'NEIL"]) == "(Customer_No eq '10000' or Customer_No eq 'O''NEIL')"
    assert any_of("SystemId", [GUID], guid=True) == f"(SystemId eq {GUID})"
    assert between("Document_No", "A", "B") == "(Document_No ge 'A' and Document_No le 'B')"
    assert between("No", "O'A", "O'B") == "(No ge 'O''A' and No le 'O''B')"


def test_or_lists_are_chunked_to_the_limit():
    numbers = [str(n) for n in range(2 * MAX_OR_VALUES + 1)]
    parts = list(chunked(numbers, MAX_OR_VALUES))
    assert [len(p) for p in parts] == [MAX_OR_VALUES, MAX_OR_VALUES, 1]
    assert [n for part in parts for n in part] == numbers


def test_chunks_of_a_list():
    assert list(chunked(list(range(5)), 2)) == [[0, 1], [2, 3], [4]]
    assert list(chunked([], 2)) == []
    with pytest.raises(ValueError):
        next(chunked([1], 0))


def test_chunked_is_lazy():
    consumed = []

    def source():
        for i in range(7):
            consumed.append(i)
            yield i

    chunks = chunked(source(), 3)
    assert next(chunks) == [0, 1, 2]
    assert consumed == [0, 1, 2]
    assert list(chunks) == [[3, 4, 5], [6]]


# ---------------------------------------------------------------------- keys and query strings


def test_format_key():
    guid = "6f2a1c4e-8b3d-4e5f-9a7b-1c2d3e4f5a6b"
    assert format_key(guid) == guid
    assert format_key("1906-S") == "'1906-S'"
    assert format_key(7) == "7"
    assert format_key({"Document_Type": "Order", "No": "101005"}) == "Document_Type='Order',No='101005'"
    assert format_key({"name": "O'Neil & Co/1"}) == "name='O''Neil%20%26%20Co%2F1'"
    assert format_key({"parentid": guid, "n": 2}) == f"parentid={guid},n=2"
    assert format_key({"Currency_Code": "EUR", "Starting_Date": dt.date(2025, 1, 31)}) == (
        "Currency_Code='EUR',Starting_Date=2025-01-31"
    )
    later = dt.datetime(2025, 1, 31, 13, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert format_key({"modifiedon": later, "price": Decimal("9.50")}) == (
        "modifiedon=2025-01-31T12:30:00.000Z,price=9.50"
    )
    assert format_key({"modifiedon": dt.datetime(2025, 1, 31)}) == "modifiedon=2025-01-31T00:00:00.000Z"  # UTC
    with pytest.raises(ValueError):
        format_key("")


def test_keys_by_type():
    for key in ({}, True, 1.5, None):
        with pytest.raises(ValueError):
            format_key(key)
    assert format_key(uuid.UUID(GUID)) == GUID
    assert format_key(GUID.upper()) == GUID.upper()


def test_build_query_encodes_what_must_be_encoded():
    query = build_query({"$filter": "name eq 'a+b & c#'", "$select": ["a", "b"], "$top": None})
    assert query == "$filter=name%20eq%20'a%2Bb%20%26%20c%23'&$select=a,b"


def test_query_values():
    assert build_query(None) == build_query({}) == ""
    assert build_query({"$count": True, "$top": 5}) == "$count=true&$top=5"
    assert comma_list(["a", "b"]) == "a,b"
    assert comma_list("a,b") == "a,b"
    assert comma_list([]) is None and comma_list(None) is None
