"""R7 R13: the provider's data pages — upload a file into a resource, the resource's batches, and one
batch's report with its quarantined rows. The lists and reports are read by whoever the access decision
point lets read the provider's reports (DATA_REPORTS_READ: its data officers, the authority's supervisors,
the auditors — R26–R28); an action (upload, pull sources) is linked only for those it lets act
(DATA_INGEST); the record look-up (`pages_records`) only for those it lets look records up. Thin: the
rules live in the pipeline and the store."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile as StarletteUpload

from gongshu.aggregation import records
from gongshu.aggregation.readers import ENCODINGS
from gongshu.aggregation.upload import CONFIRM_FIELD, PAGE_MODE, check_upload, confirmed, page_upload
from gongshu.catalog.schemas import vocabulary_label
from gongshu.kernel.access.policy import Action
from gongshu.kernel.access.service import AccessDenied, decide, require
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import Forbidden, GongshuError
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
    check: dict[str, Any] | None = None,
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
        form=form or {"mode": PAGE_MODE, "encoding": "", CONFIRM_FIELD: ""},
        type_label=lambda code: vocabulary_label("data_type", code, lang_of(request)),
        item_label=_item_labels(info, lang_of(request)),
        check=check,
    )


def _item_labels(info: dict[str, Any], lang: str) -> dict[str, str]:
    """R9: an item name → how a file names it (its Chinese label and its name), for the column diff."""
    return {str(i["name"]): store.column_shown(i, lang) for i in info["items"]}


def _reads_reports(session: Session, actor: Actor, provider: int) -> bool:
    """R7 R13 R26–R28: may the actor read the provider's reports (DATA_REPORTS_READ)?"""
    return decide(session, actor, Action.DATA_REPORTS_READ, org_id=provider).allowed


def _require_reports(session: Session, actor: Actor, code: str) -> int:
    """R7 R13 R26–R28: a resource's batches are read by those the access decision point lets read its
    provider's reports (DATA_REPORTS_READ); anyone else is refused. Returns the provider."""
    provider = store.provider_of(session, code)
    if not _reads_reports(session, actor, provider):
        raise Forbidden(
            "store.batches_forbidden",
            "只有数据提供单位的数据专员、主管部门和审计员可查看批次",
            "Only the provider's data officers, the authority and the auditors may see the batches",
        )
    return provider


def _may_ingest(session: Session, actor: Actor, provider: int | None) -> bool:
    """R7: may the actor load data into the provider's resources (upload, pull sources)? Asked of the
    access decision point, so that a page links an action only for those it lets act."""
    return provider is not None and decide(session, actor, Action.DATA_INGEST, org_id=provider).allowed


@router.get("", response_class=HTMLResponse)
def data_home(request: Request, actor: LoggedIn) -> HTMLResponse:
    """R7 R26–R28: the resources of the providers whose reports the actor reads (every provider for the
    authority's supervisors and the platform's auditors; their organisations for a data officer or a
    department's auditor), with the upload and pull links only where the actor may load data."""
    with read_scope() as s:
        scope = require(s, actor, Action.DATA_REPORTS_READ).org_scope
        resources = store.resources_of(s, scope)
        providers = {r["provider_org_id"] for r in resources}
        may_ingest = {org: _may_ingest(s, actor, org) for org in providers}
        may_look_up = {org: records.basis_of(s, actor, org) is not None for org in providers}
        return render(
            request,
            "aggregation/home.html",
            resources=resources,
            may_ingest=may_ingest,
            may_look_up=may_look_up,
        )


@router.get("/batches/{batch_id}", response_class=HTMLResponse)
def batch_page(request: Request, actor: LoggedIn, batch_id: int) -> HTMLResponse:
    """R7 R13: a batch's report and the rows it refused (source row, column, rule, message). The refused
    rows are read through the store, which audits the read and decides who may have them (the provider's
    data officers and the authority's supervisors); a reader of the reports it refuses them to (an
    auditor, R26–R28) sees the report and how many cells were refused, without the rows. R13: each
    refused row is shown corrected since (with the batch that brought its key in) or still to fix, the
    report counts them, and the provider's data officer downloads them and resubmits them corrected."""
    with session_scope() as s:
        try:
            batch, rows, total = batches.read_quarantine(s, actor, batch_id, QUARANTINE_PAGE)
            rows_withheld = False
        except AccessDenied:
            batch = batches.get(s, batch_id)
            if not _reads_reports(s, actor, store.provider_of(s, batch.resource_code)):
                raise  # refused altogether: the refusal of the rows is audited (the web layer records it)
            rows, total, rows_withheld = [], batches.quarantine_count(s, batch_id), True
        info = store.describe(s, batch.resource_code)
        provider = store.provider_of(s, batch.resource_code)
        may_resubmit = batch.status == "committed" and batch.refused > 0 and _may_ingest(s, actor, provider)
        return render(
            request,
            "aggregation/batch.html",
            batch=batch,
            res=info,
            rows=rows,
            total=total,
            shown=len(rows),
            rows_withheld=rows_withheld,
            corrected_by=batches.corrected_by_cells(s, batch, rows),
            counts=batches.correction_counts(s, batch),
            resubmissions=batches.resubmissions_of(s, batch_id),
            may_resubmit=may_resubmit,
            may_look_up=records.basis_of(s, actor, provider) is not None,
        )


@router.get("/{code}/batches", response_class=HTMLResponse)
def batches_page(request: Request, actor: LoggedIn, code: str) -> HTMLResponse:
    """R7 R26–R28: the resource's batches, newest first; the upload link only for those who may load."""
    with read_scope() as s:
        provider = _require_reports(s, actor, code)
        info = store.describe(s, code)
        return render(
            request,
            "aggregation/batches.html",
            res=info,
            batches=batches.of_resource(s, code),
            may_ingest=_may_ingest(s, actor, provider),
            may_look_up=records.basis_of(s, actor, provider) is not None,
        )


@router.get("/{code}/upload", response_class=HTMLResponse)
def upload_page(request: Request, actor: LoggedIn, code: str) -> HTMLResponse:
    """R7: the provider's data officer uploads a file (full or incremental; encoding detected)."""
    return _upload_page(request, _resource(actor, code))


@router.post("/{code}/upload", dependencies=Protected)
async def upload_submit(request: Request, actor: LoggedIn, code: str) -> Response:
    """R7 R13: load the file; a refused file shows its precise error, a batch shows its report. With the
    button "只检查，不入库" (`action=check`), the file is checked as the load would check it and the page
    shows the check's report; nothing is stored (`aggregation.precheck`). The page's
    default is incremental; a full load of a resource holding data needs the confirmation checkbox
    (`aggregation.upload.require_full_confirmation`: 422, nothing loaded, without it)."""
    info = _resource(actor, code)
    form = await request.form()
    values = {
        "mode": str(form.get("mode") or PAGE_MODE),
        "encoding": str(form.get("encoding") or ""),
        CONFIRM_FIELD: "1" if confirmed(form.get(CONFIRM_FIELD)) else "",
    }
    upload = form.get("file")
    if form.get("action") == "check":  # R13: check only, store nothing (预检)
        try:
            checked = await check_upload(
                actor,
                code,
                upload.file if isinstance(upload, StarletteUpload) else None,
                upload.filename if isinstance(upload, StarletteUpload) else None,
                encoding=values["encoding"] or None,
            )
        except GongshuError as exc:
            return _upload_page(request, info, error=exc, form=values, status=exc.status_code)
        return _upload_page(request, info, form=values, check=checked)
    try:
        report = await page_upload(
            actor,
            code,
            upload.file if isinstance(upload, StarletteUpload) else None,
            upload.filename if isinstance(upload, StarletteUpload) else None,
            mode=values["mode"],
            encoding=values["encoding"] or None,
            confirm_full=bool(values[CONFIRM_FIELD]),
        )
    except GongshuError as exc:
        return _upload_page(request, info, error=exc, form=values, status=exc.status_code)
    return RedirectResponse(f"/data/batches/{report['id']}", status_code=303)
