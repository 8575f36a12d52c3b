"""Mapping overrides without code changes, and reset to the defaults."""

from __future__ import annotations

import json

import pytest

from include.bc_sales_sync.mappings import ConflictPolicy, MappingError
from include.bc_sales_sync.mappings.registry import apply_overrides, default_mappings, load_mappings


def test_defaults_are_the_prerequisites_contacts_and_opportunities_then_the_six_jobs_in_bc_order():
    assert list(default_mappings()) == [
        "SALESPEOPLE",
        "CURRENCY",
        "CUSTOMER",
        "CONTACT",
        "OPPORTUNITY",
        "UNIT OF MEASURE",
        "RESOURCE-PRODUCT",
        "ITEM-PRODUCT",
        "CUSTPRCGRP-PRICE",
        "SALESPRC-PRODPRICE",
        "POSTEDSALESINV-INV",
    ]


def test_overrides_change_filter_fields_policy_and_coupling():
    mappings = apply_overrides(
        default_mappings(),
        {
            "ITEM-PRODUCT": {
                "source_filter": "Type eq 'Inventory'",
                "sync_only_coupled": True,
                "conflict_policy": "bc_wins",
                "fields": {"vendorpartnumber": None, "description": {"source": "Description_2"}},
            }
        },
    )
    m = mappings["ITEM-PRODUCT"]
    assert m.source.filter == "Type eq 'Inventory'"
    assert m.sync_only_coupled is True
    assert m.conflict_policy is ConflictPolicy.BC_WINS
    targets = {f.target: f for f in m.fields}
    assert "vendorpartnumber" not in targets and targets["description"].source == "Description_2"
    assert "Description_2" in m.source_fields
    assert mappings["UNIT OF MEASURE"] == default_mappings()["UNIT OF MEASURE"]


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"NOPE": {}}, ["unknown mapping", "NOPE"]),
        ({"ITEM-PRODUCT": {"colour": 1}}, ["unknown override", "colour"]),
        ({"ITEM-PRODUCT": {"conflict_policy": "coin_toss"}}, ["ITEM-PRODUCT", "coin_toss"]),
        ({"ITEM-PRODUCT": {"sync_only_coupled": "yes"}}, ["true or false"]),
        ({"ITEM-PRODUCT": {"fields": {"name": {"sauce": 1}}}}, ["name", "source"]),
        ({"CURRENCY": {"direction": "from_crm"}}, ["CURRENCY", "from_crm", "to_crm"]),
        ([], ["JSON object"]),
    ],
)
def test_bad_overrides_say_what_is_wrong(overrides, words):
    with pytest.raises(MappingError) as info:
        apply_overrides(default_mappings(), overrides)
    for word in words:
        assert word in str(info.value)


def test_a_two_way_mapping_can_be_made_one_way_and_back():
    one_way = apply_overrides(default_mappings(), {"CUSTOMER": {"direction": "to_crm"}})["CUSTOMER"]
    assert one_way.syncs_to_crm and not one_way.syncs_from_crm
    from_sales = apply_overrides(default_mappings(), {"CUSTOMER": {"direction": "from_crm"}})["CUSTOMER"]
    assert from_sales.syncs_from_crm and not from_sales.syncs_to_crm
    assert default_mappings()["CUSTOMER"].syncs_to_crm and default_mappings()["CUSTOMER"].syncs_from_crm


def test_variable_from_the_environment_and_reset(monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_BC_SALES_SYNC_MAPPINGS", json.dumps({"RESOURCE-PRODUCT": {"enabled": False}}))
    assert load_mappings()["RESOURCE-PRODUCT"].enabled is False
    monkeypatch.delenv("AIRFLOW_VAR_BC_SALES_SYNC_MAPPINGS")
    assert load_mappings() == default_mappings()


def test_opportunity_has_no_schedule_of_its_own_and_is_switched_on_by_an_override():
    assert default_mappings()["OPPORTUNITY"].enabled is False
    assert apply_overrides(default_mappings(), {"OPPORTUNITY": {"enabled": True}})["OPPORTUNITY"].enabled is True
