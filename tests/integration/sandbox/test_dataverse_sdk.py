"""Microsoft's own clients against the Dataverse emulator, unmodified: ``powerplatform-dataverse-client``
with ``azure-identity``, and ``msal``."""

from __future__ import annotations

import msal
import pytest
import requests
from azure.identity import ClientSecretCredential
from PowerPlatform.Dataverse.client import DataverseClient
from PowerPlatform.Dataverse.core.errors import HttpError
from PowerPlatform.Dataverse.models.upsert import UpsertItem


@pytest.fixture
def client(fresh_sandbox, trust_sandbox):
    config = fresh_sandbox.config
    credential = ClientSecretCredential(
        config.tenant_id,
        config.client_id,
        config.client_secret,
        authority=f"{config.host}:{config.entra_port}",
        disable_instance_discovery=True,
    )
    with credential, DataverseClient(config.dataverse_url, credential) as dataverse:
        yield dataverse


def test_create_retrieve_update_delete(client):
    account_id = client.records.create(
        "account", {"name": "SDK Account", "accountnumber": "SDK-1", "customertypecode": 3}
    )
    record = client.records.retrieve("account", account_id, select=["name", "accountnumber", "customertypecode"])
    assert record["name"] == "SDK Account"
    assert record["accountnumber"] == "SDK-1"
    assert record["customertypecode"] == 3

    client.records.update("account", account_id, {"name": "SDK Account (renamed)", "telephone1": "555-0100"})
    record = client.records.retrieve("account", account_id, select=["name", "telephone1"])
    assert (record["name"], record["telephone1"]) == ("SDK Account (renamed)", "555-0100")

    client.records.delete("account", account_id)
    assert client.records.retrieve("account", account_id) is None


def test_labels_resolve_through_option_set_metadata(client):
    # The client turns option labels into values with the PicklistAttributeMetadata query.
    account_id = client.records.create("account", {"name": "Labelled", "customertypecode": "Vendor"})
    assert client.records.retrieve("account", account_id, select=["customertypecode"])["customertypecode"] == 11


def test_list_pages_through_next_links(client):
    for n in range(7):
        client.records.create("contact", {"firstname": "Paged", "lastname": f"Contact {n}"})
    pages = list(
        client.records.list_pages(
            "contact", select=["fullname"], filter="firstname eq 'Paged'", orderby=["lastname asc"], page_size=3
        )
    )
    assert [len(page) for page in pages] == [3, 3, 1]
    names = [record["fullname"] for page in pages for record in page]
    assert names == [f"Paged Contact {n}" for n in range(7)]
    everything = client.records.list("contact", select=["fullname"], filter="firstname eq 'Paged'", page_size=2)
    assert len(everything) == 7


def test_upsert_by_alternate_key(client):
    item = UpsertItem(
        alternate_key={"isocurrencycode": "EUR"},
        record={"currencyname": "Euro", "currencysymbol": "€", "exchangerate": 0.92, "currencyprecision": 2},
    )
    client.records.upsert("transactioncurrency", [item])
    client.records.upsert(
        "transactioncurrency",
        [UpsertItem(alternate_key={"isocurrencycode": "EUR"}, record={"exchangerate": 0.9})],
    )
    rows = client.records.list(
        "transactioncurrency", select=["isocurrencycode", "exchangerate"], filter="isocurrencycode eq 'EUR'"
    )
    assert [(r["isocurrencycode"], r["exchangerate"]) for r in rows] == [("EUR", 0.9)]

    # Several items go through UpsertMultiple.
    client.records.upsert(
        "transactioncurrency",
        [
            UpsertItem(alternate_key={"isocurrencycode": "EUR"}, record={"exchangerate": 0.95}),
            UpsertItem(
                alternate_key={"isocurrencycode": "GBP"},
                record={"currencyname": "Pound", "currencysymbol": "£", "exchangerate": 0.8},
            ),
        ],
    )
    rates = {
        r["isocurrencycode"]: r["exchangerate"]
        for r in client.records.list("transactioncurrency", select=["isocurrencycode", "exchangerate"])
    }
    assert rates == {"USD": 1.0, "EUR": 0.95, "GBP": 0.8}


def test_errors_surface_as_http_errors(client):
    # No pytest.raises: its traceback would keep the client's last response (and connection) alive.
    try:
        client.records.create("account", {"name": "x" * 161})
    except HttpError as exc:
        status, code = exc.status_code, exc.details["service_error_code"]
    else:
        pytest.fail("A name longer than 160 characters was accepted.")
    assert (status, code) == (400, "0x80044331")


def test_batch_with_changeset_and_continue_on_error(client):
    batch = client.batch.new()
    batch.records.create("account", {"name": "Batch A"})
    batch.records.create("account", {"name": "Batch B", "customertypecode": 99})
    with batch.changeset() as changeset:
        parent = changeset.records.create("account", {"name": "Batch parent"})
        changeset.records.create("contact", {"lastname": "Batch child", "parentcustomerid_account@odata.bind": parent})
    result = batch.execute(continue_on_error=True)

    assert [r.status_code for r in result.responses] == [204, 400, 204, 204]
    assert len(result.succeeded) == 3 and len(result.failed) == 1
    assert result.failed[0].error_code == "0x8004431a"
    parent_id = result.responses[2].entity_id
    child = client.records.retrieve("contact", result.responses[3].entity_id, select=["_parentcustomerid_value"])
    assert child["_parentcustomerid_value"] == parent_id
    names = {r["name"] for r in client.records.list("account", select=["name"], filter="startswith(name,'Batch')")}
    assert names == {"Batch A", "Batch parent"}


def test_msal_token_works_against_dataverse(sandbox, trust_sandbox):
    config = sandbox.config
    # msal's own HTTP session, closed at the end so no connection outlives the test.
    with requests.Session() as http:
        app = msal.ConfidentialClientApplication(
            config.client_id,
            client_credential=config.client_secret,
            authority=config.authority,
            instance_discovery=False,
            http_client=http,
        )
        result = app.acquire_token_for_client(scopes=[f"{config.dataverse_url}/.default"])
        assert "access_token" in result, result.get("error_description")
        assert result["token_type"] == "Bearer"
        response = http.get(
            f"{config.dataverse_url}/api/data/v9.2/WhoAmI",
            headers={"Authorization": f"Bearer {result['access_token']}", "Accept": "application/json"},
            verify=trust_sandbox,
            timeout=30,
        )
        status, body = response.status_code, response.json()
        response.close()
        assert status == 200
        assert body["UserId"] == config.integration_user_id
        again = app.acquire_token_for_client(scopes=[f"{config.dataverse_url}/.default"])
        assert again["token_source"] == "cache"
