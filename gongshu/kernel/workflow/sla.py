"""Service levels of open steps: on time, due soon, overdue — and the sweep that flags them.

R17 (sharing review), R14 (objection reply), R23 (open application pre-review and review), R9 (duty
transfer): each period ends at the end of its due day in China. A step is due soon when at most one
working day is left (the due day is today or the next working day); after the due day it is overdue.
The sweep tells the followers and assignees once per state, and flags overdue cases to the authority's
reviewers (R28: the authority supervises).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.kernel.audit.service import record
from gongshu.kernel.clock.service import working_days_between
from gongshu.kernel.errors import GongshuError
from gongshu.kernel.identity.actor import SYSTEM
from gongshu.kernel.identity.models import OrgKind, Role
from gongshu.kernel.jobs.registry import job
from gongshu.kernel.timeutil import end_of_day_china, now, today_china
from gongshu.kernel.workflow.models import Case, Step
from gongshu.kernel.workflow.notify import followers, notify, users_with_role
from gongshu.kernel.workflow.steps import event, org_of_kind, policy_of, step_label

SlaState = Literal["on_time", "due_soon", "overdue"]
# A reminder threshold of the platform (not a statutory period): warn when this many working days are left.
DUE_SOON_WORKING_DAYS = 1
SWEEP_EVERY_SECONDS = 300


def days_left(session: Session, step: Step, at: dt.datetime | None = None) -> int | None:
    """Working days after today up to and including the due day (0: due today; negative: overdue)."""
    if step.due_on is None:
        return None
    return working_days_between(session, today_china(at or now()), step.due_on)


def sla_state(session: Session, step: Step, at: dt.datetime | None = None) -> SlaState:
    """R17, R14, R23: where an open step stands against its statutory period."""
    if step.due_on is None:
        return "on_time"
    at = at or now()
    if at > end_of_day_china(step.due_on):
        return "overdue"
    left = days_left(session, step, at)
    if left is not None and left <= DUE_SOON_WORKING_DAYS:
        return "due_soon"
    return "on_time"


@dataclass(frozen=True)
class SweepResult:
    """Steps newly flagged by one sweep (ids) and how many notifications were sent."""

    due_soon: tuple[int, ...] = ()
    overdue: tuple[int, ...] = ()
    notifications: int = 0


def _authority_reviewers(session: Session) -> list[int]:
    try:
        return users_with_role(session, org_of_kind(session, OrgKind.AUTHORITY), Role.REVIEWER)
    except GongshuError:
        return []


def sweep(session: Session, at: dt.datetime | None = None) -> SweepResult:
    """Flag open steps that became due soon or overdue, once each (R17, R14, R23, R28)."""
    at = at or now()
    query = (
        select(Step)
        .join(Case, Case.id == Step.case_id)
        .where(
            Step.state == "active",
            Case.status == "in_review",
            Step.due_on.is_not(None),
            Step.overdue_notified_at.is_(None),
        )
        .order_by(Step.due_on, Step.id)
    )
    due_soon: list[int] = []
    overdue: list[int] = []
    sent = 0
    reviewers: list[int] | None = None
    for step in session.scalars(query).all():
        state = sla_state(session, step, at)
        if state == "on_time" or (state == "due_soon" and step.due_soon_notified_at is not None):
            continue
        case = step.case
        label_zh, label_en = step_label(policy_of(session, case), case, step)
        recipients = set(followers(session, case.id)) | set(
            users_with_role(session, step.assignee_org_id, step.assignee_role)
        )
        if state == "overdue":
            if reviewers is None:
                reviewers = _authority_reviewers(session)
            recipients |= set(reviewers)
            step.overdue_notified_at = at
            step.due_soon_notified_at = step.due_soon_notified_at or at
            zh = f"案件 {case.number}《{case.title}》{label_zh}已超期（期限 {step.due_on}）"
            en = f"Case {case.number} “{case.title_in('en')}”: {label_en} is overdue (due {step.due_on})"
            overdue.append(step.id)
        else:
            step.due_soon_notified_at = at
            zh = f"案件 {case.number}《{case.title}》{label_zh}即将到期（期限 {step.due_on}）"
            en = f"Case {case.number} “{case.title_in('en')}”: {label_en} is due soon (due {step.due_on})"
            due_soon.append(step.id)
        sent += len(notify(session, recipients, case, state, zh, en))
        event(
            session,
            case,
            None,
            state,
            step_seq=step.seq,
            message=zh,
            data={"due": step.due_on.isoformat() if step.due_on else None, "step": step.name},
        )
        record(
            session,
            SYSTEM,
            f"workflow.{state}",
            object_type="case",
            object_id=case.id,
            detail={"number": case.number, "step": step.name, "due": step.due_on},
        )
    session.flush()
    return SweepResult(due_soon=tuple(due_soon), overdue=tuple(overdue), notifications=sent)


@job("workflow.sla_sweep", every_seconds=SWEEP_EVERY_SECONDS)
def sla_sweep_job(session: Session) -> None:
    """The background job running the sweep (R17, R14, R23)."""
    sweep(session)
