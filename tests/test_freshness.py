"""R9: freshness — each published resource is expected again one update cycle (policy) after its last
successful load; a resource past it is interrupted and alarmed once to its provider and the authority."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from catalog_fixtures import org, user
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from store_fixtures import IDS, publish, store_city

from gongshu.aggregation import freshness, jobs
from gongshu.aggregation.push import PushBatch, push_records
from gongshu.kernel import timeutil
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.identity import sessions
from gongshu.kernel.identity.models import User
from gongshu.kernel.workflow.models import Notification
from gongshu.web.app import create_app

T0 = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)


@pytest.fixture()
def c(session: Session) -> dict[str, Any]:
    timeutil.freeze(T0)
    out = store_city(session)
    out["admin"] = user(session, "authority_admin", out["authority"], "admin")
    session.commit()
    return out


@pytest.fixture()
def code(session: Session, c: dict[str, Any]) -> str:
    out = publish(session, c).resource_code  # update cycle: daily (policy: 1 day)
    session.rollback()
    return out


def _load(db_url: str, c: dict[str, Any], code: str) -> None:
    rec = {"id_number": IDS[0], "full_name": "张三", "registered_on": "2024-01-02", "children": 1}
    batch = PushBatch("incremental", [(1, rec | {"allowance": None, "active": None})])
    push_records(c["civil_clerk"], code, batch, uuid.uuid4().hex, url=db_url)


def _row(db_url: str, code: str) -> freshness.FreshnessRow:
    with read_scope(db_url) as s:
        return next(r for r in freshness.freshness(s) if r.resource_code == code)


def _alarms(db_url: str) -> dict[str, int]:
    with read_scope(db_url) as s:
        stmt = select(User.username, func.count()).join(Notification, Notification.user_id == User.id)
        stmt = stmt.where(Notification.kind == "aggregation.freshness_interrupted").group_by(User.username)
        return {name: n for name, n in s.execute(stmt)}


def _alarm(db_url: str) -> list[str]:
    with session_scope(db_url) as s:
        return freshness.alarm_interrupted(s)


def test_r9_states_follow_the_policy_cycle(db_clean: str, c: dict[str, Any], code: str) -> None:
    row = _row(db_clean, code)
    assert (row.state, row.cycle, row.interval_days, row.last_update) == ("never_loaded", "daily", 1, None)
    _load(db_clean, c, code)
    row = _row(db_clean, code)
    assert row.state == "fresh" and row.last_update == T0 and row.expected_by == T0 + dt.timedelta(days=1)
    timeutil.freeze(T0 + dt.timedelta(hours=22))
    assert _row(db_clean, code).state == "due_soon"
    timeutil.freeze(T0 + dt.timedelta(days=1, minutes=1))
    assert _row(db_clean, code).state == "interrupted"


def test_r9_interruption_is_alarmed_once_until_fresh_again(
    db_clean: str, c: dict[str, Any], code: str
) -> None:
    _load(db_clean, c, code)
    timeutil.freeze(T0 + dt.timedelta(days=2))
    assert _alarm(db_clean) == [code]
    assert _alarms(db_clean) == {"civil_clerk": 1, "reviewer": 1, "authority_admin": 1}
    with session_scope(db_clean) as s:
        jobs.freshness_alarm_job(s)  # the hourly job: nothing new
    assert _alarm(db_clean) == [] and _alarms(db_clean)["civil_clerk"] == 1
    _load(db_clean, c, code)
    assert _alarm(db_clean) == []  # fresh again: the alarm is cleared
    timeutil.freeze(T0 + dt.timedelta(days=4))
    assert _alarm(db_clean) == [code] and _alarms(db_clean)["civil_clerk"] == 2


def _client(session: Session, username: str) -> TestClient:
    u = session.scalars(select(User).where(User.username == username)).one()
    raw, _ = sessions.start_session(session, u, ip=None, user_agent="pytest", second_factor_done=True)
    session.commit()
    client = TestClient(create_app())
    client.cookies.set("gs_session", raw)
    return client


def test_r9_freshness_page_scope(session: Session, db_clean: str, c: dict[str, Any], code: str) -> None:
    timeutil.freeze(None)  # months after the publication (T0): never loaded, past its first expected load
    page = _client(session, "reviewer").get("/data/freshness")
    assert (
        page.status_code == 200
        and f'data-resource="{code}"' in page.text
        and 'data-state="interrupted"' in page.text
        and 'data-testid="freshness-never-loaded"' in page.text
    )
    assert f'data-resource="{code}"' in _client(session, "civil_clerk").get("/data/freshness").text
    police = _client(session, "police_clerk").get("/data/freshness")
    assert police.status_code == 200 and 'data-testid="freshness-empty"' in police.text
    person = org(session, "p2", "person")
    user(session, "citizen2", person, "public")
    session.commit()
    refused = _client(session, "citizen2").get("/data/freshness")
    assert refused.status_code == 403 and "freshness.forbidden" in refused.text


def test_r9_interrupted_are_listed_first(
    session: Session, db_clean: str, c: dict[str, Any], code: str
) -> None:
    other = publish(session, c, name="婚姻登记信息（补录）", update_cycle="yearly").resource_code
    _load(db_clean, c, other)
    _load(db_clean, c, code)
    timeutil.freeze(T0 + dt.timedelta(days=3))
    with read_scope(db_clean) as s:
        states = [(r.resource_code, r.state) for r in freshness.freshness(s)]
    assert states == [(code, "interrupted"), (other, "fresh")]
