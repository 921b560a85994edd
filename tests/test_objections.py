"""R14 R26: a person sees their own records, objects to a field with evidence; the provider corrects the
record through the store (history with the case number) or refuses with sealed reasons; the person sees
who read their data."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from store_fixtures import HEADER, IDS, publish, store_city, write

from gongshu.aggregation.ingest import ingest_file
from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.audit.service import subject_hash
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import Forbidden, NotFound, ValidationFailed
from gongshu.kernel.identity import sessions
from gongshu.kernel.identity.models import Organisation, User
from gongshu.kernel.workflow.attachments import list_attachments
from gongshu.kernel.workflow.models import Case, Notification
from gongshu.kernel.workflow.sla import sweep
from gongshu.quality import objections
from gongshu.store import service as store
from gongshu.web.app import create_app


@pytest.fixture()
def c(session: Session, tmp_path: Path, db_clean: str) -> dict[str, Any]:
    out = store_city(session)
    person = session.get(Organisation, out["citizen"].org_id)
    assert person is not None
    person.id_number = IDS[0]
    session.commit()
    out["code"] = publish(session, out).resource_code
    text = HEADER + "\n" + "\n".join(f"{i},张{n},2024-01-0{n + 1},1,10.5,true" for n, i in enumerate(IDS[:3]))
    ingest_file(out["civil_clerk"], out["code"], write(tmp_path, "m.csv", text + "\n"), url=db_clean)
    return out


def _file(c: dict[str, Any], **kw: Any) -> int:
    with session_scope() as s:
        case = objections.file_objection(
            s,
            c["citizen"],
            c["code"],
            field="full_name",
            claimed_value="章零",
            reason="姓名录入有误",
            evidence=("户口簿.pdf", b"%PDF-1.4 evidence"),
            **kw,
        )
        return case.id


def test_r14_person_sees_only_own_record_and_the_read_is_audited(c: dict[str, Any]) -> None:
    with session_scope() as s:
        data = objections.my_data(s, c["citizen"])
    assert [d["entry"].resource_code for d in data] == [c["code"]]
    assert [r["id_number"] for r in data[0]["rows"]] == [IDS[0]]
    with read_scope() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "data.read")).all()[-1]
        assert entry.subject_keys == [subject_hash(IDS[0])]
    with session_scope() as s, pytest.raises(Forbidden):
        objections.my_data(s, c["civil_clerk"])


def test_r14_objection_opens_a_case_with_evidence_on_the_five_day_clock(c: dict[str, Any]) -> None:
    case_id = _file(c)
    with read_scope() as s:
        case = objections.get_case(s, c["citizen"], case_id)
        assert case.kind == "objection" and case.number.startswith("YY-")
        # R28: the entry's English name; the item has no English label, so its Chinese label
        assert case.title_en == "Marriage registration: objection to 姓名"
        assert case.parties == {"provider": c["civil"].id}
        step = case.steps[0]
        assert step.working_days == 5 and step.assignee_org_id == c["civil"].id
        assert [a.filename for a in list_attachments(s, c["citizen"], case)] == ["户口簿.pdf"]
    with session_scope() as s, pytest.raises(ValidationFailed) as err:
        objections.file_objection(s, c["citizen"], c["code"], field="id_number", claimed_value="x")
    assert err.value.code == "objection.field_invalid"
    with session_scope() as s, pytest.raises(ValidationFailed) as err:
        objections.file_objection(s, c["citizen"], c["code"], field="full_name", claimed_value="张0")
    assert err.value.code == "objection.value_unchanged"


def test_r14_provider_corrects_the_record_with_history_and_the_objector_is_told(c: dict[str, Any]) -> None:
    case_id = _file(c)
    with pytest.raises(NotFound):  # another department does not even see the case
        objections.correct_record(c["police_clerk"], case_id)
    case = objections.correct_record(c["civil_clerk"], case_id)
    assert case.status == "approved"
    with read_scope() as s:
        assert store.rows(s, c["code"], key=IDS[0])[0]["full_name"] == "章零"
        last = store.history(s, c["code"], IDS[0])[-1]
        assert last.before["full_name"] == "张0" and last.after["full_name"] == "章零"
        assert last.correction_ref == case.number and last.actor_user_id == c["civil_clerk"].user_id
        notes = s.scalars(select(Notification).where(Notification.user_id == c["citizen"].user_id)).all()
        assert any(n.kind == "approved" for n in notes)


def test_r14_refusal_needs_written_reasons_and_is_sealed(c: dict[str, Any]) -> None:
    case_id = _file(c)
    with session_scope() as s, pytest.raises(ValidationFailed):
        objections.reject_objection(s, c["civil_clerk"], case_id, "")
    with session_scope() as s:
        case = objections.reject_objection(s, c["civil_clerk"], case_id, "户籍档案记载为张0")
        assert case.status == "rejected" and case.sealed_decision["seal"]["signature"]
    with read_scope() as s:
        assert store.rows(s, c["code"], key=IDS[0])[0]["full_name"] == "张0"


def test_r14_overdue_objection_is_flagged_to_the_authority(c: dict[str, Any]) -> None:
    case_id = _file(c)
    with session_scope() as s:
        sweep(s, at=dt.datetime.now(dt.UTC) + dt.timedelta(days=30))
    with read_scope() as s:
        notes = s.scalars(select(Notification).where(Notification.user_id == c["reviewer"].user_id)).all()
        assert any(n.case_id == case_id for n in notes)


def _browser(username: str) -> tuple[TestClient, str]:
    with session_scope() as s:
        user = s.scalars(select(User).where(User.username == username)).one()
        raw, ws = sessions.start_session(s, user, ip=None, user_agent="pytest", second_factor_done=True)
        token = ws.csrf_token
    client = TestClient(create_app())
    client.cookies.set("gs_session", raw)
    return client, token


def test_r14_r26_pages_my_data_objection_handling_and_my_reads(c: dict[str, Any]) -> None:
    person, csrf = _browser("citizen")
    page = person.get("/my/data")
    assert page.status_code == 200 and "张0" in page.text and "张1" not in page.text
    form = person.get(f"/my/data/{c['code']}/objection")
    assert form.status_code == 200
    sent = person.post(
        f"/my/data/{c['code']}/objection",
        data={"csrf_token": csrf, "field": "full_name", "claimed_value": "章零", "reason": "录入错误"},
        files={"evidence": ("证明.pdf", b"%PDF evidence", "application/pdf")},
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    case_id = int(sent.headers["location"].rsplit("=", 1)[-1])
    officer, csrf2 = _browser("civil_clerk")
    handling = officer.get(f"/data/objections/{case_id}")
    assert handling.status_code == 200 and "章零" in handling.text
    done = officer.post(
        f"/data/objections/{case_id}", data={"csrf_token": csrf2, "action": "correct"}, follow_redirects=False
    )
    assert done.status_code == 303
    assert person.get(f"/data/objections/{case_id}").status_code == 403
    reads = person.get("/my/reads")
    assert reads.status_code == 200 and "市民政局" in reads.text
    for _ in range(3):  # the person's own looks at their data are audited, but not listed as reads
        assert person.get("/my/data").status_code == 200
    with read_scope() as s:
        listed = objections.my_reads(s, c["citizen"], limit=2)  # newest first: own looks skipped
        own = s.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.actor_user_id == c["citizen"].user_id, AuditEntry.action.like("%read%"))
        )
    assert own and listed and any(r.org("zh") == "市民政局" for r in listed)


def test_r14_refused_objection_keeps_the_form_with_the_message_and_stores_nothing(c: dict[str, Any]) -> None:
    """R14: an objection without the correct value is refused on the form itself (422), in Chinese, with
    what the person typed kept; no case is opened."""
    person, csrf = _browser("citizen")
    with read_scope() as s:
        cases_before = s.scalar(select(func.count()).select_from(Case))
    sent = person.post(
        f"/my/data/{c['code']}/objection",
        data={"csrf_token": csrf, "field": "full_name", "claimed_value": "", "reason": "我写下的理由"},
        follow_redirects=False,
    )
    assert sent.status_code == 422
    assert 'data-testid="objection-error"' in sent.text and "请填写您认为正确的值" in sent.text
    assert "我写下的理由" in sent.text and '<option value="full_name" selected>' in sent.text
    with read_scope() as s:
        assert s.scalar(select(func.count()).select_from(Case)) == cases_before


def test_r14_refusal_without_reasons_keeps_the_handling_form(c: dict[str, Any]) -> None:
    """R14: refusing an objection needs written reasons; without them the provider sees the message on
    the handling page with the corrected value they typed, not an error page."""
    case_id = _file(c)
    officer, csrf = _browser("civil_clerk")
    sent = officer.post(
        f"/data/objections/{case_id}",
        data={"csrf_token": csrf, "action": "reject", "value": "章零零", "reasons": ""},
        follow_redirects=False,
    )
    assert sent.status_code == 422 and 'role="alert"' in sent.text
    assert 'value="章零零"' in sent.text and "/data/objections/" in sent.text


def test_r14_unknown_handling_action_refuses_nothing(c: dict[str, Any]) -> None:
    """R14: an unknown action on the handling form is refused (422) — it is never taken as a refusal of
    the objection, which would be sealed and sent to the objector; the case stays open."""
    case_id = _file(c)
    officer, csrf = _browser("civil_clerk")
    sent = officer.post(
        f"/data/objections/{case_id}",
        data={"csrf_token": csrf, "action": "bogus", "value": "", "reasons": "x"},
        follow_redirects=False,
    )
    assert sent.status_code == 422 and "未知的处理操作" in sent.text
    with read_scope() as s:
        case = s.get(Case, case_id)
        assert case is not None and case.status == "in_review"


def test_r14_my_data_shows_decimals_as_written_and_the_current_value_in_english(c: dict[str, Any]) -> None:
    """R14 R28: a decimal is shown as 10.5, not with the column's padding zeros; the objection form's
    options read "补助金额（现为：10.5）" in Chinese and "补助金额 (now: 10.5)" in English (the item has
    no English label: its Chinese label, not its column name)."""
    person, _ = _browser("citizen")
    page = person.get("/my/data").text
    assert '<td class="nowrap">10.5</td>' in page and "10.50000" not in page
    form = person.get(f"/my/data/{c['code']}/objection").text
    assert "补助金额（现为：10.5）" in form
    person.cookies.set("gs_lang", "en")
    english = person.get(f"/my/data/{c['code']}/objection").text
    assert "补助金额 (now: 10.5)" in english and "（now" not in english and "allowance (now" not in english
