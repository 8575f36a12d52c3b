"""``two-way``: HTTP requests of a two-way mapping (ITEM-PRODUCT both ways) on the demo company
plus N generated items: the initial load, a run with nothing changed on either side, and a run
after a Sales user changed 100 products.

Each run is what one task does: Business Central → Sales, then Sales → Business Central. Requests
are counted by the sandbox (``/_sandbox/stats`` of BC and Dataverse, reads included). Budget: the
no-change run writes nothing to either side, and a run with 100 Sales edits writes BC in at most
one request per edited record (BC's API takes ETag-guarded writes in ``$batch`` chunks of 100).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass

from bench.harness import BC_CONN_ID, DATAVERSE_CONN_ID, BenchSandbox, bench_sandbox, environment, open_state
from bench.report import Figure

MAPPING = "ITEM-PRODUCT"
DEFAULT_ITEMS = 2000
EDITS = 100


@dataclass
class TwoWayRun:
    summary: dict
    seconds: float
    sandbox: dict[str, dict]

    @property
    def requests(self) -> int:
        return sum(int(s.get("total", 0)) for s in self.sandbox.values())

    def writes(self, service: str) -> int:
        return sum(n for method, n in self.sandbox[service]["by_method"].items() if method != "GET")


def run_both_ways(sandbox: BenchSandbox, state, mapping: str) -> TwoWayRun:
    """One task's run of ``mapping``: both directions with new hooks, as the operator does."""
    from include.bc_sales_sync.hooks import BusinessCentralHook, DataverseHook
    from include.bc_sales_sync.jobs import RunOptions, choose_window
    from include.bc_sales_sync.mappings.registry import default_mappings
    from include.bc_sales_sync.sync.directions import run_mapping

    m = default_mappings()[mapping].with_overrides({"options": {"local_currency_code": sandbox.config.local_currency}})
    bc, dataverse = BusinessCentralHook(BC_CONN_ID), DataverseHook(DATAVERSE_CONN_ID)
    sandbox.clear_stats()
    started = time.perf_counter()
    try:
        summary = run_mapping(
            m, bc, dataverse, state, RunOptions(run_id="bench"), lambda d: choose_window(state.watermark(m.name, d))
        )
    finally:
        seconds = time.perf_counter() - started
        bc.close()
        dataverse.close()
    return TwoWayRun(summary, seconds, {"bc": sandbox.stats("bc"), "dataverse": sandbox.stats("dataverse")})


def edit_products(sandbox: BenchSandbox, count: int) -> None:
    """A Sales user renames ``count`` products (in ``$batch`` requests of their own)."""
    from include.bc_sales_sync.hooks import DataverseHook
    from include.bc_sales_sync.hooks.batch import BatchOperation

    c = sandbox.config
    conn = json.loads(os.environ["AIRFLOW_CONN_" + DATAVERSE_CONN_ID.upper()])
    conn.update(login=c.sales_user_client_id, password=c.sales_user_client_secret)
    time.sleep(1.05)  # Sales keeps modified times to the second: the edits come after the load's writes
    with environment({"AIRFLOW_CONN_BENCH_SALES_USER": json.dumps(conn)}):
        hook = DataverseHook("bench_sales_user")
        ids = [
            p["productid"]
            for page in hook.iter_pages(
                "products", select=["productid"], filter="producttypecode eq 1", page_size=count
            )
            for p in page
        ][:count]
        ops = [
            BatchOperation(
                "PATCH", entity_set="products", key=i, body={"name": f"Renamed {n}"}, headers={"If-Match": "*"}
            )
            for n, i in enumerate(ids)
        ]
        results = hook.batch(ops, continue_on_error=True)
        hook.close()
    failed = [r for r in results if not r.ok]
    if failed:
        raise RuntimeError(f"{len(failed)} of the benchmark's product edits failed: {failed[0].error_message}")


def measure(items: int = DEFAULT_ITEMS) -> dict[str, TwoWayRun]:
    with bench_sandbox({"items": items}, seed="demo") as sandbox:
        state = open_state(sandbox.workdir)
        try:
            run_both_ways(sandbox, state, "UNIT OF MEASURE")
            runs = {"initial": run_both_ways(sandbox, state, MAPPING)}
            runs["no change"] = run_both_ways(sandbox, state, MAPPING)
            edit_products(sandbox, EDITS)
            runs["100 Sales edits"] = run_both_ways(sandbox, state, MAPPING)
            runs["after the edits"] = run_both_ways(sandbox, state, MAPPING)
        finally:
            state.close()
    return runs


def figures(runs: dict[str, TwoWayRun], items: int) -> list[Figure]:
    out = []
    for name, r in runs.items():
        detail = {
            "summary": r.summary,
            "seconds": round(r.seconds, 3),
            "by_method": {s: v["by_method"] for s, v in r.sandbox.items()},
        }
        out.append(
            Figure(
                "two-way",
                f"{MAPPING} both ways, {items:,} items, {name}: HTTP requests",
                r.requests,
                "requests",
                detail=detail,
            )
        )
    quiet = runs["no change"], runs["after the edits"]
    out.append(
        Figure(
            "two-way",
            "no-change runs: writes to BC and Dataverse",
            sum(r.writes("bc") + r.writes("dataverse") for r in quiet),
            "requests",
            "= 0",
            all(r.writes("bc") + r.writes("dataverse") == 0 for r in quiet),
        )
    )
    edits = runs["100 Sales edits"]
    written = int(edits.summary.get("from_crm", {}).get("modified", 0))
    out.append(
        Figure(
            "two-way",
            f"{EDITS} Sales edits: records written to BC",
            written,
            "records",
            f"= {EDITS}",
            written == EDITS,
        )
    )
    out.append(
        Figure(
            "two-way",
            f"{EDITS} Sales edits: BC write requests",
            edits.writes("bc"),
            "requests",
            f"<= {EDITS // 100} ($batch of 100)",
            edits.writes("bc") <= max(EDITS // 100, 1),
        )
    )
    return out


def run(items: int = DEFAULT_ITEMS) -> list[Figure]:
    return figures(measure(items), items)
