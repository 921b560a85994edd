"""R7: the service-interface API and page; R10: the seal status of a record's documents. Thin: the rules
live in `aggregation.interface` and `aggregation.seals`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from gongshu.aggregation import interface, seals
from gongshu.aggregation.interface_models import ServiceInterface
from gongshu.kernel.access.policy import Action
from gongshu.kernel.access.service import decide, require
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import GongshuError, ValidationFailed
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import OrgKind
from gongshu.web.deps import csrf_protect, current_actor, require_actor
from gongshu.web.render import lang_of, render

api_router = APIRouter(prefix="/api/v1/data", tags=["data"])
router = APIRouter(prefix="/data", include_in_schema=False)
LoggedIn = Annotated[Actor, Depends(require_actor)]
Anyone = Annotated[Actor, Depends(current_actor)]
Protected = [Depends(csrf_protect)]


class InterfaceIn(BaseModel):
    base_url: str
    path_template: str = ""
    method: str = "GET"
    params: dict[str, str] = Field(default_factory=dict)
    timeout_seconds: float = 5.0
    legal_basis: str = ""


def interface_out(row: ServiceInterface) -> dict[str, Any]:
    return {
        "resource_code": row.resource_code,
        "base_url": row.base_url,
        "path_template": row.path_template,
        "method": row.method,
        "params": row.params,
        "timeout_seconds": row.timeout_seconds,
        "legal_basis": row.legal_basis,
        "confirmed_at": row.confirmed_at.isoformat() if row.confirmed_at else None,
        "enabled": row.enabled,
    }


@api_router.get("/{code}/interface")
def call(
    request: Request, actor: Anyone, code: str, scenario: Annotated[str, Query()] = ""
) -> dict[str, Any]:
    """R7: rows of an entry served by the department's own API (every other query parameter is forwarded
    when the interface allows it)."""
    params = {k: v for k, v in request.query_params.items() if k != "scenario"}
    with session_scope() as s:
        rows, decision = interface.call_interface(s, actor, code, params, scenario or None)
        return {
            "resource_code": code,
            "rows": rows,
            "items": list(decision.items),
            "basis": decision.basis,
            "grant_id": decision.grant_id,
            "scenario": decision.scenario,
        }


@api_router.put("/{code}/interface", dependencies=Protected)
def register(actor: LoggedIn, code: str, body: InterfaceIn) -> dict[str, Any]:
    """R7: the provider registers its API for the entry (waits for the authority's confirmation)."""
    with session_scope() as s:
        return interface_out(interface.register_interface(s, actor, code, **body.model_dump()))


@api_router.post("/{code}/interface/confirm", dependencies=Protected)
def confirm(actor: LoggedIn, code: str) -> dict[str, Any]:
    """R7: the authority confirms the data may not be copied; the interface becomes usable."""
    with session_scope() as s:
        return interface_out(interface.confirm_interface(s, actor, code))


def _interface_page(
    request: Request,
    actor: Actor,
    code: str,
    *,
    status_code: int = 200,
    error: GongshuError | None = None,
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    with read_scope() as s:
        entry = interface.viewable_entry(s, actor, code)  # R7 R26: anyone else: 404, audited
        row = interface.get_interface(s, code)
        may_register = decide(s, actor, Action.DATA_MANAGE, org_id=entry.provider_org_id).allowed
        supervising = decide(s, actor, Action.SUPERVISE).allowed
        may_confirm = supervising and actor.org_kind == OrgKind.AUTHORITY
        # R7 R26: the department's own address is the provider's and the supervisors' business; a consumer
        # sees how to call the entry through the platform, never where the platform's proxy leads.
        show_address = may_register or supervising
        if form is None and row is not None:
            form = {
                "base_url": row.base_url,
                "path_template": row.path_template,
                "method": row.method,
                "params": "\n".join(f"{k} = {v}" for k, v in row.params.items()),
                "timeout_seconds": f"{row.timeout_seconds:g}",
                "legal_basis": row.legal_basis,
            }
        return render(
            request,
            "aggregation/interface.html",
            status_code=status_code,
            entry=entry,
            iface=row,
            may_register=may_register,
            may_confirm=may_confirm,
            show_address=show_address,
            form=form or {"method": "GET", "timeout_seconds": "5"},
            error=error.message(lang_of(request)) if error else "",
            error_code=error.code if error else "",
        )


@router.get("/{code}/interface", response_class=HTMLResponse)
def interface_page(request: Request, actor: LoggedIn, code: str) -> HTMLResponse:
    """R7: the entry's service interface, whether the authority has confirmed it, and — for the
    provider's data officer — the form that registers it (or changes it: a change waits for the
    authority's confirmation again). Only the provider's data officers and the authority's supervisors
    see it; anyone else gets the answer for an unknown resource (404, `interface.viewable_entry`)."""
    return _interface_page(request, actor, code)


def _parameters(text: str) -> dict[str, str]:
    """R7: the allowed query parameters as typed on the page, one `parameter = item` per line."""
    mapping: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, item = line.partition("=")
        if not sep or not name.strip() or not item.strip():
            raise ValidationFailed(
                "interface.params_line",
                f"允许的查询参数第 {number} 行应写作“参数名 = 信息项名”",
                f"Allowed parameters, line {number}: write it as “parameter = item name”",
                field="params",
            )
        mapping[name.strip()] = item.strip()
    return mapping


@router.post("/{code}/interface", dependencies=Protected, response_class=HTMLResponse)
async def interface_register(request: Request, actor: LoggedIn, code: str) -> Response:
    """R7: the provider's data officer registers the department's API from the page."""
    with read_scope() as s:  # who may, before what was typed is read (a refusal says nothing of the form)
        entry = interface.viewable_entry(s, actor, code)
        require(s, actor, Action.DATA_MANAGE, org_id=entry.provider_org_id)
    data = await request.form()
    form = {
        k: str(data.get(k) or "")
        for k in ("base_url", "path_template", "method", "params", "timeout_seconds", "legal_basis")
    }
    try:
        try:
            timeout = float(form["timeout_seconds"] or "5")
        except ValueError:
            raise ValidationFailed(
                "interface.timeout_invalid",
                "超时时间应为秒数",
                "The timeout must be a number of seconds",
                field="timeout_seconds",
            ) from None
        with session_scope() as s:
            interface.register_interface(
                s,
                actor,
                code,
                base_url=form["base_url"],
                path_template=form["path_template"].strip(),
                method=form["method"] or "GET",
                params=_parameters(form["params"]),
                timeout_seconds=timeout,
                legal_basis=form["legal_basis"],
            )
    except ValidationFailed as exc:
        return _interface_page(request, actor, code, status_code=422, error=exc, form=form)
    return RedirectResponse(f"/data/{code}/interface", status_code=303)


@router.post("/{code}/interface/confirm", dependencies=Protected)
def interface_confirm(actor: LoggedIn, code: str) -> Response:
    with session_scope() as s:
        interface.confirm_interface(s, actor, code)
    return RedirectResponse(f"/data/{code}/interface", status_code=303)


@router.get("/{code}/records/{key}/documents", response_class=HTMLResponse)
def record_documents_page(request: Request, actor: LoggedIn, code: str, key: str) -> HTMLResponse:
    """R10: a record's documents and certificates, each with the status of its electronic seal."""
    with session_scope() as s:
        docs = seals.record_documents(s, actor, code, key)
        return render(request, "aggregation/record_documents.html", code=code, key=key, docs=docs)
