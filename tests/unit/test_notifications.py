"""Alerts reach a webhook (a local receiver stands in for Teams/Slack) and never break a task."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import SimpleNamespace

import pytest

from include.bc_sales_sync.notifications import SyncAlertNotifier, send_alert
from include.bc_sales_sync.reporting import report_run


class Receiver:
    def __init__(self, status: int = 200):
        self.messages: list[dict] = []
        received, code = self.messages, status

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(code)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/webhook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def receiver(monkeypatch):
    r = Receiver()
    monkeypatch.setenv("AIRFLOW_CONN_BC_SYNC_ALERTS", json.dumps({"conn_type": "http", "host": r.url}))
    yield r
    r.close()


def failure_context(try_number=2, max_tries=3):
    ti = SimpleNamespace(
        dag_id="bc_sales_sync",
        task_id="item_product",
        try_number=try_number,
        max_tries=max_tries,
        log_url="http://airflow/log",
    )
    return {
        "ti": ti,
        "run_id": "scheduled__2026-11-25T10:00:00+00:00",
        "exception": RuntimeError("Dataverse answered HTTP 503"),
    }


def test_task_failure_alert_names_dag_task_attempt_error_and_log(receiver):
    SyncAlertNotifier().notify(failure_context(try_number=4, max_tries=3))
    (message,) = receiver.messages
    text = message["text"]
    assert "[bc_sales_sync] Task item_product failed (attempt 4 of 4)" in text
    assert "retries are exhausted" in text
    assert "RuntimeError: Dataverse answered HTTP 503" in text
    assert "scheduled__2026-11-25T10:00:00+00:00" in text and "http://airflow/log" in text


def test_retry_alert_says_it_will_retry(receiver):
    SyncAlertNotifier(will_retry=True).notify(failure_context())
    assert "it will be retried" in receiver.messages[0]["text"]


def test_run_with_failed_records_alerts_with_counts(receiver):
    summaries = [
        {
            "mapping": "UNIT OF MEASURE",
            "job_id": "j1",
            "read": 10,
            "inserted": 10,
            "modified": 0,
            "unchanged": 0,
            "skipped": 0,
            "failed": 0,
        },
        {
            "mapping": "ITEM-PRODUCT",
            "job_id": "j3",
            "read": 20,
            "inserted": 17,
            "modified": 0,
            "unchanged": 0,
            "skipped": 0,
            "failed": 3,
        },
    ]
    totals = report_run("bc_sales_sync", "manual__1", [*summaries, None])
    assert totals["failed"] == 3 and totals["inserted"] == 27
    (message,) = receiver.messages
    assert "ITEM-PRODUCT: 3 failed, 17 inserted" in message["text"] and "job j3" in message["text"]
    assert "UNIT OF MEASURE" not in message["text"]


def test_clean_run_sends_nothing(receiver):
    report_run("bc_sales_sync", "manual__2", [{"mapping": "ITEM-PRODUCT", "read": 1, "inserted": 1}])
    assert receiver.messages == []


def test_missing_or_failing_webhook_never_raises(monkeypatch, caplog):
    monkeypatch.delenv("AIRFLOW_CONN_BC_SYNC_ALERTS", raising=False)
    assert send_alert("nobody listens") is False
    broken = Receiver(status=500)
    monkeypatch.setenv("AIRFLOW_CONN_BC_SYNC_ALERTS", json.dumps({"conn_type": "http", "host": broken.url}))
    try:
        assert send_alert("server error") is False
        assert "HTTP 500" in caplog.text
    finally:
        broken.close()
