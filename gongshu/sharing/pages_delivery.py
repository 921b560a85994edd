"""R19: the consumer's delivery page — its database-table targets (sync status, last sync, "sync now",
registration for db_table grants) and its file-exchange grants (schedule, "generate now", packages to
download). Thin: the rules live in db_table.py and files.py."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from gongshu.aggregation import external_db
from gongshu.kernel.access.grants import grant_state, grants_of
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import GongshuError
from gongshu.kernel.identity.actor import Actor
from gongshu.sharing import db_table, files
from gongshu.web.deps import csrf_protect, require_actor
from gongshu.web.render import lang_of, render

router = APIRouter(prefix="/sharing/delivery", include_in_schema=False)
LoggedIn = Annotated[Actor, Depends(require_actor)]
Protected = [Depends(csrf_protect)]


def _page(
    request: Request,
    actor: Actor,
    *,
    error: GongshuError | None = None,
    status: int = 200,
    notice: str = "",
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    org = actor.org_id or 0
    with read_scope() as s:
        grants = [g for g in grants_of(s, consumer_org_id=org) if g.delivery_method in ("db_table", "file")]
        file_grants = [g for g in grants if g.delivery_method == "file"]
        return render(
            request,
            "sharing/delivery.html",
            status_code=status,
            may_deliver=actor.has_role("data_officer", org),
            db_grants=[g for g in grants if g.delivery_method == "db_table"],
            file_grants=file_grants,
            states={g.id: grant_state(g) for g in grants},
            targets=db_table.targets_of(s, org),
            schedules=files.schedules_of(s, [g.id for g in file_grants]),
            packages=files.packages_of(s, org),
            error=error.message(lang_of(request)) if error else "",
            error_code=error.code if error else "",
            notice=notice,
            form=form or {},
        )


@router.get("", response_class=HTMLResponse)
def delivery_page(request: Request, actor: LoggedIn) -> HTMLResponse:
    """R19: the consumer's database targets and file packages."""
    return _page(request, actor)


async def _run(request: Request, actor: Actor, fn: Any, *args: Any) -> Response:
    try:
        await run_in_threadpool(fn, *args)
    except GongshuError as exc:
        return _page(request, actor, error=exc, status=exc.status_code)
    return RedirectResponse("/sharing/delivery", status_code=303)


def _form_status(exc: GongshuError) -> int:
    """A refused form answers its 4xx (422 for a database that cannot be reached or written)."""
    return exc.status_code if exc.status_code < 500 else 422


@router.post("/targets", dependencies=Protected)
async def register_submit(request: Request, actor: LoggedIn) -> Response:
    """R19: register a database table for a db_table grant; a refusal (the platform's own database, the
    connection, the table) shows its precise error with the form as typed — the URL less its password,
    the password never."""
    form = await request.form()
    grant = str(form.get("grant_id") or "").strip()
    url = str(form.get("url") or "").strip()
    table = str(form.get("table") or "").strip()
    password = str(form.get("password") or "")
    shown = {"grant_id": grant, "url": external_db.shown_url(url), "table": table}

    def register() -> None:
        with session_scope() as s:
            db_table.register_target(
                s, actor, int(grant) if grant.isdigit() else 0, url, table, password=password or None
            )

    try:
        await run_in_threadpool(register)
    except GongshuError as exc:
        return _page(request, actor, error=exc, status=_form_status(exc), form=shown)
    return RedirectResponse("/sharing/delivery", status_code=303)


@router.post("/targets/{target_id}/sync", dependencies=Protected)
async def sync_now(request: Request, actor: LoggedIn, target_id: int) -> Response:
    """R19: sync a target now (decided anew; a refused grant stops the target)."""
    try:
        report = await run_in_threadpool(db_table.sync, actor, target_id)
    except GongshuError as exc:
        return _page(request, actor, error=exc, status=exc.status_code)
    if report.status == "stopped":
        return _page(request, actor, notice=report.reason, status=403)
    return RedirectResponse("/sharing/delivery", status_code=303)


@router.post("/files/{grant_id}/schedule", dependencies=Protected)
async def schedule_submit(request: Request, actor: LoggedIn, grant_id: int) -> Response:
    """R19: set a file grant's formats and interval."""
    form = await request.form()
    formats = [str(v) for v in form.getlist("formats")]
    hours = str(form.get("every_hours") or "")

    def schedule() -> None:
        with session_scope() as s:
            files.schedule_files(s, actor, grant_id, formats, int(hours) if hours.isdigit() else 0)

    return await _run(request, actor, schedule)


@router.post("/files/{grant_id}/generate", dependencies=Protected)
async def generate_now(request: Request, actor: LoggedIn, grant_id: int) -> Response:
    """R19: generate a file grant's package now."""
    return await _run(request, actor, files.generate_package, actor, grant_id)


@router.get("/files/{package_id}/{name}")
def download(actor: LoggedIn, package_id: int, name: str) -> FileResponse:
    """R19 R26: a package's file, for the grant's consumer only (decided again now; audited)."""
    path = files.package_file(actor, package_id, name)
    return FileResponse(path, filename=name)
