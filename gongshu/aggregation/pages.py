"""R7 R13: the provider's data pages — upload a file into a resource, the resource's batches, and one
batch's report with its quarantined rows. Thin: the rules live in the pipeline and the store."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile as StarletteUpload

from gongshu.aggregation.readers import ENCODINGS
from gongshu.aggregation.upload import ingest_upload
from gongshu.catalog.schemas import vocabulary_label
from gongshu.kernel.access.policy import Action
from gongshu.kernel.access.service import decide, require
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import GongshuError
from gongshu.kernel.identity.actor import Actor
from gongshu.store import batches
from gongshu.store import service as store
from gongshu.web.deps import csrf_protect, require_actor
from gongshu.web.render import lang_of, render

router = APIRouter(prefix="/data", include_in_schema=False)
LoggedIn = Annotated[Actor, Depends(require_actor)]
Protected = [Depends(csrf_protect)]
QUARANTINE_PAGE = 500


def _resource(actor: Actor, code: str) -> dict[str, Any]:
    with read_scope() as s:
        info = store.describe(s, code)
        require(s, actor, Action.DATA_INGEST, org_id=store.provider_of(s, code))
        return info


def _upload_page(
    request: Request,
    info: dict[str, Any],
    *,
    error: GongshuError | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "aggregation/upload.html",
        status_code=status,
        res=info,
        encodings=sorted(set(ENCODINGS.values())),
        error=error.message(lang_of(request)) if error else "",
        error_code=error.code if error else "",
        error_details=error.details if error else {},
        form=form or {"mode": "full", "encoding": ""},
        type_label=lambda code: vocabulary_label("data_type", code, lang_of(request)),
        item_label=_item_labels(info, lang_of(request)),
    )


def _item_labels(info: dict[str, Any], lang: str) -> dict[str, str]:
    """R9: an item name → how a file names it (its Chinese label and its name), for the column diff."""
    return {str(i["name"]): store.column_shown(i, lang) for i in info["items"]}


@router.get("", response_class=HTMLResponse)
def data_home(request: Request, actor: LoggedIn) -> HTMLResponse:
    """R7: the resources the actor's organisations provide (every resource for the authority)."""
    with read_scope() as s:
        if decide(s, actor, Action.SUPERVISE).allowed:
            scope: frozenset[int] | None = None
        else:
            scope = require(s, actor, Action.DATA_INGEST).org_scope
        return render(request, "aggregation/home.html", resources=store.resources_of(s, scope))


@router.get("/batches/{batch_id}", response_class=HTMLResponse)
def batch_page(request: Request, actor: LoggedIn, batch_id: int) -> HTMLResponse:
    """R7 R13: a batch's report and the rows it refused (source row, column, rule, message)."""
    with session_scope() as s:
        batch, rows, total = batches.read_quarantine(s, actor, batch_id, QUARANTINE_PAGE)
        info = store.describe(s, batch.resource_code)
        return render(
            request, "aggregation/batch.html", batch=batch, res=info, rows=rows, total=total, shown=len(rows)
        )


@router.get("/{code}/batches", response_class=HTMLResponse)
def batches_page(request: Request, actor: LoggedIn, code: str) -> HTMLResponse:
    """R7: the resource's batches, newest first."""
    with read_scope() as s:
        batches.require_view(s, actor, code)
        info = store.describe(s, code)
        return render(request, "aggregation/batches.html", res=info, batches=batches.of_resource(s, code))


@router.get("/{code}/upload", response_class=HTMLResponse)
def upload_page(request: Request, actor: LoggedIn, code: str) -> HTMLResponse:
    """R7: the provider's data officer uploads a file (full or incremental; encoding detected)."""
    return _upload_page(request, _resource(actor, code))


@router.post("/{code}/upload", dependencies=Protected)
async def upload_submit(request: Request, actor: LoggedIn, code: str) -> Response:
    """R7 R13: load the file; a refused file shows its precise error, a batch shows its report."""
    info = _resource(actor, code)
    form = await request.form()
    values = {"mode": str(form.get("mode") or "full"), "encoding": str(form.get("encoding") or "")}
    upload = form.get("file")
    try:
        report = await ingest_upload(
            actor,
            code,
            upload.file if isinstance(upload, StarletteUpload) else None,  # type: ignore[arg-type]
            upload.filename if isinstance(upload, StarletteUpload) else None,
            mode=values["mode"],
            encoding=values["encoding"] or None,
        )
    except GongshuError as exc:
        return _upload_page(request, info, error=exc, form=values, status=exc.status_code)
    return RedirectResponse(f"/data/batches/{report['id']}", status_code=303)
