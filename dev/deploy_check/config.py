"""What the deployment is made of: its folders, ports, databases, secrets and the Airflow settings of each component.

Every setting is an environment variable (``AIRFLOW__SECTION__KEY``), the same way a container platform or the
Helm chart configures Airflow, so nothing is read from an ``airflow.cfg``.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import URL, make_url

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_HOME = PROJECT_ROOT / ".deploy-check"
WORKERS = ("worker1", "worker2")
# The worker's name, for the hostname it reports (see dev.deploy_check.hostname).
WORKER_NAME_ENV = "BC_SYNC_WORKER_NAME"
ADMIN_URL_ENV = "BC_SYNC_DEPLOY_POSTGRES_URL"
REDIS_URL_ENV = "BC_SYNC_DEPLOY_REDIS_URL"


def clean_environ() -> dict[str, str]:
    """This process's environment without any Airflow setting or connection (``AIRFLOW_HOME``, ``AIRFLOW__*``,
    ``AIRFLOW_CONN_*``...) or state store URL: the deployment's components get the deployment's alone."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW") and k != "BC_SYNC_STATE_URL"}


def free_port() -> int:
    """A TCP port nothing listens on now (the kernel's choice)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Ports:
    api: int
    bc: int
    dataverse: int
    entra: int
    trigger_logs: int
    # One log server per worker: two workers on one machine cannot share a port.
    worker_logs: dict[str, int]

    @classmethod
    def pick(cls) -> Ports:
        return cls(
            api=free_port(),
            bc=free_port(),
            dataverse=free_port(),
            entra=free_port(),
            trigger_logs=free_port(),
            worker_logs={name: free_port() for name in WORKERS},
        )


@dataclass(frozen=True)
class Deployment:
    """One deployment of the project, started from scratch by each check.

    :param home: the folder of everything it writes: Airflow home, task and component logs, sandbox state.
    :param admin_url: a PostgreSQL URL that may create and drop databases.
    :param redis_url: the Redis database of the Celery broker (flushed at start).
    """

    home: Path = DEFAULT_HOME
    admin_url: URL = field(
        default_factory=lambda: make_url(os.environ.get(ADMIN_URL_ENV, "postgresql://postgres@127.0.0.1:5432/test"))
    )
    redis_url: str = field(default_factory=lambda: os.environ.get(REDIS_URL_ENV, "redis://127.0.0.1:6379/3"))
    airflow_db: str = "bc_sales_sync_airflow"
    state_db: str = "bc_sales_sync_state"
    username: str = "admin"
    password: str = "deploy-check-admin"
    ports: Ports = field(default_factory=Ports.pick)
    worker_concurrency: int = 2
    # Secrets every component must share: the Fernet key (connection passwords), the JWT secret (task and API
    # tokens, log server requests) and the API secret key.
    fernet_key: str = field(default_factory=lambda: _fernet_key())
    jwt_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    # ------------------------------------------------------------------------------------------------ folders

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"

    @property
    def logs(self) -> Path:
        """Component logs: one file per process started."""
        return self.home / "logs"

    @property
    def task_logs(self) -> Path:
        return self.airflow_home / "logs"

    @property
    def sandbox_dir(self) -> Path:
        return self.home / "sandbox"

    @property
    def settings_file(self) -> Path:
        return self.home / "airflow_settings.yaml"

    # ---------------------------------------------------------------------------------------------- endpoints

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.api}"

    def database_url(self, name: str, driver: str = "postgresql+psycopg2") -> str:
        return self.admin_url.set(drivername=driver, database=name).render_as_string(hide_password=False)

    # ------------------------------------------------------------------------------------------- environments

    def airflow_env(self) -> dict[str, str]:
        """The settings all components share."""
        env = {
            "AIRFLOW_HOME": str(self.airflow_home),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__FERNET_KEY": self.fernet_key,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{self.username}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.passwords_file),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.database_url(self.airflow_db),
            "AIRFLOW__CELERY__BROKER_URL": self.redis_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + self.database_url(self.airflow_db),
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.worker_concurrency),
            "AIRFLOW__API__BASE_URL": self.api_url,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.ports.api),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": self.secret_key,
            "AIRFLOW__API_AUTH__JWT_SECRET": self.jwt_secret,
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.task_logs),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self.ports.trigger_logs),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            # The DAG code is loaded from the project, and the tasks import include/ (and the hostname callable dev/).
            "PYTHONPATH": str(PROJECT_ROOT),
            **FAST_LOOPS,
            **ONLY_TRIGGERED_RUNS,
        }
        return env

    def worker_env(self, name: str) -> dict[str, str]:
        """A Celery worker's settings: its own log server port and the hostname its task instances record."""
        return {
            **self.airflow_env(),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.ports.worker_logs[name]),
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "dev.deploy_check.hostname.worker_hostname",
            WORKER_NAME_ENV: name,
        }

    @property
    def passwords_file(self) -> Path:
        return self.airflow_home / "simple_auth_manager_passwords.json"

    def write_passwords_file(self) -> None:
        """The simple auth manager's user and password, known beforehand (it generates none when present)."""
        self.passwords_file.parent.mkdir(parents=True, exist_ok=True)
        self.passwords_file.write_text(json.dumps({self.username: self.password}) + "\n")


# Shorter scheduler and DAG processor loops than the defaults, which are tuned for many DAGs: a task
# starts within a second or two of its upstream's end, and a new DAG file is seen within seconds.
FAST_LOOPS = {
    "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
    "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
    "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "2",
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
    "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
    "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
    "AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": "300",
    "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
    "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
}


# The check triggers every run itself: a scheduled run, started when a round crosses :00 or :30 while
# its DAG is unpaused, would hold mapping locks for a run the check does not know of.
ONLY_TRIGGERED_RUNS = {"AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False"}


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()
