"""R7 R11 R12 R26 R28: default deny on two aggregation pages. The service-interface registration page (the
department's address, the legal basis, the parameter mapping) is for the provider's data officers and the
authority's supervisors: another department's data officer, the public's accounts and a platform auditor
get the answer for an unknown resource (404, the refusal audited) and none of its content. The base data
coverage is for the departments and the authority: the public's accounts are refused (and not offered the
link)."""

from __future__ import annotations

from typing import Any

import pytest
from catalog_fixtures import org, user
from page_fixtures import page_client
from sqlalchemy import select
from sqlalchemy.orm import Session
from store_fixtures import publish, store_city

from gongshu.aggregation import interface
from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.db import read_scope, session_scope

ADDRESS = "http://127.0.0.1:9/dept-api"
BASIS = "《婚姻登记条例》规定登记档案不得集中存储"


@pytest.fixture()
def c(session: Session) -> dict[str, Any]:
    out = store_city(session)
    out["code"] = publish(session, out).resource_code
    company = org(session, "c1", "legal_entity")
    user(session, "company", company, "public")
    user(session, "police_data", out["police"], "data_officer")
    user(session, "platform_auditor", out["authority"], "auditor")
    session.commit()
    with session_scope() as s:
        interface.register_interface(
            s,
            out["civil_clerk"],
            out["code"],
            base_url=ADDRESS,
            path_template="/records",
            params={"id_number": "id_number"},
            legal_basis=BASIS,
        )
    return out


@pytest.mark.parametrize("who", ["civil_clerk", "reviewer"])
def test_r26_the_provider_and_the_authority_see_the_interface_page(c: dict[str, Any], who: str) -> None:
    client, _ = page_client(who)
    page = client.get(f"/data/{c['code']}/interface")
    assert page.status_code == 200 and BASIS in page.text and ADDRESS in page.text


@pytest.mark.parametrize("who", ["police_clerk", "police_data", "citizen", "company", "platform_auditor"])
def test_r26_anyone_else_gets_nothing_of_the_interface_page(c: dict[str, Any], who: str) -> None:
    client, csrf = page_client(who)
    url = f"/data/{c['code']}/interface"
    page = client.get(url)
    assert page.status_code == 404 and 'data-testid="error-page"' in page.text
    assert BASIS not in page.text and ADDRESS not in page.text and "id_number" not in page.text
    assert "interface.resource_unknown" in page.text  # the answer for an unknown resource, word for word
    unknown = client.get("/data/NO-SUCH-CODE/interface")
    assert unknown.status_code == 404 and "interface.resource_unknown" in unknown.text
    posted = client.post(url, data={"csrf_token": csrf, "base_url": ADDRESS, "legal_basis": "x"})
    assert posted.status_code == 404 and BASIS not in posted.text
    with read_scope() as s:
        denied = s.scalars(
            select(AuditEntry).where(AuditEntry.object_id == c["code"], AuditEntry.outcome == "denied")
        ).all()
        assert len(denied) == 2 and all(e.detail["reason"] == "interface.page_forbidden" for e in denied)
        row = interface.get_interface(s, c["code"])
        assert row is not None and row.base_url == ADDRESS  # nothing changed by the refused post


def test_r26_the_data_home_links_the_interface_page_only_to_those_who_may_see_it(c: dict[str, Any]) -> None:
    link = f'href="/data/{c["code"]}/interface"'
    officer, _ = page_client("civil_clerk")
    assert link in officer.get("/data").text
    auditor, _ = page_client("platform_auditor")
    home = auditor.get("/data")
    assert home.status_code == 200 and f'href="/data/{c["code"]}/batches"' in home.text  # reads the reports
    assert link not in home.text


@pytest.mark.parametrize("who", ["citizen", "company"])
def test_r26_the_public_gets_nothing_of_the_base_coverage(c: dict[str, Any], who: str) -> None:
    client, _ = page_client(who)
    page = client.get("/data/base")
    assert page.status_code == 403 and "basedata.coverage_forbidden" in page.text
    assert 'data-testid="base-coverage"' not in page.text and "marriage" not in page.text
    assert 'data-testid="nav-base-data"' not in client.get("/").text


@pytest.mark.parametrize("who", ["police_clerk", "civil_officer", "reviewer", "platform_auditor"])
def test_r26_departments_and_the_authority_read_the_base_coverage(c: dict[str, Any], who: str) -> None:
    client, _ = page_client(who)
    page = client.get("/data/base")
    assert page.status_code == 200 and 'data-testid="base-coverage"' in page.text
    assert 'data-base="marriage"' in page.text and 'data-testid="nav-base-data"' in page.text


def test_r26_anonymous_visitors_are_sent_to_log_in(c: dict[str, Any]) -> None:
    from fastapi.testclient import TestClient

    from gongshu.web.app import create_app

    client = TestClient(create_app())
    for url in ("/data/base", f"/data/{c['code']}/interface"):
        answer = client.get(url, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
