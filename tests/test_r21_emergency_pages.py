"""R21 (with R10's seals and R28's page languages): the emergency pages show an event's status as a
status (under way / ended), and the sealed closure report as a readable page — China time, the seal's
verification — with the sealed JSON kept as a download labelled as such."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from catalog_fixtures import city, org, user
from page_fixtures import page_client
from sqlalchemy.orm import Session

from gongshu.kernel import timeutil
from gongshu.kernel.identifiers.checks import make_id_number
from gongshu.sharing import emergency, emergency_closure
from gongshu.sharing.emergency_models import EmergencyEvent

ITEMS: list[dict[str, Any]] = [
    {"name": "id_number", "label_zh": "身份证号码", "data_type": "id_number", "length": 18, "is_key": True},
    {"name": "district", "label_zh": "所在区", "data_type": "string", "length": 20},
]


@pytest.fixture()
def c(session: Session) -> dict[str, Any]:
    timeutil.freeze(dt.datetime(2026, 11, 10, 9, 30))  # China time
    out = city(session)
    org(session, "health", "department", "市卫生健康委员会", "Health Commission")
    out["admin"] = user(session, "emergency_admin", out["authority"], "admin")
    event = emergency.open_event(
        session,
        out["admin"],
        title="台风“海燕”应急处置",
        purpose="转移安置受灾群众",
        scope="思明区受灾人员",
        method="单位报送",
        period_start=timeutil.now(),
        period_end=timeutil.now() + dt.timedelta(days=30),
        responsible_org_code="civil_affairs",
        responder_org_codes=["civil_affairs", "health"],
    )
    task = emergency.add_task(
        session,
        out["admin"],
        event.id,
        title="受灾人员名单",
        description="请报送辖区内受灾人员",
        resource_name="台风受灾人员信息",
        items=ITEMS,
        respondent_org_codes=["public_security"],
        public=False,
    )
    session.commit()
    out["event_id"], out["task_id"], out["code"] = event.id, task.id, task.resource_code
    return out


def _close(session: Session, c: dict[str, Any], tmp_path: Path, db: str) -> None:
    path = tmp_path / "data.csv"
    path.write_text(f"id_number,district\n{make_id_number('350203', dt.date(1985, 1, 2), 11)},思明区\n")
    emergency.submit_data(c["police_clerk"], c["task_id"], path, "data.csv", url=db)
    timeutil.freeze(dt.datetime(2026, 11, 18, 9, 30))  # China time
    session.expire_all()
    emergency_closure.close_event(
        session, c["admin"], c["event_id"], treatment="deidentify", evaluation="数据已用于安置，处置结束。"
    )
    session.commit()


def test_r21_event_status_reads_as_a_status(
    session: Session, c: dict[str, Any], tmp_path: Path, db_clean: str
) -> None:
    admin, _ = page_client("emergency_admin", session=session)
    listing = admin.get("/emergency").text
    assert 'data-status="open">处置中</span>' in listing and "办结时间" not in listing
    event = admin.get(f"/emergency/{c['event_id']}").text
    assert '<span class="badge" data-testid="emergency-status">处置中</span>' in event

    _close(session, c, tmp_path, db_clean)
    admin, _ = page_client("emergency_admin", session=session)  # a new login, a week later
    listing = admin.get("/emergency").text
    assert 'data-status="closed">处置已结束</span>' in listing and "办结时间" not in listing
    event = admin.get(f"/emergency/{c['event_id']}").text
    assert '<span class="badge" data-testid="emergency-status">处置已结束</span>' in event
    assert "办结时间" not in event

    english = page_client("emergency_admin", "en", session=session)[0]
    assert 'data-status="closed">Response ended</span>' in english.get("/emergency").text


def test_r21_closure_report_is_a_readable_page_with_the_seal_checked(
    session: Session, c: dict[str, Any], tmp_path: Path, db_clean: str
) -> None:
    admin, _ = page_client("emergency_admin", session=session)
    missing = admin.get(f"/emergency/{c['event_id']}/report")
    assert missing.status_code == 404 and "该突发事件尚未结束处置，没有结束报告" in missing.text

    _close(session, c, tmp_path, db_clean)
    admin, _ = page_client("emergency_admin", session=session)  # a new login, a week later
    event = admin.get(f"/emergency/{c['event_id']}").text
    assert (
        f'href="/emergency/{c["event_id"]}/report" data-testid="emergency-report">结束报告（电子印章）</a>'
        in event
    )
    assert (
        f'href="/emergency/{c["event_id"]}/report.json" download data-testid="emergency-report-json">'
        "下载加盖电子印章的报告（JSON）</a>"
    ) in event

    page = admin.get(f"/emergency/{c['event_id']}/report")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    text = page.text
    assert 'data-testid="seal-valid"' in text and "电子印章校验通过" in text
    assert '<dd data-testid="closed-at">2026-11-18 09:30</dd>' in text  # China time, not UTC 01:30
    assert '<dd data-testid="sealed-at">2026-11-18 09:30</dd>' in text
    assert "去标识化" in text and "数据已用于安置，处置结束。" in text
    assert "身份证号码" in text and "市民政局" in text  # item labels and organisation names
    assert "授权 " in text and " 号" in text  # the grants revoked, by their numbers
    assert f'href="/emergency/{c["event_id"]}/report.json" download data-testid="report-json"' in text
    assert (
        admin.get(f"/emergency/{c['event_id']}/report.json").json()["document"]["treatment"] == "deidentify"
    )

    english = page_client("emergency_admin", "en", session=session)[0]
    en = english.get(f"/emergency/{c['event_id']}/report").text
    assert "The seal holds" in en and "Download the sealed report (JSON)" in en and "Health Commission" in en

    # a report changed after sealing no longer passes the check, and the page says why
    session.expire_all()
    stored = session.get(EmergencyEvent, c["event_id"])
    assert stored is not None and stored.report is not None
    changed = dict(stored.report)
    changed["document"] = {**changed["document"], "treatment": "delete"}
    stored.report = changed
    session.commit()
    tampered = admin.get(f"/emergency/{c['event_id']}/report").text
    assert 'data-testid="seal-invalid"' in tampered and "电子印章校验未通过" in tampered
    assert "seal.digest" in tampered
