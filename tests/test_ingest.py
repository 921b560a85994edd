"""R7: file ingestion — CSV in every encoding departments use, XLSX, JSON Lines, Parquet; malformed files
refused with precise errors and nothing stored; only the provider's data officer ingests (R5)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from store_fixtures import HEADER, IDS, publish, store_city, write
from typer.testing import CliRunner

from gongshu.aggregation import decoding
from gongshu.aggregation.ingest import ingest_file
from gongshu.cli import app as cli_app
from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.db import read_scope
from gongshu.kernel.errors import Forbidden, ValidationFailed
from gongshu.kernel.identity import sessions, tokens
from gongshu.kernel.identity.models import User
from gongshu.store import batches
from gongshu.store import service as store
from gongshu.web.app import create_app

ROWS = [f"{IDS[0]},张三,2024-01-02,1,2.5,是", f"{IDS[1]},李四𠀀,2024-01-03,0,,否"]


@pytest.fixture()
def c(session: Session) -> dict[str, Any]:
    return store_city(session)


@pytest.fixture()
def code(session: Session, c: dict[str, Any]) -> str:
    out = publish(session, c).resource_code
    session.rollback()
    return out


def _rows(url: str, code: str) -> list[dict[str, Any]]:
    with read_scope(url) as s:
        return store.rows(s, code)


@pytest.mark.parametrize(
    ("encoding", "prefix", "expected"),
    [("utf-8", b"", "utf-8"), ("utf-8", b"\xef\xbb\xbf", "utf-8-sig"), ("gb18030", b"", "gb18030")],
)
def test_r7_csv_in_utf8_bom_and_gb18030_loads_the_same_rows(
    db_clean: str, c: dict[str, Any], code: str, tmp_path: Path, encoding: str, prefix: bytes, expected: str
) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(prefix + (HEADER + "\r\n" + "\r\n".join(ROWS) + "\r\n").encode(encoding))
    report = ingest_file(c["civil_clerk"], code, path, url=db_clean)
    assert report["encoding"] == expected and report["accepted"] == 2
    assert [r["full_name"] for r in _rows(db_clean, code)] == ["张三", "李四𠀀"]


def test_r7_csv_in_gbk_is_read_as_gb18030_or_as_told(
    db_clean: str, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    text = HEADER + "\n" + ROWS[0] + "\n"
    report = ingest_file(c["civil_clerk"], code, write(tmp_path, "gbk.csv", text, "gbk"), url=db_clean)
    assert report["encoding"] == "gb18030" and _rows(db_clean, code)[0]["full_name"] == "张三"
    report = ingest_file(
        c["civil_clerk"], code, write(tmp_path, "gbk2.csv", text, "gbk"), encoding="GBK", url=db_clean
    )
    assert report["encoding"] == "gbk" and report["accepted"] == 1


def test_r13_the_same_records_as_a_spreadsheet_are_no_change(
    db_clean: str, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    """A record whose values are the same, written otherwise (2.50 in a CSV, 2.5 in a spreadsheet cell,
    2024/1/2 and 2024-01-02), is not updated and gets no history; a changed value still is."""
    csv_text = HEADER + f"\n{IDS[0]},张三,2024/1/2,1,2.50,是\n{IDS[1]},李四,,2,10.0,否\n"
    ingest_file(c["civil_clerk"], code, write(tmp_path, "first.csv", csv_text), url=db_clean)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(HEADER.split(","))
    ws.append([IDS[0], "张三", dt.date(2024, 1, 2), 1, 2.5, True])
    ws.append([IDS[1], "李四", None, 3, 10, False])  # children 2 → 3: a change
    wb.save(tmp_path / "same.xlsx")
    report = ingest_file(c["civil_clerk"], code, tmp_path / "same.xlsx", mode="incremental", url=db_clean)
    assert (report["inserted"], report["updated"], report["deleted"]) == (0, 1, 0)
    with read_scope(db_clean) as s:
        assert [h.op for h in store.history(s, code, IDS[0])] == ["insert"]
        [_, upd] = store.history(s, code, IDS[1])
        assert (upd.op, upd.before["children"], upd.after["children"]) == ("update", 2, 3)


def test_r7_xlsx_jsonl_and_parquet_load(db_clean: str, c: dict[str, Any], code: str, tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(HEADER.split(","))
    ws.append([IDS[0], "张三", "2024-01-02", 1, 2.5, "是"])
    ws.append([IDS[1], "李四", None, 2, None, "否"])
    wb.save(tmp_path / "x.xlsx")
    assert ingest_file(c["civil_clerk"], code, tmp_path / "x.xlsx", url=db_clean)["accepted"] == 2
    assert [r["children"] for r in _rows(db_clean, code)] == [1, 2]

    lines = [
        f'{{"id_number": "{IDS[2]}", "full_name": "王五", "registered_on": "2024/3/4", "children": 3, '
        '"allowance": 1.5, "active": true}',
        "",
        f'{{"id_number": "{IDS[3]}", "full_name": "赵六", "registered_on": null, "children": null, '
        '"allowance": null, "active": false}',
    ]
    report = ingest_file(c["civil_clerk"], code, write(tmp_path, "x.jsonl", "\n".join(lines)), url=db_clean)
    assert report["accepted"] == 2
    assert [(r["full_name"], r["active"]) for r in _rows(db_clean, code)] == [("王五", True), ("赵六", False)]

    table = pa.table(
        {
            "id_number": [IDS[4]],
            "full_name": ["钱七"],
            "registered_on": pa.array([None], pa.date32()),
            "children": pa.array([4], pa.int64()),
            "allowance": [9.75],
            "active": [True],
        }
    )
    pq.write_table(table, tmp_path / "x.parquet")
    assert ingest_file(c["civil_clerk"], code, tmp_path / "x.parquet", url=db_clean)["accepted"] == 1
    [row] = _rows(db_clean, code)
    assert row["children"] == 4 and float(row["allowance"]) == 9.75 and row["active"] is True


@pytest.mark.parametrize(
    ("content", "code_", "details"),
    [
        (
            HEADER.encode() + f'\n{IDS[0]},"张三,,,,\n{IDS[1]},李四,,,,\n'.encode(),
            "ingest.csv_quoting",
            {"row": 2},
        ),
        (
            HEADER.encode() + f"\n{IDS[0]},张三,,,,\n{IDS[1]},李四,,\n".encode(),
            "ingest.column_count",
            {"row": 3, "expected": 6, "actual": 4},
        ),
        (
            HEADER.encode() + f"\n{IDS[0]},张三,,,,\n".encode("gbk") + IDS[1].encode() + b",\xff\xfe,,,,\n",
            "ingest.invalid_encoding",
            {"encoding": "gb18030"},
        ),
        (b"", "ingest.empty_file", {}),
        (HEADER.encode() + b"\n", "ingest.no_rows", {}),
    ],
    ids=["broken_quoting", "column_count", "invalid_encoding", "empty", "header_only"],
)
def test_r7_malformed_files_give_precise_errors_and_store_nothing(
    db_clean: str,
    c: dict[str, Any],
    code: str,
    tmp_path: Path,
    content: bytes,
    code_: str,
    details: dict[str, Any],
) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(ValidationFailed) as exc:
        ingest_file(c["civil_clerk"], code, path, url=db_clean)
    assert exc.value.code == code_
    assert details.items() <= exc.value.details.items()
    if code_ == "ingest.invalid_encoding":
        assert exc.value.details["byte_offset"] == content.index(b"\xff")
    assert _rows(db_clean, code) == []
    with read_scope(db_clean) as s:
        assert all(b.status == "failed" for b in batches.of_resource(s, code))


def test_r7_explicit_utf8_on_a_gbk_file_reports_the_byte_offset(
    db_clean: str, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    path = write(tmp_path, "g.csv", HEADER + "\n" + ROWS[0] + "\n", "gbk")
    with pytest.raises(ValidationFailed) as exc:
        ingest_file(c["civil_clerk"], code, path, encoding="utf-8", url=db_clean)
    assert exc.value.code == "ingest.invalid_encoding"
    assert exc.value.details["byte_offset"] == len(HEADER) + 1 + len(IDS[0]) + 1


def test_r7_a_huge_line_is_refused(
    db_clean: str, c: dict[str, Any], code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decoding, "LINE_CAP", 1000)
    path = write(tmp_path, "long.csv", HEADER + "\n" + f"{IDS[0]}," + "长" * 5000 + ",,,,\n")
    with pytest.raises(ValidationFailed) as exc:
        ingest_file(c["civil_clerk"], code, path, url=db_clean)
    assert exc.value.code == "ingest.line_too_long"
    assert _rows(db_clean, code) == []


def test_r5_r7_only_the_providers_data_officer_ingests(
    db_clean: str, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    path = write(tmp_path, "x.csv", HEADER + "\n" + ROWS[0] + "\n")
    for who in ("police_clerk", "civil_officer"):
        with pytest.raises(Forbidden):
            ingest_file(c[who], code, path, url=db_clean)
    assert _rows(db_clean, code) == []


def _user(session: Session, username: str) -> User:
    return session.scalars(select(User).where(User.username == username)).one()


def test_r7_r13_api_upload_report_and_quarantine(
    session: Session, db_clean: str, c: dict[str, Any], code: str
) -> None:
    raw, _ = tokens.issue_token(session, _user(session, "civil_clerk"), name="pytest")
    session.commit()
    client = TestClient(create_app(), headers={"Authorization": f"Bearer {raw}"})
    body = (HEADER + "\n" + ROWS[0] + "\n123,坏,,,,\n").encode("gbk")
    made = client.post(
        f"/api/v1/data/{code}/batches",
        files={"file": ("d.csv", body, "text/csv")},
        data={"mode": "full"},
        headers={"Idempotency-Key": "k1"},
    )
    assert made.status_code == 201, made.text
    report = made.json()
    assert (report["received"], report["accepted"], report["refused"], report["encoding"]) == (
        2,
        1,
        1,
        "gb18030",
    )
    got = client.get(f"/api/v1/data/batches/{report['id']}").json()
    assert got["status"] == "committed" and got["quarantined"] == 1
    q = client.get(f"/api/v1/data/batches/{report['id']}/quarantine").json()
    assert q["total"] == 1 and q["rows"][0]["source_row"] == 3 and q["rows"][0]["rule"] == "id.length"
    with read_scope(db_clean) as s:
        audit = s.scalars(select(AuditEntry).where(AuditEntry.action == "store.quarantine_read")).one()
        assert audit.actor_label == "civil_clerk" and audit.object_id == str(report["id"])
    rules = [{"item": "full_name", "kind": "enum", "params": {"values": ["张三"]}}]
    assert client.put(f"/api/v1/data/{code}/rules", json=rules).status_code == 200
    assert client.get(f"/api/v1/data/{code}/rules").json() == rules
    wrong = client.put(f"/api/v1/data/{code}/rules", json=[{"item": "x", "kind": "enum", "params": {}}])
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "quality.rule_invalid"
    bad = client.post(f"/api/v1/data/{code}/batches", files={"file": ("d.csv", b"a,b\n1,2\n", "text/csv")})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "store.schema_mismatch"
    assert set(bad.json()["error"]["details"]) == {"missing", "unexpected"}
    raw2, _ = tokens.issue_token(session, _user(session, "police_clerk"), name="pytest")
    session.commit()
    other = TestClient(create_app(), headers={"Authorization": f"Bearer {raw2}"})
    assert other.get(f"/api/v1/data/batches/{report['id']}").status_code == 403


def test_r7_upload_page_and_batch_pages(
    session: Session, db_clean: str, c: dict[str, Any], code: str
) -> None:
    raw, ws = sessions.start_session(
        session, _user(session, "civil_clerk"), ip=None, user_agent="pytest", second_factor_done=True
    )
    session.commit()
    client = TestClient(create_app())
    client.cookies.set("gs_session", raw)
    page = client.get(f"/data/{code}/upload")
    assert page.status_code == 200 and "上传数据" in page.text and "身份证号码" in page.text
    refused = client.post(
        f"/data/{code}/upload",
        data={"csrf_token": ws.csrf_token, "mode": "full"},
        files={"file": ("d.csv", b"id_number,colour\n1,red\n", "text/csv")},
    )
    assert refused.status_code == 422 and "store.schema_mismatch" in refused.text and "colour" in refused.text
    body = (HEADER + "\n" + ROWS[0] + "\n" + ROWS[0] + "\n").encode()
    done = client.post(
        f"/data/{code}/upload",
        data={"csrf_token": ws.csrf_token, "mode": "full"},
        files={"file": ("d.csv", body, "text/csv")},
        follow_redirects=True,
    )
    assert (
        done.status_code == 200
        and 'data-testid="batch-quarantine"' in done.text
        and "duplicate_key" in done.text
    )
    listing = client.get(f"/data/{code}/batches")
    assert listing.status_code == 200 and 'data-status="committed"' in listing.text
    home = client.get("/data")
    assert (
        home.status_code == 200
        and f'data-resource="{code}"' in home.text
        and 'data-testid="nav-data"' in home.text
    )


def test_r7_cli_ingest_prints_the_report(db_clean: str, c: dict[str, Any], code: str, tmp_path: Path) -> None:
    path = write(tmp_path, "cli.csv", HEADER + "\n" + "\n".join(ROWS) + "\n")
    result = CliRunner().invoke(
        cli_app, ["ingest", str(path), "--resource", code, "--json", "--as", "civil_clerk"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["accepted"] == 2 and report["actor_label"] == "civil_clerk"
    refused = CliRunner().invoke(cli_app, ["ingest", str(path), "--resource", code, "--as", "police_clerk"])
    assert refused.exit_code == 2
