"""The hostname a Celery worker's task instances record (``[core] hostname_callable``).

Both workers of the check run on one machine, whose name alone would not tell them apart: each reports
``<worker name>.<machine name>``. On real hosts the default (the machine's FQDN) is right, and it must be a
name the API server can reach, since it fetches running tasks' logs from ``http://<hostname>:<log port>``.
"""

from __future__ import annotations

import os
import socket

from dev.deploy_check.config import WORKER_NAME_ENV


def worker_hostname() -> str:
    name = os.environ.get(WORKER_NAME_ENV)
    machine = socket.getfqdn()
    return f"{name}.{machine}" if name else machine
