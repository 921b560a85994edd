"""Shared set-up for the sharing tests: the store's small city, a provider reviewer at civil affairs, the
authority's coordinator, the municipal government, and a public service organisation that the police
bureau manages; `entry()` publishes a civil affairs resource with the given sharing terms."""

from __future__ import annotations

import datetime as dt
from typing import Any

from catalog_fixtures import org, user
from sqlalchemy.orm import Session
from store_fixtures import publish, store_city

from gongshu.kernel.identity.models import User
from gongshu.kernel.identity.service import build_actor
from gongshu.kernel.timeutil import today_china
from gongshu.sharing import applications


def sharing_city(session: Session) -> dict[str, Any]:
    c = store_city(session)
    government = org(session, "gov", "municipal_government", "市人民政府", "Municipal Government")
    c["civil_reviewer"] = user(session, "civil_reviewer", c["civil"], "reviewer")
    c["coordinator"] = user(session, "coordinator", c["authority"], "coordinator")
    c["mayor"] = user(session, "mayor", government, "decision_maker")
    c["hospital"] = org(
        session, "hospital", "public_service_org", "市第一医院", "First Hospital", c["police"].id
    )
    # The police bureau now manages the hospital (R5): its officer's actor knows it.
    c["police_clerk"] = build_actor(session, session.get(User, c["police_clerk"].user_id))
    session.commit()
    return c


def entry(session: Session, c: dict[str, Any], **overrides: Any) -> str:
    """A published civil affairs entry (conditional for the scenario 婚育服务一件事 by default)."""
    return publish(session, c, **overrides).resource_code


def ask(session: Session, c: dict[str, Any], code: str, **overrides: Any) -> Any:
    """A valid application by the police data officer, overridable field by field."""
    today = today_china()
    data: dict[str, Any] = {
        "resource_code": code,
        "items": ["id_number", "full_name"],
        "scenario": "婚育服务一件事",
        "purpose": "核验婚姻状况",
        "basis": "",
        "valid_from": today,
        "valid_to": today + dt.timedelta(days=90),
        "delivery_method": "api",
        "key_municipal_work": False,
        "cross_department_system": None,
    }
    data.update(overrides)
    actor = data.pop("actor", c["police_clerk"])
    return applications.apply(session, actor, **data)


def client_for(session: Session, username: str) -> tuple[Any, str]:
    """A test client logged in as `username`, and its session's CSRF token."""
    from page_fixtures import page_client

    return page_client(username, session=session)
