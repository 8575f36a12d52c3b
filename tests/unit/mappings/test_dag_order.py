"""The order of a DAG's jobs comes from the mappings' dependencies."""

from __future__ import annotations

import dataclasses

import pytest

from include.bc_sales_sync.mappings import MappingError, catalogue
from include.bc_sales_sync.mappings.catalogue import jobs_for_dag
from include.bc_sales_sync.mappings.registry import default_mappings


def mapping(name: str, *dependencies: str):
    return dataclasses.replace(catalogue.CURRENCY, name=name, task_id=name.lower(), dependencies=dependencies)


def test_a_mapping_runs_after_the_mappings_it_depends_on_even_when_listed_first(monkeypatch):
    monkeypatch.setitem(
        catalogue.DAG_MAPPINGS, "d", (mapping("PRICE", "ITEM"), mapping("UNIT"), mapping("ITEM", "UNIT"))
    )
    assert [m.name for m in jobs_for_dag("d")] == ["UNIT", "ITEM", "PRICE"]


def test_independent_mappings_keep_catalogue_order(monkeypatch):
    monkeypatch.setitem(catalogue.DAG_MAPPINGS, "d", (mapping("B"), mapping("A"), mapping("C", "A")))
    assert [m.name for m in jobs_for_dag("d")] == ["B", "A", "C"]


def test_dependencies_on_another_dag_do_not_order_tasks(monkeypatch):
    monkeypatch.setitem(catalogue.DAG_MAPPINGS, "d", (mapping("INVOICE", "CUSTOMER"), mapping("ITEM")))
    assert [m.name for m in jobs_for_dag("d")] == ["INVOICE", "ITEM"]


def test_a_cycle_is_named(monkeypatch):
    monkeypatch.setitem(catalogue.DAG_MAPPINGS, "d", (mapping("A", "B"), mapping("B", "A")))
    with pytest.raises(MappingError, match=r"\['A', 'B'\] form a cycle"):
        jobs_for_dag("d")


def test_an_unknown_dependency_is_named(monkeypatch):
    monkeypatch.setitem(catalogue.DAG_MAPPINGS, "d", (mapping("A", "NOPE"),))
    with pytest.raises(MappingError, match=r"A depends on unknown mapping\(s\) \['NOPE'\]"):
        jobs_for_dag("d")


def test_the_dependencies_give_the_documented_order_of_the_jobs():
    """The prerequisites, then unit of measure -> resource -> item -> customer price group -> sales
    price -> posted sales invoice (the order ``test_registry`` pins), each mapping in one DAG."""
    ordered = [m.name for dag_id in catalogue.DAG_MAPPINGS for m in jobs_for_dag(dag_id)]
    assert ordered == list(default_mappings())
