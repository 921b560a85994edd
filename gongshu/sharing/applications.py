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
from gongshu.catalog.validation import FieldError
from gongshu.kernel.access.grants import create_grant
from gongshu.kernel.access.models import Grant
from gongshu.kernel.access.policy import Action
from gongshu.kernel.access.service import SCENARIO_MAX, require
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
PURPOSE_MAX = 5000
"""R17: the longest purpose of use or basis an application holds (as the API accepts them)."""
SYSTEM_MAX = 200
"""R17: the longest name of a cross-department system an application holds."""
# R17: the application form's fields in the order the form shows them, the order its errors are listed in.
FORM_ORDER = (
    "items",
    "scenario",
    "purpose",
    "basis",
    "valid_from",
    "valid_to",
    "delivery_method",
    "key_municipal_work",
    "cross_department_system",
)


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


def _invalid(code: str, zh: str, en: str, field: str, **details: Any) -> ValidationFailed:
    return ValidationFailed(code, zh, en, field=field, details=details or None)


def _too_long(
    value: str, limit: int, code: str, field: str, what_zh: str, what_en: str
) -> list[ValidationFailed]:
    """R17: a text longer than its column is refused with its length (nothing is cut off)."""
    if len(value) <= limit:
        return []
    return [
        _invalid(
            code,
            f"{what_zh}不能超过{limit}字（现为{len(value)}字）",
            f"The {what_en} may be at most {limit} characters (it has {len(value)})",
            field,
            max=limit,
            length=len(value),
        )
    ]


def raise_all(
    errors: Sequence[ValidationFailed],
    code: str = "sharing.application_invalid",
    what_zh: str = "申请",
    what_en: str = "application",
) -> None:
    """R17: refuse with every field error at once (`details.errors`, one FieldError each, in the form's
    order). A single error keeps its own code; several are raised together under `code`, the message
    listing each of them, so that a page showing only the message still shows them all."""
    if not errors:
        return
    ordered = sorted(errors, key=lambda e: FORM_ORDER.index(e.field) if e.field in FORM_ORDER else 99)
    listed = [FieldError(e.code, e.field or "", e.message_zh, e.message_en).to_dict() for e in ordered]
    if len(ordered) == 1:
        only = ordered[0]
        only.details = {**only.details, "errors": listed}
        raise only
    raise ValidationFailed(
        code,
        f"{what_zh}有 {len(ordered)} 处需要更正：" + "；".join(e.message_zh for e in ordered),
        f"The {what_en} has {len(ordered)} errors: " + "; ".join(e.message_en for e in ordered),
        field=ordered[0].field,
        details={"errors": listed},
    )


def item_and_method_errors(
    terms: SharingTerms, items: Sequence[str], method: str
) -> tuple[list[str], list[ValidationFailed]]:
    """R17, R19: a non-empty subset of the entry's items, by one of the entry's sharing methods — the
    items chosen, and every error found."""
    chosen = list(dict.fromkeys(i.strip() for i in items if i and i.strip()))
    errors: list[ValidationFailed] = []
    if not chosen:
        errors.append(
            _invalid(
                "sharing.items_required", "请选择申请的信息项", "Choose the items you apply for", "items"
            )
        )
    outside = [i for i in chosen if i not in terms.items]
    if outside:
        errors.append(
            _invalid(
                "sharing.items_outside_entry",
                f"信息项 {'、'.join(outside)} 不在目录“{terms.name}”中",
                f"Items {', '.join(outside)} are not in the entry {terms.resource_code}",
                "items",
                items=outside,
            )
        )
    if method not in terms.methods:
        offered_zh, offered_en = "、".join(terms.methods), ", ".join(terms.methods)
        errors.append(
            _invalid(
                "sharing.method_not_offered",
                f"目录“{terms.name}”不提供共享方式“{method}”（可选：{offered_zh}）"
                if method
                else f"请选择共享方式（可选：{offered_zh}）",
                f"The entry offers no delivery method {method!r} (offered: {offered_en})"
                if method
                else f"Choose a delivery method (offered: {offered_en})",
                "delivery_method",
            )
        )
    return chosen, errors


def check_items_and_method(terms: SharingTerms, items: Sequence[str], method: str) -> list[str]:
    """R17, R19: the items chosen; every error of the items and the method refused together."""
    chosen, errors = item_and_method_errors(terms, items, method)
    raise_all(errors)
    return chosen


def check_organisations(terms: SharingTerms, consumer: Organisation) -> None:
    """R17: the provider's condition "only for specific organisations" — who applies, not a field of the
    form: refused (403) before the form's fields are checked."""
    allowed_orgs = condition_values(terms, "organisations")
    if has_condition(terms, "organisations") and not {consumer.code, consumer.name_zh} & set(allowed_orgs):
        raise Forbidden(
            "sharing.condition_organisations",
            f"该数据仅限特定部门或单位使用（{'、'.join(allowed_orgs)}），{consumer.name_zh}不在其中（R17）",
            f"This data is only for the organisations {', '.join(allowed_orgs)}; "
            f"{consumer.code} is not one of them (R17)",
            field="consumer_org_id",
        )


def condition_errors(
    terms: SharingTerms,
    *,
    scenario: str,
    basis: str,
    key_municipal_work: bool,
    cross_department_system: str | None,
) -> list[ValidationFailed]:
    """R17: the condition kinds the provider may state about the use (scenario, key municipal work,
    cross-department system), each checked by name; every unmet one is returned."""
    errors: list[ValidationFailed] = []
    scenarios = condition_values(terms, "scenario")
    # An empty or overlong scenario has its own error already.
    if has_condition(terms, "scenario") and 0 < len(scenario) <= SCENARIO_MAX and scenario not in scenarios:
        errors.append(
            _invalid(
                "sharing.condition_scenario",
                f"该数据仅限以下应用场景：{'、'.join(scenarios)}；“{scenario}”不在其中（R17）",
                f"This data is only for the scenarios {', '.join(scenarios)}; {scenario!r} is not one (R17)",
                "scenario",
            )
        )
    if has_condition(terms, "key_municipal_work") and not (key_municipal_work and basis.strip()):
        errors.append(
            _invalid(
                "sharing.condition_key_work",
                "该数据仅限市委市政府重点工作使用：请声明用于重点工作并写明依据（R17）",
                "This data is only for key work of the municipal Party committee and government: declare "
                "it and state the basis (R17)",
                "key_municipal_work",
            )
        )
    if has_condition(terms, "cross_department_system") and not (cross_department_system or "").strip():
        errors.append(
            _invalid(
                "sharing.condition_system",
                "该数据仅限跨部门大系统大平台使用：请写明使用数据的系统名称（R17）",
                "This data is only for cross-department large systems and platforms: name the system (R17)",
                "cross_department_system",
            )
        )
    return errors


def check_conditions(
    terms: SharingTerms,
    consumer: Organisation,
    *,
    scenario: str,
    basis: str,
    key_municipal_work: bool,
    cross_department_system: str | None,
) -> None:
    """R17: the four condition kinds the provider may state, each checked by name (every unmet
    condition of the use refused together)."""
    check_organisations(terms, consumer)
    raise_all(
        condition_errors(
            terms,
            scenario=scenario,
            basis=basis,
            key_municipal_work=key_municipal_work,
            cross_department_system=cross_department_system,
        )
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


def _day(value: dt.date | str | None, field: str, what_zh: str, what_en: str) -> dt.date | ValidationFailed:
    """A day of the period as given (a date, or the form's text, YYYY-MM-DD), or its error."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = (value or "").strip()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return _invalid(
            "sharing.date_invalid",
            f"请填写有效的使用期限{what_zh}（YYYY-MM-DD）"
            if text
            else f"请填写使用期限的{what_zh}（YYYY-MM-DD）",
            f"Enter a valid {what_en} of the period (YYYY-MM-DD)",
            field,
        )


def period_errors(
    valid_from: dt.date | str | None, valid_to: dt.date | str | None
) -> tuple[tuple[dt.date, dt.date] | None, list[ValidationFailed]]:
    """R17: an application names the period of use; it may not start in the past or end before it starts.
    The period (when both days are valid), and every error found."""
    first = _day(valid_from, "valid_from", "开始日期", "first day")
    last = _day(valid_to, "valid_to", "结束日期", "last day")
    errors = [d for d in (first, last) if isinstance(d, ValidationFailed)]
    if isinstance(first, dt.date) and first < today_china():
        errors.append(
            _invalid(
                "sharing.period_past",
                f"使用期限不能早于今天（开始日期为 {first.isoformat()}）",
                f"The period may not start in the past (it starts on {first.isoformat()})",
                "valid_from",
            )
        )
    if isinstance(first, dt.date) and isinstance(last, dt.date):
        if last < first:
            errors.append(
                _invalid(
                    "sharing.period_invalid",
                    "使用期限的结束日期不能早于开始日期",
                    "The period must end on or after its first day",
                    "valid_to",
                )
            )
        return (first, last), errors
    return None, errors


def check_period(valid_from: dt.date | str | None, valid_to: dt.date | str | None) -> tuple[dt.date, dt.date]:
    """R17: the period of use, every error of it refused together."""
    period, errors = period_errors(valid_from, valid_to)
    raise_all(errors)
    assert period is not None  # no error: both days are valid
    return period


def apply(
    session: Session,
    actor: Actor,
    *,
    resource_code: str,
    items: Sequence[str],
    scenario: str,
    purpose: str,
    basis: str = "",
    valid_from: dt.date | str | None,
    valid_to: dt.date | str | None,
    delivery_method: str,
    key_municipal_work: bool = False,
    cross_department_system: str | None = None,
    attachments: Sequence[Attachment] = (),
    consumer_org_id: int | None = None,
    renews_grant_id: int | None = None,
) -> Case:
    """R17: apply for conditional data. Validates everything at the door, then opens the joint review.

    Who applies and for what (the consumer, the entry's attribute, the organisations condition) is
    refused first; then every error of the form's fields — items, scenario, purpose, basis, period (the
    days as dates or as the form's text), method, conditions — is refused together (`raise_all`)."""
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
    check_organisations(terms, consumer)
    chosen, errors = item_and_method_errors(terms, items, delivery_method)
    scenario, purpose = (scenario or "").strip(), (purpose or "").strip()
    basis, system = (basis or "").strip(), (cross_department_system or "").strip()
    if not scenario:
        errors.append(
            _invalid(
                "sharing.scenario_required", "请填写应用场景", "State the application scenario", "scenario"
            )
        )
    errors += _too_long(
        scenario, SCENARIO_MAX, "sharing.scenario_too_long", "scenario", "应用场景", "scenario"
    )
    if not purpose:
        errors.append(
            _invalid("sharing.purpose_required", "请填写用途说明", "State the purpose of use", "purpose")
        )
    errors += _too_long(purpose, PURPOSE_MAX, "sharing.purpose_too_long", "purpose", "用途说明", "purpose")
    errors += _too_long(basis, PURPOSE_MAX, "sharing.basis_too_long", "basis", "依据", "basis")
    errors += _too_long(
        system, SYSTEM_MAX, "sharing.system_too_long", "cross_department_system", "系统名称", "system name"
    )
    period, period_errs = period_errors(valid_from, valid_to)
    errors += period_errs
    errors += condition_errors(
        terms,
        scenario=scenario,
        basis=basis,
        key_municipal_work=key_municipal_work,
        cross_department_system=system,
    )
    raise_all(errors)
    assert period is not None  # no error: both days are valid
    first_day, last_day = period
    payload: dict[str, Any] = {
        "form": APPLICATION_FORM,
        "resource_code": terms.resource_code,
        "resource_name": terms.name,
        "consumer_org_id": consumer.id,
        "items": chosen,
        "scenario": scenario,
        "purpose": purpose,
        "basis": basis,
        "valid_from": first_day.isoformat(),
        "valid_to": last_day.isoformat(),
        "delivery_method": delivery_method,
        "key_municipal_work": bool(key_municipal_work),
        "cross_department_system": system or None,
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
