"""CLI commands of the kernel's crypto module (`gongshu seal ...`): R10 electronic seals — seal a JSON
document (or any file, detached) with the platform's SM2 key, and verify a sealed document offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NoReturn

import typer

from gongshu.kernel.crypto.seal import (
    SealCheck,
    key_id,
    seal_document,
    seal_file_digest,
    verify_detached,
    verify_sealed,
)

app = typer.Typer(no_args_is_help=True, help="Electronic seals (R10)")


def _trusted(public_keys: list[Path], registered: bool) -> set[str] | None:
    if not public_keys and not registered:
        return None
    trusted = {key_id(p.read_text(encoding="utf-8")) for p in public_keys}
    if registered:
        from gongshu.kernel.crypto.seal import registered_key_ids
        from gongshu.kernel.db import read_scope

        with read_scope() as session:
            trusted |= registered_key_ids(session)
    return trusted


def _report(result: SealCheck, as_json: bool) -> NoReturn:
    if as_json:
        out = {
            "valid": result.valid,
            "key_id": result.key_id,
            "signer": result.signer,
            "reason_code": result.reason_code,
            "reason": result.reason_en,
            "reason_zh": result.reason_zh,
        }
        typer.echo(json.dumps(out, ensure_ascii=False))
    elif result.valid:
        typer.echo(f"印章有效 / seal valid: key {result.key_id}, signer {result.signer}")
    else:
        typer.echo(f"印章无效 / seal invalid: {result.reason_code}: {result.reason_zh} / {result.reason_en}")
    raise typer.Exit(0 if result.valid else 1)


@app.command("verify")
def verify(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="A sealed JSON document"),
    public_key: list[Path] = typer.Option(
        [],
        "--public-key",
        exists=True,
        dir_okay=False,
        help="PEM file of a trusted SM2 public key (repeatable)",
    ),
    registered: bool = typer.Option(
        False, "--registered", help="Also trust the keys registered in the platform's database"
    ),
    data_file: Path | None = typer.Option(
        None, "--file", exists=True, dir_okay=False, help="For a detached seal: the file it seals"
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON"),
) -> None:
    """Verify a sealed document; exit 0 when the seal holds, 1 (with the reason) when it does not."""
    trusted = _trusted(public_key, registered)
    sealed: Any
    try:
        sealed = json.loads(file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        sealed = None
    if data_file is not None:
        _report(verify_detached(data_file, sealed, trusted), as_json)
    _report(verify_sealed(sealed, trusted), as_json)


@app.command("sign")
def sign(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="A JSON document (or any file)"),
    out: Path = typer.Option(..., "--out", help="Where to write the sealed document"),
    signer: str = typer.Option("platform", "--signer", help="The signer's name recorded in the seal"),
    detached: bool = typer.Option(False, "--detached", help="Seal the file's SM3 digest, not its JSON"),
) -> None:
    """Seal a JSON document with the platform's key (or, with --detached, any file by its digest)."""
    if detached:
        sealed = seal_file_digest(file, signer=signer)
    else:
        try:
            document = json.loads(file.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            typer.echo(f"seal.input: 文件不是JSON / the file is not JSON ({exc})", err=True)
            raise typer.Exit(2) from exc
        if not isinstance(document, dict):
            typer.echo("seal.input: 应为JSON对象 / a JSON object is expected", err=True)
            raise typer.Exit(2)
        sealed = seal_document(document, signer=signer)
    out.write_text(json.dumps(sealed, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    typer.echo(f"sealed → {out} (key {sealed['seal']['key_id']})")
