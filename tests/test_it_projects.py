"""R8: government IT projects — registered outputs and data needs, the acceptance check that blocks while
entries are not compiled, not published or hold no aggregated data, and government-cloud eligibility."""

from __future__ import annotations

from typing import Any

import pytest
from catalog_fixtures import city, marriage
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.catalog import projects, service
from gongshu.kernel.errors import Conflict, Forbidden, ValidationFailed
from gongshu.kernel.identity import sessions
from gongshu.kernel.identity.models import User
from gongshu.kernel.workflow import engine
from gongshu.store import service as store
from gongshu.web.app import create_app


@pytest.fixture()
def c(session: Session) -> dict[str, Any]:
    out = city(session)
    published = service.create_draft(session, out["civil_officer"], marriage())
    case = service.submit_for_review(session, out["civil_officer"], published.id)
    engine.decide(session, out["reviewer"], case.id, "approve")
    draft = service.create_draft(session, out["civil_officer"], marriage(name="收养登记信息"))
    out["published"], out["draft"] = published.resource_code, draft.resource_code
    session.commit()
    return out


def _project(session: Session, c: dict[str, Any]) -> Any:
    project = projects.register_project(
        session,
        c["civil_officer"],
        name="婚育一件事系统",
        outputs=[c["published"], c["draft"], "婚育服务办件信息"],
        data_needs=[c["published"]],
    )
    session.commit()
    return project


def test_r8_acceptance_blocked_while_entries_unpublished_or_without_data(
    session: Session, c: dict[str, Any]
) -> None:
    project = _project(session, c)
    missing = {m.what: m.code for m in projects.acceptance_check(session, project)}
    assert missing == {
        c["published"]: "it_project.no_data",
        c["draft"]: "it_project.not_published",
        "婚育服务办件信息": "it_project.not_compiled",
    }
    with pytest.raises(Conflict) as blocked:
        projects.request_acceptance(session, c["civil_officer"], project.id)
    assert blocked.value.code == "it_project.acceptance_blocked"
    assert {m["what"] for m in blocked.value.details["missing"]} == set(missing)
    assert project.status == "registered" and project.acceptance_case_id is None


def test_r8_acceptance_requested_once_nothing_is_missing(
    session: Session, c: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert store.has_data(session, c["published"]) is False  # no data store yet: "no data"
    project = projects.register_project(
        session, c["civil_officer"], name="婚姻登记系统", outputs=[c["published"]], data_needs=[]
    )
    monkeypatch.setattr(store, "has_data", lambda _session, code: code == c["published"])
    assert projects.acceptance_check(session, project) == []
    case = projects.request_acceptance(session, c["civil_officer"], project.id)
    session.commit()
    assert case.kind == "it_project_acceptance" and project.status == "acceptance_requested"
    assert case.title_en == "IT project acceptance check: 婚姻登记系统"  # R28: no English project name
    engine.decide(session, c["reviewer"], case.id, "approve")
    session.commit()
    assert project.status == "accepted"


def test_r8_registration_checks_outputs_and_needs(session: Session, c: dict[str, Any]) -> None:
    with pytest.raises(ValidationFailed) as need:
        projects.register_project(
            session, c["civil_officer"], name="x", outputs=["计划目录"], data_needs=[c["draft"]]
        )
    assert need.value.code == "it_project.need_unknown"
    with pytest.raises(ValidationFailed) as output:
        projects.register_project(session, c["police_officer"], name="x", outputs=[c["draft"]], data_needs=[])
    assert output.value.code == "it_project.output_unknown"
    with pytest.raises(Forbidden):
        projects.register_project(session, c["police_clerk"], name="x", outputs=["计划目录"], data_needs=[])


def test_r8_cloud_eligibility_needs_a_published_entry(session: Session, c: dict[str, Any]) -> None:
    eligible, reason = projects.cloud_eligibility(session, c["police"])
    assert eligible is False and reason.code == "cloud.no_catalog"
    eligible, reason = projects.cloud_eligibility(session, c["civil"])
    assert eligible is True and reason.code == "cloud.catalog_compiled"


def test_r8_project_and_cloud_pages(session: Session, c: dict[str, Any]) -> None:
    project = _project(session, c)
    officer = session.scalars(select(User).where(User.username == "civil_officer")).one()
    raw, ws = sessions.start_session(session, officer, ip=None, user_agent="pytest", second_factor_done=True)
    session.commit()
    client = TestClient(create_app())
    client.cookies.set("gs_session", raw)
    page = client.get(f"/catalog/projects/{project.id}")
    assert page.status_code == 200 and 'data-code="it_project.no_data"' in page.text
    refused = client.post(f"/catalog/projects/{project.id}/acceptance", data={"csrf_token": ws.csrf_token})
    assert refused.status_code == 409 and "R8" in refused.text
    assert "Acceptance check" in client.get(f"/catalog/projects/{project.id}?lang=en").text
    assert client.get("/catalog/projects/new").status_code == 200
    created = client.post(
        "/catalog/projects/new",
        data={
            "csrf_token": ws.csrf_token,
            "name": "民政数据中台",
            "outputs": "低保办件信息",
            "data_needs": "",
        },
        follow_redirects=False,
    )
    assert created.status_code == 303 and created.headers["location"].startswith("/catalog/projects/")
    assert "民政数据中台" in client.get("/catalog/projects").text
    cloud = client.get("/catalog/cloud")
    assert 'data-org="public_security" data-eligible="no"' in cloud.text
    assert 'data-org="civil_affairs" data-eligible="yes"' in cloud.text
