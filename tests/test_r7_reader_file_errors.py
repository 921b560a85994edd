"""R7: files the readers cannot take are refused with a precise file error and store nothing, whether
uploaded or only checked — a JSON Lines record with an unpaired surrogate escape, or nested too deep; a
file saved as UTF-16 or UTF-32 is told as such. A CSV with old-Mac line endings (CR alone) is read."""

from __future__ import annotations

import codecs
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from store_fixtures import HEADER, IDS, publish, store_city

from gongshu.aggregation import readers
from gongshu.aggregation.ingest import ingest_file
from gongshu.aggregation.precheck import check_file
from gongshu.kernel.db import read_scope
from gongshu.kernel.identity import tokens
from gongshu.kernel.identity.models import User
from gongshu.store import batches
from gongshu.store import service as store
from gongshu.store.models import QuarantineRow
from gongshu.web.app import create_app

ROWS = [f"{IDS[0]},张三,2024-01-02,1,2.5,是", f"{IDS[1]},李四,2024-01-03,0,,否", f"{IDS[2]},王五,,2,1,是"]


@pytest.fixture()
def c(session: Session, db_clean: str) -> dict[str, Any]:
    out = store_city(session)
    out["code"] = publish(session, out).resource_code
    user = session.scalars(select(User).where(User.username == "civil_clerk")).one()
    raw, _ = tokens.issue_token(session, user, name="pytest")
    session.commit()
    out["client"] = TestClient(create_app(), headers={"Authorization": f"Bearer {raw}"})
    return out


def _stored(code: str) -> tuple[int, int, int]:
    """Committed batches, records and quarantine rows of the resource."""
    with read_scope() as s:
        made = batches.of_resource(s, code)
        ids = [b.id for b in made]
        quarantined = s.scalar(
            select(func.count()).select_from(QuarantineRow).where(QuarantineRow.batch_id.in_(ids or [0]))
        )
        committed = sum(1 for b in made if b.status == "committed")
        return committed, len(store.rows(s, code)), int(quarantined or 0)


def _refused(c: dict[str, Any], name: str, body: bytes, code: str) -> dict[str, Any]:
    """Upload and check `body` by the API: both refused with `code`, nothing stored; the error."""
    errors = []
    for route in ("batches", "check"):
        resp = c["client"].post(f"/api/v1/data/{c['code']}/{route}", files={"file": (name, body)})
        assert resp.status_code == 422, (route, resp.status_code, resp.text)
        error = resp.json()["error"]
        assert error["code"] == code and error["message"] and error["message_en"], (route, error)
        errors.append(error)
    assert errors[0]["details"] == errors[1]["details"]
    assert _stored(c["code"]) == (0, 0, 0)
    return dict(errors[0])


def _write(folder: Path, name: str, body: bytes) -> Path:
    path = folder / name
    path.write_bytes(body)
    return path


def _jsonl(*records: str) -> bytes:
    return ("\n".join(records) + "\n").encode()


def _record(n: int, name: str = "张三", active: str = '"是"', key: str = "active") -> str:
    """A JSON Lines record of the resource's six items, `name` and `active` as raw JSON text."""
    head = json.dumps({"id_number": IDS[n], "registered_on": "2024-01-02", "children": n, "allowance": 1})
    return head[:-1] + f', "full_name": "{name}", "{key}": {active}}}'


def test_r7_jsonl_lone_surrogate_is_a_precise_file_error(c: dict[str, Any]) -> None:
    fine = _record(0)
    in_value = _record(1, active='"\\ud800"')
    error = _refused(c, "s.jsonl", _jsonl(fine, in_value), "ingest.invalid_character")
    assert error["details"] == {"row": 2, "field": "active"}
    in_key = _record(1, key="\\udfff")
    assert _refused(c, "k.jsonl", _jsonl(fine, fine, in_key), "ingest.invalid_character")["details"] == {
        "row": 3,
        "field": "\\udfff",
    }
    pair = _record(1, "李四\\ud83d\\ude00\\\\ud800")  # a pair, then an escaped backslash: text
    report = c["client"].post(
        f"/api/v1/data/{c['code']}/batches", files={"file": ("p.jsonl", _jsonl(fine, pair))}
    )
    assert report.status_code == 201, report.text
    with read_scope() as s:
        assert sorted(str(r["full_name"]) for r in store.rows(s, c["code"])) == ["张三", "李四😀\\ud800"]


def test_r7_jsonl_nested_too_deep_is_a_precise_file_error(c: dict[str, Any], tmp_path: Path) -> None:
    depth = 100_000
    deep = _record(0, active="[" * depth + "]" * depth)
    error = _refused(c, "d.jsonl", _jsonl(_record(1), deep), "ingest.json_too_deep")
    assert error["details"] == {"row": 2, "limit": readers.JSON_MAX_DEPTH}
    unclosed = _record(0, active="{" * depth)
    assert _refused(c, "u.jsonl", _jsonl(unclosed), "ingest.json_too_deep")["details"]["row"] == 1
    in_text = _record(0, "[" * depth)  # brackets inside a string are text, not nesting
    assert (
        check_file(c["civil_clerk"], c["code"], _write(tmp_path, "t.jsonl", _jsonl(in_text)))["received"] == 1
    )


def test_r7_csv_with_cr_line_endings_is_read(c: dict[str, Any], db_clean: str, tmp_path: Path) -> None:
    body = (HEADER + "\r" + "\r".join(ROWS) + "\r").encode("gb18030")
    path = _write(tmp_path, "mac.csv", body)
    checked = check_file(c["civil_clerk"], c["code"], path)
    assert (checked["received"], checked["accepted"], checked["refused"]) == (3, 3, 0)
    report = ingest_file(c["civil_clerk"], c["code"], path, url=db_clean)
    assert (report["received"], report["accepted"]) == (3, 3)
    with read_scope() as s:
        got = {str(r["id_number"]): str(r["full_name"]) for r in store.rows(s, c["code"])}
    assert got == {IDS[0]: "张三", IDS[1]: "李四", IDS[2]: "王五"}
    quoted = (HEADER + "\r" + f'{IDS[3]},"多\r行",2024-01-04,1,1,是' + "\r").encode()
    again = c["client"].post(
        f"/api/v1/data/{c['code']}/batches", files={"file": ("q.csv", quoted)}, data={"mode": "incremental"}
    )
    assert again.status_code == 201 and again.json()["accepted"] == 1, again.text
    with read_scope() as s:
        assert {str(r["full_name"]) for r in store.rows(s, c["code"])} >= {"多\r行"}


@pytest.mark.parametrize(
    ("encoding", "code", "named"),
    [
        ("utf-16", "ingest.utf16_unsupported", "utf-16"),
        ("utf-16-be", "ingest.utf16_unsupported", "utf-16"),
        ("utf-32", "ingest.utf32_unsupported", "utf-32"),
        ("utf-32-be", "ingest.utf32_unsupported", "utf-32"),
    ],
)
def test_r7_utf16_and_utf32_files_are_told_by_their_byte_order_mark(
    c: dict[str, Any], encoding: str, code: str, named: str
) -> None:
    text = HEADER + "\n" + "\n".join(ROWS) + "\n"
    bom = {
        "utf-16-be": codecs.BOM_UTF16_BE,
        "utf-32-be": codecs.BOM_UTF32_BE,
    }.get(encoding, b"")
    body = bom + text.encode(encoding)
    error = _refused(c, "u.csv", body, code)
    assert error["details"] == {"encoding": named}
    assert "UTF-8" in error["message"] and "gb18030" not in error["message_en"]
    records = "\n".join(_record(n) for n in range(2)) + "\n"
    assert _refused(c, "u.jsonl", bom + records.encode(encoding), code)["details"] == {"encoding": named}
