"""R9: departments may not interrupt updates at will. The freshness page's "last update" is the last LOAD
(a batch of an upload, a push or a pull): correcting one record through an objection (R14) is not a feed
update and must not hide an interrupted feed. A published resource never loaded is expected by its
publication plus one update cycle; past that it is interrupted and alarmed like any other — once."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest
from catalog_fixtures import user
from page_fixtures import page_client
from sqlalchemy import select
from sqlalchemy.orm import Session
from store_fixtures import HEADER, IDS, publish, store_city, write

from gongshu.aggregation import freshness
from gongshu.aggregation.ingest import ingest_file
from gongshu.aggregation.push import PushBatch, push_records
from gongshu.kernel import timeutil
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.identity.models import Organisation, User
from gongshu.kernel.workflow.models import Notification
from gongshu.quality import objections
from gongshu.store import service as store

T0 = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


@pytest.fixture()
def c(session: Session) -> dict[str, Any]:
    timeutil.freeze(T0)
    out = store_city(session)
    out["admin"] = user(session, "authority_admin", out["authority"], "admin")
    person = session.get(Organisation, out["citizen"].org_id)
    assert person is not None
    person.id_number = IDS[0]
    session.commit()
    out["code"] = publish(session, out).resource_code  # update cycle: daily (policy: 1 day)
    session.rollback()
    return out


def _row(code: str) -> freshness.FreshnessRow:
    with read_scope() as s:
        return next(r for r in freshness.freshness(s) if r.resource_code == code)


def _alarm() -> list[str]:
    with session_scope() as s:
        return freshness.alarm_interrupted(s)


def _alarms(code: str) -> dict[str, list[str]]:
    with read_scope() as s:
        stmt = (
            select(User.username, Notification.message_zh)
            .join(Notification, Notification.user_id == User.id)
            .where(Notification.kind == "aggregation.freshness_interrupted")
        )
        out: dict[str, list[str]] = {}
        for name, body in s.execute(stmt):
            if code in body:
                out.setdefault(name, []).append(body)
        return out


def test_r9_an_objection_correction_does_not_reset_the_last_update(c: dict[str, Any], tmp_path: Path) -> None:
    code = c["code"]
    rows = "\n".join(f"{k},张{n},2024-01-0{n + 1},1,10.5,true" for n, k in enumerate(IDS[:3]))
    ingest_file(c["civil_clerk"], code, write(tmp_path, "m.csv", HEADER + "\n" + rows + "\n"))
    assert _row(code).last_update == T0
    timeutil.freeze(T0 + 2 * DAY)  # the daily feed stopped: interrupted
    assert _row(code).state == "interrupted"
    with session_scope() as s:
        case = objections.file_objection(
            s, c["citizen"], code, field="full_name", claimed_value="章零", reason="姓名录入有误"
        )
        case_id = case.id
    assert objections.correct_record(c["civil_clerk"], case_id).status == "approved"
    with read_scope() as s:
        assert store.rows(s, code, key=IDS[0])[0]["full_name"] == "章零"  # the correction went in
    row = _row(code)
    assert row.last_update == T0 and row.state == "interrupted"  # ... and is no feed update
    assert row.expected_by == T0 + DAY
    assert _alarm() == [code]
    page = page_client("reviewer")[0].get("/data/freshness").text
    line = page[page.index(f'data-resource="{code}"') :]
    line = line[: line.index("</tr>")]
    assert 'data-state="interrupted"' in line and "2026-03-02 10:00" in line  # the load, China time
    # A real load is an update again.
    rec = {"id_number": IDS[1], "full_name": "张一", "registered_on": "2024-01-02", "children": 1}
    batch = PushBatch("incremental", [(1, rec | {"allowance": None, "active": None})])
    push_records(c["civil_clerk"], code, batch, uuid.uuid4().hex)
    assert _row(code).last_update == T0 + 2 * DAY and _row(code).state == "fresh"


def test_r9_a_published_resource_never_loaded_is_interrupted_after_its_first_cycle_and_alarmed_once(
    c: dict[str, Any],
) -> None:
    code = c["code"]
    timeutil.freeze(T0 + dt.timedelta(hours=12))
    row = _row(code)
    assert (row.state, row.last_update, row.expected_by) == ("never_loaded", None, T0 + DAY)
    assert _alarm() == []
    timeutil.freeze(T0 + DAY + dt.timedelta(minutes=1))
    row = _row(code)
    assert (row.state, row.last_update, row.expected_by) == ("interrupted", None, T0 + DAY)
    assert _alarm() == [code]
    told = _alarms(code)
    assert set(told) == {"civil_clerk", "reviewer", "authority_admin"}
    assert all(len(bodies) == 1 and "从未汇聚" in bodies[0] for bodies in told.values())
    timeutil.freeze(T0 + 3 * DAY)
    assert _alarm() == []  # once
    assert {name: len(b) for name, b in _alarms(code).items()}["civil_clerk"] == 1
    page = page_client("civil_clerk", "en")[0].get("/data/freshness").text
    line = page[page.index(f'data-resource="{code}"') :]
    line = line[: line.index("</tr>")]
    assert 'data-state="interrupted"' in line and 'data-testid="freshness-never-loaded"' in line
    assert "Never loaded" in line
