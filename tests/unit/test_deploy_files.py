"""The deployment files: the Helm values for the official Apache Airflow chart, and the pools against the API limits.

``helm template`` renders the values where helm and the chart are available; everywhere else the keys that matter
are checked here: the executor, the external databases and secrets, the secrets backend, remote logs, and the pools
(which the chart does not manage) created with the slots of ``airflow_settings.yaml``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest
import yaml

from include.bc_sales_sync import settings
from tests.conftest import ROOT

VALUES = ROOT / "deploy" / "helm" / "values.yaml"
# Top-level keys of the chart's values.yaml (chart 1.18, the first for Airflow 3.1+); a key outside them is a typo
# the chart would reject (its values.schema.json allows no others).
CHART_KEYS = {
    "fullnameOverride", "nameOverride", "useStandardNaming", "revisionHistoryLimit", "uid", "gid",
    "securityContext", "securityContexts", "containerLifecycleHooks", "airflowHome", "defaultAirflowRepository",
    "defaultAirflowTag", "defaultAirflowDigest", "airflowVersion", "images", "nodeSelector", "affinity",
    "tolerations", "topologySpreadConstraints", "schedulerName", "labels", "imagePullSecrets", "ingress",
    "networkPolicies", "airflowPodAnnotations", "airflowConfigAnnotations", "airflowLocalSettings", "rbac",
    "executor", "allowPodLaunching", "allowJobLaunching", "env", "volumes", "volumeMounts", "secret",
    "enableBuiltInSecretEnvVars", "priorityClasses", "extraSecrets", "extraConfigMaps", "extraEnv", "extraEnvFrom",
    "data", "fernetKey", "fernetKeySecretName", "fernetKeySecretAnnotations", "apiSecretKey", "apiSecretAnnotations",
    "apiSecretKeySecretName", "jwtSecret", "jwtSecretAnnotations", "jwtSecretName", "webserverSecretKey",
    "webserverSecretAnnotations", "webserverSecretKeySecretName", "kerberos", "workers", "scheduler",
    "createUserJob", "migrateDatabaseJob", "apiServer", "webserver", "triggerer", "dagProcessor", "flower",
    "statsd", "pgbouncer", "redis", "registry", "elasticsearch", "opensearch", "ports", "quotas", "limits",
    "cleanup", "databaseCleanup", "postgresql", "config", "multiNamespaceMode", "podTemplate", "dags", "logs",
}  # fmt: skip
# Business Central allows 5 concurrent requests per user (Dataverse 52): every task of the DAGs holds one slot of
# dataverse_api and sends one request at a time to each service.
BC_CONCURRENT_REQUESTS = 5


@pytest.fixture(scope="module")
def values() -> dict:
    return yaml.safe_load(VALUES.read_text())


def pinned_airflow_version() -> str:
    match = re.search(r"^apache-airflow==(\S+)$", (ROOT / "requirements.txt").read_text(), flags=re.MULTILINE)
    assert match, "requirements.txt pins apache-airflow"
    return match.group(1)


def test_the_values_use_only_keys_of_the_chart(values):
    assert set(values) <= CHART_KEYS, set(values) - CHART_KEYS


def test_kubernetes_executor_on_the_pinned_airflow(values):
    assert values["executor"] == "KubernetesExecutor"
    assert values["airflowVersion"] == pinned_airflow_version()
    assert values["defaultAirflowRepository"] and values["defaultAirflowTag"]
    assert {"name": "PYTHONPATH", "value": "/opt/airflow"} in values["env"]  # dags/ imports include/
    assert values["config"]["core"]["load_examples"] == "False"
    assert values["dagProcessor"]["enabled"] is True and values["triggerer"]["enabled"] is True


def test_external_metadata_database_and_shared_secrets_no_broker(values):
    assert values["postgresql"]["enabled"] is False
    assert values["data"]["metadataSecretName"]
    assert values["redis"]["enabled"] is False  # no Celery with the KubernetesExecutor
    for key in ("fernetKeySecretName", "apiSecretKeySecretName", "jwtSecretName"):
        assert values[key], key
    assert not values.get("fernetKey") and not values.get("jwtSecret")  # never secrets in the values


def test_connections_from_a_secrets_backend_and_logs_that_outlive_the_pods(values):
    config = values["config"]
    assert config["secrets"]["backend"].endswith("AzureKeyVaultBackend")
    kwargs = json.loads(config["secrets"]["backend_kwargs"])
    assert kwargs["connections_prefix"] and kwargs["vault_url"].startswith("https://")
    assert config["logging"]["remote_logging"] == "True"
    assert config["logging"]["remote_base_log_folder"].startswith("wasb")
    assert config["kubernetes_executor"]["delete_worker_pods"] == "True"


def test_the_migration_job_creates_the_pools_of_the_settings_file(values):
    command = " ".join(values["migrateDatabaseJob"]["args"])
    assert "airflow db migrate" in command
    created = {name: int(slots) for name, slots in re.findall(r"airflow pools set (\S+) (\d+) ", command)}
    expected = {name: pool["slots"] for name, pool in settings.pools(settings.read()).items()}
    assert created == expected


def test_the_pools_stay_under_the_api_limits():
    pools = settings.pools(settings.read())
    assert pools["dataverse_api"]["slots"] <= BC_CONCURRENT_REQUESTS
    assert pools["business_central_api"]["slots"] <= BC_CONCURRENT_REQUESTS


def test_helm_template_renders_the_values(tmp_path):
    helm = shutil.which("helm")
    if helm is None:
        pytest.skip("helm is not installed here; the values' keys are checked by the tests above")
    chart = os.environ.get("BC_SYNC_AIRFLOW_CHART", "apache-airflow/airflow")
    done = subprocess.run(
        [helm, "template", "bc-sales-sync", chart, "-f", str(VALUES)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0 and ("not found" in done.stderr or "repo" in done.stderr):
        pytest.skip(f"the chart {chart} is not available to helm here ({done.stderr.strip()[:200]})")
    assert done.returncode == 0, done.stderr
    assert "KubernetesExecutor" in done.stdout


def test_the_readme_documents_the_production_settings():
    readme = (ROOT / "README.md").read_text()
    production = readme.split("## Production", 1)[1].split("\n## ", 1)[0]
    for term in ("CeleryExecutor", "KubernetesExecutor", "bc_sync_state", "dataverse_api", "52", "secrets backend"):
        assert term in production, term
    assert "deploy/helm/values.yaml" in production and "ca_bundle" in production
