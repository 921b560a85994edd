"""Time: UTC instants in the database, Asia/Shanghai calendar dates for the working-day clock."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

CHINA = ZoneInfo("Asia/Shanghai")

_frozen: dt.datetime | None = None


def now() -> dt.datetime:
    """The current instant (timezone-aware UTC). Tests and the demo may freeze it."""
    if _frozen is not None:
        return _frozen
    return dt.datetime.now(dt.UTC)


def freeze(at: dt.datetime | None) -> None:
    """Freeze `now()` at an instant (None unfreezes). For tests and reproducible demos only."""
    global _frozen
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=CHINA)
    _frozen = at.astimezone(dt.UTC) if at is not None else None


def today_china(at: dt.datetime | None = None) -> dt.date:
    """The calendar date in China at an instant (default: now)."""
    return (at or now()).astimezone(CHINA).date()


def as_utc(value: dt.datetime) -> dt.datetime:
    """Read a datetime back from the database: SQLite drops the zone, so naive means UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def end_of_day_china(day: dt.date) -> dt.datetime:
    """The last instant of a calendar day in China, in UTC (a deadline ends at the end of its day)."""
    end = dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=CHINA)
    return end.astimezone(dt.UTC)
