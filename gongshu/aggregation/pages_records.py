"""R13 R14 R26: the record look-up page — one record of a resource by its key: the values now with where
they came from, and every change (newest first). The form posts the key (never in the page address, which
would put an ID number in server logs and the browser's history); `/data/{code}/records/{key}` answers a
link. Thin: the rules (who may look up, the key, the audit) live in `aggregation.records`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from gongshu.aggregation import records
from gongshu.kernel.access.service import AccessDenied
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import GongshuError
from gongshu.kernel.identity.actor import Actor
from gongshu.quality.objections import item_label, shown
from gongshu.store import service as store
from gongshu.web.deps import csrf_protect, require_actor
from gongshu.web.render import lang_of, render

router = APIRouter(prefix="/data", include_in_schema=False)
LoggedIn = Annotated[Actor, Depends(require_actor)]
Protected = [Depends(csrf_protect)]


def _form_info(actor: Actor, code: str) -> dict[str, Any]:
    """The resource as the form names it; refused (404, audited) to whoever may not look its records up."""
    with read_scope() as s:
        info = store.describe(s, code)
        if records.basis_of(s, actor, store.provider_of(s, code)) is None:
            denied = AccessDenied(
                "store.records_unknown",
                f"资源 {code} 中没有可供您查询的记录",
                f"Resource {code} holds no record you may look up",
                actor=actor,
                resource_id=code,
                scenario=None,
                detail={"reason": "store.record_lookup_forbidden", "via": records.VIA},
            )
            denied.status_code = 404
            raise denied
        return info


def _page(request: Request, actor: Actor, code: str, key: str | None) -> HTMLResponse:
    """The form and, for a key, the record with its history (the look-up audited); a malformed key or a key
    without a record shows the form again with the precise message (422, 404)."""
    info = _form_info(actor, code)
    view, error, status = None, None, 200
    if key is not None:
        try:
            with session_scope() as s:
                view = records.record_view(s, actor, code, key)
        except GongshuError as exc:
            if exc.status_code in (401, 403) or isinstance(exc, AccessDenied):
                raise
            error, status = exc, exc.status_code
        if view is not None and not view.found:
            error, status = records.not_found(code, view.key), 404
    items = list(info["items"])
    key_item = next((i for i in items if i["name"] == info["key_item"]), None)
    return render(
        request,
        "aggregation/record.html",
        status_code=status,
        res=info,
        key_label=item_label(key_item, lang_of(request)) if key_item else "",
        typed=key or "",
        view=view if view is not None and view.found else None,
        error=error,
        shown=shown,
        item_label=item_label,
    )


@router.get("/{code}/records", response_class=HTMLResponse)
def records_form(request: Request, actor: LoggedIn, code: str) -> HTMLResponse:
    """R13: the record look-up form of resource `code` (its provider's data officers, the authority)."""
    return _page(request, actor, code, None)


@router.post("/{code}/records", response_class=HTMLResponse, dependencies=Protected)
async def records_lookup(request: Request, actor: LoggedIn, code: str) -> HTMLResponse:
    """R13 R14 R26: the record whose key the form posted, with its lineage and history."""
    form = await request.form()
    return _page(request, actor, code, str(form.get("key") or ""))


@router.get("/{code}/records/{key}", response_class=HTMLResponse)
def record_page(request: Request, actor: LoggedIn, code: str, key: str) -> HTMLResponse:
    """R13 R14 R26: the record `key` of resource `code`, with its lineage and history (newest first)."""
    return _page(request, actor, code, key)
