"""R6: a catalog officer finds the unit's drafts again — "本单位的目录草稿与待审目录" lists drafts, returned
drafts, entries in review and changes under review with where each stands, linked from /catalog — and
deletes a draft never submitted (confirmed, audited, the provider's officers only; a submitted or
published entry cannot be deleted). Keywords typed with any comma are split and trimmed."""

from __future__ import annotations

from typing import Any

import pytest
from catalog_fixtures import city, marriage
from page_fixtures import page_client
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from gongshu.catalog import service
from gongshu.catalog.models import CatalogEntry
from gongshu.catalog.pages import form_to_input
from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.errors import Conflict, Forbidden
from gongshu.kernel.workflow import engine


@pytest.fixture()
def c(session: Session) -> dict[str, Any]:
    out = city(session)
    officer = out["civil_officer"]
    draft = service.create_draft(session, officer, marriage(name="收养登记信息", name_en="Adoption"))
    review = service.create_draft(session, officer, marriage(name="殡葬服务信息"))
    service.submit_for_review(session, officer, review.id)
    returned = service.create_draft(session, officer, marriage(name="社会组织登记信息"))
    case = service.submit_for_review(session, officer, returned.id)
    engine.decide(session, out["reviewer"], case.id, "return", reasons="请补充信息项说明")
    published = service.create_draft(session, officer, marriage())
    case = service.submit_for_review(session, officer, published.id)
    engine.decide(session, out["reviewer"], case.id, "approve")
    session.commit()
    out.update(
        draft=draft.resource_code,
        review=review.resource_code,
        returned=returned.resource_code,
        published=published.resource_code,
    )
    return out


@pytest.mark.parametrize(
    "typed",
    ["婚姻, 社会救助", "婚姻，社会救助", "婚姻、社会救助", " 婚姻 ,, 社会救助 ,婚姻", "婚姻；社会救助"],
)
def test_r6_typed_keywords_are_split_and_trimmed(typed: str) -> None:
    assert form_to_input(FormData([("keywords", typed)])).keywords == ["婚姻", "社会救助"]


def test_r6_the_service_cleans_keywords_given_as_a_list(session: Session, c: dict[str, Any]) -> None:
    entry = service.create_draft(
        session,
        c["civil_officer"],
        marriage(name="低保信息", keywords=[" 婚姻", "", "社会救助、低保", "婚姻"]),
    )
    assert entry.keywords == ["婚姻", "社会救助", "低保"]


def _states(text: str) -> dict[str, str]:
    import re

    return dict(re.findall(r'<tr data-code="([^"]+)" data-state="([^"]+)">', text))


def test_r6_the_officer_finds_the_units_drafts_and_entries_in_review(c: dict[str, Any]) -> None:
    client, _ = page_client("civil_officer")
    catalog = client.get("/catalog").text
    assert 'href="/catalog/mine"' in catalog and "本单位草稿与待审目录" in catalog
    page = client.get("/catalog/mine")
    assert page.status_code == 200 and "本单位的目录草稿与待审目录" in page.text
    states = _states(page.text)
    assert states == {
        c["draft"]: "draft",
        c["returned"]: "returned",
        c["review"]: "in_review",
        c["published"]: "published",
    }
    assert list(states) == [c["draft"], c["returned"], c["review"], c["published"]]  # work first
    for shown in ("草稿", "已退回", "审核中", "已发布"):
        assert shown in page.text
    # Only the draft never submitted offers deletion.
    assert page.text.count('data-testid="mine-delete"') == 1
    assert f'href="/catalog/{c["draft"]}/delete"' in page.text


def test_r6_a_change_under_review_is_listed_as_such(session: Session, c: dict[str, Any]) -> None:
    entry = session.scalars(select(CatalogEntry).where(CatalogEntry.resource_code == c["published"])).one()
    service.propose_change(session, c["civil_officer"], entry.id, marriage(topic="婚姻"), "")
    session.commit()
    client, _ = page_client("civil_officer")
    page = client.get("/catalog/mine").text
    assert _states(page)[c["published"]] == "change_pending" and "有变更待审" in page
    en, _ = page_client("civil_officer", "en")
    assert "Change under review" in en.get("/catalog/mine").text


def test_r6_others_do_not_see_the_units_list(c: dict[str, Any]) -> None:
    police, _ = page_client("police_officer")
    page = police.get("/catalog/mine")
    assert page.status_code == 200 and _states(page.text) == {}
    citizen, _ = page_client("citizen")
    assert citizen.get("/catalog/mine").status_code == 403
    assert 'href="/catalog/mine"' not in citizen.get("/catalog").text


def test_r6_the_officer_deletes_a_draft_never_submitted(session: Session, c: dict[str, Any]) -> None:
    client, csrf = page_client("civil_officer")
    entry_page = client.get(f"/catalog/{c['draft']}").text
    assert 'data-testid="entry-delete"' in entry_page
    confirm = client.get(f"/catalog/{c['draft']}/delete")
    assert confirm.status_code == 200 and 'data-testid="delete-confirm"' in confirm.text
    # Without the confirmation nothing happens.
    unconfirmed = client.post(
        f"/catalog/{c['draft']}/delete", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert unconfirmed.status_code == 303 and unconfirmed.headers["location"].endswith("/delete")
    assert client.get(f"/catalog/{c['draft']}").status_code == 200
    done = client.post(
        f"/catalog/{c['draft']}/delete", data={"csrf_token": csrf, "confirm": "yes"}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"].startswith("/catalog/mine?done=deleted")
    after = client.get(done.headers["location"])
    assert f"草稿 {c['draft']} 已删除" in after.text and c["draft"] not in _states(after.text)
    assert client.get(f"/catalog/{c['draft']}").status_code == 404
    audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "catalog.delete_draft")).all()
    assert [a.object_id for a in audit] == [c["draft"]]


def test_r6_a_submitted_or_published_entry_cannot_be_deleted(session: Session, c: dict[str, Any]) -> None:
    client, csrf = page_client("civil_officer")
    for key in ("review", "returned", "published"):
        code = c[key]
        assert 'data-testid="entry-delete"' not in client.get(f"/catalog/{code}").text
        page = client.get(f"/catalog/{code}/delete")
        assert page.status_code == 200 and 'data-testid="delete-refused"' in page.text
        assert "delete-confirm" not in page.text
        refused = client.post(f"/catalog/{code}/delete", data={"csrf_token": csrf, "confirm": "yes"})
        assert refused.status_code == 409, key
        assert client.get(f"/catalog/{code}").status_code == 200
    entry = session.scalars(select(CatalogEntry).where(CatalogEntry.resource_code == c["review"])).one()
    with pytest.raises(Conflict):
        service.delete_draft(session, c["civil_officer"], entry.id)


def test_r6_only_the_providers_officer_deletes_its_draft(session: Session, c: dict[str, Any]) -> None:
    entry = session.scalars(select(CatalogEntry).where(CatalogEntry.resource_code == c["draft"])).one()
    with pytest.raises(Forbidden):
        service.delete_draft(session, c["police_officer"], entry.id)
    session.rollback()
    police, csrf = page_client("police_officer")
    refused = police.post(f"/catalog/{c['draft']}/delete", data={"csrf_token": csrf, "confirm": "yes"})
    assert refused.status_code == 404  # a draft of another unit is not even seen
    assert session.get(CatalogEntry, entry.id) is not None
