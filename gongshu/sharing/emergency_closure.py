"""R21: the closure procedure of an emergency — when the response ends, classify and evaluate the
collected data, apply the security treatment (delete it, or de-identify the items involving personal
information or secrets), shut down the related data applications (revoke the event's grants: every
delivery method re-decides access, so all of them stop), withdraw the collection cases still open, and
keep a sealed closure report with the event."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.catalog.data_view import PERSONAL_SENSITIVITIES, PERSONAL_TYPES
from gongshu.kernel.access.grants import revoke_grant
from gongshu.kernel.access.models import Grant
from gongshu.kernel.audit.service import record
from gongshu.kernel.crypto.seal import seal_document
from gongshu.kernel.errors import Conflict, NotFound, ValidationFailed
from gongshu.kernel.identity.actor import SYSTEM, Actor
from gongshu.kernel.timeutil import now
from gongshu.kernel.workflow import engine
from gongshu.kernel.workflow.models import Case
from gongshu.sharing.emergency import get_event, resources_of, scenario_of, submissions_of, tasks_of
from gongshu.sharing.emergency_models import TREATMENTS, EmergencyEvent
from gongshu.store import service as store

REPORT_FORMAT = "gongshu.emergency_closure_report/1"
_CLOSURE_REASON = re.compile(r"R21 突发事件 #(\d+) 处置结束(?: / R21 emergency event #\1 closed)?")


def closure_reason(event_id: int) -> str:
    """R21: the reason written wherever the closure acts (grants revoked, records treated, cases
    withdrawn). Stored as written, in both languages; pages show it in theirs with `closure_reason_in`."""
    return f"R21 突发事件 #{event_id} 处置结束 / R21 emergency event #{event_id} closed"


def closure_reason_in(reason: str, lang: str) -> str:
    """R21, R28: a closure reason (`closure_reason`) in one page language; any other reason, as written."""
    found = _CLOSURE_REASON.fullmatch(reason.strip())
    if found is None:
        return reason
    number = found.group(1)
    if lang.startswith("zh"):
        return f"R21 突发事件 #{number} 处置结束"
    return f"R21 emergency event #{number} closed"


def classify(session: Session, event_id: int, marked: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """R21: per resource of the event, each item's class: "sensitive" (personal information, trade or
    state secrets: by its catalog sensitivity or data type, or marked so at closure) or "general"."""
    out: dict[str, Any] = {}
    for code in resources_of(session, event_id):
        res = store.get_resource(session, code)
        extra = set((marked or {}).get(code, []))
        out[code] = {
            str(i["name"]): "sensitive"
            if i.get("sensitivity") in PERSONAL_SENSITIVITIES
            or i.get("data_type") in PERSONAL_TYPES
            or i["name"] in extra
            else "general"
            for i in res.items
        }
    return out


def close_event(
    session: Session,
    actor: Actor,
    event_id: int,
    *,
    treatment: str,
    evaluation: str,
    marked: dict[str, list[str]] | None = None,
) -> EmergencyEvent:
    """R21: end the response: classify, treat, shut down, report (sealed)."""
    event = get_event(session, actor, event_id)
    if event.status != "open":
        raise Conflict("emergency.closed", "该突发事件已结束处置", "The emergency is already closed")
    if treatment not in TREATMENTS:
        raise ValidationFailed(
            "emergency.treatment_invalid",
            "安全处理方式应为删除或去标识化",
            "The security treatment is deletion or de-identification",
            field="treatment",
        )
    evaluation = (evaluation or "").strip()
    if not evaluation:
        raise ValidationFailed(
            "emergency.evaluation_required",
            "请填写对所收集数据的评估意见",
            "Give the evaluation of the collected data",
            field="evaluation",
        )
    classes = classify(session, event.id, marked)
    # Stored as written (grants' revocation reason, record history, withdrawn cases): in both languages;
    # pages show the part of their language (`closure_reason_in`).
    reason = closure_reason(event.id)
    treated: list[dict[str, Any]] = []
    for code, items in classes.items():
        before = store.count(session, code)
        sensitive = [name for name, cls in items.items() if cls == "sensitive"]
        if treatment == "delete":
            store.purge_rows(session, code, reason=reason)
        elif sensitive and before:
            store.deidentify_items(session, code, sensitive, "hash", reason=reason)
        treated.append(
            {
                "resource_code": code,
                "records_before": before,
                "records_after": store.count(session, code),
                "sensitive_items": sensitive,
                "general_items": [n for n, cls in items.items() if cls == "general"],
            }
        )
    revoked = []
    codes = list(classes)
    grants = select(Grant).where(
        Grant.resource_id.in_(codes or [""]), Grant.origin == "emergency", Grant.revoked_at.is_(None)
    )
    for grant in list(session.scalars(grants)):
        revoke_grant(session, SYSTEM, grant.id, reason=reason, provider_org_id=event.responsible_org_id)
        revoked.append(grant.id)
    withdrawn = []
    tasks = tasks_of(session, event.id)
    for task in tasks:
        task.status = "closed"
        for r in task.respondents:
            case = session.get(Case, int(r["case_id"]))
            if case is not None and case.status in ("in_review", "returned"):
                engine.withdraw(session, actor, case.id, reason)
                withdrawn.append(case.number)
    at = now()
    document = {
        "format": REPORT_FORMAT,
        "article": "R21",
        "event": {
            "id": event.id,
            "title": event.title,
            "purpose": event.purpose,
            "scope": event.scope,
            "method": event.method,
            "scenario": scenario_of(event),
            "period": [event.period_start.isoformat(), event.period_end.isoformat()],
            "responsible_org_id": event.responsible_org_id,
            "responder_org_ids": list(event.responder_org_ids),
            "opened_at": event.opened_at.isoformat(),
        },
        "classification": classes,
        "evaluation": evaluation,
        "treatment": treatment,
        "resources": treated,
        "submissions": len(submissions_of(session, [t.id for t in tasks])),
        "grants_revoked": revoked,
        "cases_withdrawn": withdrawn,
        "closed_at": at.isoformat(),
        "closed_by_user_id": actor.user_id,
    }
    event.report = seal_document(document)
    event.status, event.closed_at, event.treatment = "closed", at, treatment
    session.flush()
    record(
        session,
        actor,
        "emergency.close",
        object_type="emergency_event",
        object_id=event.id,
        detail={"treatment": treatment, "resources": codes, "grants_revoked": revoked},
    )
    return event


def closure_report(session: Session, actor: Actor, event_id: int) -> dict[str, Any]:
    """R21: the sealed closure report of a closed event."""
    event = get_event(session, actor, event_id)
    if event.report is None:
        raise NotFound(
            "emergency.report_missing",
            "该突发事件尚未结束处置，没有结束报告",
            "The emergency is not closed; it has no closure report",
        )
    return dict(event.report)
