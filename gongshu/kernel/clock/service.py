"""The working-day clock against the database: loaded holiday notices take precedence over the package,
deadlines are computed from them, and loading a notice recomputes the open deadlines it affects.

Periods in working days (R9, R14, R17, R23 ...) take their lengths from the policy (R30), never from code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, event, or_, select
from sqlalchemy.orm import Session

from gongshu.kernel.audit.service import record
from gongshu.kernel.clock.calendar import (
    Deadline,
    WorkingCalendar,
    YearDays,
    YearSource,
    notice_year,
)
from gongshu.kernel.clock.models import HolidayNotice
from gongshu.kernel.clock.notices import NoticeData, parse_notice, validate_notice
from gongshu.kernel.errors import NotFound
from gongshu.kernel.identity.actor import SYSTEM, Actor
from gongshu.kernel.identity.models import User
from gongshu.kernel.timeutil import now
from gongshu.kernel.workflow.models import CaseEvent, Step

__all__ = [
    "CalendarYear",
    "Deadline",
    "NoticeLoadReport",
    "WorkingCalendar",
    "add_working_days",
    "build_calendar",
    "calendar_for",
    "get_notice",
    "is_working_day",
    "list_notices",
    "load_notice",
    "load_notice_report",
    "parse_notice",
    "recompute_open_deadlines",
    "validate_notice",
    "working_days_between",
    "year_overview",
]

_CACHE_KEY = "gongshu.clock.calendar"


def _forget(session: Session, *_args: Any) -> None:
    session.info.pop(_CACHE_KEY, None)


def build_calendar(session: Session) -> WorkingCalendar:
    """A calendar from every loaded notice (read now, not cached)."""
    rows = session.scalars(select(HolidayNotice)).all()
    notices = {
        row.year: notice_year(
            row.year,
            (dt.date.fromisoformat(d) for d in row.holidays),
            (dt.date.fromisoformat(d) for d in row.workdays),
            row.title,
        )
        for row in rows
    }
    return WorkingCalendar(notices)


def calendar_for(session: Session) -> WorkingCalendar:
    """The calendar of this session, built once from the loaded notices and kept for the session's life
    (forgotten on rollback and whenever a notice is loaded through it)."""
    cal = session.info.get(_CACHE_KEY)
    if isinstance(cal, WorkingCalendar):
        return cal
    cal = build_calendar(session)
    session.info[_CACHE_KEY] = cal
    if not event.contains(session, "after_rollback", _forget):
        event.listen(session, "after_rollback", _forget)
    return cal


def add_working_days(session: Session, start: dt.date, n: int) -> Deadline:
    """R17 and every other period: the deadline of `n` working days from day 0 = `start`."""
    return calendar_for(session).add_working_days(start, n)


def is_working_day(session: Session, day: dt.date) -> tuple[bool, bool]:
    """(working, provisional) for one day."""
    return calendar_for(session).is_working_day(day)


def working_days_between(session: Session, a: dt.date, b: dt.date) -> int:
    """Working days after `a` up to and including `b` (negative when b is before a)."""
    return calendar_for(session).working_days_between(a, b)


def get_notice(session: Session, year: int) -> HolidayNotice | None:
    return session.get(HolidayNotice, year)


def list_notices(session: Session) -> list[HolidayNotice]:
    return list(session.scalars(select(HolidayNotice).order_by(HolidayNotice.year)).all())


@dataclass(frozen=True)
class CalendarYear:
    """A year as the clock sees it, for pages and the CLI."""

    year: int
    source: YearSource
    title: str
    holidays: tuple[tuple[dt.date, str], ...]
    workdays: tuple[tuple[dt.date, str], ...]
    digest: str | None = None
    loaded_at: dt.datetime | None = None


def _overview(days: YearDays, notice: HolidayNotice | None) -> CalendarYear:
    return CalendarYear(
        year=days.year,
        source=days.source,
        title=days.title,
        holidays=tuple((d, days.names.get(d, "")) for d in sorted(days.holidays)),
        workdays=tuple((d, days.names.get(d, "")) for d in sorted(days.workdays)),
        digest=notice.digest if notice else None,
        loaded_at=notice.loaded_at if notice else None,
    )


def year_overview(session: Session | None, year: int) -> CalendarYear:
    """The days off and adjusted working days of a year and where they come from. Without a session,
    the package only."""
    if session is None:
        return _overview(WorkingCalendar().year(year), None)
    notice = get_notice(session, year)
    return _overview(calendar_for(session).year(year), notice)


def _resolve_actor(session: Session, actor: Actor | None, user_id: int | None) -> tuple[Actor, int | None]:
    if actor is not None:
        return actor, user_id if user_id is not None else actor.user_id
    if user_id is None:
        return SYSTEM, None
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(
            "clock.user_not_found",
            f"用户 {user_id} 不存在",
            f"User {user_id} does not exist",
            field="user_id",
        )
    return Actor(user_id=user.id, username=user.username, org_id=user.organisation_id), user.id


@dataclass(frozen=True)
class NoticeLoadReport:
    """What loading a notice did: the stored notice, the digest it replaced (None for a first load) and
    how many open deadlines were recomputed."""

    notice: HolidayNotice
    replaced_digest: str | None
    deadlines_recomputed: int


def load_notice(
    session: Session,
    data: Mapping[str, Any] | bytes,
    user_id: int | None = None,
    *,
    actor: Actor | None = None,
    filename: str = "notice.yaml",
) -> HolidayNotice:
    """Load (or replace) the holiday notice of a year; see `load_notice_report`."""
    return load_notice_report(session, data, user_id, actor=actor, filename=filename).notice


def load_notice_report(
    session: Session,
    data: Mapping[str, Any] | bytes,
    user_id: int | None = None,
    *,
    actor: Actor | None = None,
    filename: str = "notice.yaml",
) -> NoticeLoadReport:
    """Load (or replace) the holiday notice of a year, audit it, and recompute the open deadlines it
    affects. `data` is a parsed notice or the raw bytes of a YAML/JSON file (`filename` tells which).
    Validates first: bad input raises a `clock.notice_*` error and stores nothing."""
    parsed = parse_notice(data, filename) if isinstance(data, bytes) else dict(data)
    notice: NoticeData = validate_notice(parsed)
    who, loaded_by = _resolve_actor(session, actor, user_id)

    row = session.get(HolidayNotice, notice.year)
    previous = row.digest if row is not None else None
    content = notice.canonical()
    if row is None:
        row = HolidayNotice(year=notice.year)
        session.add(row)
    row.title = notice.title
    row.holidays = content["holidays"]
    row.workdays = content["workdays"]
    row.digest = notice.digest
    row.loaded_by_user_id = loaded_by
    row.loaded_at = now()
    session.flush()
    _forget(session)

    changed = recompute_open_deadlines(session, notice.year)
    record(
        session,
        who,
        "clock.notice_replace" if previous is not None else "clock.notice_load",
        object_type="holiday_notice",
        object_id=notice.year,
        detail={
            "year": notice.year,
            "title": notice.title,
            "digest": notice.digest,
            "replaced_digest": previous,
            "holidays": len(notice.holidays),
            "workdays": len(notice.workdays),
            "names": notice.names,
            "deadlines_recomputed": changed,
        },
    )
    return NoticeLoadReport(notice=row, replaced_digest=previous, deadlines_recomputed=changed)


def recompute_open_deadlines(session: Session, year: int | None = None) -> int:
    """Recompute the due day of every active workflow step whose deadline is provisional or whose period
    [start_day, due_on] touches `year` (every active step when `year` is None), from start_day +
    working_days. Returns how many steps changed; each change is written to its case's history."""
    query = select(Step).where(
        Step.state == "active", Step.start_day.is_not(None), Step.working_days.is_not(None)
    )
    if year is not None:
        query = query.where(
            or_(
                Step.due_provisional.is_(True),
                Step.due_on.is_(None),
                and_(Step.start_day <= dt.date(year, 12, 31), Step.due_on >= dt.date(year, 1, 1)),
            )
        )
    cal = calendar_for(session)
    changed = 0
    for step in session.scalars(query.order_by(Step.id)).all():
        if step.start_day is None or step.working_days is None:
            continue
        deadline = cal.add_working_days(step.start_day, step.working_days)
        if step.due_on == deadline.due and step.due_provisional == deadline.provisional:
            continue
        old_due, old_provisional = step.due_on, step.due_provisional
        step.due_on, step.due_provisional = deadline.due, deadline.provisional
        if old_due != deadline.due:
            # Reminders refer to the due day: a new day gets its own reminders.
            step.due_soon_notified_at = None
            step.overdue_notified_at = None
        session.add(
            CaseEvent(
                case_id=step.case_id,
                event="deadline_recomputed",
                step_seq=step.seq,
                message=f"{old_due.isoformat() if old_due else '—'} → {deadline.due.isoformat()}",
                data={
                    "old_due": old_due.isoformat() if old_due else None,
                    "old_provisional": old_provisional,
                    "due": deadline.due.isoformat(),
                    "provisional": deadline.provisional,
                },
            )
        )
        changed += 1
    session.flush()
    return changed
