"""The one access decision point: deny by default; data by sharing attribute, grant, scenario, items,
period, method (R15–R18, R22, R26)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.kernel.access.grants import create_grant, revoke_grant
from gongshu.kernel.access.policy import Action
from gongshu.kernel.access.service import (
    AccessDenied,
    DataResource,
    decide,
    decide_data,
    enforce_data,
    record_denial,
)
from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.errors import Forbidden
from gongshu.kernel.identity.actor import ANONYMOUS, SYSTEM, Actor
from gongshu.kernel.identity.models import Organisation
from gongshu.kernel.timeutil import now


def _org(session: Session, code: str, kind: str, parent: int | None = None) -> Organisation:
    org = Organisation(code=code, name_zh=code, kind=kind, parent_id=parent)
    session.add(org)
    session.flush()
    return org


@pytest.fixture()
def city(session: Session) -> dict[str, Organisation]:
    orgs = {
        "authority": _org(session, "authority", "authority"),
        "operator": _org(session, "operator", "operator"),
        "police": _org(session, "police", "department"),
        "civil": _org(session, "civil", "department"),
        "health": _org(session, "health", "department"),
        "person": _org(session, "p1", "person"),
    }
    orgs["water"] = _org(session, "water", "public_service_org", orgs["civil"].id)
    session.commit()
    return orgs


def _actor(org: Organisation, *roles: str, managed: frozenset[int] = frozenset()) -> Actor:
    return Actor(
        user_id=None,
        username=f"u{org.code}",
        org_id=org.id,
        org_kind=org.kind,
        org_code=org.code,
        roles=frozenset((org.id, r) for r in roles),
        managed_org_ids=managed,
    )


def _resource(provider: Organisation, sharing: str, open_attr: str = "not_open") -> DataResource:
    return DataResource(
        resource_id=f"res-{sharing}",
        provider_org_id=provider.id,
        sharing_attribute=sharing,
        open_attribute=open_attr,
        items=("id_number", "name", "marriage_date"),
        personal_items=("id_number", "name"),
    )


def test_r5_admin_actions_deny_by_default(session: Session, city: dict[str, Organisation]) -> None:
    nobody = _actor(city["civil"])
    assert not decide(session, nobody, Action.POLICY_LOAD).allowed
    assert not decide(session, ANONYMOUS, Action.AUDIT_READ).allowed
    # An admin role held at a department is not the platform administrator.
    dept_admin = _actor(city["civil"], "admin")
    assert not decide(session, dept_admin, Action.POLICY_LOAD).allowed
    op_admin = _actor(city["operator"], "admin")
    assert decide(session, op_admin, Action.CALENDAR_LOAD).org_scope is None
    with pytest.raises(Forbidden):
        from gongshu.kernel.access.service import require

        require(session, nobody, Action.USER_MANAGE)


def test_r5_department_acts_for_the_organisations_it_manages(
    session: Session, city: dict[str, Organisation]
) -> None:
    civil = _actor(city["civil"], "catalog_officer", managed=frozenset({city["water"].id}))
    assert decide(session, civil, Action.CATALOG_COMPILE, org_id=city["water"].id).allowed
    d = decide(session, civil, Action.CATALOG_COMPILE, org_id=city["police"].id)
    assert not d.allowed and d.reason == "access.other_organisation"
    auditor = _actor(city["civil"], "auditor")
    assert decide(session, auditor, Action.AUDIT_READ).org_scope == frozenset({city["civil"].id})
    assert decide(session, _actor(city["authority"], "auditor"), Action.AUDIT_READ).org_scope is None


def test_r18_not_shared_data_is_delivered_to_nobody_but_its_provider(
    session: Session, city: dict[str, Organisation]
) -> None:
    res = _resource(city["civil"], "not_shared")
    police = _actor(city["police"], "data_officer")
    assert decide_data(session, police, res, scenario="x").reason == "access.not_shared"
    assert decide_data(session, ANONYMOUS, res, scenario="x").reason == "access.not_shared"
    own = decide_data(session, _actor(city["civil"], "data_officer"), res, scenario=None)
    assert own.allowed and own.basis == "provider"


def test_r16_unconditional_needs_a_scenario_and_a_data_role(
    session: Session, city: dict[str, Organisation]
) -> None:
    res = _resource(city["civil"], "unconditional")
    police = _actor(city["police"], "data_officer")
    assert decide_data(session, police, res, scenario=" ").reason == "access.scenario_required"
    assert decide_data(session, _actor(city["police"], "auditor"), res, scenario="s").reason == (
        "access.no_data_role"
    )
    ok = decide_data(session, police, res, scenario="户籍核验", items=["name"])
    assert ok.allowed and ok.items == ("name",) and ok.basis == "unconditional"
    assert decide_data(session, police, res, scenario="s", items=["salary"]).reason == (
        "access.items_not_granted"
    )
    assert decide_data(session, ANONYMOUS, res, scenario="s").reason == "access.not_open"


def test_r17_r26_conditional_data_only_under_a_matching_live_grant(
    session: Session, city: dict[str, Organisation]
) -> None:
    res = _resource(city["civil"], "conditional")
    police = _actor(city["police"], "data_officer")
    health = _actor(city["health"], "data_officer")
    assert decide_data(session, police, res, scenario="婚姻核验").reason == "access.no_grant"
    t0 = now()
    grant = create_grant(
        session,
        SYSTEM,
        consumer_org_id=city["police"].id,
        resource_id=res.resource_id,
        items=["id_number", "marriage_date"],
        scenario="婚姻核验",
        delivery_method="api",
        valid_from=t0 - dt.timedelta(days=1),
        valid_to=t0 + dt.timedelta(days=30),
    )
    session.commit()
    ok = decide_data(session, police, res, scenario="婚姻核验")
    assert ok.allowed and ok.grant_id == grant.id and ok.items == ("id_number", "marriage_date")
    assert decide_data(session, police, res, scenario="其他场景").reason == "access.scenario_mismatch"
    assert decide_data(session, police, res, scenario="婚姻核验", items=["name"]).reason == (
        "access.items_not_granted"
    )
    assert decide_data(session, police, res, scenario="婚姻核验", method="stream").reason == (
        "access.method_mismatch"
    )
    assert decide_data(session, health, res, scenario="婚姻核验").reason == "access.no_grant"
    later = t0 + dt.timedelta(days=31)
    assert decide_data(session, police, res, scenario="婚姻核验", at=later).reason == "access.grant_expired"
    with pytest.raises(Forbidden):
        revoke_grant(session, health, grant.id, reason="x", provider_org_id=city["civil"].id)
    revoke_grant(
        session,
        _actor(city["civil"], "data_officer"),
        grant.id,
        reason="场景结束",
        provider_org_id=city["civil"].id,
    )
    session.commit()
    assert decide_data(session, police, res, scenario="婚姻核验").reason == "access.grant_revoked"


def test_r22_public_gets_general_open_data_without_personal_items(
    session: Session, city: dict[str, Organisation]
) -> None:
    res = _resource(city["civil"], "unconditional", "general")
    d = decide_data(session, ANONYMOUS, res, scenario=None)
    assert d.allowed and d.items == ("marriage_date",)
    assert decide_data(session, ANONYMOUS, res, scenario=None, items=["name"]).reason == (
        "access.items_not_granted"
    )
    on_app = _resource(city["civil"], "conditional", "on_application")
    assert decide_data(session, ANONYMOUS, on_app, scenario="研究").reason == "access.anonymous"
    person = _actor(city["person"], "public")
    assert decide_data(session, person, on_app, scenario="研究").reason == "access.no_grant"


def test_r26_every_refused_attempt_is_audited(session: Session, city: dict[str, Organisation]) -> None:
    res = _resource(city["civil"], "conditional")
    police = _actor(city["police"], "data_officer")
    with pytest.raises(AccessDenied) as caught:
        enforce_data(session, police, res, scenario="婚姻核验", path="/api/v1/data")
    session.rollback()
    record_denial(session, caught.value)
    session.commit()
    entry = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc())).first()
    assert entry is not None and entry.outcome == "denied" and entry.object_id == res.resource_id
    assert entry.detail["reason"] == "access.no_grant" and entry.actor_org_id == city["police"].id
