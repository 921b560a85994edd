"""R13 before the load: a provider checks a file against the resource's items and rules without storing
anything (预检) — from the upload page, the API and `gongshu ingest … --check`. The check runs the load's
own pipeline, so its counts are the batch report's; a file the load refuses whole is refused the same
way; only those who may load the resource may check a file for it (R26: default deny)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from page_fixtures import page_client
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from store_fixtures import HEADER, IDS, publish, store_city, write
from typer.testing import CliRunner

from gongshu.aggregation.ingest import ingest_file
from gongshu.aggregation.precheck import check_file
from gongshu.cli import app as cli_app
from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.db import read_scope
from gongshu.kernel.errors import Forbidden, ValidationFailed
from gongshu.kernel.identity import tokens
from gongshu.kernel.identity.models import User
from gongshu.store import batches
from gongshu.store import service as store
from gongshu.store.models import QuarantineRow
from gongshu.web.app import create_app

ROWS = [
    f"{IDS[0]},甲,2024-01-01,1,1.5,是",  # row 2: accepted
    f"{IDS[1]},乙,2024-13-45,1,2.5,是",  # row 3: no such date
    "123,坏号,2024-01-02,0,1,是",  # row 4: not an ID number
    f"{IDS[2]},丙,2024-01-05,abc,x,是",  # row 5: two problems
    f"{IDS[3]},丁,2024年1月6日,2,3,否",  # row 6: accepted (the date is normalised)
    f"{IDS[0]},甲二,2024-01-07,1,1.5,是",  # row 7: the key of row 2 again: row 2 is de-duplicated
]
BODY = HEADER + "\n" + "\n".join(ROWS) + "\n"


@pytest.fixture()
def c(session: Session, db_clean: str) -> dict[str, Any]:
    out = store_city(session)
    out["code"] = publish(session, out).resource_code
    return out


def _stored(code: str) -> tuple[int, int, int]:
    """Batches, records and quarantine rows of the resource."""
    with read_scope() as s:
        ids = [b.id for b in batches.of_resource(s, code)]
        quarantined = s.scalar(
            select(func.count()).select_from(QuarantineRow).where(QuarantineRow.batch_id.in_(ids or [0]))
        )
        return len(ids), len(store.rows(s, code)), int(quarantined or 0)


def _api(session: Session, username: str) -> TestClient:
    user = session.scalars(select(User).where(User.username == username)).one()
    raw, _ = tokens.issue_token(session, user, name="pytest")
    session.commit()
    return TestClient(create_app(), headers={"Authorization": f"Bearer {raw}"})


def test_r13_check_reports_every_problem_row_and_stores_nothing(
    session: Session, c: dict[str, Any], tmp_path: Path
) -> None:
    report = check_file(c["civil_clerk"], c["code"], write(tmp_path, "mixed.csv", BODY))
    assert (report["received"], report["accepted"], report["refused"], report["deduplicated"]) == (6, 2, 3, 1)
    assert report["stored"] is False
    problems = {(p["column"], p["rule"]): p["count"] for p in report["problems"]}
    assert problems == {
        ("registered_on", "type.date"): 1,
        ("id_number", "id.length"): 1,
        ("children", "type.integer"): 1,
        ("allowance", "type.decimal"): 1,
        ("id_number", "duplicate_key"): 1,
    }
    cells = [(x["source_row"], x["column"], x["rule"], x["value"]) for x in report["cells"]]
    assert cells == [
        (2, "id_number", "duplicate_key", IDS[0]),  # the earlier occurrence; row 7 is kept
        (3, "registered_on", "type.date", "2024-13-45"),
        (4, "id_number", "id.length", "123"),
        (5, "allowance", "type.decimal", "x"),
        (5, "children", "type.integer", "abc"),
    ]
    assert report["cells_total"] == 5 == report["cells_shown"]
    assert _stored(c["code"]) == (0, 0, 0)  # no batch, no record, no quarantine
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "store.file_checked")).one()
    assert entry.object_id == c["code"] and entry.detail["refused"] == 3


def test_r13_check_agrees_with_the_load_of_the_same_file(
    session: Session, c: dict[str, Any], tmp_path: Path
) -> None:
    path = write(tmp_path, "mixed.csv", BODY)
    checked = check_file(c["civil_clerk"], c["code"], path, sample=2)
    assert checked["cells_shown"] == 2 and checked["cells_total"] == 5  # all counted, the first listed
    loaded = ingest_file(c["civil_clerk"], c["code"], path)
    for k in ("received", "accepted", "refused", "deduplicated"):
        assert checked[k] == loaded[k], k
    with read_scope() as s:
        rules = sorted(
            (q.source_row, q.rule)
            for q in s.scalars(select(QuarantineRow).where(QuarantineRow.batch_id == loaded["id"]))
        )
    assert rules == sorted(
        (x["source_row"], x["rule"]) for x in check_file(c["civil_clerk"], c["code"], path)["cells"]
    )


def test_r13_check_finds_duplicate_keys_across_chunks_as_the_load_does(
    session: Session, c: dict[str, Any], tmp_path: Path
) -> None:
    rows = [f"{IDS[i % 4]},名{i},2024-01-0{i % 9 + 1},{i},1,是" for i in range(9)]  # 4 keys, 9 rows
    path = write(tmp_path, "dups.csv", HEADER + "\n" + "\n".join(rows) + "\n")
    checked = check_file(c["civil_clerk"], c["code"], path, batch_rows=2)  # five chunks
    assert (checked["accepted"], checked["deduplicated"]) == (4, 5)
    dropped = [x["source_row"] for x in checked["cells"] if x["rule"] == "duplicate_key"]
    loaded = ingest_file(c["civil_clerk"], c["code"], path, batch_rows=2)
    assert (loaded["accepted"], loaded["deduplicated"]) == (4, 5)
    with read_scope() as s:
        kept = sorted(str(r["full_name"]) for r in store.rows(s, c["code"]))
    assert dropped == [2, 3, 4, 5, 6]  # the last occurrence of each key stays: rows 7–10 (名5 … 名8)
    assert kept == ["名5", "名6", "名7", "名8"]


def test_r13_check_refuses_a_file_the_load_refuses_whole(
    session: Session, c: dict[str, Any], tmp_path: Path
) -> None:
    wrong = write(tmp_path, "wrong.csv", "id_number,full_name,colour\n" + f"{IDS[0]},甲,red\n")
    with pytest.raises(ValidationFailed) as schema:
        check_file(c["civil_clerk"], c["code"], wrong)
    assert schema.value.code == "store.schema_mismatch"
    with pytest.raises(ValidationFailed) as empty:
        check_file(c["civil_clerk"], c["code"], write(tmp_path, "head.csv", HEADER + "\n"))
    assert empty.value.code == "ingest.no_rows"
    gbk = write(tmp_path, "gbk.csv", BODY, encoding="gbk")
    assert check_file(c["civil_clerk"], c["code"], gbk)["encoding"] in ("gbk", "gb18030")
    assert _stored(c["code"]) == (0, 0, 0)


def test_r13_check_is_for_those_who_may_load_the_resource_only(
    session: Session, c: dict[str, Any], tmp_path: Path
) -> None:
    path = write(tmp_path, "mixed.csv", BODY)
    with pytest.raises(Forbidden):
        check_file(c["police_clerk"], c["code"], path)
    police = _api(session, "police_clerk")
    denied = police.post(f"/api/v1/data/{c['code']}/check", files={"file": ("m.csv", BODY.encode())})
    assert denied.status_code == 403 and "refused" not in denied.text
    anonymous = TestClient(create_app()).post(
        f"/api/v1/data/{c['code']}/check", files={"file": ("m.csv", BODY.encode())}
    )
    assert anonymous.status_code in (401, 403) and "received" not in anonymous.text
    assert not session.scalars(select(AuditEntry).where(AuditEntry.action == "store.file_checked")).all()


def test_r13_check_by_api_returns_the_report(session: Session, c: dict[str, Any]) -> None:
    clerk = _api(session, "civil_clerk")
    got = clerk.post(f"/api/v1/data/{c['code']}/check", files={"file": ("m.csv", BODY.encode())})
    assert got.status_code == 200, got.text
    body = got.json()
    assert (body["received"], body["accepted"], body["refused"], body["deduplicated"]) == (6, 2, 3, 1)
    assert body["filename"] == "m.csv" and body["cells"][0]["source_row"] == 2
    bad = clerk.post(f"/api/v1/data/{c['code']}/check", files={"file": ("m.doc", b"x")})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "ingest.format_unknown"
    assert _stored(c["code"]) == (0, 0, 0)


def test_r13_upload_page_checks_a_file_without_storing_it(session: Session, c: dict[str, Any]) -> None:
    clerk, csrf = page_client("civil_clerk", session=session)
    form = clerk.get(f"/data/{c['code']}/upload").text
    assert "只检查，不入库" in form
    got = clerk.post(
        f"/data/{c['code']}/upload",
        data={"csrf_token": csrf, "action": "check"},
        files={"file": ("mixed.csv", BODY.encode())},
    )
    assert got.status_code == 200, got.text
    page = got.text
    assert "预检结果" in page and "发现问题" in page
    assert 'data-testid="check-refused">3<' in page and 'data-testid="check-deduplicated">1<' in page
    assert "2024-13-45" in page and "登记日期" in page  # the cell and its column's label
    assert _stored(c["code"]) == (0, 0, 0)
    en, en_csrf = page_client("civil_clerk", "en", session=session)
    english = en.post(
        f"/data/{c['code']}/upload",
        data={"csrf_token": en_csrf, "action": "check"},
        files={"file": ("ok.csv", (HEADER + "\n" + ROWS[0] + "\n").encode())},
    ).text
    assert "Check result" in english and "Every row passes" in english
    wrong = clerk.post(
        f"/data/{c['code']}/upload",
        data={"csrf_token": csrf, "action": "check"},
        files={"file": ("w.csv", b"a,b\n1,2\n")},
    )
    assert wrong.status_code == 422 and "store.schema_mismatch" in wrong.text
    assert _stored(c["code"]) == (0, 0, 0)


def test_r13_cli_ingest_check_prints_the_report_and_stores_nothing(
    session: Session, c: dict[str, Any], tmp_path: Path
) -> None:
    path = write(tmp_path, "mixed.csv", BODY)
    runner = CliRunner()
    result = runner.invoke(
        cli_app, ["ingest", str(path), "--resource", c["code"], "--check", "--json", "--as", "civil_clerk"]
    )
    assert result.exit_code == 1, result.output  # rows would be refused
    report = json.loads(result.stdout)
    assert (report["received"], report["refused"], report["deduplicated"]) == (6, 3, 1)
    clean = write(tmp_path, "clean.csv", HEADER + "\n" + ROWS[0] + "\n")
    ok = runner.invoke(
        cli_app, ["ingest", str(clean), "--resource", c["code"], "--check", "--as", "civil_clerk"]
    )
    assert ok.exit_code == 0, ok.output
    assert "可接收 1，拒收 0，重复 0" in ok.stdout
    assert _stored(c["code"]) == (0, 0, 0)
