"""Holiday notices (国务院办公厅关于某年部分节假日安排的通知) as the operator loads them: parsing and
validation. Pure functions: nothing here touches the database.

File shape (YAML or JSON)::

    year: 2027
    title: 2027年部分节假日安排
    holidays:                      # days off: ranges, or single dates
      - {name: 元旦, from: 2027-01-01, to: 2027-01-03}
      - 2027-06-09
    workdays:                      # adjusted working weekend days (调休): dates, or {name, date}
      - 2027-02-20
      - {name: 春节调休, date: 2027-01-31}
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

import yaml

from gongshu.kernel.crypto.sm import sm3_hex
from gongshu.kernel.errors import ValidationFailed
from gongshu.kernel.parsing import parse_error_en, parse_error_zh

# Upload guard for a file that lists a few dozen dates; not a statutory number.
MAX_NOTICE_BYTES = 256 * 1024
MAX_TITLE_CHARS = 300
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TOP_KEYS = frozenset({"year", "title", "holidays", "workdays", "source", "note"})


@dataclass(frozen=True)
class NoticeData:
    """A validated notice: the year, its title, the sorted days off and adjusted working days, and the
    names given to them in the file (kept for the audit record)."""

    year: int
    title: str
    holidays: tuple[dt.date, ...]
    workdays: tuple[dt.date, ...]
    names: dict[str, str]

    def canonical(self) -> dict[str, Any]:
        """What is stored and what the digest covers."""
        return {
            "year": self.year,
            "title": self.title,
            "holidays": [d.isoformat() for d in self.holidays],
            "workdays": [d.isoformat() for d in self.workdays],
        }

    @property
    def digest(self) -> str:
        body = json.dumps(self.canonical(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return sm3_hex(body.encode("utf-8"))


def _invalid(code: str, field: str, value: Any, zh: str, en: str) -> ValidationFailed:
    shown = value.isoformat() if isinstance(value, dt.date) else value
    return ValidationFailed(
        code,
        f"节假日通知字段 {field} 有误（{shown!r}）：{zh}",
        f"Holiday notice field {field} is invalid ({shown!r}): {en}",
        field=field,
        details={"value": shown if isinstance(shown, str | int | float | bool | None) else repr(shown)},
    )


def parse_notice(raw: bytes, filename: str) -> dict[str, Any]:
    """Read an uploaded or local notice file (UTF-8, YAML or JSON by its name) into a mapping.
    Raises `clock.notice_unreadable` for an oversized, undecodable or malformed file."""

    def unreadable(zh: str, en: str) -> ValidationFailed:
        return ValidationFailed(
            "clock.notice_unreadable",
            f"节假日通知文件 {filename} 无法读取：{zh}",
            f"Holiday notice file {filename} cannot be read: {en}",
            field="file",
        )

    if len(raw) > MAX_NOTICE_BYTES:
        raise unreadable(f"文件超过 {MAX_NOTICE_BYTES} 字节", f"the file exceeds {MAX_NOTICE_BYTES} bytes")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise unreadable(f"不是 UTF-8 编码（第 {exc.start} 字节）", f"not UTF-8 (byte {exc.start})") from exc
    try:
        data = json.loads(text) if filename.lower().endswith(".json") else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise unreadable(
            f"格式错误：{parse_error_zh(exc, text)}", f"malformed: {parse_error_en(exc)}"
        ) from exc
    if not isinstance(data, dict):
        raise unreadable(
            "内容不是一个映射（应有 year、title、holidays、workdays）",
            "the content is not a mapping (expected year, title, holidays, workdays)",
        )
    return data


def _date(value: Any, field: str) -> dt.date:
    if isinstance(value, dt.datetime):
        raise _invalid(
            "clock.notice_invalid", field, value.isoformat(), "应为日期而非时刻", "expected a date"
        )
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value.strip()):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise _invalid(
        "clock.notice_invalid", field, value, "应为 YYYY-MM-DD 格式的日期", "expected a date as YYYY-MM-DD"
    )


def _in_year(day: dt.date, year: int, field: str) -> dt.date:
    if day.year != year:
        raise _invalid(
            "clock.notice_date_outside_year",
            field,
            day,
            f"日期不在 {year} 年内",
            f"the date is not in {year}",
        )
    return day


def _name(item: dict[str, Any], field: str) -> str:
    name = item.get("name", "")
    if not isinstance(name, str):
        raise _invalid("clock.notice_invalid", f"{field}.name", name, "名称应为文字", "a name must be text")
    return name.strip()


def _check_keys(item: dict[str, Any], allowed: set[str], field: str) -> None:
    for key in item:
        if key not in allowed:
            raise _invalid("clock.notice_invalid", f"{field}.{key}", key, "不认识的字段", "unknown field")


def _holiday_days(items: Any, year: int, names: dict[str, str]) -> list[dt.date]:
    if not isinstance(items, list) or not items:
        raise _invalid("clock.notice_invalid", "holidays", items, "应为非空列表", "expected a non-empty list")
    days: list[dt.date] = []
    seen: dict[dt.date, str] = {}
    for i, item in enumerate(items):
        field = f"holidays[{i}]"
        if isinstance(item, dict):
            _check_keys(item, {"name", "from", "to"}, field)
            if "from" not in item:
                raise _invalid(
                    "clock.notice_invalid", f"{field}.from", None, "缺少起始日期", "the first day is missing"
                )
            first = _in_year(_date(item["from"], f"{field}.from"), year, f"{field}.from")
            last = _in_year(_date(item.get("to", item["from"]), f"{field}.to"), year, f"{field}.to")
            if last < first:
                raise _invalid(
                    "clock.notice_range_invalid",
                    f"{field}.to",
                    last,
                    f"结束日期早于起始日期 {first.isoformat()}",
                    f"the last day is before the first day {first.isoformat()}",
                )
            name = _name(item, field)
        else:
            first = last = _in_year(_date(item, field), year, field)
            name = ""
        day = first
        while day <= last:
            if day in seen:
                raise _invalid(
                    "clock.notice_date_conflict",
                    field,
                    day,
                    f"日期与 {seen[day]} 重复",
                    f"the date repeats {seen[day]}",
                )
            seen[day] = field
            days.append(day)
            if name:
                names[day.isoformat()] = name
            day += dt.timedelta(days=1)
    return days


def _workdays(items: Any, year: int, holidays: set[dt.date], names: dict[str, str]) -> list[dt.date]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise _invalid("clock.notice_invalid", "workdays", items, "应为列表", "expected a list")
    days: list[dt.date] = []
    for i, item in enumerate(items):
        field = f"workdays[{i}]"
        name = ""
        if isinstance(item, dict):
            _check_keys(item, {"name", "date"}, field)
            name = _name(item, field)
            field, item = f"{field}.date", item.get("date")
        day = _in_year(_date(item, field), year, field)
        if day in holidays:
            raise _invalid(
                "clock.notice_date_conflict",
                field,
                day,
                "同一天既是放假日又是调休上班日",
                "the date is both a day off and an adjusted working day",
            )
        if day in days:
            raise _invalid(
                "clock.notice_date_conflict",
                field,
                day,
                "调休上班日重复",
                "the adjusted working day is listed twice",
            )
        if day.weekday() < 5:
            raise _invalid(
                "clock.notice_workday_not_weekend",
                field,
                day,
                "调休上班日必须是星期六或星期日",
                "an adjusted working day must be a Saturday or Sunday",
            )
        days.append(day)
        if name:
            names[day.isoformat()] = name
    return days


def validate_notice(data: Any) -> NoticeData:
    """Check a parsed notice strictly: every date in the stated year, valid ranges, no date both off and
    working, adjusted working days only on weekends. Raises a precise `clock.notice_*` error."""
    if not isinstance(data, dict):
        raise _invalid(
            "clock.notice_invalid", "notice", type(data).__name__, "应为映射", "expected a mapping"
        )
    _check_keys(data, set(_TOP_KEYS), "notice")
    year = data.get("year")
    if isinstance(year, bool) or not isinstance(year, int) or not dt.MINYEAR < year < dt.MAXYEAR:
        raise _invalid("clock.notice_invalid", "year", year, "应为四位数年份", "expected a year such as 2027")
    title = data.get("title")
    if not isinstance(title, str) or not title.strip() or len(title.strip()) > MAX_TITLE_CHARS:
        raise _invalid(
            "clock.notice_invalid",
            "title",
            title,
            f"应为 1–{MAX_TITLE_CHARS} 个字的标题",
            f"expected a title of 1–{MAX_TITLE_CHARS} characters",
        )
    names: dict[str, str] = {}
    holidays = _holiday_days(data.get("holidays"), year, names)
    workdays = _workdays(data.get("workdays"), year, set(holidays), names)
    return NoticeData(
        year=year,
        title=title.strip(),
        holidays=tuple(sorted(holidays)),
        workdays=tuple(sorted(workdays)),
        names=names,
    )
