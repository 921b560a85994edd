"""R7: `gongshu ingest FILE --resource CODE` — load a file into a resource from the command line, with a
progress bar; `--json` prints the batch report."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gongshu.aggregation.ingest import ingest_file
from gongshu.aggregation.precheck import check_file
from gongshu.kernel.db import read_scope
from gongshu.kernel.errors import GongshuError
from gongshu.kernel.identity.actor import SYSTEM, Actor
from gongshu.kernel.identity.service import build_actor, get_user_by_username

console = Console(stderr=True)


def _actor(username: str) -> Actor:
    if not username:
        return SYSTEM
    with read_scope() as s:
        return build_actor(s, get_user_by_username(s, username), via="cli")


def ingest(
    file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, readable=True, help="CSV, XLSX, JSONL or Parquet"
    ),
    resource: str = typer.Option(..., "--resource", "-r", help="The resource code (资源代码)"),
    mode: str = typer.Option("full", "--mode", help="full | incremental"),
    encoding: str = typer.Option("", "--encoding", help="utf-8, utf-8-sig, gbk, gb18030 (default: detect)"),
    as_user: str = typer.Option("", "--as", help="Act as this user (default: the platform's system actor)"),
    as_json: bool = typer.Option(False, "--json", help="Print the batch report as JSON"),
    check: bool = typer.Option(
        False, "--check", help="Check the file against the resource's rules only; store nothing"
    ),
) -> None:
    """R7 R13: load FILE into the resource; refused rows go to quarantine, the report tells the counts.
    With --check, the file is checked as the load would check it and nothing is stored (预检)."""
    if check:
        _check(file, resource, encoding, as_user, as_json)
        return
    try:
        actor = _actor(as_user)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=as_json,
            transient=True,
        ) as bar:
            task = bar.add_task(f"{file.name} → {resource}", total=None)
            report = ingest_file(
                actor,
                resource,
                file,
                mode=mode,
                encoding=encoding or None,
                progress=lambda n: bar.advance(task, n),
            )
    except GongshuError as exc:
        raise _refused(exc, as_json) from exc
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, default=str))
        return
    colour = "green" if report["status"] == "committed" else "red"
    typer.echo(
        f"批次 {report['id']} [{report['status']}]: 收到 {report['received']}，接收 {report['accepted']}，"
        f"拒收 {report['refused']}，重复 {report['deduplicated']}；新增 {report['inserted']}，"
        f"更新 {report['updated']}，未变化 {report['unchanged']}，删除 {report['deleted']}"
    )
    console.print(f"[{colour}]batch {report['id']}: {report['status']}[/{colour}]")
    if report["status"] != "committed":
        raise typer.Exit(1)


def _refused(exc: GongshuError, as_json: bool) -> typer.Exit:
    """A file refused whole: its error (as JSON with --json), and exit status 2."""
    if as_json:
        typer.echo(json.dumps({"error": exc.to_dict()}, ensure_ascii=False))
    else:
        console.print(f"[red]{exc.code}[/red]: {exc.message_zh} / {exc.message_en}")
    return typer.Exit(2)


def _check(file: Path, resource: str, encoding: str, as_user: str, as_json: bool) -> None:
    """R13: `gongshu ingest FILE --resource CODE --check` — the check's report; exit status 1 when a row
    would be refused or de-duplicated, 2 when the file is refused whole."""
    try:
        report = check_file(_actor(as_user), resource, file, encoding=encoding or None)
    except GongshuError as exc:
        raise _refused(exc, as_json) from exc
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, default=str))
    else:
        typer.echo(
            f"预检 {report['filename']} → {resource}（未入库）：收到 {report['received']}，"
            f"可接收 {report['accepted']}，拒收 {report['refused']}，重复 {report['deduplicated']}"
        )
        for p in report["problems"]:
            typer.echo(f"  {p['column']} · {p['rule']}: {p['count']} — {p['message']}")
        for c in report["cells"][:20]:
            typer.echo(f"  第 {c['source_row']} 行 {c['column']}: {c['value']!r} — {c['message']}")
    if report["refused"] or report["deduplicated"]:
        raise typer.Exit(1)
