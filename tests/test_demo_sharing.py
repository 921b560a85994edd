"""The demo city's sharing (R15–R21, R26): grants of each origin, applications at each step, a sealed
refusal, a dispute, a database-table delivery, a stream, a closed emergency and the province's returned
resources — loaded through the real services — and the consumer's delivery set-up page (R19)."""

from __future__ import annotations

import sqlite3
import time

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.catalog.models import CatalogEntry
from gongshu.demo.load import load_demo
from gongshu.demo.sharing import stream_curl
from gongshu.kernel.access.models import Grant
from gongshu.kernel.crypto.seal import verify_sealed
from gongshu.kernel.identity import service as identity
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import Organisation
from gongshu.kernel.workflow.models import Case
from gongshu.kernel.workflow.steps import active_step
from gongshu.sharing import streams
from gongshu.sharing.delivery_models import DbTarget, Package
from gongshu.sharing.emergency_models import EmergencyEvent
from gongshu.sharing.pages_setup import curl_rows, python_rows


def _client(session: Session, username: str) -> TestClient:
    from gongshu.kernel.identity import sessions
    from gongshu.web.app import create_app

    user = identity.get_user_by_username(session, username)
    raw, _ = sessions.start_session(session, user, ip=None, user_agent="pytest", second_factor_done=True)
    session.commit()
    client = TestClient(create_app())
    client.cookies.set("gs_session", raw)
    return client


def _actor(session: Session, username: str) -> Actor:
    return identity.build_actor(session, identity.get_user_by_username(session, username))


def test_r15_r21_demo_sharing_through_the_real_services(db_clean: str, session: Session) -> None:
    started = time.monotonic()
    report = load_demo(db_clean)
    assert time.monotonic() - started < 60  # `gongshu demo` stays quick
    sharing = report.sharing
    assert sharing is not None
    orgs = {o.id: o.code for o in session.scalars(select(Organisation))}

    # R16 R17 R21: grants of each origin; self-service grants by every delivery method.
    grants = list(session.scalars(select(Grant)))
    by_origin: dict[str, list[Grant]] = {}
    for g in grants:
        by_origin.setdefault(g.origin, []).append(g)
    unconditional = by_origin["unconditional"]
    assert {g.delivery_method for g in unconditional} >= {"api", "stream", "db_table", "file"}
    marriage = next(g for g in unconditional if g.scenario == "婚姻状况核验（户籍业务办理）")
    assert orgs[marriage.consumer_org_id] == "public_security" and marriage.revoked_at is None
    (approved_grant,) = by_origin["sharing_application"]
    assert approved_grant.case_id is not None and approved_grant.revoked_at is None
    assert by_origin["emergency"] and all(g.revoked_at is not None for g in by_origin["emergency"])

    # R17: an application at each step, a sealed refusal, a dispute at the authority's coordination.
    cases = {c.number: c for c in session.scalars(select(Case).where(Case.kind == "sharing_application"))}
    assert len(cases) == 5
    approved = cases[sharing.cases["approved"]]
    assert approved.status == "approved" and approved_grant.case_id == approved.id
    for role in ("provider_review", "authority_review"):
        case = cases[sharing.cases[role]]
        step = active_step(case)
        assert case.status == "in_review" and step is not None and step.name == role
    rejected = cases[sharing.cases["rejected"]]
    assert rejected.status == "rejected" and "不予共享" in (rejected.outcome_reasons or "")
    assert rejected.sealed_decision and verify_sealed(rejected.sealed_decision).valid
    disputed = cases[sharing.cases["disputed"]]
    step = active_step(disputed)
    assert disputed.status == "in_review" and disputed.escalation_level >= 1
    assert step is not None and step.name == "coordination"

    # R19: the database table, registered and synced once into a SQLite file in the folder beside the data folder that stands in for external databases.
    target = session.scalars(select(DbTarget)).one()
    assert target.status == "active" and target.last_sync_at is not None and target.last_receipt
    with sqlite3.connect(sharing.db_file) as conn:
        (rows,) = conn.execute(f"select count(*) from {target.table_name}").fetchone()
    assert rows == target.rows_written
    assert session.scalars(select(Package)).one().grant_id in {g.id for g in unconditional}

    # R19: the stream's consumer may follow it (method "stream", its scenario); the curl line is given.
    stream = session.get(Grant, sharing.stream_grant_id)
    assert stream is not None and stream.delivery_method == "stream"
    hrss = _actor(session, "hrss.data")
    decision = streams.decide_stream(session, hrss, stream.resource_id, stream.scenario)
    assert decision.allowed and decision.grant_id == stream.id
    assert f"/api/v1/data/{stream.resource_id}/stream?scenario=" in sharing.stream_curl
    assert sharing.stream_token in sharing.stream_curl
    # `gongshu demo --url` prints the line for the address the platform serves on (run-demo.sh's PORT).
    assert sharing.stream_scenario == stream.scenario
    elsewhere = stream_curl(
        sharing.stream_code, sharing.stream_scenario, sharing.stream_token, "http://h:8123"
    )
    assert elsewhere == sharing.stream_curl.replace("http://127.0.0.1:8000", "http://h:8123")

    # R21: the closed emergency with its sealed closure report.
    event = session.get(EmergencyEvent, sharing.emergency_event_id)
    assert event is not None and event.status == "closed" and event.treatment == "deidentify"
    assert event.report and verify_sealed(event.report).valid
    assert event.report["document"]["submissions"] == 1

    # R20: the provincial platform's returned resources, published.
    returned = list(
        session.scalars(select(CatalogEntry).where(CatalogEntry.resource_code.in_(sharing.returned)))
    )
    assert len(returned) == 3 and all(e.status == "published" for e in returned)
    assert {orgs[e.provider_org_id] for e in returned} == {"provincial_platform"}

    # R19: the set-up page of the consumers.
    page = _client(session, "public_security.data").get("/sharing/setup")
    assert page.status_code == 200
    assert f'data-grant="{marriage.id}"' in page.text and "/account/tokens" in page.text
    assert f"/api/v1/data/{marriage.resource_id}/rows" in page.text and "import httpx" in page.text
    assert "交付配置" in page.text and "婚姻状况核验（户籍业务办理）" in page.text  # zh-CN first
    page = _client(session, "hrss.data").get("/sharing/setup")
    assert page.status_code == 200 and 'data-testid="setup-stream-curl"' in page.text
    assert "Last-Event-ID" in page.text
    page = _client(session, "medical_insurance.data").get("/sharing/setup")
    assert page.status_code == 200 and 'data-testid="setup-db-target"' in page.text
    page = _client(session, "statistics.data").get("/sharing/setup")
    assert page.status_code == 200 and 'data-testid="setup-file-package"' in page.text
    assert _client(session, "public_security.data").get("/sharing/grants").text.count("/sharing/setup")


def test_r19_setup_examples_are_copy_paste_ready() -> None:
    curl = curl_rows("http://x", "R1", "婚姻状况核验（户籍业务办理）", ["id_number", "person_name"])
    assert "curl -G http://x/api/v1/data/R1/rows" in curl and "$GONGSHU_TOKEN" in curl
    assert "'scenario=婚姻状况核验（户籍业务办理）'" in curl and "items=id_number,person_name" in curl
    code = python_rows("http://x", "R1", "它's “quoted”", ["a"])
    compile(code, "<example>", "exec")  # valid Python, whatever the scenario holds
