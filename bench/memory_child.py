"""One sync job in a process of its own, for the ``memory`` benchmark: prints its peak memory as JSON.

Run by :mod:`bench.memory` with the connections in ``AIRFLOW_CONN_*``; the sandbox lives in the
parent, so the figures are the sync client's alone::

    python -m bench.memory_child --state sqlite:///state.db --mapping ITEM-PRODUCT --currency USD
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import resource
import sys
import time
import tracemalloc

import psutil


def peak_rss() -> int:
    """This process's peak resident memory in bytes.

    ``VmHWM`` where Linux has it: ``getrusage``'s maxrss keeps the parent's resident size from
    before ``exec``, which would count the benchmark process (and its sandbox) as the child's.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory_child", description=__doc__)
    parser.add_argument("--state", required=True, help="the state store URL")
    parser.add_argument("--mapping", default="ITEM-PRODUCT")
    parser.add_argument("--currency", default="USD", help="the local currency code (a mapping option)")
    parser.add_argument("--page-size", type=int, default=5000)
    parser.add_argument("--tracemalloc", action="store_true", help="also trace Python allocations (slower)")
    args = parser.parse_args(argv)

    # Everything the run imports is loaded before the baseline, so the figures are the run's own.
    import pandas  # noqa: F401

    from bench.harness import build_job
    from bench.logs import quiet
    from include.bc_sales_sync.state import StateStore

    quiet()
    state = StateStore(args.state)
    job, run = build_job(state, args.mapping, local_currency=args.currency, page_size=args.page_size)
    gc.collect()
    process = psutil.Process()
    baseline_rss = process.memory_info().rss
    baseline_maxrss = peak_rss()
    if args.tracemalloc:
        tracemalloc.start()
    started = time.perf_counter()
    summary = run()
    seconds = time.perf_counter() - started
    traced_peak = tracemalloc.get_traced_memory()[1] if args.tracemalloc else None
    if args.tracemalloc:
        tracemalloc.stop()
    result = {
        "summary": summary.as_dict(),
        "seconds": seconds,
        "baseline_rss": baseline_rss,
        "baseline_maxrss": baseline_maxrss,
        "maxrss": peak_rss(),
        "tracemalloc_peak": traced_peak,
        "requests": {"bc": job.bc.request_count, "dataverse": job.dataverse.request_count},
    }
    state.close()
    logging.shutdown()
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
