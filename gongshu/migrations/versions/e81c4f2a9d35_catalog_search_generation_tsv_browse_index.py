"""catalog search: index generation, stored tsvector (PostgreSQL), browse index

Revision ID: e81c4f2a9d35
Revises: a89fc533f046
Create Date: 2026-11-29 10:50:00
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import gongshu.kernel.db
from gongshu.kernel.timeutil import now

revision: str = "e81c4f2a9d35"
down_revision: str | None = "a89fc533f046"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    generation = op.create_table(
        "catalog_generation",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("updated_at", gongshu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_generation")),
    )
    op.bulk_insert(generation, [{"id": 1, "generation": 0, "token": uuid.uuid4().hex, "updated_at": now()}])
    with op.batch_alter_table("catalog_entry", schema=None) as batch_op:
        batch_op.create_index(
            "ix_catalog_entry_status_updated_at", ["status", "updated_at", "id"], unique=False
        )
    if op.get_bind().dialect.name == "postgresql":
        # The document's tsvector is stored, so that neither the recheck of a match nor ts_rank parses
        # the text again; the GIN index moves from the expression to the column.
        op.execute("DROP INDEX IF EXISTS ix_catalog_search_doc_tsv")
        op.execute(
            "ALTER TABLE catalog_search_doc ADD COLUMN tsv tsvector "
            "GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, body)) STORED"
        )
        op.execute("CREATE INDEX ix_catalog_search_doc_tsv ON catalog_search_doc USING gin (tsv)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_catalog_search_doc_tsv")
        op.execute("ALTER TABLE catalog_search_doc DROP COLUMN IF EXISTS tsv")
        op.execute(
            "CREATE INDEX ix_catalog_search_doc_tsv ON catalog_search_doc "
            "USING gin (to_tsvector('simple', body))"
        )
    with op.batch_alter_table("catalog_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_catalog_entry_status_updated_at")
    op.drop_table("catalog_generation")
