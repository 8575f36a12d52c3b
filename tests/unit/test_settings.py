"""airflow_settings.yaml: converted for plain Airflow, and in step with the sandbox."""

from __future__ import annotations

import json

import pytest

from include.bc_sales_sync import settings
from include.sandbox.config import SandboxConfig


@pytest.fixture(scope="module")
def airflow():
    return settings.read()


def test_connections_for_airflow_import(airflow):
    conns = settings.connections(airflow)
    bc = conns["business_central_default"]
    assert bc["conn_type"] == "http" and bc["host"] == "https://127.0.0.1:8441"
    extra = json.loads(bc["extra"])
    assert extra["ca_bundle"] == str((settings.PROJECT_ROOT / ".sandbox" / "ca.pem").resolve())
    assert conns["bc_sync_state"]["host"].startswith(str(settings.PROJECT_ROOT))


def test_a_ca_given_as_pem_text_is_kept_as_it_is():
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    entry = {"conn_id": "dataverse_default", "conn_type": "http", "conn_extra": {"ca_bundle": pem}}
    extra = json.loads(settings.connections({"connections": [entry]})["dataverse_default"]["extra"])
    assert extra["ca_bundle"] == pem


def test_the_settings_point_at_the_sandbox_defaults(airflow):
    config = SandboxConfig()
    conns = settings.connections(airflow)
    for conn_id, url in (("business_central_default", config.bc_url), ("dataverse_default", config.dataverse_url)):
        conn = conns[conn_id]
        extra = json.loads(conn["extra"])
        assert conn["host"] == url
        assert (conn["login"], conn["password"]) == (config.client_id, config.client_secret)
        assert extra["tenant_id"] == config.tenant_id and extra["authority"] == config.entra_url
    bc_extra = json.loads(conns["business_central_default"]["extra"])
    assert (bc_extra["environment"], bc_extra["company_id"]) == (config.bc_environment, config.company_id)


def test_pools_and_variables(airflow):
    assert settings.pools(airflow)["dataverse_api"]["slots"] == 4
    assert "bc_sync_alert_emails" in settings.variables(airflow)
    env = settings.environment(airflow)
    assert json.loads(env["AIRFLOW_CONN_DATAVERSE_DEFAULT"])["host"] == "https://127.0.0.1:8442"


def test_malformed_entries_are_named(tmp_path):
    bad = tmp_path / "settings.yaml"
    bad.write_text("airflow:\n  connections:\n    - conn_type: http\n")
    with pytest.raises(settings.SettingsError, match="Connection #1"):
        settings.connections(settings.read(bad))
