"""What every benchmark needs: a private sandbox, Airflow connections to it, request statistics,
tokens, and one sync job run with fresh hooks.

Each benchmark starts its own sandbox on free ports in a temporary folder, so it never touches a
sandbox a user is running, and removes the folder when it is done.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

BC_CONN_ID = "business_central_default"
DATAVERSE_CONN_ID = "dataverse_default"
PAGE_SIZE = 5000


def isolate_airflow() -> None:
    """Point Airflow at a throwaway home before it is first imported, so a benchmark never reads or
    writes the user's Airflow configuration; connections then come only from ``AIRFLOW_CONN_*``."""
    if "airflow" in sys.modules:
        return
    home = tempfile.mkdtemp(prefix="bc-sales-sync-bench-airflow-")
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    os.environ["AIRFLOW_HOME"] = home
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"


def connection_env(config) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` values for the two hooks, pointing at the sandbox ``config``."""
    common = {"conn_type": "http", "login": config.client_id, "password": config.client_secret}
    extra = {
        "tenant_id": config.tenant_id,
        "authority": config.entra_url,
        "ca_bundle": str(config.ca_file),
        "page_size": PAGE_SIZE,
    }
    bc = {
        **common,
        "host": config.bc_url,
        "extra": json.dumps(
            {
                **extra,
                "environment": config.bc_environment,
                "company_id": config.company_id,
                "company_name": config.company_name,
                "scope": f"{config.bc_resource}/.default",
            }
        ),
    }
    dataverse = {**common, "host": config.dataverse_url, "extra": json.dumps(extra)}
    return {
        "AIRFLOW_CONN_" + BC_CONN_ID.upper(): json.dumps(bc),
        "AIRFLOW_CONN_" + DATAVERSE_CONN_ID.upper(): json.dumps(dataverse),
    }


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the block and restore the previous values after it."""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass
class BenchSandbox:
    """A running private sandbox: ``config`` has its URLs, ``started_in`` the seconds it took to
    build its data (generation included) and start serving."""

    running: Any
    workdir: Path
    started_in: float

    @property
    def config(self):
        return self.running.config

    @property
    def ca(self) -> str:
        return str(self.config.ca_file)

    def url(self, emulator: str) -> str:
        c = self.config
        return {"bc": c.bc_url, "dataverse": c.dataverse_url, "entra": c.entra_url}[emulator]

    def stats(self, emulator: str) -> dict:
        """``GET /_sandbox/stats`` of ``bc``, ``dataverse`` or ``entra``."""
        response = requests.get(f"{self.url(emulator)}/_sandbox/stats", verify=self.ca, timeout=30)
        response.raise_for_status()
        return response.json()

    def clear_stats(self) -> None:
        for emulator in ("bc", "dataverse", "entra"):
            requests.delete(f"{self.url(emulator)}/_sandbox/stats", verify=self.ca, timeout=30).raise_for_status()

    def token(self, resource: str) -> str:
        """A bearer token for ``resource`` from the Entra ID emulator (client credentials)."""
        c = self.config
        response = requests.post(
            f"{c.authority}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": c.client_id,
                "client_secret": c.client_secret,
                "scope": f"{resource}/.default",
            },
            verify=self.ca,
            timeout=30,
        )
        response.raise_for_status()
        return response.json()["access_token"]


class SandboxProcess:
    """``python -m include.sandbox serve`` in a process of its own, as ``make sandbox`` runs it.

    Use as a context manager; it returns once all three emulators accept connections.
    """

    def __init__(self, config, *, seed: str, generate: dict[str, int], timeout: float = 300):
        self.config = config
        self.timeout = timeout
        generated = ",".join(f"{kind}={n}" for kind, n in generate.items())
        self.command = [
            sys.executable,
            "-m",
            "include.sandbox",
            "serve",
            f"--state-dir={config.state_dir}",
            f"--seed={seed}",
            f"--generate={generated}",
            f"--bc-port={config.bc_port}",
            f"--dataverse-port={config.dataverse_port}",
            f"--entra-port={config.entra_port}",
        ]
        self.log = config.state_dir.parent / "sandbox.log"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> SandboxProcess:
        root = Path(__file__).resolve().parent.parent
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(self.command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.timeout
        ports = (self.config.bc_port, self.config.dataverse_port, self.config.entra_port)
        while not all(_accepts(self.config.host, port) for port in ports):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError(f"The sandbox process did not start; see its log:\n{self.log.read_text()[-2000:]}")
            time.sleep(0.1)
        return self

    def __exit__(self, *exc) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _accepts(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


@contextlib.contextmanager
def bench_sandbox(
    generate: dict[str, int] | None = None, *, seed: str = "empty", process: bool = False
) -> Iterator[BenchSandbox]:
    """Serve a private sandbox with ``generate`` records, with the hooks' connections pointing at it.

    :param generate: generated records per kind, e.g. ``{"items": 20000}``.
    :param seed: ``empty`` (default) or ``demo``.
    :param process: serve from a process of its own (as ``make sandbox`` does) instead of a
        thread of the benchmark's process, where it competes with the client for the GIL.
    """
    isolate_airflow()
    from include.sandbox.server import SandboxThread, free_port_config

    workdir = Path(tempfile.mkdtemp(prefix="bc-sales-sync-bench-"))
    try:
        config = free_port_config(workdir / "sandbox")
        kind = SandboxProcess if process else SandboxThread
        started = time.perf_counter()
        with kind(config, seed=seed, generate=dict(generate or {})) as running:
            bench = BenchSandbox(running, workdir, time.perf_counter() - started)
            with environment(connection_env(config)):
                yield bench
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def generator_kinds() -> dict[str, frozenset[str]]:
    """The record kinds each emulator can generate (``Sandbox(generate=...)``)."""
    from include.sandbox import bc, dataverse

    return {"bc": frozenset(bc.GENERATORS), "dataverse": frozenset(dataverse.GENERATORS)}


# ---------------------------------------------------------------------------------------------- sync jobs


@dataclass
class JobRun:
    """One sync job run and what it cost.

    :param summary: the engine's :class:`~include.bc_sales_sync.jobs.RunSummary` as a dict.
    :param seconds: wall-clock time of the run.
    :param hook_requests: requests the hooks sent, by service (``request_count``).
    :param token_requests: token requests the hooks sent to Entra ID.
    :param sandbox: ``/_sandbox/stats`` of BC and Dataverse read right after the run (cleared before it).
    :param request_seconds: the part of ``seconds`` spent inside the hooks' requests.
    :param request_times: ``"dataverse POST"`` -> (requests, seconds) of those requests.
    """

    mapping: str
    window: str
    summary: dict[str, Any]
    seconds: float
    hook_requests: dict[str, int]
    token_requests: int
    sandbox: dict[str, dict] = field(default_factory=dict)
    request_seconds: float = 0.0
    request_times: dict[str, tuple[int, float]] = field(default_factory=dict)

    @property
    def records(self) -> int:
        """Records that reached Sales (a product with its price list item is one record)."""
        return int(self.summary["inserted"]) + int(self.summary["modified"])

    @property
    def requests(self) -> int:
        """HTTP requests to Business Central and Dataverse, reads included, as the sandbox counted them."""
        return sum(int(s.get("total", 0)) for s in self.sandbox.values())

    @property
    def hook_total(self) -> int:
        return sum(self.hook_requests.values())

    def breakdown(self) -> dict[str, Any]:
        """Where the requests went: per service, method and entity, and the operations inside ``$batch``."""
        out: dict[str, Any] = {}
        for name, stats in self.sandbox.items():
            out[name] = {
                "total": stats.get("total"),
                "by_method": stats.get("by_method"),
                "by_entity": stats.get("by_entity"),
                "batch_operations_total": stats.get("batch_operations_total"),
            }
        return out


def incremental_window(state, mapping: str):
    """The window a scheduled run of ``mapping`` reads: from the watermark less the operator's overlap."""
    from include.bc_sales_sync.jobs import choose_window

    return choose_window(state.watermark(mapping))


def build_job(state, mapping: str, *, local_currency: str, full_sync: bool = False, page_size: int = PAGE_SIZE):
    """An :class:`~include.bc_sales_sync.sync.job.EntitySyncJob` for ``mapping`` with new hooks, and
    a call that runs it once on the job skeleton, as the operator does.

    The local currency is given as a mapping option (a documented override), so the run does not
    depend on the emulator serving ``companyInformation``.

    :returns: ``(job, run)``; ``run()`` returns the run's summary.
    """
    from include.bc_sales_sync.hooks import BusinessCentralHook, DataverseHook
    from include.bc_sales_sync.jobs import RunOptions, Window, run_job
    from include.bc_sales_sync.mappings.registry import default_mappings
    from include.bc_sales_sync.sync.job import EntitySyncJob

    window = Window(kind="full") if full_sync else incremental_window(state, mapping)
    job = EntitySyncJob(
        default_mappings()[mapping].with_overrides({"options": {"local_currency_code": local_currency}}),
        BusinessCentralHook(BC_CONN_ID),
        DataverseHook(DATAVERSE_CONN_ID),
    )
    options = RunOptions(full_sync=full_sync, page_size=page_size, run_id="bench")
    return job, lambda: run_job(job, state, options, window)


class RequestTimer:
    """Adds up the time the hooks spend in :meth:`request` (sending, the service working, reading
    the response), per service and method, so a run's time splits into waiting for the services
    and working in the client."""

    def __init__(self, **hooks):
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        for name, hook in hooks.items():
            hook.request = self._wrap(name, hook.request)

    @property
    def total(self) -> float:
        return sum(self.seconds.values())

    def _wrap(self, service: str, request):
        def timed(method: str, *args, **kwargs):
            key = f"{service} {method.upper()}"
            started = time.perf_counter()
            try:
                return request(method, *args, **kwargs)
            finally:
                self.seconds[key] = self.seconds.get(key, 0.0) + time.perf_counter() - started
                self.calls[key] = self.calls.get(key, 0) + 1

        return timed


def run_job(
    sandbox: BenchSandbox, state, mapping: str, *, full_sync: bool = False, page_size: int = PAGE_SIZE
) -> JobRun:
    """Run ``mapping`` once with new hooks, as the operator would, and count its requests.

    :param sandbox: the running sandbox (its statistics are cleared first).
    :param state: the :class:`~include.bc_sales_sync.state.StateStore`.
    :param mapping: the mapping name, e.g. ``ITEM-PRODUCT``.
    :param full_sync: ignore the watermark and read every record.
    :param page_size: records per page read from Business Central.
    """
    job, run = build_job(
        state, mapping, local_currency=sandbox.config.local_currency, full_sync=full_sync, page_size=page_size
    )
    bc, dataverse = job.bc, job.dataverse
    timer = RequestTimer(bc=bc, dataverse=dataverse)
    sandbox.clear_stats()
    started = time.perf_counter()
    try:
        summary = run()
    finally:
        seconds = time.perf_counter() - started
        tokens = sum(_token_requests(h) for h in (bc, dataverse))
        bc.close()
        dataverse.close()
    return JobRun(
        mapping=mapping,
        window=summary.window,
        summary=summary.as_dict(),
        seconds=seconds,
        hook_requests={"bc": bc.request_count, "dataverse": dataverse.request_count},
        token_requests=tokens,
        sandbox={"bc": sandbox.stats("bc"), "dataverse": sandbox.stats("dataverse")},
        request_seconds=timer.total,
        request_times={k: (timer.calls[k], round(v, 4)) for k, v in timer.seconds.items()},
    )


def _token_requests(hook) -> int:
    provider = hook._token_provider  # not created when the hook sent nothing
    return provider.token_request_count if provider is not None else 0


def open_state(workdir: Path, name: str = "state"):
    """A new SQLite state store in ``workdir``."""
    from include.bc_sales_sync.state import StateStore

    return StateStore(f"sqlite:///{workdir / f'{name}.db'}")
