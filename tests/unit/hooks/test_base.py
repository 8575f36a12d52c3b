"""DynamicsHttpHook: connection settings, headers, TLS, retries, token refresh and typed errors."""

from __future__ import annotations

import logging

import pytest
import requests
from urllib3.exceptions import NewConnectionError, ProtocolError

from include.bc_sales_sync.hooks import (
    AuthenticationError,
    BadRequest,
    ConfigurationError,
    Conflict,
    ConnectionDropped,
    DataverseHook,
    DynamicsApiError,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    RateLimited,
    TransientError,
)
from tests.unit.hooks.conftest import CLIENT_SECRET, DATAVERSE_HOST, Reply

API = f"{DATAVERSE_HOST}/api/data/v9.2"
OK = Reply(200, {"value": []})


def dropped() -> requests.exceptions.ConnectionError:
    """What requests raises when the server closes the connection without answering."""
    return requests.exceptions.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError(104)))


def refused() -> requests.exceptions.ConnectionError:
    reason = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")
    return requests.exceptions.ConnectionError(requests.packages.urllib3.exceptions.MaxRetryError(None, "/", reason))


@pytest.fixture
def hook(connect):
    return connect(DataverseHook, DATAVERSE_HOST)


# ---------------------------------------------------------------------- connection and headers


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


def test_ca_bundle_is_passed_on_every_request_even_with_requests_ca_bundle_set(hook, fake, ca_file, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/somewhere/else.pem")
    fake.route("GET", r"/WhoAmI", Reply(200, {"UserId": "u"}))

    hook.who_am_i()

    assert fake.calls, "no request was sent"
    assert {c.verify for c in fake.calls} == {ca_file}  # Entra discovery, token and API alike


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


def test_links_to_other_hosts_are_refused(hook, fake):
    fake.route("GET", r"/accounts", Reply(200, {"value": [{}], "@odata.nextLink": "https://evil.test/steal?x=1"}))
    pages = hook.iter_pages("accounts")
    next(pages)
    with pytest.raises(DynamicsApiError, match="refusing to send the access token"):
        next(pages)


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (Reply(200, body=b'{"value": [{"name": "cut off'), "returned a page that is not valid JSON"),
        (Reply(200, json=[{"name": "a list, not a page"}]), "returned no 'value' list"),
        (Reply(200, json={"error": "no value"}), "returned no 'value' list"),
    ],
)
def test_a_page_that_is_not_an_odata_collection_is_a_clear_error(hook, fake, reply, message):
    fake.route("GET", r"/accounts", reply)
    with pytest.raises(DynamicsApiError, match=message) as raised:
        list(hook.iter_pages("accounts"))
    assert "accounts" in str(raised.value)


def test_pages_keep_non_ascii_text_and_numbers(hook, fake):
    record = {"name": "Åkerlund & Söner, Zürich", "creditlimit": 12345.67, "count": 3, "flag": True, "none": None}
    fake.route("GET", r"/accounts", Reply(200, {"value": [record]}))
    assert list(hook.iter_pages("accounts")) == [[record]]


# ---------------------------------------------------------------------- retries


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


def test_urls_in_errors_hide_paging_tokens(hook, fake):
    link = f"{API}/accounts?$select=name&$skiptoken=%3Ccookie%20pagenumber=%222%22/%3E"
    fake.route("GET", r"skiptoken", Reply(400, {"error": {"code": "0x80060888", "message": "Bad cookie"}}))
    fake.route("GET", r"/accounts\?\$select=name$", Reply(200, {"value": [{"name": "a"}], "@odata.nextLink": link}))
    with pytest.raises(BadRequest) as info:
        list(hook.iter_pages("accounts", select=["name"]))
    assert "$skiptoken=***" in str(info.value)
    assert "cookie" not in info.value.url


def test_run_keeps_httphook_semantics(hook, fake):
    fake.route("GET", r"/WhoAmI", Reply(200, {"UserId": "u"}))
    fake.route("GET", r"/missing", Reply(404, {"error": {"code": "x", "message": "gone"}}))
    assert hook.run("/api/data/v9.2/WhoAmI").json() == {"UserId": "u"}
    assert hook.run("/api/data/v9.2/missing", extra_options={"check_response": False}).status_code == 404
    with pytest.raises(NotFound):
        hook.run("/api/data/v9.2/missing")
