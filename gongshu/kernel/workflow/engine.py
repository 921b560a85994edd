"""The one workflow engine for every application kind (catalog publication R6, catalog change R9, sharing
application R17, open application R23, objection R14, disputes R15/R17, emergencies R21, IT projects R8).

A kind is data in the policy file (R30): ordered steps, each with an assignee organisation, a role and a
deadline. Nothing here knows a kind by name, except the case-number prefixes.

Commands validate first and then act, inside the caller's transaction; each writes the case history, an
audit entry and the notifications of the followers.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from gongshu.kernel.audit.service import record
from gongshu.kernel.crypto.seal import seal_document
from gongshu.kernel.errors import Conflict, Forbidden, Unauthenticated, ValidationFailed
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import Organisation
from gongshu.kernel.policy import service as policy_service
from gongshu.kernel.policy.service import Policy
from gongshu.kernel.timeutil import CHINA, as_utc, now, today_china
from gongshu.kernel.workflow import hooks
from gongshu.kernel.workflow.models import Case, Step
from gongshu.kernel.workflow.notify import follow, notify_followers
from gongshu.kernel.workflow.steps import (
    activate,
    active_step,
    build_steps,
    cancel_pending,
    decision_document,
    decision_is_final,
    decisions_for,
    event,
    following_step,
    is_escalation_step,
    policy_of,
    step_label,
)
from gongshu.kernel.workflow.visibility import get_case, is_read_only

# Case numbers: a prefix per kind, the year of submission and the case's id ("GX-2026-000123").
PREFIXES = {
    "catalog_publication": "ML",
    "sharing_application": "GX",
    "open_application": "KF",
    "objection": "YY",
}
DEFAULT_PREFIX = "AJ"
DECISIONS = ("approve", "return", "reject", "escalate")
DISPUTABLE = ("rejected", "returned")
_PAST = {"approve": "approved", "return": "returned", "reject": "rejected", "escalate": "escalated"}
_ZH = {"approve": "通过", "return": "退回", "reject": "不予通过", "escalate": "提请市人民政府决定"}
# R28: a decision as the case page's button names it, for the messages that name a decision.
_EN = {
    "approve": "Approve",
    "return": "Return for correction",
    "reject": "Reject",
    "escalate": "Escalate to the municipal government",
}
TITLE_MAX = 300
REASONS_MAX = 2000
"""R17: the longest written reasons a decision, a withdrawal or a dispute holds, in characters (as long
as an objection's reasons, R14). Longer reasons are refused with their length, never cut off; supporting
material goes as an attached file."""


def case_number(kind: str, year: int, case_id: int) -> str:
    return f"{PREFIXES.get(kind, DEFAULT_PREFIX)}-{year}-{case_id:06d}"


def _require_person(actor: Actor) -> None:
    if actor.is_anonymous or (actor.user_id is None and not actor.is_system):
        raise Unauthenticated("auth.login_required", "请先登录", "Please log in first")


def _bounded_reasons(reasons: str | None) -> str:
    """R17: written reasons, stripped, at most REASONS_MAX characters — refused precisely, naming their
    length, when longer (nothing is cut off)."""
    text = (reasons or "").strip()
    if len(text) > REASONS_MAX:
        raise ValidationFailed(
            "workflow.reasons_too_long",
            f"理由不能超过{REASONS_MAX}字（现为{len(text)}字），请精简后重新提交；详细材料可作为附件上传",
            f"Reasons may be at most {REASONS_MAX} characters (these have {len(text)}); shorten them and "
            "submit again — supporting material goes as an attached file",
            field="reasons",
            details={"max": REASONS_MAX, "length": len(text)},
        )
    return text


def _require_reasons(reasons: str | None, what_zh: str, what_en: str) -> str:
    """R17: a refusal (and every return, withdrawal and dispute) carries written reasons, at most
    REASONS_MAX characters."""
    text = _bounded_reasons(reasons)
    if not text:
        raise ValidationFailed(
            "workflow.reasons_required",
            f"{what_zh}必须填写书面理由",
            f"{what_en} requires written reasons",
            field="reasons",
        )
    return text


def _require_applicant(actor: Actor, case: Case, what_zh: str, what_en: str) -> None:
    """The applicant's own acts (withdraw, dispute, resubmit): only the applicant organisation's accounts
    that may act — an auditor there reads the case but changes nothing (R26, R28)."""
    if is_read_only(actor):
        raise Forbidden(
            "workflow.read_only",
            f"审计人员只能查阅案件 {case.number}，不能{what_zh}",
            f"An auditor may read case {case.number} but not {what_en} it",
        )
    if not actor.acts_for(case.applicant_org_id):
        raise Forbidden(
            "workflow.not_applicant",
            f"只有申请单位可以{what_zh}案件 {case.number}",
            f"Only the applicant organisation may {what_en} case {case.number}",
        )


def _audit(session: Session, actor: Actor, action: str, case: Case, **detail: Any) -> None:
    record(
        session,
        actor,
        action,
        object_type="case",
        object_id=case.id,
        detail={"number": case.number, "kind": case.kind, "status": case.status, **detail},
    )


def submit(
    session: Session,
    actor: Actor,
    kind: str,
    *,
    title: str,
    title_en: str | None = None,
    subject_type: str = "",
    subject_id: str | int = "",
    parties: dict[str, int] | None = None,
    payload: dict[str, Any] | None = None,
    applicant_org_id: int | None = None,
) -> Case:
    """Open a case of `kind` under the policy in force today (R30) and start its first step.

    `parties` names the organisations that steps refer to as "party.<name>" (e.g. the provider of the
    data asked for, R17). Every period is counted by the working-day clock from the policy's deadlines.
    `title_en` is the title shown on English pages (R28; cut to TITLE_MAX, none: the Chinese title)."""
    _require_person(actor)
    title = (title or "").strip()
    if not title or len(title) > TITLE_MAX:
        raise ValidationFailed(
            "workflow.title_invalid",
            f"标题不能为空且不超过{TITLE_MAX}字",
            f"A title is required (at most {TITLE_MAX} characters)",
            field="title",
        )
    title_en = (title_en or "").strip()[:TITLE_MAX].strip() or None
    org_id = applicant_org_id if applicant_org_id is not None else actor.org_id
    if org_id is None or session.get(Organisation, org_id) is None:
        raise ValidationFailed(
            "workflow.applicant_required",
            "没有申请单位",
            "No applicant organisation",
            field="applicant_org_id",
        )
    if not actor.is_system and not actor.acts_for(org_id):
        raise Forbidden(
            "workflow.not_applicant",
            "您不能代表该单位提出申请",
            "You may not apply on behalf of this organisation",
        )
    pol = policy_service.at(session, today_china())
    spec = pol.doc.workflow_kinds.get(kind)
    if spec is None:
        raise ValidationFailed(
            "workflow.unknown_kind",
            f"政策 {pol.id} 中没有案件类型“{kind}”",
            f"Policy {pol.id} has no workflow kind {kind!r}",
            field="kind",
        )
    clean_parties = {str(k): int(v) for k, v in (parties or {}).items()}
    for name, party_org in clean_parties.items():
        if session.get(Organisation, party_org) is None:
            raise ValidationFailed(
                "workflow.party_unknown",
                f"当事单位 {name}（编号 {party_org}）不存在",
                f"Party {name} (organisation {party_org}) does not exist",
                field=f"parties.{name}",
            )
    steps = build_steps(session, pol, spec.steps, clean_parties, kind, first_seq=1)

    at = now()
    case = Case(
        number=f"new-{uuid.uuid4().hex}",
        kind=kind,
        policy_version_id=pol.id,
        status="in_review",
        title=title,
        title_en=title_en,
        applicant_org_id=org_id,
        applicant_user_id=actor.user_id,
        subject_type=subject_type,
        subject_id=str(subject_id),
        parties=clean_parties,
        payload=dict(payload or {}),
        submitted_at=at,
        escalation_level=0,
    )
    session.add(case)
    session.flush()  # the id makes the number unique, whatever other submissions run at the same time
    case.number = case_number(kind, today_china(at).year, case.id)
    case.steps.extend(steps)
    session.flush()
    event(session, case, actor, "submitted", message=title, data={"policy_version": pol.id})
    follow(session, case, [actor.user_id])
    first = activate(session, case, steps[0], pol)
    _audit(session, actor, "workflow.submit", case, title=title, parties=clean_parties)
    label_zh, label_en = step_label(pol, case, first)
    notify_followers(
        session,
        case,
        "submitted",
        f"新案件 {case.number}《{title}》待{label_zh}，期限 {first.due_on}",
        f"New case {case.number} “{case.title_in('en')}” awaits {label_en}, due {first.due_on}",
        exclude=actor.user_id,
    )
    return case


def decide(session: Session, actor: Actor, case_id: int, decision: str, reasons: str | None = "") -> Case:
    """Decide the active step: approve, return, reject — or, on an escalation step, escalate.

    R17: only the assignee decides; a return or refusal carries written reasons, and a final decision is
    sealed with the platform's electronic seal (R10). R15, R17: on the escalation steps the authority's
    coordinator resolves, refuses (final) or escalates to the municipal government, whose decision is
    final."""
    case = get_case(session, actor, case_id, for_update=True)
    if decision not in DECISIONS:
        raise ValidationFailed(
            "workflow.unknown_decision",
            f"未知的决定“{decision}”",
            f"Unknown decision {decision!r}",
            field="decision",
        )
    step = active_step(case)
    if case.status != "in_review" or step is None:
        raise Conflict(
            "workflow.case_closed", f"案件 {case.number} 不在审核中", f"Case {case.number} is not in review"
        )
    pol = policy_of(session, case)
    if not actor.has_role(step.assignee_role, step.assignee_org_id):
        _refuse_decided_before(session, actor, case, step, pol)
        raise Forbidden(
            "workflow.not_assignee",
            f"您不是案件 {case.number} 当前环节的办理人",
            f"You are not the assignee of the current step of case {case.number}",
        )
    on_chain = is_escalation_step(pol, step)
    if decision not in decisions_for(pol, case, step):
        if decision == "escalate" and on_chain:
            raise Conflict(
                "workflow.escalation_final",
                "该环节的决定为最终决定，不能再提请",
                "The decision of this step is final; it cannot be escalated further",
            )
        raise ValidationFailed(
            "workflow.decision_not_allowed",
            f"当前环节不能作出“{_ZH[decision]}”的决定",
            f"Decision {decision!r} is not possible on this step",
            field="decision",
        )
    following = following_step(case, step)
    text = _bounded_reasons(reasons)
    if decision != "approve":
        text = _require_reasons(text, f"“{_ZH[decision]}”", f"“{_EN[decision]}”")

    step.state, step.decision, step.reasons = "done", decision, text or None
    step.decided_at, step.decided_by_user_id = now(), actor.user_id
    session.flush()
    event(session, case, actor, _PAST[decision], step_seq=step.seq, message=text, data={"step": step.name})
    hooks.fire_step_done(session, case, step)
    label_zh, label_en = step_label(pol, case, step)
    started: Step | None = None
    if decision == "approve" and following is not None and not on_chain:
        started = activate(session, case, following, pol)
    elif decision == "escalate" and following is not None:
        case.escalation_level += 1
        started = activate(session, case, following, pol)
    elif decision == "return":
        case.status, case.outcome_reasons = "returned", text
        cancel_pending(case)
    else:
        _close(session, actor, case, step, "approved" if decision == "approve" else "rejected", text, pol.id)
    session.flush()
    _audit(session, actor, "workflow.decide", case, step=step.name, decision=decision, reasons=text)
    zh = f"案件 {case.number}《{case.title}》{label_zh}：{_ZH[decision]}"
    en = f"Case {case.number} “{case.title_in('en')}”, {label_en}: {_PAST[decision]}"
    if started is not None:
        next_zh, next_en = step_label(pol, case, started)
        zh += f"；转入{next_zh}，期限 {started.due_on}"
        en += f"; now at {next_en}, due {started.due_on}"
    notify_followers(session, case, _PAST[decision], zh, en, exclude=actor.user_id)
    return case


def _refuse_decided_before(session: Session, actor: Actor, case: Case, active: Step, pol: Policy) -> None:
    """R17: a decision posted again on a step already decided (the provider's browser sending its form a
    second time after the case moved on to the authority) is refused as what it is — the step was
    decided: when, how, and where the case is now (409 workflow.already_decided) — rather than as a
    stranger's decision. The actor's own last decision of this case is named; failing that, the last
    decision of a step the actor could have taken (a colleague's). Anything else: not the assignee."""
    done = [s for s in case.steps if s.state == "done" and s.seq < active.seq and s.decided_at is not None]
    mine = [s for s in done if actor.user_id is not None and s.decided_by_user_id == actor.user_id]
    theirs = [s for s in done if actor.has_role(s.assignee_role, s.assignee_org_id)]
    own = bool(mine)
    if not (mine or theirs):
        return
    decided = (mine or theirs)[-1]
    if decided.decision not in _ZH:
        return
    at = as_utc(decided.decided_at or now()).astimezone(CHINA).strftime("%Y-%m-%d %H:%M")
    org = session.get(Organisation, active.assignee_org_id)
    step_zh, step_en = step_label(pol, case, decided)
    next_zh, next_en = step_label(pol, case, active)
    org_zh = f"（{org.name('zh')}）" if org is not None else ""
    org_en = f" ({org.name('en')})" if org is not None else ""
    who_zh = "您已" if own else "本环节已"
    who_en = "You already decided" if own else "This step was already decided"
    raise Conflict(
        "workflow.already_decided",
        f"{who_zh}于 {at} 办理本环节（{step_zh}：{_ZH[decided.decision]}），"
        f"案件 {case.number} 已转至{next_zh}{org_zh}，无需再次提交",
        f"{who_en} on {at} ({step_en}: {_PAST[decided.decision]}); case {case.number} is now at "
        f"{next_en}{org_en} — nothing to submit again",
        details={
            "decided_at": as_utc(decided.decided_at or now()).isoformat(),
            "step": decided.name,
            "decision": decided.decision,
            "current_step": active.name,
            "current_org_id": active.assignee_org_id,
        },
    )


def _close(
    session: Session, actor: Actor, case: Case, step: Step, outcome: str, reasons: str, policy_id: str
) -> None:
    """Close with a final decision, sealed by the platform (R10; R17: a refusal's written reasons)."""
    case.status, case.closed_at, case.outcome_reasons = outcome, now(), reasons or None
    cancel_pending(case)
    case.sealed_decision = seal_document(decision_document(case, step, actor, outcome, reasons, policy_id))
    session.flush()
    hooks.fire_closed(session, case)


def resubmit(
    session: Session, actor: Actor, case_id: int, payload_update: dict[str, Any] | None = None
) -> Case:
    """A returned case, corrected by its applicant, starts again from the first step with fresh periods."""
    case = get_case(session, actor, case_id, for_update=True)
    _require_applicant(actor, case, "重新提交", "resubmit")
    if case.status != "returned":
        raise Conflict(
            "workflow.not_returned",
            f"案件 {case.number} 未被退回，不能重新提交",
            f"Case {case.number} was not returned; it cannot be resubmitted",
        )
    if payload_update is not None and not isinstance(payload_update, dict):
        raise ValidationFailed(
            "workflow.payload_invalid",
            "申请内容必须是对象",
            "The payload must be an object",
            field="payload_update",
        )
    pol = policy_of(session, case)
    spec = pol.doc.workflow_kinds[case.kind]
    first_seq = max(s.seq for s in case.steps) + 1
    steps = build_steps(session, pol, spec.steps, dict(case.parties), case.kind, first_seq=first_seq)

    case.payload = {**case.payload, **(payload_update or {})}
    case.status, case.closed_at, case.outcome_reasons = "in_review", None, None
    case.steps.extend(steps)
    session.flush()
    event(session, case, actor, "resubmitted", data={"changed": sorted((payload_update or {}).keys())})
    first = activate(session, case, steps[0], pol)
    _audit(session, actor, "workflow.resubmit", case, changed=sorted((payload_update or {}).keys()))
    label_zh, label_en = step_label(pol, case, first)
    notify_followers(
        session,
        case,
        "resubmitted",
        f"案件 {case.number}《{case.title}》已重新提交，待{label_zh}，期限 {first.due_on}",
        f"Case {case.number} “{case.title_in('en')}” was resubmitted; {label_en} due {first.due_on}",
        exclude=actor.user_id,
    )
    return case


def withdraw(session: Session, actor: Actor, case_id: int, reasons: str) -> Case:
    """The applicant organisation withdraws its case (with written reasons)."""
    case = get_case(session, actor, case_id, for_update=True)
    _require_applicant(actor, case, "撤回", "withdraw")
    if case.status not in ("in_review", "returned"):
        raise Conflict(
            "workflow.case_closed",
            f"案件 {case.number} 已办结，不能撤回",
            f"Case {case.number} is closed; it cannot be withdrawn",
        )
    text = _require_reasons(reasons, "撤回", "Withdrawal")
    cancel_pending(case)
    case.status, case.closed_at, case.outcome_reasons = "withdrawn", now(), text
    session.flush()
    event(session, case, actor, "withdrawn", message=text)
    _audit(session, actor, "workflow.withdraw", case, reasons=text)
    notify_followers(
        session,
        case,
        "withdrawn",
        f"案件 {case.number}《{case.title}》已由申请单位撤回：{text}",
        f"Case {case.number} “{case.title_in('en')}” was withdrawn by the applicant: {text}",
        exclude=actor.user_id,
    )
    hooks.fire_withdrawn(session, case)
    return case


def escalate(session: Session, actor: Actor, case_id: int, reasons: str) -> Case:
    """R15, R17: the applicant disputes a refusal (or return). The policy's escalation steps are appended —
    the authority coordinates, then the municipal government decides — and the coordination starts."""
    case = get_case(session, actor, case_id, for_update=True)
    _require_applicant(actor, case, "提出异议", "dispute")
    if case.status not in DISPUTABLE:
        raise Conflict(
            "workflow.not_disputable",
            f"案件 {case.number} 当前状态不能提出异议",
            f"Case {case.number} cannot be disputed in its current state",
        )
    pol = policy_of(session, case)
    if decision_is_final(pol, case):
        raise Conflict(
            "workflow.escalation_final",
            f"案件 {case.number} 的决定为最终决定",
            f"The decision on case {case.number} is final",
        )
    text = _require_reasons(reasons, "提出异议", "A dispute")
    first_seq = max(s.seq for s in case.steps) + 1
    steps = build_steps(session, pol, pol.doc.escalation, dict(case.parties), case.kind, first_seq=first_seq)

    previous = case.sealed_decision
    case.status, case.closed_at, case.sealed_decision = "in_review", None, None
    case.escalation_level += 1
    case.steps.extend(steps)
    session.flush()
    event(
        session,
        case,
        actor,
        "escalated",
        message=text,
        data={"level": case.escalation_level, "superseded_decision": previous},
    )
    first = activate(session, case, steps[0], pol)
    _audit(session, actor, "workflow.escalate", case, reasons=text, level=case.escalation_level)
    label_zh, label_en = step_label(pol, case, first)
    notify_followers(
        session,
        case,
        "escalated",
        f"案件 {case.number}《{case.title}》申请单位提出异议，待{label_zh}，期限 {first.due_on}",
        f"Case {case.number} “{case.title_in('en')}” is disputed; {label_en} due {first.due_on}",
        exclude=actor.user_id,
    )
    return case
