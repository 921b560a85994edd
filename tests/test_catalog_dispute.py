"""R15 R17 R18: the authority disputes a provider's sharing attribute; agreement or the municipal
government's decision changes it as a new published version; the provider's attribute may also stand."""

from __future__ import annotations

from typing import Any

import pytest
from catalog_fixtures import city, marriage, org, user
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.catalog import dispute, service
from gongshu.catalog.models import CatalogEntry
from gongshu.kernel.crypto.seal import platform_key_ids, verify_sealed
from gongshu.kernel.errors import Forbidden, ValidationFailed
from gongshu.kernel.identity import sessions
from gongshu.kernel.identity.models import User
from gongshu.kernel.workflow import engine
from gongshu.web.app import create_app


@pytest.fixture()
def c(session: Session) -> dict[str, Any]:
    out = city(session)
    government = org(session, "gov", "municipal_government", "市人民政府")
    out["coordinator"] = user(session, "coordinator", out["authority"], "coordinator")
    out["mayor"] = user(session, "mayor", government, "decision_maker")
    entry = service.create_draft(session, out["civil_officer"], marriage())
    case = service.submit_for_review(session, out["civil_officer"], entry.id)
    engine.decide(session, out["reviewer"], case.id, "approve")
    out["code"] = entry.resource_code
    session.commit()
    return out


def _entry(session: Session, code: str) -> CatalogEntry:
    entry = session.scalars(select(CatalogEntry).where(CatalogEntry.resource_code == code)).one()
    session.refresh(entry)
    return entry


def test_r15_municipal_decision_imposes_the_proposed_attribute(session: Session, c: dict[str, Any]) -> None:
    case = dispute.open_dispute(
        session, c["reviewer"], c["code"], "unconditional", "婚姻登记信息应无条件共享，便于一件事办理"
    )
    session.commit()
    assert case.kind == "attribute_dispute" and case.parties == {"provider": c["civil"].id}
    assert case.title_en == "Sharing attribute dispute: Marriage registration"  # R28
    engine.decide(session, c["coordinator"], case.id, "escalate", "协商未果，提请市人民政府决定")
    session.commit()
    assert _entry(session, c["code"]).sharing_attribute == "conditional"
    engine.decide(session, c["mayor"], case.id, "approve", "同意改为无条件共享")
    session.commit()
    entry = _entry(session, c["code"])
    assert entry.sharing_attribute == "unconditional" and entry.sharing_conditions == []
    assert entry.current_version == 2
    latest = service.versions(session, entry)[-1]
    assert latest.case_id == case.id and latest.snapshot["sharing_attribute"] == "unconditional"
    assert case.status == "approved" and case.sealed_decision is not None
    assert verify_sealed(case.sealed_decision, platform_key_ids(session)).valid
    assert case.sealed_decision["document"]["step"] == "municipal_decision"


def test_r15_municipal_decision_leaves_the_providers_attribute(session: Session, c: dict[str, Any]) -> None:
    case = dispute.open_dispute(session, c["reviewer"], c["code"], "unconditional", "应无条件共享")
    engine.decide(session, c["coordinator"], case.id, "escalate", "协商未果")
    engine.decide(session, c["mayor"], case.id, "reject", "涉及个人信息，维持有条件共享")
    session.commit()
    entry = _entry(session, c["code"])
    assert case.status == "rejected" and case.sealed_decision is not None
    assert entry.sharing_attribute == "conditional" and entry.current_version == 1


def test_r15_provider_agrees_in_coordination(session: Session, c: dict[str, Any]) -> None:
    case = dispute.open_dispute(
        session,
        c["coordinator"],
        c["code"],
        "conditional",
        "条件应放宽至跨部门大平台",
        conditions=[{"kind": "cross_department_system", "value": "城市大脑"}],
    )
    engine.decide(session, c["coordinator"], case.id, "approve", "提供单位同意")
    session.commit()
    entry = _entry(session, c["code"])
    assert entry.sharing_conditions == [{"kind": "cross_department_system", "value": "城市大脑"}]
    assert entry.current_version == 2


def test_r18_dispute_to_not_shared_needs_legal_basis(session: Session, c: dict[str, Any]) -> None:
    with pytest.raises(ValidationFailed) as refused:
        dispute.open_dispute(session, c["reviewer"], c["code"], "not_shared", "涉及隐私")
    assert refused.value.code == "dispute.proposal_invalid" and refused.value.field == "legal_basis"
    with pytest.raises(ValidationFailed) as no_conditions:
        dispute.open_dispute(session, c["reviewer"], c["code"], "conditional", "x", conditions=[])
    assert no_conditions.value.code == "dispute.proposal_invalid"
    assert no_conditions.value.field == "sharing_conditions"
    with pytest.raises(ValidationFailed) as unchanged:
        dispute.open_dispute(
            session,
            c["reviewer"],
            c["code"],
            "conditional",
            "x",
            conditions=[{"kind": "scenario", "value": "婚育服务一件事"}],
        )
    assert unchanged.value.code == "dispute.nothing_changes"
    with pytest.raises(Forbidden):
        dispute.open_dispute(
            session, c["civil_officer"], c["code"], "not_shared", "x", legal_basis="《婚姻登记条例》"
        )
    case = dispute.open_dispute(
        session, c["reviewer"], c["code"], "not_shared", "涉及隐私", legal_basis="《婚姻登记条例》第十条"
    )
    assert case.payload["proposed"]["legal_basis"] == "《婚姻登记条例》第十条"


def test_r15_dispute_pages(session: Session, c: dict[str, Any]) -> None:
    reviewer = session.scalars(select(User).where(User.username == "reviewer")).one()
    raw, ws = sessions.start_session(session, reviewer, ip=None, user_agent="pytest", second_factor_done=True)
    session.commit()
    client = TestClient(create_app())
    client.cookies.set("gs_session", raw)
    assert client.get(f"/catalog/{c['code']}/dispute").status_code == 200
    refused = client.post(
        f"/catalog/{c['code']}/dispute",
        data={"csrf_token": ws.csrf_token, "proposed_attribute": "not_shared", "reasons": "涉及隐私"},
    )
    assert refused.status_code == 422 and "R18" in refused.text
    done = client.post(
        f"/catalog/{c['code']}/dispute",
        data={
            "csrf_token": ws.csrf_token,
            "proposed_attribute": "unconditional",
            "reasons": "应无条件共享",
            "sharing_methods": "api",
        },
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"].startswith("/cases/")
    listed = client.get("/catalog/disputes")
    assert listed.status_code == 200 and c["code"] in listed.text and "无条件共享" in listed.text
