"""R19 R26 R5 R10: what the row API keeps in the process to serve fast, and that every guarantee holds
through it: the catalog view is forgotten when the entry changes, a token actor when the token is revoked
(at once in the process, within `api_token_cache_seconds` elsewhere), the audit writer commits each
entry, chained, before its request is answered, and receipts sealed with the kept key still verify."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from store_fixtures import HEADER, publish, store_city, write
from typer.testing import CliRunner

from gongshu.aggregation.ingest import ingest_file
from gongshu.catalog import service as catalog
from gongshu.catalog.data_view import resource_view
from gongshu.catalog.models import CatalogEntry
from gongshu.cli import app as cli
from gongshu.kernel.access.grants import create_grant
from gongshu.kernel.audit.models import AuditEntry, AuditSubjectIndex
from gongshu.kernel.audit.service import record
from gongshu.kernel.audit.subjects import index_subjects
from gongshu.kernel.audit.verify import verify_chain
from gongshu.kernel.audit.writer import audit_writer
from gongshu.kernel.config import get_settings
from gongshu.kernel.crypto.seal import key_id, seal_document, verify_sealed
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.identifiers.checks import make_id_number
from gongshu.kernel.identity import tokens
from gongshu.kernel.identity.models import ApiToken
from gongshu.kernel.identity.tokens import issue_token, revoke_token
from gongshu.kernel.timeutil import now
from gongshu.sharing.delivery_api import data_part
from gongshu.web.app import create_app

SCENARIO = "婚育服务一件事"
IDS = [make_id_number("110101", dt.date(1985, 6, 1), n) for n in range(300, 310)]


@pytest.fixture()
def api(session: Session, tmp_path: Path) -> dict[str, Any]:
    """Civil affairs' conditional resource (10 rows), granted by API to public security, with a token."""
    c = store_city(session)
    c["code"] = publish(
        session, c, open_attribute="not_open", open_conditions=[], not_open_reason="涉及个人隐私"
    ).resource_code
    rows = [f"{key},居民{i:02d},2024-01-{i + 1:02d},{i % 4},{i}.50,否" for i, key in enumerate(IDS)]
    ingest_file(c["civil_clerk"], c["code"], write(tmp_path, "m.csv", HEADER + "\n" + "\n".join(rows) + "\n"))
    create_grant(
        session,
        c["reviewer"],
        consumer_org_id=c["police"].id,
        resource_id=c["code"],
        items=["id_number", "full_name", "registered_on", "children"],
        scenario=SCENARIO,
        delivery_method="api",
        valid_from=now() - dt.timedelta(days=1),
        valid_to=now() + dt.timedelta(days=30),
    )
    c["token"], token = issue_token(session, c["police_clerk"], name="api")
    c["token_id"] = token.id
    session.commit()
    c["client"] = TestClient(create_app(), headers={"Authorization": f"Bearer {c['token']}"})
    return c


def _get(c: dict[str, Any], query: str = "limit=3") -> Any:
    return c["client"].get(f"/api/v1/data/{c['code']}/rows?scenario={SCENARIO}&{query}")


# ---- the catalog view ----------------------------------------------------------------------------------


def test_r26_catalog_view_is_kept_frozen_until_the_entry_changes(
    api: dict[str, Any], session: Session
) -> None:
    with read_scope() as s:
        first = resource_view(s, api["code"])
    with read_scope() as s:
        assert resource_view(s, api["code"]) is first  # kept: one generation read, no entry query
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.resource.items = ()  # type: ignore[misc]
    assert isinstance(first.resource.items, tuple) and first.subject_key_items == ("id_number",)
    assert _get(api).status_code == 200
    # A withdrawal bumps the catalog generation in its transaction: the next request decides on the new
    # state, and is refused (default deny) and audited.
    entry = session.scalars(select(CatalogEntry).where(CatalogEntry.resource_code == api["code"])).one()
    catalog.withdraw(session, api["civil_officer"], entry.id, "停止提供")
    session.commit()
    with read_scope() as s:
        assert resource_view(s, api["code"]) is not first
        assert not resource_view(s, api["code"]).resource.published
    resp = _get(api)
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "access.not_published"


def test_r26_unpublished_entries_are_never_kept(api: dict[str, Any], session: Session) -> None:
    with read_scope() as s:
        view = resource_view(s, api["code"])
    entry = session.scalars(select(CatalogEntry).where(CatalogEntry.resource_code == api["code"])).one()
    catalog.withdraw(session, api["civil_officer"], entry.id, "停止提供")
    session.commit()
    with read_scope() as s:
        withdrawn = resource_view(s, api["code"])
    with read_scope() as s:
        assert resource_view(s, api["code"]) is not withdrawn  # read again each time
    assert view.resource.published and not withdrawn.resource.published


# ---- token actors --------------------------------------------------------------------------------------


def test_r5_revoking_a_token_takes_effect_at_once_in_the_process(
    api: dict[str, Any], session: Session
) -> None:
    assert _get(api).status_code == 200  # the actor is now kept
    revoke_token(session, api["police_clerk"], api["token_id"])
    session.commit()
    resp = _get(api)
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "auth.token_revoked"


def test_r5_a_revocation_elsewhere_holds_within_the_cache_seconds(
    api: dict[str, Any], session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(tokens.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(get_settings(), "api_token_cache_seconds", 5.0)
    assert _get(api).status_code == 200
    # Another process revokes the token: this one learns it only from the database.
    session.execute(update(ApiToken).where(ApiToken.id == api["token_id"]).values(revoked_at=now()))
    session.commit()
    clock[0] += 4.9
    assert _get(api).status_code == 200  # within the documented time
    clock[0] += 0.2
    resp = _get(api)
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "auth.token_revoked"


def test_r5_no_token_cache_when_its_seconds_are_zero(
    api: dict[str, Any], session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "api_token_cache_seconds", 0.0)
    assert _get(api).status_code == 200
    session.execute(update(ApiToken).where(ApiToken.id == api["token_id"]).values(revoked_at=now()))
    session.commit()
    assert _get(api).status_code == 401


def test_r5_a_kept_token_actor_never_outlives_the_token(
    api: dict[str, Any], session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _get(api).status_code == 200
    token = session.get(ApiToken, api["token_id"])
    assert token is not None
    later = token.expires_at + dt.timedelta(seconds=1)
    monkeypatch.setattr(tokens, "now", lambda: later)
    resp = _get(api)
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "auth.token_expired"


def test_r5_a_wrong_secret_with_a_known_prefix_is_refused(api: dict[str, Any]) -> None:
    assert _get(api).status_code == 200
    prefix = api["token"][: len("gs_") + 12]
    forged = TestClient(create_app(), headers={"Authorization": f"Bearer {prefix}_{'A' * 43}"})
    resp = forged.get(f"/api/v1/data/{api['code']}/rows?scenario={SCENARIO}")
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "auth.token_invalid"


# ---- the audit writer ----------------------------------------------------------------------------------


def test_r26_audit_writer_commits_each_entry_chained_before_answering(
    api: dict[str, Any], session: Session
) -> None:
    actor = api["police_clerk"]
    seqs: list[int] = []
    lock = threading.Lock()

    def read(n: int) -> None:
        def job(s: Session) -> int:
            return record(s, actor, "data.read", object_id=api["code"], subject_keys=[IDS[n % len(IDS)]]).seq

        seq = audit_writer().write(job)
        with read_scope() as s:  # committed before `write` returns
            assert s.get(AuditEntry, seq) is not None
        with lock:
            seqs.append(seq)

    threads = [threading.Thread(target=read, args=(n,)) for n in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(seqs)) == 40
    with read_scope() as s:
        assert verify_chain(s).ok
        assert all(s.get(AuditEntry, q).subject_keys for q in seqs)  # type: ignore[union-attr]
    with session_scope() as s:  # the tracker's index, derived by its job from the entries (R26)
        index_subjects(s)
    with read_scope() as s:
        indexed = s.scalars(select(AuditSubjectIndex.audit_seq).where(AuditSubjectIndex.audit_seq.in_(seqs)))
        assert sorted(indexed) == sorted(seqs)


def test_r26_a_failing_audit_job_costs_the_others_nothing(api: dict[str, Any], session: Session) -> None:
    actor = api["police_clerk"]
    release = threading.Event()
    results: dict[str, Any] = {}

    def slow(s: Session) -> int:
        release.wait(5)  # holds the writer so that the next jobs are written together
        return record(s, actor, "data.read", object_id="first").seq

    def failing(s: Session) -> int:
        record(s, actor, "data.read", object_id="failing")
        raise RuntimeError("boom")

    def good(s: Session) -> int:
        return record(s, actor, "data.read", object_id="good").seq

    def run(name: str, job: Any) -> None:
        try:
            results[name] = audit_writer().write(job)
        except RuntimeError as exc:
            results[name] = exc

    first = threading.Thread(target=run, args=("first", slow))
    first.start()
    others = [threading.Thread(target=run, args=(n, j)) for n, j in (("failing", failing), ("good", good))]
    for t in others:
        t.start()
    release.set()
    for t in [first, *others]:
        t.join()
    assert isinstance(results["failing"], RuntimeError)
    with read_scope() as s:
        written = set(s.scalars(select(AuditEntry.object_id).where(AuditEntry.action == "data.read")))
        assert {"first", "good"} <= written and "failing" not in written
        assert verify_chain(s).ok


# ---- receipts ------------------------------------------------------------------------------------------


def test_r19_receipts_sealed_with_the_kept_key_verify(api: dict[str, Any], tmp_path: Path) -> None:
    sealed = [seal_document({"n": n}) for n in range(3)]
    assert all(verify_sealed(s).valid for s in sealed)
    assert {s["seal"]["key_id"] for s in sealed} == {key_id(sealed[0]["seal"]["public_key"])}
    resp = _get(api)
    receipt = resp.json()["receipt"]
    body = data_part(resp.content, receipt)
    assert body is not None
    (tmp_path / "receipt.json").write_text(json.dumps(receipt, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "body.json").write_bytes(body)
    args = ["receipt", "verify", str(tmp_path / "receipt.json"), "--response", str(tmp_path / "body.json")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    with read_scope() as s:
        entry = s.get(AuditEntry, receipt["document"]["audit_seq"])
        assert entry is not None and entry.outcome == "ok"
