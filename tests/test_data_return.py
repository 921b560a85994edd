"""R20: national and provincial return data — catalogued with the upstream body as provider (registered
on its behalf under a scoped catalog officer role), published, applied for and delivered like any other."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from catalog_fixtures import city, marriage, org, user
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.catalog.data_view import data_resource
from gongshu.kernel.access.grants import create_grant
from gongshu.kernel.access.policy import Action
from gongshu.kernel.access.service import decide, decide_data
from gongshu.kernel.errors import Forbidden, ValidationFailed
from gongshu.kernel.identity.models import User
from gongshu.kernel.identity.service import build_actor, grant_role
from gongshu.kernel.timeutil import now
from gongshu.kernel.workflow import engine
from gongshu.sharing import data_return
from gongshu.web.app import create_app


@pytest.fixture()
def c(session: Session) -> dict[str, Any]:
    out = city(session)
    out["nhc"] = org(session, "nhc", "upstream", "国家卫生健康委员会", "National Health Commission")
    operator = org(session, "info_center", "operator", "市信息中心")
    out["operator_officer"] = user(session, "operator_officer", operator, "data_officer")
    session.commit()
    return out


def _scoped(session: Session, c: dict[str, Any]) -> Any:
    """An admin gives the operator's user the catalog officer role held at the upstream body."""
    u = session.scalars(select(User).where(User.username == "operator_officer")).one()
    grant_role(session, u, "nhc", "catalog_officer")
    return build_actor(session, u)


def _publish(session: Session, c: dict[str, Any], **overrides: Any) -> str:
    officer = _scoped(session, c)
    data = marriage(name="出生医学证明信息（国家回流）", name_en="Birth certificates (returned)", **overrides)
    entry, case = data_return.register_return_resource(session, officer, upstream_org_code="nhc", data=data)
    assert entry.provider_org_id == c["nhc"].id and entry.status == "in_review"
    engine.decide(session, c["reviewer"], case.id, "approve")
    session.commit()
    return entry.resource_code


def test_r20_return_resource_registered_on_behalf_of_upstream_body(
    session: Session, c: dict[str, Any]
) -> None:
    with pytest.raises(Forbidden):
        data_return.register_return_resource(
            session, c["operator_officer"], upstream_org_code="nhc", data=marriage()
        )
    code = _publish(session, c)
    officer = _scoped(session, c)
    # The scoped role covers the upstream body's catalog only.
    assert not decide(session, officer, Action.CATALOG_COMPILE, org_id=c["civil"].id).allowed
    listed = data_return.return_resources(session, c["police_clerk"])
    assert [r["resource_code"] for r in listed] == [code]
    assert listed[0]["upstream"] == "国家卫生健康委员会"


def test_r20_only_upstream_bodies_provide_return_data(session: Session, c: dict[str, Any]) -> None:
    officer = _scoped(session, c)
    with pytest.raises(ValidationFailed) as err:
        data_return.register_return_resource(
            session, officer, upstream_org_code="civil_affairs", data=marriage()
        )
    assert err.value.code == "return.not_upstream"


def test_r20_conditional_return_data_needs_a_sharing_grant(session: Session, c: dict[str, Any]) -> None:
    code = _publish(session, c)
    res = data_resource(session, code)
    scenario = "婚育服务一件事"
    assert decide_data(session, c["police_clerk"], res, scenario=scenario).reason == "access.no_grant"
    create_grant(
        session,
        c["reviewer"],
        consumer_org_id=c["police"].id,
        resource_id=code,
        items=["id_number"],
        scenario=scenario,
        delivery_method="api",
        valid_from=now(),
        valid_to=now() + dt.timedelta(days=30),
    )
    decision = decide_data(session, c["police_clerk"], res, scenario=scenario)
    assert decision.allowed and decision.basis == "grant" and decision.items == ("id_number",)


def test_r20_unconditional_return_data_readable_by_a_department(session: Session, c: dict[str, Any]) -> None:
    code = _publish(
        session,
        c,
        sharing_attribute="unconditional",
        sharing_conditions=[],
        open_attribute="not_open",
        open_conditions=[],
        not_open_reason="涉及个人信息",
    )
    res = data_resource(session, code)
    decision = decide_data(session, c["police_clerk"], res, scenario="户籍业务核验")
    assert decision.allowed and decision.basis == "unconditional"
    assert decide_data(session, c["police_clerk"], res, scenario=None).reason == "access.scenario_required"
    assert not decide_data(session, c["citizen"], res, scenario="x").allowed


def test_r20_return_page_lists_published_return_resources(session: Session, c: dict[str, Any]) -> None:
    code = _publish(session, c)
    html = TestClient(create_app()).get("/sharing/return").text
    # Conditional and open on application: its metadata is public, so the visitor sees it.
    assert code in html and "数据回流" in html


def test_r20_return_page_names_sharing_attribute_and_methods_in_the_page_language(
    session: Session, c: dict[str, Any]
) -> None:
    """R20: the list shows the policy's labels (有条件共享, 服务接口、库表), not the stored codes."""
    _publish(session, c)
    client = TestClient(create_app())
    zh = client.get("/sharing/return").text
    assert "<td>有条件共享</td>" in zh and "<td>服务接口、库表</td>" in zh
    assert "conditional<" not in zh and "db_table" not in zh
    client.cookies.set("gs_lang", "en")
    en = client.get("/sharing/return").text
    assert "<td>Conditional</td>" in en and "<td>Service interface (API), Database table</td>" in en
