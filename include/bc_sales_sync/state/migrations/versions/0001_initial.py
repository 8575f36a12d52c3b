"""The sync state tables: couplings, watermarks, jobs, per-record errors and locks.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out here rather than imported from the models, so this revision never changes when they do.
TS = sa.DateTime(timezone=True)
JSON = sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sync_coupling",
        sa.Column("mapping", sa.String(100), nullable=False),
        sa.Column("bc_id", sa.String(250), nullable=False),
        sa.Column("crm_id", sa.String(100), nullable=True),
        sa.Column("bc_modified_at", TS, nullable=True),
        sa.Column("crm_modified_at", TS, nullable=True),
        sa.Column("last_result", sa.String(10), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_job_id", sa.String(36), nullable=True),
        sa.Column("failed_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("skipped", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("skipped_at", TS, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("extra", JSON, nullable=True),
        sa.CheckConstraint("last_result IN ('success', 'failure')", name=op.f("ck_sync_coupling_last_result")),
        sa.PrimaryKeyConstraint("mapping", "bc_id", name=op.f("pk_sync_coupling")),
    )
    op.create_index(
        "uq_sync_coupling_mapping_crm_id",
        "sync_coupling",
        ["mapping", "crm_id"],
        unique=True,
        sqlite_where=sa.text("crm_id IS NOT NULL"),
        postgresql_where=sa.text("crm_id IS NOT NULL"),
    )
    op.create_index(
        "ix_sync_coupling_mapping_last_result_skipped", "sync_coupling", ["mapping", "last_result", "skipped"]
    )
    op.create_index("ix_sync_coupling_last_job_id", "sync_coupling", ["last_job_id"])

    op.create_table(
        "sync_watermark",
        sa.Column("mapping", sa.String(100), nullable=False),
        sa.Column("direction", sa.String(10), nullable=False),
        sa.Column("value", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint("direction IN ('to_crm', 'from_crm')", name=op.f("ck_sync_watermark_direction")),
        sa.PrimaryKeyConstraint("mapping", "direction", name=op.f("pk_sync_watermark")),
    )

    op.create_table(
        "sync_job",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("mapping", sa.String(100), nullable=False),
        sa.Column("direction", sa.String(10), nullable=False),
        sa.Column("run_id", sa.String(250), nullable=True),
        sa.Column("dag_id", sa.String(250), nullable=True),
        sa.Column("task_id", sa.String(250), nullable=True),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("dry_run", sa.Boolean(), server_default=sa.false(), nullable=False),
        *(
            sa.Column(name, sa.Integer(), server_default=sa.text("0"), nullable=False)
            for name in ("inserted", "modified", "unchanged", "skipped", "failed", "deleted")
        ),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("window_start", TS, nullable=True),
        sa.Column("window_end", TS, nullable=True),
        sa.CheckConstraint("direction IN ('to_crm', 'from_crm')", name=op.f("ck_sync_job_direction")),
        sa.CheckConstraint("status IN ('running', 'succeeded', 'failed')", name=op.f("ck_sync_job_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_job")),
    )
    op.create_index("ix_sync_job_mapping_started_at", "sync_job", ["mapping", "started_at"])
    op.create_index("ix_sync_job_started_at", "sync_job", ["started_at"])

    op.create_table(
        "sync_error",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("job_id", sa.String(36), nullable=False),
        sa.Column("mapping", sa.String(100), nullable=False),
        sa.Column("source_id", sa.String(250), nullable=False),
        sa.Column("target_id", sa.String(100), nullable=True),
        sa.Column("field", sa.String(250), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["sync_job.id"], name=op.f("fk_sync_error_job_id_sync_job")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_error")),
    )
    op.create_index("ix_sync_error_job_id", "sync_error", ["job_id"])
    op.create_index("ix_sync_error_mapping_created_at", "sync_error", ["mapping", "created_at"])

    op.create_table(
        "sync_lock",
        sa.Column("mapping", sa.String(100), nullable=False),
        sa.Column("holder", sa.String(250), nullable=False),
        sa.Column("acquired_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("mapping", name=op.f("pk_sync_lock")),
    )


def downgrade() -> None:
    op.drop_table("sync_lock")
    op.drop_index("ix_sync_error_mapping_created_at", table_name="sync_error")
    op.drop_index("ix_sync_error_job_id", table_name="sync_error")
    op.drop_table("sync_error")
    op.drop_index("ix_sync_job_started_at", table_name="sync_job")
    op.drop_index("ix_sync_job_mapping_started_at", table_name="sync_job")
    op.drop_table("sync_job")
    op.drop_table("sync_watermark")
    op.drop_index("ix_sync_coupling_last_job_id", table_name="sync_coupling")
    op.drop_index("ix_sync_coupling_mapping_last_result_skipped", table_name="sync_coupling")
    op.drop_index("uq_sync_coupling_mapping_crm_id", table_name="sync_coupling")
    op.drop_table("sync_coupling")
