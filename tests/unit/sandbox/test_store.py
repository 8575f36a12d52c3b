"""The sandbox record store: typed writes, OData queries through odata-query, paging, views."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from include.sandbox.store import (
    ETAG_COLUMN,
    DuplicateKeyError,
    EntitySet,
    Field,
    NotFoundError,
    PageAhead,
    QueryError,
    Store,
    ValidationError,
)

ITEMS = EntitySet(
    "items",
    "id",
    (
        Field("id", "guid"),
        Field("number", "string", max_length=20, required=True),
        Field("displayName", "string", max_length=100),
        Field("type", "string", options=("Inventory", "Service", "Non-Inventory"), default="Inventory"),
        Field("unitPrice", "decimal", minimum=0),
        Field("blocked", "bool", default=False),
        Field("lastModifiedDateTime", "datetime", read_only=True),
    ),
    alternate_keys=(("number",),),
    modified_field="lastModifiedDateTime",
)


@pytest.fixture
def store() -> Store:
    s = Store([ITEMS])
    s.insert_many("items", ({"number": f"I{i:04d}", "displayName": f"Item {i}", "unitPrice": i} for i in range(50)))
    return s


def test_insert_fills_key_defaults_version_and_modified_time(store):
    row = store.insert("items", {"number": "NEW", "displayName": "Café Ø80"})
    assert len(row["id"]) == 36
    assert row["type"] == "Inventory" and row["blocked"] is False
    assert row["displayName"] == "Café Ø80"
    assert row["lastModifiedDateTime"].endswith("Z")
    assert row["_version"] > 50


def test_update_bumps_version_and_modified_time(store):
    row = store.insert("items", {"number": "NEW"})
    updated = store.update("items", row["id"], {"unitPrice": 3})
    assert updated["unitPrice"] == 3.0
    assert updated["_version"] > row["_version"]
    assert updated["lastModifiedDateTime"] >= row["lastModifiedDateTime"]


@pytest.mark.parametrize(
    ("written", "kept"), [(0.1 + 0.2, 0.3), (1234567.891234567, 1234567.89123457), ("12.5", 12.5), (7, 7.0)]
)
def test_decimals_keep_15_significant_digits(store, written, kept):
    assert store.insert("items", {"number": "NEW", "unitPrice": written})["unitPrice"] == kept


def test_rows_keep_their_etag_when_the_store_has_an_etag_function():
    store = Store([ITEMS], etag=lambda version: f"v{version}")
    store.insert_many("items", [{"number": "BULK"}])
    row = store.insert("items", {"number": "ONE"})
    updated = store.update("items", row["id"], {"unitPrice": 2})
    table = store.tables["items"]
    etags = dict(store.conn.execute(sa.select(table.c.number, table.c[ETAG_COLUMN])).all())
    bulk = store.find("items", number="BULK")[0]
    assert etags == {"BULK": f"v{bulk['_version']}", "ONE": f"v{updated['_version']}"}


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"number": "X" * 21}, "number"),
        ({"number": "A", "type": "Gadget"}, "type"),
        ({"number": "A", "unitPrice": -1}, "unitPrice"),
        ({"number": "A", "unitPrice": "cheap"}, "unitPrice"),
        ({"number": "A", "colour": "red"}, "colour"),
        ({"displayName": "no number"}, "number"),
        ({"number": "A", "lastModifiedDateTime": "2024-01-01T00:00:00Z"}, "lastModifiedDateTime"),
    ],
)
def test_validation_errors_name_the_field(store, values, field):
    with pytest.raises(ValidationError) as info:
        store.insert("items", values)
    assert info.value.field == field
    assert field in info.value.message


def test_alternate_key_is_unique_on_insert_and_update(store):
    with pytest.raises(DuplicateKeyError):
        store.insert("items", {"number": "I0001"})
    other = store.find_by_alternate_key("items", {"number": "I0002"})
    with pytest.raises(DuplicateKeyError):
        store.update("items", other["id"], {"number": "I0001"})


def test_missing_record(store):
    with pytest.raises(NotFoundError):
        store.update("items", "00000000-0000-0000-0000-000000000000", {"unitPrice": 1})
    with pytest.raises(NotFoundError):
        store.delete("items", "00000000-0000-0000-0000-000000000000")


def test_filter_select_orderby_count(store):
    page = store.page(
        "items",
        odata_filter="unitPrice ge 45 and blocked eq false",
        select=["number"],
        orderby="unitPrice desc",
        count=True,
    )
    assert [r["number"] for r in page.rows] == ["I0049", "I0048", "I0047", "I0046", "I0045"]
    assert page.count == 5
    assert set(page.rows[0]) == {"number", "_version"}


def test_filter_on_modified_time(store):
    row = store.insert("items", {"number": "LATE"})
    page = store.page("items", odata_filter=f"lastModifiedDateTime ge {row['lastModifiedDateTime']}")
    assert "LATE" in [r["number"] for r in page.rows]
    assert store.page("items", odata_filter="lastModifiedDateTime gt 2999-01-01T00:00:00Z").rows == []


@pytest.mark.parametrize(
    "bad", ["number eq", "nope eq 1", "number eq 'a' and", "lastModifiedDateTime gt 2024-13-01T00:00:00Z"]
)
def test_bad_filters_are_query_errors(store, bad):
    with pytest.raises(QueryError):
        store.page("items", odata_filter=bad)


def test_keyset_paging_visits_every_row_once(store):
    seen, after = [], None
    while True:
        page = store.page("items", page_size=7, after=after)
        seen += [r["number"] for r in page.rows]
        if page.next_after is None:
            break
        after = page.next_after
    assert len(seen) == len(set(seen)) == 50


def test_top_stops_paging(store):
    page = store.page("items", top=3, page_size=10)
    assert len(page.rows) == 3 and page.next_after is None


def test_view_renames_fields_in_queries_and_rows(store):
    view = {"No": "number", "Unit_Price": "unitPrice"}
    page = store.page("items", odata_filter="No eq 'I0003'", view=view)
    assert page.rows == [{"No": "I0003", "Unit_Price": 3.0, "_version": page.rows[0]["_version"]}]
    with pytest.raises(QueryError):
        store.page("items", odata_filter="number eq 'I0003'", view=view)


def test_transaction_is_all_or_nothing(store):
    before = store.count("items")
    with pytest.raises(DuplicateKeyError), store.transaction():
        store.insert("items", {"number": "T1"})
        store.insert("items", {"number": "I0001"})
    assert store.count("items") == before
    assert store.find("items", number="T1") == []


def test_data_persists_in_a_file(tmp_path):
    path = tmp_path / "data.sqlite"
    first = Store([ITEMS], path)
    row = first.insert("items", {"number": "KEEP"})
    first.close()
    second = Store([ITEMS], path)
    assert second.get("items", row["id"])["number"] == "KEEP"
    assert second.insert("items", {"number": "NEXT"})["_version"] > row["_version"]


def test_a_page_ahead_is_served_once_to_its_request_while_the_store_is_unchanged(store):
    ahead = PageAhead(store)
    ahead.keep(("items", 2), "page 2", store.changes())
    assert ahead.take(("items", 3)) is None  # another request leaves it kept
    assert ahead.take(("items", 2)) == "page 2"
    assert ahead.take(("items", 2)) is None  # served once
    ahead.keep(("items", 2), "page 2", store.changes())
    store.insert("items", {"number": "NEW"})
    assert ahead.take(("items", 2)) is None  # written since: stale
    ahead.keep(("items", 2), "page 2", store.changes())
    ahead.clear()
    assert ahead.take(("items", 2)) is None
