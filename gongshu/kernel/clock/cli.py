"""CLI commands of the kernel's clock module (`gongshu calendar ...`): deadlines in working days,
loading holiday notices, and showing what the clock knows about a year."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import typer
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from gongshu.kernel.clock import service
from gongshu.kernel.clock.calendar import WorkingCalendar, YearSource
from gongshu.kernel.config import get_settings
from gongshu.kernel.errors import GongshuError
from gongshu.kernel.timeutil import today_china

app = typer.Typer(no_args_is_help=True, help="Working-day clock: deadlines, holiday notices")

T = TypeVar("T")

_SOURCE_LABEL = {
    YearSource.NOTICE: "已加载的节假日通知 (loaded holiday notice)",
    YearSource.PACKAGE: "chinesecalendar 数据包 (package)",
    YearSource.PROVISIONAL: "暂无数据，按周一至周五临时计算 (provisional: Monday–Friday)",
}
_WEEKDAYS = "一二三四五六日"


def _fail(exc: GongshuError) -> None:
    typer.echo(f"{exc.code}: {exc.message_zh} / {exc.message_en}", err=True)
    raise typer.Exit(2)


def _database_ready() -> bool:
    """False when the configured embedded database file does not exist yet (do not create it)."""
    url = get_settings().resolved_database_url()
    if url.startswith("sqlite:///") and not url.endswith(":memory:"):
        return Path(url[len("sqlite:///") :]).exists()
    return True


def _with_database(use: Callable[[Session | None], T]) -> tuple[T, bool]:
    """Run `use` against the database (loaded notices count); when the database is not initialised,
    against the package only. Returns the result and whether the database was used."""
    if _database_ready():
        from gongshu.kernel.db import read_scope

        try:
            with read_scope() as session:
                service.get_notice(session, 0)  # fails here when the schema is missing
                return use(session), True
        except SQLAlchemyError:
            pass
    return use(None), False


def _day(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"expected YYYY-MM-DD, got {value!r}", param_hint=option) from None


@app.command("deadline")
def deadline(
    start: str = typer.Option(..., "--from", help="Day 0: the day of submission (YYYY-MM-DD)"),
    working_days: int = typer.Option(..., "--working-days", "-n", min=0, help="Working days in the period"),
    as_json: bool = typer.Option(False, "--json", help="Print {due, provisional} as JSON"),
) -> None:
    """The deadline of a period of N working days from day 0 (the day of submission)."""
    day = _day(start, "--from")
    try:
        result, used_db = _with_database(
            lambda s: (service.calendar_for(s) if s else WorkingCalendar()).add_working_days(
                day, working_days
            )
        )
    except GongshuError as exc:
        _fail(exc)
        return
    if as_json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    if not used_db:
        typer.echo(
            "数据库未初始化，仅使用 chinesecalendar 数据包 (database not initialised: package data only)",
            err=True,
        )
    weekday = _WEEKDAYS[result.due.weekday()]
    line = (
        f"{day.isoformat()} 起 {working_days} 个工作日，截止 {result.due.isoformat()}（星期{weekday}）日终"
        f" / {working_days} working days from {day.isoformat()}: due end of {result.due.isoformat()}"
    )
    if result.provisional:
        line += "  [临时：相关年份尚无节假日通知 / provisional: holiday notice not yet loaded]"
    typer.echo(line)


@app.command("load")
def load(path: Path = typer.Argument(..., help="A holiday notice file (.yaml, .yml or .json)")) -> None:
    """Load (or replace) a year's holiday notice into the database and recompute open deadlines."""
    from gongshu.kernel.db import session_scope

    try:
        raw = path.read_bytes()
    except OSError as exc:
        typer.echo(
            f"clock.notice_unreadable: 无法读取文件 {path} / cannot read {path}: {exc.strerror}", err=True
        )
        raise typer.Exit(2) from None
    try:
        with session_scope() as session:
            report = service.load_notice_report(session, raw, filename=path.name)
            row = report.notice
            summary = (row.year, row.title, len(row.holidays), len(row.workdays), row.digest)
    except GongshuError as exc:
        _fail(exc)
        return
    year, title, holidays, workdays, digest = summary
    verb = "替换" if report.replaced_digest else "加载"
    typer.echo(
        f"已{verb} {year} 年节假日通知《{title}》：放假 {holidays} 天，调休上班 {workdays} 天，"
        f"重算 {report.deadlines_recomputed} 个未结期限 / "
        f"{'replaced' if report.replaced_digest else 'loaded'} the {year} notice: {holidays} days off, "
        f"{workdays} adjusted working days, {report.deadlines_recomputed} open deadlines recomputed; "
        f"SM3 {digest}"
    )


@app.command("show")
def show(
    year: int = typer.Option(0, "--year", help="The year (default: this year in China)"),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON"),
) -> None:
    """The days off and adjusted working days of a year, and where they come from."""
    wanted = year or today_china().year
    info, _ = _with_database(lambda s: service.year_overview(s, wanted))
    if as_json:
        body = {
            "year": info.year,
            "source": info.source.value,
            "title": info.title,
            "digest": info.digest,
            "holidays": [{"date": d.isoformat(), "name": n} for d, n in info.holidays],
            "workdays": [{"date": d.isoformat(), "name": n} for d, n in info.workdays],
        }
        print(json.dumps(body, ensure_ascii=False, indent=2))
        return
    typer.echo(f"{info.year}：{_SOURCE_LABEL[info.source]}")
    if info.title:
        typer.echo(f"  《{info.title}》 SM3 {info.digest}")
    for label, days in (("放假 days off", info.holidays), ("调休上班 adjusted working days", info.workdays)):
        typer.echo(f"{label}（{len(days)}）:")
        for first, last, name in _runs(days):
            when = f"{first.isoformat()}（星期{_WEEKDAYS[first.weekday()]}）"
            if last != first:
                when += (
                    f" – {last.isoformat()}（星期{_WEEKDAYS[last.weekday()]}），{(last - first).days + 1} 天"
                )
            typer.echo(f"  {when}  {name}".rstrip())


def _runs(days: tuple[tuple[dt.date, str], ...]) -> list[tuple[dt.date, dt.date, str]]:
    """Consecutive days with the same name, as (first, last, name)."""
    runs: list[tuple[dt.date, dt.date, str]] = []
    for day, name in days:
        if runs and runs[-1][2] == name and (day - runs[-1][1]).days == 1:
            runs[-1] = (runs[-1][0], day, name)
        else:
            runs.append((day, day, name))
    return runs
