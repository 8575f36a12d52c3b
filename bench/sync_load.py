"""``sync``: HTTP requests per record of the ITEM-PRODUCT job, on an initial load and on reruns.

For each size N: a private sandbox with N generated items, UNIT OF MEASURE first (its units are
what products refer to), then ITEM-PRODUCT three times: the initial load, a scheduled rerun with
nothing changed (the operator's window: watermark less its overlap) and a full sync with nothing
changed. Requests are counted by the sandbox (``/_sandbox/stats`` of BC and Dataverse, reads
included) and by the hooks (``request_count``); both must agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.harness import BC_CONN_ID, PAGE_SIZE, JobRun, bench_sandbox, open_state, run_job
from bench.report import Figure, within
from bench.sandbox_speed import BATCH_BUDGET_SECONDS

MAPPING = "ITEM-PRODUCT"
# DESIGN §5: at most one request per 250 records on an initial load.
RECORDS_PER_REQUEST = 250
DEFAULT_SIZES = (2000, 20000)


@dataclass
class SyncMeasurement:
    """The runs of one size. ``full`` is the full sync with nothing changed (absent when skipped)."""

    items: int
    sandbox_seconds: float
    units: JobRun
    initial: JobRun
    rerun: JobRun
    full: JobRun | None
    unblocked: int = 0  # the items BC synchronizes: not blocked (its table filter)

    def record_at_a_time(self) -> int:
        """Requests a record-at-a-time client needs for the initial load: one read per page,
        one write per product and one per price list item."""
        records = self.initial.records
        return math.ceil(records / PAGE_SIZE) + 2 * records


def measure(items: int, *, full_rerun: bool = True) -> SyncMeasurement:
    """Run the initial load and the reruns of ITEM-PRODUCT on a private sandbox with ``items`` items.

    :param items: generated Business Central items.
    :param full_rerun: also run a full sync with nothing changed.
    """
    with bench_sandbox({"items": items}) as sandbox:
        unblocked = count_unblocked_items()
        state = open_state(sandbox.workdir)
        try:
            units = run_job(sandbox, state, "UNIT OF MEASURE")
            initial = run_job(sandbox, state, MAPPING)
            rerun = run_job(sandbox, state, MAPPING)
            full = run_job(sandbox, state, MAPPING, full_sync=True) if full_rerun else None
        finally:
            state.close()
        return SyncMeasurement(items, sandbox.started_in, units, initial, rerun, full, unblocked)


def count_unblocked_items() -> int:
    """The generated items that are not blocked (the generator blocks about one in a hundred)."""
    from include.bc_sales_sync.hooks import BusinessCentralHook

    hook = BusinessCentralHook(BC_CONN_ID)
    try:
        pages = hook.iter_pages("ItemCard", select=["No"], filter="Blocked eq false", web_service=True)
        return sum(len(page) for page in pages)
    finally:
        hook.close()


def sizes_with_comparison(sizes: list[int]) -> list[int]:
    """The sizes to run: the no-change rerun is compared across at least two sizes, so a single
    size gets a tenth of it beside it (twice it below 3,000)."""
    sizes = sorted(set(sizes))
    if len(sizes) == 1:
        n = sizes[0]
        sizes = sorted({n, n // 10 if n >= 3000 else n * 2})
    return sizes


def _sync(name: str, value: float, unit: str, budget: str = "", passed: bool | None = None, **detail) -> Figure:
    return Figure("sync", name, value, unit, budget, passed, detail=detail)


def size_figures(m: SyncMeasurement) -> list[Figure]:
    """The figures of one size: initial load, its request count against the budget and the
    record-at-a-time reference, and the reruns with nothing changed."""
    limit = 1 / RECORDS_PER_REQUEST
    i, n = m.initial, f"{m.items:,} items"
    per_record = i.requests / max(i.records, 1)
    reference = m.record_at_a_time()
    out = [
        _sync(
            f"initial load, {n}: records synced",
            i.records,
            "records",
            f"= {m.unblocked:,} (not blocked), 0 failed",
            i.records == m.unblocked and i.summary["failed"] == 0,
            **i.summary,
        ),
        _sync(
            f"initial load, {n}: throughput",
            round(i.records / max(i.seconds, 1e-9), 1),
            "records/s",
            seconds=round(i.seconds, 3),
            in_requests_seconds=round(i.request_seconds, 3),
            in_client_seconds=round(i.seconds - i.request_seconds, 3),
            requests_by_kind=i.request_times,
        ),
        _sync(
            f"initial load, {n}: HTTP requests (BC + Dataverse, reads included)",
            i.requests,
            "requests",
            **i.breakdown(),
            hook_request_count=i.hook_requests,
            token_requests=i.token_requests,
        ),
        _sync(
            f"initial load, {n}: requests per record",
            round(per_record, 6),
            "req/record",
            f"<= {limit:g} (1 per {RECORDS_PER_REQUEST})",
            within(per_record, limit),
            records_per_request=round(i.records / max(i.requests, 1), 1),
        ),
        _sync(
            f"initial load, {n}: a record-at-a-time client would send (computed)",
            reference,
            "requests",
            requests_per_record=round(reference / max(i.records, 1), 4),
            times_more_than_measured=round(reference / max(i.requests, 1), 1),
        ),
        _sync(
            f"initial load, {n}: hooks' request_count less the sandbox count",
            i.hook_total - i.requests,
            "requests",
            "= 0",
            i.hook_total == i.requests,
            hooks=i.hook_requests,
            sandbox=i.requests,
        ),
        *_batch_speed(m),
        _sync(
            f"no-change rerun, {n}: HTTP requests",
            m.rerun.requests,
            "requests",
            **m.rerun.breakdown(),
            summary=m.rerun.summary,
            window=m.rerun.window,
            seconds=round(m.rerun.seconds, 3),
        ),
    ]
    if m.full is not None:
        writes = int(m.full.sandbox["dataverse"].get("batch_operations_total") or 0)
        out += [
            _sync(
                f"full sync with nothing changed, {n}: HTTP requests",
                m.full.requests,
                "requests",
                **m.full.breakdown(),
                summary=m.full.summary,
                seconds=round(m.full.seconds, 3),
            ),
            _sync(
                f"full sync with nothing changed, {n}: Dataverse writes",
                writes,
                "operations",
                "= 0",
                writes == 0,
            ),
        ]
    return out


def figures(measurements: list[SyncMeasurement]) -> list[Figure]:
    """The figures of the ``sync`` benchmark, per size and across sizes."""
    out = [f for m in measurements for f in size_figures(m)]
    if len(measurements) >= 2:
        limit = 1 / RECORDS_PER_REQUEST
        small, large = measurements[0], measurements[-1]
        reruns = {m.items: m.rerun.requests for m in measurements}
        out.append(
            _sync(
                "no-change rerun: requests at " + " / ".join(f"{k:,}" for k in reruns) + " items",
                large.rerun.requests,
                "requests",
                "same at every size",
                len(set(reruns.values())) == 1,
                requests_by_size=reruns,
            )
        )
        added = large.initial.records - small.initial.records
        if added > 0:
            marginal = (large.initial.requests - small.initial.requests) / added
            out.append(
                _sync(
                    f"initial load: extra requests per extra record ({small.items:,} -> {large.items:,} items)",
                    round(marginal, 6),
                    "req/record",
                    f"<= {limit:g} (1 per {RECORDS_PER_REQUEST})",
                    within(marginal, limit),
                )
            )
    return out


def _batch_speed(m: SyncMeasurement) -> list[Figure]:
    """How long the Dataverse emulator takes per ``$batch`` of the sync's own product operations."""
    calls, seconds = m.initial.request_times.get("dataverse POST", (0, 0.0))
    operations = int(m.initial.sandbox["dataverse"].get("batch_operations_total") or 0)
    batches = int(m.initial.sandbox["dataverse"].get("by_entity", {}).get("$batch", {}).get("POST", 0))
    if not calls or not batches:
        return []
    per_batch = seconds / calls
    return [
        Figure(
            "sync",
            f"initial load, {m.items:,} items: time per Dataverse $batch of ~{operations // batches:,} product operations",
            round(per_batch, 4),
            "s",
            f"< {BATCH_BUDGET_SECONDS:g} s (the sandbox is not the bottleneck)",
            within(per_batch, BATCH_BUDGET_SECONDS),
            detail={"batches": batches, "operations": operations, "seconds_in_batches": round(seconds, 3)},
        )
    ]


def run(sizes: list[int] | None = None, *, full_rerun: bool = True) -> list[Figure]:
    """Measure every size (plus a comparison size when only one is given) and return the figures."""
    return figures([measure(n, full_rerun=full_rerun) for n in sizes_with_comparison(list(sizes or DEFAULT_SIZES))])
