"""R26 data tracker, after the user test: "who read my data" showed one line per page view — the provider's
officer opening the objection's handling page three times in a minute made three identical lines. The
identical reads of a day (same organisation, resource and purpose) are now one line with the number of
times and the first and last time; every read stays in the audit log, and a read of another day or for
another purpose keeps its own line."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from page_fixtures import page_client
from sqlalchemy import select
from sqlalchemy.orm import Session
from store_fixtures import IDS, dispute_city

from gongshu.aggregation import basedata
from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.timeutil import freeze
from gongshu.quality import objections
from gongshu.quality.read_groups import group_reads

CHINA = dt.timezone(dt.timedelta(hours=8))


def _at(day: int, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(2025, 11, day, hour, minute, second, tzinfo=CHINA)


@pytest.fixture()
def c(session: Session, tmp_path: Path, db_clean: str) -> dict[str, Any]:
    return dispute_city(session, tmp_path, db_clean)


def _rows(page: str) -> list[str]:
    table = page[page.index('data-testid="my-reads"') :]
    return re.findall(r'<tr data-testid="my-read">(.*?)</tr>', table[: table.index("</table>")], re.S)


def _handling_reads() -> int:
    with read_scope() as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.action == "data.read")).all()
        return sum((e.detail or {}).get("via") == "objection" for e in entries)


def test_r26_identical_reads_of_a_day_are_one_line_with_their_count_and_times(c: dict[str, Any]) -> None:
    freeze(_at(3, 9))
    with session_scope() as s:
        case = objections.file_objection(s, c["citizen"], c["code"], field="full_name", claimed_value="章零")
        case_id, number = case.id, case.number
    officer = page_client("civil_clerk")[0]
    for second in (0, 20, 40):  # three views of the handling page within a minute
        freeze(_at(3, 10, 1, second))
        assert officer.get(f"/data/objections/{case_id}").status_code == 200
    freeze(_at(3, 10, 5))  # the same day, another purpose: the authority's base look-up
    with session_scope() as s:
        basedata.look_up(s, c["reviewer"], "person", IDS[0])
    freeze(_at(4, 9, 30))  # the next day (a new login), the same purpose again
    assert page_client("civil_clerk")[0].get(f"/data/objections/{case_id}").status_code == 200
    assert _handling_reads() == 4  # every read stays in the audit log

    page = page_client("citizen")[0].get("/my/reads").text
    rows = _rows(page)
    assert len(rows) == 3, rows  # newest first: the next day's read, the look-up, the three views
    next_day, look_up, views = rows
    assert 'data-count="3"' in views and 'data-testid="read-time">2025-11-03 10:01 – 10:01<' in views
    assert 'data-testid="read-org">市民政局<' in views and 'data-testid="read-way">异议处理<' in views
    assert f'<a href="/cases/{case_id}">{number}</a>' in views
    assert 'data-count="1"' in next_day and 'data-testid="read-time">2025-11-04 09:30<' in next_day
    assert 'data-count="1"' in look_up and 'data-testid="read-way">基础库查询<' in look_up
    assert "读取次数" in page
    english = _rows(page_client("citizen", "en")[0].get("/my/reads").text)
    assert len(english) == 3 and 'data-count="3"' in english[2]

    # grouped by the day in China: reads either side of midnight there are two lines
    with read_scope() as s:
        reads = objections.my_reads(s, c["citizen"])
    assert [g.count for g in group_reads(reads)] == [1, 1, 3]
    late = [r for r in reads if r.way_zh == "异议处理"]
    evening = dt.datetime(2025, 11, 3, 15, 59, tzinfo=dt.UTC)  # 23:59 in China, 11-03
    after = dt.datetime(2025, 11, 3, 16, 1, tzinfo=dt.UTC)  # 00:01 in China, 11-04
    pair = [type(late[0])(**{**late[0].__dict__, "at": t}) for t in (after, evening)]
    assert [(g.count, g.day) for g in group_reads(pair)] == [
        (1, dt.date(2025, 11, 4)),
        (1, dt.date(2025, 11, 3)),
    ]
