"""R14 with R15 R17: an objection refused by the provider is disputed; the authority's coordinator (or the
municipal government) upholds it on the case page. The ruling closes the case and binds the provider: its
data officer corrects the record to the ruled value on the handling page (history with the case number,
audited), once, and nobody else may; until then the objector and the authority see the ruling awaiting the
provider's correction."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from page_fixtures import page_client
from sqlalchemy import select
from sqlalchemy.orm import Session
from store_fixtures import IDS, dispute_city

from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import Conflict, Forbidden, NotFound, ValidationFailed
from gongshu.kernel.workflow import engine
from gongshu.kernel.workflow.models import Case, Notification
from gongshu.quality import objections
from gongshu.store import service as store

PDF = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n"


@pytest.fixture()
def c(session: Session, tmp_path: Path, db_clean: str) -> dict[str, Any]:
    return dispute_city(session, tmp_path, db_clean)


def _disputed(c: dict[str, Any]) -> tuple[int, str]:
    """Filed, refused by the provider with its reasons, disputed by the objector: at the coordinator."""
    with session_scope() as s:
        case = objections.file_objection(
            s,
            c["citizen"],
            c["code"],
            field="full_name",
            claimed_value="章零",
            reason="姓名录入有误",
            evidence=("户口簿.pdf", PDF),
        )
        case_id, number = case.id, case.number
    with session_scope() as s:
        objections.reject_objection(s, c["civil_clerk"], case_id, "户籍档案记载为张0")
    with session_scope() as s:
        engine.escalate(s, c["citizen"], case_id, "户口簿记载为章零，请主管部门协调")
    return case_id, number


def _case(case_id: int) -> Case:
    with read_scope() as s:
        case = s.get(Case, case_id)
        assert case is not None
        s.expunge(case)
        return case


def _full_name(c: dict[str, Any]) -> str:
    with read_scope() as s:
        return str(store.rows(s, c["code"], key=IDS[0])[0]["full_name"])


def _stage(case_id: int) -> str:
    with read_scope() as s:
        case = s.get(Case, case_id)
        assert case is not None
        return objections.stage(s, case)


def _notes(user_id: int | None, kind: str) -> list[Notification]:
    with read_scope() as s:
        rows = s.scalars(
            select(Notification).where(Notification.user_id == user_id, Notification.kind == kind)
        ).all()
        s.expunge_all()
        return list(rows)


def test_r14_ruling_upheld_on_chain_provider_corrects(c: dict[str, Any]) -> None:
    case_id, number = _disputed(c)
    assert _stage(case_id) == "disputed"
    # While the chain rules, the provider cannot correct on its own (the record is not touched).
    with pytest.raises(Conflict) as err:
        objections.correct_record(c["civil_clerk"], case_id)
    assert err.value.code == "objection.disputed"
    assert _full_name(c) == "张0"

    # The coordinator upholds the objection on the case page's decision: a ruling with written reasons.
    with session_scope() as s:
        case = engine.decide(s, c["coordinator"], case_id, "approve", "户口簿证明姓名为章零，异议成立")
        assert case.status == "approved" and case.sealed_decision is not None
    case = _case(case_id)
    assert case.payload["ruling"] == "upheld" and case.payload["ruled_value"] == "章零"
    assert case.payload["ruling_step"] == "coordination" and "corrected_value" not in case.payload
    assert _full_name(c) == "张0"  # the ruling binds the provider; the provider executes it
    assert _stage(case_id) == "ruling_pending"
    told = _notes(c["civil_clerk"].user_id, "ruling_upheld")
    assert [n.link for n in told] == [f"/data/objections/{case_id}"] and "章零" in told[0].message_zh
    with read_scope() as s:
        mine = objections.my_objections(s, c["citizen"])
        assert [(o["case"].id, o["stage"]) for o in mine] == [(case_id, "ruling_pending")]
        ruling = objections.ruling_of(s, s.get(Case, case_id))  # type: ignore[arg-type]
        assert ruling is not None and ruling.pending and ruling.body("zh") == "主管部门协调"
        assert ruling.body("en") == "Authority coordination" and "异议成立" in ruling.reasons

    # Nobody but the provider's data officer executes it: another department does not even see the case
    # (404, like every case it may not see); the objector and the coordinator are refused (403).
    with pytest.raises(NotFound):
        objections.execute_ruling(c["police_clerk"], case_id)
    for who in ("citizen", "coordinator", "reviewer"):
        with pytest.raises(Forbidden) as forbidden:
            objections.execute_ruling(c[who], case_id)
        assert forbidden.value.code == "objection.not_handler", who
    # ... only to the ruled value, and not by deciding the closed case again
    with pytest.raises(ValidationFailed) as invalid:
        objections.execute_ruling(c["civil_clerk"], case_id, value="章〇")
    assert invalid.value.code == "objection.ruled_value_only"
    with pytest.raises(Conflict) as closed:
        objections.correct_record(c["civil_clerk"], case_id)
    assert closed.value.code == "objection.closed"
    assert _full_name(c) == "张0"

    before = _case(case_id)
    done = objections.execute_ruling(c["civil_clerk"], case_id, note="按协调意见更正")
    assert done.status == "approved"
    assert _full_name(c) == "章零"
    after = _case(case_id)
    assert after.payload["corrected_value"] == "章零" and after.payload["correction_note"] == "按协调意见更正"
    assert after.sealed_decision == before.sealed_decision and after.closed_at == before.closed_at
    assert [(s.name, s.state, s.decision) for s in after.steps] == [
        (s.name, s.state, s.decision) for s in before.steps
    ]
    with read_scope() as s:
        last = store.history(s, c["code"], IDS[0])[-1]
        assert last.before["full_name"] == "张0" and last.after["full_name"] == "章零"
        assert last.correction_ref == number and last.actor_user_id == c["civil_clerk"].user_id
        audit = s.scalars(select(AuditEntry).where(AuditEntry.action == "objection.ruling_executed")).one()
        assert audit.actor_user_id == c["civil_clerk"].user_id and audit.object_id == str(case_id)
        assert audit.detail["before"] == "张0" and audit.detail["after"] == "章零"
        assert audit.detail["number"] == number and audit.detail["ruling_step"] == "coordination"
        commit = s.scalars(  # the store's own audit of the correcting batch
            select(AuditEntry).where(
                AuditEntry.action == "store.batch_commit",
                AuditEntry.object_id == str(audit.detail["batch_id"]),
            )
        ).one()
        assert commit.actor_user_id == c["civil_clerk"].user_id and commit.detail["updated"] == 1
    assert _stage(case_id) == "corrected"
    assert any("章零" in n.message_zh for n in _notes(c["citizen"].user_id, "ruling_executed"))

    with pytest.raises(Conflict) as again:
        objections.execute_ruling(c["civil_clerk"], case_id)
    assert again.value.code == "objection.ruling_executed"
    with read_scope() as s:
        corrections = [h for h in store.history(s, c["code"], IDS[0]) if h.correction_ref == number]
        assert len(corrections) == 1


def test_r14_ruling_upheld_by_the_municipal_government_is_executed_by_the_provider(c: dict[str, Any]) -> None:
    case_id, number = _disputed(c)
    with session_scope() as s:
        engine.decide(s, c["coordinator"], case_id, "escalate", "协调未果，提请市人民政府决定")
    assert _stage(case_id) == "disputed"
    with (
        pytest.raises(Conflict) as done,
        session_scope() as s,
    ):  # the coordination is done; the government decides
        engine.decide(s, c["coordinator"], case_id, "approve", "同意")
    assert done.value.code == "workflow.already_decided"
    with pytest.raises(ValidationFailed) as err, session_scope() as s:
        engine.decide(s, c["mayor"], case_id, "approve", " ")
    assert err.value.code == "objection.ruling_reasons_required"
    with session_scope() as s:
        assert engine.decide(s, c["mayor"], case_id, "approve", "异议成立，予以更正").status == "approved"
    case = _case(case_id)
    assert case.payload["ruling_step"] == "municipal_decision" and _stage(case_id) == "ruling_pending"
    with pytest.raises(Forbidden):
        objections.execute_ruling(c["mayor"], case_id)
    objections.execute_ruling(c["civil_clerk"], case_id)
    assert _full_name(c) == "章零" and _stage(case_id) == "corrected"
    with read_scope() as s:
        view = objections.handling_view(s, c["civil_clerk"], case_id)
        line = next(h for h in view["history"] if h.correction_ref == number)
        assert line.ruling("zh") == "市人民政府决定" and line.ruling("en") == "Municipal government decision"


def test_r14_a_refusal_on_the_chain_leaves_nothing_to_execute(c: dict[str, Any]) -> None:
    case_id, _ = _disputed(c)
    with session_scope() as s:
        engine.decide(s, c["coordinator"], case_id, "reject", "维持原决定")
    assert _stage(case_id) == "rejected" and "ruling" not in _case(case_id).payload
    with pytest.raises(Conflict) as err:
        objections.execute_ruling(c["civil_clerk"], case_id)
    assert err.value.code == "objection.no_ruling"
    assert _full_name(c) == "张0"
    assert not _notes(c["civil_clerk"].user_id, "ruling_upheld")


def test_r14_ruling_pages_case_page_and_handling_page(c: dict[str, Any]) -> None:
    """The same chain through the pages: the coordinator rules on the case page; the objector and the
    authority see the ruling awaiting the provider, in both languages; the provider's officer executes it
    on the handling page ("裁定更正"); anyone else is refused with a stable code; once only."""
    case_id, number = _disputed(c)
    coordinator, csrf = page_client("coordinator")
    refused = coordinator.post(
        f"/cases/{case_id}/decision",
        data={"csrf_token": csrf, "decision": "approve", "reasons": ""},
        follow_redirects=False,
    )
    assert refused.status_code == 422 and "objection.ruling_reasons_required" in refused.text
    ruled = coordinator.post(
        f"/cases/{case_id}/decision",
        data={"csrf_token": csrf, "decision": "approve", "reasons": "户口簿证明姓名为章零"},
        follow_redirects=False,
    )
    assert ruled.status_code == 303, ruled.text

    person, person_csrf = page_client("citizen")
    page = person.get(f"/cases/{case_id}").text
    assert 'data-outcome="ruling_pending"' in page and "已裁定更正，待数据提供单位执行: 姓名 = 章零" in page
    assert 'data-testid="objection-ruling">异议成立（主管部门协调） · 户口簿证明姓名为章零<' in page
    mine = person.get("/my/data").text  # the objector's list says the same
    assert 'data-stage="ruling_pending"' in mine and "已裁定更正，待数据提供单位执行" in mine
    english = page_client("citizen", "en")[0].get(f"/cases/{case_id}").text
    assert "Upheld by ruling, awaiting the provider&#39;s correction: 姓名 = 章零" in english
    assert "upheld by Authority coordination" in english
    supervising = coordinator.get(f"/cases/{case_id}").text  # the authority sees it is not yet executed
    assert 'data-outcome="ruling_pending"' in supervising and 'data-testid="decision-form"' not in supervising

    officer, officer_csrf = page_client("civil_clerk")
    case_page = officer.get(f"/cases/{case_id}").text
    assert "执行裁定：更正记录" in case_page and f'href="/data/objections/{case_id}"' in case_page
    handling = officer.get(f"/data/objections/{case_id}").text
    assert 'value="execute_ruling"' in handling and "裁定更正" in handling
    assert 'value="correct"' not in handling and 'value="reject"' not in handling

    stranger, stranger_csrf = page_client("police_clerk")
    for client, token, status, code in (
        (person, person_csrf, 403, "objection.not_handler"),
        (coordinator, csrf, 403, "objection.not_handler"),
        (stranger, stranger_csrf, 404, "workflow.case_not_found"),
    ):
        sent = client.post(
            f"/data/objections/{case_id}",
            data={"csrf_token": token, "action": "execute_ruling"},
            follow_redirects=False,
        )
        assert sent.status_code == status and code in sent.text, sent.text
    other = officer.post(
        f"/data/objections/{case_id}",
        data={"csrf_token": officer_csrf, "action": "execute_ruling", "value": "章〇"},
        follow_redirects=False,
    )
    assert other.status_code == 422 and "只能按裁定更正为“章零”" in other.text
    assert _full_name(c) == "张0"

    done = officer.post(
        f"/data/objections/{case_id}",
        data={"csrf_token": officer_csrf, "action": "execute_ruling", "value": "章零", "reasons": "已核对"},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    assert _full_name(c) == "章零"
    handling = officer.get(f"/data/objections/{case_id}").text
    assert 'data-testid="history-change">姓名: 张0 → 章零' in handling
    assert f'<a href="/cases/{case_id}">{number}</a>' in handling
    assert 'data-testid="history-ruling">依主管部门协调裁定更正<' in handling and "已核对" in handling
    assert 'data-outcome="corrected"' in handling and 'value="execute_ruling"' not in handling
    english = page_client("civil_clerk", "en")[0].get(f"/data/objections/{case_id}").text
    assert "as ruled by Authority coordination" in english

    again = officer.post(
        f"/data/objections/{case_id}",
        data={"csrf_token": officer_csrf, "action": "execute_ruling"},
        follow_redirects=False,
    )
    assert again.status_code == 409 and "裁定更正已经执行" in again.text
    page = person.get(f"/cases/{case_id}").text
    assert 'data-outcome="corrected"' in page and "已更正: 姓名 = 章零 · 已核对" in page
    assert "待数据提供单位执行" not in page
