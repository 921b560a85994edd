"""R9 R28: a change proposed to a published entry is shown, on the entry page and on the versions page,
by the one renderer of the catalog's differences — field labels and values in the page language, items
added, removed or changed by their labels — never as raw Python; no change nobody made (the resource
code, a keyword's leading space) shows, and approving a change never touches the resource code."""

from __future__ import annotations

import re
from typing import Any

import pytest
from catalog_fixtures import city, marriage
from page_fixtures import page_client
from sqlalchemy.orm import Session

from gongshu.catalog import service
from gongshu.catalog.models import CatalogEntry
from gongshu.kernel.workflow import engine


@pytest.fixture()
def c(session: Session) -> dict[str, Any]:
    out = city(session)
    entry = service.create_draft(session, out["civil_officer"], marriage())
    case = service.submit_for_review(session, out["civil_officer"], entry.id)
    engine.decide(session, out["reviewer"], case.id, "approve")
    session.commit()
    out["code"], out["id"] = entry.resource_code, entry.id
    return out


def _change_form(csrf: str) -> dict[str, str]:
    """The editor's form for the marriage entry as the officer leaves it: sharing made unconditional, the
    keywords typed with a comma and a space, one item added."""
    return {
        "csrf_token": csrf,
        "catalog_kind": "government",
        "category_code": "A01-02-03-04",
        "name": "婚姻登记信息",
        "name_en": "Marriage registration",
        "summary": "本市办理的结婚、离婚登记记录。",
        "format": "csv",
        "topic": "民政",
        "keywords": "婚姻, 登记, 社会救助",
        "update_cycle": "daily",
        "grade": "important",
        "subject_kind": "person",
        "items-0-name": "id_number",
        "items-0-label_zh": "身份证号码",
        "items-0-label_en": "ID number",
        "items-0-data_type": "id_number",
        "items-0-length": "18",
        "items-0-is_key": "on",
        "items-0-sensitivity": "personal",
        "items-1-name": "registered_on",
        "items-1-label_zh": "登记日期",
        "items-1-label_en": "Registration date",
        "items-1-data_type": "date",
        "items-1-sensitivity": "public",
        "items-2-name": "spouse_name",
        "items-2-label_zh": "配偶姓名",
        "items-2-label_en": "Spouse's name",
        "items-2-data_type": "string",
        "items-2-sensitivity": "personal",
        "items-3-name": "",
        "items-3-data_type": "string",
        "sharing_attribute": "unconditional",
        "sharing_methods": "api",
        "open_attribute": "on_application",
        "open_conditions-0-kind": "usage_feedback",
        "open_conditions-0-value": "注明数据来源",
        "reasons": "",
    }


def _pending(text: str) -> str:
    found = re.search(r'data-testid="pending-changes">(.*?)</section>', text, re.S)
    assert found, "the change under review is not shown"
    return found.group(1)


def test_r9_a_proposed_change_is_shown_with_labels_not_raw_values(c: dict[str, Any]) -> None:
    client, csrf = page_client("civil_officer")
    done = client.post(f"/catalog/{c['code']}/edit", data=_change_form(csrf), follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].endswith("done=change_proposed")

    zh = _pending(client.get(f"/catalog/{c['code']}").text)
    assert 'data-field="sharing_attribute"' in zh and "共享属性" in zh
    assert "有条件共享" in zh and "无条件共享" in zh  # the policy's labels, not "conditional"
    assert 'data-field="keywords"' in zh and "婚姻、登记、社会救助" in zh
    assert 'data-item="spouse_name" data-change="added"' in zh and "配偶姓名" in zh and "新增" in zh
    # Nothing raw, nothing nobody changed.
    for raw in ("[", "{", "' ", "None", "resource_code", "provider_org_id", "conditional →", "items"):
        assert raw not in re.sub(r'data-[a-z-]+="[^"]*"', "", zh), raw
    assert 'data-field="name"' not in zh and 'data-field="summary"' not in zh

    en_client, _ = page_client("civil_officer", "en")
    en = _pending(en_client.get(f"/catalog/{c['code']}").text)
    assert "Sharing attribute" in en and "Unconditional" in en and "Spouse&#39;s name" in en
    assert "共享属性" not in en and "配偶姓名" not in en


def test_r9_the_proposal_keeps_clean_keywords_and_approval_keeps_the_resource_code(
    session: Session, c: dict[str, Any]
) -> None:
    client, csrf = page_client("civil_officer", session=session)
    client.post(f"/catalog/{c['code']}/edit", data=_change_form(csrf), follow_redirects=False)
    session.expire_all()
    entry = session.get(CatalogEntry, c["id"])
    assert entry is not None and entry.pending is not None
    assert entry.pending["keywords"] == ["婚姻", "登记", "社会救助"]
    case_id = entry.pending_case_id
    assert case_id is not None
    engine.decide(session, c["reviewer"], case_id, "approve")
    session.commit()
    session.expire_all()
    entry = session.get(CatalogEntry, c["id"])
    assert entry is not None
    assert entry.resource_code == c["code"] and entry.current_version == 2
    assert entry.keywords == ["婚姻", "登记", "社会救助"] and entry.sharing_attribute == "unconditional"
    assert [it.name for it in entry.items] == ["id_number", "registered_on", "spouse_name"]
    assert entry.pending is None and entry.provider_org_id == c["civil"].id


def test_r9_an_approved_pending_proposal_without_code_or_provider_keeps_both(
    session: Session, c: dict[str, Any]
) -> None:
    """A proposal stored without the resource code and the provider (as the entry's `pending` holds it)
    is approved: the entry keeps both."""
    case = service.propose_change(
        session, c["civil_officer"], c["id"], marriage(keywords=["婚姻", " 社会救助", "", "婚姻"]), ""
    )
    entry = session.get(CatalogEntry, c["id"])
    assert entry is not None and entry.pending is not None
    assert "resource_code" not in entry.pending and entry.pending["keywords"] == ["婚姻", "社会救助"]
    entry.pending = {k: v for k, v in entry.pending.items() if k != "provider_org_id"}
    session.commit()
    engine.decide(session, c["reviewer"], case.id, "approve")
    session.commit()
    session.expire_all()
    entry = session.get(CatalogEntry, c["id"])
    assert entry is not None and entry.resource_code == c["code"] and entry.provider_org_id == c["civil"].id
    assert entry.keywords == ["婚姻", "社会救助"]


def test_r9_the_versions_page_shows_differences_by_the_same_labels(
    session: Session, c: dict[str, Any]
) -> None:
    client, csrf = page_client("civil_officer", session=session)
    client.post(f"/catalog/{c['code']}/edit", data=_change_form(csrf), follow_redirects=False)
    session.expire_all()
    entry = session.get(CatalogEntry, c["id"])
    assert entry is not None and entry.pending_case_id is not None
    engine.decide(session, c["reviewer"], entry.pending_case_id, "approve")
    session.commit()
    page = client.get(f"/catalog/{c['code']}/versions", params={"from": 1, "to": 2}).text
    assert '<tr class="diff-changed" data-field="sharing_attribute"><th scope="row">共享属性</th>' in page
    assert "无条件共享" in page and '<code class="small">sharing_attribute</code>' not in page
    assert 'data-item="spouse_name" data-change="added"' in page and "配偶姓名" in page
    en_client, _ = page_client("civil_officer", "en")
    en = en_client.get(f"/catalog/{c['code']}/versions", params={"from": 1, "to": 2}).text
    assert "Versions of Marriage registration" in en and "Unconditional" in en
    assert "婚姻登记信息的历史版本" not in en


def test_r28_the_provider_is_not_offered_to_apply_for_its_own_data(c: dict[str, Any]) -> None:
    own, _ = page_client("civil_officer")
    assert 'data-testid="sharing-apply"' not in own.get(f"/catalog/{c['code']}").text
    other, _ = page_client("police_clerk")
    assert 'data-testid="sharing-apply"' in other.get(f"/catalog/{c['code']}").text


def test_r28_the_editor_and_the_dispute_form_name_the_entry_in_english(c: dict[str, Any]) -> None:
    en, _ = page_client("civil_officer", "en")
    edit = en.get(f"/catalog/{c['code']}/edit").text
    assert re.search(r"<h1>Marriage registration <code", edit)
    reviewer, _ = page_client("reviewer", "en")
    dispute = reviewer.get(f"/catalog/{c['code']}/dispute")
    assert dispute.status_code == 200
    assert "Marriage registration" in dispute.text and "婚姻登记信息" not in dispute.text
