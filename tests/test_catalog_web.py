"""R6 R15 R22: the catalog's pages and API — search and entries as the visitor may see them, the officer's
editor with inline field errors, submission to the authority's case page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from catalog_fixtures import city, marriage, org, user
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.catalog import service
from gongshu.kernel.identity import sessions, tokens
from gongshu.kernel.identity.models import RoleAssignment, User
from gongshu.kernel.workflow import engine
from gongshu.web.app import create_app


@pytest.fixture()
def c(session: Session) -> dict[str, Any]:
    out = city(session)
    draft = service.create_draft(
        session, out["civil_officer"], marriage(name="收养登记信息", name_en="Adoption")
    )
    published = service.create_draft(session, out["civil_officer"], marriage())
    case = service.submit_for_review(session, out["civil_officer"], published.id)
    engine.decide(session, out["reviewer"], case.id, "approve")
    out["draft_code"], out["code"] = draft.resource_code, published.resource_code
    session.commit()
    return out


def _browser(session: Session, username: str) -> tuple[TestClient, str]:
    user = session.scalars(select(User).where(User.username == username)).one()
    raw, ws = sessions.start_session(session, user, ip=None, user_agent="pytest", second_factor_done=True)
    session.commit()
    client = TestClient(create_app())
    client.cookies.set("gs_session", raw)
    return client, ws.csrf_token


def test_r6_anonymous_searches_the_published_catalog(c: dict[str, Any]) -> None:
    client = TestClient(create_app())
    page = client.get("/catalog", params={"q": "婚"})
    assert page.status_code == 200 and c["code"] in page.text and c["draft_code"] not in page.text
    entry = client.get(f"/catalog/{c['code']}")
    assert entry.status_code == 200 and "id_number" in entry.text and "婚育服务一件事" in entry.text
    assert client.get(f"/catalog/{c['draft_code']}").status_code == 404
    api = client.get("/api/v1/catalog", params={"q": "marriage"}).json()
    assert [h["resource_code"] for h in api["hits"]] == [c["code"]]
    assert client.get(f"/api/v1/catalog/{c['draft_code']}").status_code == 404
    assert client.get(f"/api/v1/catalog/{c['code']}").json()["current_version"] == 1


def _form(**extra: str) -> dict[str, str]:
    form = {
        "catalog_kind": "government",
        "category_code": "A01-02-03-05",
        "name": "最低生活保障信息",
        "format": "csv",
        "update_cycle": "monthly",
        "grade": "general",
        "subject_kind": "person",
        "sharing_attribute": "unconditional",
        "sharing_methods": "api",
        "open_attribute": "not_open",
        "not_open_reason": "涉及个人信息",
        "items-0-name": "id_number",
        "items-0-label_zh": "身份证号码",
        "items-0-data_type": "id_number",
        "items-0-is_key": "on",
        "items-0-sensitivity": "personal",
        "items-1-name": "",
        "items-1-label_zh": "",
        "items-1-data_type": "string",
    }
    form.update(extra)
    return form


def test_r6_editor_shows_field_errors_inline(session: Session, c: dict[str, Any]) -> None:
    client, csrf = _browser(session, "civil_officer")
    assert client.get("/catalog/new").status_code == 200
    edit = client.get(f"/catalog/{c['code']}/edit")
    assert edit.status_code == 200 and 'name="reasons"' in edit.text and 'value="registered_on"' in edit.text
    bad = client.post(
        "/catalog/new",
        data=_form(csrf_token=csrf, **{"items-0-name": "ID Number"}, sharing_attribute="not_shared"),
    )
    assert bad.status_code == 422
    assert 'data-testid="error-items[0].name"' in bad.text and 'data-testid="error-legal_basis"' in bad.text
    assert "R18" in bad.text
    ok = client.post("/catalog/new", data=_form(csrf_token=csrf), follow_redirects=False)
    assert ok.status_code == 303
    code = ok.headers["location"].split("/")[2].split("?")[0]
    submitted = client.post(f"/catalog/{code}/submit", data={"csrf_token": csrf}, follow_redirects=False)
    assert submitted.status_code == 303 and submitted.headers["location"].startswith("/cases/")


def test_r6_api_create_lists_every_error(session: Session, c: dict[str, Any]) -> None:
    user = session.scalars(select(User).where(User.username == "civil_officer")).one()
    raw, _ = tokens.issue_token(session, user, name="pytest")
    session.commit()
    client = TestClient(create_app(), headers={"Authorization": f"Bearer {raw}"})
    body = marriage(category_code="bad", sharing_conditions=[]).model_dump()
    refused = client.post("/api/v1/catalog", json=body)
    assert refused.status_code == 422
    fields = {e["field"] for e in refused.json()["error"]["details"]["errors"]}
    assert fields == {"category_code", "sharing_conditions"}
    created = client.post("/api/v1/catalog", json=marriage().model_dump())
    assert created.status_code == 201 and created.json()["status"] == "draft"
    code = created.json()["resource_code"]
    assert client.post(f"/api/v1/catalog/{code}/submit").json()["status"] == "in_review"


def test_r6_api_and_editor_name_allowed_values_by_their_labels(session: Session, c: dict[str, Any]) -> None:
    user = session.scalars(select(User).where(User.username == "civil_officer")).one()
    raw, _ = tokens.issue_token(session, user, name="pytest")
    session.commit()
    api = TestClient(create_app(), headers={"Authorization": f"Bearer {raw}"})
    refused = api.post("/api/v1/catalog", json=marriage(subject_kind="robot", format="pdf").model_dump())
    assert refused.status_code == 422
    errors = {e["field"]: e for e in refused.json()["error"]["details"]["errors"]}
    assert errors["subject_kind"]["code"] == "catalog.subject_kind_invalid"
    assert errors["subject_kind"]["zh"] == "数据对象应为 自然人、法人、其他 之一"
    assert "Natural persons (person)" in errors["subject_kind"]["en"]
    assert errors["format"]["code"] == "catalog.format_invalid" and "Excel 工作簿" in errors["format"]["zh"]
    client, csrf = _browser(session, "civil_officer")
    page = client.post("/catalog/new", data=_form(csrf_token=csrf, update_cycle="hourly"))
    assert page.status_code == 422 and 'data-testid="error-update_cycle"' in page.text
    assert "实时、每日、每周" in page.text
    # The editor's lists and the entry page name formats and data types by the same labels.
    editor = client.get("/catalog/new").text
    assert ">CSV 文件</option>" in editor
    assert ">居民身份证号码</option>" in editor
    entry = client.get(f"/catalog/{c['code']}").text
    assert "<td>居民身份证号码</td>" in entry and "<td>id_number</td>" not in entry


def test_r9_change_form_needs_reasons_to_narrow(session: Session, c: dict[str, Any]) -> None:
    client, csrf = _browser(session, "civil_officer")
    form = client.get(f"/catalog/{c['code']}/edit")
    assert form.status_code == 200
    narrowing = _form(csrf_token=csrf, category_code="A01-02-03-04", legal_basis="")
    narrowing.update({"sharing_attribute": "not_shared", "legal_basis": "《婚姻登记条例》", "reasons": ""})
    refused = client.post(f"/catalog/{c['code']}/edit", data=narrowing)
    assert refused.status_code == 422 and 'data-testid="error-reasons"' in refused.text
    narrowing["reasons"] = "依据新规定收窄"
    done = client.post(f"/catalog/{c['code']}/edit", data=narrowing, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].endswith("done=change_proposed")
    page = client.get(done.headers["location"])
    assert (
        "婚姻登记信息" in page.text and "/cases/" in page.text
    )  # version 1 in force, the change under review


def test_r9_entry_and_versions_pages_link_only_cases_the_viewer_may_open(
    session: Session, c: dict[str, Any]
) -> None:
    """R5 R28: a published version's review case is open to its participants and the authority only; for
    anyone else /cases/{id} answers 404, so the entry and versions pages must not link to it."""
    outsider, _ = _browser(session, "police_officer")
    for path in (f"/catalog/{c['code']}", f"/catalog/{c['code']}/versions"):
        page = outsider.get(path)
        assert page.status_code == 200
        links = re.findall(r'href="(/cases/\d+)"', page.text)
        assert links == [], (path, links)
    owner, _ = _browser(session, "civil_officer")
    for path in (f"/catalog/{c['code']}", f"/catalog/{c['code']}/versions"):
        links = re.findall(r'href="(/cases/\d+)"', owner.get(path).text)
        assert links and all(owner.get(link).status_code == 200 for link in links)


def test_r6_catalog_officer_of_another_organisation_opens_the_new_entry_page(
    session: Session, c: dict[str, Any]
) -> None:
    """R5 R6: an administrator who is also catalog officer for another organisation (the operator, for
    the province's returned resources) is shown "New catalog entry"; the page must open, for that one."""
    operator = org(session, "operator", "operator", "信息中心", "Information Centre")
    u = user(session, "operator_admin", operator, "admin")
    session.add(RoleAssignment(user_id=u.user_id, organisation_id=c["police"].id, role="catalog_officer"))
    session.commit()
    client, _ = _browser(session, "operator_admin")
    assert 'href="/catalog/new"' in client.get("/catalog").text
    page = client.get("/catalog/new")
    assert page.status_code == 200, page.text
    assert f'<option value="{c["police"].id}" selected>' in page.text
