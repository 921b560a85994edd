"""R7 R9: the pages of scheduled pulls (a resource's pull sources, their registration and a run now) and
of data freshness. Thin: the rules live in pull.py and freshness.py."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from gongshu.aggregation import freshness, pull
from gongshu.kernel.access.policy import Action
from gongshu.kernel.access.service import require
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import GongshuError
from gongshu.kernel.identity.actor import Actor
from gongshu.store import service as store
from gongshu.web.deps import csrf_protect, require_actor
from gongshu.web.render import lang_of, render

router = APIRouter(prefix="/data", include_in_schema=False)
LoggedIn = Annotated[Actor, Depends(require_actor)]
Protected = [Depends(csrf_protect)]
FORM_FIELDS = ("url", "table_or_query", "mode", "watermark_column", "every_minutes")


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
    with read_scope() as s:
        info = store.describe(s, code)
        require(s, actor, Action.DATA_INGEST, org_id=store.provider_of(s, code))
        return render(
            request,
            "aggregation/sources.html",
            status_code=status,
            res=info,
            sources=pull.pulls_of(s, code),
            error=error.message(lang_of(request)) if error else "",
            error_code=error.code if error else "",
            error_details=error.details if error else {},
            form=form or {"mode": "full", "every_minutes": "60"},
        )


@router.get("/{code}/sources", response_class=HTMLResponse)
def sources_page(request: Request, actor: LoggedIn, code: str) -> HTMLResponse:
    """R7: the resource's pull sources (never their passwords) and the registration form."""
    return _sources_page(request, actor, code)


@router.post("/{code}/sources", dependencies=Protected)
async def sources_submit(request: Request, actor: LoggedIn, code: str) -> Response:
    """R7: register a pull source; a refusal (scheme, connection, schema lock) shows its precise error."""
    form = await request.form()
    values = {k: str(form.get(k) or "").strip() for k in FORM_FIELDS}
    shown = {k: v for k, v in values.items() if k != "url"}  # the URL may hold a password: not echoed

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
            )

    try:
        await run_in_threadpool(register)
    except GongshuError as exc:
        return _sources_page(request, actor, code, error=exc, form=shown, status=exc.status_code)
    return RedirectResponse(f"/data/{code}/sources", status_code=303)


@router.post("/{code}/sources/{source_id}/run", dependencies=Protected)
async def source_run(request: Request, actor: LoggedIn, code: str, source_id: int) -> Response:
    """R7: run a pull now; its batch's report, or the sources page with the error."""
    try:
        report: dict[str, Any] = await run_in_threadpool(pull.run_pull, actor, code, source_id)
    except GongshuError as exc:
        return _sources_page(request, actor, code, error=exc, status=exc.status_code)
    if report.get("id"):
        return RedirectResponse(f"/data/batches/{report['id']}", status_code=303)
    return RedirectResponse(f"/data/{code}/sources", status_code=303)
