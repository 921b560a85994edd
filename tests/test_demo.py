"""The demo city: every organisation R11 and R12 name, users for every role, public accounts."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.demo.load import DEMO_PASSWORD, load_demo
from gongshu.kernel.identity import service as identity
from gongshu.kernel.identity.models import Organisation, RoleAssignment
from gongshu.kernel.policy import service as policy


def test_r11_r12_demo_city_has_every_base_data_provider_and_every_role(
    db_clean: str, session: Session
) -> None:
    report = load_demo(db_clean)
    assert report.created and report.users > 100
    again = load_demo(db_clean)
    assert not again.created
    doc = policy.at(session).doc
    providers = {p for group in doc.base_data.values() for res in group for p in res.providers}
    codes = set(session.scalars(select(Organisation.code)))
    assert providers <= codes, providers - codes
    kinds = set(session.scalars(select(Organisation.kind)))
    assert {
        "authority",
        "operator",
        "municipal_government",
        "department",
        "public_service_org",
        "person",
        "legal_entity",
        "upstream",
    } <= kinds
    roles = set(session.scalars(select(RoleAssignment.role)))
    assert {
        "catalog_officer",
        "data_officer",
        "reviewer",
        "org_admin",
        "auditor",
        "pre_reviewer",
        "admin",
        "coordinator",
        "decision_maker",
        "public",
    } <= roles
    user = identity.authenticate(session, "civil_affairs.data", DEMO_PASSWORD)
    assert user.organisation.code == "civil_affairs"
    water = identity.get_org_by_code(session, "water")
    assert water.parent is not None and water.parent.code == "city_admin"
