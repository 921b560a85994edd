"""R7 R13 (R5): the push API's and the upload API's edge cases — a failed batch never answers as stored nor
uses up its Idempotency-Key, malformed input is a 4xx with a stable code (never a 500), NDJSON lines end
at LF only, the Content-Type is enforced, JSON booleans are not integers, an integer past 64 bits is
refused as out of range, a client's file name is kept as its base name, and a wrong token secret is
`auth.token_invalid` whatever the token's state. Each refusal proves that nothing was stored."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from page_fixtures import page_client
from sqlalchemy import select
from sqlalchemy.orm import Session
from store_fixtures import HEADER, IDS, publish, store_city

from gongshu.aggregation import ingest
from gongshu.aggregation.push_body import MAX_DEPTH
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import ValidationFailed
from gongshu.kernel.identity import tokens
from gongshu.kernel.identity.models import ApiToken, User
from gongshu.kernel.timeutil import now
from gongshu.quality.checks import check_column
from gongshu.store import batches
from gongshu.store import service as store
from gongshu.web.app import create_app

KEY = {"Idempotency-Key": "edge-1"}
ND = {"Content-Type": "application/x-ndjson"}


def _rec(i: int, name: str = "张三", **extra: Any) -> dict[str, Any]:
    return {
        "id_number": IDS[i],
        "full_name": name,
        "registered_on": "2024-01-02",
        "children": 1,
        "allowance": 2.5,
        "active": True,
        **extra,
    }


@pytest.fixture()
def c(session: Session) -> dict[str, Any]:
    return store_city(session)


@pytest.fixture()
def code(session: Session, c: dict[str, Any]) -> str:
    out = publish(session, c).resource_code
    session.rollback()
    return out


def _client(session: Session, username: str = "civil_clerk") -> TestClient:
    user = session.scalars(select(User).where(User.username == username)).one()
    raw, _ = tokens.issue_token(session, user, name="push")
    session.commit()
    return TestClient(create_app(), headers={"Authorization": f"Bearer {raw}"}, raise_server_exceptions=False)


def _stored(url: str, code: str) -> tuple[int, int]:
    """(batches of the resource, records in it)."""
    with read_scope(url) as s:
        return len(batches.of_resource(s, code)), store.count(s, code)


def _names(url: str, code: str) -> dict[str, Any]:
    with read_scope(url) as s:
        return {r["id_number"]: r["full_name"] for r in store.rows(s, code)}


def _error(resp: Any) -> tuple[int, str]:
    return resp.status_code, resp.json()["error"]["code"]


def _quarantine(url: str, batch_id: int) -> list[tuple[str, str, str]]:
    with read_scope(url) as s:
        return [(q.column, q.rule, q.message_zh) for q in batches.quarantine(s, batch_id)]


# ---- 1. a failed batch is never answered as stored, and does not use up its key -------------------------


def test_r7_a_failed_push_does_not_use_up_its_idempotency_key(
    session: Session, db_clean: str, c: dict[str, Any], code: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _client(session)
    url = f"/api/v1/data/{code}/push"
    # The last record has an extra field: refused before any batch opens — nothing stored, key free.
    body = {"records": [_rec(0), _rec(1), _rec(2, extra="x")]}
    refused = client.post(url, json=body, headers=KEY)
    assert _error(refused) == (422, "store.schema_mismatch")
    assert refused.json()["error"]["details"]["row"] == 3
    assert _stored(db_clean, code) == (0, 0)
    # A load refused half-way (here at its commit): the batch fails and stores nothing.
    real_commit = ingest._commit

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise ValidationFailed("store.test_refusal", "测试中的拒绝", "Refused for the test")

    monkeypatch.setattr(ingest, "_commit", refuse)
    good = {"records": [_rec(0), _rec(1)]}
    failed = client.post(url, json=good, headers=KEY)
    assert _error(failed) == (422, "store.test_refusal")
    assert _stored(db_clean, code) == (1, 0)
    monkeypatch.setattr(ingest, "_commit", real_commit)
    # The same body under the same key runs again (not a 200 replay of the failed batch) ...
    again = client.post(url, json=good, headers=KEY)
    assert again.status_code == 201, again.text
    assert again.headers["Idempotent-Replay"] == "false"
    assert (again.json()["status"], again.json()["inserted"]) == ("committed", 2)
    # ... and only the stored batch replays.
    replay = client.post(url, json=good, headers=KEY)
    assert replay.status_code == 200 and replay.headers["Idempotent-Replay"] == "true"
    assert replay.json()["id"] == again.json()["id"]
    with read_scope(db_clean) as s:
        first = min(batches.of_resource(s, code), key=lambda b: b.id)
        assert (first.status, first.idempotency_key) == ("failed", None)
        assert first.error is not None and first.error["idempotency_key"] == KEY["Idempotency-Key"]
    # A corrected body under a key whose batch failed is not a conflict either.
    monkeypatch.setattr(ingest, "_commit", refuse)
    other = {"Idempotency-Key": "edge-2"}
    assert _error(client.post(url, json={"records": [_rec(3)]}, headers=other)) == (422, "store.test_refusal")
    monkeypatch.setattr(ingest, "_commit", real_commit)
    fixed = client.post(url, json={"records": [_rec(3, "李四")]}, headers=other)
    assert fixed.status_code == 201 and fixed.json()["status"] == "committed", fixed.text
    assert _names(db_clean, code) == {IDS[0]: "张三", IDS[1]: "张三", IDS[3]: "李四"}


def test_r7_a_full_push_or_upload_with_nothing_accepted_is_a_422_with_its_report(
    session: Session, db_clean: str, c: dict[str, Any], code: str
) -> None:
    client = _client(session)
    url = f"/api/v1/data/{code}/push"
    assert (
        client.post(url, json={"records": [_rec(0)]}, headers={"Idempotency-Key": "seed"}).status_code == 201
    )
    bad = {"mode": "full", "records": [_rec(1, id_number="123"), _rec(2, id_number="456")]}
    refused = client.post(url, json=bad, headers=KEY)
    assert _error(refused) == (422, "ingest.nothing_accepted")
    report = refused.json()["error"]["details"]["batch"]
    assert (report["status"], report["received"], report["refused"], report["accepted"]) == (
        "failed",
        2,
        2,
        0,
    )
    assert [q[1] for q in _quarantine(db_clean, report["id"])] == ["id.length", "id.length"]
    assert _names(db_clean, code) == {IDS[0]: "张三"}  # the data kept as it was
    # The same refused body again is refused again (not a replay answered 200) ...
    assert _error(client.post(url, json=bad, headers=KEY)) == (422, "ingest.nothing_accepted")
    # ... and the corrected body under the same key is stored.
    fixed = client.post(url, json={"mode": "full", "records": [_rec(1), _rec(2)]}, headers=KEY)
    assert fixed.status_code == 201 and fixed.json()["status"] == "committed", fixed.text
    assert set(_names(db_clean, code)) == {IDS[1], IDS[2]}
    # The upload API answers the same way.
    up = f"/api/v1/data/{code}/batches"
    csv_bad = f"{HEADER}\n123,乙,,,,\n".encode()
    upload_key = {"Idempotency-Key": "up-1"}
    refused_up = client.post(
        up, files={"file": ("x.csv", csv_bad)}, data={"mode": "full"}, headers=upload_key
    )
    assert _error(refused_up) == (422, "ingest.nothing_accepted")
    assert refused_up.json()["error"]["details"]["batch"]["refused"] == 1
    csv_good = f"{HEADER}\n{IDS[4]},乙,,,,\n".encode()
    stored_up = client.post(
        up, files={"file": ("x.csv", csv_good)}, data={"mode": "full"}, headers=upload_key
    )
    assert stored_up.status_code == 201 and stored_up.json()["status"] == "committed", stored_up.text
    assert _names(db_clean, code) == {IDS[4]: "乙"}


# ---- 2. malformed input is a 4xx with a code, never a 500 -----------------------------------------------


def test_r7_malformed_push_bodies_are_refused_with_codes_and_store_nothing(
    session: Session, db_clean: str, c: dict[str, Any], code: str
) -> None:
    client = _client(session)
    url = f"/api/v1/data/{code}/push"
    as_json = {**KEY, "Content-Type": "application/json"}
    lone = b'{"records": [{"id_number": "%s", "full_name": "\\ud800"}]}' % IDS[0].encode()
    got = client.post(url, content=lone, headers=as_json)
    assert _error(got) == (422, "push.invalid_character")
    assert got.json()["error"]["details"] == {"record": 1, "field": "full_name"}
    named = b'{"records": [{"id_number": "%s", "\\udc00x": "1"}]}' % IDS[0].encode()
    assert _error(client.post(url, content=named, headers=as_json)) == (422, "push.invalid_character")
    line = b'{"id_number": "%s", "full_name": "\\ud800"}' % IDS[0].encode()
    got = client.post(url, content=b"\n" + line, headers={**KEY, **ND})
    assert _error(got) == (422, "push.invalid_character") and got.json()["error"]["details"]["record"] == 2
    deep = b'{"records": [{"id_number": ' + b"[" * 100_000 + b"]" * 100_000 + b"}]}"
    assert _error(client.post(url, content=deep, headers=as_json)) == (422, "push.json_too_deep")
    deep_line = b'{"full_name": ' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_001
    got = client.post(url, content=deep_line, headers={**KEY, **ND})
    assert _error(got) == (422, "push.json_too_deep") and got.json()["error"]["details"]["line"] == 1
    nested = {"records": [_rec(0, full_name=json.loads("[" * (MAX_DEPTH + 8) + "]" * (MAX_DEPTH + 8)))]}
    assert _error(client.post(url, json=nested, headers=KEY)) == (422, "push.json_too_deep")
    nan = b'{"records": [{"id_number": "%s", "allowance": NaN}]}' % IDS[0].encode()
    assert _error(client.post(url, content=nan, headers=as_json)) == (422, "push.json_malformed")
    # A session-authenticated push sending its CSRF token as a form field: a precise 415, not a 500.
    browser, csrf = page_client("civil_clerk", session=session)
    browser = TestClient(browser.app, cookies=browser.cookies, raise_server_exceptions=False)
    form = browser.post(url, data={"csrf_token": csrf, "records": "[]"}, headers=KEY)
    assert _error(form) == (415, "push.unsupported_media_type")
    assert _stored(db_clean, code) == (0, 0)
    # The same session pushing JSON with its token in the header is stored.
    ok = browser.post(url, json={"records": [_rec(0)]}, headers={**KEY, "X-CSRF-Token": csrf})
    assert ok.status_code == 201, ok.text
    assert _stored(db_clean, code) == (1, 1)


# ---- 3. NDJSON lines end at LF only ----------------------------------------------------------------------


def test_r7_ndjson_lines_end_at_lf_only(
    session: Session, db_clean: str, c: dict[str, Any], code: str
) -> None:
    client = _client(session)
    url = f"/api/v1/data/{code}/push"
    names = ["甲\u2028乙", "丙\u0085丁", "戊\u2029己"]
    lines = [json.dumps(_rec(i, name), ensure_ascii=False) for i, name in enumerate(names)]
    body = "\r\n".join(lines) + "\r\n"
    made = client.post(url, content=body.encode(), headers={**KEY, **ND})
    assert made.status_code == 201, made.text
    assert (made.json()["received"], made.json()["accepted"]) == (3, 3)
    assert _names(db_clean, code) == {IDS[i]: name for i, name in enumerate(names)}
    # Line numbers count LFs only: the bad line is line 3, whatever its neighbours hold.
    bad = "\n".join([lines[0], lines[1], "{oops"])
    got = client.post(url, content=bad.encode(), headers={"Idempotency-Key": "edge-2", **ND})
    assert _error(got) == (422, "push.json_malformed") and got.json()["error"]["details"]["line"] == 3
    assert _stored(db_clean, code) == (1, 3)


# ---- 4. the Content-Type is enforced; JSON booleans and numbers ------------------------------------------


def test_r7_push_content_type_is_enforced_and_json_values_are_read_by_type(
    session: Session, db_clean: str, c: dict[str, Any], code: str
) -> None:
    client = _client(session)
    url = f"/api/v1/data/{code}/push"
    body = json.dumps({"records": [_rec(0)]}).encode()
    for media in (
        "text/plain",
        "text/csv",
        "application/x-www-form-urlencoded",
        "application/json; charset=gbk",
    ):
        got = client.post(url, content=body, headers={**KEY, "Content-Type": media})
        assert _error(got) == (415, "push.unsupported_media_type"), media
        assert "application/json" in got.json()["error"]["message"]
        assert "application/x-ndjson" in got.json()["error"]["message_en"]
    none = client.post(url, content=body, headers=KEY)  # no Content-Type at all
    assert _error(none) == (415, "push.unsupported_media_type")
    latin = b'{"records": [{"id_number": "\xff"}]}'
    got = client.post(url, content=latin, headers={**KEY, "Content-Type": "application/json"})
    assert _error(got) == (422, "push.json_malformed")
    assert "None" not in got.json()["error"]["message"] and got.json()["error"]["details"] == {
        "byte": latin.index(b"\xff")
    }
    assert _stored(db_clean, code) == (0, 0)
    # JSON true/false: words a yes/no item reads and an integer or decimal item refuses; a number for a
    # text item is kept as its text.
    records = [
        _rec(0, children=True),
        _rec(1, allowance=False),
        _rec(2, full_name=12.5, active=False),
        _rec(3, full_name=7),
    ]
    line = "\n".join(json.dumps(r) for r in records).encode()
    got = client.post(url, content=line, headers={**KEY, "Content-Type": "application/jsonl"})
    assert got.status_code == 201, got.text
    report = got.json()
    assert (report["accepted"], report["refused"]) == (2, 2)
    assert sorted((q[0], q[1]) for q in _quarantine(db_clean, report["id"])) == [
        ("allowance", "type.decimal"),
        ("children", "type.integer"),
    ]
    with read_scope(db_clean) as s:
        rows = {r["id_number"]: r for r in store.rows(s, code)}
    assert set(rows) == {IDS[2], IDS[3]}
    assert (rows[IDS[2]]["full_name"], rows[IDS[3]]["full_name"]) == ("12.5", "7")
    assert rows[IDS[2]]["active"] in (False, 0)


# ---- 5. an integer past 64 bits is out of range ----------------------------------------------------------


def test_r13_an_integer_beyond_64_bits_is_refused_as_out_of_range(
    session: Session, db_clean: str, c: dict[str, Any], code: str
) -> None:
    values = ["9223372036854775807", "-9223372036854775808", "9223372036854775808", "-9223372036854775809"]
    values += ["000000000000000000000042", "123456789012345678901", "1.5", None]
    result = check_column(
        {"name": "n", "data_type": "integer"}, pa.array(values, pa.string()), [], required=False
    )
    expected = [None, None, "type.integer_range", "type.integer_range", None, "type.integer_range"]
    assert list(result.errors) == [*expected, "type.integer", None]
    client = _client(session)
    records = [_rec(0, children=2**63 - 1), _rec(1, children=-(2**63)), _rec(2, children=2**63)]
    got = client.post(f"/api/v1/data/{code}/push", json={"records": records}, headers=KEY)
    assert got.status_code == 201, got.text
    assert (got.json()["accepted"], got.json()["refused"]) == (2, 1)
    [(column, rule, message)] = _quarantine(db_clean, got.json()["id"])
    assert (column, rule) == ("children", "type.integer_range")
    assert "超出整数的取值范围" in message and "9223372036854775807" in message
    with read_scope(db_clean) as s:
        kept = {r["id_number"]: r["children"] for r in store.rows(s, code)}
    assert kept == {IDS[0]: 2**63 - 1, IDS[1]: -(2**63)}


# ---- 6. a client's file name and Idempotency-Key ---------------------------------------------------------


def test_r7_uploads_keep_the_base_name_and_refuse_keys_a_header_cannot_carry(
    session: Session, db_clean: str, c: dict[str, Any], code: str
) -> None:
    client = _client(session)
    up = f"/api/v1/data/{code}/batches"
    csv = f"{HEADER}\n{IDS[0]},甲,,,,\n".encode()
    mode = {"mode": "incremental"}
    got = client.post(up, files={"file": ("..\\..\\C:\\tmp/sub\\数据\u202e.csv", csv)}, data=mode)
    assert got.status_code == 201 and got.json()["filename"] == "数据.csv", got.text
    # A control character in the part's header as sent raw (a browser would escape it).
    raw = (
        b'--b\r\nContent-Disposition: form-data; name="mode"\r\n\r\nincremental\r\n'
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="../x\x1b[31m\x7f.csv"\r\n'
        b"Content-Type: text/csv\r\n\r\n" + csv + b"\r\n--b--\r\n"
    )
    got = client.post(up, content=raw, headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert got.status_code == 201 and got.json()["filename"] == "x[31m.csv", got.text
    long = "长" * 300 + ".csv"
    got = client.post(up, files={"file": ("/etc/" + long, csv)}, data=mode)
    assert got.status_code == 201, got.text
    assert got.json()["filename"] == "长" * 196 + ".csv"
    assert _stored(db_clean, code) == (3, 1)
    empty = client.post(up, files={"file": ("", csv)}, data=mode)
    assert _error(empty) == (422, "request.invalid")
    err = empty.json()["error"]
    assert "文件名" in err["message"] and "UploadFile" not in err["message"] + err["message_en"]
    folder = client.post(up, files={"file": ("uploads/", csv)}, data=mode)
    assert _error(folder) == (422, "ingest.file_name_invalid")
    garbled = {"Idempotency-Key": "批次一".encode()}
    got = client.post(up, files={"file": ("x.csv", csv)}, data=mode, headers=garbled)
    assert _error(got) == (422, "ingest.idempotency_key_invalid")
    push = client.post(f"/api/v1/data/{code}/push", json={"records": [_rec(1)]}, headers=garbled)
    assert _error(push) == (422, "push.idempotency_key_invalid")
    assert _stored(db_clean, code) == (3, 1)


# ---- 7. a wrong secret is a wrong token, whatever the token's state --------------------------------------


def test_r5_a_known_prefix_with_a_wrong_secret_is_token_invalid(
    session: Session, db_clean: str, c: dict[str, Any], code: str
) -> None:
    user = session.scalars(select(User).where(User.username == "civil_clerk")).one()
    raws = {
        state: tokens.issue_token(session, user, name=state)[0] for state in ("active", "revoked", "expired")
    }
    session.commit()
    with session_scope(db_clean) as s:
        for state, at in (("revoked", "revoked_at"), ("expired", "expires_at")):
            prefix = raws[state].split("_")[1]
            token = s.scalars(select(ApiToken).where(ApiToken.prefix == prefix)).one()
            setattr(token, at, now() - dt.timedelta(minutes=1))
    client = TestClient(create_app())
    url = f"/api/v1/data/{code}/push"
    for state, raw in raws.items():
        wrong = raw[:-4] + ("AAAA" if not raw.endswith("AAAA") else "BBBB")
        got = client.post(
            url, json={"records": [_rec(0)]}, headers={**KEY, "Authorization": f"Bearer {wrong}"}
        )
        assert _error(got) == (401, "auth.token_invalid"), state
    right = client.get("/api/v1/auth/tokens", headers={"Authorization": f"Bearer {raws['revoked']}"})
    assert _error(right) == (401, "auth.token_revoked")  # the holder of the real secret is told why
    assert _stored(db_clean, code) == (0, 0)
