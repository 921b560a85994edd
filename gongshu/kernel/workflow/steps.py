"""Steps of a case: built from the policy's declaration of a kind, assigned to organisations, started
with a due day from the working-day clock, and recorded in the case's history.

R17, R14, R23, R9: each step's period is the policy's deadline (in working days), counted by the clock.
A deadline anchored at the "case" is counted from the day the case was (last) submitted — every review
step of a sharing application is due within the policy's period after submission (R17); a deadline
anchored at the "step" is counted from the day the step starts. `Step.start_day` holds that day 0 of the
step's period (so the clock can recompute due days when a holiday notice arrives); `Step.started_at`
holds the instant the step actually started.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.kernel.clock.service import add_working_days
from gongshu.kernel.errors import ValidationFailed
from gongshu.kernel.identity import organisations
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.policy import service as policy_service
from gongshu.kernel.policy.schema import StepSpec
from gongshu.kernel.policy.service import Policy
from gongshu.kernel.timeutil import now, today_china
from gongshu.kernel.workflow.models import Case, CaseEvent, Step
from gongshu.kernel.workflow.notify import follow, users_with_role

PARTY_PREFIX = "party."
SUBMISSION_EVENTS = ("submitted", "resubmitted")


def policy_of(session: Session, case: Case) -> Policy:
    """R30: a case keeps the policy version in force on the day it was submitted."""
    return policy_service.get_version(session, case.policy_version_id)


def org_of_kind(session: Session, kind: str) -> int:
    """R5: the one authority, operator or municipal government that a step of that kind goes to."""
    return organisations.org_of_kind(session, kind).id


def resolve_assignee(session: Session, spec: StepSpec, parties: dict[str, int], kind: str) -> int:
    """The organisation a step is assigned to: a fixed kind or a party of the case ("party.provider")."""
    if spec.org.startswith(PARTY_PREFIX):
        name = spec.org[len(PARTY_PREFIX) :]
        if name not in parties:
            raise ValidationFailed(
                "workflow.party_missing",
                f"案件类型“{kind}”的环节“{spec.zh}”需要当事单位“{name}”，但申请中未指定",
                f"Step {spec.name!r} of kind {kind!r} needs the party {name!r}, "
                "which the application does not name",
                field=f"parties.{name}",
            )
        return parties[name]
    return org_of_kind(session, spec.org)


def build_steps(
    session: Session,
    pol: Policy,
    specs: Iterable[StepSpec],
    parties: dict[str, int],
    kind: str,
    *,
    first_seq: int,
) -> list[Step]:
    """Waiting steps for the given declarations, numbered from `first_seq`. Resolves every assignee before
    returning, so a missing party or organisation refuses the command before anything is written."""
    steps: list[Step] = []
    for offset, spec in enumerate(specs):
        steps.append(
            Step(
                seq=first_seq + offset,
                name=spec.name,
                assignee_org_id=resolve_assignee(session, spec, parties, kind),
                assignee_role=spec.role,
                state="waiting",
                deadline_key=spec.deadline,
                working_days=pol.working_days(spec.deadline),
            )
        )
    return steps


def event(
    session: Session,
    case: Case,
    actor: Actor | None,
    name: str,
    *,
    step_seq: int | None = None,
    message: str = "",
    data: dict[str, Any] | None = None,
) -> CaseEvent:
    """Append one entry to the case's history."""
    row = CaseEvent(
        case_id=case.id,
        at=now(),
        actor_user_id=actor.user_id if actor else None,
        actor_org_id=actor.org_id if actor else None,
        event=name,
        step_seq=step_seq,
        message=message,
        data=data or {},
    )
    session.add(row)
    session.flush()
    return row


def case_anchor_day(session: Session, case: Case) -> dt.date:
    """Day 0 of the periods anchored at the case: the day of its latest (re)submission."""
    at = session.scalar(
        select(CaseEvent.at)
        .where(CaseEvent.case_id == case.id, CaseEvent.event.in_(SUBMISSION_EVENTS))
        .order_by(CaseEvent.id.desc())
        .limit(1)
    )
    return today_china(at or case.submitted_at)


def activate(session: Session, case: Case, step: Step, pol: Policy) -> Step:
    """Start a step: its period from the policy's deadline and the clock; its assignees follow the case."""
    deadline = pol.doc.deadlines[step.deadline_key or ""]
    day0 = today_china() if deadline.anchor == "step" else case_anchor_day(session, case)
    due = add_working_days(session, day0, step.working_days or deadline.working_days)
    step.state, step.started_at, step.start_day = "active", now(), day0
    step.due_on, step.due_provisional = due.due, due.provisional
    step.due_soon_notified_at = step.overdue_notified_at = None
    session.flush()
    event(
        session,
        case,
        None,
        "step_started",
        step_seq=step.seq,
        message=step.name,
        data={
            "step": step.name,
            "assignee_org_id": step.assignee_org_id,
            "assignee_role": step.assignee_role,
            "deadline": step.deadline_key,
            "anchor": deadline.anchor,
            "working_days": step.working_days,
            "start_day": day0.isoformat(),
            "due": due.due.isoformat(),
            "provisional": due.provisional,
        },
    )
    follow(session, case, users_with_role(session, step.assignee_org_id, step.assignee_role))
    return step


def active_step(case: Case) -> Step | None:
    return next((s for s in case.steps if s.state == "active"), None)


def cancel_pending(case: Case) -> None:
    """Steps not reached (or still open) when a case closes or is returned will never run."""
    for step in case.steps:
        if step.state in ("waiting", "active"):
            step.state = "cancelled"


def step_spec(pol: Policy, kind: str, name: str) -> StepSpec | None:
    declared = pol.doc.workflow_kinds.get(kind)
    for spec in [*(declared.steps if declared else []), *pol.doc.escalation]:
        if spec.name == name:
            return spec
    return None


def is_escalation_step(pol: Policy, step: Step) -> bool:
    """R15, R17: a step of the escalation chain (authority coordination, municipal decision)."""
    return any(s.name == step.name and s.role == step.assignee_role for s in pol.doc.escalation)


def step_label(pol: Policy, case: Case, step: Step) -> tuple[str, str]:
    """The step's name in Chinese and English, from the policy."""
    spec = step_spec(pol, case.kind, step.name)
    return (spec.zh, spec.en) if spec else (step.name, step.name)


def kind_label(pol: Policy, kind: str) -> tuple[str, str]:
    declared = pol.doc.workflow_kinds.get(kind)
    return (declared.zh, declared.en) if declared else (kind, kind)


def following_step(case: Case, step: Step) -> Step | None:
    """The next step not yet reached after `step`."""
    return next((s for s in case.steps if s.seq > step.seq and s.state == "waiting"), None)


def decisions_for(pol: Policy, case: Case, step: Step) -> tuple[str, ...]:
    """The decisions the assignee of `step` may take. R17: approve, return or reject (with reasons).
    R15, R17: on the escalation chain, the coordinator resolves, refuses, or escalates to the next step
    of the chain; the last step's decision is final."""
    if not is_escalation_step(pol, step):
        return ("approve", "return", "reject")
    following = following_step(case, step)
    if following is not None and is_escalation_step(pol, following):
        return ("approve", "reject", "escalate")
    return ("approve", "reject")


def decision_is_final(pol: Policy, case: Case) -> bool:
    """R15, R17: a decision taken on the escalation chain cannot be disputed again."""
    decided = [s for s in case.steps if s.state == "done"]
    return bool(decided) and is_escalation_step(pol, decided[-1])


def decision_document(
    case: Case, step: Step, actor: Actor, outcome: str, reasons: str, policy_id: str
) -> dict[str, Any]:
    """R17, R10: the decision with its written reasons, as sealed by the platform."""
    return {
        "case_number": case.number,
        "kind": case.kind,
        "title": case.title,
        "applicant_org_id": case.applicant_org_id,
        "step": step.name,
        "step_seq": step.seq,
        "decision": outcome,
        "reasons": reasons,
        "decided_by": {"user_id": actor.user_id, "username": actor.username, "org_id": actor.org_id},
        "decided_at": (step.decided_at or now()).isoformat(),
        "policy_version": policy_id,
        "escalation_level": case.escalation_level,
    }
