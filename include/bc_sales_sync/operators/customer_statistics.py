"""``CustomerStatisticsOperator``: runs one part of BC's customer statistics job from an Airflow task.

Only wiring: it reads the params, opens the connections in ``execute`` (never at parse time) and returns a small summary to XCom. The work is in
:mod:`include.bc_sales_sync.statistics`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

JOBS = ("account_statistics", "invoice_payment_status")
CUSTOMER_NO_MAX = 20  # BC's Code[20]
DEFAULT_OVERLAP = dt.timedelta(seconds=2)


def parse_customers(value: Any) -> tuple[str, ...]:
    """The ``customers`` param: a list of BC customer numbers (or one comma-separated string).

    :raises ValueError: a number is not text, or is longer than BC allows; the message names it.
    """
    if value in (None, "", []):
        return ()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ValueError(f"The param 'customers' must be a list of customer numbers, not {type(value).__name__}.")
    numbers: list[str] = []
    for item in items:
        if not isinstance(item, str | int):
            raise ValueError(f"The param 'customers' holds {item!r}; give customer numbers as text, e.g. \"10000\".")
        number = str(item).strip().upper()
        if len(number) > CUSTOMER_NO_MAX:
            raise ValueError(
                f"The param 'customers' holds {number!r}, longer than the {CUSTOMER_NO_MAX} characters of a Business "
                "Central customer number."
            )
        if number and number not in numbers:
            numbers.append(number)
    return tuple(numbers)


def parse_work_date(value: Any) -> dt.date | None:
    """The ``work_date`` param: ``YYYY-MM-DD``, or empty for today.

    :raises ValueError: not a date; the message says the expected form.
    """
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValueError(
            f"The param 'work_date' is {value!r}; give a date as YYYY-MM-DD, or leave it empty for today."
        ) from None


class CustomerStatisticsOperator(BaseOperator):
    """Runs BC's customer statistics job: ``account_statistics`` (the figures of each coupled
    customer in its account's Business Central Account Statistics) or ``invoice_payment_status``
    (the state of coupled Sales invoices from what is left to pay).

    Params: ``customers`` (BC customer numbers: refresh only those, the "update statistics"
    action), ``full_refresh`` (recompute every coupled customer and invoice) and ``work_date``
    (BC's work date, empty for today).

    :param job: ``account_statistics`` or ``invoice_payment_status``.
    :param business_central_conn_id: the Business Central connection.
    :param dataverse_conn_id: the Dataverse (Dynamics 365 Sales) connection.
    :param state_conn_id: the connection of the sync state database (SQLite file when absent).
    :param page_size: records per page read from Business Central.
    :param overlap: how far before the watermark changes are read again.
    """

    template_fields: Sequence[str] = ("business_central_conn_id", "dataverse_conn_id", "state_conn_id")
    ui_color = "#d5f5e3"

    def __init__(
        self,
        *,
        job: str = "account_statistics",
        business_central_conn_id: str = "business_central_default",
        dataverse_conn_id: str = "dataverse_default",
        state_conn_id: str = "bc_sync_state",
        page_size: int = 5000,
        overlap: dt.timedelta = DEFAULT_OVERLAP,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if job not in JOBS:
            raise ValueError(f"CustomerStatisticsOperator job must be one of {JOBS}, not {job!r}.")
        self.job = job
        self.business_central_conn_id = business_central_conn_id
        self.dataverse_conn_id = dataverse_conn_id
        self.state_conn_id = state_conn_id
        self.page_size = page_size
        self.overlap = overlap

    def options(self, context: Context):
        """The run's :class:`~include.bc_sales_sync.statistics.base.StatisticsOptions` from its params."""
        from include.bc_sales_sync.statistics.base import StatisticsOptions

        params = context.get("params") or {}
        try:
            customers, work_date = parse_customers(params.get("customers")), parse_work_date(params.get("work_date"))
        except ValueError as exc:
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(str(exc)) from None  # a bad param: retrying cannot help
        return StatisticsOptions(
            customers=customers,
            full_refresh=bool(params.get("full_refresh", False)),
            work_date=work_date,
            page_size=self.page_size,
            overlap=self.overlap,
            run_id=context.get("run_id"),
            dag_id=self.dag_id,
            task_id=self.task_id,
        )

    def execute(self, context: Context) -> dict:
        from include.bc_sales_sync.jobs.connections import open_connections
        from include.bc_sales_sync.statistics.accounts import AccountStatisticsJob
        from include.bc_sales_sync.statistics.payments import InvoicePaymentStatusJob

        options = self.options(context)
        job = AccountStatisticsJob if self.job == "account_statistics" else InvoicePaymentStatusJob
        with open_connections(self.business_central_conn_id, self.dataverse_conn_id, self.state_conn_id) as c:
            return job(c.bc, c.dataverse, c.state, options).run().as_dict()
