"""R14: objections. A person (by resident ID number) or a company (by USCC) sees the records about them in
the resources keyed by that identifier, and files an objection on a record — the field, the value they
claim is correct, evidence. The provider's data officer handles it within the policy's period (the
`objection` workflow kind, `objection_reply` deadline): corrects the record through the store (history
before/after, who, and the case number as the correction reference) or refuses with written reasons
(sealed by the engine). The objector follows the case; the SLA sweep flags overdue cases to the authority.
R15 R17 pattern: a refusal may be disputed; the authority's coordinator (or the municipal government) rules
on the generic case page. A ruling that upholds the objection closes the case and binds the provider: its
data officer executes it on the handling page, correcting the record to the ruled value (`execute_ruling`),
within the objection's reply period from the day of the ruling; the SLA sweep flags a ruling not executed
by then to the authority as it flags an overdue objection (`quality.rulings`).
R26: a person also sees which organisations read their data, when and for which scenario (`my_reads`)."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import re
import zipfile
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.aggregation.decoding import Source
from gongshu.aggregation.ingest import ingest_source
from gongshu.aggregation.interface import key_item
from gongshu.catalog.data_view import EntryView, find_entry, published_entries
from gongshu.catalog.visibility import can_view
from gongshu.kernel.access.policy import Action
from gongshu.kernel.access.service import require
from gongshu.kernel.audit import query as audit_query
from gongshu.kernel.audit.service import record
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import Conflict, Forbidden, NotFound, ValidationFailed
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import Organisation, OrgKind
from gongshu.kernel.timeutil import now
from gongshu.kernel.workflow import engine, inbox
from gongshu.kernel.workflow.attachments import attach, list_attachments
from gongshu.kernel.workflow.hooks import on_closed, on_step_done
from gongshu.kernel.workflow.models import Case, Step
from gongshu.kernel.workflow.notify import notify, notify_followers, users_with_role
from gongshu.kernel.workflow.steps import active_step, is_escalation_step, policy_of, step_label
from gongshu.kernel.workflow.visibility import get_case
from gongshu.quality import transforms
from gongshu.quality.checks import check_column, message
from gongshu.quality.rules import specs_of
from gongshu.quality.rulings import RulingClock, clock_of, mark_executed, ruling_pending, start_clock
from gongshu.store import service as store
from gongshu.store.models import QuarantineRow

KIND = "objection"
# R10: the identifier that keys a subject's records, by the kind of public account.
SUBJECTS = {
    OrgKind.PERSON.value: ("person", "id_number"),
    OrgKind.LEGAL_ENTITY.value: ("legal_person", "uscc"),
}
VALUE_MAX = 2000
# R14: the objector's explanation, the provider's written reasons for a refusal and its note on a correction
# are read by people, not archived documents: at most this many characters (evidence goes as a file).
REASON_MAX = 2000
OPEN = ("in_review", "returned")
HANDLING_PAGE = "/data/objections/{id}"
# R14: evidence is a document or an image, recognised by its content (the name alone proves nothing).
EVIDENCE_MAX_BYTES = 10 * 1024 * 1024
EVIDENCE_TYPES = {  # extension: what the content starts with
    "pdf": (b"%PDF",),
    "ofd": (b"PK\x03\x04",),  # OFD (GB/T 33190) is a ZIP package with an OFD.xml at its root
    "jpg": (b"\xff\xd8\xff",),
    "jpeg": (b"\xff\xd8\xff",),
    "png": (b"\x89PNG\r\n\x1a\n",),
}
# Set while this module decides an objection case (correction or refusal with reasons): any other path
# to approve or refuse one (the generic case page, the case API) is refused by `_decided_here`.
_handling: ContextVar[bool] = ContextVar("objection_handling", default=False)

# R14: the provider handles an objection on its own page, never through the generic decision form.
inbox.register_handling_page(KIND, HANDLING_PAGE)


def item_label(item: Any, lang: str = "zh") -> str:
    """R14 R28: an item's name as a reader of the page language reads it: its Chinese label on Chinese
    pages; on English pages its English label, else its Chinese label (every catalogued item has one, R6:
    a reader recognises 家庭人口数 sooner than a column name such as household_size); the item's name only
    when it has no label at all."""
    keys = ("name", "label_zh", "label_en")
    fields = {k: item.get(k) if isinstance(item, dict) else getattr(item, k, None) for k in keys}
    chinese = fields.get("label_zh")
    label = chinese if lang.startswith("zh") else (fields.get("label_en") or chinese)
    return str(label or fields.get("name") or "")


def _data_type(item: Any) -> str:
    value = item.get("data_type") if isinstance(item, dict) else getattr(item, "data_type", None)
    return str(value or "")


def _decimal_text(value: Decimal) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


_DATE_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[ T][0-9:.]*)?$")


def _canonical(value: Any, data_type: str = "") -> str | bool | None:
    """A stored value in its canonical form: text as the store's checks take it back (a boolean stays a
    boolean). Text kept for a value (a case's payload, the record history's JSON) is read by `data_type`
    with the store's own transforms (2024/1/2 is 2024-01-02); text it cannot read stays as it is."""
    if value is None:
        return None
    if isinstance(value, str) and data_type in ("integer", "decimal", "date", "datetime", "boolean"):
        text = value.strip()
        if not text:
            return ""
        fixed = transforms.for_type(data_type, pa.array([text], pa.string()))[0].as_py()
        text = str(fixed) if fixed is not None else text
        with contextlib.suppress(ValueError, InvalidOperation):
            if data_type in ("integer", "decimal"):
                return _decimal_text(Decimal(text))
            if data_type == "date" and _DATE_TEXT.match(text):  # a date, or its midnight as a datetime
                return dt.date.fromisoformat(text[:10]).isoformat()
            if data_type == "datetime":
                return _canonical(dt.datetime.fromisoformat(text))
            if data_type == "boolean" and text in ("1", "0"):
                return text == "1"
        return text
    if isinstance(value, bool):
        return value
    if isinstance(value, Decimal):
        return _decimal_text(value)
    if isinstance(value, float):
        return _decimal_text(Decimal(repr(value)))
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def shown(value: Any, item: Any = None, lang: str = "zh") -> str:
    """R14: a record's value as every page about it shows it (my data, the objection form, the case page,
    the handling page and the record's history) — its canonical form, the one the store's checks take back:
    a decimal without the column's padding zeros (1197.0000000000 is 1197), a date as YYYY-MM-DD, a date and
    time as YYYY-MM-DD HH:MM:SS, yes or no in the page's language (是/否); nothing for an empty value.
    `item` (its data type) tells how to read a value kept as text: a case's payload, the history's JSON."""
    text = _canonical(value, _data_type(item) if item is not None else "")
    if text is None:
        return ""
    if isinstance(text, bool):
        return ("是" if text else "否") if lang.startswith("zh") else ("yes" if text else "no")
    return text


@dataclass(frozen=True)
class Subject:
    """Who the logged-in public account is, as the data knows them (R10)."""

    entry_kind: str  # person | legal_person
    data_type: str  # id_number | uscc
    key: str


def subject_of(session: Session, actor: Actor) -> Subject:
    """R14: the person's ID number or the company's USCC; only public accounts have one."""
    require(session, actor, Action.OBJECTION_FILE)
    org = session.get(Organisation, actor.org_id) if actor.org_id is not None else None
    kinds = SUBJECTS.get(str(org.kind)) if org is not None else None
    value = (org.id_number if kinds and kinds[1] == "id_number" else org.uscc) if org and kinds else None
    if kinds is None or not value:
        raise Forbidden(
            "objection.no_subject",
            "只有以身份证号码或统一社会信用代码登记的账号可以查看本人数据",
            "Only accounts registered with an ID number or a USCC can see their own data",
        )
    return Subject(kinds[0], kinds[1], value)


def _self_viewable(entry: EntryView, subject: Subject) -> bool:
    """R14: published entries about this kind of subject, keyed by its identifier, not emergency-only."""
    key = next((i for i in entry.items if i.is_key), None)
    emergency = any(isinstance(c, dict) and c.get("kind") == "emergency" for c in entry.sharing_conditions)
    return (
        entry.status == "published"
        and entry.subject_kind == subject.entry_kind
        and key is not None
        and key.data_type == subject.data_type
        and not emergency
    )


def _entries(session: Session, subject: Subject) -> list[EntryView]:
    return [
        e
        for e in published_entries(session, subject_kind=subject.entry_kind)
        if _self_viewable(e, subject) and store.has_data(session, e.resource_code)
    ]


def _own_rows(session: Session, actor: Actor, entry: EntryView, subject: Subject) -> list[dict[str, Any]]:
    """The subject's own record(s) of one resource; the read is audited with the subject key (R26)."""
    rows = store.rows(session, entry.resource_code, key=subject.key, limit=10)
    if rows:
        record(
            session,
            actor,
            "data.read",
            object_type="resource",
            object_id=entry.resource_code,
            scenario="R14 本人数据查询",
            subject_keys=[subject.key],
            detail={"via": "my_data", "rows": len(rows), "basis": "data_subject"},
        )
    return rows


def my_data(session: Session, actor: Actor) -> list[dict[str, Any]]:
    """R14: for every resource keyed by the account's identifier, the records about the account."""
    subject = subject_of(session, actor)
    out = []
    for entry in _entries(session, subject):
        rows = _own_rows(session, actor, entry, subject)
        if rows:
            out.append({"entry": entry, "columns": list(entry.items), "rows": rows})
    return out


def my_record(session: Session, actor: Actor, code: str) -> tuple[EntryView, dict[str, Any]]:
    """R14: the account's record in resource `code` (audited), or a precise 404."""
    subject = subject_of(session, actor)
    entry = find_entry(session, code)
    if entry is None or not _self_viewable(entry, subject) or not store.has_data(session, code):
        raise NotFound(
            "objection.resource_unknown",
            f"资源 {code} 中没有您的数据",
            f"Resource {code} holds no data about you",
        )
    rows = _own_rows(session, actor, entry, subject)
    if not rows:
        raise NotFound(
            "objection.record_unknown",
            f"资源 {code} 中没有您的记录",
            f"Resource {code} holds no record about you",
        )
    return entry, rows[0]


def file_objection(
    session: Session,
    actor: Actor,
    code: str,
    *,
    field: str,
    claimed_value: str,
    reason: str = "",
    evidence: tuple[str, bytes] | None = None,
) -> Case:
    """R14: object to one field of the account's record: the value claimed correct, optional evidence (a
    case attachment). Opens an `objection` case for the provider, on the policy's clock."""
    entry, row = my_record(session, actor, code)
    key = key_item(entry)
    names = [i.name for i in entry.items]
    if field not in names or field == key:
        raise ValidationFailed(
            "objection.field_invalid",
            "请选择记录中有异议的信息项（标识项除外）",
            "Choose the item of the record you object to (not its key)",
            field="field",
        )
    value = (claimed_value or "").strip()
    if not value or len(value) > VALUE_MAX:
        raise ValidationFailed(
            "objection.value_required",
            f"请填写您认为正确的值（不超过{VALUE_MAX}字）",
            f"Give the value you claim is correct (at most {VALUE_MAX} characters)",
            field="claimed_value",
        )
    explanation = _bounded(reason, "reason", "说明", "The explanation")
    item = next(i for i in entry.items if i.name == field)
    current = _text(row.get(field))
    if _canonical(row.get(field), item.data_type) == _canonical(value, item.data_type):
        raise ValidationFailed(
            "objection.value_unchanged",
            f"您填写的值与现有记录相同（{item_label(item, 'zh')}现为“{shown(row.get(field), item, 'zh')}”）",
            f"The value you give is the one already recorded ({item_label(item, 'en')} is now "
            f"“{shown(row.get(field), item, 'en')}”)",
            field="claimed_value",
        )
    record_key = str(row[key]) if key else ""
    subject_id = f"{code}:{record_key}" if key else code
    _refuse_bad_value(session, code, field, value)
    _refuse_second_objection(session, subject_id, field, item)
    if evidence is not None and evidence[1]:
        check_evidence(*evidence)
    case = engine.submit(
        session,
        actor,
        KIND,
        title=f"{entry.name}：{item_label(item, 'zh')} 数据异议",
        title_en=f"{entry.name_en or entry.name}: objection to {item_label(item, 'en')}",
        subject_type="record",
        subject_id=subject_id,
        parties={"provider": entry.provider_org_id},
        payload={
            "resource_code": code,
            "record_key": record_key,
            "field": field,
            "current_value": current,
            "claimed_value": value,
            "reason": explanation,
        },
    )
    if evidence is not None and evidence[1]:
        attach(session, actor, case.id, evidence[0], evidence[1], _evidence_type(evidence[0]))
    return case


def _bounded(text: str | None, field: str, what_zh: str, what_en: str) -> str:
    """R14: a person's text (the objector's explanation, the provider's reasons or note), stripped, at most
    REASON_MAX characters — refused precisely, naming its length, when longer (nothing is cut off)."""
    value = (text or "").strip()
    if len(value) > REASON_MAX:
        raise ValidationFailed(
            f"objection.{field}_too_long",
            f"{what_zh}不能超过{REASON_MAX}字（现为{len(value)}字），请精简后重新提交；证明材料可作为附件上传",
            f"{what_en} may be at most {REASON_MAX} characters (it has {len(value)}); shorten it and submit "
            "again — evidence goes as an attached file",
            field=field,
            details={"max": REASON_MAX, "length": len(value)},
        )
    return value


def _extension(filename: str) -> str:
    name = (filename or "").strip().lower()
    return name.rsplit(".", 1)[-1] if "." in name else ""


def _evidence_type(filename: str) -> str:
    ext = _extension(filename)
    return {"pdf": "application/pdf", "ofd": "application/ofd", "png": "image/png"}.get(ext, "image/jpeg")


def check_evidence(filename: str, content: bytes) -> None:
    """R14: evidence is a PDF or OFD document or a JPEG or PNG image, at most EVIDENCE_MAX_BYTES — by its
    name and by its content (an executable renamed to .pdf is refused too)."""
    limit_mb = EVIDENCE_MAX_BYTES // (1024 * 1024)
    if len(content) > EVIDENCE_MAX_BYTES:
        raise ValidationFailed(
            "objection.evidence_too_large",
            f"证明材料“{filename}”超过 {limit_mb} MB，请压缩后重新上传",
            f"The evidence “{filename}” is larger than {limit_mb} MB; reduce it and upload it again",
            field="evidence",
        )
    ext = _extension(filename)
    magics = EVIDENCE_TYPES.get(ext)
    allowed_zh = "PDF、OFD 文档或 JPG、PNG 图片"
    allowed_en = "a PDF or OFD document or a JPG or PNG image"
    if magics is None:
        raise ValidationFailed(
            "objection.evidence_type",
            f"证明材料“{filename}”的文件类型不被接受，只接受{allowed_zh}（不超过 {limit_mb} MB）",
            f"The evidence “{filename}” is not an accepted type; give {allowed_en} (at most {limit_mb} MB)",
            field="evidence",
        )
    ok = content.startswith(magics)
    if ok and ext == "ofd":
        try:
            with zipfile.ZipFile(io.BytesIO(content)) as package:
                ok = any(n.lstrip("/").lower() == "ofd.xml" for n in package.namelist())
        except zipfile.BadZipFile:
            ok = False
    if not ok:
        raise ValidationFailed(
            "objection.evidence_content",
            f"证明材料“{filename}”的内容不是有效的 {ext.upper()} 文件，只接受{allowed_zh}",
            f"The content of the evidence “{filename}” is not a valid {ext.upper()} file; give {allowed_en}",
            field="evidence",
        )


def value_problem(session: Session, code: str, field: str, value: str) -> tuple[str, str, str] | None:
    """R13 R14: the rule a value breaks for an item of the resource — the store's own checks (its data
    type, length, declared rules) — as (rule, Chinese message, English message); None when it passes."""
    res = store.get_resource(session, code)
    item = next((i for i in res.items if i["name"] == field), None)
    if item is None:
        return None
    rules = [r for r in specs_of(session, code) if r.kind != "complete" and r.item == field]
    result = check_column(item, pa.array([value], pa.string()), rules, required=field == res.key_item)
    rule = result.errors[0]
    if rule is None:
        return None
    params = next((r.params for r in rules if r.kind == rule), None)
    zh, en = message(str(rule), item, params)
    return str(rule), zh, en


def _refuse_bad_value(session: Session, code: str, field: str, value: str) -> None:
    problem = value_problem(session, code, field, value)
    if problem is not None:
        rule, zh, en = problem
        raise ValidationFailed(
            "objection.value_invalid",
            f"您填写的值未通过数据质量校验：{zh}",  # R28: the check in words (its code in `details`)
            f"The value you give fails the quality check: {en}",
            field="claimed_value",
            details={"rule": rule},
        )


def open_objection(session: Session, subject_id: str, field: str) -> Case | None:
    """R14: the objection still open on this record's item, if any."""
    query = select(Case).where(
        Case.kind == KIND, Case.subject_type == "record", Case.subject_id == subject_id, Case.status.in_(OPEN)
    )
    return next((c for c in session.scalars(query) if c.payload.get("field") == field), None)


def _refuse_second_objection(session: Session, subject_id: str, field: str, item: Any) -> None:
    other = open_objection(session, subject_id, field)
    if other is not None:
        raise Conflict(
            "objection.already_open",
            f"您对该记录“{item_label(item, 'zh')}”的异议 {other.number} 尚未办结，请等待处理结果",
            f"Your objection {other.number} to “{item_label(item, 'en')}” of this record is still open; "
            "wait for its outcome",
            field="field",
            details={"case_id": other.id, "number": other.number},
        )


def _text(value: Any) -> str | None:
    """A stored value as the text a source row carries (what the pipeline casts again), a decimal without
    the column's padding zeros (the case's payload keeps it so too)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return _decimal_text(value)
    return str(value)


def _objection_case(session: Session, actor: Actor, case_id: int) -> Case:
    case = get_case(session, actor, case_id)
    if case.kind != KIND:
        raise NotFound(
            "objection.unknown", f"案件 {case_id} 不是数据异议", f"Case {case_id} is not an objection"
        )
    return case


@contextlib.contextmanager
def _deciding() -> Iterator[None]:
    token = _handling.set(True)
    try:
        yield
    finally:
        _handling.reset(token)


def handling_url(case: Case) -> str:
    return HANDLING_PAGE.format(id=case.id)


@on_step_done(KIND)
def _decided_here(session: Session, case: Case, step: Step) -> None:
    """R14: the provider approves an objection only by correcting the record, and refuses it only with its
    reasons, both on the handling page (`correct_record`, `reject_objection`). A decision through any
    other path — the generic case page, the case API — is refused and rolls back. On the dispute chain
    (R15 R17) the coordinator or the municipal government decides on the case page: a refusal or an
    escalation stands, and so does an approval, which is a ruling that upholds the objection and binds the
    provider to correct the record (`_ruled`, `execute_ruling`); it must give its written reasons."""
    if _handling.get() or step.decision not in ("approve", "reject"):
        return
    if is_escalation_step(policy_of(session, case), step):
        if step.decision == "approve" and not (step.reasons or "").strip():
            raise ValidationFailed(
                "objection.ruling_reasons_required",
                f"裁定数据异议 {case.number} 成立（更正记录）必须填写书面理由，数据提供单位据此执行更正",
                f"Upholding objection {case.number} (the record to be corrected) requires written reasons, "
                "which the provider's correction follows",
                field="reasons",
            )
        return
    url = handling_url(case)
    raise Conflict(
        "objection.decide_on_handling_page",
        f"数据异议 {case.number} 须在异议处理页面 {url} 办理：更正记录后办结，或填写书面理由不予更正",
        f"Objection {case.number} is handled on its page {url}: correct the record, or refuse it with "
        "written reasons",
        field="decision",
        details={"url": url},
    )


@dataclass(frozen=True)
class Ruling:
    """R14 R15 R17: the ruling on a disputed objection that upheld it: who ruled (the chain's step, named
    from the policy), when, why, the value the record is to hold, whether the provider executed it, and
    by when it must (`clock`: the due day and, while pending, on time, due soon or overdue)."""

    step_zh: str
    step_en: str
    value: str
    reasons: str
    ruled_at: str
    pending: bool
    clock: RulingClock | None = None

    def body(self, lang: str) -> str:
        return self.step_zh if lang.startswith("zh") else self.step_en


def ruling_of(session: Session, case: Case) -> Ruling | None:
    """The ruling that upheld the objection on the dispute chain, if any."""
    p = case.payload
    if p.get("ruling") != "upheld":
        return None
    pol = policy_of(session, case)
    step = next(
        (s for s in reversed(case.steps) if s.name == p.get("ruling_step") and s.state == "done"), None
    )
    zh, en = step_label(pol, case, step) if step is not None else (str(p.get("ruling_step")), "")
    return Ruling(
        step_zh=zh,
        step_en=en or zh,
        value=str(p.get("ruled_value") or ""),
        reasons=(step.reasons or "") if step is not None else "",
        ruled_at=str(p.get("ruled_at") or ""),
        pending=ruling_pending(case),
        clock=clock_of(session, case),
    )


def stage(session: Session, case: Case) -> str:
    """Where an objection stands: `handling` (the provider's step), `disputed` (on the dispute chain),
    `ruling_pending` (upheld by a ruling, the provider's correction awaited), `corrected`, `rejected`, or
    the case's status (returned, withdrawn)."""
    if case.status == "in_review":
        step = active_step(case)
        return (
            "disputed"
            if step is not None and is_escalation_step(policy_of(session, case), step)
            else "handling"
        )
    if case.status == "approved":
        return "ruling_pending" if ruling_pending(case) else "corrected"
    return case.status


@on_closed(KIND)
def _ruled(session: Session, case: Case) -> None:
    """R14 R15 R17: an objection approved on the dispute chain was upheld by the authority's coordination or
    the municipal government's decision. The ruling binds the provider: the case records it (the value the
    record is to hold: the claimed value), its clock starts (due within the objection's reply period from
    the ruling's day, `rulings.start_clock`) and the provider's data officers are told to execute it on the
    handling page by that day. The case itself stays closed; only the record changes, there
    (`execute_ruling`)."""
    if case.status != "approved" or case.payload.get("ruling"):
        return
    done = [s for s in case.steps if s.state == "done"]
    pol = policy_of(session, case)
    if not done or not is_escalation_step(pol, done[-1]):
        return
    step, p = done[-1], case.payload
    ruled_at = step.decided_at or now()
    case.payload = {
        **p,
        "ruling": "upheld",
        "ruled_value": p["claimed_value"],
        "ruling_step": step.name,
        "ruled_at": ruled_at.isoformat(),
    }
    session.flush()
    clock = start_clock(session, case, ruled_at)
    zh, en = step_label(pol, case, step)
    item = _field_item(session, p)
    provider = int(case.parties["provider"])
    tentative = ("，暂按周一至周五计算", ", provisional") if clock.provisional else ("", "")
    notify(
        session,
        users_with_role(session, provider, "data_officer"),
        case,
        "ruling_upheld",
        f"数据异议 {case.number}《{case.title}》经{zh}裁定更正：{item_label(item, 'zh')} 应为“{p['claimed_value']}”，"
        f"请于 {clock.due_on.isoformat()} 前（{clock.working_days} 个工作日{tentative[0]}）在异议处理页面执行更正",
        f"Objection {case.number} “{case.title_in('en')}” was upheld by {en}: {item_label(item, 'en')} is to be "
        f"“{p['claimed_value']}”; correct the record on the objection's handling page by "
        f"{clock.due_on.isoformat()} ({clock.working_days} working days{tentative[1]})",
        link=handling_url(case),
    )


def _field_item(session: Session, p: dict[str, Any]) -> dict[str, Any]:
    res = store.find_resource(session, p["resource_code"])
    items = list(res.items) if res is not None else []
    return next((i for i in items if i["name"] == p["field"]), {"name": p["field"]})


def handling_view(session: Session, actor: Actor, case_id: int) -> dict[str, Any]:
    """R14: what the provider sees of an objection: the case, the record now, and the record's history (in
    the words of the record look-up, `aggregation.records`, which renders it for both pages)."""
    from gongshu.aggregation.records import history_lines  # it reads this module's labels and rulings

    case = _objection_case(session, actor, case_id)
    p = case.payload
    require(session, actor, Action.DATA_MANAGE, org_id=int(case.parties["provider"]))
    rows = store.rows(session, p["resource_code"], key=p["record_key"], limit=1)
    record(
        session,
        actor,
        "data.read",
        object_type="resource",
        object_id=p["resource_code"],
        scenario=f"R14 异议处理 {case.number}",
        subject_keys=[p["record_key"]],
        detail={"via": "objection", "case": case.number},
    )
    res = store.get_resource(session, p["resource_code"])
    history = history_lines(session, p["resource_code"], p["record_key"], list(res.items))
    return {
        "case": case,
        "record": rows[0] if rows else None,
        "item": _field_item(session, p),
        "item_label": item_label,
        "shown": shown,
        "entry": find_entry(session, p["resource_code"]),
        "history": history,
        "stage": stage(session, case),
        "ruling": ruling_of(session, case),
        # R14: the objector's evidence, as the case page offers it (the attachments the objector added)
        "attachments": list_attachments(session, actor, case),
        "correction": correction_of(case, history),
    }


@dataclass(frozen=True)
class Correction:
    """R14: the correction an objection made to the record's item: the value before and the value after."""

    before: Any
    after: Any


def correction_of(case: Case, history: list[Any]) -> Correction | None:
    """R14: once the objection corrected the record (by the provider, or as ruled), the item's value before
    and after — from the record's history line that names the case as its correction reference, else (a
    history without it) the value recorded when the objection was filed and the value corrected to."""
    p = case.payload
    if "corrected_value" not in p:
        return None
    for line in history:
        if line.correction_ref == case.number:
            for change in line.changes:
                if (change.item or {}).get("name") == p.get("field"):
                    return Correction(change.before, change.after)
    return Correction(p.get("current_value"), p["corrected_value"])


def case_panel(session: Session, actor: Actor, case: Case) -> dict[str, Any]:
    """R14: what the generic case page shows of an objection, to the objector and the provider alike: the
    record (resource name and key), the item, the value recorded and the value claimed, the explanation,
    the evidence and the outcome — with a ruling on dispute, whether the provider has executed it yet, which
    the authority supervises here; the link to the handling page for the provider's data officer."""
    p = case.payload
    item = _field_item(session, p)
    entry = find_entry(session, p["resource_code"])
    handler = actor.has_role("data_officer", int(case.parties["provider"]))
    step = active_step(case)
    # On the dispute chain (R15 R17) the coordinator and the government decide on the case page itself.
    on_chain = step is not None and is_escalation_step(policy_of(session, case), step)
    return {
        "p": p,
        "item": item,
        "item_label": item_label,
        "shown": shown,
        "entry": entry,
        "handling_url": handling_url(case) if handler else "",
        "decided_elsewhere": not on_chain,
        "stage": stage(session, case),
        "ruling": ruling_of(session, case),
    }


def my_objections(session: Session, actor: Actor) -> list[dict[str, Any]]:
    """R14: the objections the account filed, newest first, with the item they were about and where each
    stands (`stage`: a ruling that upheld it may still await the provider's correction, due by the day of
    its `clock`)."""
    if actor.org_id is None:
        return []
    cases = session.scalars(
        select(Case)
        .where(Case.kind == KIND, Case.applicant_org_id == actor.org_id)
        .order_by(Case.submitted_at.desc(), Case.id.desc())
    ).all()
    out = []
    for case in cases:
        p = case.payload
        out.append(
            {
                "case": case,
                "p": p,
                "item": _field_item(session, p),
                "entry": find_entry(session, p["resource_code"]),
                "stage": stage(session, case),
                "clock": clock_of(session, case) if ruling_pending(case) else None,
            }
        )
    return out


def _refused_rule(session: Session, batch_id: Any, field: str) -> tuple[str, str, str] | None:
    """The rule the store's check named when it refused a correction (its quarantine row)."""
    if batch_id is None:
        return None
    rows = session.scalars(
        select(QuarantineRow).where(QuarantineRow.batch_id == int(batch_id)).order_by(QuarantineRow.id)
    ).all()
    row = next((r for r in rows if r.column == field), rows[0] if rows else None)
    return (row.rule, row.message_zh, row.message_en) if row is not None else None


def _correction_refused(rule: tuple[str, str, str] | None, batch_id: Any = None) -> ValidationFailed:
    if rule is None:
        return ValidationFailed(
            "objection.correction_refused",
            "更正值未通过数据质量校验，记录未更改",
            "The corrected value failed the quality checks; the record is unchanged",
            field="value",
            details={"batch_id": batch_id},
        )
    code, zh, en = rule
    return ValidationFailed(
        "objection.correction_refused",
        f"更正值未通过数据质量校验（规则 {code}）：{zh}；记录未更改",
        f"The corrected value fails the quality check (rule {code}): {en}; the record is unchanged",
        field="value",
        details={"batch_id": batch_id, "rule": code},
    )


def _require_handler(actor: Actor, case: Case, zh: str, en: str) -> None:
    if not actor.has_role("data_officer", int(case.parties["provider"])):
        raise Forbidden(
            "objection.not_handler",
            f"只有数据提供单位的数据管理员可以{zh}",
            f"Only the provider's data officer may {en}",
        )


def _store_correction(
    actor: Actor, p: dict[str, Any], number: str, new: str
) -> tuple[dict[str, Any], str | None]:
    """R13 R14: correct the record's item to `new` through the store: an incremental one-row batch, checked
    like any other (a refused value names the rule and changes nothing), its history holding before/after,
    who, and the objection's case number as the correction reference; the batch is audited by the store.
    Returns the batch report and the value before."""
    with read_scope() as s:
        res = store.get_resource(s, p["resource_code"])
        rows = store.rows(s, p["resource_code"], key=p["record_key"], limit=1)
        if not rows:
            raise NotFound(
                "objection.record_unknown", "被异议的记录已不存在", "The record objected to no longer exists"
            )
        columns = [i["name"] for i in res.items]
        problem = value_problem(s, p["resource_code"], p["field"], new)
        if problem is not None:
            raise _correction_refused(problem)
    row = {c: _text(rows[0].get(c)) for c in columns}
    before = row[p["field"]]
    row[p["field"]] = new
    batch = pa.RecordBatch.from_arrays([pa.array([row[c]], pa.string()) for c in columns], names=columns)
    src = Source(columns, "utf-8", "jsonl", iter([(batch, np.array([1], dtype=np.int64))]))
    report = ingest_source(
        actor,
        p["resource_code"],
        src,
        mode="incremental",
        source="upload",
        filename=f"objection-{number}",
        correction_ref=number,
    )
    if report.get("refused"):
        with read_scope() as s:
            raise _correction_refused(_refused_rule(s, report.get("id"), p["field"]), report.get("id"))
    return report, before


def correct_record(actor: Actor, case_id: int, *, value: str | None = None, note: str = "") -> Case:
    """R14: the provider's data officer corrects the record through the store (incremental one-row batch:
    history before/after, who, correction reference = case number), then approves the case. Not while the
    objection is disputed (R15 R17): the chain rules, and a ruling that upholds it is executed with
    `execute_ruling`. The corrected value is at most VALUE_MAX characters, the note REASON_MAX."""
    with read_scope() as s:
        case = _objection_case(s, actor, case_id)
        if case.status != "in_review":
            raise Conflict(
                "objection.closed", f"异议 {case.number} 已办结", f"Objection {case.number} is closed"
            )
        _require_handler(actor, case, "更正", "correct the record")
        text = _bounded(note, "reasons", "说明", "The note")
        _bounded_value(value)
        if stage(s, case) == "disputed":
            raise Conflict(
                "objection.disputed",
                f"异议 {case.number} 正在争议处理中，由主管部门协调或市人民政府决定；裁定更正后由数据提供单位在异议处理页面执行",
                f"Objection {case.number} is disputed: the authority coordinates or the municipal government "
                "decides; if the ruling upholds it, the provider executes the correction on the handling page",
            )
        p, number = dict(case.payload), case.number
        item = _field_item(s, p)
    new = (value if value is not None else p["claimed_value"]).strip()
    _store_correction(actor, p, number, new)
    with session_scope() as s, _deciding():
        reasons = f"已更正：{item_label(item, 'zh')} = {new}" + (f"；{text}" if text else "")
        case = _objection_case(s, actor, case_id)
        case.payload = {**case.payload, "corrected_value": new, "correction_note": text}
        s.flush()
        return engine.decide(s, actor, case_id, "approve", reasons)


def _bounded_value(value: str | None) -> None:
    """R14: a corrected value the provider types is at most VALUE_MAX characters, like a claimed one."""
    if value is not None and len(value.strip()) > VALUE_MAX:
        raise ValidationFailed(
            "objection.value_too_long",
            f"更正后的值不能超过{VALUE_MAX}字（现为{len(value.strip())}字）；记录未更改",
            f"The corrected value may be at most {VALUE_MAX} characters (it has {len(value.strip())}); "
            "the record is unchanged",
            field="value",
            details={"max": VALUE_MAX, "length": len(value.strip())},
        )


def _executed(number: str) -> Conflict:
    return Conflict(
        "objection.ruling_executed",
        f"异议 {number} 的裁定更正已经执行",
        f"The ruling on objection {number} has already been executed",
    )


def execute_ruling(actor: Actor, case_id: int, *, value: str | None = None, note: str = "") -> Case:
    """R14 R15 R17: the provider's data officer executes a ruling that upheld the objection: the record is
    corrected through the store to the ruled value — no other — with the same history as any correction
    (before/after, who, the case number), and audited. The case, closed by the ruling, is not decided
    again; its payload records the correction and the ruling's clock stops (`rulings.mark_executed`).
    Executed once; nobody but the provider's data officer may. The note is at most REASON_MAX characters."""
    with read_scope() as s:
        case = _objection_case(s, actor, case_id)
        _require_handler(actor, case, "执行裁定更正", "execute the ruling's correction")
        text = _bounded(note, "reasons", "说明", "The note")
        p, number = dict(case.payload), case.number
        if p.get("ruling") != "upheld" or case.status != "approved":
            raise Conflict(
                "objection.no_ruling",
                f"异议 {number} 没有裁定更正",
                f"Objection {number} has no ruling that upholds it",
            )
        if not ruling_pending(case):
            raise _executed(number)
        ruled = str(p["ruled_value"])
        if value is not None and value.strip() and value.strip() != ruled:
            raise ValidationFailed(
                "objection.ruled_value_only",
                f"只能按裁定更正为“{ruled}”",
                f"The record can only be corrected to the ruled value “{ruled}”",
                field="value",
            )
        ruling = ruling_of(s, case)
        item = _field_item(s, p)
    report, before = _store_correction(actor, p, number, ruled)
    with session_scope() as s:
        case = get_case(s, actor, case_id, for_update=True)
        if not ruling_pending(case):  # executed meanwhile by another officer: the record holds it already
            raise _executed(number)
        at = now()
        case.payload = {
            **case.payload,
            "corrected_value": ruled,
            "correction_note": text,
            "corrected_at": at.isoformat(),
        }
        s.flush()
        mark_executed(s, case, at)
        record(
            s,
            actor,
            "objection.ruling_executed",
            object_type="case",
            object_id=case.id,
            detail={
                "number": number,
                "resource_code": p["resource_code"],
                "field": p["field"],
                "before": before,
                "after": ruled,
                "batch_id": report.get("id"),
                "ruling_step": p.get("ruling_step"),
                "note": text,
            },
        )
        body_zh = ruling.body("zh") if ruling else ""
        body_en = ruling.body("en") if ruling else ""
        notify_followers(
            s,
            case,
            "ruling_executed",
            f"数据异议 {number}《{case.title}》已按{body_zh}裁定更正：{item_label(item, 'zh')} = {ruled}",
            f"Objection {number} “{case.title_in('en')}” was corrected as ruled by {body_en}: "
            f"{item_label(item, 'en')} = {ruled}",
            exclude=actor.user_id,
        )
        return case


def reject_objection(session: Session, actor: Actor, case_id: int, reasons: str) -> Case:
    """R14: the provider refuses the objection with written reasons (the engine requires and seals them),
    at most REASON_MAX characters."""
    case = _objection_case(session, actor, case_id)
    # the length once the actor may decide at all (anyone else is refused by the engine, as before)
    text = reasons
    if actor.has_role("data_officer", int(case.parties["provider"])):
        text = _bounded(reasons, "reasons", "书面理由", "The written reasons")
    with _deciding():
        try:
            return engine.decide(session, actor, case_id, "reject", text)
        except ValidationFailed as exc:
            if exc.code != "workflow.reasons_required":
                raise
            # R28: worded as the handling page's button says it
            raise ValidationFailed(
                exc.code,
                "“不予更正”必须填写书面理由",
                "“Refuse the objection” requires written reasons",
                field="reasons",
            ) from exc


# R26: the audited actions that hand a subject's records to someone — what the data tracker lists. Other
# entries naming the subject (its account created or registered, a document attached to its record) are
# not reads of its data and are left out.
READ_ACTIONS = ("data.read", "quality.problems_read", "store.quarantine_read", "store.record_read")
# R26: a read with no organisation is one of the platform's own jobs, named so (not "system").
PLATFORM_JOB = ("平台（系统作业）", "The platform (system job)")
# R26: how a read was made, in words: `detail.via` of the platform's own pages, `detail.method` of the
# sharing deliveries (R19), or the action.
READ_WAYS: dict[str, tuple[str, str]] = {
    "objection": ("异议处理", "Handling an objection"),
    "base_lookup": ("基础库查询", "Base data look-up"),
    "record_documents": ("查看记录的文书证照", "Documents of the record viewed"),
    "record_lookup": ("查看记录及其变更历史", "Record and its history viewed"),
    "interface": ("服务接口调用", "Service interface call"),
    "api": ("共享接口调用", "Sharing API call"),
    "file": ("文件交付", "File delivery"),
    "db_table": ("数据库交付", "Database delivery"),
    "stream": ("数据流交付", "Data stream delivery"),
    "quality.problems_read": ("数据质量问题核查", "Data quality review"),
    "store.quarantine_read": ("隔离记录核查", "Review of quarantined records"),
    "data.read": ("数据读取", "Data read"),
}
# R15 R16 R22 R26: on which basis the access decision allowed a read.
READ_BASES: dict[str, tuple[str, str]] = {
    "grant": ("依共享授权", "under a sharing grant"),
    "unconditional": ("无条件共享", "unconditional sharing"),
    "provider": ("数据提供单位本单位数据", "the provider's own data"),
    "emergency": ("突发事件应对", "emergency response"),
    "open_general": ("数据开放", "open data"),
    "open_grant": ("依申请开放", "open data on application"),
}
# The platform's own processes give their reads a scenario of their own ("R14 异议处理 YY-…", "R11 R12 …
# 基础库查询"): the way in words says the same, in the page's language, so that scenario is not shown.
OWN_WAYS = frozenset({"objection", "base_lookup", "record_documents", "record_lookup"})
_CASE_NUMBER = re.compile(r"[A-Z]{2,}-\d{4}-\d+$")


@dataclass(frozen=True)
class ReadResource:
    """R26: a resource a read returned records of: its catalog name, and whether the person may open its
    catalog page (the metadata of data not open to the public is for government users, R15 R22)."""

    code: str
    name_zh: str
    name_en: str
    linked: bool

    def name(self, lang: str) -> str:
        return (self.name_zh if lang.startswith("zh") else (self.name_en or self.name_zh)) or self.code


@dataclass(frozen=True)
class Read:
    """R26: one read of the person's or company's data as the data tracker shows it: when, which
    organisation (or the platform's own job), which resources, the scenario of the application it was made
    for, and how (the way and basis in words; the objection case for a read while handling one)."""

    at: dt.datetime
    org_zh: str
    org_en: str
    resources: tuple[ReadResource, ...]
    scenario: str
    way_zh: str
    way_en: str
    case_number: str = ""
    case_id: int | None = None

    def org(self, lang: str) -> str:
        return self.org_zh if lang.startswith("zh") else self.org_en

    def way(self, lang: str) -> str:
        return self.way_zh if lang.startswith("zh") else self.way_en


def _way(entry: Any) -> tuple[str, str]:
    detail = entry.detail or {}
    key = str(detail.get("via") or detail.get("method") or entry.action)
    zh, en = READ_WAYS.get(key, READ_WAYS.get(entry.action, READ_WAYS["data.read"]))
    basis = READ_BASES.get(str(detail.get("basis") or ""))
    if basis is not None and key not in OWN_WAYS:
        zh, en = f"{zh}（{basis[0]}）", f"{en} ({basis[1]})"
    return zh, en


def _read_codes(entry: Any) -> list[str]:
    detail = entry.detail or {}
    if entry.object_type == "base_data":
        return [str(c) for c in detail.get("resources") or []]
    if entry.object_type == "batch":
        return [str(detail["resource"])] if detail.get("resource") else []
    return [str(entry.object_id)] if entry.object_id else []


def my_reads(session: Session, actor: Actor, limit: int = 200) -> list[Read]:
    """R26 data tracker: which organisation read the account's data, when and for which scenario, newest
    first. Listed: the reads (READ_ACTIONS, allowed) whose records were the account's, by an organisation —
    named, in the page's language — or by the platform's own jobs (PLATFORM_JOB); each with the catalog name
    of the resources read (never an internal id) and the scenario of the application, or — when the read
    had none of its own — the way and basis of the read in words (共享接口调用, 基础库查询, 异议处理 …).
    Not listed: the account's own looks at its data (they are audited like every read, but they are not what
    the tracker is for, and they would crowd out the organisations' reads), refused reads (they returned
    nothing), and the entries naming the account that are not reads (its organisation created, its
    registration): the platform keeping its own records is no organisation reading the person's data."""
    subject = subject_of(session, actor)
    entries: list[Any] = []
    offset = 0
    while len(entries) < limit and offset < limit * 10:
        page, _ = audit_query.search(session, subject=subject.key, limit=limit, offset=offset)
        entries += [
            e
            for e in page
            if e.action in READ_ACTIONS
            and e.outcome == "ok"
            and (e.detail or {}).get("found") is not False  # a record look-up that found nothing read nothing
            and not (actor.org_id is not None and e.actor_org_id == actor.org_id)
            and not (actor.user_id is not None and e.actor_user_id == actor.user_id)
        ]
        offset += len(page)
        if len(page) < limit:
            break
    entries = entries[:limit]
    org_ids = {e.actor_org_id for e in entries if e.actor_org_id is not None}
    orgs = (
        {o.id: o for o in session.scalars(select(Organisation).where(Organisation.id.in_(org_ids)))}
        if org_ids
        else {}
    )
    resources: dict[str, ReadResource] = {}
    for code in {c for e in entries for c in _read_codes(e)}:
        entry = find_entry(session, code)
        resources[code] = ReadResource(
            code,
            entry.name if entry else "",
            entry.name_en if entry else "",
            entry is not None and can_view(session, actor, entry),
        )
    numbers = {_case_number(e) for e in entries} - {""}
    own_cases: dict[str, int] = {}
    if numbers and actor.org_id is not None:
        mine = select(Case.number, Case.id).where(
            Case.number.in_(numbers), Case.applicant_org_id == actor.org_id
        )
        own_cases = {number: case_id for number, case_id in session.execute(mine)}
    out = []
    for e in entries:
        org = orgs.get(e.actor_org_id) if e.actor_org_id is not None else None
        detail = e.detail or {}
        way_zh, way_en = _way(e)
        number = _case_number(e)
        out.append(
            Read(
                at=e.at,
                org_zh=org.name("zh")
                if org
                else (PLATFORM_JOB[0] if e.actor_org_id is None else e.actor_label),
                org_en=org.name("en")
                if org
                else (PLATFORM_JOB[1] if e.actor_org_id is None else e.actor_label),
                resources=tuple(resources[c] for c in _read_codes(e)),
                scenario="" if detail.get("via") in OWN_WAYS else (e.scenario or ""),
                way_zh=way_zh,
                way_en=way_en,
                case_number=number,
                case_id=own_cases.get(number),
            )
        )
    return out


def _case_number(entry: Any) -> str:
    """The objection case a read while handling one was for: in its detail, or (entries written before the
    detail held it) at the end of its scenario ("R14 异议处理 YY-2026-000132"); empty for any other read."""
    detail = entry.detail or {}
    if detail.get("via") != "objection":
        return ""
    found = _CASE_NUMBER.search((entry.scenario or "").strip())
    return str(detail.get("case") or "") or (found.group(0) if found else "")


def filed_notice(session: Session, actor: Actor, case_id: int) -> dict[str, Any] | None:
    """R14: what the objector is told once an objection is filed — the case's number and the provider's
    reply deadline from the policy (the open step's due day and its working days, `objection_reply`,
    provisional until the year's holiday notice is loaded). None for a case that is not the account's own
    objection (a link with another case's id shows nothing)."""
    try:
        case = get_case(session, actor, case_id)
    except NotFound:
        return None
    if case.kind != KIND or actor.org_id is None or case.applicant_org_id != actor.org_id:
        return None
    step = active_step(case)
    return {
        "case": case,
        "due_on": step.due_on if step is not None else None,
        "working_days": step.working_days if step is not None else None,
        "provisional": bool(step.due_provisional) if step is not None else False,
    }
