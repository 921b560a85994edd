"""CLI commands of the kernel's identifiers module (`gongshu id ...`): R10 resident ID number and USCC
checks."""

from __future__ import annotations

import enum
import json

import typer

from gongshu.kernel.errors import GongshuError
from gongshu.kernel.identifiers.checks import (
    CheckResult,
    check_id_number,
    check_identifier,
    check_uscc,
    upgrade_legacy_id,
)

app = typer.Typer(no_args_is_help=True, help="Resident ID number and USCC checks (R10)")


class KindOption(enum.StrEnum):
    AUTO = "auto"
    ID_NUMBER = "id_number"
    USCC = "uscc"


_LABEL = {"id_number": "居民身份证号码 (resident ID number)", "uscc": "统一社会信用代码 (USCC)"}


@app.callback()
def main() -> None:
    """R10: identifiers that key public data about persons (GB 11643) and organisations (GB 32100)."""


@app.command("check")
def check(
    value: str = typer.Argument(..., help="An ID number, a 15-digit legacy ID number or a USCC"),
    kind: KindOption = typer.Option(KindOption.AUTO, "--kind", help="What the value is; auto guesses"),
    as_json: bool = typer.Option(False, "--json", help="Print {valid, kind, error, code, normalized}"),
) -> None:
    """Check an identifier; exit 0 when valid, 1 when not."""
    result: CheckResult
    if kind is KindOption.ID_NUMBER:
        result = check_id_number(value)
    elif kind is KindOption.USCC:
        result = check_uscc(value)
    else:
        result = check_identifier(value)
    if as_json:
        out = {
            "valid": result.valid,
            "kind": result.kind,
            "error": result.error_en,
            "code": result.error_code,
            "normalized": result.normalized,
        }
        typer.echo(json.dumps(out, ensure_ascii=False))
    elif result.valid:
        typer.echo(f"valid {_LABEL[str(result.kind)]}: {result.normalized}")
    else:
        label = _LABEL.get(str(result.kind), "identifier")
        typer.echo(f"invalid {label}: {result.error_code}: {result.error_zh} / {result.error_en}")
    raise typer.Exit(0 if result.valid else 1)


@app.command("upgrade")
def upgrade(value: str = typer.Argument(..., help="A 15-digit legacy ID number")) -> None:
    """Print the 18-character form of a 15-digit legacy ID number (GB 11643)."""
    try:
        typer.echo(upgrade_legacy_id(value))
    except GongshuError as exc:
        typer.echo(f"{exc.code}: {exc.message_zh} / {exc.message_en}", err=True)
        raise typer.Exit(1) from exc
