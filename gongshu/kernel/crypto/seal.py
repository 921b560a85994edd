"""R10: electronic seals. The platform signs documents (decisions with written reasons, reports, receipts)
with its SM2 key over the SM3 digest of the document's canonical JSON. A sealed document carries the
signer's public key, so it can be checked offline (`gongshu seal verify FILE`)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from tongsuopy.crypto import hashes, serialization
from tongsuopy.crypto.asymciphers import ec
from tongsuopy.crypto.exceptions import InvalidSignature

from gongshu.kernel.config import get_settings
from gongshu.kernel.crypto.models import SealKey
from gongshu.kernel.crypto.sm import sm3_hex
from gongshu.kernel.timeutil import now

ALGORITHM = "SM2-with-SM3"
SEAL_FORMAT = "gongshu-seal/1"


def canonical_json(document: Any) -> bytes:
    return json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def _key_path() -> Path:
    return get_settings().ensure_data_dir() / "keys" / "platform-sm2.pem"


def generate_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SM2())


def private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_pem(key: ec.EllipticCurvePublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def key_id(public_key_pem: str) -> str:
    key = serialization.load_pem_public_key(public_key_pem.encode())
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return sm3_hex(der)[:32]


_platform_key: dict[Path, ec.EllipticCurvePrivateKey] = {}


def platform_private_key() -> ec.EllipticCurvePrivateKey:
    """The platform's SM2 key, made at initialisation in the data folder (never in the repository)."""
    path = _key_path()
    if path not in _platform_key:
        if not path.exists():
            path.write_bytes(private_pem(generate_key()))
            path.chmod(0o600)
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise RuntimeError(f"{path} is not an SM2 private key")
        _platform_key[path] = key
    return _platform_key[path]


def ensure_platform_key(session: Session) -> SealKey:
    """Create the platform key if needed and register its public half (idempotent)."""
    pem = public_pem(platform_private_key().public_key())
    kid = key_id(pem)
    row = session.get(SealKey, kid)
    if row is None:
        row = SealKey(key_id=kid, organisation_id=None, public_key_pem=pem, is_platform=True)
        session.add(row)
        session.flush()
    return row


def sign_bytes(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    return key.sign(data, ec.ECDSA(hashes.SM3()))


def verify_bytes(public_key_pem: str, signature: bytes, data: bytes) -> bool:
    key = serialization.load_pem_public_key(public_key_pem.encode())
    if not isinstance(key, ec.EllipticCurvePublicKey):
        return False
    try:
        key.verify(signature, data, ec.ECDSA(hashes.SM3()))
    except InvalidSignature:
        return False
    return True


def seal_document(document: dict[str, Any], *, signer: str = "platform") -> dict[str, Any]:
    """Seal a JSON document with the platform key: {"format", "document", "seal": {...}}."""
    key = platform_private_key()
    data = canonical_json(document)
    pem = public_pem(key.public_key())
    return {
        "format": SEAL_FORMAT,
        "document": document,
        "seal": {
            "algorithm": ALGORITHM,
            "signer": signer,
            "key_id": key_id(pem),
            "public_key": pem,
            "sm3": sm3_hex(data),
            "signature": base64.b64encode(sign_bytes(key, data)).decode(),
            "sealed_at": now().isoformat(),
        },
    }


def platform_key_ids(session: Session) -> set[str]:
    return set(session.scalars(select(SealKey.key_id).where(SealKey.is_platform.is_(True))))
