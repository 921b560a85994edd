"""Shared set-up for the catalog tests: a small city with officers, reviewers and a citizen."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from gongshu.catalog.schemas import EntryInput
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import Organisation, RoleAssignment, User
from gongshu.kernel.identity.service import build_actor


def org(
    session: Session, code: str, kind: str, name_zh: str = "", name_en: str = "", parent: int | None = None
) -> Organisation:
    o = Organisation(code=code, name_zh=name_zh or code, name_en=name_en, kind=kind, parent_id=parent)
    session.add(o)
    session.flush()
    return o


def user(session: Session, username: str, o: Organisation, *roles: str) -> Actor:
    u = User(username=username, display_name=username, organisation_id=o.id, password_hash="x")
    session.add(u)
    session.flush()
    for r in roles:
        session.add(RoleAssignment(user_id=u.id, organisation_id=o.id, role=r))
    session.flush()
    return build_actor(session, u)


def city(session: Session) -> dict[str, Any]:
    authority = org(session, "bigdata", "authority", "市大数据管理局", "Big Data Authority")
    civil = org(session, "civil_affairs", "department", "市民政局", "Civil Affairs Bureau")
    police = org(session, "public_security", "department", "市公安局", "Public Security Bureau")
    citizen_org = org(session, "p1", "person")
    out: dict[str, Any] = {
        "authority": authority,
        "civil": civil,
        "police": police,
        "civil_officer": user(session, "civil_officer", civil, "catalog_officer"),
        "police_officer": user(session, "police_officer", police, "catalog_officer"),
        "police_clerk": user(session, "police_clerk", police, "data_officer"),
        "reviewer": user(session, "reviewer", authority, "reviewer"),
        "citizen": user(session, "citizen", citizen_org, "public"),
    }
    session.commit()
    return out


def marriage(**overrides: Any) -> EntryInput:
    """A valid entry: civil affairs' marriage registrations (R11), about persons, keyed by ID number."""
    data: dict[str, Any] = {
        "catalog_kind": "government",
        "category_code": "A01-02-03-04",
        "name": "婚姻登记信息",
        "name_en": "Marriage registration",
        "summary": "本市办理的结婚、离婚登记记录。",
        "format": "csv",
        "topic": "民政",
        "keywords": ["婚姻", "登记"],
        "items": [
            {
                "name": "id_number",
                "label_zh": "身份证号码",
                "label_en": "ID number",
                "data_type": "id_number",
                "length": 18,
                "is_key": True,
                "sensitivity": "personal",
            },
            {
                "name": "registered_on",
                "label_zh": "登记日期",
                "label_en": "Registration date",
                "data_type": "date",
            },
        ],
        "sharing_attribute": "conditional",
        "sharing_conditions": [{"kind": "scenario", "value": "婚育服务一件事"}],
        "sharing_methods": ["api", "db_table"],
        "open_attribute": "on_application",
        "open_conditions": [{"kind": "usage_feedback", "value": "注明数据来源"}],
        "update_cycle": "daily",
        "grade": "important",
        "subject_kind": "person",
    }
    data.update(overrides)
    return EntryInput.model_validate(data)
