"""What each emulator hands the sandbox runner: its ASGI app, controls and store."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.types import ASGIApp

from include.sandbox.control import Controls
from include.sandbox.store import Store


@dataclass
class Emulator:
    """One running emulator. ``app`` is already wrapped in the control middleware."""

    name: str
    app: ASGIApp
    controls: Controls
    store: Store | None = None


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
