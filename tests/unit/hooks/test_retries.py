"""Retries: Retry-After on 429, backoff on 5xx and dropped connections, idempotency, and the retry budget."""

from __future__ import annotations

import logging

import pytest

from include.bc_sales_sync.hooks import ConnectionDropped, DataverseHook, RateLimited, TransientError
from tests.unit.hooks.conftest import DATAVERSE_HOST, Reply, dropped, refused

API = f"{DATAVERSE_HOST}/api/data/v9.2"
OK = Reply(200, {"value": []})


@pytest.fixture
def hook(connect):
    return connect(DataverseHook, DATAVERSE_HOST)


def test_429_waits_as_long_as_retry_after_says(hook, fake, clock):
    fake.route("GET", r"/accounts", Reply(429, {"error": {"code": "0x80072322"}}, headers={"Retry-After": "7"}), OK)

    list(hook.iter_pages("accounts"))

    assert clock.waits == [7.0]
    assert hook.request_count == 2
    assert hook.retry_count == 1


def test_429_without_retry_after_backs_off_exponentially(hook, fake, clock):
    fake.route("GET", r"/accounts", Reply(429), Reply(429), Reply(429), OK)
    list(hook.iter_pages("accounts"))
    assert len(clock.waits) == 3
    for n, wait in enumerate(clock.waits):
        assert hook.backoff_initial * 2**n <= wait <= hook.backoff_initial * 2**n + hook.backoff_jitter


def test_503_then_success(hook, fake, clock):
    fake.route("GET", r"/WhoAmI", Reply(503, {"error": {"code": "", "message": "busy"}}), Reply(200, {"UserId": "u"}))
    assert hook.who_am_i() == {"UserId": "u"}
    assert hook.request_count == 2
    assert len(clock.waits) == 1 and hook.backoff_initial <= clock.waits[0] <= hook.backoff_initial + 1


def test_503_retry_after_is_honoured(hook, fake, clock):
    fake.route("GET", r"/WhoAmI", Reply(503, headers={"Retry-After": "2.5"}), Reply(200, {"UserId": "u"}))
    hook.who_am_i()
    assert clock.waits == [2.5]


def test_dropped_connection_is_retried_for_idempotent_requests(hook, fake):
    fake.route("GET", r"/WhoAmI", dropped(), Reply(200, {"UserId": "u"}))
    fake.route("PATCH", r"/accounts\(", dropped(), Reply(204, headers={"OData-EntityId": f"{API}/accounts(x)"}))

    assert hook.who_am_i() == {"UserId": "u"}
    hook.upsert("accounts", "6f2a1c4e-8b3d-4e5f-9a7b-1c2d3e4f5a6b", {"name": "A"})

    assert [c.method for c in fake.api_calls] == ["GET", "GET", "PATCH", "PATCH"]


def test_dropped_connection_is_not_retried_for_a_create(hook, fake):
    fake.route("POST", r"/accounts$", dropped(), Reply(204, headers={"OData-EntityId": f"{API}/accounts(x)"}))

    with pytest.raises(ConnectionDropped) as info:
        hook.create("accounts", {"name": "A"})

    assert len(fake.api_calls) == 1, "a POST that may have reached the server must not be sent twice"
    assert info.value.status is None


def test_a_post_may_be_declared_idempotent(hook, fake):
    fake.route("POST", r"/\$batch", dropped(), Reply(200, {"ok": True}))
    response = hook.request("POST", hook.api_url("$batch"), data=b"x", idempotent=True)
    assert response.json() == {"ok": True}
    assert len(fake.api_calls) == 2


def test_refused_connection_is_retried_even_for_a_post(hook, fake):
    fake.route("POST", r"/accounts$", refused(), Reply(204, headers={"OData-EntityId": f"{API}/accounts(abc)"}))
    assert hook.create("accounts", {"name": "A"}) == "abc"
    assert len(fake.api_calls) == 2


def test_500_is_retried_only_when_idempotent(hook, fake):
    fake.route("POST", r"/accounts$", Reply(500, {"error": {"code": "0x80040216", "message": "Unexpected"}}))
    with pytest.raises(TransientError):
        hook.create("accounts", {"name": "A"})
    assert len(fake.api_calls) == 1

    fake.route("GET", r"/WhoAmI", Reply(500), Reply(502), Reply(504), Reply(200, {"UserId": "u"}))
    hook.who_am_i()
    assert len(fake.api_calls) == 5


def test_retry_time_is_bounded_and_the_error_says_so(connect, fake, clock):
    hook = connect(DataverseHook, DATAVERSE_HOST, extra={"max_retry_seconds": 20})
    fake.route("GET", r"/WhoAmI", Reply(503, {"error": {"code": "", "message": "Service unavailable"}}))

    with pytest.raises(TransientError) as info:
        hook.who_am_i()

    assert sum(clock.waits) <= 20
    assert info.value.attempts == len(clock.waits) + 1 == hook.request_count
    text = str(info.value)
    assert "HTTP 503" in text
    assert f"Gave up after {info.value.attempts} attempt(s)" in text
    assert "max_retry_seconds=20" in text


def test_retry_after_beyond_the_budget_gives_up_at_once(connect, fake, clock):
    hook = connect(DataverseHook, DATAVERSE_HOST, extra={"max_retry_seconds": 60})
    fake.route("GET", r"/WhoAmI", Reply(429, {"error": {"code": "0x80072321"}}, headers={"Retry-After": "600"}))

    with pytest.raises(RateLimited) as info:
        hook.who_am_i()

    assert clock.waits == []
    assert info.value.retry_after == 600
    assert "asked to wait 600 s" in str(info.value)


def test_attempts_are_bounded(connect, fake, clock):
    hook = connect(DataverseHook, DATAVERSE_HOST, max_attempts=3)
    fake.route("GET", r"/WhoAmI", Reply(429, headers={"Retry-After": "1"}))
    with pytest.raises(RateLimited):
        hook.who_am_i()
    assert hook.request_count == 3
    assert clock.waits == [1.0, 1.0]


def test_retries_are_logged_with_the_wait(hook, fake, caplog):
    caplog.set_level(logging.INFO)
    fake.route("GET", r"/WhoAmI", Reply(429, headers={"Retry-After": "3"}), Reply(200, {"UserId": "u"}))
    hook.who_am_i()
    assert "HTTP 429 RateLimited; retry 1 of 29 in 3.0 s" in caplog.text
