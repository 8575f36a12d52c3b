"""The sandbox's two identities: the integration application and the ``sales_user`` application.

The integration application acts as the integration (application) user in Dataverse and is the
one BC user; the ``sales_user`` application acts in Dataverse as a licensed Sales user from the
demo seed, so what it changes is not the integration user's.
"""

from __future__ import annotations

import json

import jwt
import pytest
import requests

from include.sandbox.dataverse.seed import SALES_USER_CODE, SALES_USERS, seed_id


def _token(config, ca_bundle: str, client_id: str, secret: str, resource: str) -> requests.Response:
    data = {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_secret": secret,
        "scope": f"{resource}/.default",
    }
    return requests.post(f"{config.authority}/oauth2/v2.0/token", data=data, verify=ca_bundle, timeout=30)


@pytest.fixture
def sales_token(sandbox, ca_bundle):
    """``sales_token(resource)`` -> a token of the ``sales_user`` application."""
    c = sandbox.config

    def fetch(resource: str) -> str:
        response = _token(c, ca_bundle, c.sales_user_client_id, c.sales_user_client_secret, resource)
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    return fetch


def _dataverse(sandbox, ca_bundle: str, token: str, method: str, path: str, **kwargs) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json", **kwargs.pop("headers", {})}
    url = f"{sandbox.config.dataverse_url}/api/data/v9.2/{path}"
    return requests.request(method, url, headers=headers, verify=ca_bundle, timeout=60, **kwargs)


def test_the_sales_user_is_a_licensed_demo_user(sandbox):
    c = sandbox.config
    assert SALES_USER_CODE == "PS"
    assert c.sales_user_id == seed_id("systemuser", SALES_USER_CODE)
    assert c.sales_user_object_id == seed_id("entra-user", SALES_USER_CODE)
    assert any(code == SALES_USER_CODE and not disabled for code, *_rest, disabled in SALES_USERS)


def test_endpoints_file_lists_the_sales_user(sandbox):
    c = sandbox.config
    endpoints = json.loads((c.state_dir / "endpoints.json").read_text())
    assert endpoints["client_id"] == c.client_id
    assert endpoints["dataverse"]["integration_user_id"] == c.integration_user_id
    assert endpoints["sales_user"] == {
        "client_id": c.sales_user_client_id,
        "client_secret": c.sales_user_client_secret,
        "systemuser_id": c.sales_user_id,
        "object_id": c.sales_user_object_id,
    }


def test_sales_user_tokens_carry_the_users_object_id(sandbox, sales_token):
    c = sandbox.config
    claims = jwt.decode(sales_token(c.dataverse_url), options={"verify_signature": False})
    assert claims["appid"] == c.sales_user_client_id
    assert claims["oid"] == c.sales_user_object_id
    assert claims["scp"] == "user_impersonation" and "roles" not in claims


def test_sales_user_wrong_secret_is_invalid_client(sandbox, ca_bundle):
    c = sandbox.config
    response = _token(c, ca_bundle, c.sales_user_client_id, c.client_secret, c.dataverse_url)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_whoami_answers_each_callers_user_id(sandbox, ca_bundle, token_for, sales_token):
    c = sandbox.config
    integration = _dataverse(sandbox, ca_bundle, token_for(c.dataverse_url), "GET", "WhoAmI")
    sales = _dataverse(sandbox, ca_bundle, sales_token(c.dataverse_url), "GET", "WhoAmI")
    assert integration.status_code == sales.status_code == 200
    assert integration.json()["UserId"] == c.integration_user_id
    assert sales.json()["UserId"] == c.sales_user_id
    assert sales.json()["BusinessUnitId"] == integration.json()["BusinessUnitId"]
    user = _dataverse(sandbox, ca_bundle, sales_token(c.dataverse_url), "GET", f"systemusers({c.sales_user_id})")
    row = user.json()
    assert row["fullname"] == "Peter Saddow"
    assert row["islicensed"] is True and row["isintegrationuser"] is False and row["isdisabled"] is False


def test_rows_changed_by_the_sales_user_carry_its_id(fresh_sandbox, ca_bundle, token_for, sales_token):
    c = fresh_sandbox.config
    sales, integration = sales_token(c.dataverse_url), token_for(c.dataverse_url)
    account = seed_id("account", "Adatum Corporation")
    changed = _dataverse(
        fresh_sandbox,
        ca_bundle,
        sales,
        "PATCH",
        f"accounts({account})",
        json={"telephone1": "+1 404 555 0199"},
        headers={"If-Match": "*", "Prefer": "return=representation"},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["_modifiedby_value"] == c.sales_user_id
    created = _dataverse(
        fresh_sandbox,
        ca_bundle,
        sales,
        "POST",
        "contacts",
        json={
            "firstname": "Robert",
            "lastname": "Townes",
            "parentcustomerid_account@odata.bind": f"/accounts({account})",
        },
        headers={"Prefer": "return=representation"},
    )
    assert created.status_code == 201, created.text
    assert created.json()["_createdby_value"] == created.json()["_modifiedby_value"] == c.sales_user_id
    # The integration user's own write is its own, as the sync's loop prevention expects.
    echoed = _dataverse(
        fresh_sandbox,
        ca_bundle,
        integration,
        "PATCH",
        f"accounts({account})",
        json={"telephone1": "+1 404 555 0110"},
        headers={"If-Match": "*", "Prefer": "return=representation"},
    )
    assert echoed.json()["_modifiedby_value"] == c.integration_user_id
    mine = _dataverse(
        fresh_sandbox, ca_bundle, integration, "GET", f"accounts?$filter=_modifiedby_value ne {c.integration_user_id}"
    )
    assert account not in {row["accountid"] for row in mine.json()["value"]}


def test_the_sales_user_is_not_a_business_central_user(sandbox, ca_bundle, token_for, sales_token):
    c = sandbox.config
    url = f"{c.bc_api_root}/api/v2.0/companies({c.company_id})/items?$top=1"
    refused = requests.get(
        url, headers={"Authorization": f"Bearer {sales_token(c.bc_resource)}"}, verify=ca_bundle, timeout=60
    )
    assert refused.status_code == 401
    error = refused.json()["error"]
    assert error["code"] == "Authentication_InvalidCredentials"
    assert c.sales_user_client_id in error["message"]
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    allowed = requests.get(
        url, headers={"Authorization": f"Bearer {token_for(c.bc_resource)}"}, verify=ca_bundle, timeout=60
    )
    assert allowed.status_code == 200
