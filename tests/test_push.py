"""R7: the push API — JSON and NDJSON batches from a department's system, stored once per Idempotency-Key,
through the same checks and quarantine as an upload; precise refusals."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from store_fixtures import IDS, publish, store_city

from gongshu.kernel.config import get_settings
from gongshu.kernel.db import read_scope
from gongshu.kernel.identity import tokens
from gongshu.kernel.identity.models import User
from gongshu.store import batches
from gongshu.store import service as store
from gongshu.web.app import create_app


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


def _client(session: Session, username: str) -> TestClient:
    user = session.scalars(select(User).where(User.username == username)).one()
    raw, _ = tokens.issue_token(session, user, name="push")
    session.commit()
    return TestClient(create_app(), headers={"Authorization": f"Bearer {raw}"})


def test_r7_push_json_is_stored_once_per_idempotency_key(
    session: Session, db_clean: str, c: dict[str, Any], code: str
) -> None:
    client = _client(session, "civil_clerk")
    body = {"mode": "incremental", "records": [_rec(0), _rec(1, "李四"), {**_rec(2), "id_number": "123"}]}
    first = client.post(f"/api/v1/data/{code}/push", json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201, first.text
    report = first.json()
    assert (report["source"], report["accepted"], report["refused"], report["status"]) == (
        "push",
        2,
        1,
        "committed",
    )
    assert first.headers["Idempotent-Replay"] == "false"
    again = client.post(f"/api/v1/data/{code}/push", json=body, headers={"Idempotency-Key": "k-1"})
    assert again.status_code == 200 and again.headers["Idempotent-Replay"] == "true"
    assert again.json()["id"] == report["id"]
    other = {**body, "records": [_rec(0, "王五")]}
    clash = client.post(f"/api/v1/data/{code}/push", json=other, headers={"Idempotency-Key": "k-1"})
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "push.idempotency_conflict"
    with read_scope(db_clean) as s:
        assert len(batches.of_resource(s, code)) == 1
        assert store.count(s, code) == 2
        assert batches.quarantine_count(s, report["id"]) == 1


def test_r7_push_ndjson_with_delete_and_history(
    session: Session, db_clean: str, c: dict[str, Any], code: str
) -> None:
    client = _client(session, "civil_clerk")
    lines = "\n".join(json.dumps(r, ensure_ascii=False) for r in [_rec(0), _rec(1), _rec(2)])
    nd = {"Content-Type": "application/x-ndjson"}
    made = client.post(
        f"/api/v1/data/{code}/push?mode=full", content=lines.encode(), headers={**nd, "Idempotency-Key": "a"}
    )
    assert made.status_code == 201 and made.json()["inserted"] == 3, made.text
    changed = json.dumps(_rec(0, "张三丰"), ensure_ascii=False)
    upd = client.post(
        f"/api/v1/data/{code}/push?mode=incremental&delete={IDS[2]}",
        content=changed.encode(),
        headers={**nd, "Idempotency-Key": "b"},
    )
    assert upd.status_code == 201, upd.text
    assert (upd.json()["updated"], upd.json()["deleted"]) == (1, 1)
    with read_scope(db_clean) as s:
        names = {r["id_number"]: r["full_name"] for r in store.rows(s, code)}
        assert names == {IDS[0]: "张三丰", IDS[1]: "张三"}
        assert [h.op for h in store.history(s, code, IDS[0])][-1] == "update"
    bad = client.post(
        f"/api/v1/data/{code}/push",
        content=f"{changed}\n{{oops\n".encode(),
        headers={**nd, "Idempotency-Key": "c"},
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "push.json_malformed"
    assert bad.json()["error"]["details"]["line"] == 2


def test_r7_push_refusals_are_precise(
    session: Session, db_clean: str, c: dict[str, Any], code: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _client(session, "civil_clerk")
    url = f"/api/v1/data/{code}/push"

    def err(resp: Any) -> tuple[int, str]:
        return resp.status_code, resp.json()["error"]["code"]

    key = {"Idempotency-Key": "x"}
    assert err(client.post(url, json={"records": [_rec(0)]})) == (422, "push.idempotency_key_required")
    assert err(client.post(url, json={"records": []}, headers=key)) == (422, "push.empty_batch")
    as_json = {**key, "Content-Type": "application/json"}
    assert err(client.post(url, content=b"{no", headers=as_json)) == (422, "push.json_malformed")
    assert err(client.post(url, content=b"{no", headers=key)) == (415, "push.unsupported_media_type")
    assert err(client.post(url, json={"mode": "x", "records": [_rec(0)]}, headers=key)) == (
        422,
        "push.mode_invalid",
    )
    assert err(client.post(url, json={"records": [{"a": 1}]}, headers=key)) == (422, "store.schema_mismatch")
    monkeypatch.setattr(get_settings(), "push_max_bytes", 50)
    assert err(client.post(url, json={"records": [_rec(0)]}, headers=key)) == (413, "push.body_too_large")
    monkeypatch.undo()
    monkeypatch.setattr(get_settings(), "push_max_records", 2)
    many = {"records": [_rec(0), _rec(1), _rec(2)]}
    assert err(client.post(url, json=many, headers=key)) == (413, "push.too_many_records")
    assert err(client.post("/api/v1/data/nope/push", json=many, headers=key)) == (
        404,
        "store.resource_unknown",
    )
    police = _client(session, "police_clerk")
    assert err(police.post(url, json={"records": [_rec(0)]}, headers=key)) == (403, "push.not_provider")
    with read_scope(db_clean) as s:
        assert batches.of_resource(s, code) == []
