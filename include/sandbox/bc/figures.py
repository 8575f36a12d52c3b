"""The figures BC computes on read (FlowFields): customer balances, sales, overdue and outstanding amounts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable

import sqlalchemy as sa

from include.sandbox.bc import tables as t
from include.sandbox.bc.records import Ctx, money


def _chunks(values: list, size: int = 900) -> Iterable[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _lcy(amount: sa.ColumnElement, factor: sa.ColumnElement) -> sa.ColumnElement:
    return sa.case((factor > 0, amount / factor), else_=amount)


def customer_figures(ctx: Ctx, numbers: list[str], wanted: set[str]) -> dict[str, dict[str, float]]:
    """Per customer number: balance, sales, overdue and outstanding amounts in local currency."""
    store = ctx.store
    header, line = store.tables["SalesHeader"], store.tables["SalesLine"]
    today = ctx.today.isoformat()
    out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for chunk in _chunks(sorted(set(numbers))):
        posted = sa.and_(
            header.c.Document_Type == "Invoice", header.c.Posted.is_(True), header.c.Bill_to_Customer_No.in_(chunk)
        )
        remaining = _lcy(header.c.Remaining_Amount, header.c.Currency_Factor)
        statement = (
            sa.select(
                header.c.Bill_to_Customer_No,
                sa.func.sum(remaining),
                sa.func.sum(
                    sa.case((header.c.Status == "Canceled", 0.0), else_=_lcy(header.c.Amount, header.c.Currency_Factor))
                ),
                sa.func.sum(
                    sa.case(
                        (sa.and_(header.c.Due_Date < today, header.c.Due_Date != t.BLANK_DATE), remaining), else_=0.0
                    )
                ),
            )
            .where(posted)
            .group_by(header.c.Bill_to_Customer_No)
        )
        for number, balance, sales, overdue in store.conn.execute(statement):
            out[number].update(balance=balance or 0.0, sales=sales or 0.0, overdue=overdue or 0.0)
        if wanted & {"orders", "shipped", "drafts"}:
            drafts = (
                sa.select(
                    header.c.Bill_to_Customer_No,
                    sa.func.sum(_lcy(header.c.Amount_Including_VAT, header.c.Currency_Factor)),
                )
                .where(
                    header.c.Document_Type == "Invoice",
                    header.c.Posted.is_(False),
                    header.c.Bill_to_Customer_No.in_(chunk),
                )
                .group_by(header.c.Bill_to_Customer_No)
            )
            for number, amount in store.conn.execute(drafts):
                out[number]["drafts"] = amount or 0.0
            share = sa.case((line.c.Quantity != 0, line.c.Net_Amount_Including_VAT / line.c.Quantity), else_=0.0)
            orders = (
                sa.select(
                    header.c.Bill_to_Customer_No,
                    sa.func.sum(_lcy(share * (line.c.Quantity - line.c.Quantity_Shipped), header.c.Currency_Factor)),
                    sa.func.sum(
                        _lcy(share * (line.c.Quantity_Shipped - line.c.Quantity_Invoiced), header.c.Currency_Factor)
                    ),
                )
                .select_from(line.join(header, line.c.Document_Id == header.c.SystemId))
                .where(header.c.Document_Type == "Order", header.c.Bill_to_Customer_No.in_(chunk))
                .group_by(header.c.Bill_to_Customer_No)
            )
            for number, outstanding, shipped in store.conn.execute(orders):
                out[number].update(orders=outstanding or 0.0, shipped=shipped or 0.0)
    return out


def _customer_balance(ctx: Ctx, rows: list[dict]) -> None:
    figures = customer_figures(ctx, [r["number"] for r in rows], set())
    for r in rows:
        r["balanceDue"] = money(figures.get(r["number"], {}).get("balance", 0.0))


def _customer_financials(ctx: Ctx, rows: list[dict]) -> None:
    figures = customer_figures(ctx, [r["number"] for r in rows], set())
    for r in rows:
        f = figures.get(r["number"], {})
        r["balance"] = money(f.get("balance", 0.0))
        r["totalSalesExcludingTax"] = money(f.get("sales", 0.0))
        r["overdueAmount"] = money(f.get("overdue", 0.0))


def _customer_card(ctx: Ctx, rows: list[dict]) -> None:
    figures = customer_figures(ctx, [r["No"] for r in rows], {"orders", "shipped", "drafts"})
    for r in rows:
        f = figures.get(r["No"], {})
        r["Balance_LCY"] = money(f.get("balance", 0.0))
        r["Balance_Due_LCY"] = money(f.get("overdue", 0.0))
        r["Sales_LCY"] = money(f.get("sales", 0.0))
        r["Outstanding_Orders_LCY"] = money(f.get("orders", 0.0))
        r["Shipped_Not_Invoiced_LCY"] = money(f.get("shipped", 0.0))
        r["Outstanding_Invoices_LCY"] = money(f.get("drafts", 0.0))


def _zero_net_change(ctx: Ctx, rows: list[dict]) -> None:
    for r in rows:
        r["netChange"] = 0.0


def _line_discount_flag(ctx: Ctx, rows: list[dict]) -> None:
    # The company computes invoice discounts before tax, as BC's W1 localization does.
    for r in rows:
        r["discountAppliedBeforeTax"] = True


# name -> (function, public properties it needs in each row)
COMPUTED: dict[str, tuple[Callable[[Ctx, list[dict]], None], tuple[str, ...]]] = {
    "customer_balance": (_customer_balance, ("number",)),
    "customer_financials": (_customer_financials, ("number",)),
    "customer_card": (_customer_card, ("No",)),
    "zero_net_change": (_zero_net_change, ()),
    "line_discount_flag": (_line_discount_flag, ()),
}
