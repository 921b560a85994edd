"""R28 workflow: a case carries an English title beside its Chinese one; English pages, the workflow API
and the English text of notifications show it (the Chinese title when a case has none)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from catalog_fixtures import city, marriage
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.catalog import service
from gongshu.kernel import db, migrate
from gongshu.kernel.identity import service as identity
from gongshu.kernel.identity import sessions, tokens
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.workflow import engine
from gongshu.kernel.workflow.models import Case, Notification
from gongshu.web.app import create_app
from gongshu.web.deps import SESSION_COOKIE

ZH = "目录发布：婚姻登记信息"
EN = "Catalog publication: Marriage registration"


@pytest.fixture()
def c(session: Session) -> dict[str, Any]:
    return city(session)


def _submitted(session: Session, c: dict[str, Any], **overrides: Any) -> Case:
    entry = service.create_draft(session, c["civil_officer"], marriage(**overrides))
    case = service.submit_for_review(session, c["civil_officer"], entry.id)
    session.commit()
    return case


def _browser(session: Session, actor: Actor, lang: str) -> TestClient:
    user = identity.get_user(session, actor.user_id)  # type: ignore[arg-type]
    raw, _ = sessions.start_session(session, user, ip=None, user_agent="pytest", second_factor_done=True)
    session.commit()
    client = TestClient(create_app())
    client.cookies.set(SESSION_COOKIE, raw)
    client.cookies.set("gs_lang", lang)
    return client


def _api(session: Session, actor: Actor, lang: str = "zh") -> TestClient:
    user = identity.get_user(session, actor.user_id)  # type: ignore[arg-type]
    raw, _ = tokens.issue_token(session, user, name="r28 titles")
    session.commit()
    client = TestClient(create_app(), headers={"Authorization": f"Bearer {raw}"})
    client.cookies.set("gs_lang", lang)
    return client


def _h1(html: str) -> str:
    return html.split('data-testid="case-title">', 1)[1].split("</h1>", 1)[0]


# --- the case -----------------------------------------------------------------------------------------


def test_r28_r6_catalog_submission_opens_a_case_with_an_english_title(
    session: Session, c: dict[str, Any]
) -> None:
    case = _submitted(session, c)
    assert (case.title, case.title_en) == (ZH, EN)
    assert (case.title_in("zh"), case.title_in("en")) == (ZH, EN)


def test_r28_r6_an_entry_without_an_english_name_gives_its_chinese_name(
    session: Session, c: dict[str, Any]
) -> None:
    case = _submitted(session, c, name_en="")
    assert case.title_en == "Catalog publication: 婚姻登记信息"


def test_r28_submit_keeps_the_english_title_optional_and_cuts_it_to_the_title_length(
    session: Session, c: dict[str, Any]
) -> None:
    officer = c["civil_officer"]
    bare = engine.submit(session, officer, "catalog_publication", title="公交线路目录", title_en="  ")
    assert bare.title_en is None and bare.title_in("en") == "公交线路目录"
    long = engine.submit(session, officer, "catalog_publication", title="停车场目录", title_en="x" * 400)
    assert long.title_en == "x" * engine.TITLE_MAX


def test_r28_english_notifications_carry_the_english_title(session: Session, c: dict[str, Any]) -> None:
    case = _submitted(session, c)
    notes = session.scalars(select(Notification).where(Notification.case_id == case.id)).all()
    assert notes, "the reviewer is told of the new case"
    assert all(EN in n.message_en and ZH not in n.message_en and ZH in n.message_zh for n in notes)


# --- pages ----------------------------------------------------------------------------------------------


def test_r28_case_page_inbox_and_review_queue_show_the_title_in_the_page_language(
    session: Session, c: dict[str, Any]
) -> None:
    case = _submitted(session, c)
    english = _browser(session, c["reviewer"], "en")
    page = english.get(f"/cases/{case.id}")
    assert page.status_code == 200 and _h1(page.text) == EN and ZH not in page.text
    inbox = english.get("/inbox")
    assert inbox.status_code == 200 and EN in inbox.text and ZH not in inbox.text
    queue = english.get("/catalog/review")
    assert queue.status_code == 200 and ">Marriage registration</a>" in queue.text

    chinese = _browser(session, c["reviewer"], "zh")
    page = chinese.get(f"/cases/{case.id}")
    assert page.status_code == 200 and _h1(page.text) == ZH and EN not in page.text
    inbox = chinese.get("/inbox")
    assert ZH in inbox.text and EN not in inbox.text
    assert ">婚姻登记信息</a>" in chinese.get("/catalog/review").text


def test_r28_my_cases_page_in_english_shows_the_english_title(session: Session, c: dict[str, Any]) -> None:
    _submitted(session, c)
    mine = _browser(session, c["civil_officer"], "en").get("/cases")
    assert mine.status_code == 200 and EN in mine.text and ZH not in mine.text


def test_r28_a_case_without_an_english_title_shows_its_chinese_one_on_english_pages(
    session: Session, c: dict[str, Any]
) -> None:
    case = engine.submit(session, c["civil_officer"], "catalog_publication", title="公交线路目录")
    session.commit()
    english = _browser(session, c["reviewer"], "en")
    assert _h1(english.get(f"/cases/{case.id}").text) == "公交线路目录"
    assert "公交线路目录" in english.get("/inbox").text


# --- the API ------------------------------------------------------------------------------------------


def test_r28_workflow_api_returns_title_en_beside_title(session: Session, c: dict[str, Any]) -> None:
    case = _submitted(session, c)
    reviewer = _api(session, c["reviewer"], "en")
    one = reviewer.get(f"/api/v1/cases/{case.id}").json()
    assert (one["title"], one["title_en"]) == (ZH, EN)
    [item] = reviewer.get("/api/v1/inbox").json()
    assert (item["title"], item["title_en"]) == (ZH, EN)
    [mine] = _api(session, c["civil_officer"]).get("/api/v1/cases").json()
    assert (mine["title"], mine["title_en"]) == (ZH, EN)

    old = engine.submit(session, c["civil_officer"], "catalog_publication", title="公交线路目录")
    session.commit()
    assert reviewer.get(f"/api/v1/cases/{old.id}").json()["title_en"] is None


# --- the migration ------------------------------------------------------------------------------------

BEFORE = "8a5c7fe92e5c"
REVISION = "8b6c3181a919"


def _legacy_case(url: str) -> None:
    """A case with a step, as a database before the migration holds it."""
    at = dt.datetime(2026, 6, 3, 1, 0)
    with db.get_engine(url).begin() as conn:
        meta = sa.MetaData()
        meta.reflect(conn, only=["organisation", "policy_version", "wf_case", "wf_step"])
        t = meta.tables
        conn.execute(
            t["organisation"]
            .insert()
            .values(
                id=1, code="authority", name_zh="局", name_en="", kind="authority", active=True, created_at=at
            )
        )
        conn.execute(
            t["policy_version"]
            .insert()
            .values(
                id="p1",
                title_zh="办法",
                title_en="Measures",
                effective_from=dt.date(2023, 1, 1),
                content={},
                digest="0" * 64,
                loaded_at=at,
            )
        )
        conn.execute(
            t["wf_case"].insert().values(
                id=1, number="ML-2026-000001", kind="catalog_publication", policy_version_id="p1",
                status="in_review", title="目录发布：旧目录", applicant_org_id=1, subject_type="", subject_id="",
                parties={}, payload={}, submitted_at=at, escalation_level=0, updated_at=at,
            )
        )  # fmt: skip
        conn.execute(
            t["wf_step"].insert().values(
                id=1, case_id=1, seq=1, name="authority_review", assignee_org_id=1, assignee_role="reviewer",
                state="active", due_provisional=False,
            )
        )  # fmt: skip


def _columns(url: str) -> set[str]:
    with db.get_engine(url).connect() as conn:
        return {col["name"] for col in sa.inspect(conn).get_columns("wf_case")}


def _counts(url: str) -> tuple[int, int]:
    with db.get_engine(url).connect() as conn:
        cases = conn.execute(sa.text("SELECT count(*) FROM wf_case")).scalar_one()
        steps = conn.execute(sa.text("SELECT count(*) FROM wf_step")).scalar_one()
        return cases, steps


def test_r28_migration_adds_title_en_and_downgrades_without_losing_cases(fresh_db: str) -> None:
    migrate.upgrade(fresh_db, BEFORE)
    _legacy_case(fresh_db)
    migrate.upgrade(fresh_db, REVISION)
    assert "title_en" in _columns(fresh_db)
    with db.get_engine(fresh_db).begin() as conn:
        assert conn.execute(sa.text("SELECT title_en FROM wf_case")).scalar_one() is None  # old cases: none
        conn.execute(sa.text("UPDATE wf_case SET title_en = 'Catalog publication: old entry'"))
    migrate.upgrade(fresh_db)  # heads: nothing left to do
    from alembic import command

    command.downgrade(migrate.alembic_config(fresh_db), BEFORE)
    assert "title_en" not in _columns(fresh_db)
    assert _counts(fresh_db) == (1, 1)  # the case and its step survive (no table rebuild on SQLite)
    migrate.upgrade(fresh_db)
    assert "title_en" in _columns(fresh_db) and _counts(fresh_db) == (1, 1)
