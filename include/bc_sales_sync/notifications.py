"""Alerts: a notifier for Airflow callbacks that posts to a webhook and, where SMTP is set up, mails.

The webhook is an Airflow HTTP connection (``bc_sync_alerts`` by default) whose host is the full
incoming-webhook URL of a Teams workflow or a Slack app; the message goes out as ``{"text": ...}``.
Email goes to the addresses in the Variable ``bc_sync_alert_emails`` (comma separated) through the
``smtp_default`` connection. Missing configuration means no alert of that kind, never a failure.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk.bases.notifier import BaseNotifier

log = logging.getLogger(__name__)

WEBHOOK_CONN_ID = "bc_sync_alerts"
EMAIL_VARIABLE = "bc_sync_alert_emails"


def _ti_facts(context: dict) -> dict[str, Any]:
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    return {
        "dag_id": getattr(ti, "dag_id", None) or getattr(dag_run, "dag_id", None),
        "task_id": getattr(ti, "task_id", None),
        "run_id": context.get("run_id") or getattr(dag_run, "run_id", None),
        "try_number": getattr(ti, "try_number", None),
        "max_tries": getattr(ti, "max_tries", None),
        "log_url": getattr(ti, "log_url", None),
    }


def task_failure_message(context: dict, *, will_retry: bool) -> str:
    facts = _ti_facts(context)
    error = context.get("exception")
    reason = f"{type(error).__name__}: {error}" if error else "no error was reported"
    attempt = f"attempt {facts['try_number']}"
    if facts["max_tries"] is not None:
        attempt += f" of {int(facts['max_tries']) + 1}"
    outcome = "it will be retried" if will_retry else "its retries are exhausted; the next scheduled run tries again"
    text = (
        f"[{facts['dag_id']}] Task {facts['task_id']} failed ({attempt}), {outcome}.\n"
        f"Run: {facts['run_id']}\nError: {reason}"
    )
    if facts["log_url"]:
        text += f"\nLog: {facts['log_url']}"
    return text


def failed_records_message(dag_id: str, run_id: str, summaries: list[dict]) -> str:
    lines = [f"[{dag_id}] Run {run_id} finished with records that failed to synchronize:"]
    for s in summaries:
        if s.get("failed"):
            lines.append(
                f"- {s['mapping']}: {s['failed']} failed, {s.get('inserted', 0)} inserted, "
                f"{s.get('modified', 0)} modified, {s.get('unchanged', 0)} unchanged, {s.get('skipped', 0)} skipped "
                f"(job {s.get('job_id')})"
            )
    lines.append(
        "Failed records are retried first on the next run; the same error twice marks a record skipped. "
        "See the errors with: python -m include.bc_sales_sync.state errors --job <job id>"
    )
    return "\n".join(lines)


def send_alert(text: str, *, webhook_conn_id: str = WEBHOOK_CONN_ID, subject: str | None = None) -> bool:
    """Post ``text`` to the webhook and mail it where configured; True when anything was sent."""
    sent = False
    try:
        from airflow.providers.http.hooks.http import HttpHook
        from airflow.sdk import BaseHook

        BaseHook.get_connection(webhook_conn_id)
    except Exception:
        log.info("No connection %s: the alert is only logged.\n%s", webhook_conn_id, text)
    else:
        try:
            response = HttpHook(method="POST", http_conn_id=webhook_conn_id).run(
                json={"text": text}, extra_options={"check_response": False, "timeout": 30}
            )
            if response.status_code >= 400:
                log.warning("The alert webhook answered HTTP %s; the alert was:\n%s", response.status_code, text)
            else:
                sent = True
        except Exception as exc:  # an alert must never break the task it reports on
            log.warning("Could not post the alert to %s (%s); the alert was:\n%s", webhook_conn_id, exc, text)
    sent = _send_email(text, subject or text.splitlines()[0]) or sent
    return sent


def _send_email(text: str, subject: str) -> bool:
    try:
        from airflow.sdk import BaseHook, Variable

        recipients = Variable.get(EMAIL_VARIABLE, default=None)
        if not recipients:
            return False
        BaseHook.get_connection("smtp_default")
        from airflow.providers.smtp.hooks.smtp import SmtpHook

        with SmtpHook(smtp_conn_id="smtp_default") as smtp:
            smtp.send_email_smtp(
                to=[r.strip() for r in recipients.split(",") if r.strip()],
                subject=subject,
                html_content=f"<pre>{text}</pre>",
            )
        return True
    except Exception as exc:
        log.info("No alert email sent (%s).", exc)
        return False


class SyncAlertNotifier(BaseNotifier):
    """Task callback notifier: ``on_failure_callback=SyncAlertNotifier()``,
    ``on_retry_callback=SyncAlertNotifier(will_retry=True)``.

    :param webhook_conn_id: the HTTP connection of the incoming webhook.
    :param will_retry: the message says the task will be retried (use on ``on_retry_callback``).
    """

    template_fields = ("webhook_conn_id",)

    def __init__(self, *, webhook_conn_id: str = WEBHOOK_CONN_ID, will_retry: bool = False):
        super().__init__()
        self.webhook_conn_id = webhook_conn_id
        self.will_retry = will_retry

    def notify(self, context) -> None:
        send_alert(task_failure_message(context, will_retry=self.will_retry), webhook_conn_id=self.webhook_conn_id)
