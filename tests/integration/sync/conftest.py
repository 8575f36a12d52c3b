"""Fixtures for running sync jobs against the sandbox: connections, a state store, an engine."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

import pytest
import requests

from include.bc_sales_sync import jobs
from include.bc_sales_sync.hooks import BusinessCentralHook, DataverseHook
from include.bc_sales_sync.jobs import DEFAULT_OVERLAP, RunOptions, RunSummary, Window, choose_window
from include.bc_sales_sync.mappings import ConflictPolicy
from include.bc_sales_sync.mappings.registry import default_mappings
from include.bc_sales_sync.state import FROM_CRM, StateStore
from include.bc_sales_sync.sync.directions import run_mapping
from include.bc_sales_sync.sync.from_crm import OVERLAP
from include.bc_sales_sync.sync.job import EntitySyncJob


def sandbox_connections(config) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` values pointing at the sandbox (what airflow_settings.yaml holds for it)."""
    common = {
        "conn_type": "http",
        "login": config.client_id,
        "password": config.client_secret,
    }
    extra = {"tenant_id": config.tenant_id, "authority": config.entra_url, "ca_bundle": str(config.ca_file)}
    bc = {
        **common,
        "host": config.bc_url,
        "extra": json.dumps(
            {
                **extra,
                "environment": config.bc_environment,
                "company_id": config.company_id,
                "company_name": config.company_name,
                "scope": f"{config.bc_resource}/.default",
                "page_size": 5000,
            }
        ),
    }
    dv = {**common, "host": config.dataverse_url, "extra": json.dumps({**extra, "page_size": 5000})}
    return {
        "AIRFLOW_CONN_BUSINESS_CENTRAL_DEFAULT": json.dumps(bc),
        "AIRFLOW_CONN_DATAVERSE_DEFAULT": json.dumps(dv),
    }


class SandboxStats:
    """Request counts of one emulator, as differences between two readings."""

    def __init__(self, url: str, ca: str):
        self.url, self.ca = url, ca

    def read(self) -> dict:
        return requests.get(f"{self.url}/_sandbox/stats", verify=self.ca, timeout=10).json()

    def clear(self) -> None:
        requests.delete(f"{self.url}/_sandbox/stats", verify=self.ca, timeout=10)


@pytest.fixture
def connections(fresh_sandbox, monkeypatch):
    for key, value in sandbox_connections(fresh_sandbox.config).items():
        monkeypatch.setenv(key, value)
    return fresh_sandbox


@pytest.fixture
def state(tmp_path) -> StateStore:
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    yield store
    store.close()


@pytest.fixture
def bc(connections) -> BusinessCentralHook:
    return BusinessCentralHook("business_central_default")


@pytest.fixture
def dataverse(connections) -> DataverseHook:
    return DataverseHook("dataverse_default")


@pytest.fixture
def stats(connections):
    c = connections.config
    return {"bc": SandboxStats(c.bc_url, str(c.ca_file)), "dataverse": SandboxStats(c.dataverse_url, str(c.ca_file))}


@pytest.fixture
def run_job(connections, state) -> Callable[..., RunSummary]:
    """``run_job("ITEM-PRODUCT", window=None, **RunOptions fields)`` runs one mapping with new hooks."""

    def run(name: str, window: Window | None = None, mapping=None, **options) -> RunSummary:
        mapping = mapping or default_mappings()[name]
        if window is None:
            watermark = state.watermark(mapping.name)
            window = Window(start=watermark) if watermark else Window()
        job = EntitySyncJob(
            mapping, BusinessCentralHook("business_central_default"), DataverseHook("dataverse_default")
        )
        return jobs.run_job(job, state, RunOptions(run_id="test", **options), window)

    return run


def rows(hook, entity_set: str, **kwargs) -> list[dict]:
    return [row for page in hook.iter_pages(entity_set, **kwargs) for row in page]


# -- both directions -----------------------------------------------------------------------------


@pytest.fixture
def sales_user(connections, monkeypatch) -> DataverseHook:
    """Dataverse as a salesperson at work in Sales (not the integration user)."""
    c = connections.config
    conn = json.loads(sandbox_connections(c)["AIRFLOW_CONN_DATAVERSE_DEFAULT"])
    conn.update(login=c.sales_user_client_id, password=c.sales_user_client_secret)
    monkeypatch.setenv("AIRFLOW_CONN_SALES_USER", json.dumps(conn))
    return DataverseHook("sales_user")


@pytest.fixture
def sync(connections, state, bc, dataverse):
    """``sync("CUSTOMER", policy=...)`` runs a mapping both ways, as its task does."""

    def run(name: str = "CUSTOMER", policy: ConflictPolicy | None = None, **options) -> dict:
        mapping = default_mappings()[name]
        if policy is not None:
            mapping = dataclasses.replace(mapping, conflict_policy=policy)

        def window_of(direction: str) -> Window:
            """As the operator chooses it: the watermark less the direction's overlap."""
            overlap = OVERLAP if direction == FROM_CRM else DEFAULT_OVERLAP
            return choose_window(state.watermark(mapping.name, direction), overlap=overlap)

        return run_mapping(mapping, bc, dataverse, state, RunOptions(run_id="test", **options), window_of)

    return run


@pytest.fixture
def coupled(sync, run_job):
    """Salespeople, currencies and customers synchronized; the demo's four customers whose salesperson
    has no Sales user fail twice and are skipped, so they stay out of the counts that follow."""
    run_job("SALESPEOPLE")
    run_job("CURRENCY")
    sync()
    sync()


def writes(stats) -> tuple[int, int]:
    """Writes since the last clear: BC requests other than GET, Dataverse $batch and writes."""
    bc, dv = stats["bc"].read(), stats["dataverse"].read()
    return (
        sum(n for m, n in bc["by_method"].items() if m != "GET"),
        sum(n for m, n in dv["by_method"].items() if m != "GET"),
    )
