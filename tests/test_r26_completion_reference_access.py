"""R13 R26: a completion rule reads another resource's data — only as far as the access decision point lets
the provider organisation read it. Civil affairs may not fill its (open) resource with names and
addresses from public security's population resource without a live grant covering those items: the
rule is refused when set, a load fails cleanly once the grant is revoked, the check before a load
refuses the same way, and an allowed completion is audited as a read of the reference (the data
subject's /my/reads shows it). A database error never leaves its SQL in a failed batch's message."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import pytest
from catalog_fixtures import marriage
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from store_fixtures import IDS, store_city, write

from gongshu.aggregation.ingest import ingest_file
from gongshu.aggregation.precheck import check_file
from gongshu.catalog import service as catalog
from gongshu.catalog.models import CatalogEntry
from gongshu.kernel.access import grants
from gongshu.kernel.access.service import AccessDenied
from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.audit.service import subject_hash
from gongshu.kernel.db import get_engine, read_scope, session_scope
from gongshu.kernel.errors import Forbidden
from gongshu.kernel.identity import tokens
from gongshu.kernel.identity.models import Organisation, User
from gongshu.kernel.timeutil import now
from gongshu.kernel.workflow import engine
from gongshu.quality import objections, rules
from gongshu.store import batches
from gongshu.store import service as store
from gongshu.web.app import create_app

SCENARIO = "最低生活保障审核"
POPULATION_ITEMS: list[dict[str, Any]] = [
    {
        "name": "id_number",
        "label_zh": "身份证号码",
        "data_type": "id_number",
        "length": 18,
        "is_key": True,
        "sensitivity": "personal",
    },
    {"name": "full_name", "label_zh": "姓名", "data_type": "string", "length": 20},
    {"name": "household_address", "label_zh": "户籍地址", "data_type": "string", "length": 100},
]
# Civil affairs' open resource: keyed by its own record number; the phone column is where the tester
# put ID numbers to match the population resource by.
OWN_ITEMS: list[dict[str, Any]] = [
    {"name": "record_no", "label_zh": "记录编号", "data_type": "string", "length": 20, "is_key": True},
    {"name": "phone", "label_zh": "联系电话", "data_type": "string", "length": 18},
    {"name": "full_name", "label_zh": "姓名", "data_type": "string", "length": 20},
    {"name": "household_address", "label_zh": "户籍地址", "data_type": "string", "length": 100},
]
OWN_HEADER = "record_no,phone,full_name,household_address"
BREACH = {
    "item": "household_address",
    "kind": "complete",
    "params": {
        "reference": "",  # the population resource's code, filled in by the tests
        "reference_item": "household_address",
        "reference_key": "id_number",
        "by": "phone",
    },
}


def _publish(session: Session, officer: Any, reviewer: Any, **overrides: Any) -> str:
    entry = catalog.create_draft(session, officer, marriage(**overrides))
    case = catalog.submit_for_review(session, officer, entry.id)
    engine.decide(session, reviewer, case.id, "approve")
    session.commit()
    return entry.resource_code


@pytest.fixture()
def c(session: Session, db_clean: str, tmp_path: Path) -> dict[str, Any]:
    out = store_city(session)
    out["population"] = _publish(
        session,
        out["police_officer"],
        out["reviewer"],
        name="人口基础信息",
        name_en="Population",
        category_code="A01-02-03-05",
        items=POPULATION_ITEMS,
        topic="公安",
    )
    out["own"] = _publish(
        session,
        out["civil_officer"],
        out["reviewer"],
        name="低保对象名册",
        name_en="Minimum living allowance recipients",
        items=OWN_ITEMS,
        subject_kind="other",
        sharing_attribute="unconditional",
        sharing_conditions=[],
        open_attribute="general",
        open_conditions=[],
    )
    text = "id_number,full_name,household_address\n" + "".join(
        f"{k},户主{n},厦门市思明区某路{n}号\n" for n, k in enumerate(IDS[:3])
    )
    ingest_file(out["police_clerk"], out["population"], write(tmp_path, "pop.csv", text), url=db_clean)
    return out


def _breach(c: dict[str, Any], **params: Any) -> dict[str, Any]:
    return {**BREACH, "params": {**BREACH["params"], "reference": c["population"], **params}}


def _grant(session: Session, c: dict[str, Any], items: list[str], **kw: Any) -> int:
    at = now()
    g = grants.create_grant(
        session,
        c["reviewer"],
        consumer_org_id=c["civil"].id,
        resource_id=c["population"],
        items=items,
        scenario=kw.pop("scenario", SCENARIO),
        delivery_method=kw.pop("delivery_method", "api"),
        valid_from=at - dt.timedelta(days=1),
        valid_to=at + dt.timedelta(days=30),
        **kw,
    )
    session.commit()
    return g.id


def _client(session: Session, username: str) -> TestClient:
    user = session.scalars(select(User).where(User.username == username)).one()
    raw, _ = tokens.issue_token(session, user, name="rules")
    session.commit()
    return TestClient(create_app(), headers={"Authorization": f"Bearer {raw}"})


def _load(c: dict[str, Any], tmp: Path, url: str, rows: list[str], name: str = "own.csv", **kw: Any) -> Any:
    path = write(tmp, name, OWN_HEADER + "\n" + "\n".join(rows) + "\n")
    return ingest_file(c["civil_clerk"], c["own"], path, url=url, **kw)


def _denials(session: Session, code: str) -> list[AuditEntry]:
    session.rollback()
    stmt = select(AuditEntry).where(
        AuditEntry.action == "data.read", AuditEntry.outcome == "denied", AuditEntry.object_id == code
    )
    out = list(session.scalars(stmt))
    session.rollback()  # SQLite: the test's session must not hold the write lock
    return out


def test_r26_a_completion_from_a_resource_without_grant_is_refused_when_set(
    session: Session, c: dict[str, Any]
) -> None:
    client = _client(session, "civil_clerk")
    # Public security's data is not civil affairs' to read (a direct read of it is refused too).
    assert (
        client.get(f"/api/v1/data/{c['population']}/rows", params={"scenario": SCENARIO}).status_code == 403
    )
    refused = client.put(f"/api/v1/data/{c['own']}/rules", json=[_breach(c)])
    assert refused.status_code == 403, refused.text
    error = refused.json()["error"]
    assert error["code"] == "quality.reference_not_allowed" and error["field"] == "rules[0]"
    assert error["details"]["reason"] == "access.scenario_required"
    assert "参照资源" in error["message"] and "reference" in error["message_en"]
    refused = client.put(f"/api/v1/data/{c['own']}/rules", json=[_breach(c, scenario=SCENARIO)])
    assert refused.status_code == 403 and refused.json()["error"]["details"]["reason"] == "access.no_grant"
    assert client.get(f"/api/v1/data/{c['own']}/rules").json() == []  # nothing stored
    # Every refused attempt is in the audit log, as a refused read of the reference (R26).
    denied = _denials(session, c["population"])
    assert [d.detail["method"] for d in denied].count("completion") == 2
    # A grant for other items (the names, not the addresses) does not cover it either.
    _grant(session, c, ["id_number", "full_name"])
    with pytest.raises(AccessDenied) as caught, session_scope() as s:
        rules.set_rules(s, c["civil_clerk"], c["own"], [_breach(c, scenario=SCENARIO)])
    assert caught.value.details["reason"] == "access.items_not_granted"


def test_r26_a_live_grant_for_the_items_allows_the_completion_and_its_read_is_audited(
    session: Session, db_clean: str, c: dict[str, Any], tmp_path: Path
) -> None:
    grant_id = _grant(session, c, ["id_number", "household_address"], delivery_method="db_table")
    client = _client(session, "civil_clerk")
    # Decided under the grant it names (its scenario and delivery method).
    ok = client.put(f"/api/v1/data/{c['own']}/rules", json=[_breach(c, grant=grant_id)])
    assert ok.status_code == 200, ok.text
    report = _load(c, tmp_path, db_clean, [f"R1,{IDS[0]},,", f"R2,{IDS[1]},,自填地址", "R3,13800000000,,"])
    assert report["status"] == "committed" and report["completed"] == 1
    with read_scope(db_clean) as s:
        got = {r["record_no"]: r["household_address"] for r in store.rows(s, c["own"])}
    assert got == {"R1": "厦门市思明区某路0号", "R2": "自填地址", "R3": None}
    session.rollback()
    [read] = session.scalars(
        select(AuditEntry).where(
            AuditEntry.action == "data.read",
            AuditEntry.object_id == c["population"],
            AuditEntry.outcome == "ok",
        )
    ).all()
    assert read.grant_id == grant_id and read.scenario == SCENARIO
    assert read.detail["method"] == "completion" and read.detail["records"] == 1
    assert read.detail["into"] == c["own"] and read.detail["batch"] == report["id"]
    assert read.subject_keys == [subject_hash(IDS[0])]  # hashed, never in clear
    # The person whose address was read sees civil affairs' read on /my/reads (R26 data tracker).
    person = session.get(Organisation, c["citizen"].org_id)
    assert person is not None
    person.id_number = IDS[0]
    session.commit()
    [seen] = objections.my_reads(session, c["citizen"])
    assert seen.org_zh == "市民政局" and [r.code for r in seen.resources] == [c["population"]]


def test_r26_a_grant_revoked_after_the_rule_was_set_fails_the_load_cleanly(
    session: Session, db_clean: str, c: dict[str, Any], tmp_path: Path
) -> None:
    grant_id = _grant(session, c, ["id_number", "household_address"])
    with session_scope() as s:
        rules.set_rules(s, c["civil_clerk"], c["own"], [_breach(c, scenario=SCENARIO)])
    first = _load(c, tmp_path, db_clean, [f"R1,{IDS[0]},,"])  # a first load (straight into the table)
    assert first["completed"] == 1
    grants.revoke_grant(
        session, c["police_clerk"], grant_id, reason="停止共享", provider_org_id=c["police"].id
    )
    session.commit()
    with read_scope(db_clean) as s:
        before = store.rows(s, c["own"])
    for mode, rows in (("incremental", [f"R2,{IDS[1]},,"]), ("full", [f"R9,{IDS[2]},,"])):
        with pytest.raises(Forbidden) as caught:
            _load(c, tmp_path, db_clean, rows, mode=mode)
        assert caught.value.code == "quality.reference_not_allowed"
        assert caught.value.details["reason"] == "access.grant_revoked"
        with read_scope(db_clean) as s:
            last = batches.of_resource(s, c["own"])[0]
            assert last.status == "failed" and last.error is not None
            assert last.error["code"] == "quality.reference_not_allowed"
            assert last.error["details"]["reason"] == "access.grant_revoked"
            assert store.rows(s, c["own"]) == before  # nothing stored
            assert batches.quarantine_count(s, last.id) == 0
    # Each refused read is audited once (not again by a caller), and nothing was read.
    assert len(_denials(session, c["population"])) == 2
    reads = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "data.read", AuditEntry.outcome == "ok")
    ).all()
    assert [r.detail["batch"] for r in reads if r.object_id == c["population"]] == [first["id"]]
    session.rollback()
    # The check before a load applies the same decision (R13 预检).
    path = write(tmp_path, "check.csv", OWN_HEADER + f"\nR3,{IDS[2]},,\n")
    with pytest.raises(Forbidden) as checked:
        check_file(c["civil_clerk"], c["own"], path, url=db_clean)
    assert checked.value.code == "quality.reference_not_allowed" and checked.value.field == "rules[0]"
    assert len(_denials(session, c["population"])) == 3


def test_r26_a_grant_limited_to_some_records_cannot_serve_a_completion(
    session: Session, c: dict[str, Any]
) -> None:
    _grant(session, c, ["id_number", "household_address"], row_filter={"full_name": ["户主0"]})
    with pytest.raises(AccessDenied) as caught, session_scope() as s:
        rules.set_rules(s, c["civil_clerk"], c["own"], [_breach(c, scenario=SCENARIO)])
    assert caught.value.details["reason"] == "quality.reference_rows_limited"


def test_r13_a_database_error_in_a_completion_keeps_its_sql_out_of_the_batch(
    session: Session, db_clean: str, c: dict[str, Any], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _grant(session, c, ["id_number", "household_address"])
    with session_scope() as s:
        rules.set_rules(s, c["civil_clerk"], c["own"], [_breach(c, scenario=SCENARIO)])
        table = store.get_resource(s, c["population"]).table_name
    # The reference's table vanishes under the platform: the completion's statement fails unexpectedly.
    with get_engine(db_clean).begin() as conn:
        conn.exec_driver_sql(f"ALTER TABLE {table} RENAME TO gone_{table}")
    try:
        with caplog.at_level(logging.ERROR, "gongshu.aggregation.ingest"), pytest.raises(Exception) as caught:
            _load(c, tmp_path, db_clean, [f"R1,{IDS[0]},,"])
    finally:
        with get_engine(db_clean).begin() as conn:
            conn.exec_driver_sql(f"ALTER TABLE gone_{table} RENAME TO {table}")
    assert "SELECT" in str(caught.value) and table in str(caught.value)  # the driver's text: the SQL …
    with read_scope(db_clean) as s:
        last = batches.of_resource(s, c["own"])[0]
        status, error, batch_id = last.status, last.error, last.id
        assert store.rows(s, c["own"]) == []
    assert status == "failed" and error is not None
    assert error["code"] == "ingest.internal_error"
    shown = f"{error['message']} {error['message_en']}"
    assert table not in shown and "SELECT" not in shown.upper()  # … is not in the batch's message
    assert "数据未作任何改变" in error["message"] and "no data was changed" in error["message_en"]
    logged = [r for r in caplog.records if r.exc_info and table in str(r.exc_info[1])]
    assert logged and str(batch_id) in logged[0].getMessage()  # the detail is in the log


def test_r26_a_withdrawn_reference_is_refused_and_fails_a_later_load(
    session: Session, db_clean: str, c: dict[str, Any], tmp_path: Path
) -> None:
    _grant(session, c, ["id_number", "household_address"])
    with session_scope() as s:
        rules.set_rules(s, c["civil_clerk"], c["own"], [_breach(c, scenario=SCENARIO)])
    entry = session.scalars(select(CatalogEntry).where(CatalogEntry.resource_code == c["population"])).one()
    catalog.withdraw(session, c["police_officer"], entry.id, "已由新目录替代")
    session.commit()
    with pytest.raises(Forbidden) as caught:
        _load(c, tmp_path, db_clean, [f"R1,{IDS[0]},,"])
    assert caught.value.details["reason"] == "access.not_published"
    with read_scope(db_clean) as s:
        assert store.rows(s, c["own"]) == []
