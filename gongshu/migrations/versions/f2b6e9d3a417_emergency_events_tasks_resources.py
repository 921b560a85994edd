"""emergency: events, tasks, resources and submissions (R21)

Revision ID: f2b6e9d3a417
Revises: a89fc533f046
Create Date: 2026-11-29 10:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import gongshu.kernel.db

revision: str = "f2b6e9d3a417"
down_revision: str | None = "a89fc533f046"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = gongshu.kernel.db.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "emergency_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("period_start", UTC(timezone=True), nullable=False),
        sa.Column("period_end", UTC(timezone=True), nullable=False),
        sa.Column("responsible_org_id", sa.Integer(), nullable=False),
        sa.Column("responder_org_ids", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("opened_by_user_id", sa.Integer(), nullable=True),
        sa.Column("opened_at", UTC(timezone=True), nullable=False),
        sa.Column("closed_at", UTC(timezone=True), nullable=True),
        sa.Column("treatment", sa.String(length=20), nullable=True),
        sa.Column("report", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["responsible_org_id"],
            ["organisation.id"],
            name=op.f("fk_emergency_event_responsible_org_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_emergency_event")),
    )
    op.create_index(op.f("ix_emergency_event_status"), "emergency_event", ["status"], unique=False)
    op.create_table(
        "emergency_resource",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("resource_code", sa.String(length=80), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["emergency_event.id"],
            name=op.f("fk_emergency_resource_event_id_emergency_event"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_emergency_resource")),
        sa.UniqueConstraint("resource_code", name=op.f("uq_emergency_resource_resource_code")),
    )
    op.create_index(op.f("ix_emergency_resource_event_id"), "emergency_resource", ["event_id"], unique=False)
    op.create_table(
        "emergency_task",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("resource_code", sa.String(length=80), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("respondents", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["emergency_event.id"],
            name=op.f("fk_emergency_task_event_id_emergency_event"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_emergency_task")),
    )
    op.create_index(op.f("ix_emergency_task_event_id"), "emergency_task", ["event_id"], unique=False)
    op.create_table(
        "emergency_submission",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.Column("submitted_at", UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["emergency_task.id"],
            name=op.f("fk_emergency_submission_task_id_emergency_task"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_emergency_submission")),
    )
    op.create_index(
        op.f("ix_emergency_submission_task_id"), "emergency_submission", ["task_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_emergency_submission_task_id"), table_name="emergency_submission")
    op.drop_table("emergency_submission")
    op.drop_index(op.f("ix_emergency_task_event_id"), table_name="emergency_task")
    op.drop_table("emergency_task")
    op.drop_index(op.f("ix_emergency_resource_event_id"), table_name="emergency_resource")
    op.drop_table("emergency_resource")
    op.drop_index(op.f("ix_emergency_event_status"), table_name="emergency_event")
    op.drop_table("emergency_event")
