"""R11 R12: the base data coverage page and the person / legal-person base look-ups. Thin: the rules live
in `aggregation.basedata`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
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
    """R11 R12: every statutory base resource — providers, catalogued, aggregated, fresh (应汇尽汇); for the
    departments and the authority only (R28: the public's accounts are refused)."""
    with read_scope() as s:
        basedata.require_coverage(s, actor)
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
    """R11 R12 R26: the look-up form and, for a submitted identifier, its results (the look-up audited
    with the identifier). The identifier comes only in the POST body: never in the page address, which
    would put it in server logs and the browser's history."""
    results, error = None, ""
    if value.strip():
        try:
            with session_scope() as s:
                results = basedata.look_up(s, actor, kind, value)
                return _lookup_page(request, kind, value, results, "")
        except GongshuError as exc:
            if exc.status_code in (401, 403, 404):
                raise
            error = exc.message(lang_of(request))
    else:
        with read_scope() as s:
            if not basedata.may_look_up(s, actor):
                basedata.look_up(s, actor, kind, "")  # the precise refusal
    return _lookup_page(request, kind, value, results, error)


def _lookup_page(
    request: Request, kind: str, value: str, results: list[dict[str, Any]] | None, error: str
) -> HTMLResponse:
    return render(
        request,
        "aggregation/base_lookup.html",
        kind=kind,
        value=value,
        results=results,
        error=error,
        shown=basedata.shown_value,
        status_code=422 if error else 200,
    )


@router.get("/person", response_class=HTMLResponse)
def person_form(request: Request, actor: LoggedIn) -> HTMLResponse:
    """R11: the person base look-up form (the ID number is posted, never put in the address)."""
    return _lookup(request, actor, "person", "")


@router.post("/person", response_class=HTMLResponse, dependencies=Protected)
async def person_lookup(request: Request, actor: LoggedIn) -> HTMLResponse:
    """R11: one person across every resource keyed by their resident ID number."""
    form = await request.form()
    return _lookup(request, actor, "person", str(form.get("id_number") or ""))


@router.get("/legal", response_class=HTMLResponse)
def legal_form(request: Request, actor: LoggedIn) -> HTMLResponse:
    """R12: the legal-person base look-up form."""
    return _lookup(request, actor, "legal_person", "")


@router.post("/legal", response_class=HTMLResponse, dependencies=Protected)
async def legal_lookup(request: Request, actor: LoggedIn) -> HTMLResponse:
    """R12: one organisation across every resource keyed by its USCC."""
    form = await request.form()
    return _lookup(request, actor, "legal_person", str(form.get("uscc") or ""))
