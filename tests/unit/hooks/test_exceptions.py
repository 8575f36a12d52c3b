"""The typed errors: classification, Retry-After parsing, URL redaction and pickling."""

from __future__ import annotations

import datetime as dt
import pickle
from email.utils import format_datetime

import pytest
import requests
from requests.structures import CaseInsensitiveDict

from include.bc_sales_sync.hooks.exceptions import (
    AuthenticationError,
    RateLimited,
    TransientError,
    error_from_response,
    parse_retry_after,
    safe_url,
)


def response(status: int, body: bytes, headers: dict | None = None) -> requests.Response:
    r = requests.Response()
    r.status_code, r._content, r.headers = status, body, CaseInsensitiveDict(headers or {})
    r.url, r.reason = "https://org.test/api/data/v9.2/accounts?$skiptoken=secret-cookie", "Reason"
    return r


def test_retry_after_forms():
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after("0.2") == 0.2
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=90)
    assert 80 <= parse_retry_after(format_datetime(later, usegmt=True)) <= 91


def test_safe_url_redacts_secret_and_opaque_values():
    url = "https://x.test/a?$filter=name eq 'b'&$skiptoken=abc&client_secret=s3cr3t&sig=zz"
    assert safe_url(url) == "https://x.test/a?$filter=name%20eq%20'b'&$skiptoken=***&client_secret=***&sig=***"
    assert safe_url("https://x.test/a") == "https://x.test/a"


def test_non_json_error_bodies_and_rate_limits():
    error = error_from_response(
        response(429, b"<html>busy</html>", {"Retry-After": "5", "request-id": "r1"}), service="BC", method="GET"
    )
    assert isinstance(error, RateLimited) and error.retry_after == 5.0 and error.request_id == "r1"
    assert "secret-cookie" not in str(error) and "$skiptoken=***" in str(error)
    assert "BC GET" in str(error) and "HTTP 429" in str(error)


def test_errors_survive_pickling():
    error = error_from_response(
        response(503, b'{"error":{"code":"x","message":"down"}}', {"Retry-After": "2"}), service="BC", method="GET"
    )
    copy = pickle.loads(pickle.dumps(error))
    assert isinstance(copy, TransientError)
    assert (copy.status, copy.code, copy.retry_after, str(copy)) == (503, "x", 2.0, str(error))


def test_authentication_errors_fail_the_task_without_retries():
    from airflow.providers.common.compat.sdk import AirflowFailException

    assert issubclass(AuthenticationError, AirflowFailException)
    with pytest.raises(AirflowFailException):
        raise AuthenticationError("no")
