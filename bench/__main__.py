"""``python -m bench [sandbox|sync|memory|import|all]``: run the benchmarks, print a table and save
``bench/results/latest.json``. With no sub-command every benchmark runs at its default sizes.

Examples::

    python -m bench                        # everything, a few minutes on two cores
    python -m bench sandbox --items 100000
    python -m bench sync --items 20000     # plus a tenth of it, to compare the no-change reruns
    python -m bench sync --items 2000 --items 100000
    python -m bench memory --items 5000 --items 25000 --tracemalloc
    python -m bench import --repeat 5
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable

from bench.harness import isolate_airflow
from bench.report import Figure, save, table

BENCHMARKS = ("sandbox", "sync", "memory", "import")


def _size_list(value: str) -> list[int]:
    """``--items 20000`` or ``--items 2000,20000``."""
    out = []
    for part in value.split(","):
        part = part.strip().replace("_", "")
        if not part.isdigit() or int(part) <= 0:
            raise argparse.ArgumentTypeError(f"expected whole numbers above 0, separated by commas, not '{value}'")
        out.append(int(part))
    return out


def _sizes(values: list[list[int]] | None) -> list[int] | None:
    return [n for group in values for n in group] if values else None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    _common(p, False)
    sub = p.add_subparsers(dest="benchmark")
    sandbox = sub.add_parser("sandbox", help="listing and $batch speed of the emulators")
    sandbox.add_argument("--items", type=int, default=100_000, help="generated BC items to list (100,000)")
    sandbox.add_argument("--rows", type=int, default=100_000, help="generated Dataverse rows to list (100,000)")
    sandbox.add_argument("--repeat", type=int, default=3, help="listings per figure; the median counts (3)")
    sync = sub.add_parser("sync", help="requests per record of ITEM-PRODUCT: initial load and reruns")
    sync.add_argument(
        "--items", action="append", type=_size_list, help="items per run; repeat or comma-separate (2000,20000)"
    )
    sync.add_argument("--no-full-rerun", action="store_true", help="skip the full sync with nothing changed")
    memory = sub.add_parser("memory", help="peak memory of an ITEM-PRODUCT initial load at two sizes")
    memory.add_argument(
        "--items", action="append", type=_size_list, help="items per run; repeat or comma-separate (5000,25000)"
    )
    memory.add_argument("--tracemalloc", action="store_true", help="also trace Python allocations (slower)")
    two_way = sub.add_parser("two-way", help="requests of ITEM-PRODUCT both ways: no change, 100 Sales edits")
    two_way.add_argument("--items", type=int, default=2000, help="generated items (2000)")
    imports = sub.add_parser("import", help="time to import each DAG file in a fresh interpreter")
    imports.add_argument("--repeat", type=int, default=5, help="runs per DAG file; the median counts (5)")
    everything = sub.add_parser("all", help="every benchmark at its default sizes (the default)")
    for child in (sandbox, sync, memory, two_way, imports, everything):
        # Accepted after the sub-command too; SUPPRESS keeps a value given before it.
        _common(child, argparse.SUPPRESS)
    return p


def _common(p: argparse.ArgumentParser, default) -> None:
    p.add_argument("-v", "--verbose", action="store_true", default=default, help="keep the sync's INFO log lines")
    p.add_argument(
        "--no-save", action="store_true", default=default, help="print only; leave bench/results/latest.json alone"
    )


def plan(args: argparse.Namespace) -> list[tuple[str, Callable[[], list[Figure]]]]:
    from bench import dag_import, memory, sandbox_speed, sync_load, two_way

    chosen = args.benchmark or "all"
    if chosen == "sandbox":
        return [("sandbox", lambda: sandbox_speed.run(args.items, args.rows, args.repeat))]
    if chosen == "sync":
        sizes = _sizes(args.items)
        return [("sync", lambda: sync_load.run(sizes, full_rerun=not args.no_full_rerun))]
    if chosen == "memory":
        sizes = _sizes(args.items)
        return [("memory", lambda: memory.run(sizes, traced=args.tracemalloc))]
    if chosen == "two-way":
        return [("two-way", lambda: two_way.run(args.items))]
    if chosen == "import":
        return [("import", lambda: dag_import.run(args.repeat))]
    return [
        ("sandbox", sandbox_speed.run),
        ("sync", sync_load.run),
        ("memory", memory.run),
        ("two-way", two_way.run),
        ("import", dag_import.run),
    ]


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    isolate_airflow()
    from bench.logs import quiet

    quiet(logging.INFO if args.verbose else logging.WARNING)
    figures: list[Figure] = []
    ran: list[str] = []
    failed: list[str] = []
    for name, bench in plan(args):
        print(f"Running the {name} benchmark...", flush=True)
        started = time.perf_counter()
        try:
            result = bench()
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            logging.getLogger("bench").exception("The %s benchmark stopped with an error.", name)
            failed.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        quiet(logging.INFO if args.verbose else logging.WARNING)  # imports may have reset the levels
        figures += result
        ran.append(name)
        print(f"  done in {time.perf_counter() - started:.0f} s", flush=True)
    print()
    print(table(figures))
    misses = [f for f in figures if f.passed is False]
    print()
    print(f"{sum(f.passed is True for f in figures)} within budget, {len(misses)} missed", end="")
    print(f"; {len(failed)} benchmark(s) failed to run" if failed else "")
    for line in failed:
        print(f"  {line}")
    if not args.no_save and ran:
        print(f"Saved to {save(figures, ran)}")
    # A missed budget is a figure, not an error; only a benchmark that could not run fails the command.
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
