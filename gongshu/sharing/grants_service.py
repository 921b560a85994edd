"""R16, R17, R26: grants as the consumers and providers see them — self-service grants for unconditional
data, the organisation's grants and the grants on its data, revocation with reasons, and renewal by a new
application prefilled from a grant."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.catalog.data_view import SharingTerms, resource_codes_of, sharing_terms
from gongshu.kernel.access import grants as access_grants
from gongshu.kernel.access.models import Grant
from gongshu.kernel.access.policy import Action
from gongshu.kernel.access.service import SCENARIO_MAX, decide
from gongshu.kernel.config import get_settings
from gongshu.kernel.errors import Conflict, Forbidden, NotFound, ValidationFailed
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import Organisation
from gongshu.kernel.timeutil import as_utc, now, today_china
from gongshu.kernel.workflow.models import Case
from gongshu.sharing import applications

ORIGIN_UNCONDITIONAL = "unconditional"
# A platform setting, not a statutory period: how long a self-service grant for unconditional data lasts
# before the consumer states its scenario again (GONGSHU_UNCONDITIONAL_GRANT_DAYS overrides it).
DEFAULT_UNCONDITIONAL_GRANT_DAYS = 365


def unconditional_grant_days() -> int:
    return int(getattr(get_settings(), "unconditional_grant_days", DEFAULT_UNCONDITIONAL_GRANT_DAYS))


@dataclass(frozen=True)
class GrantView:
    """A grant with its state (active, expired, revoked, pending) and the names it refers to."""

    grant: Grant
    state: str
    resource_name: str
    consumer_name: str
    provider_org_id: int | None
    may_revoke: bool = False


@dataclass(frozen=True)
class SelfService:
    """R16: what taking unconditional data recorded — a new grant, or the identical grant already in force
    (`created` False), with a notice saying which."""

    grant: Grant
    created: bool

    def notice(self, lang: str = "zh") -> str:
        g = self.grant
        until = today_china(as_utc(g.valid_to)).isoformat()
        if self.created:
            if lang.startswith("zh"):
                return f"已登记授权 #{g.id}，有效期至 {until}"
            return f"Grant #{g.id} recorded, valid until {until}"
        if lang.startswith("zh"):
            return f"已有相同的有效授权 #{g.id}（有效期至 {until}），未重复登记"
        return f"An identical grant #{g.id} is already in force (until {until}); nothing new was recorded"


def self_service(
    session: Session,
    actor: Actor,
    code: str,
    scenario: str,
    items: Sequence[str],
    method: str,
    consumer_org_id: int | None = None,
) -> Grant:
    """R16: unconditional data is obtained directly; the data officer records the scenario it is taken for,
    as a grant (origin "unconditional") that every later delivery names and that can be revoked (R26).
    Idempotent: the identical grant already in force is returned (see `take_unconditional`)."""
    return take_unconditional(session, actor, code, scenario, items, method, consumer_org_id).grant


def take_unconditional(
    session: Session,
    actor: Actor,
    code: str,
    scenario: str,
    items: Sequence[str],
    method: str,
    consumer_org_id: int | None = None,
) -> SelfService:
    """R16: record the scenario unconditional data is taken for — once. A second request for the same
    consumer, resource, scenario, items and method while an identical self-service grant is in force (a
    double submission, a form sent twice) returns that grant instead of making a twin. Requests of one
    consumer are serialised by a row lock on the consumer organisation (PostgreSQL; SQLite serialises
    writers at BEGIN IMMEDIATE), so two requests racing each other cannot both find none and both create
    one. Every field error is refused together (R17 `raise_all`)."""
    consumer = applications.consumer_of(session, actor, consumer_org_id)
    terms = sharing_terms(session, code)
    if not terms.published:
        raise ValidationFailed(
            "sharing.not_published",
            f"目录“{terms.name}”尚未发布",
            f"The entry {code} is not published",
            field="resource_code",
        )
    if terms.sharing_attribute == "not_shared":
        applications.check_attribute(terms)  # raises sharing.not_shared with the legal basis (R18)
    if terms.sharing_attribute != "unconditional":
        raise ValidationFailed(
            "sharing.conditional_apply",
            f"“{terms.name}”为有条件共享数据，须提出共享申请（R17）",
            f"{code} is shared on conditions: submit a sharing application (R17)",
            field="resource_code",
        )
    if consumer.id == terms.provider_org_id:
        raise ValidationFailed(
            "sharing.own_data",
            "数据提供单位直接使用本单位的数据，无需登记",
            "The provider uses its own data directly; nothing to record",
            field="resource_code",
        )
    chosen, errors = applications.item_and_method_errors(terms, items, method)
    scenario = (scenario or "").strip()
    if not scenario:
        errors.append(
            ValidationFailed(
                "sharing.scenario_required",
                "请填写应用场景",
                "State the application scenario",
                field="scenario",
            )
        )
    elif len(scenario) > SCENARIO_MAX:
        errors.append(
            ValidationFailed(
                "sharing.scenario_too_long",
                f"应用场景不能超过{SCENARIO_MAX}字（现为{len(scenario)}字）",
                f"The scenario may be at most {SCENARIO_MAX} characters (it has {len(scenario)})",
                field="scenario",
                details={"max": SCENARIO_MAX, "length": len(scenario)},
            )
        )
    applications.raise_all(errors, "sharing.self_service_invalid", "登记", "request")
    # One request of this consumer at a time from here to the commit: FOR NO KEY UPDATE, which leaves
    # the rows that merely refer to the organisation (cases, grants, audit entries) free to be written.
    session.execute(
        select(Organisation.id).where(Organisation.id == consumer.id).with_for_update(key_share=True)
    )
    existing = _identical_in_force(session, consumer.id, terms.resource_code, scenario, chosen, method)
    if existing is not None:
        return SelfService(existing, created=False)
    start = now()
    grant = access_grants.create_grant(
        session,
        actor,
        consumer_org_id=consumer.id,
        resource_id=terms.resource_code,
        items=chosen,
        scenario=scenario,
        delivery_method=method,
        valid_from=start,
        valid_to=start + dt.timedelta(days=unconditional_grant_days()),
        purpose=scenario,
        origin=ORIGIN_UNCONDITIONAL,
    )
    return SelfService(grant, created=True)


def _identical_in_force(
    session: Session, consumer_org_id: int, resource_id: str, scenario: str, items: Sequence[str], method: str
) -> Grant | None:
    """R16: the consumer's self-service grant in force for exactly this resource, scenario, items (in any
    order) and method, the earliest if there are several."""
    candidates = session.scalars(
        select(Grant)
        .where(
            Grant.consumer_org_id == consumer_org_id,
            Grant.resource_id == resource_id,
            Grant.scenario == scenario,
            Grant.delivery_method == method,
            Grant.origin == ORIGIN_UNCONDITIONAL,
            Grant.revoked_at.is_(None),
        )
        .order_by(Grant.id)
        .execution_options(populate_existing=True)
    )
    wanted = set(items)
    return next(
        (g for g in candidates if set(g.items) == wanted and grant_state(g) == "active"),
        None,
    )


def _views(session: Session, actor: Actor, grants: list[Grant]) -> list[GrantView]:
    terms: dict[str, SharingTerms | None] = {}
    orgs: dict[int, Organisation | None] = {}
    out: list[GrantView] = []
    for g in grants:
        if g.resource_id not in terms:
            try:
                terms[g.resource_id] = sharing_terms(session, g.resource_id)
            except NotFound:
                terms[g.resource_id] = None
        if g.consumer_org_id not in orgs:
            orgs[g.consumer_org_id] = session.get(Organisation, g.consumer_org_id)
        t, o = terms[g.resource_id], orgs[g.consumer_org_id]
        state = grant_state(g)
        provider = t.provider_org_id if t else None
        out.append(
            GrantView(
                grant=g,
                state=state,
                resource_name=t.name if t else g.resource_id,
                consumer_name=o.name_zh if o else str(g.consumer_org_id),
                provider_org_id=provider,
                may_revoke=state in ("active", "pending") and may_revoke(session, actor, provider),
            )
        )
    return out


def grant_state(grant: Grant, at: dt.datetime | None = None) -> str:
    """R26: active, expired, revoked or pending (instants read back from SQLite are naive UTC)."""
    at = at or now()
    if grant.revoked_at is not None:
        return "revoked"
    if at > as_utc(grant.valid_to):
        return "expired"
    if at < as_utc(grant.valid_from):
        return "pending"
    return "active"


def may_revoke(session: Session, actor: Actor, provider_org_id: int | None) -> bool:
    """R26: the provider (for its own resources) or the authority."""
    return (
        provider_org_id is not None
        and decide(session, actor, Action.GRANT_REVOKE, org_id=provider_org_id).allowed
    )


def my_grants(session: Session, actor: Actor) -> list[GrantView]:
    """R26: the grants of the organisations the actor acts for."""
    if actor.org_id is None:
        return []
    grants: list[Grant] = []
    for org_id in sorted({actor.org_id, *actor.managed_org_ids}):
        grants += access_grants.grants_of(session, consumer_org_id=org_id)
    return _views(session, actor, grants)


def provider_grants(session: Session, actor: Actor) -> list[GrantView]:
    """R26: the grants on the data the actor's organisations provide (every grant, for the authority)."""
    scope = decide(session, actor, Action.GRANT_REVOKE)
    if not scope.allowed:
        return []
    codes = resource_codes_of(session, None if scope.org_scope is None else set(scope.org_scope))
    if not codes:
        return []
    return _views(session, actor, access_grants.grants_of(session, resource_ids=codes))


def get_grant(session: Session, grant_id: int) -> Grant:
    grant = session.get(Grant, grant_id)
    if grant is None:
        raise NotFound("grant.not_found", f"没有编号为 {grant_id} 的授权", f"No grant {grant_id}")
    return grant


def revoke(session: Session, actor: Actor, grant_id: int, reason: str) -> Grant:
    """R26: the provider or the authority revokes a grant with written reasons (audited by the kernel)."""
    grant = get_grant(session, grant_id)
    provider = sharing_terms(session, grant.resource_id).provider_org_id
    return access_grants.revoke_grant(session, actor, grant_id, reason=reason, provider_org_id=provider)


def renew(session: Session, actor: Actor, grant_id: int, valid_to: dt.date) -> Case:
    """R17: a grant is renewed only by a new application, prefilled from the grant, made before it
    expires; the new period starts the day after the grant's last day (or today, if later)."""
    grant = get_grant(session, grant_id)
    if not actor.acts_for(grant.consumer_org_id):
        raise Forbidden(
            "sharing.renew_not_consumer",
            "只有获得授权的单位可以申请续期",
            "Only the organisation holding the grant may renew it",
        )
    state = grant_state(grant)
    if state in ("expired", "revoked"):
        raise Conflict(
            "sharing.renew_closed",
            "授权已过期或已撤销，不能续期；请重新提出共享申请",
            "The grant has expired or was revoked; submit a new application instead",
        )
    last_day = today_china(as_utc(grant.valid_to))
    start = max(today_china(), last_day + dt.timedelta(days=1))
    payload = _case_payload(session, grant)
    return applications.apply(
        session,
        actor,
        resource_code=grant.resource_id,
        items=list(grant.items),
        scenario=grant.scenario,
        purpose=grant.purpose or grant.scenario,
        basis=str(payload.get("basis", "")),
        valid_from=start,
        valid_to=valid_to,
        delivery_method=grant.delivery_method,
        key_municipal_work=bool(payload.get("key_municipal_work", False)),
        cross_department_system=payload.get("cross_department_system"),
        consumer_org_id=grant.consumer_org_id,
        renews_grant_id=grant.id,
    )


def _case_payload(session: Session, grant: Grant) -> dict[str, Any]:
    case = session.get(Case, grant.case_id) if grant.case_id is not None else None
    return dict(case.payload) if case is not None else {}
