"""sharing: database-table delivery targets, file schedules and packages (R19)

Revision ID: f3b8d61c0a27
Revises: a89fc533f046
Create Date: 2026-11-29 10:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import gongshu.kernel.db

revision: str = "f3b8d61c0a27"
down_revision: str | None = "a89fc533f046"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = gongshu.kernel.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "delivery_db_target",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("grant_id", sa.Integer(), nullable=False),
        sa.Column("consumer_org_id", sa.Integer(), nullable=False),
        sa.Column("resource_code", sa.String(length=80), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("password_enc", sa.Text(), nullable=True),
        sa.Column("table_name", sa.String(length=63), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created", sa.Boolean(), nullable=False),
        sa.Column("last_sync_at", UTC, nullable=True),
        sa.Column("next_sync_at", UTC, nullable=True),
        sa.Column("last_change_id", sa.Integer(), nullable=False),
        sa.Column("rows_written", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.JSON(), nullable=True),
        sa.Column("last_receipt", sa.JSON(), nullable=True),
        sa.Column("registered_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["grant_id"], ["access_grant.id"], name=op.f("fk_delivery_db_target_grant_id_access_grant")
        ),
        sa.ForeignKeyConstraint(
            ["consumer_org_id"],
            ["organisation.id"],
            name=op.f("fk_delivery_db_target_consumer_org_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_db_target")),
    )
    for col in ("grant_id", "consumer_org_id", "status"):
        op.create_index(op.f(f"ix_delivery_db_target_{col}"), "delivery_db_target", [col], unique=False)
    op.create_table(
        "delivery_file_schedule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("grant_id", sa.Integer(), nullable=False),
        sa.Column("formats", sa.JSON(), nullable=False),
        sa.Column("every_hours", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("last_generated_at", UTC, nullable=True),
        sa.Column("last_package_path", sa.String(length=500), nullable=True),
        sa.Column("last_error", sa.JSON(), nullable=True),
        sa.Column("created_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["grant_id"], ["access_grant.id"], name=op.f("fk_delivery_file_schedule_grant_id_access_grant")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_file_schedule")),
        sa.UniqueConstraint("grant_id", name=op.f("uq_delivery_file_schedule_grant_id")),
    )
    op.create_table(
        "delivery_package",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("grant_id", sa.Integer(), nullable=False),
        sa.Column("consumer_org_id", sa.Integer(), nullable=False),
        sa.Column("resource_code", sa.String(length=80), nullable=False),
        sa.Column("folder", sa.String(length=500), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("manifest", sa.JSON(), nullable=False),
        sa.Column("receipt", sa.JSON(), nullable=True),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("generated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["grant_id"], ["access_grant.id"], name=op.f("fk_delivery_package_grant_id_access_grant")
        ),
        sa.ForeignKeyConstraint(
            ["consumer_org_id"],
            ["organisation.id"],
            name=op.f("fk_delivery_package_consumer_org_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_package")),
    )
    for col in ("grant_id", "consumer_org_id"):
        op.create_index(op.f(f"ix_delivery_package_{col}"), "delivery_package", [col], unique=False)


def downgrade() -> None:
    for col in ("grant_id", "consumer_org_id"):
        op.drop_index(op.f(f"ix_delivery_package_{col}"), table_name="delivery_package")
    op.drop_table("delivery_package")
    op.drop_table("delivery_file_schedule")
    for col in ("grant_id", "consumer_org_id", "status"):
        op.drop_index(op.f(f"ix_delivery_db_target_{col}"), table_name="delivery_db_target")
    op.drop_table("delivery_db_target")
