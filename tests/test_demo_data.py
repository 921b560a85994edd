"""The demo city's records (R7 R11 R12 R13): loaded through the real ingestion pipeline into the demo
catalog's base resources — residents with valid ID numbers of the city's districts, enterprises with valid
USCCs, marriage records, a few rows in quarantine, one resource whose only load is old — idempotently."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from store_fixtures import store_city

from gongshu.catalog import service as catalog
from gongshu.demo import data
from gongshu.demo.catalog import entry_input
from gongshu.demo.catalog_data import LEGAL_BASE, PERSON_BASE
from gongshu.kernel.db import read_scope
from gongshu.kernel.identifiers.checks import check_id_number, check_uscc
from gongshu.kernel.timeutil import now
from gongshu.kernel.workflow import engine
from gongshu.quality.recheck import QualityCheck
from gongshu.store import batches
from gongshu.store import service as store

NAMES = (data.POPULATION, data.ENTERPRISES, data.MARRIAGES, data.OVERDUE)


@pytest.fixture()
def codes(session: Session) -> dict[str, str]:
    """The four demo entries the records go into, published through the catalog's review (R6)."""
    c: dict[str, Any] = store_city(session)
    out: dict[str, str] = {}
    for n, d in enumerate(d for d in PERSON_BASE + LEGAL_BASE if d.name in NAMES):
        entry = catalog.create_draft(session, c["civil_officer"], entry_input(d, c["civil"].id, n + 1))
        case = catalog.submit_for_review(session, c["civil_officer"], entry.id)
        engine.decide(session, c["reviewer"], case.id, "approve")
        session.commit()
        out[d.name] = entry.resource_code
    return out


def test_r7_r11_r12_demo_records_load_through_the_pipeline_idempotently(
    db_clean: str, codes: dict[str, str]
) -> None:
    report = data.load_demo_data(db_clean, persons=3000, companies=200)
    assert sorted(report.loaded) == sorted(NAMES) and report.skipped == []
    people = report.loaded[data.POPULATION]
    assert (people["status"], people["received"], people["refused"]) == ("committed", 3000, 2)
    assert report.loaded[data.ENTERPRISES]["accepted"] == 200
    assert report.loaded[data.MARRIAGES]["accepted"] > 100
    with read_scope(db_clean) as s:
        rows = store.rows(s, codes[data.POPULATION], limit=5000)
        firms = store.rows(s, codes[data.ENTERPRISES], limit=500)
        refused = {q.rule for q in batches.quarantine(s, int(people["id"]))}
        overdue = store.get_resource(s, codes[data.OVERDUE]).last_loaded_at
        checked = s.scalar(select(func.count()).select_from(QualityCheck))
    assert len(rows) == 2998 and refused == {"id.check_digit", "type.date"}
    city = {c[0] for c in data.city_residents()}  # the demo's person accounts, keyed by the city's code
    assert city <= {r["id_number"] for r in rows}
    assert all(check_id_number(r["id_number"]).valid for r in rows)
    assert all(r["id_number"][:6] in data.DISTRICTS for r in rows if r["id_number"] not in city)
    assert all(r["person_name"][0] in data.SURNAMES for r in rows)
    assert all(check_uscc(f["uscc"]).valid for f in firms)
    assert overdue is not None and now() - overdue > dt.timedelta(days=data.OVERDUE_DAYS - 1)
    assert checked == 4  # what was loaded was re-checked (R13), so the quality pages have figures
    again = data.load_demo_data(db_clean, persons=3000, companies=200)
    assert again.loaded == {} and sorted(again.skipped) == sorted(NAMES)


def test_r14_demo_person_sees_own_records_and_has_an_objection_waiting(db_clean: str) -> None:
    """The demo's 张三 finds his population record under "my data" and has objected to his address: the
    case waits for public security, with the evidence attached (issue demo: an objection in progress)."""
    from gongshu.demo.load import _objection, load_demo
    from gongshu.kernel.identity.models import User
    from gongshu.kernel.identity.service import build_actor
    from gongshu.kernel.workflow.models import Case
    from gongshu.quality.objections import my_data

    load_demo(db_clean)
    data.load_demo_data(db_clean, persons=2000, companies=100)
    case_id = _objection(db_clean)
    assert case_id is not None
    with read_scope(db_clean) as s:
        user = s.scalar(select(User).where(User.username == "zhangsan"))
        assert user is not None
        mine = my_data(s, build_actor(s, user))
        assert any(d["entry"].name == data.POPULATION and d["rows"][0]["person_name"] == "张三" for d in mine)
        case = s.get(Case, case_id)
        assert case is not None and case.kind == "objection" and case.status == "in_review"
        assert case.payload["field"] == "household_address" and case.payload["claimed_value"]
