"""The end-of-run report: one line per job with its counters, and an alert on failed records."""

from __future__ import annotations

import logging

from include.bc_sales_sync.notifications import WEBHOOK_CONN_ID, failed_records_message, send_alert

log = logging.getLogger(__name__)

COLUMNS = ("inserted", "modified", "unchanged", "skipped", "failed")


def format_summaries(summaries: list[dict]) -> str:
    width = max([len(s["mapping"]) for s in summaries] + [7])
    header = "mapping".ljust(width) + "".join(c.rjust(11) for c in ("read", *COLUMNS))
    lines = [header, "-" * len(header)]
    for s in summaries:
        lines.append(s["mapping"].ljust(width) + "".join(str(s.get(c, 0)).rjust(11) for c in ("read", *COLUMNS)))
    return "\n".join(lines)


def report_run(
    dag_id: str, run_id: str, summaries: list[dict | None], *, webhook_conn_id: str = WEBHOOK_CONN_ID
) -> dict:
    """Log the run's per-job counters; alert when any record failed. Returns the totals."""
    done = [s for s in summaries if s]
    if done:
        log.info("Synchronization summary of %s:\n%s", run_id, format_summaries(done))
    totals = {c: sum(int(s.get(c, 0)) for s in done) for c in ("read", *COLUMNS)}
    if totals["failed"]:
        send_alert(failed_records_message(dag_id, run_id, done), webhook_conn_id=webhook_conn_id)
    return totals
