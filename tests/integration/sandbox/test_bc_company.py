"""Business Central companyInformation: the company's local currency, which the sync resolves."""

from __future__ import annotations

import requests


def test_company_information_carries_the_local_currency(sandbox, token_for, ca_bundle):
    c = sandbox.config
    url = f"{c.bc_api_root}/api/v2.0/companies({c.company_id})/companyInformation"
    headers = {"Authorization": f"Bearer {token_for(c.bc_resource)}"}
    response = requests.get(url, headers=headers, verify=ca_bundle, timeout=10)
    assert response.status_code == 200
    (info,) = response.json()["value"]
    assert info["displayName"] == c.company_name
    assert info["currencyCode"] == c.local_currency
    assert info["@odata.etag"].startswith('W/"')
    created = requests.post(url, json={"displayName": "Another"}, headers=headers, verify=ca_bundle, timeout=10)
    assert created.status_code in (400, 405)
