"""R13: a quality score a provider can act on — the resource page explains it part by part (validity of the
stored records, acceptance of the recent rows) with the batches that refused rows, the list and the page
show the same number at the same moment, and a resource with nothing to score (no data yet, a closed
emergency's, a withdrawn entry's) shows why instead of a 0 and is left out of its department's score."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from page_fixtures import page_client
from sqlalchemy import select
from sqlalchemy.orm import Session
from store_fixtures import HEADER, IDS, publish, store_city, write

from gongshu.aggregation.ingest import ingest_file
from gongshu.catalog import service as catalog
from gongshu.catalog.models import CatalogEntry
from gongshu.kernel import timeutil
from gongshu.kernel.db import read_scope, session_scope
from gongshu.quality import recheck, scores
from gongshu.quality.rules import set_rules
from gongshu.sharing.emergency_models import EmergencyEvent, EmergencyResource
from gongshu.store import batches

T0 = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)
BAD = "110101199003070000,坏号,2024-01-02,0,1,是"  # a wrong check character: refused at load


def _row(i: int, children: int = 1) -> str:
    return f"{IDS[i]},某{i},2024-01-02,{children},1,是"


@pytest.fixture()
def c(session: Session) -> dict[str, Any]:
    timeutil.freeze(T0)
    out = store_city(session)
    out["code"] = publish(session, out).resource_code
    return out


def _load(c: dict[str, Any], code: str, tmp: Path, rows: list[str], mode: str = "full") -> dict[str, Any]:
    path = write(tmp, f"{code}-{len(rows)}-{rows[0][:4]}.csv", HEADER + "\n" + "\n".join(rows) + "\n")
    return ingest_file(c["civil_clerk"], code, path, mode=mode)


def _recheck(code: str) -> None:
    with session_scope() as s:
        recheck.recheck(s, code)


def _scores() -> tuple[dict[str, scores.ResourceScore], scores.DepartmentScore]:
    with read_scope() as s:
        by_code = {r.resource_code: r for r in scores.resource_scores(s)}
        (dept,) = scores.department_scores(s)
    return by_code, dept


def _list_score(html: str, code: str) -> str:
    row = html[html.index(f'data-resource="{code}"') :]
    found = re.search(r'data-score="([^"]*)"', row[: row.index("</tr>")])
    assert found is not None
    return found.group(1)


def test_r13_the_page_explains_the_score_part_by_part_as_the_list_computes_it(
    c: dict[str, Any], tmp_path: Path
) -> None:
    code = c["code"]
    first = _load(c, code, tmp_path, [_row(0), _row(1), BAD])  # 1 of 3 rows refused
    _recheck(code)  # 2 records, no problem
    clerk, _ = page_client("civil_clerk")
    page = clerk.get(f"/data/quality/{code}")
    assert page.status_code == 200
    assert re.search(r'data-testid="quality-score"[^>]*>66\.7<', page.text)
    breakdown = page.text[page.text.index('data-testid="quality-breakdown"') :]
    assert re.search(r'data-part="validity">.*?100\.0%', breakdown, re.S)
    assert re.search(r'data-part="acceptance">.*?66\.7%', breakdown, re.S)
    assert "检查了 2 条记录，其中 0 条有问题" in breakdown and "共检查 3 行，其中拒收 1 行" in breakdown
    assert f'href="/data/batches/{first["id"]}"' in breakdown  # where the refused row is
    assert "根据最近一次复检计算" not in page.text  # the score is not the re-check's alone
    assert "计算于 2026-03-02 10:00" in page.text  # the moment it was computed (China time)
    assert _list_score(clerk.get("/data/quality").text, code) == "66.67"
    # Another batch moves the score — on the list and on the page alike, at the same moment.
    timeutil.freeze(T0 + dt.timedelta(minutes=5))
    _load(c, code, tmp_path, [_row(2), _row(3), _row(4)], mode="incremental")
    listing = clerk.get("/data/quality").text
    page = clerk.get(f"/data/quality/{code}").text
    assert _list_score(listing, code) == "83.33"
    assert re.search(r'data-testid="quality-score"[^>]*>83\.3<', page)
    assert "复查时共有 2 条记录，现有 5 条" in page  # the re-check is older than the records
    assert "计算于 2026-03-02 10:05" in listing and "计算于 2026-03-02 10:05" in page


def test_r13_a_resource_with_no_data_yet_is_not_scored_0_nor_averaged(
    session: Session, c: dict[str, Any], tmp_path: Path
) -> None:
    empty = publish(session, c, name="婚姻登记统计信息", name_en="Marriage statistics").resource_code
    _load(c, c["code"], tmp_path, [_row(0), _row(1)])
    refused = _load(c, empty, tmp_path, [BAD])  # a full load whose every row is refused: nothing stored
    assert (refused["status"], refused["refused"]) == ("failed", 1)
    recheck.recheck_all(session)  # the daily job: it checks no record of the empty one
    session.commit()
    by_code, dept = _scores()
    assert by_code[empty].score is None and by_code[empty].status == "no_data"
    assert by_code[empty].refused == 1  # the refusal is still shown, with its batch
    assert dept.score == 100.0 and dept.scored == 1  # not dragged down by a resource with no data
    for lang, label in (("zh", "暂无数据"), ("en", "No data yet")):
        client, _ = page_client("civil_clerk", lang)
        listing = client.get("/data/quality").text
        row = listing[listing.index(f'data-resource="{empty}"') :]
        assert label in row[: row.index("</tr>")] and 'data-score=""' in row[: row.index("</tr>")]
        page = client.get(f"/data/quality/{empty}").text
        assert 'data-testid="quality-not-scored"' in page and label in page


def _close_emergency(session: Session, c: dict[str, Any], code: str) -> None:
    event = EmergencyEvent(
        title="台风应急处置",
        purpose="转移安置",
        scope="全市",
        period_start=T0 - dt.timedelta(days=10),
        period_end=T0,
        responsible_org_id=c["civil"].id,
        status="closed",
        closed_at=T0,
    )
    session.add(event)
    session.flush()
    session.add(EmergencyResource(event_id=event.id, resource_code=code))
    session.commit()


def test_r13_r21_a_closed_emergency_and_a_withdrawn_entry_do_not_pull_their_department_down(
    session: Session, c: dict[str, Any], tmp_path: Path
) -> None:
    shelter = publish(session, c, name="台风临时安置人员信息").resource_code
    old = publish(session, c, name="婚姻登记信息（旧）").resource_code
    _load(c, c["code"], tmp_path, [_row(0), _row(1)])
    for code in (shelter, old):
        _load(c, code, tmp_path, [_row(2, 9), _row(3, 9)])
    for code in (shelter, old):  # a rule every stored record breaks: a score of 0
        rule = {"item": "children", "kind": "range", "params": {"max": 3}}
        set_rules(session, c["civil_clerk"], code, [rule])
    session.commit()
    recheck.recheck_all(session)
    session.commit()
    by_code, dept = _scores()
    assert by_code[shelter].score == 0.0 and dept.score == pytest.approx(100 / 3, abs=0.01)  # before
    _close_emergency(session, c, shelter)
    entry = session.scalars(select(CatalogEntry).where(CatalogEntry.resource_code == old)).one()
    catalog.withdraw(session, c["civil_officer"], entry.id, "已由新目录替代")
    session.commit()
    by_code, dept = _scores()
    assert (by_code[shelter].score, by_code[shelter].status) == (None, "emergency_closed")
    assert (by_code[old].score, by_code[old].status) == (None, "withdrawn")
    assert dept.score == 100.0 and dept.scored == 1
    reviewer, _ = page_client("reviewer")
    listing = reviewer.get("/data/quality").text
    assert "不计分：应急事件已结束" in listing and "不计分：目录已撤销" in listing
    page = reviewer.get(f"/data/quality/{shelter}").text
    assert "突发事件所采集的数据（R21）" in page


def test_r13_a_batch_that_checked_no_row_does_not_count(
    session: Session, c: dict[str, Any], tmp_path: Path
) -> None:
    """A batch that failed before its rows were checked (its counts zeroed, the rows it read kept) or is
    still loading says nothing about the rows' quality: only the rows a batch checked count."""
    code = c["code"]
    _load(c, code, tmp_path, [_row(0), BAD])  # 1 of 2 refused: 50
    for status in ("failed", "loading"):
        batch = batches.start(session, c["civil_clerk"], code, mode="incremental", source="upload")
        batch.received = 8
        if status == "failed":
            batches.fail(session, batch.id, {"code": "ingest.failed", "message": "x", "message_en": "x"})
    session.commit()
    by_code, _ = _scores()
    assert (by_code[code].received, by_code[code].refused, by_code[code].score) == (2, 1, 50.0)
    assert by_code[code].batches == 1
