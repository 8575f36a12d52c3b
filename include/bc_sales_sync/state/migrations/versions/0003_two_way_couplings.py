"""Couplings keep the last sync of each direction, and which side of a coupling was found deleted.

The BC -> Sales direction keeps ``last_result``, ``last_error``, ``last_job_id`` and ``failed_count``; the
Sales -> BC direction gets ``from_crm_result``, ``from_crm_error``, ``from_crm_job_id`` and
``from_crm_failed_count`` (BC's "Last Synch. Result" and "Last Synch. Job ID"). ``deleted_side`` (``bc`` or
``sales``) marks a deletion conflict: the coupled record on that side no longer exists. Existing couplings get
no Sales -> BC history and no deletion conflict.

On SQLite the table is rebuilt (batch mode) to add and drop the check constraints.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out here rather than imported from the models, so this revision never changes when they do.
TABLE = "sync_coupling"
CHECKS = {
    "ck_sync_coupling_from_crm_result": "from_crm_result IN ('success', 'failure')",
    "ck_sync_coupling_deleted_side": "deleted_side IN ('bc', 'sales')",
}
INDEXES = {
    "ix_sync_coupling_mapping_from_crm_result_skipped": ["mapping", "from_crm_result", "skipped"],
    "ix_sync_coupling_from_crm_job_id": ["from_crm_job_id"],
}


def upgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        batch.add_column(sa.Column("from_crm_result", sa.String(10), nullable=True))
        batch.add_column(sa.Column("from_crm_error", sa.Text(), nullable=True))
        batch.add_column(sa.Column("from_crm_job_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("from_crm_failed_count", sa.Integer(), server_default=sa.text("0"), nullable=False))
        batch.add_column(sa.Column("deleted_side", sa.String(10), nullable=True))
        for name, condition in CHECKS.items():
            batch.create_check_constraint(op.f(name), condition)
    for name, columns in INDEXES.items():
        op.create_index(name, TABLE, columns)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name=TABLE)
    with op.batch_alter_table(TABLE) as batch:
        for name in CHECKS:
            batch.drop_constraint(op.f(name), type_="check")
        for column in ("deleted_side", "from_crm_failed_count", "from_crm_job_id", "from_crm_error", "from_crm_result"):
            batch.drop_column(column)
