"""Pages of the workflow: the inbox (open steps by due day, R17/R14/R23 periods), the organisation's own
cases, a case with its steps, history, attachments and decision form, and the notifications.

Handlers are thin: they open a unit of work and call the workflow services, which hold every rule.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import GongshuError, NotFound
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.timeutil import CHINA, as_utc
from gongshu.kernel.workflow import attachments, engine, inbox, notify
from gongshu.kernel.workflow.attachments import MAX_ATTACHMENT_BYTES
from gongshu.kernel.workflow.models import Case
from gongshu.kernel.workflow.visibility import can_view
from gongshu.web.deps import csrf_protect, require_actor
from gongshu.web.render import lang_of, render

router = APIRouter(include_in_schema=False)
LoggedIn = Annotated[Actor, Depends(require_actor)]
Protected = [Depends(csrf_protect)]


def _(msgid: str) -> str:
    """Marks a msgid for the catalogs; templates translate it when the page is rendered."""
    return msgid


# Labels of roles, case states, decisions and history events (msgids of the page catalogs).
ROLE_LABELS = {
    "reviewer": _("Reviewer"),
    "coordinator": _("Coordinator"),
    "decision_maker": _("Decision maker"),
    "pre_reviewer": _("Pre-reviewer"),
    "data_officer": _("Data officer"),
    "catalog_officer": _("Catalog officer"),
    "org_admin": _("Organisation administrator"),
    "auditor": _("Auditor"),
    "admin": _("Platform administrator"),
    "public": _("Public user"),
}
STATUS_LABELS = {
    "draft": _("Draft"),
    "in_review": _("In review"),
    "returned": _("Returned"),
    "approved": _("Approved"),
    "rejected": _("Rejected"),
    "withdrawn": _("Withdrawn"),
}
STEP_STATES = {
    "waiting": _("Not reached"),
    "active": _("In progress"),
    "done": _("Decided"),
    "cancelled": _("Not needed"),
}
SLA_LABELS = {"on_time": _("On time"), "due_soon": _("Due soon"), "overdue": _("Overdue")}
DECISION_LABELS = {
    "approve": _("Approve"),
    "return": _("Return for correction"),
    "reject": _("Reject"),
    "escalate": _("Escalate to the municipal government"),
}
EVENT_LABELS = {
    "submitted": _("Case submitted"),
    "step_started": _("Step started"),
    "approved": _("Approved"),
    "returned": _("Returned"),
    "rejected": _("Rejected"),
    "escalated": _("Disputed and escalated"),
    "resubmitted": _("Resubmitted"),
    "withdrawn": _("Withdrawn"),
    "attachment_added": _("Attachment added"),
    "due_soon": _("Due soon"),
    "overdue": _("Overdue"),
    "deadline_recomputed": _("Deadline recomputed"),
}


def china_time(value: dt.datetime | None) -> str:
    """An instant as shown on pages: China time, to the minute (a naive instant, as SQLite gives it back,
    is UTC)."""
    return as_utc(value).astimezone(CHINA).strftime("%Y-%m-%d %H:%M") if value is not None else ""


def viewable_case_ids(session: Any, actor: Actor, case_ids: Iterable[int | None]) -> set[int]:
    """R5, R28: of these cases, the ones this actor may open; other pages link only to those, since
    /cases/{id} answers 404 for a case the actor may not see."""
    wanted = {i for i in case_ids if i}
    if not wanted:
        return set()
    cases = session.scalars(select(Case).where(Case.id.in_(wanted)))
    return {c.id for c in cases if can_view(actor, c)}


LABELS: dict[str, Any] = {
    "china_time": china_time,
    "roles": ROLE_LABELS,
    "statuses": STATUS_LABELS,
    "step_states": STEP_STATES,
    "sla_labels": SLA_LABELS,
    "decision_labels": DECISION_LABELS,
    "event_labels": EVENT_LABELS,
    "max_attachment_mb": MAX_ATTACHMENT_BYTES // (1024 * 1024),
}


# Kinds whose case page shows a panel of their own (what was asked, R14: the record and the value
# claimed) from `template`, with what `fn(session, actor, case)` gives. A panel with "decided_elsewhere"
# replaces the generic decision form: such a case is decided on its own page ("handling_url").
CasePanel = Callable[[Any, Actor, Case], dict[str, Any]]
_panels: dict[str, tuple[str, CasePanel]] = {}


def case_panel(kind: str, template: str) -> Callable[[CasePanel], CasePanel]:
    def decorator(fn: CasePanel) -> CasePanel:
        _panels[kind] = (template, fn)
        return fn

    return decorator


async def _upload(file: UploadFile | None) -> tuple[str, bytes, str] | None:
    """The chosen file (name, bytes, type), or None when the form's file field was left empty. Reads one
    byte past the limit so that the service can refuse an oversized file precisely."""
    if file is None or not file.filename:
        return None
    content = await file.read(MAX_ATTACHMENT_BYTES + 1)
    return file.filename, content, file.content_type or "application/octet-stream"


def _case_page(
    request: Request, actor: Actor, case_id: int, status_code: int = 200, **extra: Any
) -> HTMLResponse:
    with read_scope() as s:
        view = inbox.case_view(s, actor, case_id)
        template, panel_of = _panels.get(view.case.kind, ("", None))
        return render(
            request,
            "workflow/case.html",
            status_code=status_code,
            view=view,
            c=view.case,
            done=request.query_params.get("done"),
            panel=panel_of(s, actor, view.case) if panel_of is not None else None,
            panel_template=template,
            **LABELS,
            **extra,
        )


def _refused(request: Request, actor: Actor, case_id: int, exc: GongshuError) -> HTMLResponse:
    if isinstance(exc, NotFound):
        raise exc
    return _case_page(
        request,
        actor,
        case_id,
        status_code=exc.status_code,
        error=exc,
        error_message=exc.message(lang_of(request)),
    )


def _done(case_id: int, what: str) -> RedirectResponse:
    return RedirectResponse(f"/cases/{case_id}?done={what}", status_code=303)


@router.get("/inbox", response_class=HTMLResponse)
def inbox_page(request: Request, actor: LoggedIn) -> HTMLResponse:
    """R17, R14, R23: the steps waiting for the user, the earliest due first; late ones in red."""
    with read_scope() as s:
        items = inbox.inbox(s, actor)
        return render(request, "workflow/inbox.html", items=items, **LABELS)


@router.get("/cases", response_class=HTMLResponse)
def my_cases_page(request: Request, actor: LoggedIn, status: str | None = None) -> HTMLResponse:
    with read_scope() as s:
        rows = inbox.summaries(s, inbox.my_cases(s, actor, status or None))
        return render(request, "workflow/cases.html", cases=rows, status=status or "", **LABELS)


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(request: Request, actor: LoggedIn, case_id: int) -> HTMLResponse:
    return _case_page(request, actor, case_id)


@router.post("/cases/{case_id}/decision", response_class=HTMLResponse, dependencies=Protected)
async def decide_form(
    request: Request,
    actor: LoggedIn,
    case_id: int,
    decision: Annotated[str, Form()] = "",
    reasons: Annotated[str, Form(max_length=20000)] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """R17: the assignee's decision with written reasons (and an optional review document)."""
    upload = await _upload(file)
    try:
        with session_scope() as s:
            if upload is not None:
                attachments.attach(s, actor, case_id, *upload)
            engine.decide(s, actor, case_id, decision, reasons)
    except GongshuError as exc:
        return _refused(request, actor, case_id, exc)
    return _done(case_id, "decision")


@router.post("/cases/{case_id}/dispute", response_class=HTMLResponse, dependencies=Protected)
async def dispute_form(
    request: Request,
    actor: LoggedIn,
    case_id: int,
    reasons: Annotated[str, Form(max_length=20000)] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """R15, R17: the applicant disputes a refusal; the authority coordinates, then the government decides."""
    upload = await _upload(file)
    try:
        with session_scope() as s:
            engine.escalate(s, actor, case_id, reasons)
            if upload is not None:
                attachments.attach(s, actor, case_id, *upload)
    except GongshuError as exc:
        return _refused(request, actor, case_id, exc)
    return _done(case_id, "dispute")


@router.post("/cases/{case_id}/attachments", response_class=HTMLResponse, dependencies=Protected)
async def attach_form(
    request: Request, actor: LoggedIn, case_id: int, file: Annotated[UploadFile | None, File()] = None
) -> Response:
    upload = await _upload(file)
    try:
        with session_scope() as s:
            attachments.attach(s, actor, case_id, *(upload or ("", b"", "")))
    except GongshuError as exc:
        return _refused(request, actor, case_id, exc)
    return _done(case_id, "attachment")


@router.post("/cases/{case_id}/withdraw", response_class=HTMLResponse, dependencies=Protected)
def withdraw_form(
    request: Request, actor: LoggedIn, case_id: int, reasons: Annotated[str, Form(max_length=20000)] = ""
) -> Response:
    try:
        with session_scope() as s:
            engine.withdraw(s, actor, case_id, reasons)
    except GongshuError as exc:
        return _refused(request, actor, case_id, exc)
    return _done(case_id, "withdrawn")


@router.post("/cases/{case_id}/resubmit", response_class=HTMLResponse, dependencies=Protected)
def resubmit_form(request: Request, actor: LoggedIn, case_id: int) -> Response:
    try:
        with session_scope() as s:
            engine.resubmit(s, actor, case_id, None)
    except GongshuError as exc:
        return _refused(request, actor, case_id, exc)
    return _done(case_id, "resubmitted")


@router.get("/cases/{case_id}/attachments/{attachment_id}")
def download(actor: LoggedIn, case_id: int, attachment_id: int) -> Response:
    with session_scope() as s:  # the read is audited
        row, content = attachments.read_attachment(s, actor, attachment_id)
    if row.case_id != case_id:
        raise NotFound(
            "workflow.attachment_not_found",
            f"附件 {attachment_id} 不存在",
            f"Attachment {attachment_id} does not exist",
        )
    return Response(content, media_type=row.content_type, headers=download_headers(row.filename))


def download_headers(filename: str) -> dict[str, str]:
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    return {
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}",
        "X-Content-Type-Options": "nosniff",
    }


@router.get("/notifications", response_class=HTMLResponse)
def notifications_page(request: Request, actor: LoggedIn, unread: bool = False) -> HTMLResponse:
    with read_scope() as s:
        rows = notify.list_notifications(s, actor, unread_only=unread)
        return render(request, "workflow/notifications.html", notifications=rows, unread=unread, **LABELS)


@router.post("/notifications/read", dependencies=Protected)
async def notifications_read(request: Request, actor: LoggedIn) -> Response:
    form = await request.form()
    ids = [int(v) for v in form.getlist("ids") if isinstance(v, str) and v.isdigit()]
    with session_scope() as s:
        notify.mark_read(s, actor, "all" if form.get("all") else ids)
    target = form.get("next")
    safe = (
        target if isinstance(target, str) and target.startswith("/") and not target.startswith("//") else None
    )
    return RedirectResponse(safe or "/notifications", status_code=303)
