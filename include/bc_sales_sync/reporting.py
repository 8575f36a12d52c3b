"""The end-of-run report: one line per job with its counters, and an alert on failed records."""

from __future__ import annotations

import logging

from include.bc_sales_sync.notifications import WEBHOOK_CONN_ID, failed_records_message, send_alert

log = logging.getLogger(__name__)

COLUMNS = ("inserted", "modified", "unchanged", "skipped", "failed")


def report_task(task_ids: list[str]):
    """The ``report`` task of a sync DAG: logs the jobs' counters and alerts on failed records.

    It is a teardown: it runs whatever became of the jobs, and the DAG run still fails when a job
    failed (a plain ``all_done`` leaf would turn every run green).
    """
    from airflow.sdk import task

    @task(task_id="report", trigger_rule="all_done", retries=0, pool="default_pool")
    def report(**context) -> dict:
        summaries = context["ti"].xcom_pull(task_ids=list(task_ids))
        return report_run(context["dag"].dag_id, context["run_id"], list(summaries or []))

    return report().as_teardown()


DIRECTION_LABELS = {"to_crm": "", "from_crm": " (Sales -> BC)"}


def job_summaries(summaries: list[dict | None]) -> list[dict]:
    """One summary per job: a two-way task's Sales -> BC job (under ``from_crm``) as a row of its own,
    named with its direction."""
    out = []
    for s in summaries:
        if not s:
            continue
        first = {k: v for k, v in s.items() if k != "from_crm"}
        for job in (first, s.get("from_crm")):
            if job:
                out.append(
                    {**job, "mapping": job["mapping"] + DIRECTION_LABELS.get(job.get("direction", "to_crm"), "")}
                )
    return out


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
    done = job_summaries(summaries)
    if done:
        log.info("Synchronization summary of %s:\n%s", run_id, format_summaries(done))
    totals = {c: sum(int(s.get(c, 0)) for s in done) for c in ("read", *COLUMNS)}
    if totals["failed"]:
        send_alert(failed_records_message(dag_id, run_id, done), webhook_conn_id=webhook_conn_id)
    return totals
