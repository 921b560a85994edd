"""audit: the sealed receipts of row API deliveries, under their audit entries (R19 R26)

`audit_receipt` keeps each receipt (its canonical JSON) by the seq of the audit entry of the read it covers,
written in that entry's transaction. Receipts written before are files in the data folder's `receipts`
folder, still served from there.

Revision ID: a1c5e9f3b7d2
Revises: 9d4e7a1b2c3f
Create Date: 2026-12-04 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a1c5e9f3b7d2"
down_revision: str | Sequence[str] | None = "9d4e7a1b2c3f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_receipt",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("sealed", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_receipt")),
    )


def downgrade() -> None:
    op.drop_table("audit_receipt")
