"""R21: emergencies — the authority opens an event (purpose, scope, method, period, responsible
organisation, responders), asks named organisations (one emergency_collection case each) and, by upload,
persons and companies for data; the data lives in not-shared, not-open resources created for the event,
usable only by the responders while the event is open (the access decision point; grants of origin
"emergency"). Closing runs the closure procedure (emergency_closure.py).

Commands validate first and then act inside the caller's transaction, auditing every write."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.aggregation.ingest import ingest_file
from gongshu.catalog import service as catalog
from gongshu.catalog.schemas import EntryInput
from gongshu.kernel.access.grants import create_grant
from gongshu.kernel.access.policy import Action
from gongshu.kernel.access.service import require
from gongshu.kernel.audit.service import record
from gongshu.kernel.db import session_scope
from gongshu.kernel.errors import Conflict, Forbidden, NotFound, ValidationFailed
from gongshu.kernel.identity.actor import SYSTEM, Actor
from gongshu.kernel.identity.models import PUBLIC_KINDS, Organisation, Role
from gongshu.kernel.timeutil import now
from gongshu.kernel.workflow import engine
from gongshu.kernel.workflow.models import Case
from gongshu.sharing.emergency_models import (
    EmergencyEvent,
    EmergencyResource,
    EmergencySubmission,
    EmergencyTask,
)

KIND = "emergency_collection"
CATEGORY = "Z99-21-00-00"  # R21: the category of emergency data
LEGAL_BASIS = "《厦门市公共数据共享开放管理暂行办法》第二十一条：突发事件应对中收集的数据仅用于应急处置"
NOT_OPEN_REASON = "突发事件应急数据，仅用于应急处置（R21）"
PUBLIC_KIND_VALUES = {k.value for k in PUBLIC_KINDS}


def _invalid(code: str, zh: str, en: str, field: str) -> ValidationFailed:
    return ValidationFailed(code, zh, en, field=field)


def _text(value: str, field: str, zh: str, en: str, limit: int = 4000) -> str:
    text = (value or "").strip()
    if not text or len(text) > limit:
        raise _invalid(
            f"emergency.{field}_required", f"请填写{zh}（不超过{limit}字）", f"{en} is required", field
        )
    return text


def _orgs(session: Session, codes: list[str], field: str, *, required: bool = False) -> list[Organisation]:
    """Organisations (not the public's accounts) by code; `required`: at least one."""
    out: list[Organisation] = []
    for code in dict.fromkeys(c.strip() for c in codes if c.strip()):
        org = session.scalar(select(Organisation).where(Organisation.code == code))
        if org is None or org.kind in PUBLIC_KIND_VALUES:
            raise _invalid("emergency.org_unknown", f"没有单位 {code}", f"No organisation {code}", field)
        out.append(org)
    if required and not out:
        raise _invalid(
            "emergency.org_required", "请至少指定一个单位", "Name at least one organisation", field
        )
    return out


def scenario_of(event: EmergencyEvent) -> str:
    """R21, R26: the one scenario emergency data may be used for — the event's response."""
    return f"突发事件应急处置 #{event.id}：{event.title}"[:200]


def get_event(session: Session, actor: Actor, event_id: int) -> EmergencyEvent:
    """R21: the authority's emergency managers see every event."""
    require(session, actor, Action.EMERGENCY_MANAGE)
    event = session.get(EmergencyEvent, event_id)
    if event is None:
        raise NotFound("emergency.not_found", f"没有编号为 {event_id} 的突发事件", f"No emergency {event_id}")
    return event


def _open_event(session: Session, actor: Actor, event_id: int) -> EmergencyEvent:
    event = get_event(session, actor, event_id)
    if event.status != "open":
        raise Conflict("emergency.closed", "该突发事件已结束处置", "The emergency is closed")
    return event


def list_events(session: Session, actor: Actor) -> list[EmergencyEvent]:
    require(session, actor, Action.EMERGENCY_MANAGE)
    return list(session.scalars(select(EmergencyEvent).order_by(EmergencyEvent.id.desc())))


def open_event(
    session: Session,
    actor: Actor,
    *,
    title: str,
    purpose: str,
    scope: str,
    method: str,
    period_start: dt.datetime,
    period_end: dt.datetime,
    responsible_org_code: str,
    responder_org_codes: list[str],
) -> EmergencyEvent:
    """R21: open an emergency event stating purpose, scope, method and period."""
    require(session, actor, Action.EMERGENCY_MANAGE)
    title = _text(title, "title", "事件名称", "A title", 200)
    purpose = _text(purpose, "purpose", "数据用途", "The purpose")
    scope = _text(scope, "scope", "数据范围", "The scope")
    method = _text(method, "method", "收集方式", "The method")
    if period_end <= max(period_start, now()):
        raise _invalid(
            "emergency.period_invalid",
            "处置期限的结束时间必须晚于开始时间和当前时间",
            "The period must end after it starts, and in the future",
            "period_end",
        )
    responsible = _orgs(session, [responsible_org_code], "responsible_org_code", required=True)
    responders = _orgs(session, responder_org_codes, "responder_org_codes", required=True)
    event = EmergencyEvent(
        title=title,
        purpose=purpose,
        scope=scope,
        method=method,
        period_start=period_start,
        period_end=period_end,
        responsible_org_id=responsible[0].id,
        responder_org_ids=[o.id for o in responders],
        status="open",
        opened_by_user_id=actor.user_id,
        opened_at=now(),
    )
    session.add(event)
    session.flush()
    record(
        session,
        actor,
        "emergency.open",
        object_type="emergency_event",
        object_id=event.id,
        detail={
            "title": title,
            "responsible": responsible_org_code,
            "responders": [o.code for o in responders],
        },
    )
    return event


def resources_of(session: Session, event_id: int) -> list[str]:
    """R21: the codes of the resources created for an event."""
    stmt = select(EmergencyResource.resource_code).where(EmergencyResource.event_id == event_id)
    return list(session.scalars(stmt.order_by(EmergencyResource.id)))


def _grant(session: Session, actor: Actor, event: EmergencyEvent, org_id: int, code: str) -> None:
    """R21: a responder's grant on an event resource, for the event's scenario until its period ends."""
    items = [i.name for i in catalog.get_entry(session, SYSTEM, code).items]
    create_grant(
        session,
        actor,
        consumer_org_id=org_id,
        resource_id=code,
        items=items,
        scenario=scenario_of(event),
        delivery_method="api",
        valid_from=now(),
        valid_to=event.period_end,
        purpose=event.purpose,
        origin="emergency",
    )


def add_responder(session: Session, actor: Actor, event_id: int, org_code: str) -> EmergencyEvent:
    """R21: one more organisation may use the event's data (a grant on each of its resources)."""
    event = _open_event(session, actor, event_id)
    org = _orgs(session, [org_code], "org_code")[0]
    if org.id in event.responder_org_ids:
        raise Conflict("emergency.responder_exists", "该单位已是应急处置单位", "Already a responder")
    event.responder_org_ids = [*event.responder_org_ids, org.id]
    for code in resources_of(session, event.id):
        _grant(session, actor, event, org.id, code)
    record(
        session,
        actor,
        "emergency.add_responder",
        object_type="emergency_event",
        object_id=event.id,
        detail={"org": org.code},
    )
    return event


def _entry_input(event: EmergencyEvent, name: str, items: list[dict[str, Any]]) -> EntryInput:
    types = {str(i.get("data_type")) for i in items}
    subject = "person" if "id_number" in types else "legal_person" if "uscc" in types else "other"
    return EntryInput.model_validate(
        {
            "catalog_kind": "government",
            "category_code": CATEGORY,
            "name": name,
            "provider_org_id": event.responsible_org_id,
            "summary": f"突发事件“{event.title}”应急处置收集的数据。用途：{event.purpose}",
            "format": "csv",
            "topic": "突发事件应急",
            "keywords": ["突发事件", "应急"],
            "items": items,
            "sharing_attribute": "not_shared",
            "legal_basis": LEGAL_BASIS,
            "sharing_methods": ["api"],
            "open_attribute": "not_open",
            "not_open_reason": NOT_OPEN_REASON,
            "update_cycle": "real_time",
            "grade": "important",
            "subject_kind": subject,
        }
    )


def add_task(
    session: Session,
    actor: Actor,
    event_id: int,
    *,
    title: str,
    description: str,
    resource_name: str,
    items: list[dict[str, Any]],
    respondent_org_codes: list[str],
    public: bool = False,
) -> EmergencyTask:
    """R21: a collection task: a resource created for the event (catalog entry of the responsible
    organisation, not shared, not open, published by the platform on the event's authority), the
    responders' grants on it, and one emergency_collection case per respondent organisation."""
    event = _open_event(session, actor, event_id)
    title = _text(title, "title", "任务名称", "A task title", 200)
    respondents = _orgs(session, respondent_org_codes, "respondent_org_codes")
    if not respondents and not public:
        raise _invalid(
            "emergency.respondents_required",
            "请指定报送单位，或向个人和企业公开征集",
            "Name respondent organisations or open the task to persons and companies",
            "respondent_org_codes",
        )
    entry = catalog.create_draft(session, SYSTEM, _entry_input(event, resource_name.strip() or title, items))
    # The event (opened under R21 by the authority) is the decision that publishes its resources.
    catalog.publish_version(session, entry, Case(number=f"YJ-{event.id}", kind=KIND))
    session.add(EmergencyResource(event_id=event.id, resource_code=entry.resource_code))
    task = EmergencyTask(
        event_id=event.id,
        resource_code=entry.resource_code,
        title=title,
        description=(description or "").strip(),
        public=public,
        respondents=[],
        status="open",
    )
    session.add(task)
    session.flush()
    for org_id in event.responder_org_ids:
        _grant(session, actor, event, int(org_id), entry.resource_code)
    cases = []
    for org in respondents:
        case = engine.submit(
            session,
            actor,
            KIND,
            title=f"突发事件数据报送：{title}"[: engine.TITLE_MAX],
            title_en=f"Emergency data collection: {title}",
            subject_type="emergency_task",
            subject_id=task.id,
            parties={"respondent": org.id},
            payload={
                "event_id": event.id,
                "resource_code": entry.resource_code,
                "upload": f"/emergency/tasks/{task.id}/upload",
            },
        )
        cases.append({"org_id": org.id, "case_id": case.id})
    task.respondents = cases
    record(
        session,
        actor,
        "emergency.add_task",
        object_type="emergency_task",
        object_id=task.id,
        detail={
            "event": event.id,
            "resource": entry.resource_code,
            "respondents": [o.code for o in respondents],
            "public": public,
        },
    )
    return task


def get_task(session: Session, task_id: int) -> EmergencyTask:
    task = session.get(EmergencyTask, task_id)
    if task is None:
        raise NotFound(
            "emergency.task_not_found", f"没有编号为 {task_id} 的报送任务", f"No collection task {task_id}"
        )
    return task


def respondent_org(session: Session, actor: Actor, task: EmergencyTask) -> int:
    """R21: who may provide a task's data — a data officer of a named respondent organisation, or, for a
    task open to the public, a person's or company's own account; only while the task is open."""
    event = session.get(EmergencyEvent, task.event_id)
    if task.status != "open" or event is None or event.status != "open":
        raise Conflict("emergency.task_closed", "该报送任务已结束", "The collection task is closed")
    for r in task.respondents:
        if actor.has_role(Role.DATA_OFFICER.value, int(r["org_id"])):
            return int(r["org_id"])
    if (
        task.public
        and actor.org_kind in PUBLIC_KIND_VALUES
        and actor.has_role(Role.PUBLIC.value)
        and actor.org_id
    ):
        return actor.org_id
    raise Forbidden(
        "emergency.not_respondent",
        "您不是该报送任务的报送对象",
        "You are not asked to provide data for this task",
    )


def submit_data(
    actor: Actor, task_id: int, path: Path, filename: str, *, url: str | None = None
) -> dict[str, Any]:
    """R21: a respondent provides data: the file goes through the ingestion pipeline (incremental, by
    key) into the task's resource, on the platform's behalf once the respondent is checked; the batch is
    recorded with the respondent, and a named organisation's collection case is completed."""
    with session_scope(url) as s:
        task = get_task(s, task_id)
        org_id = respondent_org(s, actor, task)
        code = task.resource_code
    report = ingest_file(SYSTEM, code, path, filename=filename, mode="incremental", url=url)
    with session_scope(url) as s:
        task = get_task(s, task_id)
        s.add(
            EmergencySubmission(
                task_id=task.id,
                batch_id=int(report["id"]),
                org_id=org_id,
                user_id=actor.user_id,
                accepted=int(report.get("accepted") or 0),
                refused=int(report.get("refused") or 0),
            )
        )
        record(
            s,
            actor,
            "emergency.submit",
            object_type="emergency_task",
            object_id=task.id,
            detail={"batch": report["id"], "resource": code, "org_id": org_id},
        )
        for r in task.respondents:
            case = s.get(Case, int(r["case_id"]))
            if int(r["org_id"]) == org_id and case is not None and case.status == "in_review":
                engine.decide(s, actor, case.id, "approve")
    return report


def tasks_of(session: Session, event_id: int) -> list[EmergencyTask]:
    return list(
        session.scalars(
            select(EmergencyTask).where(EmergencyTask.event_id == event_id).order_by(EmergencyTask.id)
        )
    )


def submissions_of(session: Session, task_ids: list[int]) -> list[EmergencySubmission]:
    stmt = select(EmergencySubmission).where(EmergencySubmission.task_id.in_(task_ids or [0]))
    return list(session.scalars(stmt.order_by(EmergencySubmission.id)))


def open_public_tasks(session: Session) -> list[EmergencyTask]:
    """R21: the open tasks that persons and companies may provide data for."""
    stmt = select(EmergencyTask).join(EmergencyEvent, EmergencyEvent.id == EmergencyTask.event_id)
    stmt = stmt.where(
        EmergencyTask.public.is_(True), EmergencyTask.status == "open", EmergencyEvent.status == "open"
    )
    return list(session.scalars(stmt.order_by(EmergencyTask.id.desc())))


def org_names(session: Session, ids: list[int]) -> dict[int, str]:
    rows = session.execute(
        select(Organisation.id, Organisation.name_zh).where(Organisation.id.in_(ids or [0]))
    )
    return {int(i): str(n) for i, n in rows}
