"""R7: the service-interface API and page; R10: the seal status of a record's documents. Thin: the rules
live in `aggregation.interface` and `aggregation.seals`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from gongshu.aggregation import interface, seals
from gongshu.aggregation.interface_models import ServiceInterface
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.identity.actor import Actor
from gongshu.web.deps import csrf_protect, current_actor, require_actor
from gongshu.web.render import render

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


@router.get("/{code}/interface", response_class=HTMLResponse)
def interface_page(request: Request, actor: LoggedIn, code: str) -> HTMLResponse:
    """R7: the entry's service interface and whether the authority has confirmed it."""
    with read_scope() as s:
        entry = interface.published_entry(s, code)
        row = interface.get_interface(s, code)
        return render(request, "aggregation/interface.html", entry=entry, iface=row)


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
