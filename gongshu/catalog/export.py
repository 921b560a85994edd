"""R6: the catalog template and exports of search results (Excel, JSON).

An export is whatever the catalog search returns for the same query and filters, with the same visibility
(R15, R22): it pages through `search.search`, never a query of its own. The Excel export has the
template's layout, so that it can be imported again."""

from __future__ import annotations

import io
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.catalog import search, service
from gongshu.catalog.excel import (
    CODES_SHEET,
    ENTRY_COLUMNS,
    ENTRY_SHEET,
    FIRST_DATA_ROW,
    HEADER_ROW,
    HELP_SHEET,
    ITEM_COLUMNS,
    ITEM_SHEET,
    KEY_ROW,
    Column,
    vocabulary,
)
from gongshu.catalog.models import CatalogEntry
from gongshu.kernel.errors import ValidationFailed
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import Organisation
from gongshu.kernel.policy import service as policy_service
from gongshu.kernel.policy.service import Policy
from gongshu.kernel.timeutil import now, today_china

EXPORT_MAX = 10_000
PAGE = 100
VALIDATED_ROWS = 1000
HEAD_FILL = PatternFill("solid", fgColor="DDEBF7")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def found_entries(
    session: Session, actor: Actor, q: str, filters: dict[str, list[str]], sort: str = "relevance"
) -> list[CatalogEntry]:
    """R6 R15 R22: every entry the catalog search finds for `actor`, in the search's order."""
    first = search.search(session, actor, q, filters, sort, PAGE, 0, with_facets=False)
    if first.total > EXPORT_MAX:
        raise ValidationFailed(
            "catalog_io.export_too_large",
            f"检索结果有 {first.total} 个条目，一次最多导出 {EXPORT_MAX} 个，请缩小检索范围",
            f"The search found {first.total} entries; at most {EXPORT_MAX} can be exported — narrow it",
            field="q",
        )
    entries = [h.entry for h in first.hits]
    while len(entries) < first.total:
        page = search.search(session, actor, q, filters, sort, PAGE, len(entries), with_facets=False)
        if not page.hits:
            break
        entries += [h.entry for h in page.hits]
    return entries


def _provider_codes(session: Session, entries: list[CatalogEntry]) -> dict[int, str]:
    ids = {e.provider_org_id for e in entries}
    if not ids:
        return {}
    rows = session.execute(select(Organisation.id, Organisation.code).where(Organisation.id.in_(ids)))
    return {int(r[0]): str(r[1]) for r in rows}


def _cell(pol: Policy, col: Column, value: Any) -> Any:
    """A value as the template writes it: policy categories by their Chinese label (R30)."""
    shown = dict(vocabulary(pol, col))
    if col.kind == "bool":
        return "是" if value else "否"
    if col.kind == "list":
        return "，".join(shown.get(str(v), str(v)) for v in value or [])
    if col.kind == "conditions":
        return "；".join(f"{shown.get(c['kind'], c['kind'])}:{c['value']}" for c in value or [])
    if value is None:
        return None
    return shown.get(str(value), value) if col.vocab else value


def _sheet(ws: Worksheet, columns: tuple[Column, ...], rows: list[dict[str, Any]], pol: Policy) -> None:
    for i, col in enumerate(columns, start=1):
        head = ws.cell(HEADER_ROW, i, col.header)
        head.font, head.fill = Font(bold=True, color="C00000" if col.required else "000000"), HEAD_FILL
        ws.cell(KEY_ROW, i, col.key)
        ws.column_dimensions[get_column_letter(i)].width = max(12, min(40, len(col.header) * 3 + 4))
    ws.row_dimensions[KEY_ROW].hidden = True
    ws.freeze_panes = ws.cell(FIRST_DATA_ROW, 1)
    for r, row in enumerate(rows, start=FIRST_DATA_ROW):
        for i, col in enumerate(columns, start=1):
            ws.cell(r, i, _cell(pol, col, row.get(col.key)))


def _drop_downs(wb: Workbook, pol: Policy, n_rows: int) -> None:
    """Drop-down lists for the single-valued category columns, from a hidden sheet of allowed values."""
    codes = wb.create_sheet(CODES_SHEET)
    codes.sheet_state = "hidden"
    last = FIRST_DATA_ROW + max(VALIDATED_ROWS, n_rows + 100)
    lists: dict[str, str] = {}
    for sheet, columns in ((ENTRY_SHEET, ENTRY_COLUMNS), (ITEM_SHEET, ITEM_COLUMNS)):
        ws = wb[sheet]
        for i, col in enumerate(columns, start=1):
            if col.kind not in ("text", "bool") or (col.kind == "text" and not col.vocab):
                continue
            values = ["是", "否"] if col.kind == "bool" else [shown for _, shown in vocabulary(pol, col)]
            name = f"{col.kind}:{col.vocab}"
            if name not in lists:
                n = len(lists) + 1
                codes.cell(1, n, col.header)
                for r, v in enumerate(values, start=2):
                    codes.cell(r, n, v)
                letter = get_column_letter(n)
                lists[name] = f"'{CODES_SHEET}'!${letter}$2:${letter}${len(values) + 1}"
            dv = DataValidation(type="list", formula1=lists[name], allow_blank=True, errorStyle="warning")
            dv.error, dv.prompt = f"请从列表中选择{col.header}", col.help
            dv.add(f"{get_column_letter(i)}{FIRST_DATA_ROW}:{get_column_letter(i)}{last}")
            ws.add_data_validation(dv)


def _help(wb: Workbook, pol: Policy) -> None:
    ws = wb.create_sheet(HELP_SHEET)
    ws.append(["公数 · 数据资源目录导入模板"])
    ws.append([f"编制依据：目录编制规范（R6）；分类取值来自政策 {pol.id}（R30）。"])
    ws.append(["第1行为列名，第2行（隐藏）为字段名，请勿修改；从第3行起每行填写一个条目或信息项。"])
    ws.append(["“信息项”表中每行的“条目编号”须与“目录”表中某一条目的“条目编号”相同。"])
    ws.append(["导入时逐行校验，任一行有误则全部不导入，并列出每处错误所在的工作表、行和列。"])
    ws.append([])
    ws.append(["工作表", "列名", "字段", "必填", "说明", "可选值"])
    for cell in ws[ws.max_row]:
        cell.font, cell.fill = Font(bold=True), HEAD_FILL
    for sheet, columns in ((ENTRY_SHEET, ENTRY_COLUMNS), (ITEM_SHEET, ITEM_COLUMNS)):
        for col in columns:
            allowed = "、".join(v if k == v else f"{v}（{k}）" for k, v in vocabulary(pol, col))
            ws.append([sheet, col.header, col.key, "是" if col.required else "", col.help, allowed])
    ws.cell(1, 1).font = Font(bold=True, size=14)
    for letter, width in zip("ABCDEF", (10, 16, 24, 6, 60, 60), strict=True):
        ws.column_dimensions[letter].width = width
    for row in ws.iter_rows(min_row=8):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")


def workbook_bytes(pol: Policy, entries: list[dict[str, Any]]) -> bytes:
    """R6: a workbook in the template's layout holding `entries` (snapshots with `ref` and `provider`)."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = ENTRY_SHEET
    _sheet(ws, ENTRY_COLUMNS, entries, pol)
    items = [{"entry_ref": e["ref"], **it} for e in entries for it in e.get("items", [])]
    _sheet(wb.create_sheet(ITEM_SHEET), ITEM_COLUMNS, items, pol)
    _help(wb, pol)
    _drop_downs(wb, pol, max(len(entries), len(items)))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def template_bytes(session: Session) -> bytes:
    """R6: the empty import template, with the categories of the policy in force."""
    return workbook_bytes(policy_service.at(session), [])


def _rows(session: Session, entries: list[CatalogEntry]) -> list[dict[str, Any]]:
    codes = _provider_codes(session, entries)
    out = []
    for e in entries:
        row = service.snapshot(e)
        row.update(ref=e.resource_code, provider=codes.get(e.provider_org_id, ""))
        out.append(row)
    return out


def export_xlsx(
    session: Session, actor: Actor, q: str, filters: dict[str, list[str]], sort: str = "relevance"
) -> bytes:
    """R6: the search result as a workbook that can be imported again."""
    entries = found_entries(session, actor, q, filters, sort)
    return workbook_bytes(policy_service.at(session), _rows(session, entries))


def export_json(
    session: Session, actor: Actor, q: str, filters: dict[str, list[str]], sort: str = "relevance"
) -> dict[str, Any]:
    """R6: the search result as JSON: the query, the policy and every entry as published."""
    entries = found_entries(session, actor, q, filters, sort)
    rows = []
    for e, row in zip(entries, _rows(session, entries), strict=True):
        row.pop("ref")
        row.update(
            status=e.status,
            current_version=e.current_version,
            published_at=e.published_at.isoformat() if e.published_at else None,
            updated_at=e.updated_at.isoformat(),
        )
        rows.append(row)
    return {
        "query": {"q": q, "filters": filters, "sort": sort},
        "policy": policy_service.at(session).id,
        "exported_at": now().isoformat(),
        "total": len(rows),
        "entries": rows,
    }


def export_filename(ext: str) -> str:
    """R6: the export's file name carries the day in China (the day the site shows), not the UTC day."""
    return f"catalog-{today_china():%Y%m%d}.{ext}"
