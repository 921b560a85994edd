"""What a user has to do, and what their organisation has asked for.

The inbox holds the open steps whose (organisation, role) the user holds, earliest due day first, each
with its service level (R17, R14, R23: the statutory periods are counted in working days).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import Organisation, User
from gongshu.kernel.timeutil import now
from gongshu.kernel.workflow.attachments import list_attachments, may_attach
from gongshu.kernel.workflow.models import Case, CaseAttachment, CaseEvent, Step
from gongshu.kernel.workflow.sla import SlaState, days_left, sla_state
from gongshu.kernel.workflow.steps import kind_label, policy_of, step_label
from gongshu.kernel.workflow.visibility import (
    can_view,
    decisions_open_to,
    get_case,
    may_dispute,
    may_resubmit,
    may_withdraw,
    not_found,
)

# Kinds whose steps are decided on a page of their own, which does the work the decision stands for (R14:
# an objection is approved by correcting the record): the inbox links there instead of the case page.
# A domain registers its page as a pattern with "{id}", the case's id.
_handling_pages: dict[str, str] = {}


def register_handling_page(kind: str, pattern: str) -> None:
    _handling_pages[kind] = pattern


def case_url(case: Case) -> str:
    """Where the assignee handles a case: the kind's own page, or the generic case page."""
    return _handling_pages.get(case.kind, "/cases/{id}").format(id=case.id)


@dataclass(frozen=True)
class InboxItem:
    """An open step for the actor: the case, the step (named from the policy), its service level."""

    case: Case
    step: Step
    sla: SlaState
    days_left: int | None
    step_zh: str = ""
    step_en: str = ""
    kind_zh: str = ""
    kind_en: str = ""
    applicant: Organisation | None = None

    def step_label(self, lang: str) -> str:
        return self.step_zh if lang.startswith("zh") else self.step_en

    def kind_label(self, lang: str) -> str:
        return self.kind_zh if lang.startswith("zh") else self.kind_en

    @property
    def url(self) -> str:
        return case_url(self.case)


def inbox(session: Session, actor: Actor, at: dt.datetime | None = None) -> list[InboxItem]:
    """The open steps assigned to the actor's roles, earliest due day first."""
    if not actor.roles:
        return []
    at = at or now()
    held = or_(*(and_(Step.assignee_org_id == org, Step.assignee_role == role) for org, role in actor.roles))
    query = (
        select(Step)
        .join(Case, Case.id == Step.case_id)
        .where(Step.state == "active", Case.status == "in_review", held)
        .order_by(Step.due_on.is_(None), Step.due_on, Case.id)
    )
    steps = list(session.scalars(query).all())
    org_ids = {s.case.applicant_org_id for s in steps}
    orgs = {o.id: o for o in session.scalars(select(Organisation).where(Organisation.id.in_(org_ids)))}
    items: list[InboxItem] = []
    for step in steps:
        case = step.case
        pol = policy_of(session, case)
        step_zh, step_en = step_label(pol, case, step)
        kind_zh, kind_en = kind_label(pol, case.kind)
        items.append(
            InboxItem(
                case,
                step,
                sla_state(session, step, at),
                days_left(session, step, at),
                step_zh,
                step_en,
                kind_zh,
                kind_en,
                orgs.get(case.applicant_org_id),
            )
        )
    return items


def my_cases(session: Session, actor: Actor, status: str | None = None) -> list[Case]:
    """The cases applied for by the actor's organisation (and the organisations it manages), newest first."""
    if actor.org_id is None:
        return []
    orgs = {actor.org_id, *actor.managed_org_ids}
    query = select(Case).where(Case.applicant_org_id.in_(orgs))
    if status:
        query = query.where(Case.status == status)
    return list(session.scalars(query.order_by(Case.submitted_at.desc(), Case.id.desc())))


@dataclass(frozen=True)
class StepView:
    """A step as shown on the case page: its name from the policy and, while open, its service level."""

    step: Step
    label_zh: str
    label_en: str
    sla: SlaState | None
    days_left: int | None

    def label(self, lang: str) -> str:
        return self.label_zh if lang.startswith("zh") else self.label_en

    @property
    def due_on(self) -> dt.date | None:
        return self.step.due_on

    @property
    def provisional(self) -> bool:
        """The due day counts a year whose holiday notice is not loaded yet (R28: it may move)."""
        return bool(self.step.due_provisional)

    @property
    def working_days(self) -> int | None:
        return self.step.working_days


def open_step_view(session: Session, case: Case, at: dt.datetime | None = None) -> StepView | None:
    """The case's open step with its name from the policy and its service level (R17 R14 R23); None
    once the case is no longer in review."""
    step = next((s for s in case.steps if s.state == "active"), None)
    if step is None or case.status != "in_review":
        return None
    zh, en = step_label(policy_of(session, case), case, step)
    return StepView(step, zh, en, sla_state(session, step, at), days_left(session, step, at))


@dataclass(frozen=True)
class CaseSummary:
    """A line of a list of cases: the kind's name and, while in review, the open step and its level."""

    case: Case
    kind_zh: str
    kind_en: str
    step: StepView | None

    def kind(self, lang: str) -> str:
        return self.kind_zh if lang.startswith("zh") else self.kind_en


def summaries(session: Session, cases: list[Case], at: dt.datetime | None = None) -> list[CaseSummary]:
    at = at or now()
    out: list[CaseSummary] = []
    for case in cases:
        pol = policy_of(session, case)
        kind_zh, kind_en = kind_label(pol, case.kind)
        out.append(CaseSummary(case, kind_zh, kind_en, open_step_view(session, case, at)))
    return out


def history(session: Session, actor: Actor, case: Case) -> list[CaseEvent]:
    """The case's history, oldest first (for those who may see the case)."""
    if not can_view(actor, case):
        raise not_found(case.id)
    query = select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.at, CaseEvent.id)
    return list(session.scalars(query))


def cases_of_subject(session: Session, subject_type: str, subject_id: str | int) -> list[Case]:
    """Every case about one subject (e.g. a catalog entry), newest first; for domain services."""
    query = select(Case).where(Case.subject_type == subject_type, Case.subject_id == str(subject_id))
    return list(session.scalars(query.order_by(Case.id.desc())))


@dataclass(frozen=True)
class CaseView:
    """Everything the case page shows, and what the actor may do on it."""

    case: Case
    kind_zh: str
    kind_en: str
    steps: list[StepView]
    events: list[CaseEvent]
    attachments: list[CaseAttachment]
    orgs: dict[int, Organisation]
    users: dict[int, str]
    decisions: tuple[str, ...]
    can_dispute: bool
    can_withdraw: bool
    can_resubmit: bool
    can_attach: bool

    def kind(self, lang: str) -> str:
        return self.kind_zh if lang.startswith("zh") else self.kind_en

    def org_name(self, org_id: int | None, lang: str) -> str:
        org = self.orgs.get(org_id) if org_id is not None else None
        return org.name(lang) if org is not None else "—"


def case_view(session: Session, actor: Actor, case_id: int, at: dt.datetime | None = None) -> CaseView:
    """The case page's content for an actor who may see the case (NotFound otherwise)."""
    case = get_case(session, actor, case_id)
    pol = policy_of(session, case)
    at = at or now()
    steps = []
    for step in case.steps:
        zh, en = step_label(pol, case, step)
        open_ = step.state == "active" and case.status == "in_review"
        steps.append(
            StepView(
                step,
                zh,
                en,
                sla_state(session, step, at) if open_ else None,
                days_left(session, step, at) if open_ else None,
            )
        )
    events = history(session, actor, case)
    files = list_attachments(session, actor, case)
    org_ids = {case.applicant_org_id, *(s.assignee_org_id for s in case.steps)}
    org_ids |= {e.actor_org_id for e in events if e.actor_org_id is not None}
    user_ids = {case.applicant_user_id, *(s.decided_by_user_id for s in case.steps)}
    user_ids |= {e.actor_user_id for e in events} | {f.uploaded_by_user_id for f in files}
    orgs = {o.id: o for o in session.scalars(select(Organisation).where(Organisation.id.in_(org_ids)))}
    wanted = {u for u in user_ids if u is not None}
    users = {u.id: u.display_name for u in session.scalars(select(User).where(User.id.in_(wanted)))}
    kind_zh, kind_en = kind_label(pol, case.kind)
    return CaseView(
        case=case,
        kind_zh=kind_zh,
        kind_en=kind_en,
        steps=steps,
        events=events,
        attachments=files,
        orgs=orgs,
        users=users,
        decisions=decisions_open_to(session, actor, case),
        can_dispute=may_dispute(session, actor, case),
        can_withdraw=may_withdraw(actor, case),
        can_resubmit=may_resubmit(actor, case),
        can_attach=may_attach(session, actor, case),  # R26: the same rule as `attachments.attach`
    )
