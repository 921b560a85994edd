"""R14 objections, after the tester's findings: an objection is decided only on its handling page (the
inbox and the case page send the provider there; the generic decision refuses it), evidence is a document
or an image by its content, a claimed value passes the store's checks at filing (the rule named), one open
objection per record and item, the record history says who and why, the objector's case page says what
was claimed, and English pages use English labels (or the Chinese label, R28)."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from catalog_fixtures import org, user
from page_fixtures import page_client as _browser
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from store_fixtures import HEADER, IDS, ITEMS, publish, store_city, write

from gongshu.aggregation.ingest import ingest_file
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import Conflict, ValidationFailed
from gongshu.kernel.identity.models import Organisation
from gongshu.kernel.workflow import engine
from gongshu.kernel.workflow.models import Case, Notification
from gongshu.quality import objections
from gongshu.store import service as store

PDF = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
EXE = (
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"This program cannot be run in DOS mode"
)


def _setup(session: Session, tmp_path: Path, db_clean: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    out = store_city(session)
    person = session.get(Organisation, out["citizen"].org_id)
    assert person is not None
    person.id_number = IDS[0]
    session.commit()
    out["code"] = publish(session, out, items=items).resource_code
    text = HEADER + "\n" + "\n".join(f"{i},张{n},2024-01-0{n + 1},1,10.5,true" for n, i in enumerate(IDS[:3]))
    ingest_file(out["civil_clerk"], out["code"], write(tmp_path, "m.csv", text + "\n"), url=db_clean)
    return out


@pytest.fixture()
def c(session: Session, tmp_path: Path, db_clean: str) -> dict[str, Any]:
    return _setup(session, tmp_path, db_clean, ITEMS)


@pytest.fixture()
def c_en(session: Session, tmp_path: Path, db_clean: str) -> dict[str, Any]:
    """The same resource, its name item with an English label."""
    items = [{**i, "label_en": "Full name"} if i["name"] == "full_name" else i for i in ITEMS]
    return _setup(session, tmp_path, db_clean, items)


def _file(c: dict[str, Any], field: str = "full_name", value: str = "章零", **kw: Any) -> int:
    with session_scope() as s:
        case = objections.file_objection(
            s,
            c["citizen"],
            c["code"],
            field=field,
            claimed_value=value,
            reason="姓名录入有误",
            evidence=kw.pop("evidence", ("户口簿.pdf", PDF)),
            **kw,
        )
        return case.id


def _cases() -> int:
    with read_scope() as s:
        return int(s.scalar(select(func.count()).select_from(Case)) or 0)


def _status(case_id: int) -> str:
    with read_scope() as s:
        case = s.get(Case, case_id)
        assert case is not None
        return case.status


# 1. An objection is decided only on its handling page.


def test_r14_inbox_sends_the_provider_to_the_objection_handling_page(c: dict[str, Any]) -> None:
    case_id = _file(c)
    officer, _ = _browser("civil_clerk")
    page = officer.get("/inbox")
    assert page.status_code == 200
    assert f'href="/data/objections/{case_id}"' in page.text
    assert f'href="/cases/{case_id}"' not in page.text


def test_r14_case_page_shows_the_claim_and_links_to_handling_instead_of_the_decision_form(
    c: dict[str, Any],
) -> None:
    case_id = _file(c)
    officer, _ = _browser("civil_clerk")
    page = officer.get(f"/cases/{case_id}")
    assert page.status_code == 200
    assert 'data-testid="decision-form"' not in page.text and 'value="approve"' not in page.text
    assert 'data-testid="objection-handling-link"' in page.text
    assert f'href="/data/objections/{case_id}"' in page.text
    assert "章零" in page.text and "张0" in page.text and "姓名" in page.text


def test_r14_generic_decision_cannot_approve_or_refuse_an_objection(c: dict[str, Any]) -> None:
    case_id = _file(c)
    officer, csrf = _browser("civil_clerk")
    for decision, reasons in (("approve", ""), ("reject", "不同意")):
        sent = officer.post(
            f"/cases/{case_id}/decision",
            data={"csrf_token": csrf, "decision": decision, "reasons": reasons},
            follow_redirects=False,
        )
        assert sent.status_code == 409, sent.text
        assert 'data-testid="case-error"' in sent.text and f"/data/objections/{case_id}" in sent.text
        assert "objection.decide_on_handling_page" in sent.text
    # the same rule below the pages: the engine's decision of an objection case is refused and undone
    with pytest.raises(Conflict) as err, session_scope() as s:  # the refusal rolls the decision back
        engine.decide(s, c["civil_clerk"], case_id, "approve")
    assert err.value.code == "objection.decide_on_handling_page"
    assert _status(case_id) == "in_review"
    with read_scope() as s:
        assert store.rows(s, c["code"], key=IDS[0])[0]["full_name"] == "张0"
        case = s.get(Case, case_id)
        assert case is not None and case.sealed_decision is None and case.steps[0].state == "active"
        told = s.scalars(select(Notification).where(Notification.user_id == c["citizen"].user_id)).all()
        assert not any(n.kind in ("approved", "rejected") for n in told)
    # and the handling page still offers the correction, which then works
    page = officer.get(f"/data/objections/{case_id}")
    assert 'value="correct"' in page.text
    done = officer.post(
        f"/data/objections/{case_id}", data={"csrf_token": csrf, "action": "correct"}, follow_redirects=False
    )
    assert done.status_code == 303 and _status(case_id) == "approved"
    with read_scope() as s:
        assert store.rows(s, c["code"], key=IDS[0])[0]["full_name"] == "章零"


def test_r14_case_api_cannot_approve_an_objection(c: dict[str, Any]) -> None:
    case_id = _file(c)
    officer, csrf = _browser("civil_clerk")
    sent = officer.post(
        f"/api/v1/cases/{case_id}/decisions",
        json={"decision": "approve", "reasons": ""},
        headers={"X-CSRF-Token": csrf},
    )
    assert sent.status_code == 409 and "objection.decide_on_handling_page" in sent.text, sent.text
    assert _status(case_id) == "in_review"


def test_r14_a_disputed_objection_is_upheld_on_the_dispute_chain_only_with_written_reasons(
    c: dict[str, Any], session: Session
) -> None:
    """R14 R15: the objector disputes the refusal; the authority's coordinator decides on the case page. An
    approval upholds the objection and binds the provider to correct the record, so it needs written
    reasons; a refusal stands as before. (The provider's correction: tests/test_r14_objection_ruling.py.)"""
    org(session, "gov", "municipal_government", "市人民政府")
    coordinator = user(session, "coordinator", c["authority"], "coordinator")
    session.commit()
    case_id = _file(c)
    with session_scope() as s:
        objections.reject_objection(s, c["civil_clerk"], case_id, "档案记载为张0")
    with session_scope() as s:
        engine.escalate(s, c["citizen"], case_id, "我有户口簿为证")
    page = _browser("coordinator")[0].get(f"/cases/{case_id}").text
    assert 'data-testid="decision-form"' in page and 'data-testid="objection-panel"' in page
    assert 'data-testid="objection-ruling-hint"' in page
    with pytest.raises(ValidationFailed) as err, session_scope() as s:
        engine.decide(s, coordinator, case_id, "approve", "")
    assert err.value.code == "objection.ruling_reasons_required"
    assert _status(case_id) == "in_review"
    with session_scope() as s:
        assert engine.decide(s, coordinator, case_id, "reject", "维持原决定").status == "rejected"
    with read_scope() as s:
        case = s.get(Case, case_id)
        assert case is not None and "ruling" not in case.payload


# 2. Evidence, the claimed value, one open objection per record and item.


def test_r14_evidence_must_be_a_document_or_an_image_by_its_content(c: dict[str, Any]) -> None:
    with session_scope() as s, pytest.raises(ValidationFailed) as err:
        objections.file_objection(
            s, c["citizen"], c["code"], field="full_name", claimed_value="章零", evidence=("evil.exe", EXE)
        )
    assert err.value.code == "objection.evidence_type" and "evil.exe" in err.value.message("zh")
    assert "PDF、OFD" in err.value.message("zh") and "PDF or OFD" in err.value.message("en")
    with session_scope() as s, pytest.raises(ValidationFailed) as err:
        objections.file_objection(
            s, c["citizen"], c["code"], field="full_name", claimed_value="章零", evidence=("证明.pdf", EXE)
        )
    assert err.value.code == "objection.evidence_content"
    with session_scope() as s, pytest.raises(ValidationFailed) as err:
        big = PDF + b"0" * objections.EVIDENCE_MAX_BYTES
        objections.file_objection(
            s, c["citizen"], c["code"], field="full_name", claimed_value="章零", evidence=("大.pdf", big)
        )
    assert err.value.code == "objection.evidence_too_large"
    assert _cases() == 1  # the catalog's publication case only
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as z:
        z.writestr("OFD.xml", "<ofd:OFD/>")
    objections.check_evidence("证明.ofd", package.getvalue())
    objections.check_evidence("照片.PNG", PNG)
    with pytest.raises(ValidationFailed):
        objections.check_evidence("假.ofd", b"PK\x03\x04not a zip")


def test_r14_evidence_refusal_on_the_form_in_both_languages(c: dict[str, Any]) -> None:
    before = _cases()
    for lang, expected in (
        ("zh", "只接受PDF、OFD 文档或 JPG、PNG 图片"),
        ("en", "give a PDF or OFD document"),
    ):
        person, csrf = _browser("citizen", lang)
        sent = person.post(
            f"/my/data/{c['code']}/objection",
            data={"csrf_token": csrf, "field": "full_name", "claimed_value": "章零", "reason": "理由"},
            files={"evidence": ("evil.exe", EXE, "application/octet-stream")},
            follow_redirects=False,
        )
        assert sent.status_code == 422 and expected in sent.text, sent.text
        assert 'data-testid="objection-error"' in sent.text and "evil.exe" in sent.text
    assert _cases() == before


def test_r14_claimed_value_is_checked_at_filing_with_the_rule_named(c: dict[str, Any]) -> None:
    with session_scope() as s, pytest.raises(ValidationFailed) as err:
        objections.file_objection(
            s, c["citizen"], c["code"], field="registered_on", claimed_value="2024-02-30"
        )
    assert err.value.code == "objection.value_invalid" and err.value.details["rule"] == "type.date"
    assert "登记日期应为有效日期" in err.value.message("zh") and "type.date" not in err.value.message("zh")
    assert "must be a valid date" in err.value.message("en")  # R28: the rule in words, its code in details
    with session_scope() as s, pytest.raises(ValidationFailed) as err:
        objections.file_objection(s, c["citizen"], c["code"], field="children", claimed_value="两个")
    assert err.value.details["rule"] == "type.integer"
    person, csrf = _browser("citizen", "en")
    sent = person.post(
        f"/my/data/{c['code']}/objection",
        data={"csrf_token": csrf, "field": "registered_on", "claimed_value": "2024-02-30", "reason": ""},
        follow_redirects=False,
    )
    assert sent.status_code == 422 and "must be a valid date" in sent.text and "type.date" not in sent.text
    assert _cases() == 1


def test_r14_correction_refused_by_a_rule_names_the_rule(c: dict[str, Any]) -> None:
    case_id = _file(c)
    with pytest.raises(ValidationFailed) as err:
        objections.correct_record(c["civil_clerk"], case_id, value="张" * 25)
    assert err.value.code == "objection.correction_refused" and err.value.details["rule"] == "length"
    assert "姓名超过最大长度 20" in err.value.message("zh") and "记录未更改" in err.value.message("zh")
    officer, csrf = _browser("civil_clerk", "en")
    sent = officer.post(
        f"/data/objections/{case_id}",
        data={"csrf_token": csrf, "action": "correct", "value": "张" * 25},
        follow_redirects=False,
    )
    assert sent.status_code == 422 and "rule length" in sent.text
    assert _status(case_id) == "in_review"


def test_r14_second_open_objection_on_the_same_item_is_refused_naming_the_case(c: dict[str, Any]) -> None:
    case_id = _file(c)
    with read_scope() as s:
        number = s.get(Case, case_id).number  # type: ignore[union-attr]
    with session_scope() as s, pytest.raises(Conflict) as err:
        objections.file_objection(s, c["citizen"], c["code"], field="full_name", claimed_value="章〇")
    assert err.value.code == "objection.already_open" and number in err.value.message("zh")
    _file(c, field="allowance", value="12.5")  # another item of the same record is fine
    person, csrf = _browser("citizen")
    sent = person.post(
        f"/my/data/{c['code']}/objection",
        data={"csrf_token": csrf, "field": "full_name", "claimed_value": "章〇", "reason": ""},
        follow_redirects=False,
    )
    assert sent.status_code == 409 and number in sent.text
    with session_scope() as s:
        objections.reject_objection(s, c["civil_clerk"], case_id, "档案记载为张0")
    _file(c, value="章〇")  # once closed, a new objection may be filed


# 3. The record's history on the handling page: when, what, who, why; the outcome once closed.


def test_r14_handling_page_history_says_who_and_why_and_the_outcome(c: dict[str, Any]) -> None:
    case_id = _file(c)
    objections.correct_record(c["civil_clerk"], case_id, note="核对户籍档案")
    with read_scope() as s:
        number = s.get(Case, case_id).number  # type: ignore[union-attr]
    officer, _ = _browser("civil_clerk")
    page = officer.get(f"/data/objections/{case_id}").text
    assert 'data-testid="history-change">姓名: 张0 → 章零' in page
    assert "civil_clerk (市民政局)" in page
    assert f'<a href="/cases/{case_id}">{number}</a>' in page and "核对户籍档案" in page
    assert 'data-outcome="corrected"' in page and 'value="correct"' not in page
    english, _ = _browser("civil_clerk", "en")
    page = english.get(f"/data/objections/{case_id}").text
    assert 'data-testid="history-change">姓名: 张0 → 章零' in page
    assert "civil_clerk (Civil Affairs Bureau)" in page and "objection to 姓名" in page


def test_r14_handling_page_shows_a_refusal_with_its_reasons(c: dict[str, Any]) -> None:
    case_id = _file(c)
    with session_scope() as s:
        objections.reject_objection(s, c["civil_clerk"], case_id, "户籍档案记载为张0")
    officer, _ = _browser("civil_clerk")
    page = officer.get(f"/data/objections/{case_id}").text
    assert 'data-outcome="rejected"' in page and "户籍档案记载为张0" in page and "不予更正" in page


# 4. The objector's case page and my data.


def test_r14_objector_case_page_shows_what_was_claimed_and_the_outcome_with_labels(c: dict[str, Any]) -> None:
    case_id = _file(c)
    person, _ = _browser("citizen")
    page = person.get(f"/cases/{case_id}").text
    assert 'data-testid="objection-panel"' in page
    assert f'data-testid="objection-subject">婚姻登记信息 · 记录 {IDS[0]}' in page
    assert 'data-testid="objection-item">姓名<' in page
    assert 'data-testid="objection-current">张0<' in page and 'data-testid="objection-claimed">章零<' in page
    assert "姓名录入有误" in page and "户口簿.pdf" in page
    assert "<code>record</code>" not in page and "objection-handling-link" not in page
    objections.correct_record(c["civil_clerk"], case_id)
    page = person.get(f"/cases/{case_id}").text
    assert "已更正：姓名 = 章零" in page and "full_name =" not in page
    assert 'data-outcome="corrected"' in page
    english, _ = _browser("citizen", "en")
    page = english.get(f"/cases/{case_id}").text
    assert f"Marriage registration · record {IDS[0]}" in page
    assert "Corrected: 姓名 = 章零" in page


def test_r14_my_data_lists_my_objections_with_status_and_link(c: dict[str, Any]) -> None:
    case_id = _file(c)
    person, _ = _browser("citizen")
    page = person.get("/my/data").text
    assert 'data-testid="my-objections"' in page
    assert f'href="/cases/{case_id}"' in page and "审核中" in page and "章零" in page
    english, _ = _browser("citizen", "en")
    page = english.get("/my/data").text
    assert "My objections" in page and "In review" in page and "<td>姓名</td>" in page


# 5. English labels.


def test_r28_english_pages_use_the_english_label_or_the_chinese_label(c_en: dict[str, Any]) -> None:
    """R14 R28: on English pages an item reads by its English label, else by its Chinese label (every item
    has one), never by its column name."""
    person, _ = _browser("citizen", "en")
    form = person.get(f"/my/data/{c_en['code']}/objection").text
    assert "Full name (now: 张0)" in form and "补助金额 (now: 10.5)" in form
    assert "姓名 (now" not in form and "allowance (now" not in form
    case_id = _file(c_en)
    page = person.get(f"/cases/{case_id}").text
    assert "Marriage registration: objection to Full name" in page and "objection to 姓名" not in page
    chinese, _ = _browser("citizen")
    assert "婚姻登记信息：姓名 数据异议" in chinese.get(f"/cases/{case_id}").text


# 6. After the tester's walk as 张三 and 鹭江数据科技.


def _session_cookie(username: str) -> str:
    from gongshu.kernel.identity import sessions
    from gongshu.kernel.identity.models import User

    with session_scope() as s:
        found = s.scalars(select(User).where(User.username == username)).one()
        raw, _ = sessions.start_session(s, found, ip=None, user_agent="pytest", second_factor_done=True)
        return raw


@pytest.mark.browser
def test_r28_objection_form_is_a_stacked_form_at_375_px(
    c: dict[str, Any], page: Any, live_server: str
) -> None:
    """R14 R28: the objection form is the platform's stacked form — each label above its control, all
    controls one below the other at the same left edge, and nothing wider than a 375 px phone screen."""
    page.context.add_cookies(
        [{"name": "gs_session", "value": _session_cookie("citizen"), "url": live_server}]
    )
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(f"/my/data/{c['code']}/objection")
    boxes = {
        name: page.locator(selector).bounding_box()
        for name, selector in (
            ("item_label", "label[for=f-field]"),
            ("item", "#f-field"),
            ("value_label", "label[for=f-claimed]"),
            ("value", "#f-claimed"),
            ("reason", "#f-reason"),
            ("evidence", "#f-evidence"),
        )
    }
    assert all(boxes.values()), boxes
    b = {k: v for k, v in boxes.items() if v is not None}
    assert b["item_label"]["y"] + b["item_label"]["height"] <= b["item"]["y"]  # the label above its field
    assert b["item"]["y"] < b["value_label"]["y"] < b["value"]["y"] < b["reason"]["y"] < b["evidence"]["y"]
    assert len({round(b[k]["x"]) for k in ("item", "value", "reason", "evidence")}) == 1
    assert page.evaluate("document.documentElement.scrollWidth") <= 375


def test_r28_objection_form_markup_follows_the_platform_forms(c: dict[str, Any]) -> None:
    """R14 R28: label for each control, a hint under it, the limits as maxlength; an error marks its field."""
    person, csrf = _browser("citizen")
    form = person.get(f"/my/data/{c['code']}/objection").text
    assert 'class="card form"' in form and form.count('<div class="field') == 4
    for control in ("f-field", "f-claimed", "f-reason", "f-evidence"):
        assert f'<label for="{control}">' in form and f'id="{control}"' in form
    assert f'maxlength="{objections.VALUE_MAX}"' in form and f'maxlength="{objections.REASON_MAX}"' in form
    sent = person.post(
        f"/my/data/{c['code']}/objection",
        data={"csrf_token": csrf, "field": "full_name", "claimed_value": "", "reason": ""},
        follow_redirects=False,
    )
    assert (
        sent.status_code == 422 and '<div class="field has-error">\n    <label for="f-claimed">' in sent.text
    )


def test_r14_explanation_refusal_reasons_and_note_are_limited(c: dict[str, Any]) -> None:
    """R14: the objector's explanation, the provider's written reasons for a refusal and its note on a
    correction are at most REASON_MAX characters — refused precisely in Chinese (with the length), in the
    service and on the pages, keeping what was typed; nothing is stored."""
    long = "因" * 20000
    with session_scope() as s, pytest.raises(ValidationFailed) as err:
        objections.file_objection(
            s, c["citizen"], c["code"], field="full_name", claimed_value="章零", reason=long
        )
    assert err.value.code == "objection.reason_too_long" and err.value.field == "reason"
    assert "说明不能超过2000字（现为20000字）" in err.value.message("zh")
    assert err.value.details == {"max": objections.REASON_MAX, "length": 20000}
    assert _cases() == 1
    person, csrf = _browser("citizen")
    sent = person.post(
        f"/my/data/{c['code']}/objection",
        data={"csrf_token": csrf, "field": "full_name", "claimed_value": "章零", "reason": long},
        follow_redirects=False,
    )
    assert sent.status_code == 422 and "说明不能超过2000字" in sent.text and long in sent.text
    assert 'value="章零"' in sent.text and _cases() == 1

    case_id = _file(c)
    with session_scope() as s, pytest.raises(ValidationFailed) as err:
        objections.reject_objection(s, c["civil_clerk"], case_id, long)
    assert err.value.code == "objection.reasons_too_long" and "书面理由不能超过2000字" in err.value.message(
        "zh"
    )
    with pytest.raises(ValidationFailed) as err:
        objections.correct_record(c["civil_clerk"], case_id, note=long)
    assert err.value.code == "objection.reasons_too_long"
    officer, csrf = _browser("civil_clerk")
    sent = officer.post(
        f"/data/objections/{case_id}",
        data={"csrf_token": csrf, "action": "reject", "reasons": long},
        follow_redirects=False,
    )
    assert (
        sent.status_code == 422 and "书面理由不能超过2000字（现为20000字）" in sent.text and long in sent.text
    )
    assert _status(case_id) == "in_review"
    with read_scope() as s:
        assert store.rows(s, c["code"], key=IDS[0])[0]["full_name"] == "张0"
    with session_scope() as s:
        assert objections.reject_objection(s, c["civil_clerk"], case_id, "因" * 2000).status == "rejected"


def test_r14_values_show_in_their_canonical_form_on_every_objection_page(c: dict[str, Any]) -> None:
    """R14: a decimal without the column's padding zeros (an objection filed before kept 10.5000000000),
    booleans in words, the same on my data, the case page, the handling page and the record's history."""
    case_id = _file(c, field="allowance", value="12.50")
    with session_scope() as s:  # as the objections filed before this fix kept the recorded value
        case = s.get(Case, case_id)
        assert case is not None and case.payload["current_value"] == "10.5"
        case.payload = {**case.payload, "current_value": "10.5000000000"}
    person, _ = _browser("citizen")
    assert "<td>是</td>" in person.get("/my/data").text
    page = person.get(f"/cases/{case_id}").text
    assert 'data-testid="objection-current">10.5<' in page and 'data-testid="objection-claimed">12.5<' in page
    assert "10.5000" not in page
    objections.correct_record(c["civil_clerk"], case_id)
    officer, _ = _browser("civil_clerk")
    handling = officer.get(f"/data/objections/{case_id}").text
    assert 'data-testid="history-change">补助金额: 10.5 → 12.5<' in handling
    assert 'data-testid="objection-current">12.5<' in handling and "5000" not in handling
    assert '<td class="nowrap">12.5</td>' in person.get("/my/data").text
    assert objections.shown(dt.date(2024, 1, 2)) == "2024-01-02"
    assert objections.shown("2024-01-02T00:00:00", {"data_type": "date"}) == "2024-01-02"
    assert objections.shown(1197.0, {"data_type": "decimal"}) == "1197"
    assert objections.shown("false", {"data_type": "boolean"}, "en") == "no"


def test_r14_an_unchanged_value_is_recognised_in_any_written_form(c: dict[str, Any]) -> None:
    """R14: 10.50 is the recorded 10.5 (a decimal's padding zeros are not a different value): refused as
    unchanged, with the value recorded now."""
    with session_scope() as s, pytest.raises(ValidationFailed) as err:
        objections.file_objection(s, c["citizen"], c["code"], field="allowance", claimed_value="10.50")
    assert err.value.code == "objection.value_unchanged" and "补助金额现为“10.5”" in err.value.message("zh")
    assert _cases() == 1


def test_r14_filing_confirms_the_case_number_and_the_reply_deadline(
    c: dict[str, Any], session: Session
) -> None:
    """R14: after filing, the objector lands on my data with a notice: the case number, the day the
    provider must reply by (the policy's 5 working days: the case's deadline) and the link to the case."""
    person, csrf = _browser("citizen")
    sent = person.post(
        f"/my/data/{c['code']}/objection",
        data={"csrf_token": csrf, "field": "full_name", "claimed_value": "章零", "reason": "录入错误"},
        follow_redirects=False,
    )
    assert sent.status_code == 303 and sent.headers["location"].startswith("/my/data?filed=")
    page = person.get(sent.headers["location"]).text
    with read_scope() as s:
        case = s.scalars(select(Case).where(Case.kind == "objection")).one()
        number, case_id, step = case.number, case.id, case.steps[0]
        due, days = step.due_on, step.working_days
    assert due is not None and days == 5
    assert 'data-testid="objection-filed"' in page and f"您的异议已提交，案件编号 {number}。" in page
    assert f"数据提供单位应于 {due.isoformat()} 前答复（5 个工作日）。" in page
    assert f'<a href="/cases/{case_id}" data-testid="objection-case-link">' in page
    english = _browser("citizen", "en")[0].get(sent.headers["location"]).text
    assert f"Your objection has been received: case {number}." in english
    assert f"The department must reply by {due.isoformat()} (5 working days)." in english
    # someone else's case, or no case at all: no notice
    neighbour = org(session, "p2", "person")
    neighbour.id_number = IDS[1]
    user(session, "neighbour", neighbour, "public")
    session.commit()
    other = _browser("neighbour")[0].get(f"/my/data?filed={case_id}")
    assert (
        other.status_code == 200 and "张1" in other.text and 'data-testid="objection-filed"' not in other.text
    )
    assert 'data-testid="objection-filed"' not in person.get("/my/data?filed=999999").text
    assert 'data-testid="objection-filed"' not in person.get("/my/data?filed=abc").text


def test_r28_an_empty_current_value_reads_well_in_both_languages(
    session: Session, tmp_path: Path, db_clean: str
) -> None:
    """R14 R28: an item with no value now reads 子女数（现为空） / 子女数 (now empty), not "(now: )"."""
    c = store_city(session)
    person_org = session.get(Organisation, c["citizen"].org_id)
    assert person_org is not None
    person_org.id_number = IDS[0]
    session.commit()
    c["code"] = publish(session, c).resource_code
    text = HEADER + f"\n{IDS[0]},张0,2024-01-01,,10.5,true\n"
    ingest_file(c["civil_clerk"], c["code"], write(tmp_path, "m.csv", text), url=db_clean)
    form = _browser("citizen")[0].get(f"/my/data/{c['code']}/objection").text
    assert "子女数（现为空）" in form and "现为：）" not in form
    english = _browser("citizen", "en")[0].get(f"/my/data/{c['code']}/objection").text
    assert "子女数 (now empty)" in english and "(now: )" not in english
    assert objections.item_label({"name": "household_size", "label_zh": "家庭人口数"}, "en") == "家庭人口数"
    assert objections.item_label({"name": "household_size"}, "en") == "household_size"
