"""The hooks against the sandbox emulators: paging, $batch, Entra ID tokens and injected faults.

Connections come from ``AIRFLOW_CONN_*`` variables in JSON form, as Airflow reads them. Fault
tests compare the hook's own counters with the emulator's statistics: every injected fault must
have cost exactly one retry, and every operation must have landed.
"""

from __future__ import annotations

import json
import logging
import math
import uuid

import pytest
import requests

from include.bc_sales_sync.hooks import (
    AuthenticationError,
    BatchOperation,
    BcBatchRequest,
    BusinessCentralHook,
    ConnectionDropped,
    DataverseHook,
)

BC_CONN = "sandbox_business_central"
DATAVERSE_CONN = "sandbox_dataverse"
NAMESPACE = uuid.UUID("0b8f2c1e-4d5a-4c3b-9e7f-6a5b4c3d2e1f")


# ---------------------------------------------------------------------- fixtures


def _connection(sandbox, host: str, password: str | None = None, **extra) -> str:
    c = sandbox.config
    return json.dumps(
        {
            "conn_type": "http",
            "host": host,
            "login": c.client_id,
            "password": c.client_secret if password is None else password,
            "extra": {"tenant_id": c.tenant_id, "authority": c.entra_url, "ca_bundle": str(c.ca_file), **extra},
        }
    )


@pytest.fixture
def connections(sandbox, monkeypatch):
    """Both connections, plus ``connections.add(conn_id, host, **extra)`` for variants."""
    c = sandbox.config

    class Connections:
        def add(self, conn_id: str, host: str, password: str | None = None, **extra) -> str:
            monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", _connection(sandbox, host, password, **extra))
            return conn_id

    conns = Connections()
    conns.add(BC_CONN, c.bc_url, environment=c.bc_environment, company_id=c.company_id)
    conns.add(DATAVERSE_CONN, c.dataverse_url)
    return conns


def _fast(hook):
    """Short backoff, so injected 5xx and dropped connections cost milliseconds, not seconds."""
    hook.backoff_initial, hook.backoff_max, hook.backoff_jitter = 0.02, 0.1, 0.02
    return hook


@pytest.fixture
def bc(connections):
    hook = _fast(BusinessCentralHook(BC_CONN))
    yield hook
    hook.close()


@pytest.fixture
def dataverse(connections):
    hook = _fast(DataverseHook(DATAVERSE_CONN))
    yield hook
    hook.close()


class Control:
    """The control surface of one emulator (``/_sandbox/...``)."""

    def __init__(self, url: str, ca: str):
        self.url, self.ca = url, ca

    def faults(self, spec: dict) -> None:
        requests.post(f"{self.url}/_sandbox/faults", json=spec, verify=self.ca, timeout=30).raise_for_status()

    def stats(self) -> dict:
        return requests.get(f"{self.url}/_sandbox/stats", verify=self.ca, timeout=30).json()

    def clear_stats(self) -> None:
        requests.delete(f"{self.url}/_sandbox/stats", verify=self.ca, timeout=30).raise_for_status()


@pytest.fixture
def control(sandbox):
    """``control["dataverse"]`` / ``control["bc"]``; faults are cleared after the test whatever happens."""
    c = sandbox.config
    controls = {"dataverse": Control(c.dataverse_url, str(c.ca_file)), "bc": Control(c.bc_url, str(c.ca_file))}
    for each in controls.values():
        each.clear_stats()
    yield controls
    for each in controls.values():
        each.faults({})


def account_upserts(prefix: str, count: int, bad: set[int] = frozenset()) -> list[BatchOperation]:
    """Upserts of new accounts with deterministic ids; the ones in ``bad`` have a too long account number."""
    return [
        BatchOperation(
            "PATCH",
            entity_set="accounts",
            key=str(uuid.uuid5(NAMESPACE, f"{prefix}-{i}")),
            body={"name": f"{prefix} account {i}", "accountnumber": f"{prefix}-{i}" + ("X" * 30 if i in bad else "")},
        )
        for i in range(count)
    ]


def accounts_with_prefix(hook: DataverseHook, prefix: str) -> list[dict]:
    rows: list[dict] = []
    for page in hook.iter_pages(
        "accounts", select=["accountid", "accountnumber"], filter=f"startswith(accountnumber,'{prefix}-')"
    ):
        rows.extend(page)
    return rows


# ---------------------------------------------------------------------- Business Central


def test_bc_connection(bc, sandbox):
    ok, message = bc.test_connection()
    assert ok, message
    assert sandbox.config.company_name in message


def test_bc_pages_through_items(bc, control):
    everything = [row for page in bc.iter_pages("items", select=["id", "number"], page_size=20000) for row in page]
    assert len(everything) > 10, "the demo company has items"
    bc.request_count = 0

    pages = list(bc.iter_pages("items", select=["id", "number"], page_size=7))

    assert [len(p) for p in pages[:-1]] == [7] * (len(pages) - 1)
    assert len(pages) == math.ceil(len(everything) / 7)
    assert sorted(r["id"] for p in pages for r in p) == sorted(r["id"] for r in everything)
    assert bc.request_count == len(pages)
    assert control["bc"].stats()["by_entity"]["items"]["GET"] == len(pages) + 1


def test_bc_pages_through_a_web_service(bc):
    pages = list(bc.iter_pages("ItemCard", select=["No", "Description"], page_size=5, web_service=True))
    rows = [r for p in pages for r in p]
    assert len(pages) >= 2 and all(len(p) == 5 for p in pages[:-1])
    assert len({r["No"] for r in rows}) == len(rows)
    # One request to learn the company name for the URL, then one per page.
    assert bc.request_count == len(pages) + 1


def test_bc_json_batch_with_one_failure(bc, fresh_sandbox):
    items = next(bc.iter_pages("items", select=["id", "displayName"], page_size=3))
    requests_ = [
        BcBatchRequest("PATCH", f"items({i['id']})", {"displayName": f"Renamed {n}"}) for n, i in enumerate(items)
    ]
    requests_.append(BcBatchRequest("PATCH", f"items({items[0]['id']})", {"type": "Invalid Type"}))

    results = bc.batch(requests_)

    assert [r.ok for r in results] == [True, True, True, False]
    assert results[3].status == 400 and results[3].error_message
    assert bc.get("items", items[1]["id"])["displayName"] == "Renamed 1"


# ---------------------------------------------------------------------- Dataverse


def test_dataverse_connection(dataverse, sandbox):
    ok, message = dataverse.test_connection()
    assert ok, message
    assert sandbox.config.integration_user_id in message


def test_dataverse_batch_of_1000_upserts_with_one_bad_record(dataverse, control, fresh_sandbox):
    control["dataverse"].clear_stats()

    results = dataverse.batch(account_upserts("BULK", 1000, bad={517}))

    assert len(results) == 1000
    failed = [r for r in results if not r.ok]
    assert len(failed) == 1 and failed[0].operation.body["name"] == "BULK account 517"
    assert failed[0].status == 400
    assert failed[0].error_code == "0x80044331" and "accountnumber" in failed[0].error_message
    assert all(r.entity_id == r.operation.key for r in results if r.ok)
    assert dataverse.request_count == 1
    assert control["dataverse"].stats()["batch_operations_total"] == 1000
    assert len(accounts_with_prefix(dataverse, "BULK")) == 999


def test_dataverse_upsert_is_idempotent(dataverse, fresh_sandbox):
    key = str(uuid.uuid5(NAMESPACE, "again"))
    assert dataverse.upsert("accounts", key, {"name": "Once", "accountnumber": "AGAIN-1"}) == key
    assert dataverse.upsert("accounts", key, {"name": "Twice", "accountnumber": "AGAIN-1"}) == key
    assert dataverse.get("accounts", key, select=["name"])["name"] == "Twice"
    assert len(accounts_with_prefix(dataverse, "AGAIN")) == 1


def _assert_every_fault_cost_one_retry(hook, stats: dict, fault: str) -> None:
    injected = stats["injected_faults"].get(fault, 0)
    assert injected > 0, "the fault was never injected"
    assert hook.retry_count == injected
    assert hook.request_count == stats["total"]


def test_429_storm(dataverse, control, fresh_sandbox):
    dv = control["dataverse"]
    dv.clear_stats()
    dv.faults({"status": 429, "rate": 0.5, "retry_after": 0.2, "seed": 1})

    results = dataverse.batch(account_upserts("STORM", 300), chunk_size=50)
    for i in range(5):
        dataverse.upsert("accounts", str(uuid.uuid5(NAMESPACE, f"STORM-single-{i}")), {"accountnumber": f"STORM-s{i}"})
    pages = list(dataverse.iter_pages("accounts", select=["accountid"], page_size=100))

    stats = dv.stats()
    dv.faults({})
    assert all(r.ok for r in results)
    assert len(pages) > 1
    _assert_every_fault_cost_one_retry(dataverse, stats, "429")
    assert stats["batch_operations_total"] == 300, "a throttled batch never reached the service"
    assert len(accounts_with_prefix(dataverse, "STORM")) == 305


def test_503s(dataverse, control, fresh_sandbox):
    dv = control["dataverse"]
    dv.clear_stats()
    dv.faults({"status": 503, "rate": 0.3, "seed": 2})

    results = dataverse.batch(account_upserts("BUSY", 200), chunk_size=20)
    pages = list(dataverse.iter_pages("accounts", select=["accountid"], page_size=20))
    me = dataverse.who_am_i()

    stats = dv.stats()
    dv.faults({})
    assert all(r.ok for r in results) and len(pages) > 1 and me["UserId"]
    _assert_every_fault_cost_one_retry(dataverse, stats, "503")
    assert len(accounts_with_prefix(dataverse, "BUSY")) == 200


def test_dropped_connections(dataverse, control, fresh_sandbox):
    dv = control["dataverse"]
    dv.clear_stats()
    dv.faults({"drop_rate": 0.2, "seed": 3})

    results = dataverse.batch(account_upserts("DROP", 200), chunk_size=20)
    pages = list(dataverse.iter_pages("accounts", select=["accountid"], page_size=20))

    stats = dv.stats()
    dv.faults({})
    assert all(r.ok for r in results) and len(pages) > 1
    _assert_every_fault_cost_one_retry(dataverse, stats, "drop")
    assert len(accounts_with_prefix(dataverse, "DROP")) == 200


def test_a_dropped_create_is_not_sent_twice(dataverse, control, fresh_sandbox):
    dv = control["dataverse"]
    dataverse.who_am_i()  # token and connection first
    dv.clear_stats()
    dataverse.request_count = 0
    dv.faults({"drop_rate": 1.0})

    with pytest.raises(ConnectionDropped):
        dataverse.create("accounts", {"name": "Maybe created", "accountnumber": "ONCE-1"})

    assert dataverse.request_count == 1 == dv.stats()["total"]


def test_token_expiry_between_two_calls(bc, dataverse, control):
    dataverse.who_am_i()
    list(bc.iter_pages("items", select=["id"], page_size=5))
    requests_before = (dataverse.request_count, bc.request_count)

    control["dataverse"].faults({"expire_tokens": True})  # revokes every token the sandbox issued

    assert dataverse.who_am_i()["UserId"]
    assert next(bc.iter_pages("items", select=["id"], page_size=5))
    for hook, before in zip((dataverse, bc), requests_before, strict=True):
        assert hook.token_provider.refresh_count == 1
        assert hook.token_provider.token_request_count == 2
        assert hook.request_count == before + 2  # the rejected request and its repeat
    assert control["dataverse"].stats()["by_status"]["401"] == 1


def test_wrong_client_secret(connections, sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-secret-do-not-print-8Hq3"
    connections.add("sandbox_wrong_secret", sandbox.config.dataverse_url, password=wrong)
    with DataverseHook("sandbox_wrong_secret") as hook, pytest.raises(AuthenticationError) as info:
        hook.who_am_i()
    with DataverseHook("sandbox_wrong_secret") as other:
        ok, message = other.test_connection()

    assert info.value.code == "AADSTS7000215"
    assert "password of connection 'sandbox_wrong_secret'" in str(info.value)
    assert not ok and "AADSTS7000215" in message
    for text in (str(info.value), repr(info.value), message, caplog.text):
        assert wrong not in text
        assert sandbox.config.client_secret not in text
    assert hook.request_count == 0


def test_unknown_tenant(connections, sandbox, monkeypatch):
    c = sandbox.config
    monkeypatch.setenv(
        "AIRFLOW_CONN_SANDBOX_BAD_TENANT",
        json.dumps(
            {
                "conn_type": "http",
                "host": c.dataverse_url,
                "login": c.client_id,
                "password": c.client_secret,
                "extra": {"tenant_id": "not-our-tenant", "authority": c.entra_url, "ca_bundle": str(c.ca_file)},
            }
        ),
    )
    with (
        DataverseHook("sandbox_bad_tenant") as hook,
        pytest.raises(AuthenticationError, match="extra 'tenant_id'") as info,
    ):
        hook.who_am_i()
    assert info.value.code == "AADSTS90002"
