"""R11 R12: the base data coverage page and the person / legal-person base look-ups. Thin: the rules live
in `aggregation.basedata`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gongshu.aggregation import basedata
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import GongshuError
from gongshu.kernel.identity.actor import Actor
from gongshu.web.deps import csrf_protect, require_actor
from gongshu.web.render import lang_of, render

router = APIRouter(prefix="/data/base", include_in_schema=False)
LoggedIn = Annotated[Actor, Depends(require_actor)]
Protected = [Depends(csrf_protect)]


@router.get("", response_class=HTMLResponse)
def coverage_page(request: Request, actor: LoggedIn) -> HTMLResponse:
    """R11 R12: every statutory base resource — providers, catalogued, aggregated, fresh (应汇尽汇)."""
    with read_scope() as s:
        rows = basedata.coverage(s)
        return render(
            request, "aggregation/base_coverage.html", rows=rows, may_look_up=basedata.may_look_up(s, actor)
        )


@router.post("/mappings", dependencies=Protected)
async def add_mapping(request: Request, actor: LoggedIn) -> Response:
    """R11 R12: the authority maps a published entry to a base resource."""
    form = await request.form()
    with session_scope() as s:
        basedata.map_base_data(
            s, actor, str(form.get("base_code") or ""), str(form.get("resource_code") or "")
        )
    return RedirectResponse("/data/base", status_code=303)


def _lookup(request: Request, actor: Actor, kind: str, value: str) -> HTMLResponse:
    results, error = None, ""
    if value.strip():
        try:
            with session_scope() as s:
                results = basedata.look_up(s, actor, kind, value)
                return render(
                    request, "aggregation/base_lookup.html", kind=kind, value=value, results=results, error=""
                )
        except GongshuError as exc:
            if exc.status_code in (401, 403, 404):
                raise
            error = exc.message(lang_of(request))
    else:
        with read_scope() as s:
            if not basedata.may_look_up(s, actor):
                basedata.look_up(s, actor, kind, "")  # the precise refusal
    return render(
        request,
        "aggregation/base_lookup.html",
        kind=kind,
        value=value,
        results=results,
        error=error,
        status_code=422 if error else 200,
    )


@router.get("/person", response_class=HTMLResponse)
def person_lookup(request: Request, actor: LoggedIn, id_number: Annotated[str, Query()] = "") -> HTMLResponse:
    """R11: one person across every resource keyed by their resident ID number."""
    return _lookup(request, actor, "person", id_number)


@router.get("/legal", response_class=HTMLResponse)
def legal_lookup(request: Request, actor: LoggedIn, uscc: Annotated[str, Query()] = "") -> HTMLResponse:
    """R12: one organisation across every resource keyed by its USCC."""
    return _lookup(request, actor, "legal_person", uscc)
