"""EntraTokenProvider: msal setup, caching, forced refresh and Entra ID errors that name the field to fix."""

from __future__ import annotations

import logging

import pytest
import requests

from include.bc_sales_sync.hooks import AuthenticationError, ConfigurationError, TransientError
from include.bc_sales_sync.hooks.auth import EntraTokenProvider
from tests.unit.hooks.conftest import CLIENT_ID, CLIENT_SECRET, LOGIN_HOST, TENANT, Reply


@pytest.fixture
def provider(fake, ca_file):
    def make(**overrides) -> EntraTokenProvider:
        session = requests.Session()
        session.mount("https://", fake)
        settings = {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "tenant_id": TENANT,
            "scope": "https://org.sandbox.test/.default",
            "authority": LOGIN_HOST,
            "ca_bundle": ca_file,
            "conn_id": "dataverse_default",
            "session": session,
            **overrides,
        }
        return EntraTokenProvider(**settings)

    return make


def test_tokens_are_cached_and_refreshed_on_demand(provider, fake):
    tokens = provider()
    first = tokens.get_token()
    assert tokens.get_token() == first
    assert tokens.token_request_count == 1

    second = tokens.get_token(force_refresh=True)

    assert second != first
    assert tokens.token_request_count == 2
    assert tokens.refresh_count == 1
    assert tokens.get_token() == second


def test_the_authority_is_host_and_tenant_without_instance_discovery(provider, fake, ca_file):
    tokens = provider()
    tokens.get_token()
    assert tokens.authority_url == f"{LOGIN_HOST}/{TENANT}"
    # Straight to OpenID discovery on the given host: no call to Microsoft's instance discovery.
    assert [c.url for c in fake.calls] == [
        f"{LOGIN_HOST}/{TENANT}/v2.0/.well-known/openid-configuration",
        f"{LOGIN_HOST}/{TENANT}/oauth2/v2.0/token",
    ]
    assert {c.verify for c in fake.calls} == {ca_file}
    form = fake.token_calls[0].body.decode()
    assert "grant_type=client_credentials" in form and f"client_id={CLIENT_ID}" in form


def test_a_full_authority_url_is_kept(provider):
    assert provider(authority=f"{LOGIN_HOST}/{TENANT}/").authority_url == f"{LOGIN_HOST}/{TENANT}"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"authority": "http://login.sandbox.test"}, "must be an https:// login host"),
        ({"tenant_id": ""}, "extra 'tenant_id' is missing"),
    ],
)
def test_configuration_mistakes(provider, overrides, message):
    with pytest.raises(ConfigurationError, match=message):
        provider(**overrides)


@pytest.mark.parametrize(
    ("setup", "code", "fix"),
    [
        ({"secret": "other"}, "AADSTS7000215", "client secret is wrong or expired: put the application's current"),
        ({"tenant_id": "not-a-tenant"}, "AADSTS90002", "Tenant 'not-a-tenant' was not found: check extra 'tenant_id'"),
        ({"scope": "https://org.sandbox.test"}, "AADSTS1002012", "check extra 'scope'"),
        (
            {
                "error": Reply(
                    400, {"error": "unauthorized_client", "error_description": "AADSTS700016: App not found."}
                )
            },
            "AADSTS700016",
            "check the login (application client id) and extra 'tenant_id'",
        ),
    ],
)
def test_entra_errors_name_the_connection_field(provider, fake, caplog, setup, code, fix):
    caplog.set_level(logging.DEBUG)
    if "secret" in setup:
        fake.client_secret = setup["secret"]
    if "error" in setup:
        fake.token_error = setup["error"]
    tokens = provider(**{k: v for k, v in setup.items() if k in ("tenant_id", "scope")})

    with pytest.raises(AuthenticationError) as info:
        tokens.get_token()

    text = str(info.value)
    assert info.value.code == code
    assert code in text
    assert fix in text
    assert "connection 'dataverse_default'" in text
    assert "Trace ID" not in text
    assert CLIENT_SECRET not in text + repr(info.value) + caplog.text


def test_entra_outage_is_transient(provider, fake):
    fake.token_error = Reply(400, {"error": "temporarily_unavailable", "error_description": "AADSTS50196: Busy."})
    with pytest.raises(TransientError) as info:
        provider().get_token()
    assert not isinstance(info.value, AuthenticationError)
    assert info.value.sent is False


def test_unreachable_entra_is_transient(provider):
    session = requests.Session()  # nothing mounted: the name does not resolve
    tokens = provider(authority="https://login.invalid", session=session, timeout=2)
    with pytest.raises(TransientError, match=r"Could not reach Entra ID at https://login\.invalid"):
        tokens.get_token()


def test_repr_hides_the_secret(provider):
    assert CLIENT_SECRET not in repr(provider())


def test_masking_is_skipped_without_the_task_sdk(provider, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "airflow.sdk.log", None)  # importing it now raises ImportError
    assert provider().get_token().startswith("fake-access-token-")
