"""R10: documents and certificates (文书类、证照类) carry an electronic seal.

Which items are documents or certificates — the explicit rule: an item whose description carries the
marker "[文书]" or "[证照]", or whose name ends in "_certificate", "_licence", "_license" or "_document".
A record's document file is attached with the detached seal of the organisation that issued it
(`{format, document: {kind: file-digest, name, size, sm3}, seal: {...}}`, the platform's seal format made
with the issuer's own SM2 key). The seal holds when the SM2 signature over the SM3 digest verifies, the
file has the sealed digest, and the key is registered for the sealing organisation and not revoked."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from tongsuopy.crypto import serialization
from tongsuopy.crypto.asymciphers import ec

from gongshu.aggregation.interface import published_entry, subject_keys
from gongshu.aggregation.interface_models import RecordDocument
from gongshu.catalog.data_view import EntryView
from gongshu.kernel.access.policy import Action
from gongshu.kernel.access.service import decide, require
from gongshu.kernel.audit.service import record
from gongshu.kernel.config import get_settings
from gongshu.kernel.crypto.models import SealKey
from gongshu.kernel.crypto.seal import (
    ALGORITHM,
    SEAL_FORMAT,
    SEAL_REASONS,
    canonical_json,
    key_id,
    public_pem,
    sign_bytes,
    signed_bytes,
    verify_sealed,
)
from gongshu.kernel.crypto.sm import constant_time_equal, sm3_hex
from gongshu.kernel.errors import Conflict, Forbidden, NotFound, ValidationFailed
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import Organisation
from gongshu.kernel.identity.organisations import find_org_by_code, get_org_by_code
from gongshu.kernel.timeutil import now
from gongshu.store import service as store

MARKERS = ("[文书]", "[证照]")
SUFFIXES = ("_certificate", "_licence", "_license", "_document")
MAX_BYTES = 20 * 1024 * 1024  # a platform limit, not a statutory number
REASONS: dict[str, tuple[str, str]] = {
    **SEAL_REASONS,
    "seal.missing": ("文书未加盖电子印章", "The document carries no electronic seal"),
    "seal.unregistered": (
        "印章密钥未登记为该单位的印章",
        "The seal's key is not registered for the organisation",
    ),
    "seal.revoked": ("该单位的印章密钥已被注销", "The organisation's seal key has been revoked"),
}


@dataclass(frozen=True)
class SealStatus:
    """R10: whether a document's seal holds, and if not, why."""

    valid: bool
    reason_code: str | None = None
    reason_zh: str | None = None
    reason_en: str | None = None
    key_id: str | None = None
    signer: str | None = None
    org_code: str | None = None


def _refused(code: str, org_code: str, kid: str | None = None, signer: str | None = None) -> SealStatus:
    zh, en = REASONS[code]
    return SealStatus(False, code, zh, en, kid, signer, org_code)


def is_document_item(item: Any) -> bool:
    """R10: the explicit rule for document and certificate items (see the module docstring)."""
    desc, name = str(getattr(item, "description", "") or ""), str(getattr(item, "name", ""))
    return any(m in desc for m in MARKERS) or name.endswith(SUFFIXES)


def document_items(entry: EntryView) -> list[str]:
    return [i.name for i in entry.items if is_document_item(i)]


def register_seal_key(session: Session, actor: Actor, org_code: str, public_key_pem: str) -> SealKey:
    """R10: the authority registers an organisation's SM2 public key for its electronic seal."""
    require(session, actor, Action.SUPERVISE)
    org = get_org_by_code(session, org_code)
    try:
        key = serialization.load_pem_public_key((public_key_pem or "").encode())
    except (ValueError, TypeError) as exc:
        raise ValidationFailed(
            "seal.key_invalid",
            "无法读取该公钥（须为 PEM 格式的 SM2 公钥）",
            "The key cannot be read (a PEM SM2 public key is expected)",
            field="public_key_pem",
        ) from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SM2):
        raise ValidationFailed(
            "seal.key_invalid",
            "印章公钥必须是 SM2 公钥",
            "A seal key must be an SM2 public key",
            field="public_key_pem",
        )
    kid = key_id(public_key_pem)
    if session.get(SealKey, kid) is not None:
        raise Conflict("seal.key_registered", "该公钥已经登记", "This key is already registered")
    row = SealKey(key_id=kid, organisation_id=org.id, public_key_pem=public_pem(key), is_platform=False)
    session.add(row)
    session.flush()
    record(
        session, actor, "seal.register_key", object_type="seal_key", object_id=kid, detail={"org": org_code}
    )
    return row


def revoke_seal_key(session: Session, actor: Actor, kid: str, reason: str) -> SealKey:
    """R10: the authority revokes a registered seal key (with written reasons)."""
    require(session, actor, Action.SUPERVISE)
    row = session.get(SealKey, kid)
    if row is None or row.is_platform:
        raise NotFound("seal.key_unknown", "没有该印章密钥", f"No seal key {kid}")
    if not (reason or "").strip():
        raise ValidationFailed(
            "seal.reason_required", "注销印章密钥须说明理由", "Revoking a key needs reasons", field="reason"
        )
    row.revoked_at = now()
    session.flush()
    record(
        session, actor, "seal.revoke_key", object_type="seal_key", object_id=kid, detail={"reason": reason}
    )
    return row


def seal_bytes(
    private_key: ec.EllipticCurvePrivateKey, content: bytes, name: str, signer: str
) -> dict[str, Any]:
    """R10: an organisation's detached seal over a file (its SM3 digest), in the platform's seal format."""
    document = {"kind": "file-digest", "name": name, "size": len(content), "sm3": sm3_hex(content)}
    digest = sm3_hex(canonical_json(document))
    pem = public_pem(private_key.public_key())
    sealed_at = now().isoformat()
    signature = sign_bytes(private_key, signed_bytes(digest, signer, sealed_at))
    return {
        "format": SEAL_FORMAT,
        "document": document,
        "seal": {
            "algorithm": ALGORITHM,
            "signer": signer,
            "key_id": key_id(pem),
            "public_key": pem,
            "sm3": digest,
            "signature": base64.b64encode(signature).decode(),
            "sealed_at": sealed_at,
        },
    }


def verify_document_seal(
    session: Session, document_bytes: bytes, sealed_json: Any, org_code: str
) -> SealStatus:
    """R10: does the document carry a valid seal of `org_code`? Unsigned, tampered, forged, unregistered
    or revoked seals are refused with the reason."""
    if sealed_json is None or sealed_json in ("", b"", {}):
        return _refused("seal.missing", org_code)
    sealed = sealed_json
    if isinstance(sealed_json, str | bytes):
        try:
            sealed = json.loads(sealed_json)
        except ValueError:
            return _refused("seal.format", org_code)
    check = verify_sealed(sealed)
    if not check.valid:
        return _refused(check.reason_code or "seal.format", org_code, check.key_id, check.signer)
    doc = sealed["document"]
    if not isinstance(doc, dict) or doc.get("kind") != "file-digest":
        return _refused("seal.format", org_code, check.key_id, check.signer)
    if not constant_time_equal(sm3_hex(document_bytes), str(doc.get("sm3", ""))):
        return _refused("seal.file_digest", org_code, check.key_id, check.signer)
    org = find_org_by_code(session, org_code)
    if org is None:
        return _refused("seal.unregistered", org_code, check.key_id, check.signer)
    key = session.scalar(
        select(SealKey).where(SealKey.key_id == check.key_id, SealKey.organisation_id == org.id)
    )
    if key is None:
        return _refused("seal.unregistered", org_code, check.key_id, check.signer)
    if key.revoked_at is not None:
        return _refused("seal.revoked", org_code, check.key_id, check.signer)
    return SealStatus(True, None, None, None, check.key_id, check.signer, org_code)


def _path(digest: str) -> Path:
    folder = get_settings().ensure_data_dir() / "documents"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / digest


def attach_document(
    session: Session,
    actor: Actor,
    code: str,
    record_key: str,
    item: str,
    filename: str,
    content: bytes,
    sealed: dict[str, Any] | None,
    org_code: str,
) -> RecordDocument:
    """R10: the provider attaches a record's document with its issuer's seal (stored as given; its status
    is checked whenever it is shown)."""
    entry = published_entry(session, code)
    require(session, actor, Action.DATA_MANAGE, org_id=entry.provider_org_id)
    if item not in document_items(entry):
        raise ValidationFailed(
            "seal.not_document_item",
            f"信息项 {item} 不是文书类或证照类信息项",
            f"Item {item} is not a document or certificate item",
            field="item",
        )
    if not content or len(content) > MAX_BYTES:
        raise ValidationFailed(
            "seal.file_size", "文书文件不能为空且不超过20MB", "The file must be 1 byte to 20 MB", field="file"
        )
    if not store.rows(session, code, key=record_key, limit=1):
        raise NotFound(
            "seal.record_unknown", f"资源 {code} 中没有记录 {record_key}", f"No record {record_key} in {code}"
        )
    org = get_org_by_code(session, org_code)
    digest = sm3_hex(content)
    path = _path(digest)
    if not path.exists():
        path.write_bytes(content)
    row = RecordDocument(
        resource_code=code,
        record_key=record_key,
        item_name=item,
        filename=filename[:255],
        sm3=digest,
        size=len(content),
        sealed=sealed,
        sealing_org_id=org.id,
        added_by_user_id=actor.user_id,
    )
    session.add(row)
    session.flush()
    record(
        session,
        actor,
        "seal.attach_document",
        object_type="resource",
        object_id=code,
        subject_keys=subject_keys(entry, [{i.name: record_key for i in entry.items if i.is_key}]),
        detail={"document_id": row.id, "item": item, "sm3": digest, "org": org_code},
    )
    return row


def record_documents(session: Session, actor: Actor, code: str, record_key: str) -> list[dict[str, Any]]:
    """R10: a record's documents with their seal status, for the provider and the supervising authority
    (the read is audited with the record's key)."""
    entry = published_entry(session, code)
    if not (
        decide(session, actor, Action.DATA_MANAGE, org_id=entry.provider_org_id).allowed
        or decide(session, actor, Action.SUPERVISE).allowed
    ):
        raise Forbidden(
            "seal.view_forbidden", "无权查看该记录的文书", "You may not see this record's documents"
        )
    docs = session.scalars(
        select(RecordDocument)
        .where(RecordDocument.resource_code == code, RecordDocument.record_key == record_key)
        .order_by(RecordDocument.id)
    )
    out = []
    for d in docs:
        org = session.get(Organisation, d.sealing_org_id)
        path = _path(d.sm3)
        content = path.read_bytes() if path.exists() else b""
        status = verify_document_seal(session, content, d.sealed, org.code if org else "")
        out.append({"doc": d, "status": status, "org": org})
    record(
        session,
        actor,
        "data.read",
        object_type="resource",
        object_id=code,
        subject_keys=subject_keys(entry, [{i.name: record_key for i in entry.items if i.is_key}]),
        detail={"via": "record_documents", "documents": len(out)},
    )
    return out
