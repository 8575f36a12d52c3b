"""The Airflow REST API (v2) as the check uses it: a JWT from ``/auth/token``, DAGs, runs, task instances, logs."""

from __future__ import annotations

from typing import Any

import requests

from dev.deploy_check.errors import DeployError

FINISHED = {"success", "failed"}


class AirflowApi:
    """A client of one API server, logged in as ``username``."""

    def __init__(self, base_url: str, username: str, password: str, timeout: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.password = password
        self.timeout = timeout
        self.session = requests.Session()

    # ---------------------------------------------------------------------------------------------- basics

    def login(self) -> None:
        """Get a JWT for the user (the simple auth manager's ``POST /auth/token``)."""
        response = self.session.post(
            f"{self.base_url}/auth/token",
            json={"username": self.username, "password": self.password},
            timeout=self.timeout,
        )
        if response.status_code != 201 and response.status_code != 200:
            raise DeployError("api-server", f"login as {self.username} failed: {response.status_code} {response.text}")
        self.session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.session.request(method, f"{self.base_url}/api/v2{path}", timeout=self.timeout, **kwargs)
        if response.status_code == 401 and "Authorization" in self.session.headers:
            self.login()  # the token expired
            response = self.session.request(method, f"{self.base_url}/api/v2{path}", timeout=self.timeout, **kwargs)
        if not response.ok:
            raise DeployError("api-server", f"{method} /api/v2{path}: {response.status_code} {response.text[:500]}")
        return response.json() if response.content else None

    def health(self) -> dict:
        """``/api/v2/monitor/health``: the metadata database, scheduler, triggerer and DAG processor (no login)."""
        response = requests.get(f"{self.base_url}/api/v2/monitor/health", timeout=5)
        response.raise_for_status()
        return response.json()

    # -------------------------------------------------------------------------------------------------- DAGs

    def dag(self, dag_id: str) -> dict:
        return self.request("GET", f"/dags/{dag_id}")

    def dag_ids(self) -> set[str]:
        return {d["dag_id"] for d in self.request("GET", "/dags", params={"limit": 100})["dags"]}

    def import_errors(self) -> list[dict]:
        return self.request("GET", "/importErrors")["import_errors"]

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.request("PATCH", f"/dags/{dag_id}", json={"is_paused": paused})

    def trigger(self, dag_id: str, conf: dict | None = None, logical_date: str | None = None) -> str:
        """Create a manual run; returns its run id."""
        body = {"logical_date": logical_date, "conf": conf or {}}
        return self.request("POST", f"/dags/{dag_id}/dagRuns", json=body)["dag_run_id"]

    def dag_run(self, dag_id: str, run_id: str) -> dict:
        return self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}")

    def active_runs(self, dag_id: str) -> list[dict]:
        runs = self.request("GET", f"/dags/{dag_id}/dagRuns", params=[("state", "queued"), ("state", "running")])
        return runs["dag_runs"]

    # ----------------------------------------------------------------------------------------- tasks, logs

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100})[
            "task_instances"
        ]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        """The log of one try, as the API server serves it (read from the worker's log, wherever it is)."""
        body = self.request(
            "GET",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
            params={"full_content": "true"},
            headers={"Accept": "application/json"},
        )
        content = body.get("content")
        if isinstance(content, list):  # structured log lines
            return "\n".join(str(line.get("event", line)) if isinstance(line, dict) else str(line) for line in content)
        return str(content)

    def pool(self, name: str) -> dict:
        return self.request("GET", f"/pools/{name}")

    def set_pool_slots(self, name: str, slots: int) -> None:
        pool = self.pool(name)
        body = {"pool": name, "slots": slots, "include_deferred": pool.get("include_deferred", False)}
        self.request("PATCH", f"/pools/{name}", json=body, params={"update_mask": "slots"})
