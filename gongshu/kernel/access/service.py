"""The one access decision point. Every path asks it: may this actor do this, to which organisation's
things, and — for data — which items and rows, for which scenario, under which grant. Deny by default.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from gongshu.kernel.access.labels import refusal_messages
from gongshu.kernel.access.models import Grant
from gongshu.kernel.access.policy import ROLE_PERMISSIONS, Action
from gongshu.kernel.audit.service import record
from gongshu.kernel.db import core_connection
from gongshu.kernel.errors import Forbidden, ValidationFailed
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import GOVERNMENT_KINDS, PUBLIC_KINDS, Organisation, OrgKind, Role
from gongshu.kernel.timeutil import now

SCENARIO_MAX = 200
"""The longest scenario a grant (and the audit log) holds."""
DATA_ROLES = frozenset({Role.DATA_OFFICER.value, Role.CATALOG_OFFICER.value, Role.ORG_ADMIN.value})


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str  # a stable code: "access.allowed", "access.no_role", ...
    # Organisation ids the permission covers; None = every organisation (platform-wide).
    org_scope: frozenset[int] | None = frozenset()

    def covers(self, org_id: int | None) -> bool:
        return self.allowed and (self.org_scope is None or (org_id is not None and org_id in self.org_scope))


def _role_org_kinds(session: Session, actor: Actor) -> dict[int, str]:
    ids = {org_id for org_id, _ in actor.roles}
    if not ids:
        return {}
    rows = session.execute(select(Organisation.id, Organisation.kind).where(Organisation.id.in_(ids)))
    return {int(r[0]): str(r[1]) for r in rows}


def decide(session: Session, actor: Actor, action: Action | str, *, org_id: int | None = None) -> Decision:
    """R5: may the actor perform `action` (on things of organisation `org_id`, if given)?"""
    if actor.is_system:
        return Decision(True, "access.system", None)
    action = Action(action)
    kinds = _role_org_kinds(session, actor)
    scope: set[int] = set()
    platform_wide = False
    for held_org, role_name in actor.roles:
        try:
            role = Role(role_name)
        except ValueError:
            continue
        for perm in ROLE_PERMISSIONS.get(role, ()):
            if perm.action != action:
                continue
            kind = kinds.get(held_org)
            if perm.held_at is not None and (kind is None or OrgKind(kind) not in perm.held_at):
                continue
            if perm.platform_wide:
                platform_wide = True
            else:
                scope.add(held_org)
                if held_org == actor.org_id:
                    scope.update(actor.managed_org_ids)
    if platform_wide:
        return Decision(True, "access.allowed", None)
    if not scope:
        return Decision(False, "access.no_role", frozenset())
    if org_id is not None and org_id not in scope:
        return Decision(False, "access.other_organisation", frozenset(scope))
    return Decision(True, "access.allowed", frozenset(scope))


def require(session: Session, actor: Actor, action: Action | str, *, org_id: int | None = None) -> Decision:
    """`decide`, raising Forbidden (with a Chinese and English message) when refused."""
    decision = decide(session, actor, action, org_id=org_id)
    if not decision.allowed:
        if decision.reason == "access.other_organisation":
            raise Forbidden(
                decision.reason,
                "无权操作其他单位的数据或事项",
                "You may not act on another organisation's things",
            )
        zh, en = refusal_messages(Action(action).value)  # R28: the action in words, never its code
        raise Forbidden(decision.reason, zh, en)
    return decision


# ---- data ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataResource:
    """What the decision point needs to know about a data resource (a published catalog entry)."""

    resource_id: str
    provider_org_id: int
    sharing_attribute: str  # unconditional, conditional, not_shared (R15)
    open_attribute: str  # general, on_application, not_open (R22)
    items: tuple[str, ...]
    personal_items: tuple[str, ...] = ()
    published: bool = True
    emergency_event_id: str | None = None


@dataclass(frozen=True)
class DataDecision:
    allowed: bool
    reason: str
    items: tuple[str, ...] = ()
    row_filter: dict[str, list[object]] = field(default_factory=dict)
    grant_id: int | None = None
    scenario: str | None = None
    basis: str = ""  # provider, unconditional, grant, open_general, open_grant


MESSAGES: dict[str, tuple[str, str]] = {
    "access.anonymous": ("请登录后访问该数据", "Log in to use this data"),
    "access.not_published": ("该资源尚未发布", "The resource is not published"),
    "access.not_shared": ("该数据暂不共享（R18），任何单位不得获取", "This data is not shared (R18)"),
    "access.scenario_required": ("请说明使用该数据的应用场景", "State the scenario the data is for"),
    "access.no_data_role": ("当前账号没有数据使用角色", "Your account holds no data role"),
    "access.no_grant": ("没有有效的共享授权，请先提出共享申请", "No grant covers this; apply first"),
    "access.scenario_mismatch": (
        "授权的应用场景与本次请求不符（R26）",
        "The grant is for another scenario (R26)",
    ),
    "access.method_mismatch": ("授权的共享方式与本次请求不符", "The grant is for another delivery method"),
    "access.items_not_granted": ("请求了未获授权的信息项", "Items requested outside the grant"),
    "access.grant_expired": ("共享授权已过期", "The grant has expired"),
    "access.grant_revoked": ("共享授权已被撤销", "The grant has been revoked"),
    "access.not_open": ("该数据不向社会开放", "This data is not open to the public"),
    "access.no_rule": ("没有允许该访问的规则", "No rule allows this access"),
    "access.emergency_only": (
        "该数据为突发事件应急数据（R21），仅限该事件的应急处置单位在事件处置期间使用",
        "Emergency data (R21): only the event's responders may use it, and only while the event is open",
    ),
}


def _deny(reason: str) -> DataDecision:
    return DataDecision(False, reason)


def _check_items(requested: Iterable[str] | None, allowed: Iterable[str]) -> tuple[str, ...] | None:
    allowed_t = tuple(allowed)
    if requested is None:
        return allowed_t
    req = tuple(requested)
    if not set(req) <= set(allowed_t):
        return None
    return req


_GRANTS_OF = (
    select(
        Grant.id,
        Grant.scenario,
        Grant.delivery_method,
        Grant.revoked_at,
        Grant.valid_from,
        Grant.valid_to,
        Grant.items,
        Grant.row_filter,
    )
    .where(Grant.consumer_org_id == bindparam("org"), Grant.resource_id == bindparam("resource"))
    .order_by(Grant.id)
)


def _grant_decision(
    session: Session,
    actor: Actor,
    resource: DataResource,
    scenario: str,
    items: Iterable[str] | None,
    method: str,
    at: dt.datetime,
    grant_id: int | None = None,
) -> DataDecision:
    """R17, R26: a grant covers consumer × resource × items × scenario × period × method. Several grants
    may cover the same request (an application approved twice, a repeated self-service): the earliest
    that covers it answers, the same on every backend — unless `grant_id` names the grant to decide
    under (R19: a delivery made under a grant), when only that grant counts."""
    if actor.org_id is None:
        return _deny("access.no_grant")
    # The grant's columns only (no ORM objects): read on every request, never cached (a revocation or
    # an expiry holds from the next request on).
    grants = (
        core_connection(session)
        .execute(_GRANTS_OF, {"org": actor.org_id, "resource": resource.resource_id})
        .all()
    )
    if grant_id is not None:
        grants = [g for g in grants if g[0] == grant_id]
    if not grants:
        return _deny("access.no_grant")
    best = "access.scenario_mismatch"
    for grant_id, g_scenario, g_method, revoked_at, valid_from, valid_to, g_items, g_filter in grants:
        if g_scenario != scenario:
            continue
        if g_method != method:
            best = "access.method_mismatch"
            continue
        if revoked_at is not None:
            best = "access.grant_revoked"
            continue
        if not (valid_from <= at <= valid_to):
            best = "access.grant_expired"
            continue
        chosen = _check_items(items, [i for i in g_items if i in resource.items])
        if chosen is None:
            best = "access.items_not_granted"
            continue
        return DataDecision(True, "access.allowed", chosen, dict(g_filter), grant_id, scenario, "grant")
    return _deny(best)


def decide_data(
    session: Session,
    actor: Actor,
    resource: DataResource,
    *,
    scenario: str | None,
    items: Iterable[str] | None = None,
    method: str = "api",
    at: dt.datetime | None = None,
    grant_id: int | None = None,
) -> DataDecision:
    """R15–R18, R22, R26: which items and rows of `resource` may `actor` have, for `scenario`, by `method`?

    R19, R26: `grant_id` asks about one grant — a delivery made under that grant (a database table, a
    file package): only that grant can allow it, so another grant covering the same request does not
    answer for it (nor for its revocation or expiry), and an unconditional resource's direct use does
    not stand in for it either."""
    at = at or now()
    scenario = (scenario or "").strip() or None
    if not resource.published:
        return _deny("access.not_published")
    if resource.emergency_event_id is not None:
        return _decide_emergency(session, actor, resource, scenario, items, at, grant_id)
    # The provider uses its own data (R5: a department acts for the organisations it manages).
    if (
        not actor.is_anonymous
        and actor.acts_for(resource.provider_org_id)
        and actor.role_names() & DATA_ROLES
    ):
        chosen = _check_items(items, resource.items)
        if chosen is None:
            return _deny("access.items_not_granted")
        return DataDecision(True, "access.allowed", chosen, {}, None, scenario, "provider")
    if resource.sharing_attribute == "not_shared" and resource.open_attribute != "general":
        return _deny("access.not_shared")
    if actor.is_anonymous or (actor.org_kind in {k.value for k in PUBLIC_KINDS}):
        return _decide_public(session, actor, resource, scenario, items, method, at, grant_id)
    if actor.org_kind not in {k.value for k in GOVERNMENT_KINDS}:
        return _deny("access.no_rule")
    if resource.sharing_attribute == "not_shared":
        return _deny("access.not_shared")
    if scenario is None:
        return _deny("access.scenario_required")
    if not actor.role_names() & {Role.DATA_OFFICER.value}:
        return _deny("access.no_data_role")
    if resource.sharing_attribute == "unconditional":
        # R16: obtained directly, for a stated scenario; still decided here and audited by the caller.
        grant = _grant_decision(session, actor, resource, scenario, items, method, at, grant_id)
        if grant.allowed or grant_id is not None:
            return grant
        chosen = _check_items(items, resource.items)
        if chosen is None:
            return _deny("access.items_not_granted")
        return DataDecision(True, "access.allowed", chosen, {}, None, scenario, "unconditional")
    if resource.sharing_attribute == "conditional":
        return _grant_decision(session, actor, resource, scenario, items, method, at, grant_id)
    return _deny("access.no_rule")


def _decide_emergency(
    session: Session,
    actor: Actor,
    resource: DataResource,
    scenario: str | None,
    items: Iterable[str] | None,
    at: dt.datetime,
    grant_id: int | None = None,
) -> DataDecision:
    """R21: data collected for an emergency is used only for it — by the data officers of the event's
    responders, through the grant (origin "emergency") opening the event or adding a responder made,
    for the event's scenario, while the event is open (closing it revokes the grants). Any delivery
    method; nobody else, not even the provider by its own role."""
    if actor.is_anonymous or actor.org_id is None or not actor.role_names() & {Role.DATA_OFFICER.value}:
        return _deny("access.emergency_only")
    grants = session.scalars(
        select(Grant)
        .where(
            Grant.consumer_org_id == actor.org_id,
            Grant.resource_id == resource.resource_id,
            Grant.origin == "emergency",
            Grant.revoked_at.is_(None),
        )
        .order_by(Grant.id)
    )
    for g in grants:
        if grant_id is not None and g.id != grant_id:
            continue
        if not (g.valid_from <= at <= g.valid_to) or (scenario is not None and scenario != g.scenario):
            continue
        chosen = _check_items(items, [i for i in g.items if i in resource.items])
        if chosen is None:
            return _deny("access.items_not_granted")
        return DataDecision(True, "access.allowed", chosen, dict(g.row_filter), g.id, g.scenario, "emergency")
    return _deny("access.emergency_only")


def _decide_public(
    session: Session,
    actor: Actor,
    resource: DataResource,
    scenario: str | None,
    items: Iterable[str] | None,
    method: str,
    at: dt.datetime,
    grant_id: int | None = None,
) -> DataDecision:
    """R22, R23: the public gets generally open data (personal items only after de-identification, which
    the opening service applies, so they are withheld here) and on-application data under a grant."""
    public_items = tuple(i for i in resource.items if i not in resource.personal_items)
    if resource.open_attribute == "general":
        chosen = _check_items(items, public_items)
        if chosen is None:
            return _deny("access.items_not_granted")
        return DataDecision(True, "access.allowed", chosen, {}, None, scenario, "open_general")
    if resource.open_attribute == "on_application":
        if actor.is_anonymous:
            return _deny("access.anonymous")
        if scenario is None:
            return _deny("access.scenario_required")
        decision = _grant_decision(session, actor, resource, scenario, items, method, at, grant_id)
        if decision.allowed:
            return DataDecision(
                True,
                decision.reason,
                tuple(i for i in decision.items if i in public_items),
                decision.row_filter,
                decision.grant_id,
                scenario,
                "open_grant",
            )
        return decision
    return _deny("access.not_open")


def enforce_data(
    session: Session,
    actor: Actor,
    resource: DataResource,
    *,
    scenario: str | None,
    items: Iterable[str] | None = None,
    method: str = "api",
    path: str = "",
    at: dt.datetime | None = None,
) -> DataDecision:
    """Decide; a refusal is raised as AccessDenied, which carries its audit entry: the web layer (and any
    other caller, through `record_denial`) writes it in a transaction of its own, after the caller's
    transaction has rolled back, so that every refused attempt is in the log. An allowed read is audited
    by the caller once it knows which records it returned (R26 data tracker). A stated scenario longer
    than any grant's (`SCENARIO_MAX`) names none: refused as malformed (422), before any decision."""
    if scenario is not None and len(scenario) > SCENARIO_MAX:
        raise ValidationFailed(
            "access.scenario_invalid",
            f"使用场景最多 {SCENARIO_MAX} 个字符",
            f"A scenario holds at most {SCENARIO_MAX} characters",
            field="scenario",
        )
    decision = decide_data(session, actor, resource, scenario=scenario, items=items, method=method, at=at)
    if not decision.allowed:
        zh, en = MESSAGES.get(decision.reason, MESSAGES["access.no_rule"])
        raise AccessDenied(
            decision.reason,
            zh,
            en,
            actor=actor,
            resource_id=resource.resource_id,
            scenario=scenario,
            detail={
                "reason": decision.reason,
                "method": method,
                "path": path,
                "items": list(items) if items is not None else None,
            },
        )
    return decision


class AccessDenied(Forbidden):
    """A refused data access, with what the audit log must record about it."""

    def __init__(
        self,
        code: str,
        zh: str,
        en: str,
        *,
        actor: Actor,
        resource_id: str,
        scenario: str | None,
        detail: dict[str, object],
    ) -> None:
        super().__init__(code, zh, en)
        self.actor = actor
        self.resource_id = resource_id
        self.scenario = scenario
        self.audit_detail = detail


def record_denial(session: Session, exc: AccessDenied) -> None:
    """Write the audit entry of a refused data access (call in a fresh transaction)."""
    record(
        session,
        exc.actor,
        "data.read",
        object_type="resource",
        object_id=exc.resource_id,
        outcome="denied",
        scenario=exc.scenario,
        detail=dict(exc.audit_detail),
    )
