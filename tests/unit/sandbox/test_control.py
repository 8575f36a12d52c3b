"""Fault specifications and the control surface, on a bare ASGI app."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from include.sandbox.control import Controls, Faults, FaultSpecError, SandboxMiddleware


@pytest.fixture
def client() -> TestClient:
    app = FastAPI()

    @app.get("/things/{n}")
    def thing(n: int):
        return {"n": n}

    controls = Controls(name="test", entity_of=lambda path: path.split("/")[1])
    return TestClient(SandboxMiddleware(app, controls))


@pytest.mark.parametrize(
    "spec",
    [
        [],
        {"status": 200},
        {"status": "429"},
        {"status": 429, "rate": 1.5},
        {"rate": 0.5},
        {"latency_ms": -1},
        {"drop_rate": True},
        {"count": 1.5, "status": 503},
        {"colour": "red"},
    ],
)
def test_bad_fault_specs_are_rejected(spec):
    with pytest.raises(FaultSpecError):
        Faults.parse(spec)


def test_status_alone_means_every_request():
    assert Faults.parse({"status": 503}).rate == 1.0


def test_stats_count_by_method_entity_and_status(client):
    client.get("/things/1")
    client.get("/things/2")
    client.post("/things/3")
    stats = client.get("/_sandbox/stats").json()
    assert stats["total"] == 3
    assert stats["by_method"] == {"GET": 2, "POST": 1}
    assert stats["by_entity"] == {"things": {"GET": 2, "POST": 1}}
    assert stats["by_status"] == {"200": 2, "405": 1}


def test_counted_faults_then_normal_service(client):
    response = client.post("/_sandbox/faults", json={"status": 429, "count": 2, "retry_after": 1})
    assert response.status_code == 200
    first, second, third = (client.get("/things/1") for _ in range(3))
    assert first.status_code == second.status_code == 429
    assert first.headers["retry-after"] == "1"
    assert third.status_code == 200
    assert client.get("/_sandbox/stats").json()["injected_faults"] == {"429": 2}


def test_path_filter_and_clearing(client):
    client.post("/_sandbox/faults", json={"status": 503, "path": "/other"})
    assert client.get("/things/1").status_code == 200
    client.post("/_sandbox/faults", json={"status": 503})
    assert client.get("/things/1").status_code == 503
    client.post("/_sandbox/faults", json={})
    assert client.get("/things/1").status_code == 200


def test_seeded_rate_is_repeatable(client):
    def pattern():
        client.post("/_sandbox/faults", json={"status": 503, "rate": 0.5, "seed": 7})
        return [client.get("/things/1").status_code for _ in range(20)]

    first = pattern()
    assert first == pattern()
    assert 0 < first.count(503) < 20


def test_bad_control_input_gets_400_with_a_message(client):
    response = client.post("/_sandbox/faults", content=b"{not json")
    assert response.status_code == 400 and "JSON" in response.json()["error"]["message"]
    response = client.post("/_sandbox/faults", json={"status": 700})
    assert response.status_code == 400 and "status" in response.json()["error"]["message"]
    assert client.get("/_sandbox/nothing").status_code == 404


def test_reset_clears_stats_and_faults(client):
    client.post("/_sandbox/faults", json={"status": 503})
    client.get("/things/1")
    assert client.post("/_sandbox/reset").json() == {"reset": True}
    assert client.get("/things/1").status_code == 200
    assert client.get("/_sandbox/stats").json()["total"] == 1
