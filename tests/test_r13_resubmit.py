"""R13 (R7): refused rows are kept, downloaded, fixed and resubmitted — nothing is ever silently dropped.

A batch's refused rows download as a CSV (one line per refused source row: the published items with the
values as received, then `_source_row` and `_problems`); the corrected file goes back as a resubmission
of that batch — an incremental load of the same resource that names the original; the original batch
shows each refused row as corrected since (by which batch) or still to fix, computed from the data. The
upload page asks for an explicit confirmation before a full load replaces a resource's data (R7), and a
file with no data row is refused like an unreadable one: no batch (R7 R13)."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from page_fixtures import page_client
from sqlalchemy import select
from sqlalchemy.orm import Session
from store_fixtures import HEADER, IDS, publish, store_city, write

from gongshu.aggregation import upload
from gongshu.aggregation.ingest import ingest_file
from gongshu.kernel import db
from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.db import read_scope
from gongshu.kernel.errors import ValidationFailed
from gongshu.kernel.identity import tokens
from gongshu.kernel.identity.models import User
from gongshu.store import batches
from gongshu.store import service as store
from gongshu.store.models import Batch, ResubmittedRow
from gongshu.web.app import create_app

HEADER_ZH = "身份证号码,姓名,登记日期,子女数,补助金额,是否有效"  # the Chinese labels: the schema lock's alias
NAMES = HEADER.split(",")
FULLWIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
WIDE_KEY = IDS[3].translate(FULLWIDTH)  # as a department's system may send it; the checks normalise it
REFUSED = [
    f"{WIDE_KEY},王五,2024-13-45,1,2.5,是",  # row 2: no such date
    "123,坏号,2024-01-02,0,1,是",  # row 3: not an ID number (its key itself is wrong)
    f"{IDS[4]}, 赵六 ,2024-01-05,abc,x,是",  # row 4: two problems; a name with spaces, as received
    f"{IDS[5]},钱七,2024-01-06,2,3,否",  # row 5: accepted
]


@pytest.fixture()
def c(session: Session, db_clean: str, tmp_path: Path) -> dict[str, Any]:
    """A resource with 3 records (batch `first`) and an incremental batch `mixed` that refused rows 2–4."""
    out = store_city(session)
    out["code"] = code = publish(session, out).resource_code
    rows = [f"{IDS[i]},甲{i},2024-01-0{i + 1},{i},1.5,是" for i in range(3)]
    out["first"] = ingest_file(
        out["civil_clerk"], code, write(tmp_path, "first.csv", HEADER + "\n" + "\n".join(rows) + "\n")
    )["id"]
    mixed = ingest_file(
        out["civil_clerk"],
        code,
        write(tmp_path, "mixed.csv", HEADER_ZH + "\n" + "\n".join(REFUSED) + "\n"),
        mode="incremental",
    )
    assert (mixed["accepted"], mixed["refused"]) == (1, 3), mixed
    out["mixed"] = mixed["id"]
    return out


def _api(session: Session, username: str) -> TestClient:
    user = session.scalars(select(User).where(User.username == username)).one()
    raw, _ = tokens.issue_token(session, user, name="pytest")
    session.commit()
    return TestClient(create_app(), headers={"Authorization": f"Bearer {raw}"})


def _csv(body: bytes) -> list[dict[str, str]]:
    assert body.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM: Excel opens it as UTF-8
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


def _to_csv(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _batch_ids(code: str) -> list[int]:
    with read_scope() as s:
        return sorted(b.id for b in batches.of_resource(s, code))


def _keys(code: str) -> list[str]:
    with read_scope() as s:
        return sorted(str(r["id_number"]) for r in store.rows(s, code))


# ---- the download ------------------------------------------------------------------------------------


def test_r13_refused_rows_download_one_line_per_row_as_received_with_their_problems(
    session: Session, c: dict[str, Any]
) -> None:
    clerk = _api(session, "civil_clerk")
    got = clerk.get(f"/api/v1/data/batches/{c['mixed']}/refused.csv")
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith("text/csv")
    assert f"{c['code']}-batch{c['mixed']}-refused.csv" in got.headers["content-disposition"]
    rows = _csv(got.content)
    assert list(rows[0]) == [*NAMES, "_source_row", "_problems"]  # the published item names
    assert [r["_source_row"] for r in rows] == ["2", "3", "4"]  # one line per row, not per cell
    wide, bad, two = rows
    assert (wide["id_number"], wide["registered_on"]) == (WIDE_KEY, "2024-13-45")  # as received
    assert (two["full_name"], two["children"], two["allowance"]) == (" 赵六 ", "abc", "x")
    assert "列 登记日期（registered_on），规则 type.date：" in wide["_problems"]
    assert "列 子女数（children），规则 type.integer：" in two["_problems"]
    assert "列 补助金额（allowance），规则 type.decimal：" in two["_problems"]
    assert "；" in two["_problems"] and bad["id_number"] == "123"
    with read_scope() as s:
        read = s.scalars(select(AuditEntry).where(AuditEntry.action == "store.quarantine_read")).all()
        assert [(a.actor_label, a.detail["method"], a.detail["rows"]) for a in read] == [
            ("civil_clerk", "refused_csv", 3)
        ]
        assert read[0].object_id == str(c["mixed"]) and read[0].subject_keys  # the keys, hashed

    reviewer = _api(session, "reviewer")  # the authority reads the quarantine, so the download too
    assert reviewer.get(f"/api/v1/data/batches/{c['mixed']}/refused.csv").status_code == 200
    police = _api(session, "police_clerk")
    refused = police.get(f"/api/v1/data/batches/{c['mixed']}/refused.csv")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "store.batches_forbidden"
    unknown = clerk.get("/api/v1/data/batches/987654/refused.csv")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "store.batch_unknown"


def test_r13_r28_the_page_download_speaks_the_page_language_and_refuses_as_the_quarantine(
    session: Session, c: dict[str, Any]
) -> None:
    zh, _ = page_client("civil_clerk", session=session)
    rows = _csv(zh.get(f"/data/batches/{c['mixed']}/refused.csv").content)
    assert "规则 type.integer" in rows[2]["_problems"]
    en = zh.get(f"/data/batches/{c['mixed']}/refused.csv?lang=en")
    assert en.status_code == 200 and "attachment" in en.headers["content-disposition"]
    two = _csv(en.content)[2]
    assert "column 子女数 (children), rule type.integer: " in two["_problems"]
    assert "; column 补助金额 (allowance), rule type.decimal: " in two["_problems"]
    police, _ = page_client("police_clerk", session=session)
    refused = police.get(f"/data/batches/{c['mixed']}/refused.csv")
    assert refused.status_code == 403 and "store.batches_forbidden" in refused.text
    assert police.get("/data/batches/987654/refused.csv").status_code == 404
    with read_scope() as s:  # the refused read of raw rows is audited
        denied = s.scalars(select(AuditEntry).where(AuditEntry.outcome == "denied")).all()
        assert any(
            a.actor_label == "police_clerk" and a.detail.get("method") == "refused_csv" for a in denied
        )


# ---- resubmission and what was corrected ---------------------------------------------------------------


def test_r13_the_corrected_download_resubmits_incrementally_and_the_rows_show_corrected(
    session: Session, c: dict[str, Any], tmp_path: Path
) -> None:
    clerk = _api(session, "civil_clerk")
    code, mixed = c["code"], c["mixed"]
    before = clerk.get(f"/api/v1/data/batches/{mixed}").json()
    assert (before["refused_rows"], before["corrected"], before["to_fix"]) == (3, 0, 3)
    rows = _csv(clerk.get(f"/api/v1/data/batches/{mixed}/refused.csv").content)
    rows[0]["registered_on"] = "2024-12-15"  # fixed; its key stays as received (full-width)
    rows[2]["children"], rows[2]["allowance"] = "2", "10.5"  # fixed; row 3 ("123") is left as it was
    made = clerk.post(
        f"/api/v1/data/batches/{mixed}/resubmit", files={"file": ("fixed.csv", _to_csv(rows), "text/csv")}
    )
    assert made.status_code == 201, made.text
    report = made.json()
    assert (report["mode"], report["resubmission_of"], report["status"]) == (
        "incremental",
        mixed,
        "committed",
    )
    assert (report["received"], report["accepted"], report["refused"]) == (3, 2, 1)
    # Never a full load: the resource keeps every record the resubmission did not hold.
    assert _keys(code) == sorted(IDS[:6])

    after = clerk.get(f"/api/v1/data/batches/{mixed}").json()
    assert (after["refused_rows"], after["corrected"], after["to_fix"]) == (3, 2, 1)
    assert after["resubmissions"] == [report["id"]]
    cells = clerk.get(f"/api/v1/data/batches/{mixed}/quarantine").json()["rows"]
    by_row = {(q["source_row"], q["column"]): q["corrected_by"] for q in cells}
    assert by_row == {
        (2, "registered_on"): report["id"],
        (3, "id_number"): None,
        (4, "children"): report["id"],
        (4, "allowance"): report["id"],
    }
    assert all("raw" in q and "message" in q for q in cells)  # the existing fields stay

    # A later full load that drops those records: the resubmission still corrected them (its history).
    ingest_file(c["civil_clerk"], code, write(tmp_path, "only.csv", f"{HEADER}\n{IDS[0]},甲,,,,\n"))
    assert _keys(code) == [IDS[0]]
    with read_scope() as s:
        batch = batches.get(s, mixed)
        assert batches.correction_counts(s, batch) == {"refused_rows": 3, "corrected": 2, "to_fix": 1}

    # The resubmission refused a row in turn: it may be resubmitted too, and corrects the original.
    fixed = f"{HEADER},_source_row,_problems\n{IDS[6]},孙八,2024-01-02,0,1,是,3,旧的问题\n"
    again = clerk.post(
        f"/api/v1/data/batches/{report['id']}/resubmit", files={"file": ("again.csv", fixed.encode())}
    )
    assert again.status_code == 201 and again.json()["resubmission_of"] == report["id"]
    final = clerk.get(f"/api/v1/data/batches/{mixed}").json()
    assert final["resubmissions"] == [report["id"], again.json()["id"]]
    # Its line 3 was the original's row 3 ("123"), refused again; the line naming it, accepted with
    # another key, corrects both.
    assert (final["refused_rows"], final["corrected"], final["to_fix"]) == (3, 3, 0)
    cells = clerk.get(f"/api/v1/data/batches/{mixed}/quarantine").json()["rows"]
    assert {q["source_row"]: q["corrected_by"] for q in cells}[3] == again.json()["id"]


def test_r13_resubmission_with_corrected_key_marks_row_corrected(session: Session, c: dict[str, Any]) -> None:
    """A row refused because its key was wrong (row 3: "123", not an ID number) is corrected by the
    resubmission that brings it back with a valid key: the downloaded line's `_source_row` names the row,
    since the key it was refused under is in no table. Lines the resubmission refuses again stay to fix,
    and a resubmission of those corrects the original's rows through the chain."""
    clerk = _api(session, "civil_clerk")
    code, mixed = c["code"], c["mixed"]
    rows = _csv(clerk.get(f"/api/v1/data/batches/{mixed}/refused.csv").content)
    assert [(r["_source_row"], r["id_number"]) for r in rows] == [
        ("2", WIDE_KEY),
        ("3", "123"),
        ("4", IDS[4]),
    ]
    rows[1]["id_number"] = IDS[6]  # the key itself corrected; rows 2 and 4 are sent back still wrong
    lines = [rows[2], rows[1], rows[0]]  # reordered: a line's own row number is not the original's
    made = clerk.post(
        f"/api/v1/data/batches/{mixed}/resubmit", files={"file": ("fixed.csv", _to_csv(lines), "text/csv")}
    )
    assert made.status_code == 201, made.text
    first = made.json()
    assert (first["received"], first["accepted"], first["refused"]) == (3, 1, 2)
    assert IDS[6] in _keys(code) and "123" not in _keys(code)

    def status(batch_id: int) -> tuple[tuple[int, int, int], dict[int, int | None]]:
        report = clerk.get(f"/api/v1/data/batches/{batch_id}").json()
        cells = clerk.get(f"/api/v1/data/batches/{batch_id}/quarantine").json()["rows"]
        counts = (report["refused_rows"], report["corrected"], report["to_fix"])
        return counts, {q["source_row"]: q["corrected_by"] for q in cells}

    assert status(mixed) == ((3, 1, 2), {2: None, 3: first["id"], 4: None})
    page, _ = page_client("civil_clerk", session=session)
    html = page.get(f"/data/batches/{mixed}/resubmit").text
    assert 'data-row="3" data-status="corrected"' in html and "已更正" in html
    assert f'href="/data/batches/{first["id"]}" data-testid="corrected-by"' in html
    assert 'data-row="2" data-status="pending"' in html and 'data-row="4" data-status="pending"' in html
    assert 'data-testid="refused-to-fix-count">2<' in html and "待更正" in html

    # The resubmission's own refused lines (2: the original's row 4; 4: its row 2) download in turn; the
    # original's row 4 comes back fixed under another key, its row 2 still wrong.
    again = _csv(clerk.get(f"/api/v1/data/batches/{first['id']}/refused.csv").content)
    assert [(r["_source_row"], r["id_number"]) for r in again] == [("2", IDS[4]), ("4", WIDE_KEY)]
    again[0].update(id_number=IDS[7], children="2", allowance="10.5")
    made = clerk.post(
        f"/api/v1/data/batches/{first['id']}/resubmit", files={"file": ("again.csv", _to_csv(again))}
    )
    assert made.status_code == 201, made.text
    second = made.json()
    assert (second["accepted"], second["refused"], second["resubmission_of"]) == (1, 1, first["id"])
    assert status(first["id"]) == ((2, 1, 1), {2: second["id"], 4: None})
    assert status(mixed) == ((3, 2, 1), {2: None, 3: first["id"], 4: second["id"]})
    with read_scope() as s:  # what the resubmissions recorded: their lines and the rows they bring again
        kept = s.execute(
            select(ResubmittedRow.batch_id, ResubmittedRow.source_row, ResubmittedRow.original_row)
        ).all()
        assert sorted(kept) == [
            (first["id"], 2, 4),
            (first["id"], 3, 3),
            (first["id"], 4, 2),
            (second["id"], 2, 2),
            (second["id"], 3, 4),
        ]


def test_r13_a_later_ordinary_batch_that_brings_the_key_in_corrects_the_row(
    c: dict[str, Any], tmp_path: Path
) -> None:
    """Computed, not stored: the refused row's key as the checks normalise it (full-width → half-width)
    is in the table from a later batch — whatever brought it (a pull, a push, an upload)."""
    later = ingest_file(
        c["civil_clerk"],
        c["code"],
        write(tmp_path, "later.csv", f"{HEADER}\n{IDS[3]},王五,2024-12-15,1,2.5,是\n"),
        mode="incremental",
    )
    with read_scope() as s:
        batch = batches.get(s, c["mixed"])
        assert batches.correction_counts(s, batch) == {"refused_rows": 3, "corrected": 1, "to_fix": 2}
        first = batches.get(s, c["first"])  # a batch that refused nothing: nothing to correct
        assert batches.correction_counts(s, first) == {"refused_rows": 0, "corrected": 0, "to_fix": 0}
    with db.session_scope() as s:
        _, rows, total = batches.refused_rows(s, c["civil_clerk"], c["mixed"], limit=2)
        assert total == 3 and [(r.source_row, r.status, r.corrected_by) for r in rows] == [
            (2, "corrected", later["id"]),
            (3, "pending", None),
        ]
        assert rows[0].key == IDS[3] and rows[1].key == "123"
        _, rest, _ = batches.refused_rows(s, c["civil_clerk"], c["mixed"], limit=2, offset=2)
        assert [(r.source_row, len(r.problems)) for r in rest] == [(4, 2)]  # both cells of row 4


def test_r13_resubmission_refusals_are_precise_and_store_nothing(
    session: Session, c: dict[str, Any], tmp_path: Path
) -> None:
    clerk = _api(session, "civil_clerk")
    code, mixed = c["code"], c["mixed"]
    good = f"{HEADER}\n{IDS[3]},王五,2024-12-15,1,2.5,是\n".encode()

    def send(client: TestClient, batch_id: int, body: bytes = good, name: str = "fix.csv") -> Any:
        return client.post(f"/api/v1/data/batches/{batch_id}/resubmit", files={"file": (name, body)})

    ids = _batch_ids(code)
    nothing = send(clerk, c["first"])
    assert nothing.status_code == 409 and nothing.json()["error"]["code"] == "store.resubmit_nothing_refused"
    assert "没有被拒收的行" in nothing.json()["error"]["message"]
    for who in ("police_clerk", "reviewer"):  # another department; the authority reads but does not load
        refused = send(_api(session, who), mixed)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "store.resubmit_forbidden"
    assert send(clerk, 987654).json()["error"]["code"] == "store.batch_unknown"
    extra = send(clerk, mixed, f"{HEADER},colour,_problems\n{IDS[3]},王五,,,,,红,x\n".encode())
    assert extra.status_code == 422 and extra.json()["error"]["code"] == "store.schema_mismatch"
    assert extra.json()["error"]["details"] == {"missing": [], "unexpected": ["colour"]}
    empty = send(clerk, mixed, f"{HEADER},_source_row,_problems\n".encode())
    assert empty.status_code == 422 and empty.json()["error"]["code"] == "ingest.no_rows"
    assert send(clerk, mixed, b"", "fix.pdf").json()["error"]["code"] == "ingest.format_unknown"
    assert _batch_ids(code) == ids  # nothing refused left a batch behind

    # The helper columns are dropped for resubmissions only: an upload refuses them like any other.
    plain = clerk.post(
        f"/api/v1/data/{code}/batches",
        files={"file": ("x.csv", f"{HEADER},_source_row\n{IDS[3]},王五,,,,,2\n".encode())},
        data={"mode": "incremental"},
    )
    assert plain.status_code == 422 and plain.json()["error"]["details"]["unexpected"] == ["_source_row"]

    # A failed batch loaded nothing: its file is uploaded again, not resubmitted.
    failed = ingest_file(c["civil_clerk"], code, write(tmp_path, "bad.csv", f"{HEADER}\n123,坏,,,,\n"))
    assert failed["status"] == "failed" and failed["refused"] == 1
    conflict = send(clerk, failed["id"])
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "store.resubmit_batch_failed"
    with pytest.raises(ValidationFailed) as full:  # the pipeline itself never loads a resubmission in full
        ingest_file(c["civil_clerk"], code, write(tmp_path, "f.csv", good.decode()), resubmission_of=mixed)
    assert full.value.code == "ingest.resubmission_invalid"
    assert _keys(code) == sorted([*IDS[:3], IDS[5]])


def test_r13_a_resubmitted_spreadsheet_drops_the_helper_columns(c: dict[str, Any], tmp_path: Path) -> None:
    """The download opened in Excel and saved as a workbook: its helper columns go too."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append([*HEADER_ZH.split(","), "_source_row", "_problems"])
    ws.append([IDS[4], "赵六", "2024-01-05", 2, 10.5, "是", 4, "列 子女数…"])
    wb.save(tmp_path / "fixed.xlsx")
    report = ingest_file(
        c["civil_clerk"], c["code"], tmp_path / "fixed.xlsx", mode="incremental", resubmission_of=c["mixed"]
    )
    assert (report["accepted"], report["refused"], report["resubmission_of"]) == (1, 0, c["mixed"])


# ---- the pages -------------------------------------------------------------------------------------------


def test_r13_resubmit_page_lists_the_rows_takes_the_file_and_keeps_the_form_on_refusal(
    session: Session, c: dict[str, Any]
) -> None:
    client, csrf = page_client("civil_clerk", session=session)
    url = f"/data/batches/{c['mixed']}/resubmit"
    page = client.get(url)
    assert page.status_code == 200, page.text
    html = page.text
    assert "更正并重新提交被拒收的行" in html and f'href="/data/batches/{c["mixed"]}/refused.csv' in html
    assert 'data-testid="refused-rows-count">3<' in html and 'data-testid="refused-to-fix-count">3<' in html
    assert html.count('data-status="pending"') == 3 and "待更正" in html
    assert "增量（按主键新增或更新）" in html  # the mode is shown, not chosen: never full

    ids = _batch_ids(c["code"])
    wrong = client.post(
        url,
        data={"csrf_token": csrf, "encoding": "gb18030"},
        files={
            "file": ("fix.csv", f"{HEADER},colour\n{IDS[3]},王五,2024-12-15,1,2.5,是,红\n".encode("gb18030"))
        },
    )
    assert wrong.status_code == 422 and 'data-testid="resubmit-refused"' in wrong.text
    assert "数据列与已发布目录的信息项不一致" in wrong.text and "<code>colour</code>" in wrong.text
    assert '<option value="gb18030" selected>' in wrong.text  # the form as sent
    none = client.post(url, data={"csrf_token": csrf})
    assert none.status_code == 422 and "请选择要上传的数据文件" in none.text
    assert _batch_ids(c["code"]) == ids

    done = client.post(
        url,
        data={"csrf_token": csrf},
        files={"file": ("fix.csv", f"{HEADER}\n{IDS[3]},王五,2024-12-15,1,2.5,是\n".encode())},
        follow_redirects=False,
    )
    assert done.status_code == 303
    new_id = int(done.headers["location"].rsplit("/", 1)[1])
    with read_scope() as s:
        assert s.get(Batch, new_id).resubmission_of == c["mixed"]  # type: ignore[union-attr]
    html = client.get(url).text
    assert 'data-status="corrected"' in html and "已更正" in html
    assert f'href="/data/batches/{new_id}" data-testid="corrected-by"' in html
    assert 'data-testid="refused-corrected-count">1<' in html and f'data-batch="{new_id}"' in html


def test_r13_resubmit_page_refusals(session: Session, c: dict[str, Any]) -> None:
    clerk, _ = page_client("civil_clerk", session=session)
    nothing = clerk.get(f"/data/batches/{c['first']}/resubmit")
    assert nothing.status_code == 409 and "没有被拒收的行" in nothing.text
    assert "store.resubmit_nothing_refused" in nothing.text
    reviewer, rcsrf = page_client("reviewer", session=session)
    assert reviewer.get(f"/data/batches/{c['mixed']}/resubmit").status_code == 403
    posted = reviewer.post(
        f"/data/batches/{c['mixed']}/resubmit",
        data={"csrf_token": rcsrf},
        files={"file": ("fix.csv", f"{HEADER}\n{IDS[3]},王五,2024-12-15,1,2.5,是\n".encode())},
    )
    assert posted.status_code == 403 and "store.resubmit_forbidden" in posted.text
    assert clerk.post(f"/data/batches/{c['mixed']}/resubmit", data={}).status_code == 403  # no CSRF token
    assert clerk.get("/data/batches/987654/resubmit").status_code == 404


def test_r28_resubmit_page_in_english(session: Session, c: dict[str, Any]) -> None:
    client, _ = page_client("civil_clerk", "en", session=session)
    html = client.get(f"/data/batches/{c['mixed']}/resubmit").text
    assert "Fix and resubmit the refused rows" in html and "To fix" in html and "待更正" not in html
    assert "Incremental (insert or update by key)" in html and "Download the refused rows (CSV)" in html
    assert "refused.csv?lang=en" in html and "column 子女数 (children), rule type.integer" in html


# ---- the upload page's default and confirmation (R7) --------------------------------------------------


def test_r7_a_full_load_from_the_page_needs_the_confirmation_naming_the_records(
    c: dict[str, Any], tmp_path: Path
) -> None:
    assert upload.PAGE_MODE == "incremental"  # the page's default
    clerk, code = c["civil_clerk"], c["code"]
    one = f"{HEADER}\n{IDS[0]},甲,2024-01-01,0,1.5,是\n".encode()

    def load(mode: str, confirm: bool, body: bytes = one) -> dict[str, Any]:
        return asyncio.run(
            upload.page_upload(
                clerk, code, io.BytesIO(body), "one.csv", mode=mode, encoding=None, confirm_full=confirm
            )
        )

    ids, keys = _batch_ids(code), _keys(code)
    with pytest.raises(ValidationFailed) as refused:
        load("full", False)
    err = refused.value
    assert (err.code, err.status_code, err.field, err.details) == (
        "ingest.full_needs_confirmation",
        422,
        "confirm_full",
        {"records": 4},
    )
    assert "我确认用本文件替换现有全部 4 条记录" in err.message_zh and "增量" in err.message_zh
    assert _batch_ids(code) == ids and _keys(code) == keys  # nothing loaded, nothing deleted
    with pytest.raises(ValidationFailed) as wrong:  # a wrong file gets its own precise error first
        load("full", False, b"a,b\n1,2\n")
    assert wrong.value.code == "store.schema_mismatch"
    assert load("incremental", False)["mode"] == "incremental"  # an incremental load needs none
    assert _keys(code) == keys
    assert load("full", True)["deleted"] == 3  # confirmed: the file replaces the records
    assert _keys(code) == [IDS[0]]
    assert upload.confirmed("1") and upload.confirmed("on") and not upload.confirmed(None)
    assert not upload.confirmed("")


def test_r7_a_first_full_load_needs_no_confirmation_and_the_api_keeps_its_default(
    session: Session, db_clean: str
) -> None:
    c = store_city(session)
    code = publish(session, c).resource_code
    upload.require_full_confirmation(code, "full", False)  # an empty resource: nothing to replace
    body = f"{HEADER}\n{IDS[0]},甲,,,,\n".encode()
    made = _api(session, "civil_clerk").post(f"/api/v1/data/{code}/batches", files={"file": ("a.csv", body)})
    assert made.status_code == 201 and made.json()["mode"] == "full"  # the API's documented default


# ---- a file with no data row (R7 R13) -----------------------------------------------------------------


NO_BATCH = [
    ("header.csv", f"{HEADER}\n".encode(), "ingest.no_rows"),
    ("blank.csv", f"{HEADER_ZH}\r\n\r\n\r\n".encode(), "ingest.no_rows"),
    ("header.xlsx", None, "ingest.no_rows"),
    ("wrong.csv", b"a,b\n", "store.schema_mismatch"),  # the schema lock first
    ("quoting.csv", f'{HEADER}\n{IDS[0]},"甲,,,,\n'.encode(), "ingest.csv_quoting"),
    ("empty.csv", b"", "ingest.empty_file"),
]


def test_r7_r13_a_file_without_data_rows_is_refused_and_leaves_no_batch(
    c: dict[str, Any], tmp_path: Path
) -> None:
    """One rule: a file that cannot be read, fails the schema lock or holds no data row leaves no batch
    (nothing was received) — a header-only file was a failed batch, unlike an empty one."""
    ids, keys = _batch_ids(c["code"]), _keys(c["code"])
    for name, content, error in NO_BATCH:
        path = tmp_path / name
        if content is None:
            wb = openpyxl.Workbook()
            wb.active.append(NAMES)
            wb.save(path)
        else:
            path.write_bytes(content)
        with pytest.raises(ValidationFailed) as exc:
            ingest_file(c["civil_clerk"], c["code"], path, mode="incremental")
        assert (name, exc.value.code, exc.value.status_code) == (name, error, 422)
        if error == "ingest.no_rows":
            assert (exc.value.message_zh, exc.value.message_en) == (
                "文件没有数据行",
                "The file has no data rows",
            )
        assert (name, _batch_ids(c["code"]), _keys(c["code"])) == (name, ids, keys)


# ---- the migration ----------------------------------------------------------------------------------


BEFORE = "b2f7c4e8d1a6"
REVISION = "e4a9c2d7b518"


def test_r13_migration_adds_resubmission_of_and_keeps_every_quarantine(fresh_db: str) -> None:
    from alembic import command

    from gongshu.kernel import migrate

    migrate.upgrade(fresh_db, BEFORE)
    with db.get_engine(fresh_db).begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO store_batch (id, resource_code, mode, source, filename, encoding, status, received, "
                "accepted, refused, deduplicated, completed, deleted, inserted, updated, actor_label, "
                "started_at) VALUES (1, 'R', 'full', 'upload', 'a.csv', 'utf-8', 'committed', 2, 1, 1, 0, 0, "
                "0, 1, 0, 'x', CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(
            sa.text(
                'INSERT INTO store_quarantine_row (batch_id, source_row, "column", rule, message_zh, '
                "message_en) VALUES (1, 3, 'id_number', 'id.length', '坏', 'bad')"
            )
        )

    def state() -> tuple[set[str], int]:
        with db.get_engine(fresh_db).connect() as conn:
            columns = {col["name"] for col in sa.inspect(conn).get_columns("store_batch")}
            kept = conn.execute(sa.text("SELECT count(*) FROM store_quarantine_row")).scalar_one()
            return columns, kept

    migrate.upgrade(fresh_db, REVISION)
    columns, kept = state()
    assert "resubmission_of" in columns and kept == 1
    with db.get_engine(fresh_db).connect() as conn:
        assert conn.execute(sa.text("SELECT resubmission_of FROM store_batch")).scalar_one() is None
        indexes = {i["name"] for i in sa.inspect(conn).get_indexes("store_batch")}
        assert "ix_store_batch_resubmission_of" in indexes
    command.downgrade(migrate.alembic_config(fresh_db), BEFORE)
    columns, kept = state()
    assert "resubmission_of" not in columns and kept == 1  # no table rebuild: the quarantine stays
    migrate.upgrade(fresh_db)
    columns, kept = state()
    assert "resubmission_of" in columns and kept == 1


RESUBMITTED = "b952e99f48c5"


def test_r13_migration_adds_the_resubmitted_rows_and_keeps_every_batch(fresh_db: str) -> None:
    """`store_resubmitted_row` chains onto the resubmission column: a new table (no batch rebuild), its
    rows deleted with their batch, dropped on downgrade with the batches and quarantine kept."""
    from alembic import command

    from gongshu.kernel import migrate

    migrate.upgrade(fresh_db, REVISION)
    engine = db.get_engine(fresh_db)
    with engine.begin() as conn:
        for batch_id, of in ((1, None), (2, 1)):
            conn.execute(
                sa.text(
                    "INSERT INTO store_batch (id, resource_code, mode, source, filename, encoding, status, "
                    "received, accepted, refused, deduplicated, completed, deleted, inserted, updated, "
                    "actor_label, started_at, resubmission_of) VALUES (:id, 'R', 'incremental', 'upload', "
                    "'a.csv', 'utf-8', 'committed', 1, 1, 0, 0, 0, 0, 1, 0, 'x', CURRENT_TIMESTAMP, :of)"
                ),
                {"id": batch_id, "of": of},
            )
        conn.execute(
            sa.text(
                'INSERT INTO store_quarantine_row (batch_id, source_row, "column", rule, message_zh, '
                "message_en) VALUES (1, 3, 'id_number', 'id.length', '坏', 'bad')"
            )
        )
    keep = sa.text("INSERT INTO store_resubmitted_row (batch_id, source_row, original_row) VALUES (2, 2, 3)")

    def tables() -> set[str]:
        with engine.connect() as conn:
            return set(sa.inspect(conn).get_table_names())

    def count(table: str) -> int:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())

    migrate.upgrade(fresh_db, RESUBMITTED)
    with engine.begin() as conn:
        conn.execute(keep)
        inspector = sa.inspect(conn)
        assert inspector.get_pk_constraint("store_resubmitted_row")["constrained_columns"] == [
            "batch_id",
            "source_row",
        ]
        indexes = {i["name"]: i["column_names"] for i in inspector.get_indexes("store_resubmitted_row")}
        assert indexes["ix_store_resubmitted_row_batch_original"] == ["batch_id", "original_row"]
        with pytest.raises(sa.exc.IntegrityError), conn.begin_nested():  # one record per line
            conn.execute(keep)
    command.downgrade(migrate.alembic_config(fresh_db), REVISION)
    assert "store_resubmitted_row" not in tables()
    assert (count("store_batch"), count("store_quarantine_row")) == (2, 1)
    migrate.upgrade(fresh_db)
    with engine.begin() as conn:
        conn.execute(keep)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM store_batch WHERE id = 2"))
    assert count("store_resubmitted_row") == 0  # deleted with its batch
    assert count("store_quarantine_row") == 1


def test_r13_batch_page_links_the_fix_and_counts_what_was_corrected(
    session: Session, c: dict[str, Any]
) -> None:
    clerk, csrf = page_client("civil_clerk", session=session)
    html = clerk.get(f"/data/batches/{c['mixed']}").text
    assert 'data-testid="batch-resubmit-link"' in html and 'data-testid="batch-refused-csv-link"' in html
    assert 'data-testid="batch-to-fix">3<' in html and html.count('data-status="pending"') == 4
    done = clerk.post(
        f"/data/batches/{c['mixed']}/resubmit",
        data={"csrf_token": csrf},
        files={"file": ("fix.csv", f"{HEADER}\n{IDS[3]},王五,2024-12-15,1,2.5,是\n".encode())},
        follow_redirects=False,
    )
    new = int(done.headers["location"].rsplit("/", 1)[1])
    html = clerk.get(f"/data/batches/{c['mixed']}").text
    assert (
        'data-testid="batch-corrected">1<' in html
        and f'href="/data/batches/{new}" data-testid="batch-corrected-by"' in html
    )
    assert 'data-testid="batch-resubmissions"' in html
    newpage = clerk.get(f"/data/batches/{new}").text
    assert 'data-testid="batch-resubmission-of"' in newpage and "的更正重新提交" in newpage
    assert 'data-testid="batch-resubmit-link"' not in newpage
    reviewer, _ = page_client("reviewer", session=session)
    rv = reviewer.get(f"/data/batches/{c['mixed']}").text
    assert 'data-testid="batch-resubmit-link"' not in rv and 'data-testid="batch-refused-csv-link"' in rv
    en, _ = page_client("civil_clerk", "en", session=session)
    assert "Fix and resubmit" in en.get(f"/data/batches/{c['mixed']}").text


def test_r7_upload_page_is_incremental_by_default_and_full_needs_confirmation(
    session: Session, c: dict[str, Any]
) -> None:
    clerk, csrf = page_client("civil_clerk", session=session)
    page = clerk.get(f"/data/{c['code']}/upload").text
    assert '<option value="incremental" selected>' in page and "我确认用本文件替换现有全部 4 条记录" in page
    ids, keys = _batch_ids(c["code"]), _keys(c["code"])
    one = f"{HEADER}\n{IDS[0]},甲,,,,\n".encode()
    refused = clerk.post(
        f"/data/{c['code']}/upload",
        data={"csrf_token": csrf, "mode": "full"},
        files={"file": ("one.csv", one)},
    )
    assert refused.status_code == 422 and "ingest.full_needs_confirmation" in refused.text
    assert '<option value="full" selected>' in refused.text and "field has-error" in refused.text
    assert _batch_ids(c["code"]) == ids and _keys(c["code"]) == keys
    default = clerk.post(
        f"/data/{c['code']}/upload",
        data={"csrf_token": csrf},
        files={"file": ("one.csv", one)},
        follow_redirects=False,
    )
    assert default.status_code == 303 and _keys(c["code"]) == keys  # incremental by default
    ok = clerk.post(
        f"/data/{c['code']}/upload",
        data={"csrf_token": csrf, "mode": "full", "confirm_full": "1"},
        files={"file": ("one.csv", one)},
        follow_redirects=False,
    )
    assert ok.status_code == 303 and _keys(c["code"]) == [IDS[0]]
    en, _ = page_client("civil_clerk", "en", session=session)
    assert "I confirm this file replaces all 1 existing records" in en.get(f"/data/{c['code']}/upload").text
