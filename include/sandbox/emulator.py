"""What each emulator hands the sandbox runner: its ASGI app, controls and store."""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass

from starlette.types import ASGIApp

from include.sandbox.control import Controls
from include.sandbox.store import Store


@dataclass
class Emulator:
    """One running emulator. ``app`` is already wrapped in the control middleware; ``workers``
    are its threads that use the store outside requests (stopped before the store closes)."""

    name: str
    app: ASGIApp
    controls: Controls
    store: Store | None = None
    workers: tuple[Executor, ...] = ()

    def close(self) -> None:
        for worker in self.workers:
            worker.shutdown(wait=True, cancel_futures=True)
        if self.store is not None:
            self.store.close()


def parse_generate(spec: str | None) -> dict[str, int]:
    """``"items=100000,invoices=20000"`` -> ``{"items": 100000, "invoices": 20000}``."""
    out: dict[str, int] = {}
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        if not sep or not value.strip().isdigit():
            raise ValueError(f"--generate expects name=count pairs separated by commas, got '{part}'.")
        out[name.strip()] = int(value)
    return out
