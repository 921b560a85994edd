"""R15–R18, R5: sharing applications — refused at the door against the catalog entry, reviewed jointly by
the provider and the authority within the policy's period, approved into a grant, refused with sealed
written reasons, disputed up to the municipal government."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sharing_fixtures import ask, client_for, entry, sharing_city
from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.catalog.data_view import data_resource
from gongshu.kernel.access.service import decide_data
from gongshu.kernel.clock.service import add_working_days
from gongshu.kernel.crypto.seal import verify_sealed
from gongshu.kernel.errors import GongshuError
from gongshu.kernel.policy import service as policy_service
from gongshu.kernel.timeutil import CHINA, freeze, today_china
from gongshu.kernel.workflow import engine
from gongshu.kernel.workflow.models import CaseAttachment
from gongshu.sharing.applications import grant_of_case

LEGAL_BASIS = "《中华人民共和国个人信息保护法》第十三条"


@pytest.fixture()
def c(session: Session) -> dict[str, Any]:
    out = sharing_city(session)
    out["code"] = entry(session, out)
    return out


def _refused(session: Session, c: dict[str, Any], code: str, **kw: Any) -> GongshuError:
    with pytest.raises(GongshuError) as info:
        ask(session, c, code, **kw)
    session.rollback()
    return info.value


def test_r18_not_shared_refused_with_its_legal_basis(session: Session, c: dict[str, Any]) -> None:
    code = entry(
        session,
        c,
        sharing_attribute="not_shared",
        sharing_conditions=[],
        sharing_methods=[],
        legal_basis=LEGAL_BASIS,
    )
    err = _refused(session, c, code)
    assert err.code == "sharing.not_shared" and LEGAL_BASIS in err.message_zh
    assert err.details["legal_basis"] == LEGAL_BASIS


def test_r16_unconditional_needs_no_application(session: Session, c: dict[str, Any]) -> None:
    code = entry(session, c, sharing_attribute="unconditional", sharing_conditions=[])
    err = _refused(session, c, code)
    assert err.code == "sharing.unconditional" and "直接使用" in err.message_zh


def test_r17_items_must_be_the_entrys(session: Session, c: dict[str, Any]) -> None:
    err = _refused(session, c, c["code"], items=["id_number", "salary"])
    assert err.code == "sharing.items_outside_entry" and "salary" in err.message_zh
    assert _refused(session, c, c["code"], items=[]).code == "sharing.items_required"


def test_r19_method_must_be_offered(session: Session, c: dict[str, Any]) -> None:
    err = _refused(session, c, c["code"], delivery_method="file")
    assert err.code == "sharing.method_not_offered" and err.field == "delivery_method"


def test_r17_organisation_condition(session: Session, c: dict[str, Any]) -> None:
    code = entry(session, c, sharing_conditions=[{"kind": "organisations", "value": "education、health"}])
    err = _refused(session, c, code)
    assert err.code == "sharing.condition_organisations" and "education" in err.message_zh
    code = entry(session, c, sharing_conditions=[{"kind": "organisations", "value": "public_security"}])
    assert ask(session, c, code).status == "in_review"


def test_r17_scenario_condition(session: Session, c: dict[str, Any]) -> None:
    err = _refused(session, c, c["code"], scenario="人口普查")
    assert err.code == "sharing.condition_scenario" and "婚育服务一件事" in err.message_zh


def test_r17_key_municipal_work_must_be_declared(session: Session, c: dict[str, Any]) -> None:
    code = entry(session, c, sharing_conditions=[{"kind": "key_municipal_work", "value": "民生实事"}])
    assert _refused(session, c, code).code == "sharing.condition_key_work"
    err = _refused(session, c, code, key_municipal_work=True, basis="")
    assert err.code == "sharing.condition_key_work"
    case = ask(session, c, code, key_municipal_work=True, basis="市政府2025年为民办实事项目")
    assert case.payload["key_municipal_work"] is True


def test_r17_cross_department_system_must_be_named(session: Session, c: dict[str, Any]) -> None:
    code = entry(session, c, sharing_conditions=[{"kind": "cross_department_system", "value": "一网通办"}])
    err = _refused(session, c, code, cross_department_system="  ")
    assert err.code == "sharing.condition_system" and err.field == "cross_department_system"
    assert ask(session, c, code, cross_department_system="一网通办平台").status == "in_review"


def test_r5_department_applies_for_the_organisation_it_manages(session: Session, c: dict[str, Any]) -> None:
    case = ask(session, c, c["code"], consumer_org_id=c["hospital"].id)
    assert case.applicant_org_id == c["hospital"].id
    err = _refused(session, c, c["code"], consumer_org_id=c["civil"].id)
    assert err.code in ("sharing.not_consumer", "sharing.own_data")


def test_r17_joint_review_within_five_working_days(session: Session, c: dict[str, Any]) -> None:
    freeze(dt.datetime(2025, 3, 3, 10, 0, tzinfo=CHINA))  # a Monday without holidays around it
    case = ask(session, c, c["code"])
    session.commit()
    days = policy_service.at(session, today_china()).working_days("sharing_review")
    due = add_working_days(session, today_china(), days).due
    provider, authority = case.steps
    assert (provider.name, authority.name) == ("provider_review", "authority_review")
    assert case.title_en == "Sharing application: Marriage registration"  # R28
    assert provider.assignee_org_id == c["civil"].id and provider.due_on == due
    freeze(dt.datetime(2025, 3, 5, 10, 0, tzinfo=CHINA))
    engine.decide(session, c["civil_reviewer"], case.id, "approve")
    session.commit()
    assert authority.state == "active" and authority.due_on == due == dt.date(2025, 3, 10)


def _approve(session: Session, c: dict[str, Any], case_id: int) -> None:
    engine.decide(session, c["civil_reviewer"], case_id, "approve")
    engine.decide(session, c["reviewer"], case_id, "approve")
    session.commit()


def test_r17_approval_grants_exactly_what_was_asked(session: Session, c: dict[str, Any]) -> None:
    case = ask(session, c, c["code"], delivery_method="db_table")
    session.commit()
    _approve(session, c, case.id)
    grant = grant_of_case(session, case.id)
    assert grant is not None and grant.origin == "sharing_application"
    assert grant.items == ["id_number", "full_name"] and grant.scenario == "婚育服务一件事"
    assert grant.delivery_method == "db_table" and grant.consumer_org_id == c["police"].id
    assert grant.valid_to.astimezone(CHINA).date() == today_china() + dt.timedelta(days=90)
    res = data_resource(session, c["code"])
    actor = c["police_clerk"]
    ok = decide_data(session, actor, res, scenario="婚育服务一件事", items=["full_name"], method="db_table")
    assert ok.allowed and ok.grant_id == grant.id
    assert decide_data(session, actor, res, scenario="人口普查", method="db_table").reason == (
        "access.scenario_mismatch"
    )
    wrong_items = decide_data(
        session, actor, res, scenario="婚育服务一件事", items=["allowance"], method="db_table"
    )
    assert wrong_items.reason == "access.items_not_granted"
    assert not decide_data(session, actor, res, scenario="婚育服务一件事", method="api").allowed


def test_r17_refusal_carries_sealed_written_reasons(session: Session, c: dict[str, Any]) -> None:
    case = ask(session, c, c["code"])
    session.commit()
    with pytest.raises(GongshuError):
        engine.decide(session, c["civil_reviewer"], case.id, "reject", "")
    session.rollback()
    engine.decide(session, c["civil_reviewer"], case.id, "reject", "申请用途与所列场景不符")
    session.commit()
    assert case.status == "rejected" and grant_of_case(session, case.id) is None
    sealed = case.sealed_decision
    assert sealed is not None and sealed["document"]["reasons"] == "申请用途与所列场景不符"
    assert verify_sealed(sealed).valid


def test_r17_dispute_municipal_approval_creates_the_grant(session: Session, c: dict[str, Any]) -> None:
    case = ask(session, c, c["code"])
    session.commit()
    engine.decide(session, c["civil_reviewer"], case.id, "reject", "数据涉及个人隐私")
    session.commit()
    engine.escalate(session, c["police_clerk"], case.id, "该场景属于法定职责，请求协调")
    engine.decide(session, c["coordinator"], case.id, "escalate", "协调未果")
    session.commit()
    assert grant_of_case(session, case.id) is None
    engine.decide(session, c["mayor"], case.id, "approve", "同意共享")
    session.commit()
    grant = grant_of_case(session, case.id)
    assert case.status == "approved" and grant is not None and grant.scenario == "婚育服务一件事"
    res = data_resource(session, c["code"])
    assert decide_data(session, c["police_clerk"], res, scenario="婚育服务一件事").allowed


def test_r17_apply_pages_render_and_post_needs_csrf(session: Session, c: dict[str, Any]) -> None:
    client, csrf = client_for(session, "police_clerk")
    code = c["code"]
    assert "申请使用该数据" in client.get(f"/catalog/{code}").text
    page = client.get(f"/sharing/apply/{code}")
    assert (
        page.status_code == 200 and 'data-testid="apply-form"' in page.text and "婚育服务一件事" in page.text
    )
    assert "Apply to use this data" in client.get(f"/sharing/apply/{code}?lang=en").text
    today = today_china()
    form = {
        "items": ["id_number", "full_name"],
        "scenario": "婚育服务一件事",
        "purpose": "核验婚姻状况",
        "valid_from": today.isoformat(),
        "valid_to": (today + dt.timedelta(days=30)).isoformat(),
        "delivery_method": "api",
    }
    assert client.post(f"/sharing/apply/{code}", data=form).status_code == 403
    refused = client.post(f"/sharing/apply/{code}", data={**form, "scenario": "人口普查", "csrf_token": csrf})
    assert refused.status_code == 422 and "sharing.condition_scenario" in refused.text
    done = client.post(
        f"/sharing/apply/{code}",
        data={**form, "csrf_token": csrf},
        files={"file": ("说明.txt", "申请说明".encode(), "text/plain")},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"].startswith("/cases/")
    case_id = int(done.headers["location"].split("/cases/")[1].split("?")[0])
    files = session.scalars(select(CaseAttachment).where(CaseAttachment.case_id == case_id)).all()
    assert [f.filename for f in files] == ["说明.txt"]
    listing = client.get("/sharing/applications")
    assert listing.status_code == 200 and "婚育服务一件事" in listing.text and "/cases/" in listing.text
    assert client.get("/sharing/applications?lang=en").status_code == 200
    reviewer, _ = client_for(session, "civil_reviewer")
    queue = reviewer.get("/sharing/reviews")
    assert queue.status_code == 200 and 'data-sla="on_time"' in queue.text
    assert reviewer.get("/sharing/reviews?lang=en").status_code == 200


def test_r18_apply_page_shows_the_legal_basis_and_no_form(session: Session, c: dict[str, Any]) -> None:
    code = entry(
        session,
        c,
        sharing_attribute="not_shared",
        sharing_conditions=[],
        sharing_methods=[],
        legal_basis=LEGAL_BASIS,
    )
    client, _ = client_for(session, "police_clerk")
    page = client.get(f"/sharing/apply/{code}")
    assert page.status_code == 200 and LEGAL_BASIS in page.text and "apply-form" not in page.text


def test_r17_api_applies_and_lists(session: Session, c: dict[str, Any]) -> None:
    client, csrf = client_for(session, "police_clerk")
    today = today_china()
    body = {
        "resource_code": c["code"],
        "items": ["full_name"],
        "scenario": "婚育服务一件事",
        "purpose": "核验",
        "valid_from": today.isoformat(),
        "valid_to": (today + dt.timedelta(days=30)).isoformat(),
        "delivery_method": "api",
    }
    assert client.post("/api/v1/sharing/applications", json=body).status_code == 403
    bad = client.post(
        "/api/v1/sharing/applications",
        json={**body, "delivery_method": "file"},
        headers={"X-CSRF-Token": csrf},
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "sharing.method_not_offered"
    ok = client.post("/api/v1/sharing/applications", json=body, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201 and ok.json()["due_on"]
    [row] = client.get("/api/v1/sharing/applications").json()
    assert row["case_id"] == ok.json()["case_id"] and row["sla"] == "on_time"


def test_r17_every_field_error_of_an_application_is_reported_together(
    session: Session, c: dict[str, Any]
) -> None:
    code = entry(
        session,
        c,
        sharing_conditions=[
            {"kind": "scenario", "value": "婚育服务一件事"},
            {"kind": "key_municipal_work", "value": "民生实事"},
            {"kind": "cross_department_system", "value": "一网通办"},
        ],
    )
    err = _refused(
        session,
        c,
        code,
        items=[],
        scenario="  ",
        purpose="",
        valid_from="",
        valid_to="下个月",
        delivery_method="fax",
    )
    assert err.code == "sharing.application_invalid" and err.status_code == 422 and err.field == "items"
    fields = [e["field"] for e in err.details["errors"]]
    assert fields == [
        "items",
        "scenario",
        "purpose",
        "valid_from",
        "valid_to",
        "delivery_method",
        "key_municipal_work",
        "cross_department_system",
    ]
    assert err.message_zh.startswith(
        "申请有 8 处需要更正：请选择申请的信息项；请填写应用场景；请填写用途说明"
    )
    assert "请填写使用期限的开始日期" in err.message_zh and "请填写有效的使用期限结束日期" in err.message_zh
    assert all(e["zh"] and e["en"] and e["code"].startswith("sharing.") for e in err.details["errors"])
    # The period's own errors and the limits of the texts, together too.
    today = today_china()
    err = _refused(
        session,
        c,
        c["code"],
        scenario="婚育服务一件事" * 40,
        purpose="用" * 5001,
        valid_from=today - dt.timedelta(days=1),
        valid_to=today - dt.timedelta(days=2),
    )
    codes = [e["code"] for e in err.details["errors"]]
    assert codes == [
        "sharing.scenario_too_long",
        "sharing.purpose_too_long",
        "sharing.period_past",
        "sharing.period_invalid",
    ]
    assert "应用场景不能超过200字（现为280字）" in err.message_zh
    # A single error keeps its own code, and lists itself.
    err = _refused(session, c, c["code"], purpose=" ")
    assert err.code == "sharing.purpose_required" and [e["field"] for e in err.details["errors"]] == [
        "purpose"
    ]


def test_r17_apply_page_and_api_show_every_field_error(session: Session, c: dict[str, Any]) -> None:
    client, csrf = client_for(session, "police_clerk")
    today = today_china()
    form = {
        "scenario": "",
        "purpose": "",
        "valid_from": today.isoformat(),
        "valid_to": (today + dt.timedelta(days=30)).isoformat(),
        "delivery_method": "api",
        "csrf_token": csrf,
    }
    page = client.post(f"/sharing/apply/{c['code']}", data=form)
    assert page.status_code == 422 and "sharing.application_invalid" in page.text
    for text in ("请选择申请的信息项", "请填写应用场景", "请填写用途说明"):
        assert text in page.text
    body = {
        "resource_code": c["code"],
        "items": [],
        "scenario": "",
        "purpose": "",
        "valid_from": (today - dt.timedelta(days=1)).isoformat(),
        "valid_to": today.isoformat(),
        "delivery_method": "api",
    }
    bad = client.post("/api/v1/sharing/applications", json=body, headers={"X-CSRF-Token": csrf})
    error = bad.json()["error"]
    assert bad.status_code == 422 and error["code"] == "sharing.application_invalid"
    assert [e["code"] for e in error["details"]["errors"]] == [
        "sharing.items_required",
        "sharing.scenario_required",
        "sharing.purpose_required",
        "sharing.period_past",
    ]
