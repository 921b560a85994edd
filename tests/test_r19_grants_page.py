"""R26 (with R19's delivery methods, R21's closure, R28's page languages): the grants page says whose grants
it lists — the consumer's, the provider's, or for the authority every grant it supervises; each grant
shows its own number and its case's number, each labelled; revoking takes a confirmation page with
written reasons and an explicit confirmation, and loses nothing when refused; a closure's revocation
reason and the names read in the page language."""

from __future__ import annotations

from typing import Any

import pytest
from sharing_fixtures import ask, client_for, entry, sharing_city
from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.kernel.access.models import Grant
from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.workflow import engine
from gongshu.sharing.applications import grant_of_case

ITEMS: list[dict[str, Any]] = [
    {
        "name": "id_number",
        "label_zh": "身份证号码",
        "label_en": "ID number",
        "data_type": "id_number",
        "length": 18,
        "is_key": True,
        "sensitivity": "personal",
    },
    {"name": "full_name", "label_zh": "姓名", "label_en": "Full name", "data_type": "string", "length": 20},
]


@pytest.fixture()
def c(session: Session) -> dict[str, Any]:
    out = sharing_city(session)
    out["code"] = entry(session, out, items=ITEMS)
    case = ask(session, out, out["code"])
    engine.decide(session, out["civil_reviewer"], case.id, "approve")
    engine.decide(session, out["reviewer"], case.id, "approve")
    session.commit()
    grant = grant_of_case(session, case.id)
    out["grant_id"], out["case_id"], out["case_number"] = grant.id, case.id, case.number
    session.commit()
    return out


def _grant(session: Session, grant_id: int) -> Grant:
    session.expire_all()
    grant = session.get(Grant, grant_id)
    assert grant is not None
    session.commit()
    return grant


def _section(page: str, testid: str) -> str:
    start = page.index(f'data-testid="{testid}"')
    return page[start : page.index("</section>", start)]


def test_r26_grants_page_headings_say_whose_grants(session: Session, c: dict[str, Any]) -> None:
    authority, _ = client_for(session, "reviewer")
    page = authority.get("/sharing/grants").text
    assert "全平台共享授权（主管部门监督）" in page and "本单位所提供数据的授权" not in page
    assert 'data-testid="my-grants"' not in page  # the authority holds no grant: no empty section
    assert f'data-grant="{c["grant_id"]}"' in _section(page, "provided-grants")

    provider, _ = client_for(session, "civil_clerk")
    page = provider.get("/sharing/grants").text
    assert "本单位所提供数据的授权" in page and "主管部门监督" not in page

    consumer, _ = client_for(session, "police_clerk")
    page = consumer.get("/sharing/grants").text
    assert "本单位获得的授权" in page and 'data-testid="provided-grants"' not in page


def test_r26_grant_and_case_numbers_are_shown_apart(session: Session, c: dict[str, Any]) -> None:
    consumer, _ = client_for(session, "police_clerk")
    row = _section(consumer.get("/sharing/grants").text, "my-grants")
    gid, number = c["grant_id"], c["case_number"]
    assert f'<span data-testid="grant-number">授权 {gid} 号</span>' in row
    assert f'案件：<a href="/cases/{c["case_id"]}">{number}</a>' in row
    assert f'<a href="/cases/{c["case_id"]}">{gid}</a>' not in row  # no bare grant number linking a case
    english = client_for(session, "police_clerk")[0].get("/sharing/grants?lang=en").text
    assert f"Grant No. {gid}" in english and f'Case: <a href="/cases/{c["case_id"]}">{number}</a>' in english


def test_r26_revoking_takes_reasons_and_a_confirmation(session: Session, c: dict[str, Any]) -> None:
    gid = c["grant_id"]
    provider, csrf = client_for(session, "civil_clerk")
    listing = _section(provider.get("/sharing/grants").text, "provided-grants")
    assert f'href="/sharing/grants/{gid}/revoke" data-testid="revoke-link"' in listing
    assert 'name="reason"' not in listing  # no inline form: the list fits, nothing acts from it

    confirm = provider.get(f"/sharing/grants/{gid}/revoke")
    assert confirm.status_code == 200 and 'data-testid="revoke-form"' in confirm.text
    assert "撤销后，数据应用单位将不能再通过任何共享方式获取这些数据" in confirm.text
    assert 'name="confirm"' in confirm.text and "婚姻登记信息" in confirm.text

    unconfirmed = provider.post(
        f"/sharing/grants/{gid}/revoke", data={"csrf_token": csrf, "reason": "发现超出场景使用"}
    )
    assert unconfirmed.status_code == 422 and "请勾选确认" in unconfirmed.text
    assert ">发现超出场景使用</textarea>" in unconfirmed.text  # what was written is kept
    no_reason = provider.post(f"/sharing/grants/{gid}/revoke", data={"csrf_token": csrf, "confirm": "1"})
    assert no_reason.status_code == 422 and "撤销授权必须说明理由" in no_reason.text
    assert 'name="confirm" value="1" required checked' in no_reason.text
    assert _grant(session, gid).revoked_at is None

    done = provider.post(
        f"/sharing/grants/{gid}/revoke",
        data={"csrf_token": csrf, "reason": "发现超出场景使用", "confirm": "1"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == f"/sharing/grants?done=revoked#grant-{gid}"
    assert _grant(session, gid).revoke_reason == "发现超出场景使用"
    session.expire_all()
    assert session.scalars(select(AuditEntry).where(AuditEntry.action == "grant.revoke")).all()
    session.commit()
    again = provider.get(f"/sharing/grants/{gid}/revoke")
    assert 'data-testid="revoke-closed"' in again.text and 'data-testid="revoke-form"' not in again.text

    consumer, _ = client_for(session, "police_clerk")
    assert consumer.get(f"/sharing/grants/{gid}/revoke").status_code == 403


def test_r28_grants_read_in_the_page_language(session: Session, c: dict[str, Any]) -> None:
    grant = session.get(Grant, c["grant_id"])
    assert grant is not None
    from gongshu.kernel.timeutil import now

    # as an emergency's closure writes it (emergency_closure.closure_reason), in both languages
    grant.revoked_at, grant.revoke_reason = now(), "R21 突发事件 #7 处置结束 / R21 emergency event #7 closed"
    session.commit()
    consumer, _ = client_for(session, "police_clerk")
    zh = _section(consumer.get("/sharing/grants").text, "my-grants")
    assert '<span class="muted small" data-testid="revoke-reason">R21 突发事件 #7 处置结束</span>' in zh
    assert "emergency event" not in zh
    assert "婚姻登记信息" in zh and "身份证号码、姓名" in zh

    en = _section(consumer.get("/sharing/grants?lang=en").text, "my-grants")
    assert '<span class="muted small" data-testid="revoke-reason">R21 emergency event #7 closed</span>' in en
    assert "突发事件" not in en
    assert "Marriage registration" in en and "婚姻登记信息" not in en
    assert "Public Security Bureau" in en and "市公安局" not in en
    assert "ID number, Full name" in en
