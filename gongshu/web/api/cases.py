"""The workflow API: the inbox, cases with their steps and history, decisions (R17), disputes (R15, R17),
attachments and notifications. A thin layer over the workflow services."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile
from pydantic import BaseModel, Field

from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import NotFound
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.workflow import attachments, engine, inbox, notify
from gongshu.kernel.workflow.attachments import MAX_ATTACHMENT_BYTES
from gongshu.kernel.workflow.models import CaseAttachment, Notification
from gongshu.web.deps import IdPath, csrf_protect, require_actor
from gongshu.web.pages.cases import download_headers
from gongshu.web.render import lang_of

router = APIRouter(prefix="/api/v1", tags=["workflow"])
LoggedIn = Annotated[Actor, Depends(require_actor)]
Protected = [Depends(csrf_protect)]
TITLE_EN = "R28: the title in English, shown on English pages (null: the case has only its Chinese title)"


class StepOut(BaseModel):
    seq: int
    name: str
    label: str
    assignee_org_id: int
    assignee_role: str
    state: str
    working_days: int | None
    start_day: dt.date | None = Field(
        description="Day 0 of the step's period (R17: the submission day "
        "when the deadline is anchored at the case)"
    )
    due_on: dt.date | None = Field(description="The period ends at the end of this day, China time")
    due_provisional: bool
    sla: str | None = Field(description="on_time, due_soon or overdue while the step is open")
    days_left: int | None
    decision: str | None
    reasons: str | None
    decided_at: dt.datetime | None
    decided_by_user_id: int | None


class EventOut(BaseModel):
    at: dt.datetime
    event: str
    step_seq: int | None
    actor_user_id: int | None
    actor_org_id: int | None
    message: str


class AttachmentOut(BaseModel):
    id: int
    filename: str
    content_type: str
    size: int
    sm3: str
    step_seq: int | None
    uploaded_at: dt.datetime
    uploaded_by_user_id: int | None

    @classmethod
    def of(cls, a: CaseAttachment) -> AttachmentOut:
        return cls(
            id=a.id,
            filename=a.filename,
            content_type=a.content_type,
            size=a.size,
            sm3=a.sm3,
            step_seq=a.step_seq,
            uploaded_at=a.uploaded_at,
            uploaded_by_user_id=a.uploaded_by_user_id,
        )


class CaseOut(BaseModel):
    id: int
    number: str
    kind: str
    kind_label: str
    title: str
    title_en: str | None = Field(description=TITLE_EN)
    status: str
    applicant_org_id: int
    applicant_user_id: int | None
    subject_type: str
    subject_id: str
    policy_version_id: str
    submitted_at: dt.datetime
    closed_at: dt.datetime | None
    escalation_level: int
    outcome_reasons: str | None
    sealed_decision: dict[str, Any] | None = Field(
        description="R17, R10: the final decision with its written reasons, sealed by the platform (SM2)"
    )
    payload: dict[str, Any]
    steps: list[StepOut]
    events: list[EventOut]
    attachments: list[AttachmentOut]
    decisions: list[str] = Field(description="Decisions the caller may take now")
    can_dispute: bool

    @classmethod
    def of(cls, view: inbox.CaseView, lang: str) -> CaseOut:
        c = view.case
        steps = [
            StepOut(
                seq=sv.step.seq,
                name=sv.step.name,
                label=sv.label(lang),
                assignee_org_id=sv.step.assignee_org_id,
                assignee_role=sv.step.assignee_role,
                state=sv.step.state,
                working_days=sv.step.working_days,
                start_day=sv.step.start_day,
                due_on=sv.step.due_on,
                due_provisional=sv.step.due_provisional,
                sla=sv.sla,
                days_left=sv.days_left,
                decision=sv.step.decision,
                reasons=sv.step.reasons,
                decided_at=sv.step.decided_at,
                decided_by_user_id=sv.step.decided_by_user_id,
            )
            for sv in view.steps
        ]
        events = [
            EventOut(
                at=e.at,
                event=e.event,
                step_seq=e.step_seq,
                actor_user_id=e.actor_user_id,
                actor_org_id=e.actor_org_id,
                message=e.message,
            )
            for e in view.events
        ]
        return cls(
            id=c.id,
            number=c.number,
            kind=c.kind,
            kind_label=view.kind(lang),
            title=c.title,
            title_en=c.title_en,
            status=c.status,
            applicant_org_id=c.applicant_org_id,
            applicant_user_id=c.applicant_user_id,
            subject_type=c.subject_type,
            subject_id=c.subject_id,
            policy_version_id=c.policy_version_id,
            submitted_at=c.submitted_at,
            closed_at=c.closed_at,
            escalation_level=c.escalation_level,
            outcome_reasons=c.outcome_reasons,
            sealed_decision=c.sealed_decision,
            payload=c.payload,
            steps=steps,
            events=events,
            attachments=[AttachmentOut.of(a) for a in view.attachments],
            decisions=list(view.decisions),
            can_dispute=view.can_dispute,
        )


class InboxItemOut(BaseModel):
    case_id: int
    number: str
    kind: str
    kind_label: str
    title: str
    title_en: str | None = Field(description=TITLE_EN)
    applicant_org_id: int
    step: str
    step_label: str
    assignee_org_id: int
    assignee_role: str
    due_on: dt.date | None
    due_provisional: bool
    sla: str
    days_left: int | None


class NotificationOut(BaseModel):
    id: int
    case_id: int | None
    kind: str
    message: str
    message_en: str
    link: str | None
    created_at: dt.datetime
    read_at: dt.datetime | None

    @classmethod
    def of(cls, n: Notification, lang: str) -> NotificationOut:
        return cls(
            id=n.id,
            case_id=n.case_id,
            kind=n.kind,
            message=n.message_zh if lang == "zh" else n.message_en,
            message_en=n.message_en,
            link=n.link,
            created_at=n.created_at,
            read_at=n.read_at,
        )


class DecisionIn(BaseModel):
    decision: str = Field(
        max_length=20, description="approve, return, reject; escalate on an escalation step"
    )
    reasons: str = Field(
        default="", max_length=20000, description="Written reasons (R17); required unless approving"
    )


class EscalationIn(BaseModel):
    reasons: str = Field(max_length=20000, description="Why the applicant disputes the decision (R15, R17)")


class CaseBriefOut(BaseModel):
    id: int
    number: str
    kind: str
    kind_label: str
    title: str
    title_en: str | None = Field(description=TITLE_EN)
    status: str
    submitted_at: dt.datetime
    step: str | None
    due_on: dt.date | None
    sla: str | None


class MarkReadIn(BaseModel):
    ids: list[int] = Field(default_factory=list, max_length=1000)
    all: bool = False


class MarkedOut(BaseModel):
    marked: int


def _case_out(request: Request, actor: Actor, case_id: int) -> CaseOut:
    with read_scope() as s:
        return CaseOut.of(inbox.case_view(s, actor, case_id), lang_of(request))


@router.get("/inbox", response_model=list[InboxItemOut])
def get_inbox(request: Request, actor: LoggedIn) -> list[InboxItemOut]:
    """R17, R14, R23: the open steps assigned to the caller's roles, earliest due day first."""
    lang = lang_of(request)
    with read_scope() as s:
        return [
            InboxItemOut(
                case_id=i.case.id,
                number=i.case.number,
                kind=i.case.kind,
                kind_label=i.kind_label(lang),
                title=i.case.title,
                title_en=i.case.title_en,
                applicant_org_id=i.case.applicant_org_id,
                step=i.step.name,
                step_label=i.step_label(lang),
                assignee_org_id=i.step.assignee_org_id,
                assignee_role=i.step.assignee_role,
                due_on=i.step.due_on,
                due_provisional=i.step.due_provisional,
                sla=i.sla,
                days_left=i.days_left,
            )
            for i in inbox.inbox(s, actor)
        ]


@router.get("/cases", response_model=list[CaseBriefOut])
def get_my_cases(request: Request, actor: LoggedIn, status: str | None = None) -> list[CaseBriefOut]:
    """The cases applied for by the caller's organisation, newest first."""
    lang = lang_of(request)
    with read_scope() as s:
        return [
            CaseBriefOut(
                id=r.case.id,
                number=r.case.number,
                kind=r.case.kind,
                kind_label=r.kind(lang),
                title=r.case.title,
                title_en=r.case.title_en,
                status=r.case.status,
                submitted_at=r.case.submitted_at,
                step=r.step.step.name if r.step else None,
                due_on=r.step.step.due_on if r.step else None,
                sla=r.step.sla if r.step else None,
            )
            for r in inbox.summaries(s, inbox.my_cases(s, actor, status or None))
        ]


@router.get("/cases/{case_id}", response_model=CaseOut)
def get_case(request: Request, actor: LoggedIn, case_id: IdPath) -> CaseOut:
    """A case with its steps, history and attachments (404 for those who may not see it)."""
    return _case_out(request, actor, case_id)


@router.post("/cases/{case_id}/decisions", response_model=CaseOut, dependencies=Protected)
def post_decision(request: Request, actor: LoggedIn, case_id: IdPath, body: DecisionIn) -> CaseOut:
    """R17: the assignee of the open step decides, with written reasons for a return or refusal."""
    with session_scope() as s:
        engine.decide(s, actor, case_id, body.decision, body.reasons)
    return _case_out(request, actor, case_id)


@router.post("/cases/{case_id}/escalations", response_model=CaseOut, dependencies=Protected)
def post_escalation(request: Request, actor: LoggedIn, case_id: IdPath, body: EscalationIn) -> CaseOut:
    """R15, R17: the applicant disputes a refusal: authority coordination, then the municipal decision."""
    with session_scope() as s:
        engine.escalate(s, actor, case_id, body.reasons)
    return _case_out(request, actor, case_id)


@router.post(
    "/cases/{case_id}/attachments", response_model=AttachmentOut, status_code=201, dependencies=Protected
)
async def post_attachment(
    actor: LoggedIn,
    case_id: IdPath,
    file: Annotated[UploadFile, File()],
    step_seq: Annotated[int | None, Form()] = None,
) -> AttachmentOut:
    """Add a file (at most 20 MB) to a case."""
    content = await file.read(MAX_ATTACHMENT_BYTES + 1)
    with session_scope() as s:
        row = attachments.attach(
            s,
            actor,
            case_id,
            file.filename or "",
            content,
            file.content_type or "application/octet-stream",
            step_seq,
        )
        return AttachmentOut.of(row)


@router.get("/cases/{case_id}/attachments/{attachment_id}", response_class=Response)
def get_attachment(actor: LoggedIn, case_id: IdPath, attachment_id: IdPath) -> Response:
    with session_scope() as s:  # the read is audited
        row, content = attachments.read_attachment(s, actor, attachment_id)
    if row.case_id != case_id:
        raise NotFound(
            "workflow.attachment_not_found",
            f"附件 {attachment_id} 不存在",
            f"Attachment {attachment_id} does not exist",
        )
    return Response(content, media_type=row.content_type, headers=download_headers(row.filename))


@router.get("/notifications", response_model=list[NotificationOut])
def get_notifications(request: Request, actor: LoggedIn, unread_only: bool = False) -> list[NotificationOut]:
    lang = lang_of(request)
    with read_scope() as s:
        return [
            NotificationOut.of(n, lang) for n in notify.list_notifications(s, actor, unread_only=unread_only)
        ]


@router.post("/notifications/read", response_model=MarkedOut, dependencies=Protected)
def post_notifications_read(actor: LoggedIn, body: MarkReadIn) -> MarkedOut:
    with session_scope() as s:
        return MarkedOut(marked=notify.mark_read(s, actor, "all" if body.all else body.ids))
