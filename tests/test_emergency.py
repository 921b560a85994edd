"""R21: emergencies — collected data is used only by the event's responders while it is open; closing it
treats the data (deletion or de-identification), revokes the grants and seals a closure report."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from catalog_fixtures import city, org, user
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.catalog.data_view import data_resource
from gongshu.catalog.models import CatalogEntry
from gongshu.kernel.access.models import Grant
from gongshu.kernel.access.service import decide_data
from gongshu.kernel.crypto.seal import verify_sealed
from gongshu.kernel.errors import Conflict, Forbidden
from gongshu.kernel.identifiers.checks import make_id_number
from gongshu.kernel.identity import sessions
from gongshu.kernel.identity.models import User
from gongshu.kernel.timeutil import now
from gongshu.kernel.workflow.models import Case
from gongshu.sharing import emergency, emergency_closure
from gongshu.store import service as store
from gongshu.store.models import RecordHistory
from gongshu.web.app import create_app

IDS = [make_id_number("350203", dt.date(1985, 1, 2), n) for n in range(11, 14)]
ITEMS: list[dict[str, Any]] = [
    {"name": "id_number", "label_zh": "身份证号码", "data_type": "id_number", "length": 18, "is_key": True},
    {"name": "full_name", "label_zh": "姓名", "data_type": "string", "length": 20, "sensitivity": "personal"},
    {"name": "district", "label_zh": "所在区", "data_type": "string", "length": 20},
    {"name": "cases", "label_zh": "病例数", "data_type": "integer"},
]


@pytest.fixture()
def c(session: Session) -> dict[str, Any]:
    out = city(session)
    health = org(session, "health", "department", "市卫生健康委员会")
    transport = org(session, "transport", "department", "市交通局")
    out["admin"] = user(session, "emergency_admin", out["authority"], "admin")
    out["civil_clerk"] = user(session, "civil_clerk", out["civil"], "data_officer")
    out["health_clerk"] = user(session, "health_clerk", health, "data_officer")
    out["transport_clerk"] = user(session, "transport_clerk", transport, "data_officer")
    event = emergency.open_event(
        session,
        out["admin"],
        title="台风“海燕”应急处置",
        purpose="转移安置受灾群众",
        scope="思明区、湖里区受灾人员",
        method="单位报送与个人上报",
        period_start=now(),
        period_end=now() + dt.timedelta(days=30),
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
        respondent_org_codes=["public_security", "transport"],
        public=True,
    )
    session.commit()
    out["event_id"], out["task_id"], out["code"] = event.id, task.id, task.resource_code
    return out


def _csv(tmp: Path, rows: list[str]) -> Path:
    path = tmp / "data.csv"
    path.write_text("\n".join(["id_number,full_name,district,cases", *rows]) + "\n", encoding="utf-8")
    return path


def _upload(c: dict[str, Any], tmp: Path, db: str) -> None:
    rows = [f"{IDS[0]},张三,思明区,1", f"{IDS[1]},李四,湖里区,2"]
    emergency.submit_data(c["police_clerk"], c["task_id"], _csv(tmp, rows), "data.csv", url=db)


def _decide(session: Session, c: dict[str, Any], who: str) -> Any:
    session.expire_all()
    return decide_data(session, c[who], data_resource(session, c["code"]), scenario=None)


def test_r21_collected_data_only_for_responders_while_open(
    session: Session, c: dict[str, Any], tmp_path: Path, db_clean: str
) -> None:
    _upload(c, tmp_path, db_clean)
    entry = session.scalars(select(CatalogEntry).where(CatalogEntry.resource_code == c["code"])).one()
    assert (entry.sharing_attribute, entry.open_attribute, entry.status) == (
        "not_shared",
        "not_open",
        "published",
    )
    assert entry.provider_org_id == c["civil"].id
    assert store.count(session, c["code"]) == 2
    assert data_resource(session, c["code"]).emergency_event_id == str(c["event_id"])
    for responder in ("health_clerk", "civil_clerk"):
        decision = _decide(session, c, responder)
        assert decision.allowed and decision.basis == "emergency", responder
    # The respondent that provided the data is no responder; other departments and the public neither.
    for outsider in ("police_clerk", "transport_clerk", "citizen", "reviewer"):
        assert _decide(session, c, outsider).reason == "access.emergency_only", outsider
    # Not shared: no other path (a stated scenario of another kind) reaches it.
    res = data_resource(session, c["code"])
    other = decide_data(session, c["transport_clerk"], res, scenario="交通出行服务", method="file")
    assert not other.allowed
    task = emergency.get_task(session, c["task_id"])
    police_case = session.get(
        Case, next(r["case_id"] for r in task.respondents if r["org_id"] == c["police"].id)
    )
    assert police_case is not None and police_case.status == "approved"
    assert police_case.title_en == f"Emergency data collection: {task.title}"  # R28


def test_r21_public_accounts_upload_to_an_open_task(
    session: Session, c: dict[str, Any], tmp_path: Path, db_clean: str
) -> None:
    report = emergency.submit_data(
        c["citizen"], c["task_id"], _csv(tmp_path, [f"{IDS[2]},王五,集美区,0"]), "data.csv", url=db_clean
    )
    assert report["accepted"] == 1
    session.expire_all()
    assert store.count(session, c["code"]) == 1
    session.rollback()  # the store read's transaction ends before the next upload writes
    with pytest.raises(Forbidden) as err:
        emergency.submit_data(c["health_clerk"], c["task_id"], _csv(tmp_path, []), "data.csv", url=db_clean)
    assert err.value.code == "emergency.not_respondent"


def test_r21_only_the_authority_opens_an_emergency(session: Session, c: dict[str, Any]) -> None:
    with pytest.raises(Forbidden):
        emergency.open_event(
            session,
            c["civil_clerk"],
            title="x",
            purpose="x",
            scope="x",
            method="x",
            period_start=now(),
            period_end=now() + dt.timedelta(days=1),
            responsible_org_code="civil_affairs",
            responder_org_codes=["civil_affairs"],
        )


def test_r21_added_responder_gets_access(session: Session, c: dict[str, Any]) -> None:
    assert not _decide(session, c, "transport_clerk").allowed
    emergency.add_responder(session, c["admin"], c["event_id"], "transport")
    session.commit()
    assert _decide(session, c, "transport_clerk").allowed


def test_r21_closure_deidentifies_personal_items_revokes_grants_and_seals_report(
    session: Session, c: dict[str, Any], tmp_path: Path, db_clean: str
) -> None:
    _upload(c, tmp_path, db_clean)
    session.expire_all()
    event = emergency_closure.close_event(
        session, c["admin"], c["event_id"], treatment="deidentify", evaluation="数据已完成使用"
    )
    session.commit()
    rows = store.rows(session, c["code"])
    assert len(rows) == 2
    assert {r["district"] for r in rows} == {"思明区", "湖里区"}
    assert not {r["id_number"] for r in rows} & set(IDS)
    assert not {r["full_name"] for r in rows} & {"张三", "李四"}
    history = session.scalars(select(RecordHistory).where(RecordHistory.resource_code == c["code"])).all()
    assert not any(IDS[0] in str((h.before, h.after, h.record_key)) for h in history)
    assert _decide(session, c, "health_clerk").reason == "access.emergency_only"
    sealed = emergency_closure.closure_report(session, c["admin"], event.id)
    assert verify_sealed(sealed).valid
    doc = sealed["document"]
    assert doc["classification"][c["code"]] == {
        "id_number": "sensitive",
        "full_name": "sensitive",
        "district": "general",
        "cases": "general",
    }
    assert len(doc["grants_revoked"]) == 2 and doc["treatment"] == "deidentify"
    # The respondent that never answered has its collection case withdrawn; the task takes no more data.
    task = emergency.get_task(session, c["task_id"])
    transport_case = session.get(
        Case, next(r["case_id"] for r in task.respondents if r["org_id"] != c["police"].id)
    )
    assert transport_case is not None and transport_case.status == "withdrawn"
    session.rollback()
    with pytest.raises(Conflict):
        emergency.submit_data(c["police_clerk"], c["task_id"], _csv(tmp_path, []), "data.csv", url=db_clean)
    sealed["document"]["treatment"] = "delete"
    assert not verify_sealed(sealed).valid


def test_r21_closure_by_deletion(session: Session, c: dict[str, Any], tmp_path: Path, db_clean: str) -> None:
    _upload(c, tmp_path, db_clean)
    session.expire_all()
    emergency_closure.close_event(
        session, c["admin"], c["event_id"], treatment="delete", evaluation="处置结束"
    )
    session.commit()
    assert store.count(session, c["code"]) == 0
    assert not _decide(session, c, "civil_clerk").allowed
    reasons = set(session.scalars(select(Grant.revoke_reason).where(Grant.resource_id == c["code"])))
    assert reasons == {
        f"R21 突发事件 #{c['event_id']} 处置结束 / R21 emergency event #{c['event_id']} closed"
    }
    with pytest.raises(Conflict):
        emergency_closure.close_event(session, c["admin"], c["event_id"], treatment="delete", evaluation="x")


def _browser(session: Session, username: str) -> tuple[TestClient, str]:
    u = session.scalars(select(User).where(User.username == username)).one()
    raw, ws = sessions.start_session(session, u, ip=None, user_agent="pytest", second_factor_done=True)
    session.commit()
    client = TestClient(create_app())
    client.cookies.set("gs_session", raw)
    return client, ws.csrf_token


def test_r21_emergency_console_pages(session: Session, c: dict[str, Any]) -> None:
    admin, csrf = _browser(session, "emergency_admin")
    assert "台风“海燕”应急处置" in admin.get("/emergency").text
    opened = admin.post(
        "/emergency/new",
        data={
            "csrf_token": csrf,
            "title": "暴雨内涝应急",
            "purpose": "排查积水点",
            "scope": "全市积水点",
            "method": "单位报送",
            "period_start": "2026-11-29T08:00",
            "period_end": "2026-12-31T08:00",
            "responsible_org_code": "civil_affairs",
            "responder_org_codes": "civil_affairs，health",
        },
        follow_redirects=False,
    )
    assert opened.status_code == 303
    url = opened.headers["location"]
    added = admin.post(
        f"{url}/tasks",
        data={
            "csrf_token": csrf,
            "title": "积水点清单",
            "items": "point_name,积水点名称,string,60,public,key\ndepth,水深,decimal",
            "public": "1",
        },
        follow_redirects=False,
    )
    assert added.status_code == 303
    page = admin.get(url).text
    assert "积水点清单" in page and "emergency-close-form" in page
    citizen, citizen_csrf = _browser(session, "citizen")
    assert citizen.get(url).status_code == 403
    task_id = emergency.open_public_tasks(session)[0].id
    session.rollback()
    upload = f"/emergency/tasks/{task_id}/upload"
    assert "point_name" in citizen.get(upload).text
    sent = citizen.post(
        upload,
        data={"csrf_token": citizen_csrf},
        files={"file": ("points.csv", "point_name,depth\n湖滨南路,0.5\n", "text/csv")},
        follow_redirects=False,
    )
    assert sent.status_code == 303 and sent.headers["location"].endswith("done=1")
    assert admin.get(f"{url}/report.json").status_code == 404
    closed = admin.post(
        f"{url}/close",
        data={"csrf_token": csrf, "treatment": "delete", "evaluation": "积水已排除"},
        follow_redirects=False,
    )
    assert closed.status_code == 303
    report = admin.get(f"{url}/report.json").json()
    assert verify_sealed(report).valid and report["document"]["resources"][0]["records_before"] == 1


def test_r21_event_page_links_the_upload_page_only_to_those_who_may_upload(
    session: Session, c: dict[str, Any]
) -> None:
    """R21: the upload page of a task refuses (403/409) everyone but its respondents while the task is
    open; the authority's event page must not link it for the manager; labels end with an English colon."""
    admin, _ = _browser(session, "emergency_admin")
    upload = f"/emergency/tasks/{c['task_id']}/upload"
    assert admin.get(upload).status_code == 403
    page = admin.get(f"/emergency/{c['event_id']}")
    assert page.status_code == 200
    assert f'href="{upload}"' not in page.text and "受灾人员名单" in page.text
    admin.cookies.set("gs_lang", "en")
    english = admin.get(f"/emergency/{c['event_id']}").text
    assert "Purpose: 转移安置受灾群众" in english and "Purpose：" not in english


def test_r21_refused_task_keeps_what_the_manager_typed(session: Session, c: dict[str, Any]) -> None:
    """R21: a task whose items cannot be read is refused on the event page (422, in Chinese) with the
    typed title, items and respondents kept; no task is added."""
    admin, csrf = _browser(session, "emergency_admin")
    before = len(emergency.tasks_of(session, c["event_id"]))
    session.rollback()
    sent = admin.post(
        f"/emergency/{c['event_id']}/tasks",
        data={
            "csrf_token": csrf,
            "title": "安置点物资需求",
            "items": "not a proper line",
            "respondent_org_codes": "health",
        },
        follow_redirects=False,
    )
    assert sent.status_code == 422 and 'data-testid="emergency-error"' in sent.text
    assert "第 1 行应为" in sent.text
    assert 'value="安置点物资需求"' in sent.text and ">not a proper line</textarea>" in sent.text
    assert 'value="health"' in sent.text
    assert len(emergency.tasks_of(session, c["event_id"])) == before
