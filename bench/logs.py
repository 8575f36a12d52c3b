"""Keeps the benchmarks' output to their tables: the sync's per-page and per-batch log lines are
useful in a task log, not between benchmark figures."""

from __future__ import annotations

import logging

NOISY = ("include", "alembic", "odata_query", "httpx", "uvicorn", "airflow", "msal", "urllib3")


def quiet(level: int = logging.WARNING) -> None:
    """Log only warnings and errors of the project and its libraries (``-v`` keeps INFO)."""
    for name in NOISY:
        logging.getLogger(name).setLevel(level)
    # The OData parser warns about every column it cannot type; that says nothing about speed.
    logging.getLogger("odata_query").setLevel(max(level, logging.ERROR))
