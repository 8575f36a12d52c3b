"""The BC emulator's URL, key and query-option parsing, ETags, and its pure business arithmetic."""

from __future__ import annotations

import base64
import datetime as dt

import pytest

from include.sandbox.bc import documents, odata, records
from include.sandbox.bc import tables as t
from include.sandbox.bc.errors import BCError


def test_segments_keep_encoded_slashes_inside_keys():
    assert odata.split_path("/v2.0/t/e/ODataV4/Company('A%2FB%20Ltd.')/Resources") == [
        "v2.0",
        "t",
        "e",
        "ODataV4",
        "Company('A/B Ltd.')",
        "Resources",
    ]


def test_key_predicates():
    guid = "5A3E7C1D-2B4F-4A6E-8C9D-0E1F2A3B4C5D"
    segment = odata.parse_segment(f"items({guid})")
    assert segment.name == "items"
    assert segment.key == (odata.KeyPart(None, guid.lower(), "guid"),)
    named = odata.parse_segment(
        "SalesPrices(Item_No='1896-S',Sales_Type='Customer Price Group',Starting_Date=2025-01-01,Minimum_Quantity=0)"
    )
    assert [(p.name, p.value, p.kind) for p in named.key] == [
        ("Item_No", "1896-S", "string"),
        ("Sales_Type", "Customer Price Group", "string"),
        ("Starting_Date", "2025-01-01", "date"),
        ("Minimum_Quantity", 0, "int"),
    ]
    quoted = odata.parse_segment("Resources('O''BRIEN, PAT')")
    assert quoted.key[0].value == "O'BRIEN, PAT"
    assert odata.parse_segment("items").key is None


@pytest.mark.parametrize("text", ["items(", "items('open)", "items(a b)", "(x)", "items(1,)"])
def test_malformed_keys_are_bad_requests(text):
    with pytest.raises(BCError) as caught:
        odata.parse_segment(text)
    assert caught.value.status == 400


def test_format_key_round_trips():
    text = odata.format_key([("No", "O'BRIEN", "string")], named=False)
    assert odata.parse_segment("Resources" + text.replace("%20", " ")).key[0].value == "O'BRIEN"


def test_query_options():
    opts, pairs = odata.parse_query("$filter=number%20eq%20'A'&$select=id,number&$top=5&$count=true&company=X")
    assert opts.filter == "number eq 'A'"
    assert opts.select == ["id", "number"]
    assert opts.top == 5 and opts.count is True
    assert opts.extra == {"company": "X"}
    assert ("$top", "5") in pairs


@pytest.mark.parametrize("query", ["$top=-1", "$skip=x", "$count=yes", "$search=a", "$top=1&$top=2"])
def test_invalid_query_options(query):
    with pytest.raises(BCError) as caught:
        odata.parse_query(query)
    assert caught.value.status == 400


def test_expand_with_nested_options():
    expand = odata.parse_expand("salesInvoiceLines($select=sequence,description;$filter=quantity gt 1),customer")
    assert [name for name, _ in expand] == ["salesInvoiceLines", "customer"]
    lines = expand[0][1]
    assert lines.select == ["sequence", "description"]
    assert lines.filter == "quantity gt 1"
    with pytest.raises(BCError):
        odata.parse_expand("lines($expand=x)")


def test_page_size_preference():
    assert odata.max_page_size(None) == (20000, False)
    assert odata.max_page_size("odata.maxpagesize=500") == (500, True)
    assert odata.max_page_size("return=minimal, odata.maxpagesize=50000") == (20000, True)


def test_etags_change_with_the_version_and_match_loosely():
    first, second = odata.etag(41), odata.etag(42)
    assert first != second
    inner = base64.b64decode(first[3:-1]).decode()
    assert inner.startswith("'41;") and inner.endswith(";00;'")
    assert odata.etag_matches(first, first)
    assert odata.etag_matches(first[2:], first)  # a strong form of the same value
    assert odata.etag_matches("*", first)
    assert not odata.etag_matches(second, first)


def test_skip_tokens_are_bound_to_their_query():
    fingerprint = odata.query_fingerprint("/items", [("$filter", "x eq 1")])
    token = odata.encode_token({"a": "7", "n": 7, "h": fingerprint})
    assert odata.decode_token(token, fingerprint)["a"] == "7"
    with pytest.raises(BCError):
        odata.decode_token(token, odata.query_fingerprint("/customers", []))
    with pytest.raises(BCError):
        odata.decode_token("not-a-token", fingerprint)


def test_number_series_increment():
    assert records.increment("PS-INV103009") == "PS-INV103010"
    assert records.increment("C00099") == "C00100"
    assert records.increment("S-ORD-9-A") == "S-ORD-10-A"
    with pytest.raises(BCError):
        records.increment("ABC")


def test_date_formulas():
    start = dt.date(2025, 1, 31)
    assert records.add_formula(start, "30D") == dt.date(2025, 3, 2)
    assert records.add_formula(start, "1M") == dt.date(2025, 2, 28)
    assert records.add_formula(dt.date(2025, 2, 10), "CM") == dt.date(2025, 2, 28)
    assert records.add_formula(start, "1M+8D") == dt.date(2025, 3, 8)
    assert records.add_formula(start, "") == start


def test_line_amounts_and_invoice_discount():
    line = documents.line_amounts(3, 192.8, 10, None, 25)
    assert line["Line_Discount_Amount"] == 57.84
    assert line["Line_Amount"] == 520.56
    assert line["Total_Tax_Amount"] == 130.14
    by_amount = documents.line_amounts(2, 50, 0, 10, 0)
    assert by_amount["Line_Discount_Percent"] == 10.0 and by_amount["Line_Amount"] == 90.0
    lines = [
        {"Type": "Item", "Line_Amount": 100.0, "VAT_Percent": 25.0},
        {"Type": "Comment", "Line_Amount": 0.0, "VAT_Percent": 0.0},
        {"Type": "Item", "Line_Amount": 200.0, "VAT_Percent": 0.0},
    ]
    nets, totals = documents.spread_discount(lines, 10.0)
    assert [n["Inv_Discount_Amount"] for n in nets] == [3.33, 0.0, 6.67]
    assert totals == {"Amount": 290.0, "Total_Tax_Amount": 24.17, "Amount_Including_VAT": 314.17}


def test_record_ids_are_uuid5():
    import uuid

    assert t.record_id("Item", "1896-S") == str(uuid.uuid5(t.NAMESPACE, "Item/1896-S"))


def test_code_fields():
    assert t.is_code("Base_Unit_of_Measure") and t.is_code("Sales_Code") and t.is_code("No")
    assert not t.is_code("Phone_No") and not t.is_code("Description")


def test_metadata_documents_are_well_formed_csdl():
    import xml.etree.ElementTree as ET

    from include.sandbox.bc import metadata
    from include.sandbox.bc.views import API, WEB_SERVICES

    edm = {"e": "http://docs.oasis-open.org/odata/ns/edm"}
    for document, views in ((metadata.api_document(), API), (metadata.web_services_document(), WEB_SERVICES)):
        root = ET.fromstring(document)
        sets = {s.get("Name") for s in root.findall(".//e:EntitySet", edm)}
        assert set(views) <= sets
        types = {t.get("Name") for t in root.findall(".//e:EntityType", edm)}
        assert {v.type_name for v in views.values()} <= types
