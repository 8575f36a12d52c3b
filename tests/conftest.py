"""Shared fixtures: a sandbox served from a background thread for the whole test session."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent

# Airflow reads its configuration when first imported: point it at a throwaway home first.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="bc-sales-sync-airflow-")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(ROOT / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
for _name in [k for k in os.environ if k.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_"))]:
    del os.environ[_name]


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """The three emulators with the demo company, on free ports; ``sandbox.config`` has the URLs.

    Tests that change data call :func:`reset_sandbox` (or use ``fresh_sandbox``) first.
    """
    from include.sandbox.server import SandboxThread, free_port_config

    config = free_port_config(tmp_path_factory.mktemp("sandbox"))
    with SandboxThread(config, seed="demo") as running:
        yield running


@pytest.fixture(scope="session")
def ca_bundle(sandbox) -> str:
    """The sandbox CA file; clients pass it as their CA bundle (``verify=``)."""
    return str(sandbox.config.ca_file)


@pytest.fixture
def trust_sandbox(monkeypatch: pytest.MonkeyPatch, ca_bundle: str) -> str:
    """Point REQUESTS_CA_BUNDLE at the sandbox CA, for clients that only read the environment
    (msal, azure-identity, Microsoft's Dataverse client)."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca_bundle)
    monkeypatch.setenv("SSL_CERT_FILE", ca_bundle)
    return ca_bundle


def reset_sandbox(sandbox) -> None:
    """Reload the seed data, clear statistics and faults on every emulator."""
    c = sandbox.config
    for url in (c.bc_url, c.dataverse_url, c.entra_url):
        requests.post(f"{url}/_sandbox/reset", verify=str(c.ca_file), timeout=60).raise_for_status()


@pytest.fixture
def fresh_sandbox(sandbox):
    reset_sandbox(sandbox)
    yield sandbox
    reset_sandbox(sandbox)


@pytest.fixture
def token_for(sandbox, ca_bundle):
    """``token_for(resource)`` -> a bearer token from the Entra ID emulator (plain HTTP, no msal)."""
    c = sandbox.config

    def fetch(resource: str) -> str:
        response = requests.post(
            f"{c.authority}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": c.client_id,
                "client_secret": c.client_secret,
                "scope": f"{resource}/.default",
            },
            verify=ca_bundle,
            timeout=30,
        )
        response.raise_for_status()
        return response.json()["access_token"]

    return fetch
