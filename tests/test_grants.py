"""R16, R17, R26: grants — self-service grants for unconditional data, revocation by the provider or the
authority with reasons, expiry, states, and renewal by a new application prefilled from a grant."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sharing_fixtures import ask, client_for, entry, sharing_city
from sqlalchemy.orm import Session

from gongshu.catalog.data_view import data_resource
from gongshu.kernel.access.service import decide_data
from gongshu.kernel.errors import GongshuError
from gongshu.kernel.timeutil import freeze, now, today_china
from gongshu.kernel.workflow import engine
from gongshu.sharing import grants_service
from gongshu.sharing.applications import grant_of_case

SCENARIO = "婚育服务一件事"


@pytest.fixture()
def c(session: Session) -> dict[str, Any]:
    out = sharing_city(session)
    out["code"] = entry(session, out)
    case = ask(session, out, out["code"])
    engine.decide(session, out["civil_reviewer"], case.id, "approve")
    engine.decide(session, out["reviewer"], case.id, "approve")
    session.commit()
    out["grant"] = grant_of_case(session, case.id)
    return out


def _allowed(session: Session, c: dict[str, Any], at: dt.datetime | None = None) -> str:
    session.expire_all()  # see what other transactions (the pages) committed
    res = data_resource(session, c["code"])
    return decide_data(session, c["police_clerk"], res, scenario=SCENARIO, at=at).reason


def test_r26_provider_revokes_with_reasons_and_access_ends(session: Session, c: dict[str, Any]) -> None:
    gid = c["grant"].id
    assert _allowed(session, c) == "access.allowed"
    with pytest.raises(GongshuError) as info:
        grants_service.revoke(session, c["civil_clerk"], gid, "  ")
    assert info.value.code == "grant.reason_required"
    session.rollback()
    with pytest.raises(GongshuError) as info:
        grants_service.revoke(session, c["police_clerk"], gid, "不再需要")
    assert info.value.code == "grant.revoke_forbidden"
    session.rollback()
    grants_service.revoke(session, c["civil_clerk"], gid, "发现超场景使用")
    session.commit()
    assert _allowed(session, c) == "access.grant_revoked"
    [view] = grants_service.my_grants(session, c["police_clerk"])
    assert view.state == "revoked" and not view.may_revoke


def test_r26_authority_may_revoke(session: Session, c: dict[str, Any]) -> None:
    [view] = grants_service.provider_grants(session, c["reviewer"])
    assert view.may_revoke and view.state == "active"
    grants_service.revoke(session, c["reviewer"], c["grant"].id, "安全检查发现问题")
    session.commit()
    assert _allowed(session, c) == "access.grant_revoked"


def test_r17_expired_grant_is_denied(session: Session, c: dict[str, Any]) -> None:
    later = now() + dt.timedelta(days=92)
    assert _allowed(session, c, at=later) == "access.grant_expired"
    freeze(later)
    [view] = grants_service.my_grants(session, c["police_clerk"])
    assert view.state == "expired"


def test_r26_provider_sees_the_grants_on_its_data(session: Session, c: dict[str, Any]) -> None:
    [view] = grants_service.provider_grants(session, c["civil_clerk"])
    assert view.grant.id == c["grant"].id and view.may_revoke and view.consumer_name == "市公安局"
    assert grants_service.provider_grants(session, c["police_clerk"]) == []


def test_r16_self_service_grant_names_the_scenario(session: Session, c: dict[str, Any]) -> None:
    code = entry(session, c, sharing_attribute="unconditional", sharing_conditions=[])
    grant = grants_service.self_service(
        session, c["police_clerk"], code, "户籍迁移核验", ["full_name"], "api"
    )
    session.commit()
    assert grant.origin == "unconditional" and grant.items == ["full_name"]
    assert grant.valid_to - grant.valid_from == dt.timedelta(days=grants_service.unconditional_grant_days())
    res = data_resource(session, code)
    decision = decide_data(session, c["police_clerk"], res, scenario="户籍迁移核验", items=["full_name"])
    assert decision.allowed and decision.grant_id == grant.id and decision.basis == "grant"
    with pytest.raises(GongshuError) as info:
        grants_service.self_service(session, c["police_clerk"], c["code"], SCENARIO, ["full_name"], "api")
    assert info.value.code == "sharing.conditional_apply"
    session.rollback()
    with pytest.raises(GongshuError) as info:
        grants_service.self_service(session, c["police_clerk"], code, "户籍迁移核验", ["full_name"], "file")
    assert info.value.code == "sharing.method_not_offered"


def test_r17_renewal_is_a_new_application_prefilled_from_the_grant(
    session: Session, c: dict[str, Any]
) -> None:
    grant = c["grant"]
    new_end = today_china() + dt.timedelta(days=400)
    case = grants_service.renew(session, c["police_clerk"], grant.id, new_end)
    session.commit()
    p = case.payload
    assert case.kind == "sharing_application" and p["renews_grant_id"] == grant.id
    assert p["items"] == grant.items and p["scenario"] == SCENARIO and p["delivery_method"] == "api"
    assert p["valid_from"] == (today_china() + dt.timedelta(days=91)).isoformat()
    assert p["valid_to"] == new_end.isoformat()
    grants_service.revoke(session, c["civil_clerk"], grant.id, "停止共享")
    session.commit()
    with pytest.raises(GongshuError) as info:
        grants_service.renew(session, c["police_clerk"], grant.id, new_end)
    assert info.value.code == "sharing.renew_closed"


def test_r26_grants_page_and_revoke_form(session: Session, c: dict[str, Any]) -> None:
    gid = c["grant"].id
    consumer, _ = client_for(session, "police_clerk")
    mine = consumer.get("/sharing/grants")
    assert mine.status_code == 200 and f'data-grant="{gid}"' in mine.text and "revoke-link" not in mine.text
    assert "数据共享" in mine.text and consumer.get("/sharing/grants?lang=en").status_code == 200
    provider, csrf = client_for(session, "civil_clerk")
    page = provider.get("/sharing/grants")
    assert 'data-testid="provided-grants"' in page.text and "revoke-link" in page.text
    assert "revoke-form" in provider.get(f"/sharing/grants/{gid}/revoke").text
    assert provider.post(f"/sharing/grants/{gid}/revoke", data={"reason": "停止"}).status_code == 403
    done = provider.post(
        f"/sharing/grants/{gid}/revoke",
        data={"reason": "停止共享", "confirm": "1", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert 'data-state="revoked"' in provider.get("/sharing/grants").text
    assert _allowed(session, c) == "access.grant_revoked"


def test_r16_self_service_page_and_api(session: Session, c: dict[str, Any]) -> None:
    code = entry(session, c, sharing_attribute="unconditional", sharing_conditions=[])
    client, csrf = client_for(session, "police_clerk")
    assert "直接使用" in client.get(f"/sharing/apply/{code}").text
    page = client.get(f"/sharing/self-service/{code}")
    assert page.status_code == 200 and "self-service-form" in page.text
    assert client.get(f"/sharing/self-service/{code}?lang=en").status_code == 200
    form = {"items": ["full_name"], "scenario": "户籍迁移核验", "method": "api"}
    assert client.post(f"/sharing/self-service/{code}", data=form).status_code == 403
    done = client.post(
        f"/sharing/self-service/{code}", data={**form, "csrf_token": csrf}, follow_redirects=False
    )
    assert done.status_code == 303
    body = {"resource_code": code, "scenario": "低保核对", "items": ["full_name"], "method": "api"}
    assert client.post("/api/v1/sharing/self-service", json=body).status_code == 403
    made = client.post("/api/v1/sharing/self-service", json=body, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201 and made.json()["origin"] == "unconditional"
    scenarios = {g["scenario"] for g in client.get("/api/v1/sharing/grants").json()["mine"]}
    assert {"户籍迁移核验", "低保核对", SCENARIO} <= scenarios


def test_r26_api_revoke(session: Session, c: dict[str, Any]) -> None:
    client, csrf = client_for(session, "reviewer")
    gid = c["grant"].id
    assert client.post(f"/api/v1/sharing/grants/{gid}/revoke", json={"reason": "x"}).status_code == 403
    done = client.post(
        f"/api/v1/sharing/grants/{gid}/revoke",
        json={"reason": "检查发现超范围使用"},
        headers={"X-CSRF-Token": csrf},
    )
    assert done.status_code == 200 and done.json()["state"] == "revoked"


def test_r17_renewal_form_opens_a_new_application(session: Session, c: dict[str, Any]) -> None:
    client, csrf = client_for(session, "police_clerk")
    assert "renew-form" in client.get("/sharing/grants").text
    end = (today_china() + dt.timedelta(days=300)).isoformat()
    done = client.post(
        f"/sharing/grants/{c['grant'].id}/renew",
        data={"valid_to": end, "csrf_token": csrf},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"].startswith("/cases/")
    bad = client.post(f"/sharing/grants/{c['grant'].id}/renew", data={"valid_to": "x", "csrf_token": csrf})
    assert bad.status_code == 422 and "sharing.date_invalid" in bad.text
