"""R14 with R15 R17: the clock of a ruling's execution. A ruling that upheld a disputed objection closes the
case and binds the provider to correct the record (`objections.execute_ruling`); the correction is due
within the objection's own reply period — the policy's deadline of the objection's handling step
(`objection_reply`, R30: from the policy version the case keeps), counted by the working-day clock from the
day of the ruling (day 0) to the end of the last working day.

Kept here: day 0 and the number of working days, as a step keeps its `start_day` and `working_days`; the
due day is computed from them whenever it is read, so a holiday notice loaded later counts at once (the
due day stays provisional until then). The SLA sweep (`workflow.sla`) sweeps the unexecuted rulings with
the open steps and flags one past its due day once, as it flags an overdue objection: to the case's
followers, the provider's data officers and the authority's reviewers (R28: the authority supervises)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ForeignKey, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from gongshu.kernel.clock.service import add_working_days
from gongshu.kernel.db import Base
from gongshu.kernel.timeutil import today_china
from gongshu.kernel.workflow.models import Case
from gongshu.kernel.workflow.notify import followers, users_with_role
from gongshu.kernel.workflow.sla import (
    SlaState,
    SweepResult,
    due_state,
    flag_overdue,
    sweeps_periods,
    working_days_left,
)
from gongshu.kernel.workflow.steps import policy_of

# The period's name in the case's history and the audit log, and in words (R28).
PERIOD = "ruling_execution"
LABEL = ("数据提供单位执行裁定更正", "the provider's correction as ruled")


class RulingExecution(Base):
    """R14: the clock of a ruling that upheld an objection: day 0 (the ruling's day, China), the working
    days the provider has (the objection's reply period), when the provider executed it, and when the
    sweep flagged it overdue. One row per upheld ruling; the sweep reads the unexecuted ones only."""

    __tablename__ = "quality_ruling_execution"

    case_id: Mapped[int] = mapped_column(ForeignKey("wf_case.id", ondelete="CASCADE"), primary_key=True)
    start_day: Mapped[dt.date] = mapped_column()
    working_days: Mapped[int] = mapped_column()
    executed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    overdue_notified_at: Mapped[dt.datetime | None] = mapped_column(default=None)


@dataclass(frozen=True)
class RulingClock:
    """R14: when the provider must have corrected the record as ruled: by the end of `due_on` (provisional
    while that year's holiday notice is missing), `working_days` after the ruling's day; while the ruling
    awaits execution, where it stands (on time, due soon, overdue) and the working days left."""

    start_day: dt.date
    working_days: int
    due_on: dt.date
    provisional: bool
    executed_at: dt.datetime | None
    state: SlaState | None
    days_left: int | None

    @property
    def overdue(self) -> bool:
        return self.state == "overdue"


def ruling_pending(case: Case) -> bool:
    """R14: the objection was upheld by a ruling and the provider has not yet corrected the record."""
    p = case.payload
    return case.status == "approved" and p.get("ruling") == "upheld" and "corrected_value" not in p


def reply_period(session: Session, case: Case) -> int:
    """R14 R30: the objection's own reply period in working days — the deadline the policy declares for
    its handling step (`objection_reply`), from the policy version the case keeps; never a number of the
    code."""
    pol = policy_of(session, case)
    declared = pol.doc.workflow_kinds[case.kind]
    return pol.working_days(declared.steps[0].deadline)


def start_clock(session: Session, case: Case, ruled_at: dt.datetime) -> RulingClock:
    """R14: the ruling's clock starts on the day of the ruling. Once per case: a hook firing again finds
    the clock already running and leaves it as it is."""
    row = session.get(RulingExecution, case.id)
    if row is None:
        row = RulingExecution(
            case_id=case.id, start_day=today_china(ruled_at), working_days=reply_period(session, case)
        )
        session.add(row)
        session.flush()
    return _clock(session, row, pending=ruling_pending(case))


def _clock(
    session: Session, row: RulingExecution, *, pending: bool, at: dt.datetime | None = None
) -> RulingClock:
    deadline = add_working_days(session, row.start_day, row.working_days)
    open_ = pending and row.executed_at is None
    return RulingClock(
        start_day=row.start_day,
        working_days=row.working_days,
        due_on=deadline.due,
        provisional=deadline.provisional,
        executed_at=row.executed_at,
        state=due_state(session, deadline.due, at) if open_ else None,
        days_left=working_days_left(session, deadline.due, at) if open_ else None,
    )


def clock_of(session: Session, case: Case, at: dt.datetime | None = None) -> RulingClock | None:
    """R14: the clock of the case's ruling, if a ruling upheld the objection."""
    row = session.get(RulingExecution, case.id)
    return _clock(session, row, pending=ruling_pending(case), at=at) if row is not None else None


def mark_executed(session: Session, case: Case, at: dt.datetime) -> None:
    """R14: the provider executed the ruling: its clock stops."""
    row = session.get(RulingExecution, case.id)
    if row is None:  # a ruling upheld before rulings had a clock and missed by the migration: none to stop
        return
    row.executed_at = at
    session.flush()


@sweeps_periods
def flag_overdue_rulings(session: Session, at: dt.datetime) -> SweepResult:
    """R14 R28: every ruling the provider has not executed by the end of its due day is flagged overdue,
    once, with the open steps' sweep and as an overdue objection is: to the case's followers (the objector,
    the provider's officers who handled it, the coordinator), the provider's data officers and the
    authority's reviewers, with the case's history and the audit log."""
    query = (
        select(RulingExecution, Case)
        .join(Case, Case.id == RulingExecution.case_id)
        .where(RulingExecution.executed_at.is_(None), RulingExecution.overdue_notified_at.is_(None))
        .order_by(RulingExecution.start_day, RulingExecution.case_id)
    )
    flagged: list[int] = []
    sent = 0
    for row, case in session.execute(query).all():
        if not ruling_pending(case):
            continue
        clock = _clock(session, row, pending=True, at=at)
        if not clock.overdue:
            continue
        provider = int(case.parties["provider"])
        recipients = {*followers(session, case.id), *users_with_role(session, provider, "data_officer")}
        sent += flag_overdue(session, case, recipients, LABEL, clock.due_on, name=PERIOD)
        row.overdue_notified_at = at
        flagged.append(case.id)
    session.flush()
    return SweepResult(notifications=sent, overdue_cases=tuple(flagged))
