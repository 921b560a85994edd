"""workflow: case titles in English (R28 workflow)

`wf_case.title_en` holds the title English pages show (the Chinese `title` stays the title of record).
It is nullable: cases opened before it was kept have none, and English pages show their Chinese title.

The column is added and dropped with plain ALTER TABLE on both databases (SQLite supports ADD COLUMN and,
from 3.35, DROP COLUMN): a batch rebuild of `wf_case` on SQLite would, under its foreign keys, cascade-delete
the steps, history and attachments of every case.

Revision ID: 8b6c3181a919
Revises: 8a5c7fe92e5c
Create Date: 2026-12-03 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8b6c3181a919"
down_revision: str | Sequence[str] | None = "8a5c7fe92e5c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("wf_case", sa.Column("title_en", sa.String(length=300), nullable=True))


def downgrade() -> None:
    op.drop_column("wf_case", "title_en")
