"""R7 R13: fix and resubmit a batch's refused rows — the provider downloads them (the published items with
the values as received, the source row and the problems in words), corrects them, and sends the file back
as a resubmission of that batch: an incremental load of the same resource, which never wipes data. The
page shows each refused row as corrected since (已更正, with the batch that brought it in) or still to fix
(待更正). Thin: the rules live in the store (`store.batches`) and the upload service
(`aggregation.upload`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile as StarletteUpload

from gongshu.aggregation.api import refused_csv_response
from gongshu.aggregation.readers import ENCODINGS
from gongshu.aggregation.upload import resubmission_target, resubmit_upload
from gongshu.kernel.db import session_scope
from gongshu.kernel.errors import GongshuError
from gongshu.kernel.identity.actor import Actor
from gongshu.store import batches
from gongshu.store import service as store
from gongshu.web.deps import IdPath, csrf_protect, require_actor
from gongshu.web.render import lang_of, render

router = APIRouter(prefix="/data", include_in_schema=False)
LoggedIn = Annotated[Actor, Depends(require_actor)]
Protected = [Depends(csrf_protect)]
PAGE_ROWS = 200  # refused rows listed on the page; the download holds them all


@router.get("/batches/{batch_id}/refused.csv")
def refused_csv(request: Request, actor: LoggedIn, batch_id: IdPath) -> Response:
    """R13: the batch's refused rows as a CSV to fix and resubmit (UTF-8 with a BOM, for Excel) — the
    problems in the page's language. The same access as the batch's quarantine (the provider's data
    officers and the authority's reviewers; anyone else 403, audited), and the read is audited."""
    with session_scope() as s:
        name, body = batches.refused_csv(s, actor, batch_id, lang_of(request))
    return refused_csv_response(name, body)


def _page(
    request: Request,
    actor: Actor,
    batch_id: int,
    *,
    error: GongshuError | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    """R13: the resubmission page — the batch's refused rows with their status, the counts, the form."""
    lang = lang_of(request)
    with session_scope() as s:  # the refused rows are read as received: the read is audited
        batch = batches.resubmittable(s, actor, batch_id)
        info = store.describe(s, batch.resource_code)
        _, rows, total = batches.refused_rows(s, actor, batch_id, PAGE_ROWS, method="resubmit_page")
        counts = batches.correction_counts(s, batch)
        resubmissions = batches.resubmissions_of(s, batch_id)
        items = info["items"]
        return render(
            request,
            "aggregation/resubmit.html",
            status_code=status,
            batch=batch,
            res=info,
            rows=rows,
            total=total,
            shown=len(rows),
            counts=counts,
            resubmissions=resubmissions,
            problems=lambda row: batches.problems_text(row, items, lang),
            encodings=sorted(set(ENCODINGS.values())),
            error=error.message(lang) if error else "",
            error_code=error.code if error else "",
            error_details=error.details if error else {},
            item_label=_item_labels(info, lang),
            form=form or {"encoding": ""},
        )


def _item_labels(info: dict[str, Any], lang: str) -> dict[str, str]:
    """R9: an item name → how a file names it (its Chinese label and its name), for the column diff."""
    return {str(i["name"]): store.column_shown(i, lang) for i in info["items"]}


@router.get("/batches/{batch_id}/resubmit", response_class=HTMLResponse)
def resubmit_page(request: Request, actor: LoggedIn, batch_id: IdPath) -> HTMLResponse:
    """R13: the provider's data officer downloads the refused rows, fixes them and uploads the corrected
    file. A batch that cannot be resubmitted (404, 403, 409: failed, loading, or nothing refused) shows
    the error page with its precise reason."""
    return _page(request, actor, batch_id)


@router.post("/batches/{batch_id}/resubmit", dependencies=Protected)
async def resubmit_submit(request: Request, actor: LoggedIn, batch_id: IdPath) -> Response:
    """R13: load the corrected file as an incremental resubmission of the batch, then show the new batch's
    report; a refused file shows its precise error on this page (status 4xx, the form as sent, nothing
    stored)."""
    await run_in_threadpool(resubmission_target, actor, batch_id)  # 404/403/409 before the body is read
    form = await request.form()
    values = {"encoding": str(form.get("encoding") or "")[:20]}
    upload = form.get("file")
    fileobj, filename = (
        (upload.file, upload.filename) if isinstance(upload, StarletteUpload) else (None, None)
    )
    try:
        report = await resubmit_upload(
            actor, batch_id, fileobj, filename, encoding=values["encoding"] or None
        )
    except GongshuError as exc:
        return await run_in_threadpool(
            _page, request, actor, batch_id, error=exc, form=values, status=exc.status_code
        )
    return RedirectResponse(f"/data/batches/{report['id']}", status_code=303)
