"""R9: catalog transfer when duties move between departments — joint application, receiving consent,
authority review moving the entries (a new version each), the 7-working-day update period and its flags."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from catalog_fixtures import city, marriage, org, user
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.catalog import service, transfer
from gongshu.catalog.models import CatalogEntry, CatalogSearchDoc
from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.errors import Forbidden, ValidationFailed
from gongshu.kernel.identity import sessions
from gongshu.kernel.identity.models import User
from gongshu.kernel.timeutil import freeze
from gongshu.kernel.workflow import engine, sla
from gongshu.kernel.workflow.models import Notification
from gongshu.web.app import create_app

APPLIED = dt.datetime(2026, 9, 29, 10, 0)  # a Tuesday, before the National Day holiday
APPROVED = dt.datetime(2026, 9, 30, 10, 0)  # the update period starts on the eve of the holiday


@pytest.fixture()
def c(session: Session) -> dict[str, Any]:
    freeze(APPLIED)
    out = city(session)
    out["civil_clerk"] = user(session, "civil_clerk", out["civil"], "data_officer")
    out["police_admin"] = user(session, "police_admin", out["police"], "org_admin")
    welfare = org(session, "welfare_home", "public_service_org", "市社会福利院", parent=out["civil"].id)
    out["welfare_officer"] = user(session, "welfare_officer", welfare, "catalog_officer")
    codes = []
    for officer, name in (
        ("civil_officer", "婚姻登记信息"),
        ("civil_officer", "收养登记信息"),
        ("police_officer", "户籍登记信息"),
        ("welfare_officer", "福利院入住信息"),
    ):
        entry = service.create_draft(session, out[officer], marriage(name=name))
        case = service.submit_for_review(session, out[officer], entry.id)
        engine.decide(session, out["reviewer"], case.id, "approve")
        codes.append(entry.resource_code)
    out["marriage"], out["adoption"], out["household"], out["welfare"] = codes
    session.commit()
    return out


def _notified(session: Session, username: str, case_id: int, kind: str) -> bool:
    user_id = session.scalars(select(User.id).where(User.username == username)).one()
    return (
        session.scalar(
            select(Notification.id).where(
                Notification.user_id == user_id, Notification.case_id == case_id, Notification.kind == kind
            )
        )
        is not None
    )


def test_r9_transfer_consent_review_moves_entries_and_update_due_in_seven_working_days(
    session: Session, c: dict[str, Any]
) -> None:
    case = transfer.apply_transfer(
        session,
        c["civil_officer"],
        entry_codes=[c["marriage"], c["welfare"]],
        receiving_org_code="public_security",
        reasons="机构改革，婚姻登记职责划入市公安局",
    )
    session.commit()
    assert [s.name for s in case.steps] == ["receiving_consent", "authority_review", "receiving_update"]
    assert case.parties == {"receiving": c["police"].id, "losing": c["civil"].id}
    # R28: the English title names the organisations in English
    assert case.title_en == "Catalog transfer: Civil Affairs Bureau → Public Security Bureau (2 entries)"
    engine.decide(session, c["police_admin"], case.id, "approve", "同意接收")
    session.commit()
    entry = session.scalars(select(CatalogEntry).where(CatalogEntry.resource_code == c["marriage"])).one()
    assert entry.provider_org_id == c["civil"].id  # nothing moves before the authority approves

    freeze(APPROVED)
    engine.decide(session, c["reviewer"], case.id, "approve")
    session.commit()
    session.refresh(entry)
    assert entry.provider_org_id == c["police"].id and entry.current_version == 2
    latest = service.versions(session, entry)[-1]
    assert latest.snapshot["provider_org_id"] == c["police"].id and latest.case_id == case.id
    assert "public" in session.get(CatalogSearchDoc, entry.id).body.split()
    update = case.steps[2]
    # R9: 7 working days from 2026-09-30: the holiday runs to 10-07, Saturday 10-10 is a working day.
    assert update.state == "active" and update.start_day == dt.date(2026, 9, 30)
    assert update.working_days == 7 and update.due_on == dt.date(2026, 10, 15)
    assert (
        session.scalar(select(AuditEntry.seq).where(AuditEntry.action == "catalog.transfer_move")) is not None
    )

    freeze(dt.datetime(2026, 10, 16, 9, 0))
    result = sla.sweep(session)
    session.commit()
    assert update.id in result.overdue
    for username in ("civil_clerk", "civil_officer", "police_officer", "reviewer"):
        assert _notified(session, username, case.id, "overdue"), username

    transfer.confirm_transfer_update(session, c["police_officer"], case.id, "目录已更新，数据已重新汇聚")
    session.commit()
    assert case.status == "approved" and case.sealed_decision is not None


def test_r9_transfer_refused_for_an_entry_the_applicant_does_not_provide(
    session: Session, c: dict[str, Any]
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        transfer.apply_transfer(
            session,
            c["civil_officer"],
            entry_codes=[c["adoption"], c["household"]],
            receiving_org_code="public_security",
            reasons="职责调整",
        )
    assert refused.value.code == "transfer.not_provider" and c["household"] in refused.value.message_zh
    with pytest.raises(Forbidden):
        transfer.apply_transfer(
            session,
            c["civil_clerk"],
            entry_codes=[c["adoption"]],
            receiving_org_code="public_security",
            reasons="x",
        )
    with pytest.raises(ValidationFailed) as same:
        transfer.apply_transfer(
            session,
            c["civil_officer"],
            entry_codes=[c["adoption"]],
            receiving_org_code="civil_affairs",
            reasons="x",
        )
    assert same.value.code == "transfer.same_department"


def test_r9_receiving_department_refusal_moves_nothing(session: Session, c: dict[str, Any]) -> None:
    case = transfer.apply_transfer(
        session,
        c["civil_officer"],
        entry_codes=[c["adoption"]],
        receiving_org_code="public_security",
        reasons="x",
    )
    engine.decide(session, c["police_admin"], case.id, "reject", "不属于本部门职责")
    session.commit()
    entry = session.scalars(select(CatalogEntry).where(CatalogEntry.resource_code == c["adoption"])).one()
    assert case.status == "rejected" and entry.provider_org_id == c["civil"].id and entry.current_version == 1


def test_r9_transfer_pages_list_due_dates_and_apply(session: Session, c: dict[str, Any]) -> None:
    user_row = session.scalars(select(User).where(User.username == "civil_officer")).one()
    raw, ws = sessions.start_session(session, user_row, ip=None, user_agent="pytest", second_factor_done=True)
    session.commit()
    client = TestClient(create_app())
    client.cookies.set("gs_session", raw)
    form = client.get("/catalog/transfers/new")
    assert form.status_code == 200 and c["adoption"] in form.text and c["household"] not in form.text
    bad = client.post(
        "/catalog/transfers/new",
        data={
            "csrf_token": ws.csrf_token,
            "entry_codes": c["adoption"],
            "receiving_org_code": "public_security",
        },
    )
    assert bad.status_code == 422 and 'data-testid="form-error"' in bad.text
    done = client.post(
        "/catalog/transfers/new",
        data={
            "csrf_token": ws.csrf_token,
            "entry_codes": c["adoption"],
            "receiving_org_code": "public_security",
            "reasons": "职责调整",
        },
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"].startswith("/cases/")
    listed = client.get("/catalog/transfers")
    assert listed.status_code == 200 and c["adoption"] in listed.text and "2026-10-" in listed.text
    assert "Receiving department consent" in client.get("/catalog/transfers?lang=en").text
