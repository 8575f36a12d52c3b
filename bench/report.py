"""Benchmark figures: one :class:`Figure` per measured number, printed as a table and saved as JSON."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"
LATEST = RESULTS_DIR / "latest.json"


@dataclass
class Figure:
    """One measured number and the budget it is held against.

    :param benchmark: the benchmark that measured it (``sandbox``, ``sync``, ``memory``, ``import``).
    :param name: what was measured, e.g. ``ITEM-PRODUCT initial load, 20000 items: requests per record``.
    :param value: the figure.
    :param unit: its unit, e.g. ``s``, ``requests``, ``MiB``.
    :param budget: the budget in words, e.g. ``<= 0.004 (1 per 250 records)``; empty for context figures.
    :param passed: whether the figure meets the budget; ``None`` when there is no budget.
    :param detail: extra numbers (request breakdowns, sizes) kept in the JSON only.
    """

    benchmark: str
    name: str
    value: float
    unit: str
    budget: str = ""
    passed: bool | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        return {True: "pass", False: "MISS", None: ""}[self.passed]


def within(value: float, limit: float) -> bool:
    """``value <= limit``; the verdicts never raise, a miss is only reported."""
    return value <= limit


def format_value(value: float, unit: str) -> str:
    if isinstance(value, int) or (float(value).is_integer() and abs(value) >= 10):
        text = f"{int(value):,}"
    elif abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    elif abs(value) >= 1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".rstrip()


def table(figures: Iterable[Figure]) -> str:
    """A plain-text table: benchmark, figure, value, budget, verdict."""
    rows = [("benchmark", "figure", "value", "budget", "")]
    rows += [(f.benchmark, f.name, format_value(f.value, f.unit), f.budget, f.verdict) for f in figures]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        # Other work on the machine slows the timings (not the request counts): keep it on record.
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }


def save(figures: list[Figure], ran: Iterable[str], path: Path = LATEST) -> Path:
    """Write the figures to ``path``.

    Figures of benchmarks that did not run this time are kept from the previous file, so running
    one benchmark refreshes its own entries only; each entry carries the time it was measured.
    """
    now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    ran = set(ran)
    kept: list[dict[str, Any]] = []
    if path.exists():
        try:
            previous = json.loads(path.read_text())
            kept = [e for e in previous.get("figures", []) if e.get("benchmark") not in ran]
        except (ValueError, AttributeError):
            kept = []
    entries = kept + [{**asdict(f), "verdict": f.verdict or None, "measured_at": now} for f in figures]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"written_at": now, "machine": machine(), "figures": entries}, indent=2) + "\n")
    return path
