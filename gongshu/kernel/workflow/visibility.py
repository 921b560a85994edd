"""Who may see a case: the applicant organisation, the organisations assigned to any of its steps, the
authority (R5: it supervises every application, R28), and the case's followers. Everyone else is told the
case does not exist, so that its existence does not leak.

`can_view` is the one rule; the central access decision point calls it for resources of type "case".
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from gongshu.kernel.errors import NotFound
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import OrgKind
from gongshu.kernel.workflow.models import Case, CaseFollower
from gongshu.kernel.workflow.steps import active_step, decision_is_final, decisions_for, policy_of

# R28: roles that only read (the auditors supervise; they never change a case).
READ_ONLY_ROLES = frozenset({"auditor"})


def is_read_only(actor: Actor) -> bool:
    """R26, R28: an account whose roles all only read (an auditor) may see a case but change nothing: no
    file, no decision, no dispute, no withdrawal."""
    return bool(actor.roles) and actor.role_names() <= READ_ONLY_ROLES


def participant_org_ids(case: Case) -> set[int]:
    return {case.applicant_org_id} | {s.assignee_org_id for s in case.steps}


def can_view(actor: Actor, case: Case) -> bool:
    """R5, R28: may this actor see this case (its steps, history, attachments, decision)?"""
    if actor.is_system:
        return True
    if actor.is_anonymous or actor.user_id is None:
        return False
    if actor.org_kind == OrgKind.AUTHORITY:
        return True
    orgs = participant_org_ids(case)
    if any(actor.acts_for(org_id) for org_id in orgs) or any(o in orgs for o, _ in actor.roles):
        return True
    session = object_session(case)
    if session is None:
        return False
    follower = session.scalar(
        select(CaseFollower.id).where(CaseFollower.case_id == case.id, CaseFollower.user_id == actor.user_id)
    )
    return follower is not None


def not_found(case_id: object) -> NotFound:
    return NotFound("workflow.case_not_found", f"案件 {case_id} 不存在", f"Case {case_id} does not exist")


def get_case(session: Session, actor: Actor, case_id: int, *, for_update: bool = False) -> Case:
    """The case if the actor may see it, else NotFound (the same answer as for a case that does not exist).
    `for_update` locks the row for a decision (PostgreSQL; SQLite serialises writers anyway)."""
    query = select(Case).where(Case.id == case_id)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    case = session.scalar(query)
    if case is None or not can_view(actor, case):
        raise not_found(case_id)
    return case


def decisions_open_to(session: Session, actor: Actor, case: Case) -> tuple[str, ...]:
    """R17: the decisions this actor may take now (none unless they are the open step's assignee)."""
    step = active_step(case)
    if (
        case.status != "in_review"
        or step is None
        or not actor.has_role(step.assignee_role, step.assignee_org_id)
    ):
        return ()
    return decisions_for(policy_of(session, case), case, step)


def may_dispute(session: Session, actor: Actor, case: Case) -> bool:
    """R15, R17: the applicant may dispute a refusal or a return, unless it was the final decision."""
    return (
        actor.acts_for(case.applicant_org_id)
        and not is_read_only(actor)
        and case.status in ("rejected", "returned")
        and not decision_is_final(policy_of(session, case), case)
    )


def may_withdraw(actor: Actor, case: Case) -> bool:
    """The applicant's side may withdraw an open case (an auditor of its organisation may not, R28)."""
    return (
        actor.acts_for(case.applicant_org_id)
        and not is_read_only(actor)
        and case.status in ("in_review", "returned")
    )


def may_resubmit(actor: Actor, case: Case) -> bool:
    """The applicant's side may resubmit a case returned for correction (not an auditor, R28)."""
    return actor.acts_for(case.applicant_org_id) and not is_read_only(actor) and case.status == "returned"
