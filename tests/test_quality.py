"""R13: quality before the load — transforms (trim, full-width, dates), checks (types, length, ID number,
USCC, required key, declared rules), de-duplication, completion, and the quarantine of refused rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openpyxl
import pyarrow as pa
import pytest
from sqlalchemy.orm import Session
from store_fixtures import HEADER, IDS, ITEMS, publish, store_city, write

from gongshu.aggregation.ingest import ingest_file
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import ValidationFailed
from gongshu.quality import rules, transforms
from gongshu.quality.checks import check_column
from gongshu.store import batches
from gongshu.store import service as store


@pytest.fixture()
def c(session: Session) -> dict[str, Any]:
    return store_city(session)


@pytest.fixture()
def code(session: Session, c: dict[str, Any]) -> str:
    out = publish(session, c).resource_code
    session.rollback()
    return out


def _load(url: str, c: dict[str, Any], code: str, tmp: Path, rows: list[str], **kw: Any) -> dict[str, Any]:
    return ingest_file(
        c["civil_clerk"], code, write(tmp, "q.csv", HEADER + "\n" + "\n".join(rows) + "\n"), url=url, **kw
    )


def _quarantine(url: str, batch_id: int) -> list[tuple[int, str, str]]:
    with read_scope(url) as s:
        return [(q.source_row, q.column, q.rule) for q in batches.quarantine(s, batch_id)]


def test_r13_transforms_normalise_dates_fullwidth_and_booleans() -> None:
    dates = pa.array(["2024年1月2日", "2024/1/2", "20240102", " ２０２４－０１－０２ ", "2024.1.2", "", None])
    assert transforms.for_type("date", dates).to_pylist() == ["2024-01-02"] * 5 + [None, None]
    assert transforms.for_type(
        "datetime", pa.array(["2024/1/2 8:05", "2024-01-02T08:05:09"])
    ).to_pylist() == ["2024-01-02 08:05:00", "2024-01-02 08:05:09"]
    assert transforms.for_type("integer", pa.array(["１２３", "+4", "1,000"])).to_pylist() == [
        "123",
        "4",
        "1000",
    ]
    assert transforms.for_type("boolean", pa.array(["是", "否", "TRUE", "0"])).to_pylist() == [
        "1",
        "0",
        "1",
        "0",
    ]
    assert transforms.for_type("string", pa.array(["　全角Ａ　"])).to_pylist() == [
        "全角Ａ"
    ]  # text keeps its letters


def test_r13_type_checks_are_vectorised_per_item() -> None:
    r = check_column(
        {"name": "d", "data_type": "date"},
        pa.array(["2024-02-29", "2023-02-29", "x", None]),
        [],
        required=False,
    )
    assert r.errors.tolist() == [None, "type.date", "type.date", None]
    r = check_column(
        {"name": "k", "data_type": "uscc"}, pa.array(["91350200MA2XXXXXXX", None]), [], required=True
    )
    assert r.errors.tolist()[1] == "required" and str(r.errors[0]).startswith("uscc.")
    r = check_column(
        {"name": "s", "data_type": "string", "length": 2}, pa.array(["ab", "abc"]), [], required=False
    )
    assert r.errors.tolist() == [None, "length"]


def test_r10_r13_invalid_id_numbers_go_to_quarantine_with_row_numbers_and_the_counts_add_up(
    db_clean: str, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    bad_check = IDS[0][:-1] + ("0" if IDS[0][-1] != "0" else "1")
    rows = [
        f"{IDS[0]},甲,,,,",
        f"{bad_check},乙,,,,",
        f"{IDS[1]},丙,2024-13-01,x,,",
        ",丁,,,,",
        f"{IDS[2]},戊,,,,",
    ]
    report = _load(db_clean, c, code, tmp_path, rows)
    assert (report["received"], report["accepted"], report["refused"], report["deduplicated"]) == (5, 2, 3, 0)
    assert report["received"] == report["accepted"] + report["refused"] + report["deduplicated"]
    assert _quarantine(db_clean, report["id"]) == [
        (3, "id_number", "id.check_digit"),
        (4, "registered_on", "type.date"),
        (4, "children", "type.integer"),
        (5, "id_number", "required"),
    ]
    with read_scope(db_clean) as s:
        q = batches.quarantine(s, report["id"])[0]
        assert q.message_zh == "身份证号码：身份证号码校验码错误" and "check character" in q.message_en
        assert q.value == bad_check and q.raw is not None and q.raw["full_name"] == "乙"
        assert {r["id_number"] for r in store.rows(s, code)} == {IDS[0], IDS[2]}


def test_r13_fullwidth_digits_and_chinese_dates_are_normalised_before_the_load(
    db_clean: str, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    fullwidth_id = IDS[0].translate({ord(d): ord(d) + 0xFEE0 for d in "0123456789"})
    report = _load(db_clean, c, code, tmp_path, [f" {fullwidth_id} ,甲,2024年1月2日,３,１２.５,是"])
    assert report["accepted"] == 1
    with read_scope(db_clean) as s:
        [row] = store.rows(s, code)
    assert row["id_number"] == IDS[0] and str(row["registered_on"]) == "2024-01-02" and row["children"] == 3
    assert float(row["allowance"]) == 12.5 and row["active"] is True


def test_r13_duplicate_keys_keep_the_last_and_are_reported(
    db_clean: str, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    report = _load(
        db_clean,
        c,
        code,
        tmp_path,
        [f"{IDS[0]},一,,,,", f"{IDS[1]},乙,,,,", f"{IDS[0]},二,,,,", f"{IDS[0]},三,,,,"],
    )
    assert (report["received"], report["accepted"], report["deduplicated"]) == (4, 2, 2)
    assert _quarantine(db_clean, report["id"]) == [
        (2, "id_number", "duplicate_key"),
        (4, "id_number", "duplicate_key"),
    ]
    with read_scope(db_clean) as s:
        assert store.rows(s, code, key=IDS[0])[0]["full_name"] == "三"


def test_r13_declared_rules_enum_range_pattern_and_date_range(
    db_clean: str, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    with session_scope(db_clean) as s:
        rules.set_rules(
            s,
            c["civil_clerk"],
            code,
            [
                {"item": "full_name", "kind": "enum", "params": {"values": ["甲", "乙"]}},
                {"item": "children", "kind": "range", "params": {"min": 0, "max": 10}},
                {"item": "allowance", "kind": "pattern", "params": {"regex": r"\d+(\.\d{1,2})?"}},
                {
                    "item": "registered_on",
                    "kind": "date_range",
                    "params": {"min": "2000-01-01", "max": "2030-12-31"},
                },
            ],
        )
    rows = [
        f"{IDS[0]},甲,2024-01-02,2,1.5,",
        f"{IDS[1]},丙,,,,",
        f"{IDS[2]},乙,,11,,",
        f"{IDS[3]},乙,,,1.505,",
        f"{IDS[4]},乙,1999-12-31,,,",
    ]
    report = _load(db_clean, c, code, tmp_path, rows)
    assert report["accepted"] == 1
    assert [r[2] for r in _quarantine(db_clean, report["id"])] == ["enum", "range", "pattern", "date_range"]
    with pytest.raises(ValidationFailed), session_scope(db_clean) as s:
        rules.set_rules(
            s, c["civil_clerk"], code, [{"item": "nope", "kind": "enum", "params": {"values": [1]}}]
        )


def test_r13_completion_fills_missing_fields_from_a_reference_resource(
    session: Session, db_clean: str, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    ref_items = [ITEMS[0], ITEMS[1]]
    ref = publish(
        session, c, items=ref_items, name="人口基础信息", category_code="A01-02-03-05"
    ).resource_code
    session.rollback()
    path = write(tmp_path, "ref.csv", f"id_number,full_name\n{IDS[0]},甲\n{IDS[1]},乙\n")
    ingest_file(c["civil_clerk"], ref, path, url=db_clean)
    with session_scope(db_clean) as s:
        rules.set_rules(
            s,
            c["civil_clerk"],
            code,
            [
                {
                    "item": "full_name",
                    "kind": "complete",
                    "params": {"reference": ref, "reference_item": "full_name"},
                }
            ],
        )
    report = _load(db_clean, c, code, tmp_path, [f"{IDS[0]},,,,,", f"{IDS[1]},自报,,,,", f"{IDS[2]},,,,,"])
    assert report["completed"] == 1
    with read_scope(db_clean) as s:
        assert {r["id_number"]: r["full_name"] for r in store.rows(s, code)} == {
            IDS[0]: "甲",
            IDS[1]: "自报",
            IDS[2]: None,
        }


def test_r13_a_full_load_with_nothing_accepted_keeps_the_data_and_the_quarantine(
    db_clean: str, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    _load(db_clean, c, code, tmp_path, [f"{IDS[0]},甲,,,,"])
    report = _load(db_clean, c, code, tmp_path, ["123,乙,,,,"])
    assert report["status"] == "failed" and report["refused"] == 1
    assert _quarantine(db_clean, report["id"]) == [(2, "id_number", "id.length")]
    with read_scope(db_clean) as s:
        assert [r["full_name"] for r in store.rows(s, code)] == ["甲"]


def test_r13_quarantine_row_numbers_are_the_source_lines_and_rows(
    db_clean: str, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    lines = [
        f'{{"id_number": "{IDS[0]}", "full_name": "甲", "registered_on": null, "children": null, '
        '"allowance": null, "active": null}',
        "",
        '{"id_number": "123", "full_name": "乙", "registered_on": null, "children": null, '
        '"allowance": null, "active": null}',
    ]
    report = ingest_file(c["civil_clerk"], code, write(tmp_path, "x.jsonl", "\n".join(lines)), url=db_clean)
    assert _quarantine(db_clean, report["id"]) == [(3, "id_number", "id.length")]
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(HEADER.split(","))
    ws.append([IDS[0], "甲"])
    ws.append([])
    ws.append(["123", "乙"])
    wb.save(tmp_path / "x.xlsx")
    report = ingest_file(c["civil_clerk"], code, tmp_path / "x.xlsx", url=db_clean)
    assert (report["received"], report["refused"]) == (2, 1)
    assert _quarantine(db_clean, report["id"]) == [(4, "id_number", "id.length")]
