"""R21: the emergency console (the authority opens events, adds collection tasks and responders, closes
events and downloads the sealed closure report) and the upload page of a collection task (named
organisations' data officers; persons and companies for tasks open to the public). Thin: the rules live
in sharing/emergency.py and sharing/emergency_closure.py."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile as StarletteUpload

from gongshu.aggregation.upload import SUFFIXES
from gongshu.kernel.access.policy import Action
from gongshu.kernel.access.service import decide
from gongshu.kernel.config import get_settings
from gongshu.kernel.crypto.seal import registered_key_ids, verify_sealed
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import GongshuError, ValidationFailed
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import Organisation, User
from gongshu.kernel.timeutil import CHINA, as_utc
from gongshu.sharing import emergency, emergency_closure
from gongshu.sharing.emergency_models import EmergencyEvent
from gongshu.store import service as store
from gongshu.web.deps import csrf_protect, require_actor
from gongshu.web.render import lang_of, render

router = APIRouter(prefix="/emergency", include_in_schema=False)
LoggedIn = Annotated[Actor, Depends(require_actor)]
Protected = [Depends(csrf_protect)]


def _codes(text: str) -> list[str]:
    return [c.strip() for c in text.replace("，", ",").replace("\n", ",").split(",") if c.strip()]


def _when(text: str, field: str) -> dt.datetime:
    try:
        return as_utc(dt.datetime.fromisoformat(text.strip()).replace(tzinfo=CHINA))
    except ValueError:
        raise ValidationFailed(
            "emergency.period_invalid", "请填写有效的日期时间", "Enter a valid date and time", field=field
        ) from None


def parse_items(text: str) -> list[dict[str, Any]]:
    """The task form's items, one a line: name, Chinese label, data type[, length[, sensitivity[, key]]]."""
    items: list[dict[str, Any]] = []
    for n, line in enumerate(x for x in text.splitlines() if x.strip()):
        parts = [p.strip() for p in line.replace("，", ",").split(",")]
        if len(parts) < 3:
            raise ValidationFailed(
                "emergency.items_invalid",
                f"第 {n + 1} 行应为：名称,中文名称,数据类型[,长度[,敏感级别[,key]]]",
                f"Line {n + 1} should be: name,label,type[,length[,sensitivity[,key]]]",
                field="items",
            )
        length = int(parts[3]) if len(parts) > 3 and parts[3].isdigit() else None
        sensitivity = parts[4] if len(parts) > 4 and parts[4] else "public"
        key = len(parts) > 5 and parts[5].lower() == "key"
        items.append(
            {
                "name": parts[0],
                "label_zh": parts[1],
                "data_type": parts[2],
                "length": length,
                "sensitivity": sensitivity,
                "is_key": key,
            }
        )
    return items


@router.get("", response_class=HTMLResponse)
def events_page(request: Request, actor: LoggedIn) -> HTMLResponse:
    """R21: the events (for the authority) and the open tasks the public may provide data for."""
    with read_scope() as s:
        manager = decide(s, actor, Action.EMERGENCY_MANAGE).allowed
        events = emergency.list_events(s, actor) if manager else []
        tasks = emergency.open_public_tasks(s)
        return render(request, "sharing/emergency_list.html", manager=manager, events=events, tasks=tasks)


def _new_page(request: Request, form: dict[str, str], error: GongshuError | None = None) -> HTMLResponse:
    return render(
        request,
        "sharing/emergency_new.html",
        status_code=error.status_code if error else 200,
        form=form,
        error=error.message(lang_of(request)) if error else "",
    )


@router.get("/new", response_class=HTMLResponse)
def new_page(request: Request, actor: LoggedIn) -> HTMLResponse:
    with read_scope() as s:
        emergency.list_events(s, actor)  # the permission check
    return _new_page(request, {})


@router.post("/new", dependencies=Protected)
async def new_submit(request: Request, actor: LoggedIn) -> Response:
    """R21: open an event."""
    form = {k: str(v) for k, v in (await request.form()).items() if isinstance(v, str)}
    try:
        with session_scope() as s:
            event = emergency.open_event(
                s,
                actor,
                title=form.get("title", ""),
                purpose=form.get("purpose", ""),
                scope=form.get("scope", ""),
                method=form.get("method", ""),
                period_start=_when(form.get("period_start", ""), "period_start"),
                period_end=_when(form.get("period_end", ""), "period_end"),
                responsible_org_code=form.get("responsible_org_code", ""),
                responder_org_codes=_codes(form.get("responder_org_codes", "")),
            )
            event_id = event.id
    except ValidationFailed as exc:
        return _new_page(request, form, exc)
    return RedirectResponse(f"/emergency/{event_id}", status_code=303)


def _event_page(
    request: Request,
    actor: Actor,
    event_id: int,
    error: GongshuError | None = None,
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    with read_scope() as s:
        event = emergency.get_event(s, actor, event_id)
        tasks = emergency.tasks_of(s, event.id)
        submissions = emergency.submissions_of(s, [t.id for t in tasks])
        org_ids = [event.responsible_org_id, *event.responder_org_ids]
        org_ids += [int(r["org_id"]) for t in tasks for r in t.respondents]
        org_ids += [sub.org_id for sub in submissions if sub.org_id]
        counts = {t.resource_code: store.count(s, t.resource_code) for t in tasks}
        items = {t.resource_code: store.get_resource(s, t.resource_code).items for t in tasks}
        return render(
            request,
            "sharing/emergency_event.html",
            status_code=error.status_code if error else 200,
            event=event,
            tasks=tasks,
            submissions=submissions,
            names=_org_names(s, org_ids, lang_of(request)),
            counts=counts,
            resource_items=items,
            scenario=emergency.scenario_of(event),
            uploadable=_uploadable(s, actor, tasks),
            task_form=form or {},
            error=error.message(lang_of(request)) if error else "",
        )


def _uploadable(s: Any, actor: Actor, tasks: list[Any]) -> set[int]:
    """R21: the tasks whose upload page this actor may open (an open task they are asked to provide);
    the event page links only those, since the upload page refuses everyone else."""
    out: set[int] = set()
    for task in tasks:
        try:
            emergency.respondent_org(s, actor, task)
        except GongshuError:
            continue
        out.add(task.id)
    return out


@router.get("/{event_id}", response_class=HTMLResponse)
def event_page(request: Request, actor: LoggedIn, event_id: int) -> HTMLResponse:
    """R21: an event's tasks, respondents, collected batches, responders, and the close form."""
    return _event_page(request, actor, event_id)


@router.post("/{event_id}/tasks", dependencies=Protected)
async def task_submit(request: Request, actor: LoggedIn, event_id: int) -> Response:
    """R21: add a collection task (and the resource created for it)."""
    form = await request.form()
    values = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    try:
        with session_scope() as s:
            emergency.add_task(
                s,
                actor,
                event_id,
                title=values.get("title", ""),
                description=values.get("description", ""),
                resource_name=values.get("resource_name", ""),
                items=parse_items(values.get("items", "")),
                respondent_org_codes=_codes(values.get("respondent_org_codes", "")),
                public=values.get("public") == "1",
            )
    except ValidationFailed as exc:
        return _event_page(request, actor, event_id, exc, form=values)
    return RedirectResponse(f"/emergency/{event_id}", status_code=303)


@router.post("/{event_id}/responders", dependencies=Protected)
async def responder_submit(request: Request, actor: LoggedIn, event_id: int) -> Response:
    """R21: one more responder may use the event's data."""
    form = await request.form()
    with session_scope() as s:
        emergency.add_responder(s, actor, event_id, str(form.get("org_code") or ""))
    return RedirectResponse(f"/emergency/{event_id}", status_code=303)


@router.post("/{event_id}/close", dependencies=Protected)
async def close_submit(request: Request, actor: LoggedIn, event_id: int) -> Response:
    """R21: run the closure procedure. Items marked sensitive arrive as `sensitive` = "code:item"."""
    form = await request.form()
    marked: dict[str, list[str]] = {}
    for value in form.getlist("sensitive"):
        code, _, item = str(value).partition(":")
        marked.setdefault(code, []).append(item)
    try:
        with session_scope() as s:
            emergency_closure.close_event(
                s,
                actor,
                event_id,
                treatment=str(form.get("treatment") or ""),
                evaluation=str(form.get("evaluation") or ""),
                marked=marked,
            )
    except ValidationFailed as exc:
        return _event_page(request, actor, event_id, exc)
    return RedirectResponse(f"/emergency/{event_id}", status_code=303)


@router.get("/{event_id}/report", response_class=HTMLResponse)
def report_page(request: Request, actor: LoggedIn, event_id: int) -> HTMLResponse:
    """R21: the sealed closure report, readable: the event, how its data was classified, evaluated and
    treated, the grants revoked and cases withdrawn, instants in China time, and whether the electronic
    seal holds (SM3 digest and SM2 signature, by a key the platform trusts: R10). The sealed JSON stays a
    download beside it."""
    lang = lang_of(request)
    with read_scope() as s:
        event = emergency.get_event(s, actor, event_id)
        report = emergency_closure.closure_report(s, actor, event_id)
        check = verify_sealed(report, registered_key_ids(s))
        doc: dict[str, Any] = report["document"] if isinstance(report.get("document"), dict) else {}
        info: dict[str, Any] = doc["event"] if isinstance(doc.get("event"), dict) else {}
        org_ids = [int(i) for i in [info.get("responsible_org_id"), *info.get("responder_org_ids", [])] if i]
        items: dict[str, dict[str, str]] = {}
        for code in doc.get("classification", {}):
            resource = store.find_resource(s, code)
            if resource is not None:
                items[code] = {
                    str(i["name"]): str(
                        (i.get("label_zh") if lang == "zh" else i.get("label_en")) or i["name"]
                    )
                    for i in resource.items
                }
        closed_by = doc.get("closed_by_user_id")
        user = s.get(User, closed_by) if isinstance(closed_by, int) else None
        seal: dict[str, Any] = report["seal"] if isinstance(report.get("seal"), dict) else {}
        return render(
            request,
            "sharing/emergency_report.html",
            event=event,
            doc=doc,
            info=info,
            seal=seal,
            check=check,
            check_reason=(check.reason_zh if lang == "zh" else check.reason_en) or "",
            names=_org_names(s, org_ids, lang),
            items=items,
            closed_by=user.display_name if user is not None else "",
            instant=_instant,
        )


def _instant(value: object) -> str:
    """An ISO instant of the report (UTC, as sealed) in China time, to the minute."""
    if not isinstance(value, str) or not value:
        return ""
    try:
        return as_utc(dt.datetime.fromisoformat(value)).astimezone(CHINA).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return value


def _org_names(session: Any, ids: list[int], lang: str) -> dict[int, str]:
    """R28: organisations' names in the page language (the English name where there is one)."""
    rows = session.scalars(select(Organisation).where(Organisation.id.in_(ids or [0])))
    return {o.id: o.name(lang) for o in rows}


@router.get("/{event_id}/report.json")
def report_json(actor: LoggedIn, event_id: int) -> JSONResponse:
    """R21: the sealed closure report as a JSON download (verify with `gongshu seal verify`)."""
    with read_scope() as s:
        report = emergency_closure.closure_report(s, actor, event_id)
    return JSONResponse(
        report,
        headers={"Content-Disposition": f'attachment; filename="emergency-{event_id}-closure.json"'},
    )


def _upload_page(
    request: Request, actor: Actor, task_id: int, error: GongshuError | None = None, done: str = ""
) -> HTMLResponse:
    with read_scope() as s:
        task = emergency.get_task(s, task_id)
        emergency.respondent_org(s, actor, task)
        event = s.get(EmergencyEvent, task.event_id)
        return render(
            request,
            "sharing/emergency_upload.html",
            status_code=error.status_code if error else 200,
            task=task,
            event=event,
            res=store.describe(s, task.resource_code),
            error=error.message(lang_of(request)) if error else "",
            error_details=error.details if error else {},
            done=done,
        )


@router.get("/tasks/{task_id}/upload", response_class=HTMLResponse)
def upload_page(request: Request, actor: LoggedIn, task_id: int) -> HTMLResponse:
    """R21: a respondent's (or, for a public task, a person's or company's) upload page."""
    return _upload_page(request, actor, task_id, done=request.query_params.get("done", ""))


@router.post("/tasks/{task_id}/upload", dependencies=Protected)
async def upload_submit(request: Request, actor: LoggedIn, task_id: int) -> Response:
    """R21: provide the data (ingested into the task's resource; refusals shown precisely)."""
    form = await request.form()
    upload = form.get("file")
    name = upload.filename if isinstance(upload, StarletteUpload) else None
    if not isinstance(upload, StarletteUpload) or not name or not name.lower().endswith(SUFFIXES):
        error = ValidationFailed(
            "ingest.format_unknown",
            "请选择 CSV、XLSX、JSONL 或 Parquet 数据文件",
            "Choose a CSV, XLSX, JSONL or Parquet data file",
            field="file",
        )
        return _upload_page(request, actor, task_id, error)
    folder = get_settings().ensure_data_dir() / "uploads"
    folder.mkdir(exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, suffix=Path(name).suffix.lower(), delete=False) as tmp:
        await run_in_threadpool(shutil.copyfileobj, upload.file, tmp, 1 << 20)
        path = Path(tmp.name)
    try:
        report = await run_in_threadpool(lambda: emergency.submit_data(actor, task_id, path, name))
    except ValidationFailed as exc:
        return _upload_page(request, actor, task_id, exc)
    finally:
        path.unlink(missing_ok=True)
    return RedirectResponse(f"/emergency/tasks/{task_id}/upload?done={report['accepted']}", status_code=303)
