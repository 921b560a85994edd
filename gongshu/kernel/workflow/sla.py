"""Service levels of open steps: on time, due soon, overdue — and the sweep that flags them.

R17 (sharing review), R14 (objection reply), R23 (open application pre-review and review), R9 (duty
transfer): each period ends at the end of its due day in China. A step is due soon when at most one
working day is left (the due day is today or the next working day); after the due day it is overdue.
The sweep tells the followers and assignees once per state, and flags overdue cases to the authority's
reviewers (R28: the authority supervises). A period a domain keeps outside the open steps of a case (R14: the
provider's correction after a ruling closed the objection) is swept by that domain in the same sweep
(`sweeps_periods`) and flagged as a step is, once per state (`mark_flagged`), with the same notice, history
entry and audit entry (`flag_period`) — to the authority's reviewers at either state.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

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


def working_days_left(session: Session, due_on: dt.date | None, at: dt.datetime | None = None) -> int | None:
    """Working days after today up to and including `due_on` (0: due today; negative: overdue)."""
    if due_on is None:
        return None
    return working_days_between(session, today_china(at or now()), due_on)


def due_state(session: Session, due_on: dt.date | None, at: dt.datetime | None = None) -> SlaState:
    """R17, R14, R23: where a period ending at the end of `due_on` (China) stands."""
    if due_on is None:
        return "on_time"
    at = at or now()
    if at > end_of_day_china(due_on):
        return "overdue"
    left = working_days_left(session, due_on, at)
    if left is not None and left <= DUE_SOON_WORKING_DAYS:
        return "due_soon"
    return "on_time"


def days_left(session: Session, step: Step, at: dt.datetime | None = None) -> int | None:
    """Working days after today up to and including the due day (0: due today; negative: overdue)."""
    return working_days_left(session, step.due_on, at)


def sla_state(session: Session, step: Step, at: dt.datetime | None = None) -> SlaState:
    """R17, R14, R23: where an open step stands against its statutory period."""
    return due_state(session, step.due_on, at)


@dataclass(frozen=True)
class SweepResult:
    """Steps newly flagged by one sweep (ids), the cases whose domain-kept period became overdue or due
    soon (ids, `sweeps_periods`) and how many notifications were sent."""

    due_soon: tuple[int, ...] = ()
    overdue: tuple[int, ...] = ()
    notifications: int = 0
    overdue_cases: tuple[int, ...] = ()
    due_soon_cases: tuple[int, ...] = ()


class FlaggedPeriod(Protocol):
    """A period the sweep flags once per state: an open step, or a period a domain keeps (R14: a ruling's
    correction). When it was flagged due soon and overdue (None: not yet)."""

    due_soon_notified_at: dt.datetime | None
    overdue_notified_at: dt.datetime | None


def mark_flagged(period: FlaggedPeriod, state: SlaState, at: dt.datetime) -> bool:
    """R17, R14, R23, R28: whether the period's state is news to flag now, remembering that it is flagged:
    due soon once, overdue once (a period found overdue before it was flagged due soon is flagged overdue
    only, and counts as told both). On time is never flagged."""
    if state == "on_time" or period.overdue_notified_at is not None:
        return False
    if state == "overdue":
        period.overdue_notified_at = at
        period.due_soon_notified_at = period.due_soon_notified_at or at
        return True
    if period.due_soon_notified_at is not None:
        return False
    period.due_soon_notified_at = at
    return True


# R14 R28: periods kept by a domain outside the open steps of a case, swept with the steps:
# `fn(session, at)` flags its own due-soon and overdue periods (through `mark_flagged` and `flag_period`)
# and says what it flagged.
PeriodSweep = Callable[[Session, dt.datetime], SweepResult]
_period_sweeps: list[PeriodSweep] = []


def sweeps_periods(fn: PeriodSweep) -> PeriodSweep:
    """Register a domain's sweep of its own periods (R14: a ruling's correction); run by every `sweep`."""
    if fn not in _period_sweeps:
        _period_sweeps.append(fn)
    return fn


def _authority_reviewers(session: Session) -> list[int]:
    try:
        return users_with_role(session, org_of_kind(session, OrgKind.AUTHORITY), Role.REVIEWER)
    except GongshuError:
        return []


def _flag(
    session: Session,
    case: Case,
    state: SlaState,
    recipients: Iterable[int | None],
    label: tuple[str, str],
    due_on: dt.date | None,
    *,
    step_name: str,
    step_seq: int | None = None,
) -> int:
    """Tell the recipients that a period of the case is due soon or overdue, and write it to the case's
    history and the audit log. Returns the notifications sent."""
    label_zh, label_en = label
    if state == "overdue":
        zh = f"案件 {case.number}《{case.title}》{label_zh}已超期（期限 {due_on}）"
        en = f"Case {case.number} “{case.title_in('en')}”: {label_en} is overdue (due {due_on})"
    else:
        zh = f"案件 {case.number}《{case.title}》{label_zh}即将到期（期限 {due_on}）"
        en = f"Case {case.number} “{case.title_in('en')}”: {label_en} is due soon (due {due_on})"
    sent = len(notify(session, recipients, case, state, zh, en))
    event(
        session,
        case,
        None,
        state,
        step_seq=step_seq,
        message=zh,
        data={"due": due_on.isoformat() if due_on else None, "step": step_name},
    )
    record(
        session,
        SYSTEM,
        f"workflow.{state}",
        object_type="case",
        object_id=case.id,
        detail={"number": case.number, "step": step_name, "due": due_on},
    )
    return sent


def flag_period(
    session: Session,
    case: Case,
    state: SlaState,
    recipients: Iterable[int | None],
    label: tuple[str, str],
    due_on: dt.date,
    *,
    name: str,
) -> int:
    """R28: flag a domain-kept period of the case as due soon or overdue exactly as a step is flagged: a
    notification to the recipients and to the authority's reviewers (the authority supervises the periods
    kept outside its cases' steps from the first notice on), a "due_soon" or "overdue" entry in the case's
    history and a `workflow.due_soon` or `workflow.overdue` audit entry naming the period (`name`).
    Returns the notifications sent; the domain remembers that it flagged the period (`mark_flagged`)."""
    everyone = {*recipients, *_authority_reviewers(session)}
    return _flag(session, case, state, everyone, label, due_on, step_name=name)


def sweep(session: Session, at: dt.datetime | None = None) -> SweepResult:
    """Flag open steps that became due soon or overdue, once each (R17, R14, R23, R28); then the periods
    the domains keep outside the steps (`sweeps_periods`), due soon and overdue once each alike."""
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
        if not mark_flagged(step, state, at):
            continue
        case = step.case
        recipients = set(followers(session, case.id)) | set(
            users_with_role(session, step.assignee_org_id, step.assignee_role)
        )
        if state == "overdue":
            if reviewers is None:
                reviewers = _authority_reviewers(session)
            recipients |= set(reviewers)
            overdue.append(step.id)
        else:
            due_soon.append(step.id)
        label = step_label(policy_of(session, case), case, step)
        sent += _flag(
            session, case, state, recipients, label, step.due_on, step_name=step.name, step_seq=step.seq
        )
    session.flush()
    cases: list[int] = []
    soon_cases: list[int] = []
    for period_sweep in _period_sweeps:
        found = period_sweep(session, at)
        cases += found.overdue_cases
        soon_cases += found.due_soon_cases
        sent += found.notifications
    session.flush()
    return SweepResult(
        due_soon=tuple(due_soon),
        overdue=tuple(overdue),
        notifications=sent,
        overdue_cases=tuple(cases),
        due_soon_cases=tuple(soon_cases),
    )


@job("workflow.sla_sweep", every_seconds=SWEEP_EVERY_SECONDS)
def sla_sweep_job(session: Session) -> None:
    """The background job running the sweep (R17, R14, R23)."""
    sweep(session)
