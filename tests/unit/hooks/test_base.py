"""DynamicsHttpHook's transport: TLS with the CA bundle, tokens, typed errors, HttpHook semantics."""

from __future__ import annotations

import logging

import pytest

from include.bc_sales_sync.hooks import (
    AuthenticationError,
    BadRequest,
    Conflict,
    DataverseHook,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    RateLimited,
    TransientError,
)
from tests.unit.hooks.conftest import CLIENT_SECRET, DATAVERSE_HOST, Reply

API = f"{DATAVERSE_HOST}/api/data/v9.2"


@pytest.fixture
def hook(connect):
    return connect(DataverseHook, DATAVERSE_HOST)


# ---------------------------------------------------------------------- TLS


def test_ca_bundle_is_passed_on_every_request_even_with_requests_ca_bundle_set(hook, fake, ca_file, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/somewhere/else.pem")
    fake.route("GET", r"/WhoAmI", Reply(200, {"UserId": "u"}))

    hook.who_am_i()

    assert fake.calls, "no request was sent"
    assert {c.verify for c in fake.calls} == {ca_file}  # Entra discovery, token and API alike


# ---------------------------------------------------------------------- tokens


def test_the_token_is_cached_between_requests(hook, fake):
    fake.route("GET", r"/WhoAmI", Reply(200, {"UserId": "u"}))
    hook.who_am_i()
    hook.who_am_i()
    assert len(fake.token_calls) == 1
    assert hook.token_provider.token_request_count == 1


def test_401_fetches_a_new_token_once_and_continues(hook, fake):
    fake.route("GET", r"/WhoAmI", Reply(200, {"UserId": "u"}))
    hook.who_am_i()
    fake.expire_tokens()

    assert hook.who_am_i() == {"UserId": "u"}

    assert len(fake.token_calls) == 2
    assert hook.token_provider.refresh_count == 1
    assert hook.request_count == 3
    first, second = fake.api_calls[1:]
    assert first.headers["Authorization"] != second.headers["Authorization"]


def test_a_second_401_is_an_authentication_error(hook, fake):
    fake.route("GET", r"/WhoAmI", Reply(401, {"error": {"code": "BadAuthTicket", "message": "Invalid audience."}}))

    with pytest.raises(AuthenticationError) as info:
        hook.who_am_i()

    assert hook.token_provider.refresh_count == 1
    assert hook.request_count == 2
    assert "BadAuthTicket" in str(info.value)


def test_the_access_token_is_masked_as_soon_as_it_is_fetched(hook, fake, monkeypatch):
    import airflow.sdk.log

    masked: list[str] = []
    monkeypatch.setattr(airflow.sdk.log, "mask_secret", lambda value, *a, **k: masked.append(value))
    fake.route("GET", r"/WhoAmI", Reply(200, {"UserId": "u"}))

    hook.who_am_i()

    token = fake.api_calls[0].headers["Authorization"][len("Bearer ") :]
    assert token in masked


def test_a_wrong_secret_never_shows_the_secret(connect, fake, caplog):
    caplog.set_level(logging.DEBUG)
    fake.client_secret = "the-right-one"
    hook = connect(DataverseHook, DATAVERSE_HOST)

    with pytest.raises(AuthenticationError) as info:
        hook.who_am_i()

    text = f"{info.value}\n{info.value!r}\n{info.value.service_message}"
    assert CLIENT_SECRET not in text
    assert CLIENT_SECRET not in caplog.text
    assert "AADSTS7000215" in text
    assert "password of connection 'unit_dataversehook'" in text
    assert info.value.code == "AADSTS7000215"
    assert fake.api_calls == [], "no API request is sent without a token"


def test_tokens_and_secrets_stay_out_of_logs_and_errors(hook, fake, caplog):
    caplog.set_level(logging.DEBUG)
    fake.route(
        "GET",
        r"/WhoAmI",
        Reply(503),
        Reply(400, {"error": {"code": "0x80040203", "message": "Invalid argument."}}),
    )
    with pytest.raises(BadRequest) as info:
        hook.who_am_i()
    token = fake.api_calls[0].headers["Authorization"][len("Bearer ") :]
    for text in (caplog.text, str(info.value), repr(info.value), repr(hook.settings), repr(hook.token_provider)):
        assert token not in text
        assert CLIENT_SECRET not in text


def test_entra_outage_is_transient_and_retried(hook, fake, clock, monkeypatch):
    import types

    # msal throttles a failing token endpoint for Retry-After seconds of wall-clock time: give it the fake clock.
    monkeypatch.setattr("msal.individual_cache.time", types.SimpleNamespace(time=clock))
    fake.token_error = Reply(
        503,
        {"error": "temporarily_unavailable", "error_description": "AADSTS50196: The server is busy."},
        headers={"Retry-After": "1"},
    )
    fake.route("POST", r"/accounts$", Reply(204, headers={"OData-EntityId": f"{API}/accounts(abc)"}))

    def recover(seconds: float) -> None:
        clock.sleep(seconds)
        fake.token_error = None

    hook._sleep = recover
    # Even a POST may be retried: it was never sent, the token request failed first.
    assert hook.create("accounts", {"name": "A"}) == "abc"
    assert len(clock.waits) == 1
    assert len(fake.api_calls) == 1


# ---------------------------------------------------------------------- typed errors


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, BadRequest),
        (403, PermissionDenied),
        (404, NotFound),
        (409, Conflict),
        (412, PreconditionFailed),
        (413, BadRequest),
    ],
)
def test_statuses_become_typed_errors(hook, fake, status, error_type):
    fake.route(
        "GET",
        r"/accounts\(",
        Reply(
            status,
            {"error": {"code": "0x80040217", "message": "account With Id = 42 Does Not Exist"}},
            headers={"x-ms-service-request-id": "req-123"},
        ),
    )
    with pytest.raises(error_type) as info:
        hook.get("accounts", "6f2a1c4e-8b3d-4e5f-9a7b-1c2d3e4f5a6b")
    error = info.value
    assert (error.status, error.code, error.request_id, error.method) == (status, "0x80040217", "req-123", "GET")
    assert error.service_message == "account With Id = 42 Does Not Exist"
    assert error.url == f"{API}/accounts(6f2a1c4e-8b3d-4e5f-9a7b-1c2d3e4f5a6b)"
    assert "account With Id = 42 Does Not Exist" in str(error) and "req-123" in str(error)
    assert hook.request_count == 1, "client errors are not retried"


def test_precondition_failed_is_a_conflict():
    assert issubclass(PreconditionFailed, Conflict)
    assert issubclass(RateLimited, TransientError)


def test_run_keeps_httphook_semantics(hook, fake):
    fake.route("GET", r"/WhoAmI", Reply(200, {"UserId": "u"}))
    fake.route("GET", r"/missing", Reply(404, {"error": {"code": "x", "message": "gone"}}))
    assert hook.run("/api/data/v9.2/WhoAmI").json() == {"UserId": "u"}
    assert hook.run("/api/data/v9.2/missing", extra_options={"check_response": False}).status_code == 404
    with pytest.raises(NotFound):
        hook.run("/api/data/v9.2/missing")
