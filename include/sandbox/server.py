"""Runs the three emulators over HTTPS: in the foreground (``serve``) or in a background thread."""

from __future__ import annotations

import asyncio
import logging
import shutil
import threading
import time
from dataclasses import replace
from pathlib import Path

import uvicorn
import uvloop

from include.sandbox import bc, dataverse, entra
from include.sandbox.certs import ensure_certificates
from include.sandbox.config import SandboxConfig
from include.sandbox.emulator import Emulator
from include.sandbox.tokens import TokenAuthority, load_signing_key

log = logging.getLogger(__name__)

SEEDS = ("demo", "empty")


class Sandbox:
    """The three emulators of one state folder, ready to serve.

    :param seed: ``demo`` (a CRONUS-like company) or ``empty``.
    :param generate: extra generated records per kind, e.g. ``{"items": 100000}``.
    :param reset: wipe the state folder's data first (certificates and keys are kept).
    """

    def __init__(
        self, config: SandboxConfig, *, seed: str = "demo", generate: dict[str, int] | None = None, reset: bool = False
    ):
        if seed not in SEEDS:
            raise ValueError(f"Unknown seed '{seed}'; choose one of {', '.join(SEEDS)}.")
        config.state_dir.mkdir(parents=True, exist_ok=True)
        if reset:
            for data in config.state_dir.glob("*.sqlite*"):
                data.unlink()
        self.config = config
        self.ca_file, self.cert_file, self.key_file = ensure_certificates(config.state_dir, (config.host, "localhost"))
        self.authority = TokenAuthority(
            load_signing_key(config.state_dir), config.tenant_id, config.token_lifetime_seconds
        )
        generate = dict(generate or {})
        self.emulators: dict[str, Emulator] = {
            "entra": entra.create_emulator(config, self.authority),
            "business_central": bc.create_emulator(config, self.authority, seed=seed, generate=generate),
            "dataverse": dataverse.create_emulator(config, self.authority, seed=seed, generate=generate),
        }
        known = bc.GENERATORS | dataverse.GENERATORS
        unknown = sorted(set(generate) - set(known))
        if unknown:
            raise ValueError(f"Cannot generate {unknown}; known kinds: {', '.join(sorted(known))}.")
        config.write_endpoints()

    @property
    def ports(self) -> dict[str, int]:
        c = self.config
        return {"entra": c.entra_port, "business_central": c.bc_port, "dataverse": c.dataverse_port}

    def servers(self) -> list[uvicorn.Server]:
        servers = []
        for name, emulator in self.emulators.items():
            cfg = uvicorn.Config(
                emulator.app,
                host=self.config.host,
                port=self.ports[name],
                ssl_certfile=str(self.cert_file),
                ssl_keyfile=str(self.key_file),
                log_level="warning",
                access_log=False,
                lifespan="off",
                timeout_keep_alive=30,
                # Idle keep-alive connections of clients must not hold up a stop.
                timeout_graceful_shutdown=2,
            )
            servers.append(uvicorn.Server(cfg))
        return servers

    def close(self) -> None:
        for emulator in self.emulators.values():
            emulator.close()


async def _serve_all(servers: list[uvicorn.Server]) -> None:
    await asyncio.gather(*(s.serve() for s in servers))


def _run(servers: list[uvicorn.Server]) -> None:
    """Serve on uvloop: its TLS transport moves large pages several times faster than asyncio's."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_serve_all(servers))


def serve(sandbox: Sandbox) -> None:
    """Serve until interrupted (Ctrl-C)."""
    c = sandbox.config
    print(f"Business Central  {c.bc_api_root}/api/v2.0/companies", flush=True)
    print(f"Dataverse         {c.dataverse_url}/api/data/v9.2/", flush=True)
    print(f"Entra ID          {c.authority}/oauth2/v2.0/token", flush=True)
    print(f"Endpoints file    {(c.state_dir / 'endpoints.json').resolve()}", flush=True)
    print("Press Ctrl-C to stop.", flush=True)
    try:
        _run(sandbox.servers())
    finally:
        sandbox.close()


class SandboxThread:
    """The sandbox served from a background thread, for tests, benchmarks and the demo.

    Use as a context manager; ``config`` holds the actual ports.
    """

    def __init__(self, config: SandboxConfig, **kwargs):
        self.sandbox = Sandbox(config, **kwargs)
        self.config = config
        self._servers = self.sandbox.servers()
        self._thread = threading.Thread(target=_run, args=(self._servers,), daemon=True, name="sandbox")

    def __enter__(self) -> SandboxThread:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not all(s.started for s in self._servers):
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("The sandbox did not start; is one of its ports in use?")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        for s in self._servers:
            # Forced: the owner is done with it, and idle keep-alive TLS connections of its clients
            # (which never answer the close) would otherwise hold each server up for its timeout.
            s.should_exit = s.force_exit = True
        self._thread.join(timeout=10)
        self.sandbox.close()

    @property
    def emulators(self) -> dict[str, Emulator]:
        return self.sandbox.emulators


def free_port_config(state_dir: Path, **overrides) -> SandboxConfig:
    """A config on three free ports (tests run beside a sandbox a user may have started)."""
    import socket

    ports = []
    sockets = []
    for _ in range(3):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
        ports.append(s.getsockname()[1])
    for s in sockets:
        s.close()
    return replace(
        SandboxConfig(state_dir=state_dir), bc_port=ports[0], dataverse_port=ports[1], entra_port=ports[2], **overrides
    )


def wipe(state_dir: Path) -> None:
    shutil.rmtree(state_dir, ignore_errors=True)
