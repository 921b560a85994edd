"""The workflow over real HTTP: the inbox page (R17, R14, R23 periods; overdue rows in red), the case page
with its decision and dispute forms (R17, R15), attachments, notifications, and the workflow API."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from test_workflow import World, build_world, sharing_application

from gongshu.kernel.crypto.seal import verify_sealed
from gongshu.kernel.identity import service as identity
from gongshu.kernel.identity import sessions, tokens
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.timeutil import freeze
from gongshu.kernel.workflow import attachments, engine
from gongshu.kernel.workflow.models import Case
from gongshu.web.app import create_app
from gongshu.web.deps import SESSION_COOKIE


@pytest.fixture()
def world(session: Session) -> World:
    return build_world(session)


def browser(session: Session, actor: Actor, lang: str = "zh") -> tuple[TestClient, str]:
    """A client logged in as the actor (a fresh web session); returns it with the session's CSRF token."""
    user = identity.get_user(session, actor.user_id)  # type: ignore[arg-type]
    raw, web_session = sessions.start_session(
        session, user, ip=None, user_agent="pytest", second_factor_done=True
    )
    session.commit()
    client = TestClient(create_app())
    client.cookies.set(SESSION_COOKIE, raw)
    client.cookies.set("gs_lang", lang)
    return client, web_session.csrf_token


def api(session: Session, actor: Actor) -> TestClient:
    user = identity.get_user(session, actor.user_id)  # type: ignore[arg-type]
    raw, _ = tokens.issue_token(session, user, name="workflow test")
    session.commit()
    return TestClient(create_app(), headers={"Authorization": f"Bearer {raw}"})


def reread(session: Session, case_id: int) -> Case:
    """The case as the server left it; ends the test's read so that the server may write again (SQLite)."""
    session.expire_all()
    case = session.get(Case, case_id)
    assert case is not None
    _ = case.steps
    session.commit()
    return case


def rows_of(html: str) -> list[str]:
    table = html.split('data-testid="inbox"', 1)[1].split("</table>", 1)[0]
    return re.findall(r"<tr class=\"sla-row-[a-z_]+\".*?</tr>", table, flags=re.S)


def test_r17_inbox_page_sorted_by_due_day_with_overdue_rows_marked(session: Session, world: World) -> None:
    freeze(dt.datetime(2026, 9, 28, 10, 0))
    early = engine.submit(session, world.consumer, "catalog_publication", title="公交线路目录", subject_id=1)
    freeze(dt.datetime(2026, 10, 9, 10, 0))
    late = engine.submit(session, world.consumer, "catalog_publication", title="停车场目录", subject_id=2)
    session.commit()
    freeze(dt.datetime(2026, 10, 12, 10, 0))  # the first is overdue (due 9 October), the second is not
    client, _ = browser(session, world.authority_reviewer)
    page = client.get("/inbox")
    assert page.status_code == 200
    rows = rows_of(page.text)
    assert [early.number in rows[0], late.number in rows[1]] == [True, True]
    assert "sla-row-overdue" in rows[0] and "已超期" in rows[0]
    assert "sla-row-on_time" in rows[1] and "已超期" not in rows[1]
    assert 'data-testid="nav-my-cases"' in page.text and "我的申请" in page.text

    english = client.get("/inbox?lang=en")
    assert "Overdue" in rows_of(english.text)[0] and "Catalog publication" in english.text


def test_r17_inbox_due_soon_rows_are_amber(session: Session, world: World) -> None:
    freeze(dt.datetime(2026, 9, 28, 10, 0))
    case = sharing_application(session, world)
    freeze(dt.datetime(2026, 10, 9, 10, 0))
    client, _ = browser(session, world.provider_reviewer)
    rows = rows_of(client.get("/inbox").text)
    assert len(rows) == 1 and case.number in rows[0]
    assert "sla-row-due_soon" in rows[0] and "即将到期" in rows[0] and "2026-10-10" in rows[0]


def test_anonymous_inbox_redirects_to_login(db_clean: str) -> None:
    response = TestClient(create_app()).get("/inbox", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_r17_case_page_refuses_a_return_without_reasons_and_seals_a_refusal(
    session: Session, world: World
) -> None:
    case = sharing_application(session, world)
    client, csrf = browser(session, world.provider_reviewer)
    page = client.get(f"/cases/{case.id}")
    assert page.status_code == 200 and 'data-testid="decision-form"' in page.text
    assert "数据提供单位审核" in page.text and "主管部门审核" in page.text

    refused = client.post(
        f"/cases/{case.id}/decision", data={"csrf_token": csrf, "decision": "return", "reasons": " "}
    )
    assert refused.status_code == 422 and "必须填写书面理由" in refused.text
    assert reread(session, case.id).status == "in_review"

    no_csrf = client.post(f"/cases/{case.id}/decision", data={"decision": "reject", "reasons": "x"})
    assert no_csrf.status_code == 403

    done = client.post(
        f"/cases/{case.id}/decision",
        data={"csrf_token": csrf, "decision": "reject", "reasons": "申请场景不属于共享条件所列场景"},
        files={"file": ("审核意见.txt", "不予共享".encode(), "text/plain")},
        follow_redirects=False,
    )
    assert done.status_code == 303
    shown = client.get(done.headers["location"])
    assert 'data-status="rejected"' in shown.text and 'data-testid="sealed-decision"' in shown.text
    assert "申请场景不属于共享条件所列场景" in shown.text and "审核意见.txt" in shown.text
    assert verify_sealed(reread(session, case.id).sealed_decision).valid
    link = re.search(r'href="(/cases/\d+/attachments/\d+)"', shown.text)
    assert link is not None
    download = client.get(link.group(1))
    assert download.status_code == 200 and download.content == "不予共享".encode()
    assert "attachment;" in download.headers["content-disposition"]


def test_r15_applicant_disputes_a_refusal_from_the_case_page(session: Session, world: World) -> None:
    case = sharing_application(session, world)
    engine.decide(session, world.provider_reviewer, case.id, "reject", "涉及个人隐私")
    session.commit()
    client, csrf = browser(session, world.consumer)
    page = client.get(f"/cases/{case.id}")
    assert 'data-testid="dispute-form"' in page.text and 'data-testid="decision-form"' not in page.text
    response = client.post(
        f"/cases/{case.id}/dispute",
        data={"csrf_token": csrf, "reasons": "已取得授权"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    fresh = reread(session, case.id)
    assert fresh.status == "in_review" and fresh.steps[-2].state == "active"
    coordinator, _ = browser(session, world.authority_coordinator)
    html = coordinator.get(f"/cases/{case.id}").text
    assert 'data-testid="decision-escalate"' in html and 'data-testid="decision-return"' not in html


def test_case_page_and_api_hide_a_case_from_outsiders(session: Session, world: World) -> None:
    case = sharing_application(session, world)
    client, _ = browser(session, world.outsider)
    assert client.get(f"/cases/{case.id}").status_code == 404
    response = api(session, world.outsider).get(f"/api/v1/cases/{case.id}")
    assert response.status_code == 404 and response.json()["error"]["code"] == "workflow.case_not_found"


def test_r17_api_inbox_decisions_escalations_attachments(session: Session, world: World) -> None:
    freeze(dt.datetime(2026, 9, 28, 10, 0))
    case = sharing_application(session, world)
    reviewer = api(session, world.provider_reviewer)
    items = reviewer.get("/api/v1/inbox").json()
    assert [(i["number"], i["due_on"], i["sla"]) for i in items] == [(case.number, "2026-10-10", "on_time")]

    officer = api(session, world.provider_officer)
    refused = officer.post(f"/api/v1/cases/{case.id}/decisions", json={"decision": "approve"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "workflow.not_assignee"
    empty = reviewer.post(f"/api/v1/cases/{case.id}/decisions", json={"decision": "reject", "reasons": ""})
    assert empty.status_code == 422 and empty.json()["error"]["code"] == "workflow.reasons_required"

    rejected = reviewer.post(
        f"/api/v1/cases/{case.id}/decisions", json={"decision": "reject", "reasons": "不符合条件"}
    )
    assert rejected.status_code == 200
    body = rejected.json()
    assert body["status"] == "rejected" and body["sealed_decision"]["document"]["reasons"] == "不符合条件"

    applicant = api(session, world.consumer)
    assert applicant.get(f"/api/v1/cases/{case.id}").json()["can_dispute"] is True
    uploaded = applicant.post(
        f"/api/v1/cases/{case.id}/attachments",
        files={"file": ("授权书.pdf", b"%PDF-1.7 consent", "application/pdf")},
    )
    assert uploaded.status_code == 201 and uploaded.json()["size"] == len(b"%PDF-1.7 consent")
    too_big = applicant.post(
        f"/api/v1/cases/{case.id}/attachments",
        files={"file": ("big.bin", b"0" * (attachments.MAX_ATTACHMENT_BYTES + 1))},
    )
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "workflow.attachment_too_large"

    escalated = applicant.post(f"/api/v1/cases/{case.id}/escalations", json={"reasons": "请求协调"})
    assert escalated.status_code == 200
    steps = escalated.json()["steps"]
    assert [s["name"] for s in steps if s["state"] == "active"] == ["coordination"]
    assert escalated.json()["escalation_level"] == 1
    mine = applicant.get("/api/v1/cases").json()
    assert [c["number"] for c in mine] == [case.number]

    notes = reviewer.get("/api/v1/notifications?unread_only=true").json()
    assert notes and all(n["case_id"] == case.id for n in notes)
    marked = reviewer.post("/api/v1/notifications/read", json={"all": True})
    assert marked.json()["marked"] == len(notes)
    assert reviewer.get("/api/v1/notifications?unread_only=true").json() == []


def test_notifications_page_lists_and_marks_read(session: Session, world: World) -> None:
    case = sharing_application(session, world)
    client, csrf = browser(session, world.provider_reviewer)
    page = client.get("/notifications")
    assert page.status_code == 200 and case.number in page.text and 'data-read="no"' in page.text
    done = client.post("/notifications/read", data={"csrf_token": csrf, "all": "1"}, follow_redirects=False)
    assert done.status_code == 303
    assert 'data-read="no"' not in client.get("/notifications").text


def test_my_cases_page_lists_the_organisations_applications(session: Session, world: World) -> None:
    case = sharing_application(session, world)
    client, _ = browser(session, world.consumer, lang="en")
    page = client.get("/cases")
    assert page.status_code == 200 and case.number in page.text and "Provider review" in page.text
    other, _ = browser(session, world.outsider)
    assert case.number not in other.get("/cases").text
