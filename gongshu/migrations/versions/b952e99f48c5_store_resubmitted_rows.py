"""store: the refused row of the original batch that each line of a resubmission brings again (R13)

`store_resubmitted_row` keeps, per resubmission batch, the `_source_row` each of its lines carried (the
original batch's source row, written by the refused-rows download): a line the resubmission accepted
corrects that row even when its key was the thing corrected. One row per line of the resubmission (its
own source row), indexed by (batch, original row) for the original batch's look-up; deleted with its
batch. Resubmissions loaded before hold no such rows: their corrections are found by key, as before.

A new table only: no existing table is altered (no batch rebuild on SQLite).

Revision ID: b952e99f48c5
Revises: e4a9c2d7b518
Create Date: 2026-12-10 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b952e99f48c5"
down_revision: str | Sequence[str] | None = "e4a9c2d7b518"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "store_resubmitted_row"
INDEX = "ix_store_resubmitted_row_batch_original"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("batch_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("source_row", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("original_row", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["store_batch.id"],
            name=op.f("fk_store_resubmitted_row_batch_id_store_batch"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("batch_id", "source_row", name=op.f("pk_store_resubmitted_row")),
    )
    op.create_index(INDEX, TABLE, ["batch_id", "original_row"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name=TABLE)
    op.drop_table(TABLE)
