"""The working-day clock: statutory holidays, adjusted working days (调休), loaded holiday notices,
provisional deadlines and their recomputation (R9, R14, R17, R23: periods in working days)."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.clock import service as clock
from gongshu.kernel.clock.calendar import WorkingCalendar, YearSource
from gongshu.kernel.clock.cli import app as calendar_cli
from gongshu.kernel.clock.models import HolidayNotice
from gongshu.kernel.errors import GongshuError
from gongshu.kernel.identity.models import Organisation
from gongshu.kernel.policy import service as policy
from gongshu.kernel.policy.models import PolicyVersion
from gongshu.kernel.workflow.models import Case, CaseEvent, Step

EXAMPLE_2027 = Path(__file__).resolve().parents[1] / "examples" / "holiday-notice-2027.yaml"
D = dt.date


def _notice(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "year": 2027,
        "title": "测试通知",
        "holidays": [{"name": "春节", "from": "2027-02-06", "to": "2027-02-14"}],
        "workdays": ["2027-02-20"],
    }
    base.update(changes)
    return base


def _count(session: Session, model: type[HolidayNotice] | type[AuditEntry]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


# --- the package calendar, no database ---------------------------------------------------------------


def test_r17_deadline_spans_national_day_2026() -> None:
    """Oct 1–7 off; Sep 30 is day 0; Oct 8, 9, 10 (adjusted Saturday), 12, 13 are days 1–5."""
    cal = WorkingCalendar()
    assert cal.add_working_days(D(2026, 9, 30), 5) == clock.Deadline(D(2026, 10, 13), False)
    assert cal.is_working_day(D(2026, 10, 10)) == (True, False)  # 调休 Saturday
    assert cal.is_working_day(D(2026, 9, 20)) == (True, False)  # 调休 Sunday
    assert cal.is_working_day(D(2026, 10, 5)) == (False, False)


def test_r17_deadline_spans_spring_festival_2026() -> None:
    """2026 Spring Festival: Feb 15–23 off, Saturdays Feb 14 and Feb 28 are adjusted working days."""
    cal = WorkingCalendar()
    assert cal.add_working_days(D(2026, 2, 13), 1).due == D(2026, 2, 14)
    assert cal.add_working_days(D(2026, 2, 13), 5).due == D(2026, 2, 27)
    assert cal.add_working_days(D(2026, 2, 13), 6).due == D(2026, 2, 28)
    assert cal.add_working_days(D(2026, 2, 14), 1).due == D(2026, 2, 24)


def test_r17_day_of_submission_is_day_zero() -> None:
    cal = WorkingCalendar()
    assert cal.add_working_days(D(2026, 3, 2), 0) == clock.Deadline(D(2026, 3, 2), False)
    assert cal.add_working_days(D(2026, 3, 6), 1).due == D(2026, 3, 9)  # Friday → Monday
    assert cal.add_working_days(D(2026, 3, 7), 1).due == D(2026, 3, 9)  # submitted on a Saturday


def test_r17_working_days_between_counts_after_a_up_to_b() -> None:
    cal = WorkingCalendar()
    assert cal.working_days_between(D(2026, 9, 30), D(2026, 10, 13)) == 5
    assert cal.working_days_between(D(2026, 10, 13), D(2026, 10, 13)) == 0
    assert cal.working_days_between(D(2026, 10, 14), D(2026, 10, 13)) == -1  # overdue by one
    assert cal.working_days_between(D(2026, 10, 1), D(2026, 10, 7)) == 0


def test_r17_year_without_data_counts_monday_to_friday_provisionally() -> None:
    cal = WorkingCalendar()
    assert cal.source(2027) is YearSource.PROVISIONAL
    # 2027-02-05 is a Friday; Mon–Fri guesses Feb 8, 9, 10, 11, 12.
    assert cal.add_working_days(D(2027, 2, 5), 5) == clock.Deadline(D(2027, 2, 12), True)
    assert cal.is_working_day(D(2027, 2, 8)) == (True, True)
    # A period that ends before the unknown year is not provisional; one that reaches into it is.
    assert cal.add_working_days(D(2026, 12, 28), 3) == clock.Deadline(D(2026, 12, 31), False)
    assert cal.add_working_days(D(2026, 12, 28), 4) == clock.Deadline(D(2027, 1, 1), True)


def test_r17_negative_working_days_refused() -> None:
    with pytest.raises(GongshuError) as caught:
        WorkingCalendar().add_working_days(D(2026, 1, 5), -1)
    assert caught.value.code == "clock.invalid_working_days"


# --- notices in the database -------------------------------------------------------------------------


def test_r17_policy_period_across_national_day(session: Session) -> None:
    """The period's length comes from the policy (R30), the calendar from the clock."""
    n = policy.at(session, D(2026, 9, 30)).working_days("sharing_review")
    assert clock.add_working_days(session, D(2026, 9, 30), n) == clock.Deadline(D(2026, 10, 13), False)


def test_r17_loading_2027_notice_makes_deadline_final_and_moves_it(session: Session) -> None:
    assert clock.add_working_days(session, D(2027, 2, 5), 6) == clock.Deadline(D(2027, 2, 15), True)
    row = clock.load_notice(session, EXAMPLE_2027.read_bytes(), filename=EXAMPLE_2027.name)
    session.commit()
    assert row.year == 2027 and "示例" in row.title and len(row.digest) == 64
    # Feb 6–14 off; Feb 15–19 are days 1–5 and Saturday Feb 20 (调休) is day 6.
    assert clock.add_working_days(session, D(2027, 2, 5), 6) == clock.Deadline(D(2027, 2, 20), False)
    assert clock.is_working_day(session, D(2027, 2, 8)) == (False, False)
    assert clock.working_days_between(session, D(2027, 2, 5), D(2027, 2, 20)) == 6
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "clock.notice_load")).one()
    assert entry.object_id == "2027" and entry.detail["digest"] == row.digest


def test_r17_notice_takes_precedence_over_package(session: Session) -> None:
    clock.load_notice(session, _notice(year=2026, holidays=["2026-03-02"], workdays=[]))
    session.commit()
    assert clock.is_working_day(session, D(2026, 3, 2)) == (False, False)
    assert clock.is_working_day(session, D(2026, 10, 5)) == (True, False)  # the notice says so
    assert clock.year_overview(session, 2026).source is YearSource.NOTICE


def test_r17_replacing_a_notice_is_audited(session: Session) -> None:
    clock.load_notice(session, _notice())
    session.commit()
    report = clock.load_notice_report(session, _notice(workdays=["2027-01-31"]))
    session.commit()
    assert report.replaced_digest is not None and report.replaced_digest != report.notice.digest
    assert _count(session, HolidayNotice) == 1
    assert clock.is_working_day(session, D(2027, 2, 20)) == (False, False)
    actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)).all()
    assert actions[-2:] == ["clock.notice_load", "clock.notice_replace"]


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"holidays": ["2028-01-01"]}, "clock.notice_date_outside_year", "holidays[0]"),
        ({"holidays": ["2027-02-30"]}, "clock.notice_invalid", "holidays[0]"),
        (
            {"holidays": [{"name": "x", "from": "2027-02-10", "to": "2027-02-06"}]},
            "clock.notice_range_invalid",
            "holidays[0].to",
        ),
        ({"workdays": ["2027-02-22"]}, "clock.notice_workday_not_weekend", "workdays[0]"),
        ({"workdays": ["2027-02-06"]}, "clock.notice_date_conflict", "workdays[0]"),
        ({"workdays": ["2026-12-26"]}, "clock.notice_date_outside_year", "workdays[0]"),
        ({"year": "2027"}, "clock.notice_invalid", "year"),
        ({"title": " "}, "clock.notice_invalid", "title"),
        ({"holidays": []}, "clock.notice_invalid", "holidays"),
        ({"workday": []}, "clock.notice_invalid", "notice.workday"),
    ],
)
def test_r17_bad_notice_is_refused_and_stores_nothing(
    session: Session, changes: dict[str, object], code: str, field: str
) -> None:
    before = _count(session, AuditEntry)
    with pytest.raises(GongshuError) as caught:
        clock.load_notice(session, _notice(**changes))
    session.rollback()
    assert (caught.value.code, caught.value.field) == (code, field)
    assert caught.value.message_zh and caught.value.message_en
    assert _count(session, HolidayNotice) == 0 and _count(session, AuditEntry) == before
    assert clock.is_working_day(session, D(2027, 2, 8)) == (True, True)


@pytest.mark.parametrize(
    ("raw", "filename"),
    [
        (b"year: [2027\n", "n.yaml"),
        (b"\xff\xfe\x00", "n.yaml"),
        (b'{"year": 2027,}', "n.json"),
        (b"- 2027\n", "n.yml"),
    ],
)
def test_r17_unreadable_notice_file_is_refused(raw: bytes, filename: str) -> None:
    with pytest.raises(GongshuError) as caught:
        clock.parse_notice(raw, filename)
    assert caught.value.code == "clock.notice_unreadable"


def test_r17_notice_file_in_json_is_accepted() -> None:
    raw = json.dumps(_notice(), ensure_ascii=False).encode("utf-8")
    data = clock.validate_notice(clock.parse_notice(raw, "notice.json"))
    assert data.workdays == (D(2027, 2, 20),) and len(data.holidays) == 9


# --- open deadlines are recomputed -------------------------------------------------------------------


def _step(
    session: Session, case: Case, seq: int, state: str, start: dt.date, due: dt.date, prov: bool
) -> Step:
    step = Step(
        case_id=case.id,
        seq=seq,
        name=f"review{seq}",
        assignee_org_id=case.applicant_org_id,
        assignee_role="reviewer",
        state=state,
        working_days=5,
        start_day=start,
        due_on=due,
        due_provisional=prov,
    )
    session.add(step)
    return step


def test_r17_recompute_open_deadlines_after_notice(session: Session) -> None:
    org = Organisation(code="dept-test", name_zh="测试局", kind="department")
    session.add(org)
    session.flush()
    version = session.scalars(select(PolicyVersion.id)).first()
    assert version is not None
    case = Case(
        number="T-1",
        kind="sharing_application",
        policy_version_id=version,
        title="测试",
        applicant_org_id=org.id,
    )
    session.add(case)
    session.flush()
    open_2027 = _step(session, case, 1, "active", D(2027, 2, 5), D(2027, 2, 12), True)
    done_2027 = _step(session, case, 2, "done", D(2027, 2, 5), D(2027, 2, 12), True)
    open_2026 = _step(session, case, 3, "active", D(2026, 9, 30), D(2026, 10, 13), False)
    session.commit()

    report = clock.load_notice_report(session, EXAMPLE_2027.read_bytes(), filename=EXAMPLE_2027.name)
    session.commit()
    assert report.deadlines_recomputed == 1
    assert (open_2027.due_on, open_2027.due_provisional) == (D(2027, 2, 19), False)
    assert (done_2027.due_on, done_2027.due_provisional) == (D(2027, 2, 12), True)
    assert (open_2026.due_on, open_2026.due_provisional) == (D(2026, 10, 13), False)
    event = session.scalars(select(CaseEvent).where(CaseEvent.event == "deadline_recomputed")).one()
    assert event.step_seq == 1 and event.data["due"] == "2027-02-19"
    assert clock.recompute_open_deadlines(session) == 0


# --- the command line --------------------------------------------------------------------------------


def test_r17_cli_deadline_json(db_clean: str) -> None:
    result = CliRunner().invoke(
        calendar_cli, ["deadline", "--from", "2026-09-30", "--working-days", "5", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == '{"due": "2026-10-13", "provisional": false}\n'


def test_r17_cli_load_then_deadline_and_show(db_clean: str, tmp_path: Path) -> None:
    runner = CliRunner()
    loaded = runner.invoke(calendar_cli, ["load", str(EXAMPLE_2027)])
    assert loaded.exit_code == 0, loaded.output
    result = runner.invoke(
        calendar_cli, ["deadline", "--from", "2027-02-05", "--working-days", "6", "--json"]
    )
    assert json.loads(result.stdout) == {"due": "2027-02-20", "provisional": False}
    shown = runner.invoke(calendar_cli, ["show", "--year", "2027", "--json"])
    assert json.loads(shown.stdout)["source"] == "notice"
    bad = tmp_path / "bad.yaml"
    bad.write_text("year: 2027\ntitle: x\nholidays: [2027-01-01]\nworkdays: [2027-02-22]\n", encoding="utf-8")
    refused = runner.invoke(calendar_cli, ["load", str(bad)])
    assert refused.exit_code == 2 and "clock.notice_workday_not_weekend" in refused.stderr


@pytest.mark.parametrize(
    ("raw", "filename", "place"),
    [
        (b"year: 2027\ntitle: a\x00b\n", "n.yaml", "第 2 行第 9 列"),
        (b'{"year": 2027,\n "x": }', "n.json", "第 2 行第 7 列"),
    ],
)
def test_r17_unreadable_notice_is_told_in_chinese_with_its_place(
    raw: bytes, filename: str, place: str
) -> None:
    """The Chinese message names the line and column; the parser's English stays in the English one."""
    with pytest.raises(GongshuError) as caught:
        clock.parse_notice(raw, filename)
    told = caught.value.message_zh.split("格式错误：", 1)[1]
    assert told.startswith(place)
    assert not re.search(r"[A-Za-z]{3,}", told)
    assert "malformed:" in caught.value.message_en
