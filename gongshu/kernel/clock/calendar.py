"""The working-day clock over the Chinese statutory calendar (法定节假日、调休).

Every statutory period in the regulation is counted in working days (R9, R14, R17, R23 ...). A day is a
working day when it is a Monday–Friday that is not a day off, or a weekend day declared an adjusted
working day (调休). Sources, by precedence for a year: a holiday notice loaded by the operator, then the
`chinesecalendar` package (which knows 2004–2026). A year that neither knows is counted Monday–Friday and
every answer that depends on it is *provisional* until the year's notice is loaded.

This module is pure (no database): a `WorkingCalendar` built without notices uses the package only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

from chinese_calendar import constants as _package

from gongshu.kernel.errors import ValidationFailed
from gongshu.kernel.timeutil import end_of_day_china

ONE_DAY = dt.timedelta(days=1)
# A guard against runaway loops from absurd input, not a statutory number (those come from the policy).
MAX_SPAN_DAYS = 366 * 50


class YearSource(StrEnum):
    """Where a year's holidays and adjusted working days come from."""

    NOTICE = "notice"  # a holiday notice loaded by the operator
    PACKAGE = "package"  # the chinesecalendar package
    PROVISIONAL = "provisional"  # nobody knows yet: counted Monday–Friday


@dataclass(frozen=True)
class YearDays:
    """The days off and the adjusted working days (调休) of one year, with their names where known."""

    year: int
    source: YearSource
    holidays: frozenset[dt.date]
    workdays: frozenset[dt.date]
    names: Mapping[dt.date, str]
    title: str = ""

    def is_working_day(self, day: dt.date) -> bool:
        return day in self.workdays or (day.weekday() < 5 and day not in self.holidays)


@dataclass(frozen=True)
class Deadline:
    """The last working day of a period (the period ends at the end of that day, China time) and whether
    it was computed over a year that has no holiday data yet (provisional, recomputed when it arrives)."""

    due: dt.date
    provisional: bool

    @property
    def ends_at(self) -> dt.datetime:
        """The last instant of the deadline day in China, as a UTC instant."""
        return end_of_day_china(self.due)

    def to_dict(self) -> dict[str, str | bool]:
        return {"due": self.due.isoformat(), "provisional": self.provisional}


@cache
def _package_years() -> dict[int, YearDays]:
    """The package's data, grouped by year once per process."""
    holidays: dict[int, set[dt.date]] = {}
    workdays: dict[int, set[dt.date]] = {}
    names: dict[int, dict[dt.date, str]] = {}
    for day, name in _package.holidays.items():
        holidays.setdefault(day.year, set()).add(day)
        names.setdefault(day.year, {})[day] = str(name)
    for day, name in _package.workdays.items():
        workdays.setdefault(day.year, set()).add(day)
        names.setdefault(day.year, {})[day] = str(name)
    first, last = min(holidays), max(holidays)
    return {
        year: YearDays(
            year=year,
            source=YearSource.PACKAGE,
            holidays=frozenset(holidays.get(year, ())),
            workdays=frozenset(workdays.get(year, ())),
            names=dict(names.get(year, {})),
        )
        for year in range(first, last + 1)
    }


def package_years() -> range:
    """The years the chinesecalendar package knows."""
    years = _package_years()
    return range(min(years), max(years) + 1)


def notice_year(
    year: int, holidays: Iterable[dt.date], workdays: Iterable[dt.date], title: str = ""
) -> YearDays:
    """A year's days as stated by a loaded holiday notice."""
    return YearDays(
        year=year,
        source=YearSource.NOTICE,
        holidays=frozenset(holidays),
        workdays=frozenset(workdays),
        names={},
        title=title,
    )


def _provisional_year(year: int) -> YearDays:
    return YearDays(year, YearSource.PROVISIONAL, frozenset(), frozenset(), {})


class WorkingCalendar:
    """R9/R14/R17/R23: working-day arithmetic. Day 0 is the day of submission; a period of N working
    days ends at the end of the Nth working day after it.

    `notices` maps a year to the days of its loaded holiday notice; a notice takes precedence over the
    package for its year. Without notices the calendar uses the package only (no database needed).
    """

    def __init__(self, notices: Mapping[int, YearDays] | None = None) -> None:
        self._notices: dict[int, YearDays] = dict(notices or {})
        self._years: dict[int, YearDays] = {}

    def year(self, year: int) -> YearDays:
        """The days of a year and where they come from (notice, package, or provisional)."""
        found = self._years.get(year)
        if found is None:
            found = self._notices.get(year) or _package_years().get(year) or _provisional_year(year)
            self._years[year] = found
        return found

    def source(self, year: int) -> YearSource:
        return self.year(year).source

    def is_working_day(self, day: dt.date) -> tuple[bool, bool]:
        """(working, provisional): whether `day` is a working day, and whether that is only a
        Monday–Friday guess because its year has no holiday data yet."""
        data = self.year(day.year)
        return data.is_working_day(day), data.source is YearSource.PROVISIONAL

    def add_working_days(self, start: dt.date, n: int) -> Deadline:
        """The deadline of a period of `n` working days starting on day 0 = `start`.

        With n = 0 the deadline is the start day itself. Provisional when any day counted after `start`
        (up to the deadline) lies in a year without holiday data.
        """
        _check_days(n)
        day, left, provisional = start, n, False
        while left > 0:
            day = _next(day, start)
            working, guessed = self.is_working_day(day)
            provisional = provisional or guessed
            if working:
                left -= 1
        return Deadline(due=day, provisional=provisional)

    def working_days_between(self, a: dt.date, b: dt.date) -> int:
        """The number of working days after `a` up to and including `b` (0 when b == a). When b is
        before a the count is negative: -(working days after b up to and including a), i.e. how many
        working days a deadline `b` is already overdue on day `a`."""
        if b < a:
            return -self.working_days_between(b, a)
        if (b - a).days > MAX_SPAN_DAYS:
            raise _span_error(a, b)
        count, day = 0, a
        while day < b:
            day += ONE_DAY
            if self.is_working_day(day)[0]:
                count += 1
        return count

    def is_provisional_between(self, a: dt.date, b: dt.date) -> bool:
        """Does any year touched by the days after `a` up to `b` lack holiday data?"""
        low, high = min(a, b), max(a, b)
        first = (low + ONE_DAY).year if low < high else low.year
        return any(self.source(y) is YearSource.PROVISIONAL for y in range(first, high.year + 1))


def _next(day: dt.date, start: dt.date) -> dt.date:
    if (day - start).days >= MAX_SPAN_DAYS or day == dt.date.max:
        raise _span_error(start, day)
    return day + ONE_DAY


def _check_days(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValidationFailed(
            "clock.invalid_working_days",
            f"工作日数必须是非负整数，收到：{n!r}",
            f"The number of working days must be a non-negative integer, got {n!r}",
            field="working_days",
            details={"value": repr(n)},
        )


def _span_error(a: dt.date, b: dt.date) -> ValidationFailed:
    return ValidationFailed(
        "clock.span_too_long",
        f"{a.isoformat()} 至 {b.isoformat()} 的期间过长，无法计算工作日",
        f"The period from {a.isoformat()} to {b.isoformat()} is too long to count working days",
        details={"from": a.isoformat(), "to": b.isoformat()},
    )
