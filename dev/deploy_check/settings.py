"""The deployment's ``airflow_settings.yaml``: the project's own file, pointed at the sandbox the check started.

The connections keep every setting of the project's file; only what this deployment changes is changed:

- the sandbox's URLs (hosts, ports and the token authority) replace the default ones;
- ``ca_bundle`` holds the sandbox CA's PEM text instead of a path, so no task depends on a file only one
  machine has (a worker elsewhere gets the CA from the connection);
- ``bc_sync_state`` is the deployment's PostgreSQL database instead of a SQLite file: every worker shares it,
  with its mapping locks.

They are imported into the metadata database (``airflow connections import``), never given as
``AIRFLOW_CONN_*`` variables, which would shadow what the database holds.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from dev.deploy_check.config import PROJECT_ROOT, Deployment
from include.sandbox.config import SandboxConfig

PROJECT_SETTINGS = PROJECT_ROOT / "airflow_settings.yaml"


def sandbox_config(deployment: Deployment) -> SandboxConfig:
    p = deployment.ports
    return SandboxConfig(state_dir=deployment.sandbox_dir, bc_port=p.bc, dataverse_port=p.dataverse, entra_port=p.entra)


def deployment_settings(deployment: Deployment, ca_pem: str, source: Path = PROJECT_SETTINGS) -> dict[str, Any]:
    """The project's settings file with the deployment's endpoints (see the module docstring)."""
    data = copy.deepcopy(yaml.safe_load(source.read_text()))
    default, started = SandboxConfig(), sandbox_config(deployment)
    urls = {
        default.bc_url: started.bc_url,
        default.dataverse_url: started.dataverse_url,
        default.entra_url: started.entra_url,
    }
    connections = []
    for entry in data["airflow"]["connections"]:
        if entry["conn_id"] == "bc_sync_state":
            entry = state_connection(deployment)
        else:
            entry["conn_host"] = urls.get(entry.get("conn_host"), entry.get("conn_host"))
            extra = entry.get("conn_extra") or {}
            if "authority" in extra:
                extra["authority"] = urls.get(extra["authority"], extra["authority"])
            if "ca_bundle" in extra:
                extra["ca_bundle"] = ca_pem
        connections.append(entry)
    data["airflow"]["connections"] = connections
    return data


def state_connection(deployment: Deployment) -> dict[str, Any]:
    url = deployment.admin_url
    entry = {
        "conn_id": "bc_sync_state",
        "conn_type": "postgres",
        "conn_host": url.host or "127.0.0.1",
        "conn_port": url.port or 5432,
        "conn_login": url.username or "postgres",
        "conn_schema": deployment.state_db,
    }
    if url.password:
        entry["conn_password"] = url.password
    return entry


def write_settings(deployment: Deployment, ca_pem: str) -> Path:
    deployment.settings_file.parent.mkdir(parents=True, exist_ok=True)
    deployment.settings_file.write_text(yaml.safe_dump(deployment_settings(deployment, ca_pem), sort_keys=False))
    return deployment.settings_file
