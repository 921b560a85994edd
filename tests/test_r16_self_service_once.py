"""R16, R19, R26: taking unconditional data twice for the same scenario records one grant — a double
submission returns the grant in force and says so, even when the two requests race each other — and a
delivery made under a grant is decided under that grant, not under a twin that happens to cover the same
request."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from sharing_fixtures import client_for, entry, sharing_city
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gongshu.catalog.data_view import data_resource
from gongshu.kernel import db
from gongshu.kernel.access import grants as access_grants
from gongshu.kernel.access.models import Grant
from gongshu.kernel.access.service import decide_data
from gongshu.kernel.errors import GongshuError
from gongshu.kernel.timeutil import now
from gongshu.sharing import grants_service
from gongshu.sharing.delivery_rows import decide_for_grant

SCENARIO = "户籍死亡注销核验"


@pytest.fixture()
def c(session: Session) -> dict[str, Any]:
    out = sharing_city(session)
    out["code"] = entry(
        session,
        out,
        sharing_attribute="unconditional",
        sharing_conditions=[],
        sharing_methods=["api", "db_table"],
    )
    session.commit()
    return out


def _grants(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count(Grant.id))) or 0


def test_r16_the_same_self_service_twice_returns_the_grant_in_force(
    session: Session, c: dict[str, Any]
) -> None:
    first = grants_service.take_unconditional(
        session, c["police_clerk"], c["code"], SCENARIO, ["id_number", "full_name"], "db_table"
    )
    session.commit()
    assert first.created and first.notice().startswith(f"已登记授权 #{first.grant.id}")
    # The same request again (the items in another order, the scenario with spaces around it).
    again = grants_service.take_unconditional(
        session, c["police_clerk"], c["code"], f" {SCENARIO} ", ["full_name", "id_number"], "db_table"
    )
    session.commit()
    assert not again.created and again.grant.id == first.grant.id
    assert again.notice().startswith(f"已有相同的有效授权 #{first.grant.id}")
    assert f"#{first.grant.id} is already in force" in again.notice("en")
    assert (
        grants_service.self_service(
            session, c["police_clerk"], c["code"], SCENARIO, ["id_number", "full_name"], "db_table"
        ).id
        == first.grant.id
    )
    assert _grants(session) == 1
    # Another method, other items or another scenario are other grants.
    for scenario, items, method in (
        (SCENARIO, ["id_number", "full_name"], "api"),
        (SCENARIO, ["full_name"], "db_table"),
        ("殡葬补贴核对", ["id_number", "full_name"], "db_table"),
    ):
        assert grants_service.take_unconditional(
            session, c["police_clerk"], c["code"], scenario, items, method
        ).created
    session.commit()
    assert _grants(session) == 4


def test_r16_a_revoked_or_expired_grant_is_not_reused(session: Session, c: dict[str, Any]) -> None:
    args = (c["code"], SCENARIO, ["full_name"], "api")
    first = grants_service.self_service(session, c["police_clerk"], *args)
    session.commit()
    grants_service.revoke(session, c["civil_clerk"], first.id, "核查")
    session.commit()
    second = grants_service.take_unconditional(session, c["police_clerk"], *args)
    session.commit()
    assert second.created and second.grant.id != first.id
    second.grant.valid_to = now() - dt.timedelta(minutes=1)
    session.commit()
    third = grants_service.take_unconditional(session, c["police_clerk"], *args)
    assert third.created and third.grant.id not in (first.id, second.grant.id)


def test_r16_a_double_click_race_makes_one_grant(db_clean: str, session: Session, c: dict[str, Any]) -> None:
    start = threading.Barrier(4)
    made: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def click() -> None:
        try:
            start.wait()
            with db.session_scope(db_clean) as s:
                grant = grants_service.self_service(
                    s, c["police_clerk"], c["code"], SCENARIO, ["id_number"], "db_table"
                )
                grant_id = grant.id
            with lock:
                made.append(grant_id)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=click) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(made) == 4 and len(set(made)) == 1
    assert _grants(session) == 1


def test_r16_every_error_of_a_self_service_request_is_reported(session: Session, c: dict[str, Any]) -> None:
    with pytest.raises(GongshuError) as info:
        grants_service.self_service(session, c["police_clerk"], c["code"], "  ", [], "fax")
    err = info.value
    assert err.code == "sharing.self_service_invalid" and err.status_code == 422
    assert [e["field"] for e in err.details["errors"]] == ["items", "scenario", "delivery_method"]
    assert "请选择申请的信息项" in err.message_zh and "请填写应用场景" in err.message_zh
    session.rollback()
    with pytest.raises(GongshuError) as info:
        grants_service.self_service(session, c["police_clerk"], c["code"], "场" * 201, ["id_number"], "api")
    assert info.value.code == "sharing.scenario_too_long" and "现为201字" in info.value.message_zh
    session.rollback()
    assert _grants(session) == 0


def test_r16_self_service_page_posted_twice_keeps_one_grant(session: Session, c: dict[str, Any]) -> None:
    client, csrf = client_for(session, "police_clerk")
    form = {"items": ["id_number"], "scenario": SCENARIO, "method": "db_table", "csrf_token": csrf}
    said = []
    for _ in range(2):
        done = client.post(f"/sharing/self-service/{c['code']}", data=form, follow_redirects=False)
        assert done.status_code == 303
        said.append(client.get(done.headers["location"]).text)
    body = {"resource_code": c["code"], "scenario": SCENARIO, "items": ["id_number"], "method": "db_table"}
    made = client.post("/api/v1/sharing/self-service", json=body, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201
    gid = session.scalar(select(Grant.id))
    assert _grants(session) == 1 and made.json()["grant_id"] == gid
    assert "应用场景已登记" in said[0] and "未重复登记" not in said[0]
    assert f"已有相同的有效授权 #{gid}，未重复登记" in said[1]  # the second post is told, not silently merged


def _twins(session: Session, c: dict[str, Any]) -> tuple[Grant, Grant]:
    """Two identical self-service grants, as a double submission made them before the fix (demo #10, #11)."""
    twins = []
    for _ in range(2):
        start = now()
        twins.append(
            access_grants.create_grant(
                session,
                c["police_clerk"],
                consumer_org_id=c["police"].id,
                resource_id=c["code"],
                items=["id_number", "full_name"],
                scenario=SCENARIO,
                delivery_method="db_table",
                valid_from=start,
                valid_to=start + dt.timedelta(days=365),
                purpose=SCENARIO,
                origin=grants_service.ORIGIN_UNCONDITIONAL,
            )
        )
    session.commit()
    return twins[0], twins[1]


def test_r19_a_grant_is_decided_under_itself_not_under_its_twin(session: Session, c: dict[str, Any]) -> None:
    older, newer = _twins(session, c)
    res = data_resource(session, c["code"])
    ask: dict[str, Any] = {"scenario": SCENARIO, "items": ["id_number", "full_name"], "method": "db_table"}
    # Without a grant named, the earliest grant covering the request answers (on every backend).
    assert decide_data(session, c["police_clerk"], res, **ask).grant_id == older.id
    # A delivery under the newer grant is decided under it: allowed, and named as it.
    for grant in (older, newer):
        decision = decide_data(session, c["police_clerk"], res, grant_id=grant.id, **ask)
        assert decision.allowed and decision.grant_id == grant.id and decision.basis == "grant"
    # The delivery path asks under the grant it delivers (its twin existing changes nothing).
    for grant in (older, newer):
        assert decide_for_grant(session, c["police_clerk"], grant).grant_id == grant.id
    # Its revocation holds for it, whatever its twin and the resource's direct use would allow.
    grants_service.revoke(session, c["civil_clerk"], newer.id, "重复登记")
    session.commit()
    session.expire_all()
    refused = decide_data(session, c["police_clerk"], res, grant_id=newer.id, **ask)
    assert not refused.allowed and refused.reason == "access.grant_revoked"
    assert decide_data(session, c["police_clerk"], res, grant_id=older.id, **ask).allowed
    # A grant of another consumer or resource does not answer for this one.
    assert (
        decide_data(session, c["police_clerk"], res, grant_id=older.id + 100, **ask).reason
        == "access.no_grant"
    )
