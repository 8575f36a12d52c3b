"""Work dates get a table of their own; the customer statistics' work date moves there from the watermarks.

Until this revision the customer statistics job kept its work date as a watermark named
``CUSTOMER STATISTICS/work date`` holding midnight UTC of that day. The upgrade moves that row into
``sync_work_date``; the downgrade moves it back.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out here rather than imported from the models, so this revision never changes when they do.
TS = sa.DateTime(timezone=True)
JOB = "CUSTOMER STATISTICS"
OLD_WATERMARK = f"{JOB}/work date"
OLD_DIRECTION = "to_crm"

watermark = sa.table(
    "sync_watermark",
    sa.column("mapping", sa.String()),
    sa.column("direction", sa.String()),
    sa.column("value", TS),
    sa.column("updated_at", TS),
)
work_date = sa.table(
    "sync_work_date", sa.column("job", sa.String()), sa.column("work_date", sa.Date()), sa.column("updated_at", TS)
)
old_row = (watermark.c.mapping == OLD_WATERMARK) & (watermark.c.direction == OLD_DIRECTION)


def _sqlite() -> bool:
    return op.get_context().dialect.name == "sqlite"


def upgrade() -> None:
    op.create_table(
        "sync_work_date",
        sa.Column("job", sa.String(100), nullable=False),
        sa.Column("work_date", sa.Date(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("job", name=op.f("pk_sync_work_date")),
    )
    # The day in UTC (SQLite stores naive UTC; PostgreSQL would otherwise take the session's time zone).
    day = sa.func.date(watermark.c.value) if _sqlite() else sa.cast(sa.func.timezone("UTC", watermark.c.value), sa.Date)
    op.execute(
        sa.insert(work_date).from_select(
            ["job", "work_date", "updated_at"],
            sa.select(sa.literal(JOB), day, watermark.c.updated_at).where(old_row),
        )
    )
    op.execute(sa.delete(watermark).where(old_row))


def downgrade() -> None:
    # Midnight UTC of the day, stored as the models store times (naive UTC text with microseconds on SQLite).
    midnight = (
        sa.func.strftime("%Y-%m-%d 00:00:00.000000", work_date.c.work_date)
        if _sqlite()
        else sa.func.timezone("UTC", sa.cast(work_date.c.work_date, sa.DateTime()))
    )
    op.execute(sa.delete(watermark).where(old_row))  # written again by an older version meanwhile: the table wins
    op.execute(
        sa.insert(watermark).from_select(
            ["mapping", "direction", "value", "updated_at"],
            sa.select(sa.literal(OLD_WATERMARK), sa.literal(OLD_DIRECTION), midnight, work_date.c.updated_at).where(
                work_date.c.job == JOB
            ),
        )
    )
    op.drop_table("sync_work_date")
