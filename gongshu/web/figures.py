"""Platform figures for the home page (R4: one platform; R28: the authority supervises its use).

Read-only: every function takes a session from `read_scope()` and writes nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.errors import GongshuError
from gongshu.kernel.identity.models import Organisation, User
from gongshu.kernel.policy import service as policy_service
from gongshu.kernel.timeutil import CHINA, today_china
from gongshu.kernel.workflow.models import Case, Step

# Case states that still need someone to act (the workflow engine's vocabulary).
CLOSED_CASE_STATES = ("approved", "rejected", "withdrawn")


@dataclass(frozen=True)
class PolicyInForce:
    """R30: the policy version that applies today, and whether it is carried on after lapsing."""

    id: str
    title: str
    effective_from: dt.date
    effective_to: dt.date | None
    lapsed: bool


@dataclass(frozen=True)
class PlatformFigures:
    organisations_by_kind: dict[str, int]
    users: int
    open_cases: int
    overdue_steps: int
    audit_entries_today: int
    cases_by_kind: dict[str, int]
    cases_by_status: dict[str, int]
    policy: PolicyInForce | None
    day: dt.date
    kind_labels: dict[str, str] = field(default_factory=dict)

    @property
    def organisations(self) -> int:
        return sum(self.organisations_by_kind.values())


def policy_in_force(session: Session, lang: str = "zh", day: dt.date | None = None) -> PolicyInForce | None:
    """The version `policy.at(day)` returns, or None when no version was ever loaded."""
    try:
        pol = policy_service.at(session, day)
    except GongshuError:
        return None
    doc = pol.doc
    title = doc.title_zh if lang == "zh" or not doc.title_en else doc.title_en
    return PolicyInForce(doc.id, title, doc.effective_from, doc.effective_to, pol.lapsed)


def _grouped(session: Session, column: object, *where: object) -> dict[str, int]:
    query = select(column, func.count()).group_by(column)  # type: ignore[call-overload]
    for clause in where:
        query = query.where(clause)
    return {str(key): int(n) for key, n in session.execute(query).all()}


def _start_of_day_utc(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0, 0), tzinfo=CHINA).astimezone(dt.UTC)


def platform_figures(session: Session, lang: str = "zh") -> PlatformFigures:
    """Counts across the platform: organisations by kind (R5), users, open cases and overdue steps
    (the clocks of R9, R14, R17, R23), today's audit entries, and the policy in force (R30)."""
    day = today_china()
    start = _start_of_day_utc(day)
    end = _start_of_day_utc(day + dt.timedelta(days=1))
    orgs = _grouped(session, Organisation.kind, Organisation.active.is_(True))
    users = session.scalar(select(func.count()).select_from(User).where(User.active.is_(True))) or 0
    open_cases = session.scalar(
        select(func.count()).select_from(Case).where(Case.status.not_in((*CLOSED_CASE_STATES, "draft")))
    )
    overdue = session.scalar(
        select(func.count()).select_from(Step).where(Step.state == "active", Step.due_on < day)
    )
    audit_today = session.scalar(
        select(func.count()).select_from(AuditEntry).where(AuditEntry.at >= start, AuditEntry.at < end)
    )
    by_kind = _grouped(session, Case.kind, Case.status != "draft")
    by_status = _grouped(session, Case.status)
    policy = policy_in_force(session, lang, day)
    labels: dict[str, str] = {}
    if policy is not None:
        pol = policy_service.at(session, day)
        labels = {kind: pol.label("workflow_kinds", kind, lang) for kind in pol.keys("workflow_kinds")}
    return PlatformFigures(
        organisations_by_kind=orgs,
        users=int(users),
        open_cases=int(open_cases or 0),
        overdue_steps=int(overdue or 0),
        audit_entries_today=int(audit_today or 0),
        cases_by_kind=by_kind,
        cases_by_status=by_status,
        policy=policy,
        day=day,
        kind_labels=labels,
    )
