"""R14 with R15 R17: the clock of a ruling's execution. A ruling that upheld a disputed objection closes the
case and binds the provider to correct the record (`objections.execute_ruling`); the correction is due
within the objection's own reply period — the policy's deadline of the objection's handling step
(`objection_reply`, R30: from the policy version the case keeps), counted by the working-day clock from the
day of the ruling (day 0) to the end of the last working day.

Kept here: day 0 and the number of working days, as a step keeps its `start_day` and `working_days`; the
due day is computed from them whenever it is read, so a holiday notice loaded later counts at once (the
due day stays provisional until then). The SLA sweep (`workflow.sla`) sweeps the unexecuted rulings with
the open steps and flags each once when it becomes due soon and once past its due day, as it flags an
objection's step: to the case's followers, the provider's data officers and the authority's reviewers (R28:
the authority supervises). The authority's reviewers (and a provider's data officers, for their own
organisation) list the rulings awaiting execution, overdue first, and the ones executed lately (`board`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ForeignKey, select
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from gongshu.catalog.data_view import EntryLabel, entry_label
from gongshu.kernel.access.policy import Action
from gongshu.kernel.access.service import decide
from gongshu.kernel.clock.service import add_working_days
from gongshu.kernel.db import Base
from gongshu.kernel.errors import Forbidden
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import Organisation
from gongshu.kernel.timeutil import end_of_day_china, now, today_china
from gongshu.kernel.workflow.models import Case
from gongshu.kernel.workflow.notify import followers, users_with_role
from gongshu.kernel.workflow.sla import (
    SlaState,
    SweepResult,
    due_state,
    flag_period,
    mark_flagged,
    sweeps_periods,
    working_days_left,
)
from gongshu.kernel.workflow.steps import policy_of

# The period's name in the case's history and the audit log, and in words (R28).
PERIOD = "ruling_execution"
LABEL = ("数据提供单位执行裁定更正", "the provider's correction as ruled")
# How many of the latest executed rulings the authority's list shows below the pending ones (a length of
# the page, not a statutory number).
RECENT_EXECUTED = 10


class RulingExecution(Base):
    """R14: the clock of a ruling that upheld an objection: day 0 (the ruling's day, China), the working
    days the provider has (the objection's reply period), when the provider executed it, and when the
    sweep flagged it due soon and overdue. One row per upheld ruling; the sweep reads the unexecuted ones
    only."""

    __tablename__ = "quality_ruling_execution"

    case_id: Mapped[int] = mapped_column(ForeignKey("wf_case.id", ondelete="CASCADE"), primary_key=True)
    start_day: Mapped[dt.date] = mapped_column()
    working_days: Mapped[int] = mapped_column()
    executed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    overdue_notified_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    due_soon_notified_at: Mapped[dt.datetime | None] = mapped_column(default=None)


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
def flag_due_rulings(session: Session, at: dt.datetime) -> SweepResult:
    """R14 R28: every ruling the provider has not executed is flagged once when it becomes due soon (at
    most one working day left, as a step) and once when it is not executed by the end of its due day, with
    the open steps' sweep and as an objection's step is (`sla.mark_flagged`, `sla.flag_period`): to the
    case's followers (the objector, the provider's officers who handled it, the coordinator), the
    provider's data officers and the authority's reviewers, with the case's history and the audit log. An
    executed ruling is never flagged again."""
    query = (
        select(RulingExecution, Case)
        .join(Case, Case.id == RulingExecution.case_id)
        .where(RulingExecution.executed_at.is_(None), RulingExecution.overdue_notified_at.is_(None))
        .order_by(RulingExecution.start_day, RulingExecution.case_id)
    )
    overdue: list[int] = []
    due_soon: list[int] = []
    sent = 0
    for row, case in session.execute(query).all():
        if not ruling_pending(case):
            continue
        clock = _clock(session, row, pending=True, at=at)
        if clock.state is None or not mark_flagged(row, clock.state, at):
            continue
        provider = int(case.parties["provider"])
        recipients = {*followers(session, case.id), *users_with_role(session, provider, "data_officer")}
        sent += flag_period(session, case, clock.state, recipients, LABEL, clock.due_on, name=PERIOD)
        (overdue if clock.state == "overdue" else due_soon).append(case.id)
    session.flush()
    return SweepResult(notifications=sent, overdue_cases=tuple(overdue), due_soon_cases=tuple(due_soon))


@dataclass(frozen=True)
class RulingLine:
    """R14 R28: a ruling as the list of rulings awaiting execution shows it: its case, the resource and the
    provider (named in both languages), its clock, whether it was executed after its due day, and whether
    the reader is one of the provider's data officers, who execute it on the objection's handling page."""

    case_id: int
    number: str
    resource_code: str
    resource_zh: str
    resource_en: str
    provider_zh: str
    provider_en: str
    clock: RulingClock
    late: bool = False
    may_execute: bool = False

    def resource(self, lang: str) -> str:
        return self.resource_zh if lang.startswith("zh") else self.resource_en

    def provider(self, lang: str) -> str:
        return self.provider_zh if lang.startswith("zh") else self.provider_en


@dataclass(frozen=True)
class RulingsBoard:
    """R14 R28: the rulings awaiting execution (overdue first, then by due day) and the latest executed,
    as computed at one moment (`at`)."""

    pending: list[RulingLine]
    executed: list[RulingLine]
    at: dt.datetime


RULINGS_FORBIDDEN = (
    "quality.rulings_forbidden",
    "只有主管部门、数据提供单位的数据专员和审计员可查看待执行的裁定",
    "Only the authority, the providers' data officers and the auditors may see the rulings awaiting execution",
)


def board_scope(
    session: Session, actor: Actor, refusal: tuple[str, str, str] = RULINGS_FORBIDDEN
) -> frozenset[int] | None:
    """R14 R28: whose cases (rulings, objections) the actor may list — every provider's for the
    authority's supervisors and the platform's auditors (None), their own organisations' for a provider's
    data officers or a department's auditor: those the access decision point lets read the quality
    reports (DATA_REPORTS_READ), as the neighbouring quality pages. Anyone else (the public, an officer
    without a data role) is refused with `refusal` (code, Chinese, English)."""
    decision = decide(session, actor, Action.DATA_REPORTS_READ)
    if not decision.allowed:
        raise Forbidden(*refusal)
    return decision.org_scope


def provider_conditions(
    scope: frozenset[int] | None, provider: int | None = None
) -> list[ColumnElement[bool]]:
    """The conditions on a case for the providers within `scope` (None: every provider) and, when one is
    chosen, for that `provider`."""
    conditions: list[ColumnElement[bool]] = []
    if scope is not None:
        conditions.append(Case.parties["provider"].as_integer().in_(sorted(scope)))
    if provider is not None:
        conditions.append(Case.parties["provider"].as_integer() == provider)
    return conditions


def board(
    session: Session, actor: Actor, at: dt.datetime | None = None, *, recent: int = RECENT_EXECUTED
) -> RulingsBoard:
    """R14 R28: the rulings the providers (within the actor's `board_scope`) have not executed yet, each
    with its case, resource, provider, day of the ruling, due day (provisional while that year's holiday
    notice is missing), where it stands (on time, due soon, overdue) and the working days left — overdue
    first, then by due day (a ruling past its due day always falls due before one that is not); and the
    `recent` ones executed last, with whether they were executed after their due day."""
    at = at or now()
    scope = board_scope(session, actor)
    base = select(RulingExecution, Case).join(Case, Case.id == RulingExecution.case_id)
    labels: dict[str, EntryLabel | None] = {}
    orgs: dict[int, Organisation | None] = {}

    def line(row: RulingExecution, case: Case, pending: bool) -> RulingLine:
        code = str(case.payload.get("resource_code") or "")
        if code not in labels:
            labels[code] = entry_label(session, code)
        label = labels[code]
        provider = int(case.parties["provider"])
        if provider not in orgs:
            orgs[provider] = session.get(Organisation, provider)
        org = orgs[provider]
        clock = _clock(session, row, pending=pending, at=at)
        executed = clock.executed_at
        return RulingLine(
            case_id=case.id,
            number=case.number,
            resource_code=code,
            resource_zh=(label.name if label else "") or code,
            resource_en=(label.name_en or label.name if label else "") or code,
            provider_zh=org.name("zh") if org else "",
            provider_en=org.name("en") if org else "",
            clock=clock,
            late=executed is not None and executed > end_of_day_china(clock.due_on),
            may_execute=pending and actor.has_role("data_officer", provider),
        )

    waiting = session.execute(
        base.where(RulingExecution.executed_at.is_(None), *provider_conditions(scope))
    ).all()
    pending = sorted(
        (line(row, case, True) for row, case in waiting if ruling_pending(case)),
        key=lambda r: (r.clock.due_on, r.clock.start_day, r.case_id),
    )
    done = session.execute(
        base.where(RulingExecution.executed_at.is_not(None), *provider_conditions(scope))
        .order_by(RulingExecution.executed_at.desc(), RulingExecution.case_id.desc())
        .limit(recent)
    ).all()
    return RulingsBoard(pending=pending, executed=[line(row, case, False) for row, case in done], at=at)
