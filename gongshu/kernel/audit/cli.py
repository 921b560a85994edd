"""CLI commands of the kernel's audit module (`gongshu audit ...`): verify the SM3 hash chain, export."""

from __future__ import annotations

import datetime as dt
import enum
import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress

from gongshu.kernel.audit import query
from gongshu.kernel.audit.verify import VerifyResult, count_entries, parse_anchor, verify_chain, verify_jsonl
from gongshu.kernel.errors import GongshuError

app = typer.Typer(no_args_is_help=True, help="Audit log: verify the hash chain, export")
err = Console(stderr=True)


class ExportFormat(enum.StrEnum):
    CSV = "csv"
    JSONL = "jsonl"


def _fail(exc: GongshuError) -> None:
    typer.echo(f"{exc.code}: {exc.message_zh} / {exc.message_en}", err=True)
    raise typer.Exit(2)


def _print(result: VerifyResult, as_json: bool) -> None:
    if as_json:
        out = {
            "ok": result.ok,
            "checked": result.checked,
            "first_bad_seq": result.first_bad_seq,
            "problem": result.problem_code,
            "message": result.message_en,
            "message_zh": result.message_zh,
            "last_seq": result.last_seq,
            "head_hash": result.head_hash,
        }
        typer.echo(json.dumps(out, ensure_ascii=False))
    elif result.ok:
        typer.echo(f"{result.message_zh} / {result.message_en}")
        if result.last_seq is not None:
            typer.echo(
                f"head (record it as the anchor of a later check): {result.last_seq}:{result.head_hash}"
            )
    else:
        typer.echo(
            f"entry {result.first_bad_seq}: {result.problem_code}: {result.message_zh} / {result.message_en}"
        )


@app.command("verify")
def verify(
    anchor: str = typer.Option(
        "", "--anchor", help="SEQ:HASH recorded from an earlier check (detects truncation)"
    ),
    file: Path | None = typer.Option(
        None, "--file", exists=True, dir_okay=False, help="Verify a JSONL export"
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON"),
) -> None:
    """Verify the audit log's SM3 hash chain: exit 0 when intact, 1 naming the first bad entry."""
    try:
        pinned = parse_anchor(anchor) if anchor else None
    except GongshuError as exc:
        _fail(exc)
        return
    if file is not None:
        with file.open(encoding="utf-8") as lines:
            result = verify_jsonl(lines, anchor=pinned)
    else:
        from gongshu.kernel.db import read_scope

        with read_scope() as session:
            total = count_entries(session)
            with Progress(console=err, transient=True, disable=as_json or total < 50_000) as bar:
                task = bar.add_task("verifying", total=total)
                result = verify_chain(
                    session, anchor=pinned, progress=lambda n: bar.update(task, completed=n)
                )
    _print(result, as_json)
    raise typer.Exit(0 if result.ok else 1)


def _date(value: str, name: str) -> dt.datetime | dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value) if len(value) == 10 else dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{name}: an ISO date or date-time is expected") from exc


@app.command("export")
def export(
    out: Path = typer.Option(..., "--out", help="The file to write"),
    fmt: ExportFormat = typer.Option(ExportFormat.CSV, "--format", help="csv or jsonl"),
    actor: str = typer.Option("", "--actor", help="User name of the actor"),
    org_id: int | None = typer.Option(None, "--org-id", help="Acting organisation id"),
    action_prefix: str = typer.Option("", "--action-prefix", help="e.g. sharing."),
    object_type: str = typer.Option("", "--object-type"),
    object_id: str = typer.Option("", "--object-id"),
    outcome: str = typer.Option("", "--outcome", help="ok, denied or error"),
    since: str = typer.Option("", "--since", help="From (ISO date or date-time, China time if no zone)"),
    until: str = typer.Option("", "--until", help="Until (a date includes that day)"),
) -> None:
    """Export audit entries (oldest first) as CSV or JSON Lines (an unfiltered JSONL export verifies)."""
    from gongshu.kernel.db import read_scope

    filters: query.AuditFilters = {
        "actor": actor or None,
        "org_id": org_id,
        "action_prefix": action_prefix or None,
        "object_type": object_type or None,
        "object_id": object_id or None,
        "outcome": outcome or None,
        "since": _date(since, "--since"),
        "until": _date(until, "--until"),
    }
    writer = query.export_csv if fmt is ExportFormat.CSV else query.export_jsonl
    try:
        query.validate_filters(filters)
    except GongshuError as exc:
        _fail(exc)
        return
    with read_scope() as session, out.open("w", encoding="utf-8", newline="") as handle:
        count = writer(session, handle, **filters)
    typer.echo(f"exported {count} entries → {out}")
