"""aggregation: pull sources, freshness alarms

Revision ID: d7a3f19c2b60
Revises: a89fc533f046
Create Date: 2026-11-29 10:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import gongshu.kernel.db

revision: str = "d7a3f19c2b60"
down_revision: str | None = "a89fc533f046"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = gongshu.kernel.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "aggregation_pull_source",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resource_code", sa.String(length=80), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("password_enc", sa.Text(), nullable=True),
        sa.Column("table_or_query", sa.Text(), nullable=False),
        sa.Column("mode", sa.String(length=20), nullable=False),
        sa.Column("watermark_column", sa.String(length=64), nullable=True),
        sa.Column("last_watermark", sa.String(length=120), nullable=True),
        sa.Column("every_minutes", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("next_run_at", UTC, nullable=True),
        sa.Column("last_run_at", UTC, nullable=True),
        sa.Column("last_status", sa.String(length=20), nullable=False),
        sa.Column("last_error", sa.JSON(), nullable=True),
        sa.Column("last_batch_id", sa.Integer(), nullable=True),
        sa.Column("registered_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aggregation_pull_source")),
    )
    with op.batch_alter_table("aggregation_pull_source", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_aggregation_pull_source_resource_code"), ["resource_code"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_aggregation_pull_source_next_run_at"), ["next_run_at"], unique=False
        )
    op.create_table(
        "aggregation_freshness_alarm",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resource_code", sa.String(length=80), nullable=False),
        sa.Column("expected_by", UTC, nullable=True),
        sa.Column("alarmed_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aggregation_freshness_alarm")),
        sa.UniqueConstraint("resource_code", name=op.f("uq_aggregation_freshness_alarm_resource_code")),
    )


def downgrade() -> None:
    op.drop_table("aggregation_freshness_alarm")
    with op.batch_alter_table("aggregation_pull_source", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_aggregation_pull_source_next_run_at"))
        batch_op.drop_index(batch_op.f("ix_aggregation_pull_source_resource_code"))
    op.drop_table("aggregation_pull_source")
