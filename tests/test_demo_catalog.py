"""The demo catalog (R6 R9 R11 R12 R15 R22): loaded through the real services with the demo city."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gongshu.catalog import service
from gongshu.catalog.models import CatalogEntry, CatalogSearchDoc
from gongshu.catalog.pages_review import item_changes
from gongshu.demo.catalog import entry_input
from gongshu.demo.catalog_data import ALL_ENTRIES
from gongshu.demo.load import load_demo
from gongshu.kernel.identity import service as identity
from gongshu.kernel.identity.models import Organisation
from gongshu.kernel.policy import service as policy
from gongshu.kernel.workflow import inbox
from gongshu.kernel.workflow.models import Case
from gongshu.kernel.workflow.sla import sla_state
from gongshu.kernel.workflow.steps import active_step


def _client(session: Session, username: str) -> TestClient:
    from gongshu.kernel.identity import sessions
    from gongshu.web.app import create_app

    user = identity.get_user_by_username(session, username)
    raw, _ = sessions.start_session(session, user, ip=None, user_agent="pytest", second_factor_done=True)
    session.commit()
    client = TestClient(create_app())
    client.cookies.set("gs_session", raw)
    return client


def test_r6_r11_r12_demo_catalog_through_the_real_services(db_clean: str, session: Session) -> None:
    started = time.monotonic()
    report = load_demo(db_clean)
    assert report.created and report.catalog_entries >= 100
    assert time.monotonic() - started < 60  # `gongshu demo` stays quick

    entries = list(session.scalars(select(CatalogEntry)))
    assert len(entries) >= 100
    assert {e.catalog_kind for e in entries} == {"government", "public_service"}
    orgs = {o.id: o for o in session.scalars(select(Organisation))}
    public_service = [e for e in entries if e.catalog_kind == "public_service"]
    assert public_service and all(
        orgs[e.provider_org_id].kind == "public_service_org" for e in public_service
    )
    published = [e for e in entries if e.status == "published"]
    assert len(published) >= 90

    # R11 R12: every base resource by each of its responsible providers, keyed as R10 requires.
    doc = policy.at(session).doc
    for subject, resources in doc.base_data.items():
        key_type = "id_number" if subject == "person" else "uscc"
        for res in resources:
            for provider in res.providers:
                found = [
                    e for e in published if res.zh in e.name and orgs[e.provider_org_id].code == provider
                ]
                assert found, f"{res.code} by {provider}"
                assert any(it.is_key and it.data_type == key_type for it in found[0].items), res.code
                assert len(found[0].items) >= 5, res.code

    # R15 R18 R22: every sharing and open attribute; not-shared entries name their law.
    pol = policy.at(session)
    assert {e.sharing_attribute for e in published} == set(pol.keys("sharing_attributes"))
    assert {e.open_attribute for e in published} == set(pol.keys("open_attributes"))
    assert {e.update_cycle for e in entries} == set(pol.keys("update_cycles"))
    assert {e.grade for e in entries} == set(pol.keys("grades"))
    shares = [e.sharing_attribute for e in published]
    assert shares.count("unconditional") > len(shares) / 2  # R15: unconditional dominates
    assert all("《" in e.legal_basis for e in published if e.sharing_attribute == "not_shared")
    assert all(e.sharing_conditions for e in published if e.sharing_attribute == "conditional")
    assert all(e.open_conditions for e in published if e.open_attribute == "on_application")
    assert all(e.not_open_reason for e in published if e.open_attribute == "not_open")

    # Work in progress: drafts, entries under review, a change under review, one returned, one withdrawn.
    statuses = [e.status for e in entries]
    assert statuses.count("draft") >= 3 and statuses.count("in_review") >= 3
    assert statuses.count("withdrawn") == 1
    assert sum(1 for e in entries if e.pending_case_id is not None) == 1
    cases = list(session.scalars(select(Case)))
    assert any(
        c.kind == "catalog_publication" and c.status == "returned" and c.outcome_reasons for c in cases
    )
    assert max(e.current_version for e in entries) >= 2
    assert session.scalar(select(func.count()).select_from(CatalogSearchDoc)) == len(published)

    reviewer = identity.build_actor(session, identity.get_user_by_username(session, "authority.reviewer"))
    waiting = inbox.inbox(session, reviewer)
    assert waiting
    assert {"catalog_publication", "catalog_change"} <= {i.case.kind for i in waiting}
    assert "overdue" in {i.sla for i in waiting}

    transfers = [c for c in cases if c.kind == "duty_transfer"]
    if transfers:  # R9: one in progress on time, one overdue
        states = {sla_state(session, step) for c in transfers if (step := active_step(c)) is not None}
        assert {"on_time", "overdue"} <= states

    # The demo is loaded once: a second run changes nothing.
    session.rollback()
    again = load_demo(db_clean)
    assert not again.created and again.catalog_entries == 0
    assert session.scalar(select(func.count()).select_from(CatalogEntry)) == len(entries)


def test_r9_review_queue_and_version_differences_pages(db_clean: str, session: Session) -> None:
    from gongshu.web.app import create_app

    load_demo(db_clean)
    anonymous = TestClient(create_app()).get("/catalog/review", follow_redirects=False)
    assert anonymous.status_code in (302, 303, 401)
    client = _client(session, "authority.reviewer")
    queue = client.get("/catalog/review")
    assert queue.status_code == 200
    assert (
        "目录审核" in queue.text and "政府定价目录信息" in queue.text and 'data-sla="overdue"' in queue.text
    )
    assert "经营异常名录信息" in queue.text  # the change under review
    assert 'data-testid="nav-catalog-review"' in queue.text

    code = session.scalars(
        select(CatalogEntry.resource_code).where(CatalogEntry.name == "婚姻登记统计信息")
    ).one()
    page = client.get(f"/catalog/{code}/versions", params={"from": 1, "to": 2})
    assert page.status_code == 200
    assert 'data-item="data_updated_at" data-change="added"' in page.text
    assert 'data-field="summary"' in page.text
    same = client.get(f"/catalog/{code}/versions", params={"from": 2, "to": 2})
    assert 'data-testid="no-differences"' in same.text

    other = _client(session, "civil_affairs.reviewer")  # a reviewer, but not of the authority
    assert other.get("/catalog/review").status_code == 403
    assert 'data-testid="nav-catalog-review"' not in other.get("/inbox").text


def test_r9_item_changes_are_added_removed_or_changed() -> None:
    before = [{"name": "a", "label_zh": "甲", "data_type": "string"}, {"name": "b", "label_zh": "乙"}]
    after = [{"name": "a", "label_zh": "甲", "data_type": "date"}, {"name": "c", "label_zh": "丙"}]
    changes = {c.name: c for c in item_changes(before, after)}
    assert changes["a"].change == "changed" and changes["a"].fields == (("data_type", "string", "date"),)
    assert changes["b"].change == "removed" and changes["c"].change == "added"
    assert item_changes(before, before) == []


def test_r6_every_demo_definition_meets_the_compilation_specification(session: Session) -> None:
    from gongshu.catalog.validation import validate_entry

    pol = policy.at(session)
    names = [d.name for d in ALL_ENTRIES]
    assert len(names) == len(set(names))
    seq: dict[str, int] = {}
    for d in ALL_ENTRIES:
        seq[d.provider] = seq.get(d.provider, 0) + 1
        assert validate_entry(pol, entry_input(d, 1, seq[d.provider])) == [], d.name
    assert service.FIELDS  # the snapshot fields the loader's change proposals rely on


def test_r28_every_demo_item_has_an_english_label() -> None:
    """The English pages name the demo's items in English, not by their Chinese label or code name."""
    from gongshu.demo.catalog import english_label
    from gongshu.demo.sharing import EVENT_ITEMS

    assert english_label("household_address") == "Household address"
    assert english_label("employer_uscc") == "Employer USCC"
    assert english_label("pm25") == "PM2.5"
    for d in ALL_ENTRIES:
        for item in entry_input(d, 1, 1).items:
            assert item.label_en and item.label_en.isascii() and "_" not in item.label_en, (d.name, item)
    assert all(i.get("label_en") for i in EVENT_ITEMS)


def test_r17_demo_organisation_conditions_name_real_organisations() -> None:
    """An organisations condition (R17) is checked against the applicant's name: the demo's must list the
    city's organisations by name, so that a listed department's application passes the check."""
    from gongshu.demo.catalog_data import SHARING_CONDITIONS
    from gongshu.demo.city import ALL_ORGS

    names = {o.name_zh for o in ALL_ORGS}
    listed = [
        v for kind, text in SHARING_CONDITIONS["orgs"] if kind == "organisations" for v in text.split("、")
    ]
    assert listed and set(listed) <= names and "厦门市公安局" in listed
