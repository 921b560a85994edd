"""R8 R9 R15: pages of the catalog procedures — duty transfers, attribute disputes, IT projects and
government-cloud eligibility. Thin: every rule lives in transfer.py, dispute.py and projects.py; decisions
on the cases are taken on the workflow's case page."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from gongshu.catalog import dispute, projects, service, transfer
from gongshu.kernel.access.policy import Action
from gongshu.kernel.access.service import decide, require
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import Conflict, GongshuError, ValidationFailed
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import Organisation
from gongshu.kernel.policy import service as policy_service
from gongshu.web.deps import csrf_protect, require_actor
from gongshu.web.render import lang_of, render

router = APIRouter(prefix="/catalog", include_in_schema=False)
LoggedIn = Annotated[Actor, Depends(require_actor)]
Protected = [Depends(csrf_protect)]
REFUSALS = (ValidationFailed, Conflict)
CONDITION_ROWS = 3


def _message(exc: GongshuError, lang: str) -> str:
    return exc.message_zh if lang == "zh" else exc.message_en


def _lines(value: object) -> list[str]:
    return [
        v.strip() for v in str(value or "").replace("，", ",").replace(",", "\n").splitlines() if v.strip()
    ]


def _labels(session: Any, lang: str) -> Any:
    pol = policy_service.at(session)
    return lambda group, key: pol.label(group, key, lang)


# ---- R9: duty transfers -----------------------------------------------------------------------------


@router.get("/transfers", response_class=HTMLResponse)
def transfers_page(request: Request, actor: LoggedIn, all: str = "") -> HTMLResponse:
    """R9: transfers in progress, with the step they are at, its due day and service level."""
    lang = lang_of(request)
    with read_scope() as s:
        rows = transfer.list_transfers(s, actor, in_progress=not all, lang=lang)
        return render(request, "catalog/transfers.html", rows=rows, show_all=bool(all))


def _transfer_form(
    request: Request, actor: Actor, form: dict[str, Any], error: str = "", status_code: int = 200
) -> HTMLResponse:
    lang = lang_of(request)
    with read_scope() as s:
        return render(
            request,
            "catalog/transfer_new.html",
            entries=transfer.transferable_entries(s, actor),
            departments=[(o.code, o.name(lang)) for o in transfer.receiving_choices(s, actor)],
            form=form,
            error=error,
            status_code=status_code,
        )


@router.get("/transfers/new", response_class=HTMLResponse)
def transfer_new_page(request: Request, actor: LoggedIn) -> HTMLResponse:
    """R9: the losing department's joint application form."""
    return _transfer_form(request, actor, {"entry_codes": [], "receiving_org_code": "", "reasons": ""})


@router.post("/transfers/new", response_class=HTMLResponse, dependencies=Protected)
async def transfer_new_submit(request: Request, actor: LoggedIn) -> Response:
    raw = await request.form()
    form: dict[str, Any] = {
        "entry_codes": [str(v) for v in raw.getlist("entry_codes")],
        "receiving_org_code": str(raw.get("receiving_org_code") or ""),
        "reasons": str(raw.get("reasons") or ""),
    }
    try:
        with session_scope() as s:
            case_id = transfer.apply_transfer(s, actor, **form).id
    except REFUSALS as exc:
        return _transfer_form(request, actor, form, _message(exc, lang_of(request)), 422)
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


# ---- R15: attribute disputes ------------------------------------------------------------------------


@router.get("/disputes", response_class=HTMLResponse)
def disputes_page(request: Request, actor: LoggedIn) -> HTMLResponse:
    """R15: the sharing-attribute disputes the visitor may see."""
    lang = lang_of(request)
    with read_scope() as s:
        rows = dispute.list_disputes(s, actor, lang)
        return render(request, "catalog/disputes.html", rows=rows, label=_labels(s, lang))


def _dispute_form(
    request: Request, actor: Actor, code: str, form: dict[str, Any], error: str = "", status_code: int = 200
) -> HTMLResponse:
    lang = lang_of(request)
    with read_scope() as s:
        dispute.require_authority(actor)
        entry = service.get_entry(s, actor, code)
        pol = policy_service.at(s)
        return render(
            request,
            "catalog/dispute_new.html",
            entry=entry,
            form=form,
            error=error,
            attributes=[
                (k, pol.label("sharing_attributes", k, lang)) for k in pol.keys("sharing_attributes")
            ],
            condition_kinds=[
                (k, pol.label("sharing_condition_kinds", k, lang))
                for k in pol.keys("sharing_condition_kinds")
            ],
            methods=[(k, pol.label("sharing_methods", k, lang)) for k in pol.keys("sharing_methods")],
            label=_labels(s, lang),
            status_code=status_code,
        )


@router.get("/{code}/dispute", response_class=HTMLResponse)
def dispute_new_page(request: Request, actor: LoggedIn, code: str) -> HTMLResponse:
    """R15: the authority's form to dispute an entry's sharing attribute."""
    form = {
        "proposed_attribute": "",
        "reasons": "",
        "legal_basis": "",
        "conditions": [],
        "sharing_methods": [],
    }
    return _dispute_form(request, actor, code, form)


def _conditions(raw: FormData) -> list[dict[str, str]]:
    """R17: condition rows `conditions-<n>-kind` / `conditions-<n>-value`; rows left blank are dropped."""
    rows = []
    for n in range(CONDITION_ROWS):
        value = str(raw.get(f"conditions-{n}-value") or "").strip()
        if value:
            rows.append({"kind": str(raw.get(f"conditions-{n}-kind") or ""), "value": value})
    return rows


def _dispute_input(raw: FormData) -> dict[str, Any]:
    return {
        "proposed_attribute": str(raw.get("proposed_attribute") or ""),
        "reasons": str(raw.get("reasons") or ""),
        "legal_basis": str(raw.get("legal_basis") or ""),
        "conditions": _conditions(raw),
        "sharing_methods": [str(v) for v in raw.getlist("sharing_methods")],
    }


@router.post("/{code}/dispute", response_class=HTMLResponse, dependencies=Protected)
async def dispute_new_submit(request: Request, actor: LoggedIn, code: str) -> Response:
    form = _dispute_input(await request.form())
    try:
        with session_scope() as s:
            case = dispute.open_dispute(
                s,
                actor,
                code,
                form["proposed_attribute"],
                form["reasons"],
                conditions=form["conditions"],
                legal_basis=form["legal_basis"],
                sharing_methods=form["sharing_methods"] or None,
            )
            case_id = case.id
    except REFUSALS as exc:
        return _dispute_form(request, actor, code, form, _message(exc, lang_of(request)), 422)
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


# ---- R8: IT projects and the government cloud ---------------------------------------------------------


@router.get("/projects", response_class=HTMLResponse)
def projects_page(request: Request, actor: LoggedIn) -> HTMLResponse:
    """R8: the registered government IT projects the visitor may see."""
    lang = lang_of(request)
    with read_scope() as s:
        rows = projects.list_projects(s, actor)
        names = {
            o.id: o.name(lang)
            for o in s.query(Organisation).filter(Organisation.id.in_({p.org_id for p in rows}))
        }
        can_register = decide(s, actor, Action.CATALOG_COMPILE, org_id=actor.org_id).allowed
        return render(request, "catalog/projects.html", rows=rows, names=names, can_register=can_register)


def _project_form(
    request: Request, actor: Actor, form: dict[str, str], error: str = "", status_code: int = 200
) -> HTMLResponse:
    with read_scope() as s:
        require(s, actor, Action.CATALOG_COMPILE, org_id=actor.org_id)
    return render(request, "catalog/project_new.html", form=form, error=error, status_code=status_code)


@router.get("/projects/new", response_class=HTMLResponse)
def project_new_page(request: Request, actor: LoggedIn) -> HTMLResponse:
    """R8: register an IT project with the entries it will produce and its data needs."""
    return _project_form(request, actor, {"name": "", "description": "", "outputs": "", "data_needs": ""})


@router.post("/projects/new", response_class=HTMLResponse, dependencies=Protected)
async def project_new_submit(request: Request, actor: LoggedIn) -> Response:
    raw = await request.form()
    form = {k: str(raw.get(k) or "") for k in ("name", "description", "outputs", "data_needs")}
    try:
        with session_scope() as s:
            project = projects.register_project(
                s,
                actor,
                name=form["name"],
                description=form["description"],
                outputs=_lines(form["outputs"]),
                data_needs=_lines(form["data_needs"]),
            )
            project_id = project.id
    except REFUSALS as exc:
        return _project_form(request, actor, form, _message(exc, lang_of(request)), 422)
    return RedirectResponse(f"/catalog/projects/{project_id}", status_code=303)


def _project_page(
    request: Request, actor: Actor, project_id: int, error: str = "", status_code: int = 200
) -> HTMLResponse:
    lang = lang_of(request)
    with read_scope() as s:
        project = projects.get_project(s, actor, project_id)
        org = s.get(Organisation, project.org_id)
        case = project.acceptance_case_id
        return render(
            request,
            "catalog/project.html",
            project=project,
            org=org.name(lang) if org else "",
            missing=projects.acceptance_check(s, project),
            can_request=decide(s, actor, Action.CATALOG_COMPILE, org_id=project.org_id).allowed,
            case_id=case,
            error=error,
            status_code=status_code,
        )


@router.get("/projects/{project_id}", response_class=HTMLResponse)
def project_page(request: Request, actor: LoggedIn, project_id: int) -> HTMLResponse:
    """R8: a project with its acceptance check list and the request button."""
    return _project_page(request, actor, project_id)


@router.post("/projects/{project_id}/acceptance", response_class=HTMLResponse, dependencies=Protected)
def project_acceptance(request: Request, actor: LoggedIn, project_id: int) -> Response:
    """R8: request the authority's acceptance check (refused while anything is missing)."""
    try:
        with session_scope() as s:
            case_id = projects.request_acceptance(s, actor, project_id).id
    except Conflict as exc:
        return _project_page(request, actor, project_id, _message(exc, lang_of(request)), 409)
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


@router.get("/cloud", response_class=HTMLResponse)
def cloud_page(request: Request, actor: LoggedIn) -> HTMLResponse:
    """R8: departments and their eligibility to use the government cloud."""
    with read_scope() as s:
        return render(request, "catalog/project_cloud.html", rows=projects.cloud_overview(s))
