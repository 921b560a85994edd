"""R6: the catalog's Excel template, import (row- and column-precise errors; all or nothing) and the
export of search results (Excel, JSON) with the search's own visibility (R15, R22), on both backends."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from catalog_fixtures import city, marriage
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gongshu.catalog import export, service
from gongshu.catalog.excel import ENTRY_SHEET, ITEM_SHEET, import_workbook
from gongshu.catalog.models import CatalogEntry
from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.errors import Forbidden, ValidationFailed
from gongshu.kernel.identity import sessions, tokens
from gongshu.kernel.identity.actor import ANONYMOUS
from gongshu.kernel.identity.models import User
from gongshu.kernel.policy import service as policy_service
from gongshu.kernel.workflow import engine
from gongshu.web.app import create_app


@pytest.fixture()
def c(session: Session) -> dict[str, Any]:
    return city(session)


def _row(ref: str, **overrides: Any) -> dict[str, Any]:
    row = marriage(**overrides).model_dump()
    row.update(ref=ref, provider="")
    return row


def _workbook(session: Session, *rows: dict[str, Any]) -> bytes:
    return export.workbook_bytes(policy_service.at(session), list(rows))


def _edit(data: bytes, sheet: str, cell: str, value: Any) -> bytes:
    wb = load_workbook(io.BytesIO(data))
    wb[sheet][cell] = value
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(CatalogEntry)) or 0)


def _publish(session: Session, c: dict[str, Any], officer: str = "civil_officer", **overrides: Any) -> str:
    entry = service.create_draft(session, c[officer], marriage(**overrides))
    case = service.submit_for_review(session, c[officer], entry.id)
    engine.decide(session, c["reviewer"], case.id, "approve")
    session.commit()
    return entry.resource_code


def test_r6_template_has_sheets_headers_keys_and_policy_drop_downs(
    session: Session, c: dict[str, Any]
) -> None:
    wb = load_workbook(io.BytesIO(export.template_bytes(session)))
    assert wb.sheetnames[:3] == [ENTRY_SHEET, ITEM_SHEET, "说明"]
    ws = wb[ENTRY_SHEET]
    headers = [cell.value for cell in ws[1]]
    keys = [cell.value for cell in ws[2]]
    assert "共享属性" in headers and "共享条件" in headers and "sharing_attribute" in keys
    assert ws.row_dimensions[2].hidden
    assert [cell.value for cell in wb[ITEM_SHEET][2]][:3] == ["entry_ref", "name", "label_zh"]
    codes = wb["代码表"]
    assert codes.sheet_state == "hidden"
    listed = {str(cell.value) for col in codes.iter_cols() for cell in col}
    pol = policy_service.at(session)
    for group in ("catalog_kinds", "sharing_attributes", "open_attributes", "update_cycles", "grades"):
        assert {pol.label(group, k) for k in pol.keys(group)} <= listed
    column = headers.index("共享属性") + 1
    formulas = {
        dv.formula1 for dv in ws.data_validations.dataValidation if f"{chr(64 + column)}3" in dv.sqref
    }
    assert len(formulas) == 1 and formulas.pop().startswith("'代码表'!")
    help_text = " ".join(str(cell.value) for row in wb["说明"].iter_rows() for cell in row if cell.value)
    assert "R17" in help_text and "共享条件" in help_text


def test_r6_import_creates_every_draft_in_one_audited_transaction(
    session: Session, c: dict[str, Any]
) -> None:
    data = _workbook(session, _row("1"), _row("2", name="收养登记信息", keywords=["收养"]))
    data = _edit(data, ENTRY_SHEET, "L3", "有条件共享")  # a label, as the drop-down writes it
    report = import_workbook(session, c["civil_officer"], data, "目录.xlsx")
    session.commit()
    assert report.ok and report.rows == 2 and [r["row"] for r in report.created] == [3, 4]
    entries = session.scalars(select(CatalogEntry).order_by(CatalogEntry.id)).all()
    assert [e.name for e in entries] == ["婚姻登记信息", "收养登记信息"]
    assert all(e.status == "draft" and len(e.items) == 2 for e in entries)
    assert entries[0].sharing_conditions == [{"kind": "scenario", "value": "婚育服务一件事"}]
    actions = session.scalars(select(AuditEntry.action)).all()
    assert actions.count("catalog.create_draft") == 2 and "catalog.import" in actions


def test_r6_import_reports_row_and_column_and_imports_nothing(session: Session, c: dict[str, Any]) -> None:
    data = _workbook(session, _row("1"), _row("2", name="收养登记信息"), _row("3", name="殡葬信息"))
    data = _edit(data, ENTRY_SHEET, "L4", "随便共享")  # row 4: sharing attribute unknown
    data = _edit(data, ENTRY_SHEET, "D5", "bad")  # row 5: category code malformed
    data = _edit(data, ITEM_SHEET, "B6", "Registered On")  # items row 6 (entry 3's 2nd item): bad name
    data = _edit(data, ITEM_SHEET, "F5", "十八")  # items row 5: length is not a number
    report = import_workbook(session, c["civil_officer"], data, "目录.xlsx")
    found = {(e.sheet, e.row, e.column, e.code) for e in report.errors}
    assert found == {
        (ENTRY_SHEET, 4, "共享属性", "catalog.unknown_sharing_attribute"),
        (ENTRY_SHEET, 5, "分类代码", "catalog.category_code_invalid"),
        (ITEM_SHEET, 5, "长度", "catalog_io.int_invalid"),
        (ITEM_SHEET, 6, "信息项名称", "catalog.item_name_invalid"),
    }
    assert all(e.zh for e in report.errors) and not report.created
    session.commit()
    assert _count(session) == 0


def test_r6_import_messages_name_what_may_be_written_in_the_cell(session: Session, c: dict[str, Any]) -> None:
    """The template writes the labels, the import reads them, and a refused cell's message lists the
    labels an officer may write there (R6): the same vocabulary as the entry pages, not the raw codes."""
    data = _workbook(session, _row("1"), _row("2", name="收养登记信息"))
    wb = load_workbook(io.BytesIO(data))
    assert (wb[ENTRY_SHEET]["H3"].value, wb[ENTRY_SHEET]["K3"].value) == ("CSV 文件", "自然人")
    assert (wb[ITEM_SHEET]["E3"].value, wb[ITEM_SHEET]["H3"].value) == ("居民身份证号码", "个人信息")
    listed = {str(cell.value) for col in wb["代码表"].iter_cols() for cell in col}
    assert {"Excel 工作簿", "法人", "小数", "涉密"} <= listed
    data = _edit(data, ENTRY_SHEET, "H3", "Excel 工作簿")  # labels, as the drop-downs write them
    data = _edit(data, ENTRY_SHEET, "K3", "自然人")
    data = _edit(data, ITEM_SHEET, "H4", "内部")
    data = _edit(data, ENTRY_SHEET, "H4", "PDF")  # row 4: no such format
    data = _edit(data, ENTRY_SHEET, "K4", "机器人")  # row 4: no such subject
    data = _edit(data, ENTRY_SHEET, "S4", "每小时")  # row 4: no such update cycle
    data = _edit(data, ITEM_SHEET, "E5", "blob")  # entry 2's first item: no such data type
    refused = import_workbook(session, c["civil_officer"], data, "目录.xlsx")
    by_cell = {(e.sheet, e.row, e.column): e for e in refused.errors}
    assert {k: e.code for k, e in by_cell.items()} == {
        (ENTRY_SHEET, 4, "资源格式"): "catalog.format_invalid",
        (ENTRY_SHEET, 4, "数据对象"): "catalog.subject_kind_invalid",
        (ENTRY_SHEET, 4, "更新周期"): "catalog.unknown_update_cycle",
        (ENTRY_SHEET, 4, "共享方式"): "catalog.method_format_mismatch",  # 库表 needs a tabular format
        (ITEM_SHEET, 5, "数据类型"): "catalog.item_type_invalid",
    }
    assert (
        by_cell[(ENTRY_SHEET, 4, "共享方式")].zh
        == "库表方式要求表格类资源格式（CSV 文件、Excel 工作簿、数据库）"
    )
    assert by_cell[(ENTRY_SHEET, 4, "数据对象")].zh == "数据对象应为 自然人、法人、其他 之一"
    assert "CSV 文件、Excel 工作簿" in by_cell[(ENTRY_SHEET, 4, "资源格式")].zh
    assert "xlsx" not in by_cell[(ENTRY_SHEET, 4, "资源格式")].zh
    assert "每日" in by_cell[(ENTRY_SHEET, 4, "更新周期")].zh
    assert "daily" not in by_cell[(ENTRY_SHEET, 4, "更新周期")].zh
    assert "统一社会信用代码" in by_cell[(ITEM_SHEET, 5, "数据类型")].zh
    assert "Whole number (integer)" in by_cell[(ITEM_SHEET, 5, "数据类型")].en
    assert _count(session) == 0
    data = _edit(data, ENTRY_SHEET, "H4", "db")  # the codes are still read
    data = _edit(data, ENTRY_SHEET, "K4", "Legal persons")  # and the English labels
    data = _edit(data, ENTRY_SHEET, "S4", "每月")
    data = _edit(data, ITEM_SHEET, "E5", "统一社会信用代码")
    data = _edit(data, ITEM_SHEET, "B5", "uscc")
    report = import_workbook(session, c["civil_officer"], data, "目录.xlsx")
    assert report.ok, [e.zh for e in report.errors]
    session.commit()
    entries = session.scalars(select(CatalogEntry).order_by(CatalogEntry.id)).all()
    assert [(e.format, e.subject_kind, e.update_cycle) for e in entries] == [
        ("xlsx", "person", "daily"),
        ("db", "legal_person", "monthly"),
    ]
    first = entries[1].items[0]
    assert (first.data_type, first.sensitivity) == ("uscc", "personal")
    assert [i.sensitivity for i in entries[0].items] == ["personal", "internal"]


def test_r6_import_refuses_unknown_refs_forbidden_providers_and_bad_conditions(
    session: Session, c: dict[str, Any]
) -> None:
    data = _workbook(session, _row("1"), _row("2", name="收养登记信息"))
    data = _edit(data, ENTRY_SHEET, "B4", "public_security")  # another department's entry
    data = _edit(data, ENTRY_SHEET, "M3", "婚育服务一件事")  # a condition without its kind
    data = _edit(data, ITEM_SHEET, "A4", "9")  # an item of no entry
    report = import_workbook(session, c["civil_officer"], data, "目录.xlsx")
    found = {(e.sheet, e.row, e.column, e.code) for e in report.errors}
    assert (ENTRY_SHEET, 4, "提供单位代码", "catalog_io.provider_forbidden") in found
    assert (ENTRY_SHEET, 3, "共享条件", "catalog_io.condition_format") in found
    assert (ITEM_SHEET, 4, "条目编号", "catalog_io.item_entry_unknown") in found
    assert _count(session) == 0


@pytest.mark.parametrize(
    ("filename", "mutate", "code"),
    [
        ("目录.csv", None, "catalog_io.not_xlsx"),
        ("目录.xlsx", "not a zip", "catalog_io.unreadable"),
        ("目录.xlsx", "no items sheet", "catalog_io.sheet_missing"),
        ("目录.xlsx", "no name column", "catalog_io.header_missing"),
        ("目录.xlsx", "empty", "catalog_io.empty"),
    ],
)
def test_r6_import_refuses_wrong_files_precisely(
    session: Session, c: dict[str, Any], filename: str, mutate: str | None, code: str
) -> None:
    data = _workbook(session, _row("1")) if mutate != "empty" else export.template_bytes(session)
    if mutate == "not a zip":
        data = b"id,name\n1,x\n"
    elif mutate in ("no items sheet", "no name column"):
        wb = load_workbook(io.BytesIO(data))
        if mutate == "no items sheet":
            del wb[ITEM_SHEET]
        else:
            wb[ENTRY_SHEET]["E1"], wb[ENTRY_SHEET]["E2"] = "名称", "title"
        out = io.BytesIO()
        wb.save(out)
        data = out.getvalue()
    with pytest.raises(ValidationFailed) as exc:
        import_workbook(session, c["civil_officer"], data, filename)
    assert exc.value.code == code and exc.value.message_zh


def test_r6_import_needs_a_catalog_officer(session: Session, c: dict[str, Any]) -> None:
    with pytest.raises(Forbidden):
        import_workbook(session, c["citizen"], _workbook(session, _row("1")), "目录.xlsx")


def test_r6_exported_workbook_imports_again_unchanged(session: Session, c: dict[str, Any]) -> None:
    code = _publish(session, c)
    body = export.export_xlsx(session, c["civil_officer"], "婚姻", {})
    assert load_workbook(io.BytesIO(body))[ENTRY_SHEET]["A3"].value == code
    report = import_workbook(session, c["civil_officer"], body, "export.xlsx")
    session.commit()
    assert report.ok, report.errors
    original = service.snapshot(
        session.scalars(select(CatalogEntry).where(CatalogEntry.resource_code == code)).one()
    )
    copy = session.scalars(
        select(CatalogEntry).where(CatalogEntry.resource_code == report.created[0]["resource_code"])
    )
    again = service.snapshot(copy.one())
    assert {k: v for k, v in again.items() if k != "resource_code"} == {
        k: v for k, v in original.items() if k != "resource_code"
    }


def test_r6_r22_export_follows_search_visibility_and_filters(session: Session, c: dict[str, Any]) -> None:
    open_code = _publish(session, c)
    closed = _publish(session, c, name="收养登记信息", open_attribute="not_open", not_open_reason="个人隐私")
    police = _publish(session, c, "police_officer", name="户籍登记信息", format="xlsx")
    public = export.export_json(session, ANONYMOUS, "", {})
    assert {e["resource_code"] for e in public["entries"]} == {open_code, police}
    gov = export.export_json(session, c["police_clerk"], "登记", {"format": ["csv"]})
    assert {e["resource_code"] for e in gov["entries"]} == {open_code, closed}
    assert gov["query"] == {"q": "登记", "filters": {"format": ["csv"]}, "sort": "relevance"}
    assert gov["entries"][0]["provider"] == "civil_affairs" and gov["entries"][0]["items"]


def _browser(session: Session, username: str) -> tuple[TestClient, str]:
    user = session.scalars(select(User).where(User.username == username)).one()
    raw, ws = sessions.start_session(session, user, ip=None, user_agent="pytest", second_factor_done=True)
    session.commit()
    client = TestClient(create_app())
    client.cookies.set("gs_session", raw)
    return client, ws.csrf_token


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_r6_import_page_lists_errors_then_created_drafts(session: Session, c: dict[str, Any]) -> None:
    client, csrf = _browser(session, "civil_officer")
    search_page = client.get("/catalog")
    assert 'href="/catalog/import"' in search_page.text and "/catalog/export.xlsx?" in search_page.text
    assert client.get("/catalog/import").status_code == 200
    template = client.get("/catalog/template.xlsx")
    assert template.status_code == 200 and template.headers["content-type"] == XLSX
    good = _workbook(session, _row("1"))
    bad = _edit(good, ENTRY_SHEET, "D3", "bad")
    session.commit()  # the client writes through its own connection
    refused = client.post(
        "/catalog/import", data={"csrf_token": csrf}, files={"file": ("目录.xlsx", bad, XLSX)}
    )
    assert (
        refused.status_code == 422
        and "分类代码" in refused.text
        and "catalog.category_code_invalid" in refused.text
    )
    wrong = client.post(
        "/catalog/import", data={"csrf_token": csrf}, files={"file": ("a.txt", b"x", "text/plain")}
    )
    assert wrong.status_code == 422 and "catalog_io.not_xlsx" in wrong.text
    assert _count(session) == 0
    session.commit()
    ok = client.post("/catalog/import", data={"csrf_token": csrf}, files={"file": ("目录.xlsx", good, XLSX)})
    assert (
        ok.status_code == 200
        and "婚姻登记信息" in ok.text
        and 'data-testid="catalog-import-created"' in ok.text
    )
    assert _count(session) == 1


def test_r6_import_api_and_exports_over_http(session: Session, c: dict[str, Any]) -> None:
    user = session.scalars(select(User).where(User.username == "civil_officer")).one()
    raw, _ = tokens.issue_token(session, user, name="pytest")
    session.commit()
    client = TestClient(create_app(), headers={"Authorization": f"Bearer {raw}"})
    good = _workbook(session, _row("1"))
    bad = _edit(good, ITEM_SHEET, "E4", "blob")
    session.commit()  # the client writes through its own connection
    refused = client.post("/api/v1/catalog/import", files={"file": ("目录.xlsx", bad, XLSX)})
    assert refused.status_code == 422
    (error,) = refused.json()["error"]["details"]["errors"]
    assert (error["sheet"], error["row"], error["column"], error["code"]) == (
        ITEM_SHEET,
        4,
        "数据类型",
        "catalog.item_type_invalid",
    )
    created = client.post("/api/v1/catalog/import", files={"file": ("目录.xlsx", good, XLSX)})
    assert created.status_code == 201 and len(created.json()["created"]) == 1
    code = _publish(session, c)
    anonymous = TestClient(create_app())
    exported = anonymous.get("/catalog/export.json", params={"q": "marriage", "format": "csv"})
    assert exported.status_code == 200 and [e["resource_code"] for e in exported.json()["entries"]] == [code]
    assert json.loads(exported.content)["total"] == 1
    xlsx = anonymous.get("/catalog/export.xlsx", params={"q": "婚"})
    assert (
        xlsx.status_code == 200 and load_workbook(io.BytesIO(xlsx.content))[ENTRY_SHEET]["A3"].value == code
    )
