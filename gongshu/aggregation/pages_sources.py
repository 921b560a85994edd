"""R7 R9: the pages of scheduled pulls (a resource's pull sources, their registration, a run now, pause —
confirmed, with an optional reason — and resume, the interval, removal) and of data freshness. Every change
redirects to the sources page with `?done=<what>`, which says what was done. Thin: the rules live in
pull.py and freshness.py."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from gongshu.aggregation import freshness, pull
from gongshu.kernel.access.policy import Action
from gongshu.kernel.access.service import require
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import GongshuError
from gongshu.kernel.identity.actor import Actor
from gongshu.store import service as store
from gongshu.web.deps import IdPath, csrf_protect, require_actor
from gongshu.web.render import lang_of, render

router = APIRouter(prefix="/data", include_in_schema=False)
LoggedIn = Annotated[Actor, Depends(require_actor)]
Protected = [Depends(csrf_protect)]
FORM_FIELDS = ("url", "table_or_query", "mode", "watermark_column", "every_minutes")
DONE = ("registered", "paused", "resumed", "rescheduled", "deleted", "no_changes")
"""What the sources page confirms after a change (`?done=`; anything else is ignored)."""


@router.get("/freshness", response_class=HTMLResponse)
def freshness_page(request: Request, actor: LoggedIn) -> HTMLResponse:
    """R9: the published resources with their expected next update, interrupted first."""
    with read_scope() as s:
        rows = freshness.freshness(s, freshness.visible_orgs(s, actor))
    return render(request, "aggregation/freshness.html", rows=rows)


def _sources_page(
    request: Request,
    actor: Actor,
    code: str,
    *,
    error: GongshuError | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    done = request.query_params.get("done", "") if error is None else ""
    source = request.query_params.get("source", "")
    with read_scope() as s:
        info = store.describe(s, code)
        require(s, actor, Action.DATA_INGEST, org_id=store.provider_of(s, code))
        return render(
            request,
            "aggregation/sources.html",
            status_code=status,
            res=info,
            sources=pull.pulls_of(s, code),
            done=done if done in DONE else "",
            done_source=int(source) if source.isdigit() and len(source) < 10 else None,
            error=error.message(lang_of(request)) if error else "",
            error_code=error.code if error else "",
            error_details=error.details if error else {},
            form=form or {"mode": "full", "every_minutes": "60"},
        )


@router.get("/{code}/sources", response_class=HTMLResponse)
def sources_page(request: Request, actor: LoggedIn, code: str) -> HTMLResponse:
    """R7: the resource's pull sources (never their passwords) and the registration form."""
    return _sources_page(request, actor, code)


def _status(exc: GongshuError) -> int:
    """A refused form answers its 4xx (422 for a database that cannot be reached or read)."""
    return exc.status_code if exc.status_code < 500 else 422


def _shown_url(raw: str) -> str:
    """The URL as typed, less its password (shown back in the form)."""
    try:
        url = make_url(raw)
    except (ArgumentError, ValueError):
        return re.sub(r"(://[^:/@]*):[^@]*@", r"\1@", raw)
    if url.password is None:
        return raw
    bare = URL.create(url.drivername, url.username, None, url.host, url.port, url.database, url.query)
    return bare.render_as_string(hide_password=False)


@router.post("/{code}/sources", dependencies=Protected)
async def sources_submit(request: Request, actor: LoggedIn, code: str) -> Response:
    """R7: register a pull source; a refusal (scheme, connection, schema lock) shows its precise error,
    with the form as typed (less the password)."""
    form = await request.form()
    values = {k: str(form.get(k) or "").strip() for k in FORM_FIELDS}
    password = str(form.get("password") or "")
    shown = values | {"url": _shown_url(values["url"])}

    def register() -> None:
        minutes = int(values["every_minutes"]) if values["every_minutes"].isdigit() else 0
        with session_scope() as s:
            pull.register_pull(
                s,
                actor,
                code,
                values["url"],
                values["table_or_query"],
                values["mode"] or "full",
                values["watermark_column"] or None,
                minutes,
                password=password or None,
            )

    try:
        await run_in_threadpool(register)
    except GongshuError as exc:
        return _sources_page(request, actor, code, error=exc, form=shown, status=_status(exc))
    return _done(code, "registered")


@router.post("/{code}/sources/{source_id}/run", dependencies=Protected)
async def source_run(request: Request, actor: LoggedIn, code: str, source_id: IdPath) -> Response:
    """R7: run a pull now; its batch's report, or the sources page with the error."""
    try:
        report: dict[str, Any] = await run_in_threadpool(pull.run_pull, actor, code, source_id)
    except GongshuError as exc:
        return _sources_page(request, actor, code, error=exc, status=_status(exc))
    if report.get("id"):
        return RedirectResponse(f"/data/batches/{report['id']}", status_code=303)
    return _done(code, "no_changes", source_id)


def _done(code: str, what: str, source_id: int | None = None) -> RedirectResponse:
    """The sources page, saying what was done (`DONE`) — and to which source."""
    where = f"&source={source_id}" if source_id is not None else ""
    return RedirectResponse(f"/data/{quote(code, safe='')}/sources?done={what}{where}", status_code=303)


def _change(
    request: Request,
    actor: Actor,
    code: str,
    change: Callable[[Session], object],
    done: str,
    source_id: int | None = None,
) -> Response:
    try:
        with session_scope() as s:
            change(s)
    except GongshuError as exc:
        if exc.status_code in (403, 404):
            raise
        return _sources_page(request, actor, code, error=exc, status=_status(exc))
    return _done(code, done, source_id)


@router.get("/{code}/sources/{source_id}/pause", response_class=HTMLResponse)
def source_pause_page(request: Request, actor: LoggedIn, code: str, source_id: IdPath) -> HTMLResponse:
    """R7 R9: the confirmation before a pull source is paused, asking for an optional reason."""
    with read_scope() as s:
        info = store.describe(s, code)
        ps = pull.managed(s, actor, code, source_id)
        return render(
            request, "aggregation/source_pause.html", res=info, p=ps, reason_max=pull.PAUSE_REASON_MAX
        )


@router.post("/{code}/sources/{source_id}/pause", dependencies=Protected)
async def source_pause(request: Request, actor: LoggedIn, code: str, source_id: IdPath) -> Response:
    """R7 R9: pause a pull source: the scheduled job skips it until it is resumed; the reason, if given, is
    kept in the audit entry."""
    form = await request.form()
    reason = str(form.get("reason") or "")
    return await run_in_threadpool(
        _change,
        request,
        actor,
        code,
        lambda s: pull.set_enabled(s, actor, code, source_id, False, reason=reason),
        "paused",
        source_id,
    )


@router.post("/{code}/sources/{source_id}/resume", dependencies=Protected)
def source_resume(request: Request, actor: LoggedIn, code: str, source_id: IdPath) -> Response:
    """R7: resume a paused pull source."""
    return _change(
        request,
        actor,
        code,
        lambda s: pull.set_enabled(s, actor, code, source_id, True),
        "resumed",
        source_id,
    )


@router.post("/{code}/sources/{source_id}/schedule", dependencies=Protected)
async def source_schedule(request: Request, actor: LoggedIn, code: str, source_id: IdPath) -> Response:
    """R7: change a pull source's interval (minutes)."""
    form = await request.form()
    raw = str(form.get("every_minutes") or "").strip()
    minutes = int(raw) if raw.isdigit() and len(raw) < 9 else 0
    return await run_in_threadpool(
        _change,
        request,
        actor,
        code,
        lambda s: pull.reschedule_pull(s, actor, code, source_id, minutes),
        "rescheduled",
        source_id,
    )


@router.get("/{code}/sources/{source_id}/delete", response_class=HTMLResponse)
def source_delete_page(request: Request, actor: LoggedIn, code: str, source_id: IdPath) -> HTMLResponse:
    """R7: the confirmation before a pull source is removed."""
    with read_scope() as s:
        info = store.describe(s, code)
        ps = pull.managed(s, actor, code, source_id)
        return render(request, "aggregation/source_delete.html", res=info, p=ps)


@router.post("/{code}/sources/{source_id}/delete", dependencies=Protected)
def source_delete(request: Request, actor: LoggedIn, code: str, source_id: IdPath) -> Response:
    """R7: remove a pull source (confirmed on its page); the batches it loaded stay."""
    return _change(request, actor, code, lambda s: pull.delete_pull(s, actor, code, source_id), "deleted")
