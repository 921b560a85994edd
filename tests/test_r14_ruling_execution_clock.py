"""R14 with R15 R17: a ruling that upheld a disputed objection binds the provider to correct the record
within the objection's own reply period (the policy's `objection_reply`, counted in working days from the
day of the ruling). The provider is told the due day when the ruling is made; the objector's, the
provider's and the authority's pages show it; the SLA sweep tells them once when it falls due soon and
flags a ruling not executed by then to the authority once, as it flags an overdue objection (R28); the
authority lists the rulings awaiting execution, overdue first (a provider's data officers, their own)."""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path
from typing import Any

import pytest
import yaml
from page_fixtures import page_client
from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from store_fixtures import EVIDENCE_PDF, dispute_city

from gongshu.kernel import db
from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.clock import service as clock
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.policy import service as policy
from gongshu.kernel.timeutil import freeze
from gongshu.kernel.workflow import engine, sla
from gongshu.kernel.workflow.models import Case, CaseEvent, Notification
from gongshu.kernel.workflow.steps import policy_of
from gongshu.quality import objections, rulings

# A Thursday: the five working days run over the adjusted working Sunday 2025-09-28 and the National Day
# holidays (2025-10-01 to 10-08) to 2025-10-09.
RULED = dt.datetime(2025, 9, 25, 10, 0)
DUE = dt.date(2025, 10, 9)


@pytest.fixture()
def c(session: Session, tmp_path: Path, db_clean: str) -> dict[str, Any]:
    return dispute_city(session, tmp_path, db_clean)


def _upheld(c: dict[str, Any], field: str = "full_name", claimed: str = "章零") -> int:
    """Filed, refused by the provider, disputed by the objector, upheld by the coordinator: a ruling."""
    with session_scope() as s:
        case_id = objections.file_objection(
            s,
            c["citizen"],
            c["code"],
            field=field,
            claimed_value=claimed,
            evidence=("证明.pdf", EVIDENCE_PDF),
        ).id
    with session_scope() as s:
        objections.reject_objection(s, c["civil_clerk"], case_id, "以档案记载为准")
    with session_scope() as s:
        engine.escalate(s, c["citizen"], case_id, "请主管部门协调")
    with session_scope() as s:
        engine.decide(s, c["coordinator"], case_id, "approve", "证明材料充分，异议成立")
    return case_id


def _clock(case_id: int, at: dt.datetime | None = None) -> rulings.RulingClock:
    with read_scope() as s:
        case = s.get(Case, case_id)
        assert case is not None
        found = rulings.clock_of(s, case, at)
        assert found is not None
        return found


def _notes(user_id: int | None, kind: str, case_id: int) -> list[Notification]:
    with read_scope() as s:
        rows = s.scalars(
            select(Notification).where(
                Notification.user_id == user_id, Notification.kind == kind, Notification.case_id == case_id
            )
        ).all()
        s.expunge_all()
        return list(rows)


def _china(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=dt.timezone(dt.timedelta(hours=8)))


def test_r14_upheld_ruling_execution_has_due_date(c: dict[str, Any]) -> None:
    freeze(RULED)
    case_id = _upheld(c)
    with read_scope() as s:
        case = s.get(Case, case_id)
        assert case is not None
        # the number is the policy's (the objection's own reply period), from the version the case keeps
        reply = policy_of(s, case).working_days("objection_reply")
        assert case.steps[0].working_days == reply
        ruling = objections.ruling_of(s, case)
    clock_ = _clock(case_id)
    assert (clock_.start_day, clock_.working_days, clock_.due_on) == (RULED.date(), reply, DUE)
    assert not clock_.provisional and clock_.executed_at is None
    assert (clock_.state, clock_.days_left) == ("on_time", 5)
    assert ruling is not None and ruling.clock == clock_
    with read_scope() as s:  # the objector's list carries it too
        mine = objections.my_objections(s, c["citizen"])
        assert [(o["stage"], o["clock"]) for o in mine] == [("ruling_pending", clock_)]

    # the provider's data officers are told by when, when the ruling is made
    told = _notes(c["civil_clerk"].user_id, "ruling_upheld", case_id)
    assert len(told) == 1 and told[0].link == f"/data/objections/{case_id}"
    assert f"请于 {DUE.isoformat()} 前（{reply} 个工作日）在异议处理页面执行更正" in told[0].message_zh
    assert f"by {DUE.isoformat()} ({reply} working days)" in told[0].message_en

    # the last day is due soon; after its end the ruling is overdue
    assert _clock(case_id, _china(DUE, 9)).state == "due_soon"
    assert _clock(case_id, _china(DUE, 23)).state == "due_soon"
    assert _clock(case_id, _china(DUE + dt.timedelta(days=1), 0)).state == "overdue"

    # executed: the clock stops (no state any more), the due day stays as it was
    freeze(_china(DUE, 11))
    objections.execute_ruling(c["civil_clerk"], case_id)
    done = _clock(case_id, _china(DUE + dt.timedelta(days=30), 9))
    assert done.due_on == DUE and done.state is None and done.executed_at == _china(DUE, 11)
    with read_scope() as s:
        assert objections.my_objections(s, c["citizen"])[0]["clock"] is None


def test_r14_ruling_execution_period_comes_from_the_policy(c: dict[str, Any], session: Session) -> None:
    """R30: a successor policy with another reply period gives its cases that period, for the provider's
    first reply and for the ruling's execution alike."""
    raw = yaml.safe_load(policy.SHIPPED.read_text(encoding="utf-8"))
    raw.update(id="successor-r14-2026", effective_from=dt.date(2026, 1, 1), effective_to=None)
    raw["deadlines"]["objection_reply"]["working_days"] = 3
    policy.load(session, policy.parse_policy(yaml.safe_dump(raw, allow_unicode=True)))
    session.commit()
    freeze(dt.datetime(2026, 3, 2, 10, 0))  # a Monday
    case_id = _upheld(c)
    with read_scope() as s:
        case = s.get(Case, case_id)
        assert case is not None and case.policy_version_id == "successor-r14-2026"
        assert case.steps[0].working_days == 3
    clock_ = _clock(case_id)
    assert (clock_.working_days, clock_.due_on) == (3, dt.date(2026, 3, 5))


def test_r14_ruling_due_date_counts_a_holiday_notice_loaded_later(c: dict[str, Any]) -> None:
    """A due day in a year the calendar does not know is counted Monday to Friday and marked provisional;
    once the year's notice is loaded, the ruling's due day follows it (nothing to recompute by hand)."""
    freeze(dt.datetime(2026, 12, 28, 10, 0))
    case_id = _upheld(c)
    before = _clock(case_id)
    assert (before.due_on, before.provisional) == (dt.date(2027, 1, 4), True)
    told = _notes(c["civil_clerk"].user_id, "ruling_upheld", case_id)
    assert "请于 2027-01-04 前（5 个工作日，暂按周一至周五计算）" in told[0].message_zh
    with session_scope() as s:
        clock.load_notice(
            s,
            {
                "year": 2027,
                "title": "2027年部分节假日安排",
                "holidays": [{"name": "元旦", "from": "2027-01-01", "to": "2027-01-01"}],
                "workdays": [],
            },
        )
    after = _clock(case_id)
    assert (after.due_on, after.provisional) == (dt.date(2027, 1, 5), False)


def test_r14_unexecuted_ruling_past_due_is_flagged_to_the_authority(c: dict[str, Any]) -> None:
    freeze(RULED)
    late = _upheld(c)
    kept = _upheld(c, "children", "2")  # a second ruling, executed in time: never flagged
    objections.execute_ruling(c["civil_clerk"], kept)
    with session_scope() as s:  # the last day of the period: nothing is overdue yet (only due soon)
        last_day = sla.sweep(s, at=_china(DUE, 23))
        assert (last_day.overdue_cases, last_day.due_soon_cases) == ((), (late,))

    with session_scope() as s:
        flagged = sla.sweep(s, at=_china(DUE + dt.timedelta(days=1), 9))
    assert flagged.overdue_cases == (late,) and flagged.notifications >= 3
    with read_scope() as s:
        number = s.get(Case, late).number  # type: ignore[union-attr]
    for who in ("reviewer", "civil_clerk", "citizen"):  # the authority, the provider, the objector
        notes = _notes(c[who].user_id, "overdue", late)
        assert len(notes) == 1, who
        assert f"案件 {number}" in notes[0].message_zh, who
        assert f"数据提供单位执行裁定更正已超期（期限 {DUE.isoformat()}）" in notes[0].message_zh, who
        assert f"the provider's correction as ruled is overdue (due {DUE.isoformat()})" in notes[0].message_en
        assert not _notes(c[who].user_id, "overdue", kept), who
    with read_scope() as s:
        events = s.scalars(
            select(CaseEvent).where(CaseEvent.case_id == late, CaseEvent.event == "overdue")
        ).all()
        assert [e.data for e in events] == [{"due": DUE.isoformat(), "step": "ruling_execution"}]
        audit = s.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "workflow.overdue", AuditEntry.object_id == str(late)
            )
        ).one()
        assert audit.detail["step"] == "ruling_execution" and audit.detail["number"] == number

    with session_scope() as s:  # flagged once
        assert sla.sweep(s, at=_china(DUE + dt.timedelta(days=5), 9)) == sla.SweepResult()
    assert len(_notes(c["reviewer"].user_id, "overdue", late)) == 1


def test_r14_ruling_due_date_and_overdue_flag_show_on_the_objection_pages(c: dict[str, Any]) -> None:
    freeze(RULED)
    case_id = _upheld(c)
    due = DUE.isoformat()

    # before the due day: the due day, on time
    officer = page_client("civil_clerk")[0]
    handling = officer.get(f"/data/objections/{case_id}").text
    assert 'data-testid="ruling-due" data-sla="on_time"' in handling
    assert f"请于 {due} 前执行裁定更正（自裁定之日起 5 个工作日）。" in handling

    freeze(_china(DUE + dt.timedelta(days=1), 9))
    with session_scope() as s:
        sla.sweep(s)

    # the objector: my objections and the case page
    person = page_client("citizen")[0]
    mine = person.get("/my/data").text
    assert 'data-testid="ruling-due" data-sla="overdue"' in mine and f"更正期限 {due}" in mine
    assert 'data-sla="overdue">已超期<' in mine
    page = person.get(f"/cases/{case_id}").text
    assert 'data-testid="ruling-due" data-sla="overdue"' in page and "自裁定之日起 5 个工作日" in page
    assert f'<span class="nowrap">{due}</span>' in page and 'data-sla="overdue">已超期<' in page
    assert 'data-event="overdue"' in page  # the case's history

    # the provider's handling page, in both languages
    officer = page_client("civil_clerk")[0]
    handling = officer.get(f"/data/objections/{case_id}").text
    assert (
        'data-testid="ruling-due" data-sla="overdue"' in handling and 'data-sla="overdue">已超期<' in handling
    )
    english = page_client("civil_clerk", "en")[0].get(f"/data/objections/{case_id}").text
    assert f"Execute the ruling by {due} (5 working days from the ruling)." in english
    assert 'data-sla="overdue">Overdue<' in english

    # the authority: its notifications list the overdue ruling; the case page shows it overdue
    reviewer = page_client("reviewer")[0]
    listed = reviewer.get("/notifications").text
    assert f"数据提供单位执行裁定更正已超期（期限 {due}）" in listed
    supervising = page_client("coordinator")[0].get(f"/cases/{case_id}").text
    assert 'data-testid="ruling-due" data-sla="overdue"' in supervising

    # executed: no due day and no flag any more
    objections.execute_ruling(c["civil_clerk"], case_id)
    assert 'data-testid="ruling-due"' not in officer.get(f"/data/objections/{case_id}").text
    assert 'data-testid="ruling-due"' not in person.get("/my/data").text
    assert 'data-testid="ruling-due"' not in person.get(f"/cases/{case_id}").text


def test_r14_migration_gives_earlier_rulings_their_clock(c: dict[str, Any], db_clean: str) -> None:
    """Rulings upheld before the clock existed get it from the case (day 0: the ruling's day; the working
    days: the case's policy); executed ones are marked executed; none gets two."""
    path = next(Path(__file__).resolve().parents[1].glob("gongshu/migrations/versions/87d76fd42a8d_*.py"))
    spec = importlib.util.spec_from_file_location("ruling_clock_migration", path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)

    freeze(RULED)
    pending = _upheld(c)
    executed = _upheld(c, "children", "2")
    objections.execute_ruling(c["civil_clerk"], executed)
    with session_scope() as s:
        s.execute(delete(rulings.RulingExecution))
    with db.get_engine(db_clean).begin() as conn:
        assert migration.backfill(conn) == 2
        assert migration.backfill(conn) == 0
    assert (_clock(pending).start_day, _clock(pending).due_on, _clock(pending).state) == (
        RULED.date(),
        DUE,
        "on_time",
    )
    assert _clock(executed).executed_at is not None and _clock(executed).state is None


# ---- due soon (R14 R28) ------------------------------------------------------------------------------------

# The working day before the due day: 2025-10-01 to 10-08 are the National Day holidays, so on 09-30 one
# working day (10-09) is left and the ruling is due soon; on 09-29 two are left and it is on time.
ON_TIME = dt.date(2025, 9, 29)
DUE_SOON = dt.date(2025, 9, 30)


def test_r14_ruling_due_soon_is_notified_once_and_never_after_execution(c: dict[str, Any]) -> None:
    freeze(RULED)
    pending = _upheld(c)
    kept = _upheld(c, "children", "2")  # executed before it fell due: never told
    objections.execute_ruling(c["civil_clerk"], kept)
    with session_scope() as s:
        assert sla.sweep(s, at=_china(ON_TIME, 9)) == sla.SweepResult()

    with session_scope() as s:
        soon = sla.sweep(s, at=_china(DUE_SOON, 9))
    assert (soon.due_soon_cases, soon.overdue_cases) == ((pending,), ())
    assert (soon.due_soon, soon.overdue) == ((), ()) and soon.notifications >= 3
    with read_scope() as s:
        number = s.get(Case, pending).number  # type: ignore[union-attr]
    # the same people as the overdue flag: the authority, the provider, the objector
    for who in ("reviewer", "civil_clerk", "citizen"):
        notes = _notes(c[who].user_id, "due_soon", pending)
        assert len(notes) == 1, who
        assert f"案件 {number}" in notes[0].message_zh, who
        assert f"数据提供单位执行裁定更正即将到期（期限 {DUE.isoformat()}）" in notes[0].message_zh, who
        assert (
            f"the provider's correction as ruled is due soon (due {DUE.isoformat()})" in notes[0].message_en
        )
        assert not _notes(c[who].user_id, "due_soon", kept), who
        assert not _notes(c[who].user_id, "overdue", pending), who
    with read_scope() as s:
        events = s.scalars(
            select(CaseEvent).where(CaseEvent.case_id == pending, CaseEvent.event == "due_soon")
        ).all()
        assert [e.data for e in events] == [{"due": DUE.isoformat(), "step": "ruling_execution"}]
        audit = s.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "workflow.due_soon", AuditEntry.object_id == str(pending)
            )
        ).one()
        assert audit.detail["step"] == "ruling_execution" and audit.detail["number"] == number
        row = s.get(rulings.RulingExecution, pending)
        assert row is not None and row.due_soon_notified_at == _china(DUE_SOON, 9)
        assert row.overdue_notified_at is None

    with session_scope() as s:  # not again on the next sweeps, the due day included
        assert sla.sweep(s, at=_china(DUE_SOON, 15)) == sla.SweepResult()
        assert sla.sweep(s, at=_china(DUE, 9)) == sla.SweepResult()
    assert len(_notes(c["reviewer"].user_id, "due_soon", pending)) == 1

    # past the due day it is flagged overdue, once, and not told due soon again
    with session_scope() as s:
        late = sla.sweep(s, at=_china(DUE + dt.timedelta(days=1), 9))
    assert (late.overdue_cases, late.due_soon_cases) == ((pending,), ())
    assert len(_notes(c["reviewer"].user_id, "overdue", pending)) == 1
    assert len(_notes(c["reviewer"].user_id, "due_soon", pending)) == 1


def test_r14_ruling_executed_once_due_soon_is_not_flagged_again(c: dict[str, Any]) -> None:
    freeze(RULED)
    case_id = _upheld(c)
    with session_scope() as s:
        assert sla.sweep(s, at=_china(DUE_SOON, 9)).due_soon_cases == (case_id,)
    freeze(_china(DUE_SOON, 11))
    objections.execute_ruling(c["civil_clerk"], case_id)
    with session_scope() as s:
        assert sla.sweep(s, at=_china(DUE, 9)) == sla.SweepResult()
        assert sla.sweep(s, at=_china(DUE + dt.timedelta(days=3), 9)) == sla.SweepResult()
    assert not _notes(c["reviewer"].user_id, "overdue", case_id)


def test_r14_migration_counts_an_overdue_ruling_as_told_due_soon(c: dict[str, Any], db_clean: str) -> None:
    """A ruling flagged overdue before the due-soon notice existed is not told due soon afterwards: the
    migration marks it told at the overdue flag's time (once); a ruling not yet flagged stays unmarked."""
    path = next(Path(__file__).resolve().parents[1].glob("gongshu/migrations/versions/232fb63c518b_*.py"))
    spec = importlib.util.spec_from_file_location("ruling_due_soon_migration", path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)

    freeze(RULED)
    flagged = _upheld(c)
    with session_scope() as s:
        assert sla.sweep(s, at=_china(DUE + dt.timedelta(days=1), 9)).overdue_cases == (flagged,)
    freeze(_china(DUE + dt.timedelta(days=1), 10))
    waiting = _upheld(c, "children", "2")
    with session_scope() as s:
        for row in s.scalars(select(rulings.RulingExecution)):
            row.due_soon_notified_at = None
    with db.get_engine(db_clean).begin() as conn:
        assert migration.backfill(conn) == 1
        assert migration.backfill(conn) == 0
    with read_scope() as s:
        told = s.get(rulings.RulingExecution, flagged)
        assert told is not None and told.due_soon_notified_at == told.overdue_notified_at is not None
        assert s.get(rulings.RulingExecution, waiting).due_soon_notified_at is None  # type: ignore[union-attr]


# ---- the authority's list (R14 R28) ----------------------------------------------------------------------

# A ruling of 2025-10-09 is due 2025-10-15: 10-10, the adjusted working Saturday 10-11, 10-13, 10-14, 10-15.
LATER_RULED = _china(DUE, 10)
LATER_DUE = dt.date(2025, 10, 15)
VIEWED = _china(DUE + dt.timedelta(days=1), 9)  # Friday 2025-10-10


def _rows(html: str, testid: str) -> list[str]:
    """The case numbers of a table's rows, in the page's order."""
    import re

    return re.findall(rf'data-testid="{testid}" data-case="([^"]+)"', html)


def _three_rulings(c: dict[str, Any]) -> tuple[int, int, int]:
    """One overdue (ruled 09-25, due 10-09), one on time (ruled 10-09, due 10-15), one executed in time."""
    freeze(RULED)
    overdue = _upheld(c)
    executed = _upheld(c, "children", "2")
    objections.execute_ruling(c["civil_clerk"], executed)
    freeze(LATER_RULED)
    on_time = _upheld(c, "allowance", "20.5")
    freeze(VIEWED)
    return overdue, on_time, executed


def _numbers(*case_ids: int) -> list[str]:
    with read_scope() as s:
        return [s.get(Case, i).number for i in case_ids]  # type: ignore[union-attr]


def test_r14_rulings_awaiting_execution_are_listed_for_the_authority_overdue_first(c: dict[str, Any]) -> None:
    overdue, on_time, executed = _three_rulings(c)
    n_overdue, n_on_time, n_executed = _numbers(overdue, on_time, executed)

    reviewer = page_client("reviewer")[0]
    resp = reviewer.get("/data/rulings")
    assert resp.status_code == 200
    page = resp.text
    assert "<h1>待执行裁定</h1>" in page and 'data-testid="nav-objections"' in page
    assert _rows(page, "ruling-row") == [n_overdue, n_on_time]
    assert _rows(page, "executed-row") == [n_executed]
    first, second = page.split('data-testid="ruling-row"')[1:3]
    assert f'data-case="{n_overdue}" data-sla="overdue"' in first
    assert f'<a href="/cases/{overdue}" data-testid="ruling-case-link">{n_overdue}</a>' in first
    assert "婚姻登记信息" in first and "市民政局" in first
    assert RULED.date().isoformat() in first and f'<span class="nowrap">{DUE.isoformat()}</span>' in first
    assert 'data-sla="overdue">已超期<' in first and 'data-testid="days-left">-1<' in first
    assert f'data-case="{n_on_time}" data-sla="on_time"' in second
    assert DUE.isoformat() in second and f'<span class="nowrap">{LATER_DUE.isoformat()}</span>' in second
    assert 'data-sla="on_time">正常<' in second and 'data-testid="days-left">4<' in second
    assert 'data-late="false"' in page and "按期执行" in page
    assert "/data/objections/" not in page  # the authority supervises; the provider executes

    # executed after the due day: off the pending list, marked late among the executed
    objections.execute_ruling(c["civil_clerk"], overdue)
    page = reviewer.get("/data/rulings").text
    assert _rows(page, "ruling-row") == [n_on_time]
    assert _rows(page, "executed-row") == [n_overdue, n_executed]
    assert f'data-case="{n_overdue}" data-late="true"' in page and "逾期执行" in page

    english = page_client("reviewer", "en")[0].get("/data/rulings").text
    assert "<h1>Rulings awaiting execution</h1>" in english
    assert 'data-sla="on_time">On time<' in english and "Executed after the due day" in english
    assert "Ruled on" in english and "Working days left" in english


def test_r14_rulings_list_is_the_providers_own_and_nobody_elses(c: dict[str, Any]) -> None:
    overdue, on_time, executed = _three_rulings(c)
    numbers = _numbers(overdue, on_time, executed)

    # the provider's data officer: its own organisation's rulings, with the way to execute them
    own = page_client("civil_clerk")[0].get("/data/rulings")
    assert own.status_code == 200
    assert _rows(own.text, "ruling-row") == numbers[:2] and _rows(own.text, "executed-row") == numbers[2:]
    assert (
        f'href="/data/objections/{overdue}"' in own.text and f'href="/data/objections/{on_time}"' in own.text
    )
    assert f'href="/data/objections/{executed}"' not in own.text

    # another department's data officer: its own (none), nothing of the civil affairs bureau's
    other = page_client("police_clerk")[0].get("/data/rulings")
    assert other.status_code == 200
    assert _rows(other.text, "ruling-row") == [] and _rows(other.text, "executed-row") == []
    assert "暂无待执行的裁定" in other.text and not any(n in other.text for n in numbers)

    # the objector and an officer without a data role: refused, and no case shown
    for who in ("citizen", "police_officer"):
        client = page_client(who)[0]
        refused = client.get("/data/rulings")
        assert refused.status_code == 403, who
        assert not any(n in refused.text for n in numbers), who
        assert 'data-testid="nav-objections"' not in client.get("/").text, who
