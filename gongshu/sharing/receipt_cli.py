"""`gongshu receipt verify`: R19 R26 — a consumer checks a delivery receipt offline: the platform's SM2 seal
over the receipt, and (given the body it received) that the body is the one the receipt digests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NoReturn

import typer

from gongshu.kernel.crypto.seal import SealCheck
from gongshu.sharing.receipts import RECEIPT_KIND, verify_receipt

app = typer.Typer(no_args_is_help=True, help="Delivery receipts (R19, R26)")


def _refused(code: str, zh: str, en: str) -> SealCheck:
    return SealCheck(False, None, None, code, zh, en)


def _report(check: SealCheck, receipt: Any, as_json: bool) -> NoReturn:
    doc = receipt.get("document", {}) if isinstance(receipt, dict) else {}
    if as_json:
        out = {
            "valid": check.valid,
            "key_id": check.key_id,
            "reason_code": check.reason_code,
            "reason": check.reason_en,
            "reason_zh": check.reason_zh,
            "receipt": doc if check.valid else None,
        }
        typer.echo(json.dumps(out, ensure_ascii=False))
    elif check.valid:
        typer.echo(
            f"回执有效 / receipt valid: {doc.get('resource')} {doc.get('records')} records, "
            f"grant {doc.get('grant_id')} ({doc.get('basis')}), scenario {doc.get('scenario')}, "
            f"audit #{doc.get('audit_seq')}, key {check.key_id}"
        )
    else:
        typer.echo(f"回执无效 / receipt invalid: {check.reason_code}: {check.reason_zh} / {check.reason_en}")
    raise typer.Exit(0 if check.valid else 1)


def _response_bytes(body: bytes, receipt: dict[str, Any]) -> bytes | None:
    """The bytes the receipt digests: a JSON row API body without its receipt member, else the body."""
    from gongshu.sharing.delivery_api import RECEIPT_MARK, data_part

    if body.lstrip().startswith(b"{") and RECEIPT_MARK in body:
        return data_part(body, receipt)
    return body


def check_files(file: Path, response: Path | None) -> tuple[SealCheck, Any]:
    """R19: the outcome of checking a receipt file (a receipt, or a whole JSON body holding one)."""
    raw = file.read_bytes()
    try:
        loaded = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return _refused("receipt.format", "回执文件不是 JSON", "The receipt file is not JSON"), None
    body: bytes | None = None
    receipt = loaded
    if isinstance(loaded, dict) and isinstance(loaded.get("receipt"), dict) and "format" not in loaded:
        receipt, body = loaded["receipt"], raw  # a JSON body saved whole: it is its own response
    if response is not None:
        body = response.read_bytes()
    kind = receipt.get("document", {}).get("kind") if isinstance(receipt, dict) else None
    if not isinstance(receipt, dict) or not isinstance(receipt.get("document"), dict) or kind != RECEIPT_KIND:
        return _refused(
            "receipt.format", "不是本平台的交付回执", "Not a delivery receipt of the platform"
        ), None
    if body is None:
        return verify_receipt(receipt), receipt
    data = _response_bytes(body, receipt)
    if data is None:
        return (
            _refused(
                "receipt.response_mismatch",
                "响应正文末尾的回执与所给回执不符",
                "The receipt at the end of the body is not the given receipt",
            ),
            receipt,
        )
    return verify_receipt(receipt, data), receipt


@app.command("verify")
def verify(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="A receipt (or a JSON body with one)"),
    response: Path | None = typer.Option(
        None, "--response", exists=True, dir_okay=False, help="The response body the receipt is for"
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON"),
) -> None:
    """Verify a delivery receipt; exit 0 when its seal holds (and the body matches), 1 with the reason."""
    check, receipt = check_files(file, response)
    _report(check, receipt, as_json)
