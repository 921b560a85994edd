"""R14 R26 R28: the public's own-data pages (my records, objections, who read my data), the provider's
objection handling page, the supervision of open objections and the list of rulings awaiting execution.
Thin: the rules live in `quality.objections`, `quality.objection_board` and `quality.rulings`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import GongshuError, ValidationFailed
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.workflow.inbox import open_step_view
from gongshu.quality import objection_board, objections, read_groups, rulings
from gongshu.web.deps import csrf_protect, require_actor
from gongshu.web.pages.cases import SLA_LABELS, STATUS_LABELS, case_panel, china_time, viewable_case_ids
from gongshu.web.render import lang_of, render

router = APIRouter(include_in_schema=False)
LoggedIn = Annotated[Actor, Depends(require_actor)]
Protected = [Depends(csrf_protect)]


@router.get("/my/data", response_class=HTMLResponse)
def my_data_page(request: Request, actor: LoggedIn) -> HTMLResponse:
    """R14: the records about the logged-in person or company, resource by resource, and their objections
    (a ruling awaiting the provider's correction with its due day and service level); after filing one
    (`filed`: its case), the notice that it was received: its case number, the provider's reply deadline
    and the link to the case (an unknown or someone else's case shows no notice)."""
    filed = request.query_params.get("filed", "")
    with session_scope() as s:
        notice = (
            objections.filed_notice(s, actor, int(filed)) if filed.isdigit() and len(filed) < 10 else None
        )
        return render(
            request,
            "quality/my_data.html",
            resources=objections.my_data(s, actor),
            mine=objections.my_objections(s, actor),
            filed=notice,
            shown=objections.shown,
            item_label=objections.item_label,
            statuses=STATUS_LABELS,
            sla_labels=SLA_LABELS,
            china_time=china_time,
        )


# R14: the generic case page of an objection shows what was claimed, and sends the provider to the
# handling page instead of offering the generic decision form.
case_panel(objections.KIND, "quality/objection_case.html")(objections.case_panel)


def _objection_form(
    request: Request,
    actor: Actor,
    code: str,
    *,
    error: GongshuError | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    with session_scope() as s:
        entry, row = objections.my_record(s, actor, code)
        return render(
            request,
            "quality/objection_form.html",
            status_code=status,
            entry=entry,
            row=row,
            items=list(entry.items),
            shown=objections.shown,
            item_label=objections.item_label,
            form=form or {},
            error=error.message(lang_of(request)) if error else "",
            error_field=error.field if error else "",
            value_max=objections.VALUE_MAX,
            reason_max=objections.REASON_MAX,
            evidence_mb=objections.EVIDENCE_MAX_BYTES // (1024 * 1024),
        )


@router.get("/my/data/{code}/objection", response_class=HTMLResponse)
def objection_form(request: Request, actor: LoggedIn, code: str) -> HTMLResponse:
    """R14: object to a field of one's record."""
    return _objection_form(request, actor, code)


@router.post("/my/data/{code}/objection", dependencies=Protected)
async def objection_submit(request: Request, actor: LoggedIn, code: str) -> Response:
    """R14: file the objection (with its evidence as a case attachment); then my data, with the notice
    that it was received (case number, reply deadline, link to the case)."""
    data = await request.form()
    form = {k: str(data.get(k) or "") for k in ("field", "claimed_value", "reason")}
    upload = data.get("evidence")
    evidence = None
    if isinstance(upload, UploadFile) and upload.filename:
        # one byte past the cap, so that an oversized file is refused precisely without reading it all
        evidence = (upload.filename, await upload.read(objections.EVIDENCE_MAX_BYTES + 1))
    try:
        with session_scope() as s:
            case = objections.file_objection(
                s,
                actor,
                code,
                field=form["field"],
                claimed_value=form["claimed_value"],
                reason=form["reason"],
                evidence=evidence,
            )
            case_id = case.id
    except GongshuError as exc:
        if exc.status_code in (401, 403, 404):
            raise
        # A refused value (422) or a record that changed meanwhile (409): the form again, with the
        # message and what the person typed.
        return _objection_form(request, actor, code, error=exc, form=form, status=exc.status_code)
    return RedirectResponse(f"/my/data?filed={case_id}", status_code=303)


@router.get("/my/reads", response_class=HTMLResponse)
def my_reads_page(request: Request, actor: LoggedIn) -> HTMLResponse:
    """R26: which organisation read my data, when, and for which scenario (`objections.my_reads`); the
    identical reads of a day as one line, with how many and when first and last (`read_groups`)."""
    with read_scope() as s:
        reads = read_groups.group_reads(objections.my_reads(s, actor))
        return render(request, "quality/my_reads.html", reads=reads, china_time=china_time)


def _handling(
    request: Request,
    actor: Actor,
    case_id: int,
    error: GongshuError | None = None,
    status: int = 200,
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    with session_scope() as s:
        view = objections.handling_view(s, actor, case_id)
        return render(
            request,
            "quality/objection_handling.html",
            status_code=status,
            reply=open_step_view(s, view["case"]),  # R14: the open step's due day and state
            statuses=STATUS_LABELS,
            error=error.message(lang_of(request)) if error else "",
            error_field=error.field if error else "",
            form=form or {},
            china_time=china_time,
            value_max=objections.VALUE_MAX,
            reason_max=objections.REASON_MAX,
            sla_labels=SLA_LABELS,
            **view,
        )


@router.get("/data/objections/{case_id}", response_class=HTMLResponse)
def handling_page(request: Request, actor: LoggedIn, case_id: int) -> HTMLResponse:
    """R14: the provider's page for one objection: the record, its history, correct or refuse; after a
    ruling that upheld it, the correction as ruled with its due day and service level."""
    return _handling(request, actor, case_id)


@router.post("/data/objections/{case_id}", dependencies=Protected)
async def handling_submit(request: Request, actor: LoggedIn, case_id: int) -> Response:
    """R14: correct the record (then the case is approved) or refuse with written reasons; after a ruling
    that upheld the objection on dispute (R15 R17), correct the record to the ruled value."""
    data = await request.form()
    action = str(data.get("action") or "")
    try:
        value = str(data.get("value") or "").strip() or None
        if action == "correct":
            objections.correct_record(actor, case_id, value=value, note=str(data.get("reasons") or ""))
        elif action == "execute_ruling":
            objections.execute_ruling(actor, case_id, value=value, note=str(data.get("reasons") or ""))
        elif action == "reject":
            with session_scope() as s:
                objections.reject_objection(s, actor, case_id, str(data.get("reasons") or ""))
        else:  # never a refusal by default: a refusal is sealed and answers the objector (R14)
            raise ValidationFailed(
                "objection.action_unknown",
                f"未知的处理操作：{action or '（空）'}",
                f"Unknown action: {action or '(empty)'}",
                field="action",
            )
    except GongshuError as exc:
        if exc.status_code in (401, 403, 404):
            raise
        typed = {"value": str(data.get("value") or ""), "reasons": str(data.get("reasons") or "")}
        return _handling(request, actor, case_id, exc, exc.status_code, typed)
    return RedirectResponse(f"/data/objections/{case_id}", status_code=303)


@router.get("/data/rulings", response_class=HTMLResponse)
def rulings_page(request: Request, actor: LoggedIn) -> HTMLResponse:
    """R14 R28: the rulings awaiting the provider's correction, overdue first — case, resource, provider,
    day of the ruling, due day, where each stands and the working days left — and the ones executed
    lately; for the authority (every provider) and a provider's data officers (their own organisation's),
    as `rulings.board` decides. Each case links to its page where the reader may open it."""
    with read_scope() as s:
        board = rulings.board(s, actor)
        ids = [r.case_id for r in (*board.pending, *board.executed)]
        return render(
            request,
            "quality/rulings.html",
            board=board,
            viewable=viewable_case_ids(s, actor, ids),
            recent=rulings.RECENT_EXECUTED,
            sla_labels=SLA_LABELS,
            china_time=china_time,
        )


@router.get("/data/objections", response_class=HTMLResponse)
def objections_page(
    request: Request, actor: LoggedIn, provider: str | None = None, state: str | None = None
) -> HTMLResponse:
    """R14 R28: the authority's supervision of objections — the open objections across the providers (a
    provider's data officers: their own organisation's, as `objection_board.board` decides), overdue first,
    with the counts (open, due soon, overdue, rulings awaiting execution), narrowed by provider and state.
    Each case links to its page where the reader may open it; the provider's officers, to its handling."""
    chosen, wanted = objection_board.parse_filters(provider, state)
    with read_scope() as s:
        board = objection_board.board(s, actor, provider=chosen, state=wanted)
        return render(
            request,
            "quality/objections_board.html",
            board=board,
            viewable=viewable_case_ids(s, actor, [o.case_id for o in board.lines]),
            states=objection_board.STATES,
            sla_labels=SLA_LABELS,
        )
