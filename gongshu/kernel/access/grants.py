"""R17, R26: grants — made when an application is approved, ending by themselves at the end of their
period, revocable by the provider or the authority, renewed only by a new application."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.kernel.access.models import Grant
from gongshu.kernel.access.policy import Action
from gongshu.kernel.access.service import decide
from gongshu.kernel.audit.service import record
from gongshu.kernel.errors import Conflict, Forbidden, NotFound, ValidationFailed
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.timeutil import now

METHODS = ("api", "db_table", "file", "stream")


def create_grant(
    session: Session,
    actor: Actor,
    *,
    consumer_org_id: int,
    resource_id: str,
    items: Sequence[str],
    scenario: str,
    delivery_method: str,
    valid_from: dt.datetime,
    valid_to: dt.datetime,
    purpose: str = "",
    row_filter: dict[str, list[object]] | None = None,
    origin: str = "sharing_application",
    case_id: int | None = None,
) -> Grant:
    """Create a grant (called by the services that approve applications; audited)."""
    if not items:
        raise ValidationFailed(
            "grant.items_required", "授权必须列明信息项", "A grant names its items", field="items"
        )
    if not scenario.strip():
        raise ValidationFailed(
            "grant.scenario_required", "授权必须列明应用场景", "A grant names its scenario", field="scenario"
        )
    if delivery_method not in METHODS:
        raise ValidationFailed(
            "grant.method_invalid",
            f"共享方式 {delivery_method} 无效",
            f"Unknown delivery method {delivery_method}",
            field="delivery_method",
        )
    if valid_to <= valid_from:
        raise ValidationFailed(
            "grant.period_invalid",
            "授权期限的结束时间必须晚于开始时间",
            "The grant period must end after it starts",
            field="valid_to",
        )
    grant = Grant(
        consumer_org_id=consumer_org_id,
        resource_id=resource_id,
        items=list(items),
        scenario=scenario.strip(),
        purpose=purpose,
        delivery_method=delivery_method,
        valid_from=valid_from,
        valid_to=valid_to,
        row_filter=row_filter or {},
        origin=origin,
        case_id=case_id,
    )
    session.add(grant)
    session.flush()
    record(
        session,
        actor,
        "grant.create",
        object_type="grant",
        object_id=grant.id,
        grant_id=grant.id,
        scenario=grant.scenario,
        detail={
            "consumer_org_id": consumer_org_id,
            "resource_id": resource_id,
            "items": list(items),
            "method": delivery_method,
            "valid_to": valid_to.isoformat(),
            "origin": origin,
        },
    )
    return grant


def revoke_grant(
    session: Session, actor: Actor, grant_id: int, *, reason: str, provider_org_id: int
) -> Grant:
    """R26: the provider (for its own resources) or the authority may revoke a grant, with reasons."""
    grant = session.get(Grant, grant_id)
    if grant is None:
        raise NotFound("grant.not_found", f"没有编号为 {grant_id} 的授权", f"No grant {grant_id}")
    if not decide(session, actor, Action.GRANT_REVOKE, org_id=provider_org_id).allowed:
        raise Forbidden(
            "grant.revoke_forbidden",
            "只有数据提供单位或主管部门可以撤销授权",
            "Only the provider or the authority may revoke a grant",
        )
    if not reason.strip():
        raise ValidationFailed(
            "grant.reason_required", "撤销授权必须说明理由", "Give the reason for revoking", field="reason"
        )
    if grant.revoked_at is not None:
        raise Conflict("grant.already_revoked", "该授权已被撤销", "The grant is already revoked")
    grant.revoked_at = now()
    grant.revoked_by_user_id = actor.user_id
    grant.revoke_reason = reason.strip()
    record(
        session,
        actor,
        "grant.revoke",
        object_type="grant",
        object_id=grant.id,
        grant_id=grant.id,
        detail={"reason": grant.revoke_reason},
    )
    return grant


def grant_state(grant: Grant, at: dt.datetime | None = None) -> str:
    """active, expired, revoked, or pending (its period has not begun)."""
    at = at or now()
    if grant.revoked_at is not None:
        return "revoked"
    if at > grant.valid_to:
        return "expired"
    if at < grant.valid_from:
        return "pending"
    return "active"


def grants_of(
    session: Session, *, consumer_org_id: int | None = None, resource_ids: Sequence[str] | None = None
) -> list[Grant]:
    stmt = select(Grant).order_by(Grant.valid_to.desc())
    if consumer_org_id is not None:
        stmt = stmt.where(Grant.consumer_org_id == consumer_org_id)
    if resource_ids is not None:
        stmt = stmt.where(Grant.resource_id.in_(list(resource_ids)))
    return list(session.scalars(stmt))
