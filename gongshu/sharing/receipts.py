"""Receipts: every delivery — API call, file, stream batch, database sync — gets a receipt sealed by the
platform (request digest, response digest, grant, scenario, time) that the consumer checks offline with
`gongshu receipt verify FILE` (R19, R26)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gongshu.kernel.crypto.seal import SealCheck, seal_document, verify_sealed
from gongshu.kernel.crypto.sm import sm3_hex
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.timeutil import now

RECEIPT_KIND = "gongshu-delivery-receipt/1"


def digest(data: bytes | str) -> str:
    return sm3_hex(data.encode() if isinstance(data, str) else data)


def issue_receipt(actor: Actor, **fields: Any) -> dict[str, Any]:
    """A sealed receipt for one delivery (the fields of `receipt_document`). `request` and `response` are
    the exact bytes exchanged (or a canonical description of them, e.g. the query and the body); only
    their SM3 digests are kept."""
    return seal_document(receipt_document(actor, **fields))


def receipt_document(
    actor: Actor,
    *,
    resource_code: str,
    method: str,
    request: bytes | str,
    response: bytes | str,
    grant_id: int | None,
    scenario: str | None,
    basis: str,
    records: int,
    audit_seq: int | None = None,
) -> dict[str, Any]:
    """The document a delivery's receipt seals (R19 R26): what was delivered, to whom, under which grant,
    and the SM3 digests of the request and the response."""
    return {
        "kind": RECEIPT_KIND,
        "resource": resource_code,
        "method": method,
        "consumer_org_id": actor.org_id,
        "consumer_user": actor.username,
        "grant_id": grant_id,
        "basis": basis,
        "scenario": scenario,
        "records": records,
        "request_sm3": digest(request),
        "response_sm3": digest(response),
        "audit_seq": audit_seq,
        "delivered_at": now().isoformat(),
    }


def verify_receipt(receipt: Any, response: bytes | None = None) -> SealCheck:
    """Check a receipt's seal (and, given the response bytes, that they are the ones it names)."""
    check = verify_sealed(receipt)
    if not check.valid or response is None:
        return check
    if receipt["document"].get("response_sm3") != digest(response):
        return SealCheck(
            False,
            check.key_id,
            check.signer,
            "receipt.response_mismatch",
            "回执记载的响应摘要与所给数据不符",
            "The response does not match the receipt's digest",
        )
    return check


def load_receipt(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))
