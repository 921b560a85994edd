"""R9 R21: only a resource still to be kept up has an expected next update. The data of a closed
emergency, and a resource whose update cycle the policy does not schedule, are never "interrupted" and
never alarmed; a withdrawn entry is not listed, and its earlier alarm is cleared as "unpublished"."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from page_fixtures import page_client
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from store_fixtures import IDS, publish, store_city

from gongshu.aggregation import freshness
from gongshu.aggregation.push import PushBatch, push_records
from gongshu.catalog import service as catalog
from gongshu.catalog.models import CatalogEntry
from gongshu.kernel import timeutil
from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.workflow.models import Notification
from gongshu.sharing.emergency_models import EmergencyEvent, EmergencyResource

T0 = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)


@pytest.fixture()
def c(session: Session) -> dict[str, Any]:
    timeutil.freeze(T0)
    out = store_city(session)
    out["daily"] = publish(session, out, name="婚姻登记信息").resource_code
    out["emergency"] = publish(session, out, name="台风临时安置人员信息").resource_code
    out["odd"] = publish(session, out, name="一次性普查信息").resource_code
    for code in (out["daily"], out["emergency"], out["odd"]):
        _load(out, code)
    return out


def _load(c: dict[str, Any], code: str) -> None:
    rec = {"id_number": IDS[0], "full_name": "张三", "registered_on": "2024-01-02", "children": 1}
    batch = PushBatch("incremental", [(1, rec | {"allowance": None, "active": None})])
    push_records(c["civil_clerk"], code, batch, uuid.uuid4().hex)


def _emergency(session: Session, c: dict[str, Any], code: str, status: str) -> None:
    """The emergency whose collected data `code` holds (as the emergency procedure records it, R21)."""
    event = EmergencyEvent(
        title="台风应急处置",
        purpose="转移安置",
        scope="全市",
        period_start=T0 - dt.timedelta(days=10),
        period_end=T0 + dt.timedelta(days=10),
        responsible_org_id=c["civil"].id,
        status=status,
        closed_at=T0 if status == "closed" else None,
    )
    session.add(event)
    session.flush()
    session.add(EmergencyResource(event_id=event.id, resource_code=code))
    session.commit()


def _unscheduled(session: Session, code: str) -> None:
    """The entry's cycle is one the policy in force does not schedule (a cycle of an earlier version)."""
    entry = session.scalars(select(CatalogEntry).where(CatalogEntry.resource_code == code)).one()
    entry.update_cycle = "one_off"
    session.commit()


def _states() -> dict[str, tuple[str, str]]:
    with read_scope() as s:
        return {r.resource_code: (r.state, r.not_expected) for r in freshness.freshness(s)}


def _alarm() -> list[str]:
    with session_scope() as s:
        return freshness.alarm_interrupted(s)


def _notified(code: str) -> int:
    with read_scope() as s:
        stmt = select(func.count()).select_from(Notification)
        stmt = stmt.where(
            Notification.kind == "aggregation.freshness_interrupted", Notification.message_zh.contains(code)
        )
        return int(s.scalar(stmt) or 0)


def test_r9_r21_a_closed_emergency_and_an_unscheduled_cycle_are_never_interrupted(
    session: Session, c: dict[str, Any]
) -> None:
    _emergency(session, c, c["emergency"], "closed")
    _unscheduled(session, c["odd"])
    timeutil.freeze(T0 + dt.timedelta(days=3))  # a day's cycle, three days without an update
    states = _states()
    assert states[c["daily"]] == ("interrupted", "")  # the control: a live daily resource
    assert states[c["emergency"]] == ("not_expected", "emergency_closed")
    assert states[c["odd"]] == ("not_expected", "unscheduled")
    assert _alarm() == [c["daily"]]
    assert _notified(c["emergency"]) == 0 and _notified(c["odd"]) == 0 and _notified(c["daily"]) > 0
    page = page_client("reviewer")[0].get("/data/freshness").text
    row = page[page.index(f'data-resource="{c["emergency"]}"') :]
    row = row[: row.index("</tr>")]
    assert 'data-state="not_expected"' in row and "无需按期更新" in row and "突发事件已结束处置" in row
    assert "更新中断" not in row
    assert page.index(f'data-resource="{c["daily"]}"') < page.index(f'data-resource="{c["emergency"]}"')


def test_r21_an_open_emergency_is_still_expected_to_update(session: Session, c: dict[str, Any]) -> None:
    _emergency(session, c, c["emergency"], "open")
    timeutil.freeze(T0 + dt.timedelta(days=3))
    assert _states()[c["emergency"]] == ("interrupted", "")
    assert c["emergency"] in _alarm()


def test_r9_an_alarm_is_cleared_when_the_emergency_closes_or_the_entry_is_withdrawn(
    session: Session, c: dict[str, Any]
) -> None:
    timeutil.freeze(T0 + dt.timedelta(days=3))
    assert sorted(_alarm()) == sorted([c["daily"], c["emergency"], c["odd"]])
    sent = {code: _notified(code) for code in (c["daily"], c["emergency"], c["odd"])}
    _emergency(session, c, c["emergency"], "closed")
    entry = session.scalars(select(CatalogEntry).where(CatalogEntry.resource_code == c["odd"])).one()
    catalog.withdraw(session, c["civil_officer"], entry.id, "该资源已停止采集")
    session.commit()
    assert _alarm() == []
    assert c["odd"] not in _states()  # withdrawn: not a published resource any more
    with read_scope() as s:
        restored = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "aggregation.freshness_restored")
        ).all()
        states = {e.object_id: (e.detail or {}).get("state") for e in restored}
    assert states == {c["emergency"]: "not_expected", c["odd"]: "unpublished"}
    timeutil.freeze(T0 + dt.timedelta(days=9))
    assert _alarm() == []  # the live one is still alarmed (once); the others never again
    assert {code: _notified(code) for code in sent} == sent


def test_r28_freshness_speaks_english_with_one_day_not_one_days(session: Session, c: dict[str, Any]) -> None:
    _emergency(session, c, c["emergency"], "closed")
    en, _ = page_client("reviewer", "en")
    page = en.get("/data/freshness").text
    assert "(1 day)" in page and "(1 days)" not in page
    assert "No update expected" in page and "The emergency is closed" in page
    zh, _ = page_client("reviewer", "zh")
    assert "(1 天)" in zh.get("/data/freshness").text
