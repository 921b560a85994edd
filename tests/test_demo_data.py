"""The demo city's records (R7 R11 R12 R13): loaded through the real ingestion pipeline into the demo
catalog's base resources — residents with valid ID numbers of the city's districts, enterprises with valid
USCCs, marriage records, a few rows in quarantine, one resource whose only load is old — idempotently."""

from __future__ import annotations

import datetime as dt
import os
import threading
from pathlib import Path
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
        company = s.scalar(select(User).where(User.username == "lujiang_tech"))
        assert company is not None  # the demo's companies find their registration too (by USCC)
        theirs = my_data(s, build_actor(s, company))
        assert [(d["entry"].name, d["rows"][0]["enterprise_name"]) for d in theirs] == [
            (data.ENTERPRISES, "厦门鹭江数据科技有限公司")
        ]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _inside(path: Path, folder: Path) -> bool:
    real, parent = Path(os.path.realpath(path)), Path(os.path.realpath(folder))
    return real == parent or parent in real.parents


def test_r7_demo_pulls_a_department_database_beside_the_data_folder_and_serves_an_interface(
    db_clean: str,
) -> None:
    """The demo's stand-in external databases live in `<data folder>-external`, never inside the data
    folder: the real estate registration centre's database, pulled on a schedule (incremental by its
    update time, a committed batch), the medical insurance bureau's delivered table; and the disabled
    persons' federation's API, registered as the service interface of its entry and confirmed by the
    authority — answering the civil affairs bureau's verification through the platform. Idempotent."""
    from gongshu.aggregation import interface
    from gongshu.aggregation.pull_models import PullSource
    from gongshu.demo import department_api, external
    from gongshu.demo.load import load_demo
    from gongshu.kernel.config import get_settings
    from gongshu.kernel.db import session_scope
    from gongshu.kernel.identity import service as identity

    data_dir = get_settings().data_dir
    folder = external.external_dir()
    assert folder.parent == Path(os.path.realpath(data_dir)).parent
    assert folder.name == Path(os.path.realpath(data_dir)).name + "-external"
    db = external.disability_db(external.ensure_external_dir())  # what the API serves (kept if present)
    server = department_api.make_server("127.0.0.1", 0, db)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        report = load_demo(db_clean, department_api=api)
        ext = report.external
        assert ext is not None and ext.folder == str(folder)
        assert report.sharing is not None and _inside(Path(report.sharing.db_file), folder)
        assert not _inside(Path(report.sharing.db_file), data_dir)

        # R7: the scheduled pull: a SQLite file outside the data folder, incremental, one committed batch.
        with read_scope(db_clean) as s:
            (source,) = s.scalars(select(PullSource).where(PullSource.resource_code == ext.pull_code)).all()
            path = Path(str(source.url).removeprefix("sqlite:///"))
            assert path.is_file() and _inside(path, folder) and not _inside(path, data_dir)
            assert (source.mode, source.watermark_column, source.every_minutes) == (
                "incremental",
                "updated_at",
                60,
            )
            assert source.last_status == "committed" and source.last_watermark and source.enabled
            batch = batches.get(s, source.last_batch_id or 0)
            assert (batch.status, batch.source, batch.accepted, batch.refused) == (
                "committed",
                "pull",
                external.PROPERTIES,
                0,
            )
            rows = store.rows(s, ext.pull_code, limit=5)
            assert len(rows) == 5 and all(check_id_number(r["id_number"]).valid for r in rows)
            pulled = len(batches.of_resource(s, ext.pull_code))

            # R7: the interface: registered by the federation's data officer, confirmed by the authority.
            row = interface.get_interface(s, ext.interface_code)
            assert row is not None and row.enabled and row.confirmed_at is not None
            assert (
                row.base_url == api and row.legal_basis and set(row.params) == {"id_number", "certificate_no"}
            )
            assert identity.get_user(s, row.registered_by_user_id or 0).username == "disabled_federation.data"
            assert identity.get_user(s, row.confirmed_by_user_id or 0).username == "authority.reviewer"
            confirmed_at = row.confirmed_at
        assert ext.interface_token and f"id_number={ext.example_id_number}" in ext.interface_curl(api)

        # The civil affairs bureau verifies an applicant through the platform with its approved grant.
        with session_scope(db_clean) as s:
            caller = identity.build_actor(s, identity.get_user_by_username(s, "civil_affairs.data"))
            found, decision = interface.call_interface(
                s, caller, ext.interface_code, {"id_number": ext.example_id_number}, ext.interface_scenario
            )
        assert decision.grant_id is not None and len(found) == 1
        assert found[0]["id_number"] == ext.example_id_number
        assert found[0]["certificate_no"].startswith(ext.example_id_number)
        assert set(found[0]) == set(decision.items) and "issued_on" not in found[0]  # the granted items only

        again = load_demo(db_clean, department_api=api).external
        with read_scope(db_clean) as s:
            assert s.scalar(select(func.count()).select_from(PullSource)) == 1
            assert len(batches.of_resource(s, ext.pull_code)) == pulled
            row = interface.get_interface(s, ext.interface_code)
            assert row is not None and row.confirmed_at == confirmed_at
        assert again.pull_batch_id == ext.pull_batch_id and again.interface_token == ""
    finally:
        server.shutdown()
        server.server_close()
    # At another address (run-demo.sh on another port) the interface is registered and confirmed anew.
    load_demo(db_clean, department_api="http://127.0.0.1:9")
    with read_scope(db_clean) as s:
        row = interface.get_interface(s, ext.interface_code)
        assert row is not None and row.base_url == "http://127.0.0.1:9" and row.enabled


def test_r7_department_api_answers_queries_from_its_sqlite_file(tmp_path: Path) -> None:
    """`python -m gongshu.demo.department_api` serves a SQLite file: the rows matching every parameter
    given, JSON `{"rows": [...]}`; no parameter, an unknown one or an unknown table are refused."""
    import sqlite3
    import subprocess
    import sys
    import time

    import httpx

    db = tmp_path / "dept.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE certificate (id_number TEXT, person_name TEXT, grade TEXT)")
        conn.executemany(
            "INSERT INTO certificate VALUES (?, ?, ?)",
            [("350203198001010011", "陈明", "一级"), ("350203198001010011", "陈明", "二级"),
             ("350206199002020022", "林芳", "三级")],
        )  # fmt: skip
    conn.close()
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gongshu.demo.department_api", "--port", str(port), "--db", str(db)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(base + "/", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert httpx.get(base + "/").json() == {
            "tables": {"certificate": ["id_number", "person_name", "grade"]}
        }
        one = httpx.get(base + "/certificate", params={"id_number": "350203198001010011"})
        assert one.status_code == 200 and [r["grade"] for r in one.json()["rows"]] == ["一级", "二级"]
        both = httpx.get(base + "/certificate", params={"id_number": "350203198001010011", "grade": "二级"})
        assert both.json() == {
            "rows": [{"id_number": "350203198001010011", "person_name": "陈明", "grade": "二级"}]
        }
        assert httpx.get(base + "/certificate", params={"id_number": "x"}).json() == {"rows": []}
        assert httpx.get(base + "/certificate").status_code == 400
        assert httpx.get(base + "/certificate", params={"phone": "1"}).status_code == 400
        assert httpx.get(base + "/nothing", params={"id_number": "1"}).status_code == 404
    finally:
        proc.terminate()
        proc.wait(timeout=10)
