"""The Entra ID emulator, used the way real clients use Entra ID: msal and plain HTTP."""

from __future__ import annotations

import jwt
import msal
import requests


def _app(config, secret=None):
    return msal.ConfidentialClientApplication(
        config.client_id,
        client_credential=secret or config.client_secret,
        authority=config.authority,
        instance_discovery=False,
    )


def test_msal_gets_and_caches_a_token(sandbox, trust_sandbox):
    config = sandbox.config
    app = _app(config)
    first = app.acquire_token_for_client(scopes=[f"{config.dataverse_url}/.default"])
    assert first["token_type"] == "Bearer" and first["token_source"] == "identity_provider"
    assert app.acquire_token_for_client(scopes=[f"{config.dataverse_url}/.default"])["token_source"] == "cache"
    claims = jwt.decode(first["access_token"], options={"verify_signature": False})
    assert claims["aud"] == config.dataverse_url
    assert claims["tid"] == config.tenant_id
    assert claims["appid"] == config.client_id
    assert claims["oid"] == config.integration_user_id
    assert claims["exp"] > claims["iat"]


def test_token_for_business_central(sandbox, trust_sandbox):
    config = sandbox.config
    result = _app(config).acquire_token_for_client(scopes=["https://api.businesscentral.dynamics.com/.default"])
    claims = sandbox.sandbox.authority.validate(f"Bearer {result['access_token']}", config.bc_resource)
    assert claims["aud"] == "https://api.businesscentral.dynamics.com"


def test_wrong_secret_is_invalid_client_and_not_echoed(sandbox, trust_sandbox):
    config = sandbox.config
    result = _app(config, secret="wrong-secret-value").acquire_token_for_client(
        scopes=[f"{config.dataverse_url}/.default"]
    )
    assert result["error"] == "invalid_client"
    assert 7000215 in result["error_codes"]
    assert "wrong-secret-value" not in str(result)


def _token(config, ca_bundle, **overrides):
    data = {
        "grant_type": "client_credentials",
        "client_id": config.client_id,
        "client_secret": config.client_secret,
        "scope": f"{config.dataverse_url}/.default",
        **overrides,
    }
    return requests.post(f"{config.authority}/oauth2/v2.0/token", data=data, verify=ca_bundle, timeout=10)


def test_entra_shaped_errors(sandbox, ca_bundle):
    config = sandbox.config
    unknown_client = _token(config, ca_bundle, client_id="11111111-1111-1111-1111-111111111111")
    assert unknown_client.status_code == 400 and unknown_client.json()["error"] == "unauthorized_client"
    no_default = _token(config, ca_bundle, scope=f"{config.dataverse_url}/user.read")
    assert no_default.json()["error"] == "invalid_scope"
    unknown_resource = _token(config, ca_bundle, scope="https://elsewhere.example/.default")
    assert unknown_resource.json()["error"] == "invalid_resource"
    wrong_grant = _token(config, ca_bundle, grant_type="password")
    assert wrong_grant.json()["error"] == "unsupported_grant_type"
    wrong_tenant = requests.post(
        f"{config.entra_url}/not-a-tenant/oauth2/v2.0/token", data={}, verify=ca_bundle, timeout=10
    )
    assert wrong_tenant.status_code == 400 and "AADSTS90002" in wrong_tenant.json()["error_description"]


def test_discovery_document(sandbox, ca_bundle):
    config = sandbox.config
    doc = requests.get(f"{config.authority}/v2.0/.well-known/openid-configuration", verify=ca_bundle, timeout=10).json()
    assert doc["token_endpoint"] == f"{config.authority}/oauth2/v2.0/token"
    keys = requests.get(doc["jwks_uri"], verify=ca_bundle, timeout=10).json()["keys"]
    token = _token(config, ca_bundle).json()["access_token"]
    public_key = jwt.PyJWK(keys[0]).key
    claims = jwt.decode(token, public_key, algorithms=["RS256"], audience=config.dataverse_url)
    assert claims["tid"] == config.tenant_id


def test_revoked_tokens_fail_validation(sandbox, ca_bundle):
    import pytest

    from include.sandbox.tokens import TokenError

    config = sandbox.config
    token = _token(config, ca_bundle).json()["access_token"]
    requests.post(f"{config.entra_url}/_sandbox/faults", json={"expire_tokens": True}, verify=ca_bundle, timeout=10)
    with pytest.raises(TokenError) as info:
        sandbox.sandbox.authority.validate(f"Bearer {token}", config.dataverse_url)
    assert info.value.code == "ExpiredAuthTicket"
    fresh = _token(config, ca_bundle).json()["access_token"]
    assert sandbox.sandbox.authority.validate(f"Bearer {fresh}", config.dataverse_url)
