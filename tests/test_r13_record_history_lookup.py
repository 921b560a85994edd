"""R13 R14 R26: a record and its history, looked up by its key — the provider's data officers see the records
of their own resource with their lineage (batch, file, source row) and every change (a full load, an
incremental update, a correction answering an objection), newest first; a deleted record still shows its
history; the authority's supervisors may look up too; another department's officer and a citizen are told
the record does not exist (404, page and API); every look-up is audited with the keyed hash of the key; a
malformed key is refused precisely; the page speaks English too."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from page_fixtures import page_client
from sqlalchemy import select
from sqlalchemy.orm import Session
from store_fixtures import HEADER, IDS, objection_city, write

from gongshu.aggregation.ingest import ingest_file
from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.audit.service import subject_hashes
from gongshu.kernel.db import read_scope
from gongshu.kernel.identifiers.checks import make_id_number
from gongshu.kernel.workflow.models import Case
from gongshu.quality import objections

FULLWIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


def _x_id() -> str:
    """A valid ID number whose check character is X (typed as a lower-case x by many)."""
    return next(
        i for n in range(1, 200) if (i := make_id_number("110101", dt.date(1985, 6, 1), n)).endswith("X")
    )


@pytest.fixture()
def c(session: Session, tmp_path: Path, db_clean: str) -> dict[str, Any]:
    """The store city: a full load of IDS[0], IDS[1] (the citizen objects to IDS[0]'s name), then an
    incremental load that changes IDS[0]'s children, adds the X-ID and deletes IDS[1], then the provider's
    correction of IDS[0]'s name answering the objection."""
    out, case_id = objection_city(session, tmp_path, db_clean)
    from catalog_fixtures import user

    out["auditor"] = user(session, "civil_auditor", out["civil"], "auditor")
    session.commit()
    code = next(iter(_codes()))
    x_id = _x_id()
    inc = write(tmp_path, "inc.csv", f"{HEADER}\n{IDS[0]},张0,2024-01-01,2,10.5,true\n{x_id},李四,,,,\n")
    out["inc"] = ingest_file(
        out["civil_clerk"], code, inc, mode="incremental", delete_keys=[IDS[1]], url=db_clean
    )["id"]
    objections.correct_record(out["civil_clerk"], case_id, note="核对户籍档案")
    with read_scope() as s:
        case = s.get(Case, case_id)
        assert case is not None
        out["case_number"], out["case_id"] = case.number, case_id
    out.update(code=code, x_id=x_id)
    return out


def _codes() -> list[str]:
    from gongshu.store.models import StoreResource

    with read_scope() as s:
        return list(s.scalars(select(StoreResource.resource_code)))


def _entries(action: str) -> list[AuditEntry]:
    with read_scope() as s:
        found = list(
            s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq))
        )
        s.expunge_all()
        return found


def _api(username: str, code: str, key: str) -> Any:
    client, _ = page_client(username)
    return client.get(f"/api/v1/data/{code}/records/{key}")


# 1. The provider sees its own record: values, lineage and history, newest first.


def test_r13_provider_sees_the_record_with_lineage_and_history_newest_first(c: dict[str, Any]) -> None:
    answer = _api("civil_clerk", c["code"], IDS[0])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["record"]["full_name"] == "章零" and body["record"]["children"] == 2
    assert body["record"]["allowance"] == "10.5" and body["record"]["registered_on"] == "2024-01-01"
    assert body["deleted"] is False
    history = body["history"]
    assert [h["op"] for h in history] == ["update", "update", "insert"]
    correction, update, insert = history
    assert (
        correction["correction_ref"] == c["case_number"] and correction["correction_case_id"] == c["case_id"]
    )
    assert [(ch["item"], ch["before"], ch["after"]) for ch in correction["changes"]] == [
        ("full_name", "张0", "章零")
    ]
    assert update["batch_id"] == c["inc"] and update["filename"] == "inc.csv"
    assert [(ch["label"], ch["before"], ch["after"]) for ch in update["changes"]] == [("子女数", 1, 2)]
    assert insert["filename"] == "m.csv" and insert["source"] == "upload" and insert["changes"] == []
    assert {h["user"] for h in history} == {"civil_clerk"} and insert["organisation"] == "市民政局"
    lineage = body["lineage"]
    assert lineage["batch_id"] == correction["batch_id"] and lineage["batch_id"] not in (c["inc"], None)
    assert lineage["filename"] == f"objection-{c['case_number']}" and lineage["source_row"] == 1
    assert lineage["batch_url"] == f"/data/batches/{lineage['batch_id']}"
    assert lineage["ingested_at"].endswith("+00:00") and lineage["updated_at"] >= lineage["ingested_at"]


def test_r13_record_page_shows_lineage_history_batch_links_and_the_correction_case(
    c: dict[str, Any],
) -> None:
    client, _ = page_client("civil_clerk")
    page = client.get(f"/data/{c['code']}/records/{IDS[0]}")
    assert page.status_code == 200, page.text
    text = page.text
    assert "记录查询" in text and 'data-state="current"' in text and "章零" in text
    assert 'data-testid="record-lineage-batch"' in text
    # newest first: the correction, the incremental update, the first load's insert
    ops = [part.split('"', 1)[0] for part in text.split('<tr data-op="')[1:]]
    assert ops == ["update", "update", "insert"]
    assert text.index("姓名: 张0 → 章零") < text.index("子女数: 1 → 2")
    assert f'href="/data/batches/{c["inc"]}"' in text and "inc.csv" in text and "m.csv" in text
    assert f'href="/cases/{c["case_id"]}" data-testid="history-case">{c["case_number"]}</a>' in text
    assert "核对户籍档案" in text and "最新的在前" in text


def test_r13_record_form_posts_the_key_and_accepts_lower_case_x_full_width_and_spaces(
    c: dict[str, Any],
) -> None:
    client, csrf = page_client("civil_clerk")
    form = client.get(f"/data/{c['code']}/records")
    assert form.status_code == 200 and 'data-testid="record-lookup-form"' in form.text
    assert 'method="post"' in form.text and "身份证号码" in form.text
    typed = f"  {c['x_id'].lower()} "
    found = client.post(f"/data/{c['code']}/records", data={"csrf_token": csrf, "key": typed})
    assert found.status_code == 200, found.text
    assert "李四" in found.text and 'data-op="insert"' in found.text
    wide = _api("civil_clerk", c["code"], IDS[0].translate(FULLWIDTH))
    assert wide.status_code == 200 and wide.json()["key"] == IDS[0]


# 2. A deleted record still shows its history.


def test_r13_deleted_record_is_not_in_the_resource_any_more_but_its_history_shows(
    c: dict[str, Any],
) -> None:
    body = _api("civil_clerk", c["code"], IDS[1]).json()
    assert body["record"] is None and body["lineage"] is None and body["deleted"] is True
    assert (body["history"][0]["op"], body["history"][0]["batch_id"]) == ("delete", c["inc"])
    assert [h["op"] for h in body["history"]] == ["delete", "insert"]
    client, _ = page_client("civil_clerk")
    page = client.get(f"/data/{c['code']}/records/{IDS[1]}")
    assert page.status_code == 200
    assert 'data-state="deleted"' in page.text and "已不在资源中" in page.text
    assert 'data-testid="record-values"' not in page.text and 'data-op="delete"' in page.text


# 3. Who may look up: the provider and the authority; to anyone else the record does not exist.


@pytest.mark.parametrize("username", ["police_clerk", "citizen", "civil_auditor"])
def test_r13_others_are_told_the_record_does_not_exist_on_page_and_api(
    c: dict[str, Any], username: str
) -> None:
    answer = _api(username, c["code"], IDS[0])
    assert answer.status_code == 404
    unknown = make_id_number("110101", dt.date(1970, 1, 1), 7)
    missing = _api("civil_clerk", c["code"], unknown)
    assert missing.status_code == 404
    assert answer.json()["error"]["code"] == missing.json()["error"]["code"] == "store.record_unknown"
    assert "章零" not in answer.text
    client, csrf = page_client(username)
    for page in (
        client.get(f"/data/{c['code']}/records/{IDS[0]}"),
        client.get(f"/data/{c['code']}/records"),
        client.post(f"/data/{c['code']}/records", data={"csrf_token": csrf, "key": IDS[0]}),
    ):
        assert page.status_code == 404 and "章零" not in page.text and "张0" not in page.text
    refused = [e for e in _entries("data.read") if e.outcome == "denied"]
    assert refused and all(e.detail.get("reason") == "store.record_lookup_forbidden" for e in refused)
    assert all(IDS[0] not in json.dumps(e.detail, ensure_ascii=False) for e in refused)


def test_r13_anonymous_gets_nothing(c: dict[str, Any]) -> None:
    from fastapi.testclient import TestClient

    from gongshu.web.app import create_app

    client = TestClient(create_app())
    assert client.get(f"/api/v1/data/{c['code']}/records/{IDS[0]}").status_code == 401
    page = client.get(f"/data/{c['code']}/records/{IDS[0]}", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")


def test_r13_authority_supervisor_may_look_up_and_is_linked_from_the_batches(c: dict[str, Any]) -> None:
    answer = _api("reviewer", c["code"], IDS[0])
    assert answer.status_code == 200 and answer.json()["record"]["full_name"] == "章零"
    client, _ = page_client("reviewer")
    assert 'data-testid="data-records-link"' in client.get(f"/data/{c['code']}/batches").text
    officer, _ = page_client("civil_clerk")
    assert 'data-testid="data-link-records"' in officer.get("/data").text
    assert 'data-testid="batch-records-link"' in officer.get(f"/data/batches/{c['inc']}").text
    auditor, _ = page_client("civil_auditor")
    batches = auditor.get(f"/data/{c['code']}/batches")
    assert batches.status_code == 200 and 'data-testid="data-records-link"' not in batches.text


# 4. Every look-up is audited with the keyed hash of the key, found or not.


def test_r13_every_look_up_is_audited_with_the_keyed_hash_of_the_key(c: dict[str, Any]) -> None:
    assert _api("civil_clerk", c["code"], IDS[0].lower()).status_code == 200
    unknown = make_id_number("110101", dt.date(1970, 1, 1), 7)
    assert _api("reviewer", c["code"], unknown).status_code == 404
    found, missing = _entries("store.record_read")
    assert found.subject_keys == subject_hashes([IDS[0]]) and found.object_id == c["code"]
    assert (
        found.detail["found"] is True and found.detail["basis"] == "provider" and found.detail["events"] == 3
    )
    assert missing.subject_keys == subject_hashes([unknown]) and missing.detail["found"] is False
    assert missing.detail["basis"] == "supervision"
    for e in (found, missing):
        kept = json.dumps([e.detail, e.scenario, e.object_id], ensure_ascii=False)
        assert IDS[0] not in kept and unknown not in kept
    # R26: the person sees the provider's look-up in their data tracker; a look-up that found nothing is none.
    with read_scope() as s:
        reads = objections.my_reads(s, c["citizen"])
    ways = [r.way("zh") for r in reads]
    assert "查看记录及其变更历史" in ways
    audit_page = page_client("civil_auditor")[0].get("/audit")
    assert audit_page.status_code == 200 and "查看记录及其变更历史" in audit_page.text


# 5. A malformed key is refused precisely, not answered "not found".


def test_r13_malformed_key_is_refused_with_a_precise_message(c: dict[str, Any]) -> None:
    wrong = IDS[0][:17] + ("0" if IDS[0][17] != "0" else "1")
    answer = _api("civil_clerk", c["code"], wrong)
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "id.check_digit" and error["field"] == "key"
    assert "校验码" in error["message"] and "check character" in error["message_en"]
    short = _api("civil_clerk", c["code"], "11010119900307")
    assert short.status_code == 422 and short.json()["error"]["code"] == "id.length"
    client, csrf = page_client("civil_clerk", "en")
    page = client.post(f"/data/{c['code']}/records", data={"csrf_token": csrf, "key": wrong})
    assert page.status_code == 422
    assert "The key is not a valid ID number" in page.text and 'data-testid="record-error"' in page.text
    empty = client.post(f"/data/{c['code']}/records", data={"csrf_token": csrf, "key": "  "})
    assert empty.status_code == 422 and "Enter the record" in empty.text
    assert _entries("store.record_read") == []  # a malformed key looks nothing up


# 6. The page in English.


def test_r13_record_page_in_english(c: dict[str, Any]) -> None:
    client, _ = page_client("civil_clerk", "en")
    page = client.get(f"/data/{c['code']}/records/{IDS[0]}")
    assert page.status_code == 200
    text = page.text
    for words in ("Record look-up", "The record now", "Lineage", "Ingested at", "Newest first"):
        assert words in text
    assert "Record changed" in text and "Record added" in text and "Upload" in text
    assert "记录查询" not in text and "最新的在前" not in text
    gone = client.get(f"/data/{c['code']}/records/{IDS[1]}")
    assert "Not in the resource any more" in gone.text and "Record deleted" in gone.text
    unknown = make_id_number("110101", dt.date(1970, 1, 1), 7)
    missing = client.get(f"/data/{c['code']}/records/{unknown}")
    assert missing.status_code == 404 and "holds no record with the key" in missing.text
