"""The machine's PostgreSQL and Redis: started when they are down, and the deployment's databases made anew.

Both are services of the machine, not of the check: a server this module starts keeps running afterwards, like
the one it found running.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg2
from sqlalchemy.engine import URL

from dev.deploy_check.errors import DeployError


def _postgres_problem(admin_url: URL) -> str | None:
    """``None`` when the server answers, else why not."""
    try:
        psycopg2.connect(_dsn(admin_url), connect_timeout=5).close()
        return None
    except psycopg2.OperationalError as exc:
        return str(exc).strip().splitlines()[0]


def _dsn(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def start_postgres() -> str:
    """Start the machine's newest PostgreSQL cluster; returns what happened."""
    versions = sorted(p.name for p in Path("/etc/postgresql").glob("*")) if Path("/etc/postgresql").is_dir() else []
    if versions and shutil.which("pg_ctlcluster"):
        command = ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"]
    elif shutil.which("service"):
        command = ["service", "postgresql", "start"]
    else:
        return "no PostgreSQL cluster is installed here (no /etc/postgresql, no service command)"
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{' '.join(command)} failed: {exc}"
    return f"{' '.join(command)} exited with {done.returncode} {(done.stderr or done.stdout).strip()[:300]}".strip()


def ensure_postgres(admin_url: URL) -> str | None:
    """Make sure PostgreSQL answers at ``admin_url``, starting it when it is down.

    :return: what was done to start it (``None``: it was running).
    :raises DeployError: it is down and could not be started.
    """
    problem = _postgres_problem(admin_url)
    if problem is None:
        return None
    started = start_postgres()
    for _ in range(15):
        if _postgres_problem(admin_url) is None:
            return started
        time.sleep(1)
    raise DeployError(
        "PostgreSQL",
        f"not reachable at {admin_url.host}:{admin_url.port} ({problem}) and could not be started: {started}",
    )


def _redis_problem(url: str) -> str | None:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
        return None
    except redis.RedisError as exc:
        return str(exc)


def ensure_redis(url: str) -> str | None:
    """Make sure Redis answers at ``url``, starting a server (``redis-server --daemonize yes``) when it is down.

    :return: what was done to start it (``None``: it was running).
    :raises DeployError: it is down and could not be started.
    """
    problem = _redis_problem(url)
    if problem is None:
        return None
    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost") or not shutil.which("redis-server"):
        raise DeployError("Redis", f"not reachable at {parts.hostname}:{parts.port} ({problem}); start it")
    command = ["redis-server", "--daemonize", "yes", "--port", str(parts.port or 6379), "--save", "", "--bind"]
    command.append("127.0.0.1")
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    for _ in range(15):
        if _redis_problem(url) is None:
            return f"{' '.join(command)} (exit {done.returncode})"
        time.sleep(1)
    raise DeployError(
        "Redis",
        f"not reachable at {parts.hostname}:{parts.port} ({problem}); {' '.join(command)} "
        f"exited with {done.returncode}: {(done.stderr or done.stdout).strip()[:300]}",
    )


def recreate_database(admin_url: URL, name: str) -> None:
    """Drop the database ``name`` (closing its sessions) and create it empty."""
    connection = psycopg2.connect(_dsn(admin_url), connect_timeout=10)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{name}"')
    except psycopg2.Error as exc:
        raise DeployError("PostgreSQL", f"cannot recreate database {name}: {exc}") from exc
    finally:
        connection.close()


def flush_redis(url: str) -> None:
    """Empty the broker's Redis database: no message of an earlier check is delivered to this one."""
    import redis

    redis.Redis.from_url(url).flushdb()
