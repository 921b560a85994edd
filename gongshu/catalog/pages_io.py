"""R6: the catalog's import and export pages and API — the Excel template, the import of compiled entries
(every error listed by sheet, row and column; nothing imported unless every row is valid) and the export of
any search result as Excel or JSON. Thin: the rules live in catalog/excel.py and catalog/export.py."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.datastructures import UploadFile as StarletteUpload

from gongshu.catalog import export
from gongshu.catalog.api import facet_filters
from gongshu.catalog.excel import ImportReport, import_workbook
from gongshu.kernel.access.policy import Action
from gongshu.kernel.access.service import require
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import GongshuError, ValidationFailed
from gongshu.kernel.identity.actor import Actor
from gongshu.web.deps import csrf_protect, current_actor, require_actor
from gongshu.web.render import lang_of, render

router = APIRouter(prefix="/catalog", include_in_schema=False)
api_router = APIRouter(prefix="/api/v1/catalog", tags=["catalog"])
Anyone = Annotated[Actor, Depends(current_actor)]
LoggedIn = Annotated[Actor, Depends(require_actor)]
Protected = [Depends(csrf_protect)]


def _download(body: bytes, media_type: str, filename: str) -> Response:
    disposition = f"attachment; filename={filename}; filename*=UTF-8''{quote(filename)}"
    return Response(body, media_type=media_type, headers={"Content-Disposition": disposition})


@router.get("/template.xlsx")
def template() -> Response:
    """R6: the Excel template for compiling entries offline (categories of the policy in force)."""
    with read_scope() as s:
        body = export.template_bytes(s)
    return _download(body, export.XLSX_TYPE, "catalog-template.xlsx")


@router.get("/export.xlsx")
def export_xlsx(request: Request, actor: Anyone, q: str = "", sort: str = "relevance") -> Response:
    """R6: the search result (same query and filters as /catalog) as a re-importable workbook."""
    with read_scope() as s:
        body = export.export_xlsx(s, actor, q[:200], facet_filters(request), sort)
    return _download(body, export.XLSX_TYPE, export.export_filename("xlsx"))


@router.get("/export.json")
def export_json(request: Request, actor: Anyone, q: str = "", sort: str = "relevance") -> Response:
    """R6: the search result (same query and filters as /catalog) as JSON."""
    with read_scope() as s:
        body = export.export_json(s, actor, q[:200], facet_filters(request), sort)
    response = JSONResponse(body)
    response.headers["Content-Disposition"] = f"attachment; filename={export.export_filename('json')}"
    return response


def _import_page(
    request: Request, report: ImportReport | None = None, error: GongshuError | None = None, status: int = 200
) -> HTMLResponse:
    lang = lang_of(request)
    return render(
        request,
        "catalog/import.html",
        report=report,
        error=error.message(lang) if error else "",
        error_code=error.code if error else "",
        status_code=status,
    )


@router.get("/import", response_class=HTMLResponse)
def import_page(request: Request, actor: LoggedIn) -> HTMLResponse:
    """R6: the catalog officer's upload form for a filled-in template."""
    with read_scope() as s:
        require(s, actor, Action.CATALOG_COMPILE)
    return _import_page(request)


async def _upload(value: Any) -> tuple[bytes, str]:
    if not isinstance(value, StarletteUpload) or not value.filename:
        raise ValidationFailed(
            "catalog_io.file_required",
            "请选择要导入的 .xlsx 文件",
            "Choose the .xlsx file to import",
            field="file",
        )
    return await value.read(), value.filename


@router.post("/import", response_class=HTMLResponse, dependencies=Protected)
async def import_submit(request: Request, actor: LoggedIn) -> HTMLResponse:
    """R6: import the workbook: a table of every error, or the list of drafts created."""
    form = await request.form()
    try:
        data, filename = await _upload(form.get("file"))
        with session_scope() as s:
            report = import_workbook(s, actor, data, filename)
    except ValidationFailed as exc:
        return _import_page(request, error=exc, status=422)
    return _import_page(request, report, status=200 if report.ok else 422)


@api_router.post("/import", status_code=201, dependencies=Protected)
async def import_api(actor: LoggedIn, file: UploadFile) -> dict[str, Any]:
    """R6: import a filled-in template (multipart field `file`) as drafts; a 422 lists every error with
    its sheet, row and column in `error.details.errors`, and nothing is imported."""
    data, filename = await _upload(file)
    with session_scope() as s:
        report = import_workbook(s, actor, data, filename)
    if not report.ok:
        first = report.errors[0]
        raise ValidationFailed(
            "catalog_io.rows_invalid",
            f"有 {len(report.errors)} 处错误，未导入任何条目；第一处：{first.sheet}表第{first.row}行“{first.column}”：{first.zh}",
            f"{len(report.errors)} error(s), nothing imported; first: sheet {first.sheet} row {first.row} "
            f"column {first.column}: {first.en}",
            details={"errors": [e.to_dict() for e in report.errors]},
        )
    return report.to_dict()
