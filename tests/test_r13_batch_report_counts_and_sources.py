"""R7 R13: a batch's report adds up — every accepted row inserted, updated or left unchanged, the records a
full load deleted apart — and says where the batch came from: an upload's file, a push as "推送 / Push"
with a short digest (never the 64 hex digits), a pull as its source; the quarantine's row numbers are
explained per source, and the encoding shows only where one was read."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from page_fixtures import page_client
from sqlalchemy import select
from sqlalchemy.orm import Session
from store_fixtures import HEADER, IDS, publish, store_city, write

from gongshu.aggregation.ingest import ingest_file
from gongshu.kernel.identity import tokens
from gongshu.kernel.identity.models import User
from gongshu.web.app import create_app


@pytest.fixture()
def c(session: Session) -> dict[str, Any]:
    return store_city(session)


@pytest.fixture()
def code(session: Session, c: dict[str, Any]) -> str:
    out = publish(session, c).resource_code
    session.rollback()
    return out


def _csv(tmp: Path, name: str, rows: list[tuple[int, str]]) -> Path:
    lines = [f"{IDS[i]},{who},2024-01-02,1,10.5,true" for i, who in rows]
    return write(tmp, name, HEADER + "\n" + "\n".join(lines) + "\n")


def _report_rows(html: str) -> dict[str, str]:
    """The batch report's figures by their test id."""
    return dict(re.findall(r'data-testid="batch-(\w+)">([^<]*)<', html))


def test_r13_batch_report_counts_add_up_with_the_unchanged_rows(
    session: Session, db_clean: str, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    clerk = c["civil_clerk"]
    first = ingest_file(
        clerk, code, _csv(tmp_path, "a.csv", [(0, "张一"), (1, "张二"), (2, "张三")]), url=db_clean
    )
    assert (first["accepted"], first["inserted"], first["unchanged"]) == (3, 3, 0)
    # incremental: one row as stored, one changed, two new
    inc = ingest_file(
        clerk,
        code,
        _csv(tmp_path, "b.csv", [(0, "张一"), (1, "张二改"), (3, "张四"), (4, "张五")]),
        mode="incremental",
        url=db_clean,
    )
    assert (inc["accepted"], inc["inserted"], inc["updated"], inc["unchanged"], inc["deleted"]) == (
        4,
        2,
        1,
        1,
        0,
    )
    # full: two rows as stored, one changed, one new; the two records the file no longer holds are deleted
    full = ingest_file(
        clerk,
        code,
        _csv(tmp_path, "c.csv", [(0, "张一"), (1, "张二改"), (2, "张三改"), (5, "张六")]),
        mode="full",
        url=db_clean,
    )
    assert (full["accepted"], full["inserted"], full["updated"], full["unchanged"], full["deleted"]) == (
        4,
        1,
        1,
        2,
        2,
    )
    assert full["accepted"] == full["inserted"] + full["updated"] + full["unchanged"]

    officer, _ = page_client("civil_clerk", "en", session=session)
    page = officer.get(f"/data/batches/{inc['id']}").text
    figures = _report_rows(page)
    assert (figures["accepted"], figures["inserted"], figures["updated"], figures["unchanged"]) == (
        "4",
        "2",
        "1",
        "1",
    )
    assert (
        "of which unchanged (the same as stored)" in page and "accepted = new + changed + unchanged" in page
    )
    assert 'data-testid="batch-deleted"' not in page  # an incremental upload deletes nothing
    assert "Inserted / updated / deleted" not in page
    page = officer.get(f"/data/batches/{full['id']}").text
    figures = _report_rows(page)
    assert (figures["inserted"], figures["updated"], figures["unchanged"], figures["deleted"]) == (
        "1",
        "1",
        "2",
        "2",
    )
    assert "Deleted records (not in the file)" in page
    assert "A full load also deletes every stored record the file no longer holds." in page
    zh, _ = page_client("civil_clerk", "zh", session=session)
    page = zh.get(f"/data/batches/{full['id']}").text
    assert "其中：未变化（与已存记录相同）" in page and "删除记录（文件中已没有的记录）" in page
    assert "接收 = 新增 + 更新 + 未变化。全量更新还会删除" in page  # no space between Chinese sentences


def test_r7_push_batches_show_push_and_a_short_digest_and_count_records_from_1(
    session: Session, db_clean: str, c: dict[str, Any], code: str
) -> None:
    user = session.scalars(select(User).where(User.username == "civil_clerk")).one()
    raw, _ = tokens.issue_token(session, user, name="push")
    session.commit()
    from fastapi.testclient import TestClient

    api = TestClient(create_app(), headers={"Authorization": f"Bearer {raw}"})
    good = {
        "id_number": IDS[0],
        "full_name": "张三",
        "registered_on": "2024-01-02",
        "children": 1,
        "allowance": 2.5,
        "active": True,
    }
    body = {"mode": "incremental", "records": [good, {**good, "id_number": IDS[1], "children": "两个"}]}
    sent = api.post(f"/api/v1/data/{code}/push", json=body, headers={"Idempotency-Key": "nightly-7"})
    assert sent.status_code == 201, sent.text
    report = sent.json()
    digest = report["filename"].removeprefix("push:sha256:")
    assert len(digest) == 64 and report["unchanged"] == 0

    for lang, label, numbers in (
        ("en", "Push", "Row numbers are the record's number in the pushed batch, starting at 1"),
        ("zh", "推送", "行号为记录在推送批次中的序号，从 1 开始"),
    ):
        officer, _ = page_client("civil_clerk", lang, session=session)
        listing = officer.get(f"/data/{code}/batches").text
        cell = listing.split('data-testid="batch-file-push"', 1)[1].split("</span>", 1)[0]
        assert f"{label} <code>{digest[:12]}</code>" in cell
        assert digest not in cell  # the full digest only in the title
        assert f'title="push:sha256:{digest} · Idempotency-Key: nightly-7"' in listing
        page = officer.get(f"/data/batches/{report['id']}").text
        assert f"{label} <code>{digest[:12]}</code>" in page
        assert numbers in unescape(page) and "header as row 1" not in page and "表头为第 1 行" not in page
        assert 'data-row="2"' in page  # the second record, counted from 1
        assert 'data-testid="batch-encoding"' in page  # a push is read as UTF-8


def test_r13_an_upload_counts_its_header_as_row_1_and_shows_no_encoding_for_xlsx(
    session: Session, db_clean: str, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    from openpyxl import Workbook

    clerk = c["civil_clerk"]
    csv = write(tmp_path, "m.csv", HEADER + f"\n{IDS[0]},张三,2024-01-02,x,10.5,true\n")
    by_csv = ingest_file(clerk, code, csv, mode="incremental", url=db_clean)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER.split(","))
    sheet.append([IDS[1], "李四", "2024-01-02", 1, 10.5, True])
    book.save(tmp_path / "m.xlsx")
    by_xlsx = ingest_file(clerk, code, tmp_path / "m.xlsx", mode="incremental", url=db_clean)
    record = dict(zip(HEADER.split(","), [IDS[2], "王五", "2024-01-02", "x", "10.5", "true"], strict=True))
    jsonl = write(tmp_path, "m.jsonl", json.dumps(record, ensure_ascii=False) + "\n")
    by_jsonl = ingest_file(clerk, code, jsonl, mode="incremental", url=db_clean)

    officer, _ = page_client("civil_clerk", "en", session=session)
    page = officer.get(f"/data/batches/{by_csv['id']}").text
    assert "Row numbers count the header as row 1." in page and 'data-row="2"' in page
    assert '<td data-testid="batch-encoding">utf-8</td>' in page
    page = officer.get(f"/data/batches/{by_xlsx['id']}").text
    assert 'data-testid="batch-encoding"' not in page and ">Encoding<" not in page  # nothing was decoded
    page = officer.get(f"/data/batches/{by_jsonl['id']}").text
    assert "Row numbers are the file's line numbers." in unescape(page) and 'data-row="1"' in page
