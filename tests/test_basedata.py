"""R11 R12: base data coverage (catalogued, aggregated, fresh — 应汇尽汇) and the person / legal-person
base look-ups, for the authority's supervising roles only, audited with the subject key."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from store_fixtures import HEADER, IDS, publish, store_city, write

from gongshu.aggregation import basedata
from gongshu.aggregation.ingest import ingest_file
from gongshu.kernel.access.service import AccessDenied
from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.audit.service import subject_hash
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import Forbidden, ValidationFailed
from gongshu.kernel.identity import sessions
from gongshu.kernel.identity.models import User
from gongshu.web.app import create_app


@pytest.fixture()
def c(session: Session, tmp_path: Path, db_clean: str) -> dict[str, Any]:
    out = store_city(session)
    out["code"] = publish(session, out).resource_code  # 婚姻登记信息, civil affairs (R11)
    out["other"] = publish(session, out, name="收养登记数据", name_en="Adoptions").resource_code
    text = HEADER + "\n" + f"{IDS[0]},张三,2024-01-02,1,10.5,true\n"
    ingest_file(out["civil_clerk"], out["code"], write(tmp_path, "m.csv", text), url=db_clean)
    return out


def _row(rows: list[dict[str, Any]], code: str) -> dict[str, Any]:
    return next(r for r in rows if r["code"] == code)


def test_r11_r12_coverage_lists_every_base_resource(c: dict[str, Any]) -> None:
    with read_scope() as s:
        rows = basedata.coverage(s)
    assert {r["code"] for r in rows} >= {"marriage", "adoption", "enterprise", "public_institution"}
    marriage = _row(rows, "marriage")
    assert marriage["catalogued"] and marriage["aggregated"] and marriage["fresh"]
    assert [p["code"] for p in marriage["providers"]] == ["civil_affairs"]
    assert not _row(rows, "adoption")["catalogued"]
    assert not _row(rows, "enterprise")["catalogued"] and _row(rows, "enterprise")["providers"] == []
    with read_scope() as s:
        later = _row(basedata.coverage(s, at=dt.datetime.now(dt.UTC) + dt.timedelta(days=3)), "marriage")
    assert later["aggregated"] and not later["fresh"]


def test_r11_explicit_mapping_by_the_authority(c: dict[str, Any]) -> None:
    with session_scope() as s, pytest.raises(Forbidden):
        basedata.map_base_data(s, c["civil_clerk"], "adoption", c["other"])
    with session_scope() as s, pytest.raises(ValidationFailed):
        basedata.map_base_data(s, c["reviewer"], "no_such_base", c["other"])
    with session_scope() as s:
        basedata.map_base_data(s, c["reviewer"], "adoption", c["other"])
    with read_scope() as s:
        adoption = _row(basedata.coverage(s), "adoption")
    assert adoption["catalogued"] and not adoption["aggregated"]


def test_r11_person_lookup_is_for_the_authority_and_audited(c: dict[str, Any]) -> None:
    with session_scope() as s:
        found = basedata.look_up(s, c["reviewer"], "person", IDS[0])
    assert [f["entry"].resource_code for f in found] == [c["code"]]
    assert found[0]["rows"][0]["full_name"] == "张三"
    with read_scope() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.object_type == "base_data")).one()
        assert entry.subject_keys == [subject_hash(IDS[0])] and entry.actor_user_id == c["reviewer"].user_id
    with session_scope() as s, pytest.raises(AccessDenied):
        basedata.look_up(s, c["civil_clerk"], "person", IDS[0])
    with session_scope() as s, pytest.raises(ValidationFailed):
        basedata.look_up(s, c["reviewer"], "legal_person", "not-a-uscc")


def test_r11_lookup_reads_full_width_digits_as_a_load_does(c: dict[str, Any]) -> None:
    """R11 R13: an ID number typed with full-width digits (copied from a document) and an ideographic
    space finds the record the load stored, as the load's transforms would have read it."""
    wide = "\u3000" + IDS[0].translate({ord(d): ord(d) + 0xFEE0 for d in "0123456789"}) + " "
    assert wide.strip() != IDS[0]
    with session_scope() as s:
        found = basedata.look_up(s, c["reviewer"], "person", wide)
    assert [f["entry"].resource_code for f in found] == [c["code"]]


def _browser(username: str) -> TestClient:
    with session_scope() as s:
        user = s.scalars(select(User).where(User.username == username)).one()
        raw, ws = sessions.start_session(s, user, ip=None, user_agent="pytest", second_factor_done=True)
        csrf = ws.csrf_token
    client = TestClient(create_app())
    client.cookies.set("gs_session", raw)
    client.headers["X-CSRF-Token"] = csrf  # the look-ups are posted forms (R11: no ID number in the address)
    return client


def test_r11_r12_pages_and_refused_lookup_audited(c: dict[str, Any]) -> None:
    reviewer = _browser("reviewer")
    page = reviewer.get("/data/base")
    assert page.status_code == 200 and 'data-base="marriage" data-catalogued="true"' in page.text
    hit = reviewer.post("/data/base/person", data={"id_number": IDS[0]})
    assert hit.status_code == 200 and "张三" in hit.text
    assert reviewer.get("/data/base/legal").status_code == 200
    clerk = _browser("civil_clerk")
    assert clerk.post("/data/base/person", data={"id_number": IDS[0]}).status_code == 403
    with read_scope() as s:
        denied = s.scalars(select(AuditEntry).where(AuditEntry.outcome == "denied")).one()
        assert denied.object_id == "base:person" and denied.actor_user_id == c["civil_clerk"].user_id


def test_r11_invalid_id_number_is_refused_on_the_lookup_form(c: dict[str, Any]) -> None:
    """R11: a malformed ID number is answered on the look-up page itself (422, in Chinese, the typed
    number kept in the field), not with the error page."""
    reviewer = _browser("reviewer")
    page = reviewer.post("/data/base/person", data={"id_number": "12345"})
    assert page.status_code == 422
    assert "身份证号码应为18位" in page.text and 'value="12345"' in page.text
    assert "请求未能完成" not in page.text
