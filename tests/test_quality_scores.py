"""R13 during and after the load: stored data re-checked against the current rules, problems traceable to
their batch and source row, quality scores per resource and department, and the report pages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from store_fixtures import HEADER, IDS, publish, store_city, write

from gongshu.aggregation.ingest import ingest_file
from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.identity import sessions
from gongshu.kernel.identity.models import User
from gongshu.quality import recheck as rc
from gongshu.quality import scores
from gongshu.quality.jobs import recheck_job
from gongshu.quality.rules import set_rules
from gongshu.web.app import create_app

ROWS = [
    f"{IDS[0]},张三,2024-01-02,1,2.5,是",
    f"{IDS[1]},李四,2024-01-03,5,,否",  # source row 3: five children
    f"{IDS[2]},王五,2019-06-30,2,1,是",  # source row 4: before 2020
    f"{IDS[3]},赵六,2024-02-01,0,3,是",
]


@pytest.fixture()
def c(session: Session) -> dict[str, Any]:
    return store_city(session)


@pytest.fixture()
def code(session: Session, c: dict[str, Any]) -> str:
    out = publish(session, c).resource_code
    session.rollback()
    return out


def _load(c: dict[str, Any], code: str, tmp: Path, rows: list[str], name: str = "d.csv") -> dict[str, Any]:
    return ingest_file(c["civil_clerk"], code, write(tmp, name, HEADER + "\n" + "\n".join(rows) + "\n"))


def _tighten(session: Session, c: dict[str, Any], code: str) -> None:
    set_rules(
        session,
        c["civil_clerk"],
        code,
        [
            {"item": "children", "kind": "range", "params": {"min": 0, "max": 3}},
            {"item": "registered_on", "kind": "date_range", "params": {"min": "2020-01-01"}},
        ],
    )
    session.commit()


def test_r13_recheck_finds_what_a_later_rule_refuses_with_batch_and_source_row(
    session: Session, db_clean: str, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    batch = _load(c, code, tmp_path, ROWS)
    assert batch["status"] == "committed" and batch["accepted"] == 4
    with session_scope() as s:
        clean = rc.recheck(s, code)
    assert (clean.records, clean.problem_records, clean.problems) == (4, 0, 0)
    _tighten(session, c, code)
    with session_scope() as s:
        report = rc.recheck(s, code)
    assert (report.records, report.problem_records) == (4, 2)
    assert report.by_rule == {"range": 1, "date_range": 1}
    with read_scope() as s:
        found = {
            (p.record_key, p.column, p.rule, p.value, p.batch_id, p.source_row) for p in rc.problems(s, code)
        }
        latest = rc.latest(s, code)
        assert latest is not None and latest.problem_records == 2
        audited = s.scalars(select(AuditEntry).where(AuditEntry.action == "quality.recheck")).all()
    assert found == {
        (IDS[1], "children", "range", "5", batch["id"], 3),
        (IDS[2], "registered_on", "date_range", "2019-06-30", batch["id"], 4),
    }
    assert len(audited) == 2


def test_r13_recheck_pages_through_the_table_in_chunks(
    session: Session,
    db_clean: str,
    c: dict[str, Any],
    code: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = [f"{i},某{n},2024-01-02,9,1,是" for n, i in enumerate(IDS)]
    _load(c, code, tmp_path, rows)
    _tighten(session, c, code)
    monkeypatch.setattr(rc, "RECHECK_CHUNK", 3)
    with session_scope() as s:
        report = rc.recheck(s, code)
    assert (report.records, report.problem_records, report.problems) == (len(IDS), len(IDS), len(IDS))
    with session_scope() as s:  # a second re-check replaces the problems, it does not add to them
        rc.recheck(s, code)
    with read_scope() as s:
        assert sorted(p.record_key for p in rc.problems(s, code)) == sorted(IDS)


def test_r13_score_combines_problem_records_and_refused_rows(
    session: Session, db_clean: str, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    assert scores.score_of(0, None, 0, 0) is None
    assert scores.score_of(10, 0, 0, 0) == 100.0
    assert scores.score_of(4, 1, 5, 1) == 60.0
    with read_scope() as s:
        assert [r.score for r in scores.resource_scores(s)] == [None]  # nothing loaded, nothing checked
    batch = _load(c, code, tmp_path, [*ROWS, "110101199003070000,坏号,2024-01-02,0,1,是"])
    assert (batch["received"], batch["refused"]) == (5, 1)
    with read_scope() as s:
        (before,) = scores.resource_scores(s)
    assert before.score == 80.0 and before.problem_records is None  # refused 1 of 5, not yet re-checked
    _tighten(session, c, code)
    with session_scope() as s:
        rc.recheck(s, code)
    with read_scope() as s:
        (after,) = scores.resource_scores(s)
        (dept,) = scores.department_scores(s)
    assert (after.records, after.problem_records, after.score) == (4, 2, 40.0)  # 100 × 2/4 × 4/5
    assert dept.name == "市民政局" and dept.score == 40.0 and dept.records == 4


def test_r13_department_score_is_weighted_by_rows(
    session: Session, db_clean: str, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    other = publish(session, c, name="婚姻登记补充信息", name_en="Marriage registration (supplement)")
    other_code = other.resource_code
    session.rollback()
    _load(c, code, tmp_path, ROWS[:1], "a.csv")  # 1 record, 0 problems → 100
    _load(c, other_code, tmp_path, [f"{i},某,2024-01-02,0,1,是" for i in IDS[3:6]] + ROWS[1:2], "b.csv")
    set_rules(
        session, c["civil_clerk"], other_code, [{"item": "children", "kind": "range", "params": {"max": 3}}]
    )
    session.commit()
    recheck_job(session)  # the daily job re-checks every resource
    session.commit()
    with read_scope() as s:
        by_code = {r.resource_code: r.score for r in scores.resource_scores(s)}
        (dept,) = scores.department_scores(s)
    assert by_code == {code: 100.0, other_code: 75.0}
    assert dept.score == 80.0  # (100 × 1 + 75 × 4) / 5
    assert [r.resource_code for r in dept.resources] == [other_code, code]  # worst first


def _client(session: Session, username: str) -> TestClient:
    user = session.scalar(select(User).where(User.username == username))
    assert user is not None
    raw, _ws = sessions.start_session(session, user, ip=None, user_agent="pytest", second_factor_done=True)
    session.commit()
    client = TestClient(create_app())
    client.cookies.set("gs_session", raw)
    return client


def test_r13_quality_pages_worst_first_and_problems_link_to_their_batch(
    session: Session, db_clean: str, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    batch = _load(c, code, tmp_path, ROWS)
    _tighten(session, c, code)
    with session_scope() as s:
        rc.recheck(s, code)
    clerk = _client(session, "civil_clerk")
    home = clerk.get("/data/quality")
    assert home.status_code == 200 and "数据质量" in home.text and "市民政局" in home.text
    assert f'href="/data/quality/{code}"' in home.text and 'data-score="50.0"' in home.text
    page = clerk.get(f"/data/quality/{code}")
    assert page.status_code == 200 and IDS[1] in page.text and "2019-06-30" in page.text
    assert f'href="/data/batches/{batch["id"]}"' in page.text
    with read_scope() as s:
        reads = s.scalars(select(AuditEntry).where(AuditEntry.action == "quality.problems_read")).all()
    assert len(reads) == 1
    citizen = _client(session, "citizen")
    assert citizen.get(f"/data/quality/{code}").status_code == 403
    assert citizen.get("/data/quality").status_code == 403
