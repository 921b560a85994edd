"""The one workflow engine: steps and periods from the policy (R17, R6, R30), decisions by the assignee
only, written and sealed reasons (R17, R10), escalation (R15, R17), service levels and reminders."""

from __future__ import annotations

import datetime as dt
import re
import threading
from dataclasses import dataclass

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gongshu.kernel import db
from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.clock.service import add_working_days
from gongshu.kernel.crypto.seal import platform_key_ids, verify_sealed
from gongshu.kernel.errors import Conflict, Forbidden, GongshuError, NotFound, ValidationFailed
from gongshu.kernel.identity import service as identity
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import Organisation
from gongshu.kernel.policy import service as policy
from gongshu.kernel.timeutil import freeze
from gongshu.kernel.workflow import attachments, engine, hooks, inbox, notify, sla
from gongshu.kernel.workflow.models import Case, CaseEvent, CaseFollower, Notification
from gongshu.kernel.workflow.visibility import can_view, get_case

PASSWORD = "Workflow2026pass"
CHINA_SUBMISSION = dt.datetime(2026, 9, 28, 10, 0)  # Monday; the National Day holiday follows


@dataclass
class World:
    consumer: Actor  # the consuming department's data officer (the applicant)
    provider_reviewer: Actor
    provider_officer: Actor  # of the provider, but without the reviewer role
    authority_reviewer: Actor
    authority_coordinator: Actor
    mayor: Actor  # the municipal government's decision maker
    outsider: Actor  # a reviewer of an unrelated department
    provider_org: Organisation
    consumer_org: Organisation


def build_world(session: Session) -> World:
    from gongshu.kernel.identifiers.checks import make_uscc

    orgs = {
        "authority": ("市大数据管理局", "authority", make_uscc("11350200MB0100001")),
        "operator": ("市信息中心", "operator", None),
        "government": ("市人民政府", "municipal_government", None),
        "transport": ("市交通运输局", "department", None),
        "health": ("市卫生健康委员会", "department", None),
        "tourism": ("市文化和旅游局", "department", None),
    }
    made = {
        code: identity.create_organisation(session, code=code, name_zh=name, kind=kind, uscc=uscc)
        for code, (name, kind, uscc) in orgs.items()
    }

    def user(username: str, org: str, *roles: str) -> Actor:
        u = identity.create_user(
            session,
            username=username,
            display_name=username,
            password=PASSWORD,
            org_code=org,
            roles=list(roles),
        )
        return identity.build_actor(session, u)

    world = World(
        consumer=user("transport.officer", "transport", "data_officer", "catalog_officer"),
        provider_reviewer=user("health.reviewer", "health", "reviewer"),
        provider_officer=user("health.officer", "health", "data_officer"),
        authority_reviewer=user("authority.reviewer", "authority", "reviewer"),
        authority_coordinator=user("authority.coordinator", "authority", "coordinator"),
        mayor=user("government.decider", "government", "decision_maker"),
        outsider=user("tourism.reviewer", "tourism", "reviewer"),
        provider_org=made["health"],
        consumer_org=made["transport"],
    )
    session.commit()
    return world


@pytest.fixture()
def world(session: Session) -> World:
    return build_world(session)


def sharing_application(session: Session, w: World, title: str = "申请共享出生医学证明信息") -> Case:
    case = engine.submit(
        session,
        w.consumer,
        "sharing_application",
        title=title,
        subject_type="catalog_entry",
        subject_id="ML-0001",
        parties={"provider": w.provider_org.id},
        payload={"scenario": "新生儿落户一件事"},
    )
    session.commit()
    return case


def counts(session: Session) -> tuple[int, int, int, int]:
    return (
        session.scalar(select(func.count(CaseEvent.id))) or 0,
        session.scalar(select(func.count(AuditEntry.seq))) or 0,
        session.scalar(select(func.count(Notification.id))) or 0,
        session.scalar(select(func.count(Case.id))) or 0,
    )


def test_r17_sharing_application_both_steps_due_five_working_days_after_submission(
    session: Session, world: World
) -> None:
    freeze(CHINA_SUBMISSION)
    days = policy.at(session).working_days("sharing_review")
    case = sharing_application(session, world)
    assert re.fullmatch(r"GX-2026-\d{6}", case.number)
    first, second = case.steps
    # Day 0 is Monday 28 September; 1–7 October are the National Day holiday, Saturday 10 October is an
    # adjusted working day: the 5th working day after submission is 10 October.
    expected = add_working_days(session, dt.date(2026, 9, 28), days).due
    assert expected == dt.date(2026, 10, 10)
    assert (first.state, first.due_on, first.working_days, first.due_provisional) == (
        "active",
        expected,
        days,
        False,
    )
    assert first.assignee_org_id == world.provider_org.id and first.assignee_role == "reviewer"
    assert second.state == "waiting"
    follower_ids = set(notify.followers(session, case.id))
    assert {world.consumer.user_id, world.provider_reviewer.user_id} <= follower_ids

    freeze(dt.datetime(2026, 10, 8, 9, 0))
    engine.decide(session, world.provider_reviewer, case.id, "approve", "同意共享")
    session.commit()
    assert second.state == "active"
    assert second.start_day == dt.date(2026, 9, 28)  # anchored at the case: counted from submission
    assert second.due_on == expected
    assert world.authority_reviewer.user_id in notify.followers(session, case.id)

    engine.decide(session, world.authority_reviewer, case.id, "approve", "")
    session.commit()
    assert case.status == "approved" and case.closed_at is not None
    sealed = case.sealed_decision
    assert sealed is not None and sealed["document"]["decision"] == "approved"
    events = [e.event for e in inbox.history(session, world.consumer, case)]
    assert events == ["submitted", "step_started", "approved", "step_started", "approved"]


def test_r6_catalog_publication_due_from_policy(session: Session, world: World) -> None:
    freeze(dt.datetime(2026, 9, 30, 16, 0))
    case = engine.submit(
        session,
        world.consumer,
        "catalog_publication",
        title="公交线路信息目录",
        subject_type="catalog_entry",
        subject_id=17,
    )
    session.commit()
    pol = policy.at(session)
    step = case.steps[0]
    assert case.number.startswith("ML-2026-")
    assert step.working_days == pol.working_days("catalog_review")
    assert (
        step.due_on == add_working_days(session, dt.date(2026, 9, 30), pol.working_days("catalog_review")).due
    )
    assert step.due_on == dt.date(2026, 10, 13)
    assert inbox.inbox(session, world.authority_reviewer)[0].case.id == case.id


def test_r17_return_without_written_reasons_is_refused_and_changes_nothing(
    session: Session, world: World
) -> None:
    case = sharing_application(session, world)
    before = counts(session)
    for decision in ("return", "reject"):
        with pytest.raises(ValidationFailed) as err:
            engine.decide(session, world.provider_reviewer, case.id, decision, "   ")
        assert err.value.code == "workflow.reasons_required" and err.value.field == "reasons"
        session.rollback()
    assert counts(session) == before
    fresh = session.get(Case, case.id)
    assert fresh is not None and fresh.status == "in_review" and fresh.steps[0].state == "active"
    assert fresh.steps[0].decision is None


def test_r17_only_the_assignee_decides_403_and_nothing_changes(session: Session, world: World) -> None:
    case = sharing_application(session, world)
    before = counts(session)
    # These may see the case but are not the assignee of the provider's review.
    for actor in (world.provider_officer, world.authority_reviewer, world.consumer):
        assert can_view(actor, case)
        with pytest.raises(Forbidden) as err:
            engine.decide(session, actor, case.id, "approve", "")
        assert err.value.code == "workflow.not_assignee" and err.value.status_code == 403
        session.rollback()
    # An unrelated department is told the case does not exist.
    with pytest.raises(NotFound) as missing:
        engine.decide(session, world.outsider, case.id, "approve", "")
    assert missing.value.code == "workflow.case_not_found"
    session.rollback()
    assert counts(session) == before
    assert session.get(Case, case.id).steps[0].state == "active"  # type: ignore[union-attr]


def test_r17_refusal_carries_sealed_written_reasons_that_verify(session: Session, world: World) -> None:
    closed: list[tuple[str, str]] = []

    def on_closed(s: Session, c: Case) -> None:
        closed.append((c.number, c.status))

    hooks.on_closed("sharing_application")(on_closed)
    try:
        case = sharing_application(session, world)
        engine.decide(session, world.provider_reviewer, case.id, "reject", "申请场景与共享条件不符")
        session.commit()
    finally:
        hooks.unregister(on_closed)
    assert case.status == "rejected" and case.outcome_reasons == "申请场景与共享条件不符"
    assert closed == [(case.number, "rejected")]
    assert [s.state for s in case.steps] == ["done", "cancelled"]
    sealed = case.sealed_decision
    assert sealed is not None
    document = sealed["document"]
    assert document["reasons"] == "申请场景与共享条件不符" and document["decision"] == "rejected"
    assert document["case_number"] == case.number and document["policy_version"] == case.policy_version_id
    check = verify_sealed(sealed, platform_key_ids(session))  # signed by the platform's own key
    assert check.valid, check.reason_en
    tampered = {**sealed, "document": dict(document, reasons="同意")}
    assert not verify_sealed(tampered).valid


def test_r15_r17_escalation_goes_coordination_then_municipal_decision(session: Session, world: World) -> None:
    freeze(CHINA_SUBMISSION)
    case = sharing_application(session, world)
    engine.decide(session, world.provider_reviewer, case.id, "reject", "涉及个人隐私")
    session.commit()
    with pytest.raises(Forbidden):
        engine.escalate(session, world.provider_officer, case.id, "not the applicant")
    session.rollback()
    with pytest.raises(ValidationFailed):
        engine.escalate(session, world.consumer, case.id, "")
    session.rollback()

    freeze(dt.datetime(2026, 10, 9, 9, 0))
    engine.escalate(session, world.consumer, case.id, "已取得当事人授权，申请协调")
    session.commit()
    assert (case.status, case.escalation_level, case.sealed_decision) == ("in_review", 1, None)
    coordination = case.steps[2]
    pol = policy.get_version(session, case.policy_version_id)
    assert (coordination.name, coordination.state, coordination.assignee_role) == (
        "coordination",
        "active",
        "coordinator",
    )
    assert (
        coordination.due_on
        == add_working_days(session, dt.date(2026, 10, 9), pol.working_days("dispute_coordination")).due
    )
    with pytest.raises(ValidationFailed) as not_allowed:
        engine.decide(session, world.authority_coordinator, case.id, "return", "补充材料")
    assert not_allowed.value.code == "workflow.decision_not_allowed"
    session.rollback()

    engine.decide(session, world.authority_coordinator, case.id, "escalate", "协调未果，提请市政府决定")
    session.commit()
    municipal = case.steps[3]
    assert (municipal.name, municipal.state, case.escalation_level) == ("municipal_decision", "active", 2)
    assert [i.case.id for i in inbox.inbox(session, world.mayor)] == [case.id]
    with pytest.raises(Conflict) as final:
        engine.decide(session, world.mayor, case.id, "escalate", "再议")
    assert final.value.code == "workflow.escalation_final"
    session.rollback()

    engine.decide(session, world.mayor, case.id, "approve", "依法予以共享")
    session.commit()
    assert case.status == "approved"
    assert (
        case.sealed_decision is not None and case.sealed_decision["document"]["step"] == "municipal_decision"
    )
    with pytest.raises(Conflict):
        engine.escalate(session, world.consumer, case.id, "again")
    session.rollback()
    escalated = [e for e in inbox.history(session, world.consumer, case) if e.event == "escalated"]
    assert escalated[0].data["superseded_decision"]["document"]["decision"] == "rejected"


def test_r17_coordinator_refusal_is_final(session: Session, world: World) -> None:
    case = sharing_application(session, world)
    engine.decide(session, world.provider_reviewer, case.id, "reject", "不符合条件")
    engine.escalate(session, world.consumer, case.id, "请求协调")
    engine.decide(session, world.authority_coordinator, case.id, "reject", "维持原决定")
    session.commit()
    assert case.status == "rejected" and case.steps[-1].state == "cancelled"
    with pytest.raises(Conflict) as final:
        engine.escalate(session, world.consumer, case.id, "再次异议")
    assert final.value.code == "workflow.escalation_final"


def test_r15_authority_opens_an_attribute_dispute_directly(session: Session, world: World) -> None:
    case = engine.submit(
        session,
        world.authority_coordinator,
        "attribute_dispute",
        title="出生医学证明共享属性争议",
        subject_type="catalog_entry",
        subject_id="ML-0001",
    )
    session.commit()
    assert case.number.startswith("AJ-2026-") or case.number.startswith("AJ-")
    engine.decide(session, world.authority_coordinator, case.id, "approve", "协商一致，改为有条件共享")
    session.commit()
    assert case.status == "approved" and case.steps[1].state == "cancelled"


def test_r17_returned_case_resubmitted_restarts_with_fresh_periods(session: Session, world: World) -> None:
    freeze(CHINA_SUBMISSION)
    case = sharing_application(session, world)
    engine.decide(session, world.provider_reviewer, case.id, "return", "请补充应用场景说明")
    session.commit()
    assert case.status == "returned" and case.outcome_reasons == "请补充应用场景说明"
    with pytest.raises(Forbidden):
        engine.resubmit(session, world.provider_reviewer, case.id, None)
    session.rollback()
    freeze(dt.datetime(2026, 10, 12, 9, 0))
    engine.resubmit(session, world.consumer, case.id, {"scenario_detail": "出生登记后自动落户"})
    session.commit()
    assert case.status == "in_review" and case.payload["scenario_detail"] == "出生登记后自动落户"
    assert case.payload["scenario"] == "新生儿落户一件事"
    active = [s for s in case.steps if s.state == "active"]
    assert len(active) == 1 and active[0].seq == 3 and active[0].name == "provider_review"
    days = policy.get_version(session, case.policy_version_id).working_days("sharing_review")
    assert active[0].due_on == add_working_days(session, dt.date(2026, 10, 12), days).due


def test_withdraw_only_by_the_applicant_with_reasons(session: Session, world: World) -> None:
    case = sharing_application(session, world)
    with pytest.raises(Forbidden):
        engine.withdraw(session, world.provider_reviewer, case.id, "不需要了")
    session.rollback()
    engine.withdraw(session, world.consumer, case.id, "业务调整，不再需要")
    session.commit()
    assert case.status == "withdrawn" and all(s.state == "cancelled" for s in case.steps)
    assert inbox.inbox(session, world.provider_reviewer) == []
    with pytest.raises(Conflict):
        engine.decide(session, world.provider_reviewer, case.id, "approve", "")


def test_unknown_kind_and_missing_party_are_refused_and_write_nothing(session: Session, world: World) -> None:
    before = counts(session)
    with pytest.raises(ValidationFailed) as unknown:
        engine.submit(session, world.consumer, "no_such_kind", title="x")
    assert unknown.value.code == "workflow.unknown_kind"
    session.rollback()
    with pytest.raises(ValidationFailed) as missing:
        engine.submit(session, world.consumer, "sharing_application", title="缺少提供单位")
    assert missing.value.code == "workflow.party_missing" and missing.value.field == "parties.provider"
    session.rollback()
    with pytest.raises(ValidationFailed) as bad:
        engine.decide(session, world.provider_reviewer, sharing_application(session, world).id, "maybe", "")
    assert bad.value.code == "workflow.unknown_decision"
    session.rollback()
    assert counts(session)[3] == before[3] + 1  # only the valid application above


def test_r17_service_level_on_time_due_soon_overdue(session: Session, world: World) -> None:
    freeze(CHINA_SUBMISSION)
    case = sharing_application(session, world)
    step = case.steps[0]
    assert step.due_on == dt.date(2026, 10, 10)
    expectations = [
        (dt.datetime(2026, 9, 29, 9, 0), "on_time", 4),
        (dt.datetime(2026, 10, 3, 9, 0), "on_time", 3),  # a holiday: three working days still to come
        (dt.datetime(2026, 10, 9, 9, 0), "due_soon", 1),
        (dt.datetime(2026, 10, 10, 23, 59), "due_soon", 0),
        (dt.datetime(2026, 10, 11, 0, 1), "overdue", 0),  # Sunday: no working day has passed since
        (dt.datetime(2026, 10, 12, 9, 0), "overdue", -1),
    ]
    for at, state, left in expectations:
        freeze(at)
        assert sla.sla_state(session, step) == state, at
        assert sla.days_left(session, step) == left, at


def test_r17_sweep_flags_due_soon_and_overdue_once_each(session: Session, world: World) -> None:
    freeze(CHINA_SUBMISSION)
    case = sharing_application(session, world)
    freeze(dt.datetime(2026, 9, 30, 9, 0))
    assert sla.sweep(session) == sla.SweepResult()
    freeze(dt.datetime(2026, 10, 9, 9, 0))
    first = sla.sweep(session)
    session.commit()
    assert first.due_soon == (case.steps[0].id,) and first.overdue == ()
    notified = {
        n.user_id for n in session.scalars(select(Notification).where(Notification.kind == "due_soon"))
    }
    assert notified == {world.consumer.user_id, world.provider_reviewer.user_id}
    assert sla.sweep(session) == sla.SweepResult()  # not twice

    freeze(dt.datetime(2026, 10, 12, 9, 0))
    late = sla.sweep(session)
    session.commit()
    assert late.overdue == (case.steps[0].id,)
    overdue_to = {
        n.user_id for n in session.scalars(select(Notification).where(Notification.kind == "overdue"))
    }
    assert world.authority_reviewer.user_id in overdue_to  # flagged to the authority (R28)
    assert world.consumer.user_id in overdue_to
    assert sla.sweep(session) == sla.SweepResult()
    session.commit()
    kinds = [e.event for e in session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id))]
    assert kinds.count("due_soon") == 1 and kinds.count("overdue") == 1


def test_r30_case_keeps_its_policy_version_after_a_successor_is_loaded(
    session: Session, world: World
) -> None:
    freeze(CHINA_SUBMISSION)
    case = sharing_application(session, world)
    original = case.policy_version_id
    raw = yaml.safe_load(policy.SHIPPED.read_text(encoding="utf-8"))
    raw.update(id="successor-2026", effective_from=dt.date(2026, 10, 1), effective_to=None)
    longer = raw["deadlines"]["sharing_review"]["working_days"] * 2
    raw["deadlines"]["sharing_review"]["working_days"] = longer
    policy.load(session, policy.parse_policy(yaml.safe_dump(raw, allow_unicode=True)))
    session.commit()

    freeze(dt.datetime(2026, 10, 8, 9, 0))
    assert policy.at(session).id == "successor-2026"
    engine.decide(session, world.provider_reviewer, case.id, "approve", "同意")
    session.commit()
    authority_step = case.steps[1]
    kept = policy.get_version(session, original).working_days("sharing_review")
    assert case.policy_version_id == original and authority_step.working_days == kept
    assert authority_step.due_on == dt.date(2026, 10, 10)
    newer = sharing_application(session, world, "新政策下的共享申请")
    assert newer.policy_version_id == "successor-2026" and newer.steps[0].working_days == longer


def test_inbox_sorted_by_due_day_and_my_cases(session: Session, world: World) -> None:
    freeze(dt.datetime(2026, 10, 9, 9, 0))
    later = engine.submit(session, world.consumer, "catalog_publication", title="目录B", subject_id=2)
    freeze(CHINA_SUBMISSION)
    earlier = engine.submit(session, world.consumer, "catalog_publication", title="目录A", subject_id=1)
    session.commit()
    freeze(dt.datetime(2026, 10, 12, 9, 0))
    items = inbox.inbox(session, world.authority_reviewer)
    assert [i.case.id for i in items] == [earlier.id, later.id]
    assert items[0].sla == "overdue" and items[1].sla == "on_time"
    assert {c.id for c in inbox.my_cases(session, world.consumer)} == {earlier.id, later.id}
    assert inbox.my_cases(session, world.provider_reviewer) == []


def test_visibility_followers_and_authority_see_others_do_not(session: Session, world: World) -> None:
    case = sharing_application(session, world)
    assert can_view(world.authority_reviewer, case) and can_view(world.consumer, case)
    assert not can_view(world.outsider, case)
    session.add(CaseFollower(case_id=case.id, user_id=world.outsider.user_id))
    session.commit()
    assert can_view(world.outsider, get_case(session, world.consumer, case.id))


def test_attachments_stored_by_digest_limited_and_read_only_by_viewers(
    session: Session, world: World
) -> None:
    case = sharing_application(session, world)
    row = attachments.attach(
        session, world.consumer, case.id, "../../场景说明.pdf", b"%PDF-1.7 scenario", "application/pdf"
    )
    session.commit()
    assert row.filename == "场景说明.pdf" and row.size == len(b"%PDF-1.7 scenario")
    got, content = attachments.read_attachment(session, world.provider_reviewer, row.id)
    assert content == b"%PDF-1.7 scenario" and got.sm3 == row.sm3
    with pytest.raises(NotFound):
        attachments.read_attachment(session, world.outsider, row.id)
    session.rollback()
    for payload, code in (
        (b"", "workflow.attachment_empty"),
        (b"x" * (attachments.MAX_ATTACHMENT_BYTES + 1), "workflow.attachment_too_large"),
    ):
        with pytest.raises(GongshuError) as err:
            attachments.attach(
                session, world.consumer, case.id, "big.bin", payload, "application/octet-stream"
            )
        assert err.value.code == code
        session.rollback()
    session.add(CaseFollower(case_id=case.id, user_id=world.outsider.user_id))
    session.commit()
    with pytest.raises(Forbidden) as follower:  # a follower may read but adds nothing
        attachments.attach(session, world.outsider, case.id, "x.txt", b"x", "text/plain")
    assert follower.value.code == "workflow.not_participant"
    session.rollback()
    review = attachments.attach(
        session, world.provider_reviewer, case.id, "审核意见.txt", "同意".encode(), "text/plain"
    )
    assert review.step_seq == 1
    session.commit()


def test_notifications_listed_and_marked_read_only_by_their_owner(session: Session, world: World) -> None:
    case = sharing_application(session, world)
    mine = notify.list_notifications(session, world.provider_reviewer, unread_only=True)
    assert len(mine) == 1 and mine[0].case_id == case.id and case.number in mine[0].message_zh
    assert notify.list_notifications(session, world.consumer) == []  # not told of their own submission
    engine.decide(session, world.provider_reviewer, case.id, "approve", "")
    session.commit()
    theirs = notify.list_notifications(session, world.consumer)
    with pytest.raises(NotFound):
        notify.mark_read(session, world.provider_reviewer, [theirs[0].id])
    session.rollback()
    assert notify.unread_count(session, world.consumer) == 1
    assert notify.mark_read(session, world.consumer, "all") == 1
    session.commit()
    assert notify.unread_count(session, world.consumer) == 0


def test_case_numbers_are_unique_under_concurrent_submissions(db_clean: str, world: World) -> None:
    numbers: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        try:
            for i in range(3):
                with db.session_scope(db_clean) as s:
                    case = engine.submit(
                        s,
                        world.consumer,
                        "sharing_application",
                        title=f"并发申请 {n}-{i}",
                        parties={"provider": world.provider_org.id},
                    )
                    number = case.number
                with lock:
                    numbers.append(number)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(numbers) == 12 and len(set(numbers)) == 12


def test_r17_a_decision_posted_again_says_when_it_was_taken_and_where_the_case_is(
    session: Session, world: World
) -> None:
    freeze(dt.datetime(2026, 9, 28, 10, 5))
    case = sharing_application(session, world)
    engine.decide(session, world.provider_reviewer, case.id, "approve", "")
    session.commit()
    before = counts(session)
    # The provider's browser posts its form again, after the case moved on to the authority.
    for decision in ("approve", "reject"):
        with pytest.raises(Conflict) as again:
            engine.decide(session, world.provider_reviewer, case.id, decision, "再次提交")
        err = again.value
        assert err.code == "workflow.already_decided" and err.status_code == 409
        assert err.message_zh.startswith("您已于 2026-09-28 10:05 办理本环节（数据提供单位审核：通过）")
        assert f"案件 {case.number} 已转至主管部门审核（市大数据管理局）" in err.message_zh
        assert err.message_en.startswith(
            "You already decided on 2026-09-28 10:05 (Provider review: approved)"
        )
        assert err.details["current_step"] == "authority_review" and err.details["decision"] == "approve"
        session.rollback()
    assert counts(session) == before
    # A colleague holding the provider's reviewer role is told the step was decided (not by them).
    colleague = identity.build_actor(
        session,
        identity.create_user(
            session,
            username="health.reviewer2",
            display_name="health.reviewer2",
            password=PASSWORD,
            org_code="health",
            roles=["reviewer"],
        ),
    )
    session.commit()
    with pytest.raises(Conflict) as theirs:
        engine.decide(session, colleague, case.id, "approve", "")
    assert theirs.value.code == "workflow.already_decided"
    assert theirs.value.message_zh.startswith("本环节已于 2026-09-28 10:05 办理")
    session.rollback()
    # Someone who never could decide a step of this case is still not the assignee.
    with pytest.raises(Forbidden) as stranger:
        engine.decide(session, world.provider_officer, case.id, "approve", "")
    assert stranger.value.code == "workflow.not_assignee"
    session.rollback()
    # Once the case is closed, every late decision hears that it is closed.
    engine.decide(session, world.authority_reviewer, case.id, "approve", "")
    session.commit()
    for actor in (world.provider_reviewer, world.authority_reviewer):
        with pytest.raises(Conflict) as closed:
            engine.decide(session, actor, case.id, "approve", "")
        assert closed.value.code == "workflow.case_closed"
        session.rollback()


def test_r17_reasons_longer_than_the_limit_are_refused_with_their_length(
    session: Session, world: World
) -> None:
    case = sharing_application(session, world)
    too_long = "理" * 20000
    before = counts(session)
    refusals = [
        lambda: engine.decide(session, world.provider_reviewer, case.id, "reject", too_long),
        lambda: engine.decide(session, world.provider_reviewer, case.id, "approve", too_long),
        lambda: engine.withdraw(session, world.consumer, case.id, too_long),
    ]
    for refuse in refusals:
        with pytest.raises(ValidationFailed) as err:
            refuse()
        assert err.value.code == "workflow.reasons_too_long" and err.value.field == "reasons"
        assert f"理由不能超过{engine.REASONS_MAX}字（现为20000字）" in err.value.message_zh
        assert err.value.details == {"max": engine.REASONS_MAX, "length": 20000}
        session.rollback()
    assert counts(session) == before
    engine.decide(session, world.provider_reviewer, case.id, "reject", "不符合条件")
    session.commit()
    with pytest.raises(ValidationFailed) as dispute:
        engine.escalate(session, world.consumer, case.id, too_long)
    assert dispute.value.code == "workflow.reasons_too_long" and "现为20000字" in dispute.value.message_zh
    session.rollback()
    assert session.get(Case, case.id).status == "rejected"  # type: ignore[union-attr]
    # Exactly the limit (surrounding spaces aside) is accepted.
    engine.escalate(session, world.consumer, case.id, "  " + "理" * engine.REASONS_MAX + "  ")
    session.commit()
    assert case.status == "in_review"


def test_r28_case_page_says_the_step_was_decided_and_keeps_overlong_reasons(
    session: Session, world: World
) -> None:
    from page_fixtures import page_client

    freeze(dt.datetime(2026, 9, 28, 10, 5))
    case = sharing_application(session, world)
    provider, csrf = page_client("health.reviewer", session=session)
    form = {"decision": "approve", "reasons": "", "csrf_token": csrf}
    first = provider.post(f"/cases/{case.id}/decision", data=form, follow_redirects=False)
    assert first.status_code == 303
    again = provider.post(f"/cases/{case.id}/decision", data=form)
    assert again.status_code == 409 and "workflow.already_decided" in again.text
    assert "您已于 2026-09-28 10:05 办理本环节" in again.text and "已转至主管部门审核" in again.text
    english, csrf_en = page_client("health.reviewer", "en", session=session)
    again_en = english.post(f"/cases/{case.id}/decision", data={**form, "csrf_token": csrf_en})
    assert again_en.status_code == 409 and "You already decided on 2026-09-28 10:05" in again_en.text
    applicant, csrf_a = page_client("transport.officer", session=session)
    long_reasons = "业务调整" * 600
    refused = applicant.post(
        f"/cases/{case.id}/withdraw", data={"reasons": long_reasons, "csrf_token": csrf_a}
    )
    assert refused.status_code == 422 and "workflow.reasons_too_long" in refused.text
    assert "理由不能超过2000字（现为2400字）" in refused.text and long_reasons in refused.text
