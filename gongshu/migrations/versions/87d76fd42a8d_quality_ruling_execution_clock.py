"""quality: the clock of a ruling's execution (R14 with R15 R17)

`quality_ruling_execution` keeps, per objection upheld by a ruling on the dispute chain, day 0 of the
provider's period to correct the record (the China day of the ruling) and its length in working days (the
objection's reply period, `objection_reply`, from the policy version the case keeps), when the provider
executed the ruling, and when the SLA sweep flagged it overdue. The due day is computed from day 0 and the
working days, so a holiday notice loaded later counts at once.

Rulings upheld before this revision get their clock from the case: day 0 from the payload's `ruled_at`, the
working days from the case's policy version; those already executed are marked executed (`corrected_at`).
A ruling still awaiting execution and already past its due day is flagged by the next sweep.

A new table only: no existing table is altered (no batch rebuild on SQLite).

Revision ID: 87d76fd42a8d
Revises: b952e99f48c5
Create Date: 2026-12-10 12:00:00
"""

import datetime as dt
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

import gongshu.kernel.db

revision: str = "87d76fd42a8d"
down_revision: str | Sequence[str] | None = "b952e99f48c5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "quality_ruling_execution"
CHINA = ZoneInfo("Asia/Shanghai")


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("start_day", sa.Date(), nullable=False),
        sa.Column("working_days", sa.Integer(), nullable=False),
        sa.Column("executed_at", gongshu.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("overdue_notified_at", gongshu.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["wf_case.id"],
            name=op.f("fk_quality_ruling_execution_case_id_wf_case"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_quality_ruling_execution")),
    )
    backfill(op.get_bind())


def downgrade() -> None:
    op.drop_table(TABLE)


def _instant(text: Any) -> dt.datetime | None:
    if not text:
        return None
    at = dt.datetime.fromisoformat(str(text))
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)


def _reply_days(content: Any) -> int | None:
    """The working days of the objection's handling step in a stored policy document."""
    try:
        deadline = content["workflow_kinds"]["objection"]["steps"][0]["deadline"]
        return int(content["deadlines"][deadline]["working_days"])
    except (KeyError, IndexError, TypeError, ValueError):
        return None


def backfill(conn: sa.Connection) -> int:
    """A clock for every ruling upheld before the table existed (none twice). Returns how many."""
    cases = sa.table(
        "wf_case",
        sa.column("id", sa.Integer()),
        sa.column("kind", sa.String()),
        sa.column("status", sa.String()),
        sa.column("payload", sa.JSON()),
        sa.column("policy_version_id", sa.String()),
    )
    policies = sa.table("policy_version", sa.column("id", sa.String()), sa.column("content", sa.JSON()))
    clocks = sa.table(
        TABLE,
        sa.column("case_id", sa.Integer()),
        sa.column("start_day", sa.Date()),
        sa.column("working_days", sa.Integer()),
        sa.column("executed_at", gongshu.kernel.db.UTCDateTime(timezone=True)),
    )
    have = set(conn.execute(sa.select(clocks.c.case_id)).scalars())
    days = {
        pid: _reply_days(content)
        for pid, content in conn.execute(sa.select(policies.c.id, policies.c.content))
    }
    rows = conn.execute(
        sa.select(cases.c.id, cases.c.payload, cases.c.policy_version_id).where(
            cases.c.kind == "objection", cases.c.status == "approved"
        )
    ).all()
    added = []
    for case_id, payload, policy_id in rows:
        p = payload or {}
        ruled_at = _instant(p.get("ruled_at"))
        working_days = days.get(policy_id)
        if p.get("ruling") != "upheld" or case_id in have or ruled_at is None or working_days is None:
            continue
        executed_at = (_instant(p.get("corrected_at")) or ruled_at) if "corrected_value" in p else None
        added.append(
            {
                "case_id": case_id,
                "start_day": ruled_at.astimezone(CHINA).date(),
                "working_days": working_days,
                "executed_at": executed_at,
            }
        )
    if added:
        conn.execute(sa.insert(clocks), added)
    return len(added)
