"""quality: a ruling's execution is flagged due soon once, as a step is (R14 R28)

`quality_ruling_execution.due_soon_notified_at` holds when the SLA sweep told the provider, the objector
and the authority that the ruling's correction is due soon (at most one working day left); NULL until then.
A ruling already flagged overdue counts as told both (as a step found overdue first), so its column takes
the overdue flag's time; a ruling still on time or due soon now is told by the next sweep.

The column is added and dropped with plain ALTER TABLE on both databases (SQLite supports ADD COLUMN and,
from 3.35, DROP COLUMN): no batch rebuild.

Revision ID: 232fb63c518b
Revises: 87d76fd42a8d
Create Date: 2026-12-11 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import gongshu.kernel.db

revision: str = "232fb63c518b"
down_revision: str | Sequence[str] | None = "87d76fd42a8d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "quality_ruling_execution"


def upgrade() -> None:
    op.add_column(
        TABLE,
        sa.Column("due_soon_notified_at", gongshu.kernel.db.UTCDateTime(timezone=True), nullable=True),
    )
    backfill(op.get_bind())


def downgrade() -> None:
    op.drop_column(TABLE, "due_soon_notified_at")


def backfill(conn: sa.Connection) -> int:
    """A ruling flagged overdue before the column existed counts as told due soon too, at the same time.
    Returns how many rulings were marked."""
    clocks = sa.table(
        TABLE,
        sa.column("overdue_notified_at", gongshu.kernel.db.UTCDateTime(timezone=True)),
        sa.column("due_soon_notified_at", gongshu.kernel.db.UTCDateTime(timezone=True)),
    )
    result = conn.execute(
        clocks.update()
        .where(clocks.c.overdue_notified_at.is_not(None), clocks.c.due_soon_notified_at.is_(None))
        .values(due_soon_notified_at=clocks.c.overdue_notified_at)
    )
    return result.rowcount
