"""quality: re-checks and problems found in stored data (R13)

Revision ID: c4d7e2a91b30
Revises: a89fc533f046
Create Date: 2026-11-29 10:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import gongshu.kernel.db

revision: str = "c4d7e2a91b30"
down_revision: str | None = "a89fc533f046"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "quality_check",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resource_code", sa.String(length=80), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("problem_records", sa.Integer(), nullable=False),
        sa.Column("problems", sa.Integer(), nullable=False),
        sa.Column("checked_at", gongshu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_check")),
    )
    op.create_index(op.f("ix_quality_check_resource_code"), "quality_check", ["resource_code"], unique=False)
    op.create_table(
        "quality_problem",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("check_id", sa.Integer(), nullable=False),
        sa.Column("resource_code", sa.String(length=80), nullable=False),
        sa.Column("record_key", sa.String(length=200), nullable=False),
        sa.Column("column", sa.String(length=64), nullable=False),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("message_zh", sa.Text(), nullable=False),
        sa.Column("message_en", sa.Text(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("source_row", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["check_id"],
            ["quality_check.id"],
            name=op.f("fk_quality_problem_check_id_quality_check"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_problem")),
    )
    op.create_index(op.f("ix_quality_problem_check_id"), "quality_problem", ["check_id"], unique=False)
    op.create_index(
        "ix_quality_problem_resource_key", "quality_problem", ["resource_code", "record_key"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_quality_problem_resource_key", table_name="quality_problem")
    op.drop_index(op.f("ix_quality_problem_check_id"), table_name="quality_problem")
    op.drop_table("quality_problem")
    op.drop_index(op.f("ix_quality_check_resource_code"), table_name="quality_check")
    op.drop_table("quality_check")
