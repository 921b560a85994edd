"""R15–R18, R5: sharing applications for conditional data.

A data officer of a department or public service organisation applies through the platform for the
conditional data of another organisation (R17). The application is checked at the door against the
catalog entry — its sharing attribute (R16, R18), its items, its sharing methods (R19) and the conditions
the provider stated (R17) — and then becomes a workflow case reviewed jointly by the provider and the
authority within the policy's period. Approval creates the grant; a refusal's written reasons are sealed
by the engine; the consumer may dispute (the authority coordinates, the municipal government decides).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.catalog.data_view import SharingTerms, sharing_terms
from gongshu.kernel.access.grants import create_grant
from gongshu.kernel.access.models import Grant
from gongshu.kernel.access.policy import Action
from gongshu.kernel.access.service import require
from gongshu.kernel.errors import Forbidden, ValidationFailed
from gongshu.kernel.identity.actor import SYSTEM, Actor
from gongshu.kernel.identity.models import Organisation, OrgKind
from gongshu.kernel.timeutil import CHINA, end_of_day_china, today_china
from gongshu.kernel.workflow import attachments as wf_attachments
from gongshu.kernel.workflow import engine
from gongshu.kernel.workflow.hooks import on_closed
from gongshu.kernel.workflow.models import Case

KIND = "sharing_application"
ORIGIN = "sharing_application"
# R5, R17: the organisations that consume shared data.
CONSUMER_KINDS = frozenset({OrgKind.DEPARTMENT.value, OrgKind.PUBLIC_SERVICE_ORG.value})
# Separators between the values of one stated condition (several scenarios, several organisations).
_LIST_SPLIT = re.compile(r"[,，、;；\n]+")


@dataclass(frozen=True)
class Attachment:
    """A file sent with an application (the applicant's materials)."""

    filename: str
    content: bytes
    content_type: str = "application/octet-stream"


def condition_values(terms: SharingTerms, kind: str) -> list[str]:
    """R17: the values stated by the provider for one condition kind (several values may be listed)."""
    out: list[str] = []
    for cond in terms.conditions:
        if cond.get("kind") == kind:
            out += [v.strip() for v in _LIST_SPLIT.split(str(cond.get("value", ""))) if v.strip()]
    return out


def has_condition(terms: SharingTerms, kind: str) -> bool:
    return any(c.get("kind") == kind for c in terms.conditions)


def check_attribute(terms: SharingTerms) -> None:
    """R16, R18: only published conditional data is applied for; not-shared data is refused with the
    legal basis the entry names; unconditional data is used directly, without an application."""
    if not terms.published:
        raise ValidationFailed(
            "sharing.not_published",
            f"目录“{terms.name}”尚未发布，不能申请共享",
            f"The entry {terms.resource_code} is not published",
            field="resource_code",
        )
    if terms.sharing_attribute == "not_shared":
        raise Forbidden(
            "sharing.not_shared",
            f"“{terms.name}”暂不共享（R18），依据：{terms.legal_basis or '（未载明）'}",
            f"{terms.resource_code} is not shared (R18); legal basis: {terms.legal_basis or '(none stated)'}",
            details={"legal_basis": terms.legal_basis},
        )
    if terms.sharing_attribute == "unconditional":
        raise ValidationFailed(
            "sharing.unconditional",
            f"“{terms.name}”为无条件共享数据，无需申请，请直接使用（R16）：登记应用场景后即可获取",
            f"{terms.resource_code} is shared unconditionally: no application is needed, use it directly "
            "after stating your scenario (R16)",
            field="resource_code",
        )


def check_items_and_method(terms: SharingTerms, items: Sequence[str], method: str) -> list[str]:
    """R17, R19: a non-empty subset of the entry's items, by one of the entry's sharing methods."""
    chosen = list(dict.fromkeys(i.strip() for i in items if i and i.strip()))
    if not chosen:
        raise ValidationFailed(
            "sharing.items_required", "请选择申请的信息项", "Choose the items you apply for", field="items"
        )
    outside = [i for i in chosen if i not in terms.items]
    if outside:
        raise ValidationFailed(
            "sharing.items_outside_entry",
            f"信息项 {'、'.join(outside)} 不在目录“{terms.name}”中",
            f"Items {', '.join(outside)} are not in the entry {terms.resource_code}",
            field="items",
            details={"items": outside},
        )
    if method not in terms.methods:
        raise ValidationFailed(
            "sharing.method_not_offered",
            f"目录“{terms.name}”不提供共享方式“{method}”（可选：{'、'.join(terms.methods)}）",
            f"The entry offers no delivery method {method!r} (offered: {', '.join(terms.methods)})",
            field="delivery_method",
        )
    return chosen


def check_conditions(
    terms: SharingTerms,
    consumer: Organisation,
    *,
    scenario: str,
    basis: str,
    key_municipal_work: bool,
    cross_department_system: str | None,
) -> None:
    """R17: the four condition kinds the provider may state, each checked by name."""
    allowed_orgs = condition_values(terms, "organisations")
    if has_condition(terms, "organisations") and not {consumer.code, consumer.name_zh} & set(allowed_orgs):
        raise Forbidden(
            "sharing.condition_organisations",
            f"该数据仅限特定部门或单位使用（{'、'.join(allowed_orgs)}），{consumer.name_zh}不在其中（R17）",
            f"This data is only for the organisations {', '.join(allowed_orgs)}; "
            f"{consumer.code} is not one of them (R17)",
            field="consumer_org_id",
        )
    scenarios = condition_values(terms, "scenario")
    if has_condition(terms, "scenario") and scenario not in scenarios:
        raise ValidationFailed(
            "sharing.condition_scenario",
            f"该数据仅限以下应用场景：{'、'.join(scenarios)}；“{scenario}”不在其中（R17）",
            f"This data is only for the scenarios {', '.join(scenarios)}; {scenario!r} is not one (R17)",
            field="scenario",
        )
    if has_condition(terms, "key_municipal_work") and not (key_municipal_work and basis.strip()):
        raise ValidationFailed(
            "sharing.condition_key_work",
            "该数据仅限市委市政府重点工作使用：请声明用于重点工作并写明依据（R17）",
            "This data is only for key work of the municipal Party committee and government: declare it "
            "and state the basis (R17)",
            field="key_municipal_work",
        )
    if has_condition(terms, "cross_department_system") and not (cross_department_system or "").strip():
        raise ValidationFailed(
            "sharing.condition_system",
            "该数据仅限跨部门大系统大平台使用：请写明使用数据的系统名称（R17）",
            "This data is only for cross-department large systems and platforms: name the system (R17)",
            field="cross_department_system",
        )


def consumer_of(session: Session, actor: Actor, consumer_org_id: int | None) -> Organisation:
    """R5: the actor's organisation, or a public service organisation its department manages."""
    org_id = consumer_org_id if consumer_org_id is not None else actor.org_id
    org = session.get(Organisation, org_id) if org_id is not None else None
    if org is None or org.kind not in CONSUMER_KINDS:
        raise Forbidden(
            "sharing.consumer_kind",
            "只有政务部门和公共服务组织可以申请共享数据",
            "Only departments and public service organisations apply for shared data",
        )
    if not actor.acts_for(org.id):
        raise Forbidden(
            "sharing.not_consumer",
            "您不能代表该单位申请共享数据（R5）",
            "You may not apply on behalf of this organisation (R5)",
        )
    require(session, actor, Action.SHARING_APPLY, org_id=org.id)
    return org


def check_period(valid_from: dt.date, valid_to: dt.date) -> None:
    """R17: an application names the period of use; it may not start in the past or end before it starts."""
    if valid_from < today_china():
        raise ValidationFailed(
            "sharing.period_past",
            "使用期限不能早于今天",
            "The period may not start in the past",
            field="valid_from",
        )
    if valid_to < valid_from:
        raise ValidationFailed(
            "sharing.period_invalid",
            "使用期限的结束日期不能早于开始日期",
            "The period must end on or after its first day",
            field="valid_to",
        )


def apply(
    session: Session,
    actor: Actor,
    *,
    resource_code: str,
    items: Sequence[str],
    scenario: str,
    purpose: str,
    basis: str = "",
    valid_from: dt.date,
    valid_to: dt.date,
    delivery_method: str,
    key_municipal_work: bool = False,
    cross_department_system: str | None = None,
    attachments: Sequence[Attachment] = (),
    consumer_org_id: int | None = None,
    renews_grant_id: int | None = None,
) -> Case:
    """R17: apply for conditional data. Validates everything at the door, then opens the joint review."""
    consumer = consumer_of(session, actor, consumer_org_id)
    terms = sharing_terms(session, resource_code)
    check_attribute(terms)
    if consumer.id == terms.provider_org_id:
        raise ValidationFailed(
            "sharing.own_data",
            "数据提供单位直接使用本单位的数据，无需申请",
            "The provider uses its own data directly; no application is needed",
            field="resource_code",
        )
    chosen = check_items_and_method(terms, items, delivery_method)
    scenario, purpose = (scenario or "").strip(), (purpose or "").strip()
    if not scenario:
        raise ValidationFailed(
            "sharing.scenario_required", "请填写应用场景", "State the application scenario", field="scenario"
        )
    if not purpose:
        raise ValidationFailed(
            "sharing.purpose_required", "请填写用途说明", "State the purpose of use", field="purpose"
        )
    check_period(valid_from, valid_to)
    check_conditions(
        terms,
        consumer,
        scenario=scenario,
        basis=basis,
        key_municipal_work=key_municipal_work,
        cross_department_system=cross_department_system,
    )
    payload: dict[str, Any] = {
        "form": APPLICATION_FORM,
        "resource_code": terms.resource_code,
        "resource_name": terms.name,
        "consumer_org_id": consumer.id,
        "items": chosen,
        "scenario": scenario,
        "purpose": purpose,
        "basis": (basis or "").strip(),
        "valid_from": valid_from.isoformat(),
        "valid_to": valid_to.isoformat(),
        "delivery_method": delivery_method,
        "key_municipal_work": bool(key_municipal_work),
        "cross_department_system": (cross_department_system or "").strip() or None,
        "renews_grant_id": renews_grant_id,
    }
    case = engine.submit(
        session,
        actor,
        KIND,
        title=f"共享申请：{terms.name}"[: engine.TITLE_MAX],
        title_en=f"Sharing application: {terms.name_en or terms.name}",
        subject_type="catalog_entry",
        subject_id=terms.resource_code,
        parties={"provider": terms.provider_org_id},
        payload=payload,
        applicant_org_id=consumer.id,
    )
    for a in attachments:
        wf_attachments.attach(session, actor, case.id, a.filename, a.content, a.content_type)
    return case


APPLICATION_FORM = "sharing_application/1"  # marks the payload of a case opened by `apply`


def period_bounds(payload: dict[str, Any]) -> tuple[dt.datetime, dt.datetime]:
    """The grant's period: from the start of its first day to the end of its last day, China time."""
    first = dt.date.fromisoformat(payload["valid_from"])
    last = dt.date.fromisoformat(payload["valid_to"])
    return dt.datetime.combine(first, dt.time(0, 0), tzinfo=CHINA).astimezone(dt.UTC), end_of_day_china(last)


def grant_of_case(session: Session, case_id: int) -> Grant | None:
    return session.scalar(select(Grant).where(Grant.case_id == case_id).limit(1))


@on_closed(KIND)
def _approved(session: Session, case: Case) -> None:
    """R17: approval (by the joint review, or on dispute by the authority or the municipal government)
    completes the sharing promptly: the grant is created in the same transaction, once."""
    if case.status != "approved" or case.payload.get("form") != APPLICATION_FORM:
        return  # not an application made through `apply` (e.g. a case opened directly on the engine)
    if grant_of_case(session, case.id) is not None:
        return
    p = case.payload
    valid_from, valid_to = period_bounds(p)
    create_grant(
        session,
        SYSTEM,
        consumer_org_id=int(p.get("consumer_org_id") or case.applicant_org_id),
        resource_id=p["resource_code"],
        items=list(p["items"]),
        scenario=p["scenario"],
        delivery_method=p["delivery_method"],
        valid_from=valid_from,
        valid_to=valid_to,
        purpose=p.get("purpose", ""),
        origin=ORIGIN,
        case_id=case.id,
    )


def applications_of(session: Session, actor: Actor) -> list[Case]:
    """R17: the sharing applications of the organisations the actor acts for, newest first."""
    if actor.org_id is None:
        return []
    orgs = {actor.org_id, *actor.managed_org_ids}
    stmt = (
        select(Case)
        .where(Case.kind == KIND, Case.applicant_org_id.in_(orgs))
        .order_by(Case.submitted_at.desc(), Case.id.desc())
    )
    return list(session.scalars(stmt))
