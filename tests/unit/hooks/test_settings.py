"""Connection settings: extra keys are settings (never headers), TLS is always verified, mistakes name the field."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from include.bc_sales_sync.hooks import ConfigurationError, DataverseHook
from tests.unit.hooks.conftest import CLIENT_SECRET, DATAVERSE_HOST, Reply

OK = Reply(200, {"value": []})


@pytest.fixture
def hook(connect):
    return connect(DataverseHook, DATAVERSE_HOST)


def test_extra_keys_are_settings_not_headers(connect, fake, caplog):
    caplog.set_level(logging.WARNING)
    extra = {
        "scope": f"{DATAVERSE_HOST}/.default",
        "page_size": 250,
        "max_retry_seconds": 60,
        "timeout": 30,
        "api_version": "v9.2",
        "X-Custom-Typo": "value-not-to-leak",
    }
    hook = connect(DataverseHook, DATAVERSE_HOST, extra=extra)
    fake.route("GET", r"/accounts", OK)

    list(hook.iter_pages("accounts", select=["name"]))

    sent = fake.api_calls[0].headers
    lowered = {k.lower() for k in sent}
    for key in ("tenant_id", "authority", "ca_bundle", "scope", "page_size", "max_retry_seconds", "timeout"):
        assert key not in lowered
    assert "x-custom-typo" not in lowered
    assert all("value-not-to-leak" not in v for v in sent.values())
    # The login and password are Entra ID credentials, never basic auth.
    assert sent["Authorization"].startswith("Bearer fake-access-token-")
    assert sent["OData-Version"] == "4.0"
    assert sent["Prefer"] == "odata.maxpagesize=250"
    assert "ignoring unknown extra key(s) X-Custom-Typo" in caplog.text
    assert "value-not-to-leak" not in caplog.text


@pytest.mark.parametrize("verify", [False, "false"])
def test_tls_verification_cannot_be_switched_off(connect, verify):
    hook = connect(DataverseHook, DATAVERSE_HOST, extra={"verify": verify})
    with pytest.raises(ConfigurationError, match="cannot be switched off"):
        hook.get_conn()


@pytest.mark.parametrize(
    ("host", "extra", "message"),
    [
        ("", {}, "has no host"),
        ("http://org.sandbox.test", {}, "must be an https:// URL"),
        (DATAVERSE_HOST, {"tenant_id": ""}, "extra 'tenant_id' is missing"),
        (DATAVERSE_HOST, {"ca_bundle": "/no/such/ca.pem"}, "does not exist"),
        (DATAVERSE_HOST, {"max_retry_seconds": "soon"}, "must be a number"),
    ],
)
def test_connection_mistakes_name_the_field(connect, host, extra, message):
    hook = connect(DataverseHook, host, extra=extra)
    with pytest.raises(ConfigurationError, match=message) as info:
        _ = hook.settings
    assert CLIENT_SECRET not in str(info.value)


def test_page_size_is_capped_at_the_service_maximum(connect, fake):
    hook = connect(DataverseHook, DATAVERSE_HOST, extra={"page_size": 20000})
    fake.route("GET", r"/accounts", OK)
    list(hook.iter_pages("accounts"))
    assert fake.api_calls[0].headers["Prefer"] == "odata.maxpagesize=5000"


def test_the_ca_can_travel_in_the_connection_as_pem_text(connect, fake, ca_file, tmp_path, monkeypatch):
    # A worker without the CA file (another host, a fresh pod) gets it from the connection itself.
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "worker-tmp"))
    pem = Path(ca_file).read_text()
    hook = connect(DataverseHook, DATAVERSE_HOST, extra={"ca_bundle": pem})
    fake.route("GET", r"/WhoAmI", Reply(200, {"UserId": "u"}))

    hook.who_am_i()

    written = hook.settings.ca_bundle
    assert written.startswith(str(tmp_path / "worker-tmp")) and Path(written).read_text() == pem
    assert {c.verify for c in fake.calls} == {written}  # Entra discovery, token and API alike
    again = connect(DataverseHook, DATAVERSE_HOST, extra={"ca_bundle": pem})
    assert again.settings.ca_bundle == written  # one file per content
