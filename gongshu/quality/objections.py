"""R14: objections. A person (by resident ID number) or a company (by USCC) sees the records about them in
the resources keyed by that identifier, and files an objection on a record — the field, the value they
claim is correct, evidence. The provider's data officer handles it within the policy's period (the
`objection` workflow kind, `objection_reply` deadline): corrects the record through the store (history
before/after, who, and the case number as the correction reference) or refuses with written reasons
(sealed by the engine). The objector follows the case; the SLA sweep flags overdue cases to the authority.
R26: a person also sees which organisations read their data, when and for which scenario."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.aggregation.decoding import Source
from gongshu.aggregation.ingest import ingest_source
from gongshu.aggregation.interface import key_item
from gongshu.catalog.data_view import EntryView, find_entry, published_entries
from gongshu.kernel.access.policy import Action
from gongshu.kernel.access.service import require
from gongshu.kernel.audit import query as audit_query
from gongshu.kernel.audit.service import record
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import Conflict, Forbidden, NotFound, ValidationFailed
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import Organisation, OrgKind
from gongshu.kernel.workflow import engine
from gongshu.kernel.workflow.attachments import attach
from gongshu.kernel.workflow.models import Case
from gongshu.kernel.workflow.visibility import get_case
from gongshu.store import service as store

KIND = "objection"
# R10: the identifier that keys a subject's records, by the kind of public account.
SUBJECTS = {
    OrgKind.PERSON.value: ("person", "id_number"),
    OrgKind.LEGAL_ENTITY.value: ("legal_person", "uscc"),
}
VALUE_MAX = 2000


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
    current = _text(row.get(field))
    if current == value:
        raise ValidationFailed(
            "objection.value_unchanged",
            "您填写的值与现有记录相同",
            "The value you give is the one already recorded",
            field="claimed_value",
        )
    item = next(i for i in entry.items if i.name == field)
    case = engine.submit(
        session,
        actor,
        KIND,
        title=f"{entry.name}：{item.label_zh} 数据异议",
        title_en=f"{entry.name_en or entry.name}: objection to {item.label_en or item.label_zh}",
        subject_type="record",
        subject_id=f"{code}:{row[key]}" if key else code,
        parties={"provider": entry.provider_org_id},
        payload={
            "resource_code": code,
            "record_key": str(row[key]) if key else "",
            "field": field,
            "current_value": current,
            "claimed_value": value,
            "reason": (reason or "").strip(),
        },
    )
    if evidence is not None and evidence[1]:
        attach(session, actor, case.id, evidence[0], evidence[1])
    return case


def _text(value: Any) -> str | None:
    """A stored value as the text a source row carries (what the pipeline casts again)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _objection_case(session: Session, actor: Actor, case_id: int) -> Case:
    case = get_case(session, actor, case_id)
    if case.kind != KIND:
        raise NotFound(
            "objection.unknown", f"案件 {case_id} 不是数据异议", f"Case {case_id} is not an objection"
        )
    return case


def handling_view(session: Session, actor: Actor, case_id: int) -> dict[str, Any]:
    """R14: what the provider sees of an objection: the case, the record now, and the record's history."""
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
        detail={"via": "objection"},
    )
    return {
        "case": case,
        "record": rows[0] if rows else None,
        "history": store.history(session, p["resource_code"], p["record_key"]),
    }


def correct_record(actor: Actor, case_id: int, *, value: str | None = None, note: str = "") -> Case:
    """R14: the provider's data officer corrects the record through the store (incremental one-row batch:
    history before/after, who, correction reference = case number), then approves the case."""
    with read_scope() as s:
        case = _objection_case(s, actor, case_id)
        if case.status != "in_review":
            raise Conflict(
                "objection.closed", f"异议 {case.number} 已办结", f"Objection {case.number} is closed"
            )
        if not actor.has_role("data_officer", int(case.parties["provider"])):
            raise Forbidden(
                "objection.not_handler",
                "只有数据提供单位的数据管理员可以更正",
                "Only the provider's data officer may correct the record",
            )
        p, number = dict(case.payload), case.number
        res = store.get_resource(s, p["resource_code"])
        rows = store.rows(s, p["resource_code"], key=p["record_key"], limit=1)
        if not rows:
            raise NotFound(
                "objection.record_unknown", "被异议的记录已不存在", "The record objected to no longer exists"
            )
        columns = [i["name"] for i in res.items]
    new = (value if value is not None else p["claimed_value"]).strip()
    row = {c: _text(rows[0].get(c)) for c in columns}
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
        raise ValidationFailed(
            "objection.correction_refused",
            "更正值未通过数据质量校验，记录未更改",
            "The corrected value failed the quality checks; the record is unchanged",
            field="value",
            details={"batch_id": report.get("id")},
        )
    with session_scope() as s:
        reasons = f"已更正：{p['field']} = {new}" + (f"；{note.strip()}" if note.strip() else "")
        return engine.decide(s, actor, case_id, "approve", reasons)


def reject_objection(session: Session, actor: Actor, case_id: int, reasons: str) -> Case:
    """R14: the provider refuses the objection with written reasons (the engine requires and seals them)."""
    _objection_case(session, actor, case_id)
    return engine.decide(session, actor, case_id, "reject", reasons)


def my_reads(session: Session, actor: Actor, limit: int = 200) -> list[dict[str, Any]]:
    """R26 data tracker: which organisation read the account's data, when and for which scenario."""
    subject = subject_of(session, actor)
    entries, _ = audit_query.search(session, subject=subject.key, limit=limit)
    orgs = {
        o.id: o
        for o in session.scalars(
            select(Organisation).where(
                Organisation.id.in_({e.actor_org_id for e in entries if e.actor_org_id is not None})
            )
        )
    }
    out = []
    for e in entries:
        org = orgs.get(e.actor_org_id) if e.actor_org_id is not None else None
        out.append(
            {
                "at": e.at,
                "org": org.name_zh if org else e.actor_label,
                "org_en": (org.name_en or org.name_zh) if org else e.actor_label,
                "resource_code": e.object_id,
                "scenario": e.scenario or "",
                "action": e.action,
                "outcome": e.outcome,
            }
        )
    return out
