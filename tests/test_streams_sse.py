"""R19 (data streams over Server-Sent Events), R17, R26: against the real server (uvicorn, real HTTP)."""

from __future__ import annotations

import datetime as dt
import json
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from store_fixtures import HEADER, IDS, publish, store_city, write

from gongshu.aggregation.ingest import ingest_file
from gongshu.kernel import config, timeutil
from gongshu.kernel.access.grants import create_grant, revoke_grant
from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.identity.tokens import issue_token
from gongshu.kernel.timeutil import now
from gongshu.sharing.receipts import verify_receipt
from gongshu.sharing.streams import StreamEvent, batch_body
from gongshu.store.service import changes_since

SCENARIO = "婚育服务一件事"
GRANTED = ["id_number", "full_name"]


def stream_city(session: Session, *, row_filter: dict[str, list[object]] | None = None) -> dict[str, Any]:
    """A published resource of civil affairs, and a stream grant of it to public security (two items)."""
    c = store_city(session)
    c["code"] = publish(session, c).resource_code
    grant = create_grant(
        session,
        c["reviewer"],
        consumer_org_id=c["police"].id,
        resource_id=c["code"],
        items=GRANTED,
        scenario=SCENARIO,
        delivery_method="stream",
        valid_from=now() - dt.timedelta(days=1),
        valid_to=now() + dt.timedelta(days=30),
        row_filter=row_filter,
    )
    c["grant_id"] = grant.id
    c["token"], _ = issue_token(session, c["police_clerk"], name="stream")
    c["citizen_token"], _ = issue_token(session, c["citizen"], name="c")
    session.commit()
    return c


def load(c: dict[str, Any], tmp: Path, url: str, rows: list[str], name: str, **kw: Any) -> dict[str, Any]:
    """An incremental load by civil affairs' data officer."""
    text = HEADER + "\n" + "\n".join(rows) + ("\n" if rows else "")
    return ingest_file(c["civil_clerk"], c["code"], write(tmp, name, text), mode="incremental", url=url, **kw)


def row(i: int, name: str, children: int = 1) -> str:
    return f"{IDS[i]},{name},2024-01-0{i % 9 + 1},{children},2.5,是"


class SseReader:
    """Reads a text/event-stream in a thread; parsed events land in a queue."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.status: int | None = None
        self.ready = threading.Event()
        self._client = httpx.Client(timeout=httpx.Timeout(10, read=30))
        self._thread = threading.Thread(target=self._run, args=(url, headers), daemon=True)
        self._thread.start()
        assert self.ready.wait(10), "the stream did not answer"

    def _run(self, url: str, headers: dict[str, str]) -> None:
        try:
            with self._client.stream("GET", url, headers=headers) as resp:
                self.status = resp.status_code
                self.ready.set()
                current: dict[str, Any] = {}
                for line in resp.iter_lines():
                    if not line:
                        if current:
                            self.events.put(current)
                        current = {}
                    elif not line.startswith(":"):
                        field, _, value = line.partition(": ")
                        current[field] = value
        except (httpx.HTTPError, RuntimeError):
            pass
        finally:
            self.ready.set()
            self.events.put({"event": "closed"})

    def next(self, timeout: float = 10) -> dict[str, Any]:
        ev = self.events.get(timeout=timeout)
        if "data" in ev:
            ev["json"] = json.loads(ev["data"])
        return ev

    def changes(self, n: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The next `n` change events, and the receipts that came with them."""
        changes: list[dict[str, Any]] = []
        receipts: list[dict[str, Any]] = []
        while len(changes) < n or len(receipts) == 0:
            ev = self.next()
            assert ev["event"] in ("change", "receipt"), ev
            (changes if ev["event"] == "change" else receipts).append(ev)
        return changes, receipts

    def close(self) -> None:
        self._client.close()
        self._thread.join(timeout=5)


@pytest.fixture(autouse=True)
def fast_poll(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("GONGSHU_STREAM_POLL_SECONDS", "0.02")
    monkeypatch.setenv("GONGSHU_STREAM_HEARTBEAT_SECONDS", "0.5")
    config.reset_settings()
    yield
    monkeypatch.undo()
    config.reset_settings()


def _url(base: str, c: dict[str, Any], scenario: str = SCENARIO) -> str:
    return f"{base}/api/v1/data/{c['code']}/stream?scenario={scenario}"


def reads(url: str, code: str, *, denied: bool) -> list[dict[str, Any]]:
    """The audit log's data reads of `code` (refused ones, or allowed ones), oldest first."""
    outcome = AuditEntry.outcome == "denied" if denied else AuditEntry.outcome != "denied"
    with read_scope(url) as s:
        stmt = select(AuditEntry).where(
            AuditEntry.action == "data.read", AuditEntry.object_id == code, outcome
        )
        return [
            {"grant_id": e.grant_id, "scenario": e.scenario, "detail": dict(e.detail or {})}
            for e in s.scalars(stmt.order_by(AuditEntry.seq))
        ]


def test_r19_incremental_load_streams_granted_items_with_audit_and_receipt(
    db_clean: str, session: Session, live_server: str, tmp_path: Path
) -> None:
    c = stream_city(session)
    reader = SseReader(_url(live_server, c), {"Authorization": f"Bearer {c['token']}"})
    try:
        assert reader.status == 200
        load(c, tmp_path, db_clean, [row(0, "张三"), row(1, "李四")], "a.csv")
        changes, receipts = reader.changes(2)
        data = [ev["json"] for ev in changes]
        assert [d["op"] for d in data] == ["insert", "insert"]
        assert [d["record"] for d in data] == [
            {"id_number": IDS[0], "full_name": "张三"},
            {"id_number": IDS[1], "full_name": "李四"},
        ]  # R17: the granted items only — no registered_on, children, allowance, active
        assert [int(ev["id"]) for ev in changes] == [d["id"] for d in data]
        receipt = receipts[0]["json"]
        events = [StreamEvent(**d) for d in data]
        assert verify_receipt(receipt, batch_body(events)).valid  # R26: the receipt names these bytes
        assert receipt["document"]["grant_id"] == c["grant_id"] and receipt["document"]["records"] == 2
        load(c, tmp_path, db_clean, [row(0, "张三丰")], "b.csv", delete_keys=[IDS[1]])
        pair, _ = reader.changes(2)
        by_op = {ev["json"]["op"]: ev for ev in pair}
        upd, dele = by_op["update"], by_op["delete"]
        assert upd["json"]["op"] == "update" and upd["json"]["record"]["full_name"] == "张三丰"
        assert dele["json"]["op"] == "delete" and dele["json"]["record"] == {"id_number": IDS[1]}
    finally:
        reader.close()
    allowed = reads(db_clean, c["code"], denied=False)
    assert len(allowed) == 2  # R26: one audited read per delivered batch
    assert allowed[0]["grant_id"] == c["grant_id"] and allowed[0]["scenario"] == SCENARIO
    assert allowed[0]["detail"]["method"] == "stream" and allowed[0]["detail"]["records"] == 2


def test_r19_resume_with_last_event_id_has_no_gap_and_no_duplicate(
    db_clean: str, session: Session, live_server: str, tmp_path: Path
) -> None:
    c = stream_city(session)
    auth = {"Authorization": f"Bearer {c['token']}"}
    reader = SseReader(_url(live_server, c), auth)
    load(c, tmp_path, db_clean, [row(0, "甲"), row(1, "乙")], "a.csv")
    first, _ = reader.changes(2)
    reader.close()
    last_id = first[-1]["id"]
    load(c, tmp_path, db_clean, [row(2, "丙"), row(3, "丁"), row(4, "戊")], "b.csv")  # while away
    reader = SseReader(_url(live_server, c), {**auth, "Last-Event-ID": last_id})
    try:
        again, _ = reader.changes(3)
    finally:
        reader.close()
    ids = [int(ev["id"]) for ev in first + again]
    assert ids == sorted(set(ids)) and len(ids) == 5
    assert [ev["json"]["record"]["full_name"] for ev in again] == ["丙", "丁", "戊"]


def test_r17_stream_skips_rows_outside_the_grant_row_filter(
    db_clean: str, session: Session, live_server: str, tmp_path: Path
) -> None:
    c = stream_city(session, row_filter={"children": [2]})
    reader = SseReader(_url(live_server, c), {"Authorization": f"Bearer {c['token']}"})
    try:
        load(c, tmp_path, db_clean, [row(0, "甲", 1), row(1, "乙", 2), row(2, "丙", 3)], "a.csv")
        changes, _ = reader.changes(1)
        assert [ev["json"]["record"]["full_name"] for ev in changes] == ["乙"]
        load(c, tmp_path, db_clean, [row(3, "丁", 2)], "b.csv")
        more, _ = reader.changes(1)
        assert more[0]["json"]["record"]["full_name"] == "丁"
    finally:
        reader.close()


def test_r26_revocation_ends_the_stream_with_the_reason_and_is_audited(
    db_clean: str, session: Session, live_server: str, tmp_path: Path
) -> None:
    c = stream_city(session)
    reader = SseReader(_url(live_server, c), {"Authorization": f"Bearer {c['token']}"})
    try:
        load(c, tmp_path, db_clean, [row(0, "甲")], "a.csv")
        reader.changes(1)
        with session_scope(db_clean) as s:
            revoke_grant(s, c["reviewer"], c["grant_id"], reason="用途变更", provider_org_id=c["civil"].id)
        load(c, tmp_path, db_clean, [row(1, "乙")], "b.csv")
        end = reader.next()
        assert end["event"] == "end" and end["json"]["reason"] == "access.grant_revoked"
        assert reader.next()["event"] == "closed"  # nothing after the end: 乙 was never delivered
    finally:
        reader.close()
    denied = reads(db_clean, c["code"], denied=True)
    assert len(denied) == 1 and denied[0]["detail"]["reason"] == "access.grant_revoked"


@pytest.mark.parametrize(
    ("who", "scenario", "reason"),
    [
        ("token", "另一个场景", "access.scenario_mismatch"),
        ("citizen_token", SCENARIO, "access.no_grant"),
        (None, SCENARIO, "access.anonymous"),
    ],
)
def test_r26_refused_stream_is_403_and_audited(
    db_clean: str, session: Session, live_server: str, who: str | None, scenario: str, reason: str
) -> None:
    c = stream_city(session)
    headers = {"Authorization": f"Bearer {c[who]}"} if who else {}
    resp = httpx.get(_url(live_server, c, scenario), headers=headers, timeout=10)
    assert resp.status_code == 403 and resp.json()["error"]["code"] == reason
    denied = reads(db_clean, c["code"], denied=True)
    assert len(denied) == 1 and denied[0]["detail"]["method"] == "stream"


def test_r19_api_grant_does_not_open_a_stream(db_clean: str, session: Session, live_server: str) -> None:
    c = stream_city(session)
    with session_scope(db_clean) as s:
        create_grant(
            s,
            c["reviewer"],
            consumer_org_id=c["police"].id,
            resource_id=c["code"],
            items=GRANTED,
            scenario="另一个场景",
            delivery_method="api",
            valid_from=now() - dt.timedelta(days=1),
            valid_to=now() + dt.timedelta(days=30),
        )
    resp = httpx.get(
        _url(live_server, c, "另一个场景"), headers={"Authorization": f"Bearer {c['token']}"}, timeout=10
    )
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "access.method_mismatch"


def test_r17_expiry_ends_an_idle_stream_with_the_reason(
    db_clean: str, session: Session, live_server: str
) -> None:
    c = stream_city(session)
    reader = SseReader(_url(live_server, c), {"Authorization": f"Bearer {c['token']}"})
    try:
        timeutil.freeze(now() + dt.timedelta(days=31))  # past the grant's period; no new change needed
        end = reader.next()
        assert end["event"] == "end" and end["json"]["reason"] == "access.grant_expired"
    finally:
        timeutil.freeze(None)
        reader.close()
    assert [d["detail"]["reason"] for d in reads(db_clean, c["code"], denied=True)] == [
        "access.grant_expired"
    ]


def test_r19_after_parameter_resumes_and_heartbeats_keep_the_connection(
    db_clean: str, session: Session, live_server: str, tmp_path: Path
) -> None:
    c = stream_city(session)
    load(c, tmp_path, db_clean, [row(0, "甲"), row(1, "乙"), row(2, "丙")], "a.csv")
    with read_scope(db_clean) as s:
        first_id = changes_since(s, c["code"], 0, 1)[0].id
    lines: list[str] = []
    headers = {"Authorization": f"Bearer {c['token']}"}
    with httpx.stream(
        "GET", _url(live_server, c) + f"&after={first_id}", headers=headers, timeout=10
    ) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        for line in resp.iter_lines():
            lines.append(line)
            if line == ": heartbeat":
                break
    names = [json.loads(x[6:])["record"]["full_name"] for x in lines if x.startswith('data: {"id"')]
    assert names == ["乙", "丙"]  # after the first event, nothing before it
