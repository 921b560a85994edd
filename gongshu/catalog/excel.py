"""R6: the catalog's Excel workbook — its layout (sheets 目录, 信息项, 说明) and the import of entries.

An import reads every row, checks every entry against the compilation specification (the same validation
as the editor) and reports each error with its sheet, row, column and code; if any row is invalid nothing
is imported. Otherwise every entry becomes a draft in the caller's single transaction (each audited)."""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import asdict, dataclass, field
from typing import Any

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException
from sqlalchemy.orm import Session

from gongshu.catalog import service
from gongshu.catalog.schemas import (
    DATA_TYPES,
    FORMATS,
    SENSITIVITIES,
    SUBJECT_KINDS,
    VOCABULARY_BY_VALUES,
    EntryInput,
)
from gongshu.catalog.validation import validate_entry
from gongshu.kernel.access.policy import Action
from gongshu.kernel.access.service import decide, require
from gongshu.kernel.audit.service import record
from gongshu.kernel.errors import ValidationFailed
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.organisations import find_org_by_code
from gongshu.kernel.policy import service as policy_service
from gongshu.kernel.policy.service import Policy
from gongshu.web.i18n import gettext

ENTRY_SHEET, ITEM_SHEET, HELP_SHEET, CODES_SHEET = "目录", "信息项", "说明", "代码表"
HEADER_ROW, KEY_ROW, FIRST_DATA_ROW = 1, 2, 3
MAX_BYTES = 10 * 1024 * 1024
MAX_ENTRIES = 5000
LIST_SPLIT = re.compile(r"[,，、;；\n]+")
COND_SPLIT = re.compile(r"[;；\n]+")
TRUE, FALSE = ("是", "true", "1", "yes", "y"), ("否", "false", "0", "no", "n", "")


@dataclass(frozen=True)
class Column:
    """One column: field key, Chinese header, help text, whether required, value kind and vocabulary.

    kind: text | list | conditions | bool | int. vocab: a policy group (R30), or a tuple of technical values
    of the compilation specification (labelled by schemas.VOCABULARY_LABELS); a cell holds a value's key,
    Chinese label or English label."""

    key: str
    header: str
    help: str
    required: bool = False
    kind: str = "text"
    vocab: str | tuple[str, ...] | None = None


ENTRY_COLUMNS = (
    Column("ref", "条目编号", "本表内唯一的编号；信息项表用它关联条目（导出时为资源代码）", True),
    Column("provider", "提供单位代码", "留空为当前账号所在单位；可填本单位管理的单位代码"),
    Column("catalog_kind", "目录类型", "R6：政务数据目录或公共服务数据目录", True, vocab="catalog_kinds"),
    Column("category_code", "分类代码", "类/项/目/细目四级，形如 A01-02-03-04", True),
    Column("name", "资源名称", "不超过200字，如“婚姻登记信息”", True),
    Column("name_en", "英文名称", "资源的英文名称"),
    Column("summary", "资源摘要", "资源内容的简要说明"),
    Column("format", "资源格式", "资源的格式", True, vocab=FORMATS),
    Column("topic", "主题", "所属主题，如“民政”"),
    Column("keywords", "关键词", "多个关键词以逗号或顿号分隔", kind="list"),
    Column("subject_kind", "数据对象", "R10：数据所关于的对象，留空为其他", vocab=SUBJECT_KINDS),
    Column("sharing_attribute", "共享属性", "R15", True, vocab="sharing_attributes"),
    Column(
        "sharing_conditions",
        "共享条件",
        "R17：有条件共享须填，写作“类型:内容”，多个条件以分号分隔",
        kind="conditions",
        vocab="sharing_condition_kinds",
    ),
    Column("legal_basis", "不予共享依据", "R18：暂不共享须写明所依据的法律、法规或国家政策"),
    Column("sharing_methods", "共享方式", "R19：多个方式以逗号分隔", kind="list", vocab="sharing_methods"),
    Column("open_attribute", "开放属性", "R22", True, vocab="open_attributes"),
    Column(
        "open_conditions",
        "开放条件",
        "R24：依申请开放须填，写作“类型:内容”，多个条件以分号分隔",
        kind="conditions",
        vocab="open_condition_kinds",
    ),
    Column("not_open_reason", "不予开放理由", "R22：不予开放须写明理由"),
    Column("update_cycle", "更新周期", "资源的更新周期", True, vocab="update_cycles"),
    Column("grade", "数据分级", "R27：一般、重要或核心数据", True, vocab="grades"),
    Column("contains_personal_info", "含个人信息", "是 或 否（R22）", kind="bool"),
    Column("deidentified", "已去标识化", "是 或 否（R22）", kind="bool"),
    Column("related_codes", "关联资源代码", "多个资源代码以逗号分隔", kind="list"),
)
ITEM_COLUMNS = (
    Column("entry_ref", "条目编号", "所属条目在“目录”表中的条目编号", True),
    Column("name", "信息项名称", "小写字母开头，只含小写字母、数字和下划线，如 id_number", True),
    Column("label_zh", "中文名称", "如“公民身份号码”", True),
    Column("label_en", "英文名称", "信息项的英文名称"),
    Column("data_type", "数据类型", "信息项的数据类型", True, vocab=DATA_TYPES),
    Column("length", "长度", "正整数，可不填", kind="int"),
    Column("is_key", "是否主键", "是 或 否；自然人数据须以身份证号码为主键（R10）", kind="bool"),
    Column("sensitivity", "敏感级别", "信息项的敏感级别", vocab=SENSITIVITIES),
    Column("description", "说明", "信息项的说明"),
)
ENTRY_BY_KEY = {c.key: c for c in ENTRY_COLUMNS}
ITEM_BY_KEY = {c.key: c for c in ITEM_COLUMNS}


def vocabulary(pol: Policy, col: Column, lang: str = "zh") -> list[tuple[str, str]]:
    """(key, shown value) of a column's allowed values: their labels, in Chinese unless asked otherwise —
    what the drop-downs offer and the validation messages name (R6)."""
    if isinstance(col.vocab, str):
        return [(k, pol.label(col.vocab, k, lang)) for k in pol.keys(col.vocab)]
    labels = VOCABULARY_BY_VALUES.get(col.vocab or (), {})
    return [(v, gettext(lang, labels[v]) if v in labels else v) for v in col.vocab or ()]


@dataclass(frozen=True)
class ImportIssue:
    """One precise error: where (sheet, row, column header) and what (code, Chinese and English)."""

    sheet: str
    row: int | None
    column: str
    code: str
    zh: str
    en: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ImportReport:
    filename: str
    rows: int = 0
    created: list[dict[str, Any]] = field(default_factory=list)
    errors: list[ImportIssue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "rows": self.rows,
            "ok": self.ok,
            "created": self.created,
            "errors": [e.to_dict() for e in self.errors],
        }


def _refuse(code: str, zh: str, en: str, **details: Any) -> ValidationFailed:
    return ValidationFailed(code, zh, en, field="file", details=details)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _sheet_rows(wb: Any, sheet: str, columns: tuple[Column, ...]) -> list[tuple[int, dict[str, str]]]:
    """The non-blank data rows of a sheet as {field key: text}, found by the key row (or the headers)."""
    if sheet not in wb.sheetnames:
        raise _refuse(
            "catalog_io.sheet_missing",
            f"工作簿缺少工作表“{sheet}”，请使用下载的目录模板",
            f"The workbook lacks the sheet {sheet!r}; use the downloaded catalog template",
            sheet=sheet,
        )
    rows = list(wb[sheet].iter_rows(values_only=True))
    headers = [_text(v) for v in rows[HEADER_ROW - 1]] if rows else []
    keys = [_text(v) for v in rows[KEY_ROW - 1]] if len(rows) >= KEY_ROW else []
    where: dict[str, int] = {}
    for col in columns:
        if col.key in keys:
            where[col.key] = keys.index(col.key)
        elif col.header in headers:
            where[col.key] = headers.index(col.header)
        elif col.required:
            raise _refuse(
                "catalog_io.header_missing",
                f"工作表“{sheet}”缺少列“{col.header}”（字段 {col.key}）",
                f"Sheet {sheet!r} lacks the column {col.header!r} (field {col.key})",
                sheet=sheet,
                column=col.header,
            )
    out = []
    for number, values in enumerate(rows[FIRST_DATA_ROW - 1 :], start=FIRST_DATA_ROW):
        row = {k: _text(values[i]) if i < len(values) else "" for k, i in where.items()}
        if any(row.values()):
            out.append((number, row))
    return out


def open_workbook(data: bytes, filename: str) -> Any:
    """The workbook, or a precise refusal: wrong file type, too large, not a real xlsx."""
    if not filename.lower().endswith(".xlsx"):
        raise _refuse(
            "catalog_io.not_xlsx",
            f"文件“{filename}”不是 Excel 工作簿（.xlsx），请使用下载的目录模板",
            f"{filename!r} is not an Excel workbook (.xlsx); use the downloaded catalog template",
        )
    if len(data) > MAX_BYTES:
        raise _refuse(
            "catalog_io.too_large",
            f"文件超过 {MAX_BYTES // 1024 // 1024} MB",
            f"The file exceeds {MAX_BYTES // 1024 // 1024} MB",
        )
    try:
        return load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        raise _refuse(
            "catalog_io.unreadable",
            f"无法读取文件“{filename}”：它不是有效的 .xlsx 工作簿",
            f"Cannot read {filename!r}: it is not a valid .xlsx workbook",
        ) from exc


class _RowReader:
    """Turns the text of one row into typed values, collecting an issue for each cell it cannot read."""

    def __init__(self, pol: Policy, sheet: str, number: int, issues: list[ImportIssue]) -> None:
        self.pol, self.sheet, self.number, self.issues = pol, sheet, number, issues

    def issue(self, col: Column, code: str, zh: str, en: str) -> None:
        self.issues.append(ImportIssue(self.sheet, self.number, col.header, code, zh, en))

    def key_of(self, col: Column, value: str) -> str:
        """A vocabulary value given as its key, Chinese label or English label (unknown: kept as is, so
        that the compilation check names the allowed values by the labels that may be written)."""
        if col.vocab:
            zh, en = vocabulary(self.pol, col, "zh"), dict(vocabulary(self.pol, col, "en"))
            for key, label_zh in zh:
                labels = (key, label_zh, en[key])
                if value in labels or value.lower() in (lbl.lower() for lbl in labels):
                    return key
        return value

    def value(self, col: Column, raw: str) -> Any:
        if col.kind == "list":
            return [self.key_of(col, v.strip()) for v in LIST_SPLIT.split(raw) if v.strip()]
        if col.kind == "bool":
            if raw.lower() not in TRUE + FALSE:
                self.issue(col, "catalog_io.bool_invalid", f"“{raw}”应填 是 或 否", f"{raw!r}: use 是 or 否")
            return raw.lower() in TRUE
        if col.kind == "int":
            if raw and not raw.isdigit():
                self.issue(
                    col, "catalog_io.int_invalid", f"“{raw}”应为正整数", f"{raw!r} is not a whole number"
                )
            return int(raw) if raw.isdigit() else None
        if col.kind == "conditions":
            out = []
            for part in (p.strip() for p in COND_SPLIT.split(raw)):
                kind, sep, text = part.replace("：", ":").partition(":")
                if not sep:
                    self.issue(
                        col,
                        "catalog_io.condition_format",
                        f"条件“{part}”应写作“类型:内容”",
                        f"Condition {part!r} must read 'kind: statement'",
                    )
                elif part:
                    out.append({"kind": self.key_of(col, kind.strip()), "value": text.strip()})
            return out
        return self.key_of(col, raw) if col.vocab else raw


PATH = re.compile(r"^(\w+)(?:\[(\d+)\])?(?:\.(\w+))?$")


def _locate(path: str, entry_row: int, item_rows: list[int]) -> tuple[str, int, str]:
    """The sheet, row and column header of a validation error's field path."""
    m = PATH.match(path)
    top, index, sub = (m.group(1), m.group(2), m.group(3)) if m else (path, None, None)
    if top == "items" and index is not None and int(index) < len(item_rows):
        col = ITEM_BY_KEY.get(sub or "name", ITEM_BY_KEY["name"])
        return ITEM_SHEET, item_rows[int(index)], col.header
    col = ENTRY_BY_KEY.get("provider" if top == "provider_org_id" else top, ENTRY_BY_KEY["ref"])
    return ENTRY_SHEET, entry_row, col.header


@dataclass
class _Parsed:
    number: int
    ref: str
    item_rows: list[int] = field(default_factory=list)


def read_entries(
    session: Session, actor: Actor, wb: Any, report: ImportReport
) -> list[tuple[_Parsed, EntryInput]]:
    """R6: every entry of the workbook with its items, checked against the compilation specification."""
    pol = policy_service.at(session)
    issues = report.errors
    entries = _sheet_rows(wb, ENTRY_SHEET, ENTRY_COLUMNS)
    report.rows = len(entries)
    items = _sheet_rows(wb, ITEM_SHEET, ITEM_COLUMNS)
    if not entries:
        raise _refuse("catalog_io.empty", "“目录”表中没有任何条目", "The sheet 目录 holds no entry")
    if len(entries) > MAX_ENTRIES:
        raise _refuse(
            "catalog_io.too_many",
            f"一次最多导入 {MAX_ENTRIES} 个条目",
            f"At most {MAX_ENTRIES} entries per import",
        )
    by_ref: dict[str, tuple[_Parsed, dict[str, Any]]] = {}
    ref_col = ENTRY_BY_KEY["ref"]
    for number, row in entries:
        reader = _RowReader(pol, ENTRY_SHEET, number, issues)
        ref = row.get("ref", "")
        if not ref or ref in by_ref:
            code = "catalog_io.ref_required" if not ref else "catalog_io.ref_duplicate"
            zh = "请填写条目编号" if not ref else f"条目编号“{ref}”与第{by_ref[ref][0].number}行重复"
            reader.issue(ref_col, code, zh, f"Entry reference {ref!r} is missing or repeated")
            continue
        values = {c.key: reader.value(c, row.get(c.key, "")) for c in ENTRY_COLUMNS if c.key not in ("ref",)}
        provider = values.pop("provider")
        values["subject_kind"] = values["subject_kind"] or "other"
        values["provider_org_id"] = _provider_id(session, actor, provider, reader)
        values["items"] = []
        by_ref[ref] = (_Parsed(number, ref), values)
    for number, row in items:
        reader = _RowReader(pol, ITEM_SHEET, number, issues)
        target = by_ref.get(row.get("entry_ref", ""))
        if target is None:
            reader.issue(
                ITEM_BY_KEY["entry_ref"],
                "catalog_io.item_entry_unknown",
                f"“目录”表中没有条目编号“{row.get('entry_ref', '')}”",
                f"No entry {row.get('entry_ref', '')!r} in the sheet 目录",
            )
            continue
        item = {c.key: reader.value(c, row.get(c.key, "")) for c in ITEM_COLUMNS if c.key != "entry_ref"}
        item["sensitivity"] = item["sensitivity"] or "public"
        target[1]["items"].append(item)
        target[0].item_rows.append(number)
    out = []
    for parsed, values in by_ref.values():
        data = EntryInput.model_validate(values)
        for err in validate_entry(pol, data):
            sheet, row_number, column = _locate(err.field, parsed.number, parsed.item_rows)
            issues.append(ImportIssue(sheet, row_number, column, err.code, err.zh, err.en))
        out.append((parsed, data))
    return out


def _provider_id(session: Session, actor: Actor, code: str, reader: _RowReader) -> int | None:
    """R5: the provider by its code; the officer compiles for their organisation or those it manages."""
    if not code:
        return actor.org_id
    col = ENTRY_BY_KEY["provider"]
    org = find_org_by_code(session, code)
    if org is None:
        reader.issue(
            col, "catalog_io.provider_unknown", f"没有代码为“{code}”的单位", f"No organisation {code!r}"
        )
        return None
    if not decide(session, actor, Action.CATALOG_COMPILE, org_id=org.id).allowed:
        reader.issue(
            col,
            "catalog_io.provider_forbidden",
            f"当前账号不能为单位“{code}”编制目录",
            f"Your account may not compile entries for {code!r}",
        )
    return org.id


def import_workbook(session: Session, actor: Actor, data: bytes, filename: str) -> ImportReport:
    """R6: import a workbook of compiled entries as drafts — all of them, or none if any row is invalid."""
    require(session, actor, Action.CATALOG_COMPILE)
    wb = open_workbook(data, filename)
    report = ImportReport(filename)
    try:
        parsed = read_entries(session, actor, wb, report)
    finally:
        wb.close()
    report.errors.sort(key=lambda e: (e.sheet != ENTRY_SHEET, e.row or 0))
    if report.errors:
        return report
    for p, entry_input in parsed:
        entry = service.create_draft(session, actor, entry_input)
        report.created.append(
            {"row": p.number, "ref": p.ref, "resource_code": entry.resource_code, "name": entry.name}
        )
    record(
        session,
        actor,
        "catalog.import",
        object_type="catalog_import",
        object_id=filename[:200],
        detail={"created": [c["resource_code"] for c in report.created]},
    )
    return report
