"""``memory``: the peak memory of an ITEM-PRODUCT initial load stays flat as the data grows.

For each size, a private sandbox with that many generated items serves from this process; the
sync job runs in a child process (:mod:`bench.memory_child`), whose peak resident memory
(``VmHWM``, the high-water mark of its own address space) is the sync client's alone. Optionally ``tracemalloc`` also reports the
peak of Python allocations during the run (numpy and pandas buffers included).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.harness import bench_sandbox, open_state, run_job
from bench.report import Figure, within

ROOT = Path(__file__).resolve().parent.parent
MAPPING = "ITEM-PRODUCT"
DEFAULT_SIZES = (5000, 25000)
MIB = 1024 * 1024
# "Flat": the peak may grow by at most this share of the smallest size's run-time growth,
# plus a small allowance for allocator noise.
FLAT_FACTOR = 1.25
NOISE_MIB = 16.0


def measure(items: int, *, traced: bool = False) -> dict:
    """The child's memory figures for an initial load of ``items`` generated items."""
    with bench_sandbox({"items": items}) as sandbox:
        state = open_state(sandbox.workdir)
        try:
            run_job(sandbox, state, "UNIT OF MEASURE")
        finally:
            state.close()
        command = [
            sys.executable,
            "-m",
            "bench.memory_child",
            "--state",
            f"sqlite:///{sandbox.workdir / 'state.db'}",
            "--mapping",
            MAPPING,
            "--currency",
            sandbox.config.local_currency,
        ]
        if traced:
            command.append("--tracemalloc")
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=3600)
        if done.returncode != 0:
            raise RuntimeError(f"The memory run of {items:,} items failed:\n{done.stderr[-4000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
    result["items"] = items
    return result


def figures(results: list[dict]) -> list[Figure]:
    out: list[Figure] = []
    for r in results:
        n = f"{r['items']:,} items"
        grown = (r["maxrss"] - r["baseline_rss"]) / MIB
        synced = r["summary"]["inserted"] + r["summary"]["modified"]
        out += [
            Figure("memory", f"initial load, {n}: peak resident memory (child)", round(r["maxrss"] / MIB, 1),
                   "MiB", detail={"records_synced": synced, "seconds": round(r["seconds"], 2),
                                  "requests": r["requests"]}),
            Figure("memory", f"initial load, {n}: peak above the imported baseline", round(grown, 1), "MiB",
                   detail={"baseline_rss_mib": round(r["baseline_rss"] / MIB, 1)}),
        ]  # fmt: skip
        if r.get("tracemalloc_peak") is not None:
            out.append(
                Figure(
                    "memory",
                    f"initial load, {n}: peak of traced Python allocations",
                    round(r["tracemalloc_peak"] / MIB, 1),
                    "MiB",
                )
            )
    if len(results) >= 2:
        small, large = results[0], results[-1]
        grown_small = (small["maxrss"] - small["baseline_rss"]) / MIB
        grown_large = (large["maxrss"] - large["baseline_rss"]) / MIB
        limit = grown_small * FLAT_FACTOR + NOISE_MIB
        ratio = large["items"] / small["items"]
        out.append(
            Figure(
                "memory",
                f"peak above baseline at {large['items']:,} vs {small['items']:,} items ({ratio:g}x the data)",
                round(grown_large, 1),
                "MiB",
                f"<= {limit:.0f} MiB ({FLAT_FACTOR:g}x + {NOISE_MIB:g})",
                within(grown_large, limit),
                detail={"small_mib": round(grown_small, 1), "large_mib": round(grown_large, 1)},
            )
        )
        if small.get("tracemalloc_peak") is not None and large.get("tracemalloc_peak") is not None:
            t_small, t_large = small["tracemalloc_peak"] / MIB, large["tracemalloc_peak"] / MIB
            limit = t_small * FLAT_FACTOR + NOISE_MIB
            out.append(
                Figure(
                    "memory",
                    f"traced peak at {large['items']:,} vs {small['items']:,} items",
                    round(t_large, 1),
                    "MiB",
                    f"<= {limit:.0f} MiB ({FLAT_FACTOR:g}x + {NOISE_MIB:g})",
                    within(t_large, limit),
                    detail={"small_mib": round(t_small, 1), "large_mib": round(t_large, 1)},
                )
            )
    return out


def run(sizes: list[int] | None = None, *, traced: bool = False) -> list[Figure]:
    """Measure each size (smallest first) and return the figures."""
    return figures([measure(n, traced=traced) for n in sorted(set(sizes or DEFAULT_SIZES))])
