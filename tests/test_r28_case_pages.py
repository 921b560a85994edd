"""R28 and the articles of each kind, after the demo walk of the generic case page: the decision form chooses
nothing in advance and a refused form comes back as filled in (R17); a form's address opened by GET leads
back to the case; the reasons hint fits the case's kind (R6, R9, R17) and the dispute chain's step (R15,
R17); the history and the badge name the step reached; a person reads their own wording; each action gets
its precise feedback; the case names and links what it is about; decimals are shown plain."""

from __future__ import annotations

import html
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from catalog_fixtures import city, marriage
from page_fixtures import page_client
from sqlalchemy.orm import Session
from store_fixtures import objection_city, publish
from test_workflow import World, build_world, sharing_application

from gongshu.catalog import service as catalog
from gongshu.kernel.workflow import engine
from gongshu.kernel.workflow.models import Case
from gongshu.web.pages.cases import plain_value

PDF = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00This program cannot be run in DOS mode"


@pytest.fixture()
def world(session: Session) -> World:
    return build_world(session)


def _one(pattern: str, text: str) -> str:
    m = re.search(pattern, text, flags=re.S)
    assert m is not None, pattern
    return html.unescape(m.group(1)).strip()


def _checked(page: str) -> list[str]:
    """The decisions whose radio button is checked on the page."""
    return re.findall(r'<input type="radio" name="decision" value="(\w+)"[^>]* checked', page)


def _reasons(page: str) -> str:
    return _one(r'<textarea id="reasons"[^>]*>(.*?)</textarea>', page)


def _state(session: Session, case_id: int) -> tuple[str, list[str | None]]:
    session.expire_all()
    case = session.get(Case, case_id)
    assert case is not None
    out = case.status, [s.decision for s in case.steps]
    session.commit()
    return out


def test_r17_the_decision_form_chooses_nothing_in_advance_and_keeps_a_refused_form(
    session: Session, world: World
) -> None:
    case_id = sharing_application(session, world).id
    client, csrf = page_client("health.reviewer", session=session)
    page = client.get(f"/cases/{case_id}").text
    assert 'data-testid="decision-form"' in page and _checked(page) == []  # nothing pre-selected

    # 退回补正 with empty reasons: refused; the form comes back with 退回补正 still chosen (not 通过).
    refused = client.post(
        f"/cases/{case_id}/decision", data={"csrf_token": csrf, "decision": "return", "reasons": " "}
    )
    assert refused.status_code == 422 and "workflow.reasons_required" in refused.text
    assert _checked(refused.text) == ["return"]

    # No decision chosen: refused with a precise message, the typed reasons kept.
    unchosen = client.post(
        f"/cases/{case_id}/decision", data={"csrf_token": csrf, "reasons": "材料不全，请补正"}
    )
    assert unchosen.status_code == 422 and "workflow.decision_required" in unchosen.text
    assert "请选择办理决定" in _one(r'data-testid="error-message">([^<]*)<', unchosen.text)
    assert _checked(unchosen.text) == [] and _reasons(unchosen.text) == "材料不全，请补正"

    # A refused file: the decision and the reasons are kept, and the user is told to choose the file again.
    bad_file = client.post(
        f"/cases/{case_id}/decision",
        data={"csrf_token": csrf, "decision": "reject", "reasons": "不符合共享条件"},
        files={"file": ("审核意见.pdf", EXE, "application/pdf")},
    )
    assert bad_file.status_code == 422 and "workflow.attachment_content" in bad_file.text
    assert _checked(bad_file.text) == ["reject"] and _reasons(bad_file.text) == "不符合共享条件"
    assert 'data-testid="file-dropped"' in bad_file.text
    assert _state(session, case_id) == ("in_review", [None, None])  # nothing was decided

    english = client.post(f"/cases/{case_id}/decision?lang=en", data={"csrf_token": csrf, "reasons": "x"})
    assert "Choose a decision" in english.text


def test_r28_a_forms_address_opened_by_get_leads_back_to_the_case(session: Session, world: World) -> None:
    case_id = sharing_application(session, world).id
    client, _ = page_client("health.reviewer", session=session)
    for action in ("decision", "dispute", "attachments", "withdraw", "resubmit"):
        response = client.get(f"/cases/{case_id}/{action}", follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == f"/cases/{case_id}", action
        assert "Method Not Allowed" not in response.text
    assert client.get(f"/cases/{case_id}/decision").status_code == 200  # the case page itself


def _hint(page: str) -> str:
    return _one(r'data-testid="reasons-hint">([^<]*)<', page)


def test_r6_r9_r17_the_reasons_hint_fits_the_kind_of_case(session: Session, world: World) -> None:
    sharing_id = sharing_application(session, world).id
    officer = world.consumer  # the transport bureau's catalog officer, as a provider of its own entry
    entry = catalog.create_draft(session, officer, marriage())
    publication_id = catalog.submit_for_review(session, officer, entry.id).id
    session.commit()
    reviewer, _ = page_client("authority.reviewer", session=session)
    hint = _hint(reviewer.get(f"/cases/{publication_id}").text)
    assert "第六条" in hint and "第十七条" not in hint
    assert "(R6)" in _hint(reviewer.get(f"/cases/{publication_id}?lang=en").text)

    engine.decide(session, world.authority_reviewer, publication_id, "approve")
    change_id = catalog.propose_change(session, officer, entry.id, marriage(summary="新摘要"), "").id
    session.commit()
    hint = _hint(reviewer.get(f"/cases/{change_id}?lang=zh").text)
    assert "第九条" in hint and "第十七条" not in hint

    provider, _ = page_client("health.reviewer", session=session)
    assert "第十七条" in _hint(provider.get(f"/cases/{sharing_id}").text)


def test_r15_r17_the_dispute_chain_names_the_step_reached(session: Session, world: World) -> None:
    case_id = sharing_application(session, world).id
    engine.decide(session, world.provider_reviewer, case_id, "reject", "涉及个人隐私")
    engine.escalate(session, world.consumer, case_id, "已取得授权，请主管部门协调")
    session.commit()
    coordinator, csrf = page_client("authority.coordinator", session=session)
    page = coordinator.get(f"/cases/{case_id}").text
    assert _one(r'data-testid="dispute-stage"[^>]*>([^<]*)<', page) == "争议处理：主管部门协调"
    assert "第十五条" in _hint(page) and "提请市人民政府决定" in _hint(page)
    assert "申请方提出异议，转入主管部门协调" in page

    done = coordinator.post(
        f"/cases/{case_id}/decision",
        data={"csrf_token": csrf, "decision": "escalate", "reasons": "协调不成"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    page = coordinator.get(done.headers["location"]).text
    assert _one(r'data-testid="case-done"[^>]*>([^<]*)<', page) == "已提请市人民政府决定。"
    assert _one(r'data-testid="dispute-stage"[^>]*>([^<]*)<', page) == "争议处理：市人民政府决定"
    history = page.split('data-testid="history"', 1)[1]
    escalations = re.findall(
        r'<li data-event="escalated"[^>]*>.*?<strong>([^<]*)</strong>', history, flags=re.S
    )
    assert escalations == ["申请方提出异议，转入主管部门协调", "提请市人民政府决定"]
    assert "提出异议并提请协调" not in page and "第 2 级协调" not in page

    mayor, csrf = page_client("government.decider", session=session)
    assert "最终决定" in _hint(mayor.get(f"/cases/{case_id}").text)
    mayor.post(f"/cases/{case_id}/decision", data={"csrf_token": csrf, "decision": "approve", "reasons": ""})
    decided = mayor.get(f"/cases/{case_id}").text
    assert 'data-status="approved"' in decided
    assert _one(r'data-testid="dispute-stage"[^>]*>([^<]*)<', decided) == "争议处理：市人民政府决定"
    english = mayor.get(f"/cases/{case_id}?lang=en").text
    assert "Dispute: Municipal government decision" in english
    assert "Escalated: Municipal government decision" in english


def test_r28_a_person_reads_the_wording_of_their_own_account(
    session: Session, tmp_path: Path, db_clean: str
) -> None:
    _, case_id = objection_city(session, tmp_path, db_clean)
    person, csrf = page_client("citizen", session=session)
    page = person.get(f"/cases/{case_id}").text
    assert _one(r'data-testid="party-label">([^<]*)<', page) == "异议人"
    assert _one(r'data-testid="applicant">([^<]*)<', page) == "citizen"  # the person, named once
    assert _one(r'data-testid="party-actions">([^<]*)<', page) == "异议人操作"
    assert _one(r'data-testid="withdraw">([^<]*)<', page) == "撤回异议"
    assert "申请单位" not in page and 'data-testid="back-inbox"' not in page
    assert 'data-testid="back-my-cases"' in page
    mine = person.get("/cases").text
    assert _one(r'data-testid="my-cases-scope">([^<]*)<', mine) == "本人提交的申请和异议。"
    assert "本单位" not in mine

    refused = person.post(f"/cases/{case_id}/withdraw", data={"csrf_token": csrf, "reasons": " "})
    assert refused.status_code == 422
    withdrawn = person.post(
        f"/cases/{case_id}/withdraw",
        data={"csrf_token": csrf, "reasons": "已自行更正"},
        follow_redirects=False,
    )
    page = person.get(withdrawn.headers["location"]).text
    assert _one(r'data-testid="case-done"[^>]*>([^<]*)<', page) == "已撤回。" and "已保存" not in page
    assert "提出异议" in page.split('data-testid="history"', 1)[1]

    handler, _ = page_client("civil_clerk", session=session)  # an organisation keeps its own wording
    assert 'data-testid="back-inbox"' in handler.get(f"/cases/{case_id}").text


def test_r28_an_organisation_keeps_the_organisation_wording(session: Session, world: World) -> None:
    case_id = sharing_application(session, world).id
    applicant, _ = page_client("transport.officer", session=session)
    page = applicant.get(f"/cases/{case_id}").text
    assert _one(r'data-testid="party-label">([^<]*)<', page) == "申请单位"
    assert _one(r'data-testid="party-actions">([^<]*)<', page) == "申请单位操作"
    assert _one(r'data-testid="withdraw">([^<]*)<', page) == "撤回申请"
    assert (
        _one(r'data-testid="my-cases-scope">([^<]*)<', applicant.get("/cases").text) == "本单位提交的申请。"
    )


def test_r28_each_action_gets_its_own_feedback(session: Session, world: World) -> None:
    first = sharing_application(session, world).id
    second = sharing_application(session, world, title="申请共享预防接种信息").id
    reviewer, csrf = page_client("health.reviewer", session=session)
    applicant, applicant_csrf = page_client("transport.officer", session=session)

    def feedback(client: Any, url: str, **kw: Any) -> str:
        response = client.post(url, follow_redirects=False, **kw)
        assert response.status_code == 303, response.text[:300]
        page = client.get(response.headers["location"]).text
        assert "已保存" not in page
        return _one(r'data-testid="case-done"[^>]*>([^<]*)<', page)

    assert (
        feedback(
            reviewer, f"/cases/{first}/attachments", data={"csrf_token": csrf}, files={"file": ("a.pdf", PDF)}
        )
        == "附件已上传。"
    )
    assert (
        feedback(reviewer, f"/cases/{first}/decision", data={"csrf_token": csrf, "decision": "approve"})
        == "已作出决定：通过。"
    )
    returned = feedback(
        reviewer,
        f"/cases/{second}/decision",
        data={"csrf_token": csrf, "decision": "return", "reasons": "请补正"},
    )
    assert returned.startswith("已退回补正")
    assert feedback(applicant, f"/cases/{second}/resubmit", data={"csrf_token": applicant_csrf}).startswith(
        "已重新提交"
    )
    assert (
        feedback(
            applicant, f"/cases/{second}/withdraw", data={"csrf_token": applicant_csrf, "reasons": "不再需要"}
        )
        == "已撤回。"
    )


@pytest.fixture()
def catalog_city(session: Session) -> dict[str, Any]:
    c = city(session)
    entry = publish(session, c, items=[i.model_dump() for i in marriage().items])
    c["code"], c["entry_id"] = entry.resource_code, entry.id
    return c


def test_r28_the_case_page_names_and_links_what_it_is_about(
    session: Session, catalog_city: dict[str, Any]
) -> None:
    c = catalog_city
    code = c["code"]
    items = [i.model_dump() for i in marriage().items]
    remark = {"name": "remark", "label_zh": "备注", "label_en": "Remark", "data_type": "string"}
    change = catalog.propose_change(
        session,
        c["civil_officer"],
        c["entry_id"],
        marriage(summary="新的摘要", items=[*items, remark]),
        "新增备注信息项",
    )
    draft = catalog.create_draft(
        session, c["civil_officer"], marriage(name="收养登记信息", name_en="Adoptions")
    )
    publication = catalog.submit_for_review(session, c["civil_officer"], draft.id)
    sharing = engine.submit(
        session,
        c["police_clerk"],
        "sharing_application",
        title="共享申请：婚姻登记信息",
        subject_type="catalog_entry",
        subject_id=code,
        parties={"provider": c["civil"].id},
        payload={
            "form": "sharing_application/1",
            "resource_code": code,
            "resource_name": "婚姻登记信息",
            "items": ["id_number", "registered_on"],
            "scenario": "婚育服务一件事",
            "purpose": "核验婚姻状况",
            "valid_from": "2026-12-01",
            "valid_to": "2027-11-30",
            "delivery_method": "db_table",
            "key_municipal_work": False,
        },
    )
    session.commit()
    reviewer, _ = page_client("reviewer", session=session)

    page = reviewer.get(f"/cases/{sharing.id}").text
    assert f'href="/catalog/{code}"' in page and "婚姻登记信息" in page and "catalog_entry" not in page
    assert _one(r'data-testid="subject-scenario">([^<]*)<', page) == "婚育服务一件事"
    assert _one(r'data-testid="subject-items">([^<]*)<', page) == "身份证号码、登记日期"
    assert _one(r'data-testid="subject-delivery-method">([^<]*)<', page) == "库表"
    assert _one(r'data-testid="subject-period">([^<]*)<', page) == "2026-12-01 – 2027-11-30"
    english = reviewer.get(f"/cases/{sharing.id}?lang=en").text
    assert "Marriage registration" in english and "ID number, Registration date" in english
    assert "Database table" in english

    page = reviewer.get(f"/cases/{change.id}?lang=zh").text
    assert f'href="/catalog/{code}"' in page and f'href="/catalog/{code}/versions"' in page
    assert "catalog_entry" not in page
    changes = page.split('data-testid="subject-changes"', 1)[1].split("</table>", 1)[0]
    assert (
        "摘要" in changes
        and "新的摘要" in changes
        and "新增信息项" in changes
        and "备注（remark）" in changes
    )
    assert _one(r'data-testid="subject-reasons">([^<]*)<', page) == "新增备注信息项"

    page = reviewer.get(f"/cases/{publication.id}").text
    link = _one(r'<a href="(/catalog/[^"]+)" data-testid="subject-link">', page)
    assert link.startswith("/catalog/") and "收养登记信息" in page and "catalog_entry" not in page


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("1197.0000000000", "1197"),
        (Decimal("1197.0000000000"), "1197"),
        (Decimal("10.5000000000"), "10.5"),
        (0.25, "0.25"),
        ("-3.10", "-3.1"),
        ("0.0000", "0"),
        ("350200198503121216", "350200198503121216"),  # an ID number stays as it is
        ("福建省厦门市思明区环岛路301号", "福建省厦门市思明区环岛路301号"),
        ("2026-12-01", "2026-12-01"),  # a day stays as it is
        (None, "—"),
    ],
)
def test_r28_decimals_are_shown_plain(value: Any, shown: str) -> None:
    assert plain_value(value) == shown
