"""audit: the data tracker's subject index as one B-tree, with its high-water mark apart (R26)

`audit_subject` is derived data (the chained entries carry their subjects' keyed hashes): it is dropped and
made again keyed by (subject_hash, audit_seq) — on SQLite WITHOUT ROWID — instead of a rowid table with two
secondary indexes, so that building it in bulk writes one B-tree instead of three. Its high-water mark
moves to `audit_subject_mark` (one row, seq 0 here): the `audit.index_subjects` job indexes the entries
again from the start, and look-ups stay complete meanwhile (entries after the mark are matched by their own
hashes).

Revision ID: 9d4e7a1b2c3f
Revises: 8b6c3181a919
Create Date: 2026-12-04 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9d4e7a1b2c3f"
down_revision: str | Sequence[str] | None = "8b6c3181a919"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_audit_subject_subject_hash", table_name="audit_subject")
    op.drop_index("ix_audit_subject_audit_seq", table_name="audit_subject")
    op.drop_table("audit_subject")
    op.create_table(
        "audit_subject",
        sa.Column("subject_hash", sa.String(length=64), nullable=False),
        sa.Column("audit_seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("subject_hash", "audit_seq", name=op.f("pk_audit_subject")),
        sqlite_with_rowid=False,
    )
    mark = op.create_table(
        "audit_subject_mark",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_subject_mark")),
    )
    op.bulk_insert(mark, [{"id": 1, "seq": 0}])


def downgrade() -> None:
    op.drop_table("audit_subject_mark")
    op.drop_table("audit_subject")
    op.create_table(
        "audit_subject",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_hash", sa.String(length=64), nullable=False),
        sa.Column("audit_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_subject")),
    )
    op.create_index("ix_audit_subject_audit_seq", "audit_subject", ["audit_seq"], unique=False)
    op.create_index("ix_audit_subject_subject_hash", "audit_subject", ["subject_hash"], unique=False)
