"""store: a batch names the batch whose refused rows it brings again, corrected (R13)

`store_batch.resubmission_of` holds the id of the original batch of a resubmission (the provider downloads
the refused rows, fixes them and sends them back as an incremental batch); NULL for every other batch and
for the batches loaded before. Indexed: the original batch's page looks up its resubmissions.

The column is added and dropped with plain ALTER TABLE on both databases (SQLite supports ADD COLUMN and,
from 3.35, DROP COLUMN): a batch rebuild of `store_batch` on SQLite would, under the foreign key of
`store_quarantine_row` (ON DELETE CASCADE), delete every batch's quarantine.

Revision ID: e4a9c2d7b518
Revises: b2f7c4e8d1a6
Create Date: 2026-12-08 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e4a9c2d7b518"
down_revision: str | Sequence[str] | None = "b2f7c4e8d1a6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_store_batch_resubmission_of"


def upgrade() -> None:
    op.add_column("store_batch", sa.Column("resubmission_of", sa.Integer(), nullable=True))
    op.create_index(op.f(INDEX), "store_batch", ["resubmission_of"])


def downgrade() -> None:
    op.drop_index(op.f(INDEX), table_name="store_batch")
    op.drop_column("store_batch", "resubmission_of")
