"""R10: electronic seals. The platform signs documents (decisions with written reasons, reports, receipts)
with its SM2 key over the SM3 digest of the document's canonical JSON. A sealed document carries the
signer's public key, so it can be checked offline (`gongshu seal verify FILE`)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes as chashes
from sqlalchemy import select
from sqlalchemy.orm import Session
from tongsuopy.crypto import hashes, serialization
from tongsuopy.crypto.asymciphers import ec
from tongsuopy.crypto.exceptions import InvalidSignature

from gongshu.kernel.config import get_settings
from gongshu.kernel.crypto.models import SealKey
from gongshu.kernel.crypto.sm import constant_time_equal, sm3, sm3_hex
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
    pem: bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem


def public_pem(key: ec.EllipticCurvePublicKey) -> str:
    pem: bytes = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem.decode()


def key_id(public_key_pem: str) -> str:
    key = serialization.load_pem_public_key(public_key_pem.encode())
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return sm3_hex(der)[:32]


_platform_key: dict[Path, ec.EllipticCurvePrivateKey] = {}
# The platform key's public half as sealed documents carry it: (public PEM, key id), per key file.
_platform_public: dict[Path, tuple[str, str]] = {}


def _platform_key_path() -> Path:
    """The key file of the current data folder, without making the data folders again once its key is
    loaded (sealing every delivery must not cost five mkdir)."""
    path = get_settings().data_dir / "keys" / "platform-sm2.pem"
    return path if path in _platform_key else _key_path()


def platform_private_key() -> ec.EllipticCurvePrivateKey:
    """The platform's SM2 key, made at initialisation in the data folder (never in the repository)."""
    path = _platform_key_path()
    if path not in _platform_key:
        if not path.exists():
            path.write_bytes(private_pem(generate_key()))
            path.chmod(0o600)
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise RuntimeError(f"{path} is not an SM2 private key")
        _platform_key[path] = key
    return _platform_key[path]


def platform_public() -> tuple[str, str]:
    """R10: the platform key's public PEM and key id, computed once per key file (not on every seal)."""
    key = platform_private_key()
    path = _platform_key_path()
    kept = _platform_public.get(path)
    if kept is None:
        pem = public_pem(key.public_key())
        kept = _platform_public[path] = (pem, key_id(pem))
    return kept


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
    signature: bytes = key.sign(data, ec.ECDSA(hashes.SM3()))
    return signature


def verify_bytes(public_key_pem: str, signature: bytes, data: bytes) -> bool:
    key = serialization.load_pem_public_key(public_key_pem.encode())
    if not isinstance(key, ec.EllipticCurvePublicKey):
        return False
    try:
        key.verify(signature, data, ec.ECDSA(hashes.SM3()))
    except InvalidSignature:
        return False
    return True


def _sealed(
    document: dict[str, Any], digest: str, signature: bytes, signer: str, sealed_at: str, **extra: Any
) -> dict[str, Any]:
    """A sealed document as the platform writes it: {"format", "document", "seal": {...}}."""
    pem, kid = platform_public()
    seal = {"algorithm": ALGORITHM, "signer": signer, "key_id": kid, "public_key": pem, "sm3": digest}
    seal.update(extra)
    seal.update(signature=base64.b64encode(signature).decode(), sealed_at=sealed_at)
    return {"format": SEAL_FORMAT, "document": document, "seal": seal}


def seal_document(document: dict[str, Any], *, signer: str = "platform") -> dict[str, Any]:
    """Seal a JSON document with the platform key: {"format", "document", "seal": {...}}."""
    digest = sm3_hex(canonical_json(document))
    sealed_at = now().isoformat()
    signature = sign_bytes(platform_private_key(), signed_bytes(digest, signer, sealed_at))
    return _sealed(document, digest, signature, signer, sealed_at)


# ---- several documents under one signature ---------------------------------------------------------------
# The documents' SM3 digests are the leaves of a binary hash tree (SM3, with distinct prefixes for leaves
# and inner nodes, so that no inner node can pass for a leaf); one SM2 signature covers its root. Each
# document's seal carries its own digest, the path of sibling hashes from its leaf to the root, and that
# signature: it is checked alone and offline, like any seal, and a change to the document, its path or
# the root fails the check. A lone node at the end of a level moves up unchanged.


def _leaf(digest: str) -> bytes:
    return sm3(b"\x00" + bytes.fromhex(digest))


def _node(left: bytes, right: bytes) -> bytes:
    return sm3(b"\x01" + left + right)


def _tree_paths(digests: list[str]) -> tuple[str, list[list[list[str]]]]:
    """The root of the tree over `digests` and, for each leaf, its path: [side, sibling hash] pairs, side
    "L" when the sibling is on the left."""
    level = [_leaf(d) for d in digests]
    members = [[i] for i in range(len(digests))]  # the leaves under each node of the level
    paths: list[list[list[str]]] = [[] for _ in digests]
    while len(level) > 1:
        upper: list[bytes] = []
        upper_members: list[list[int]] = []
        for i in range(0, len(level) - 1, 2):
            left, right = level[i], level[i + 1]
            for leaf in members[i]:
                paths[leaf].append(["R", right.hex()])
            for leaf in members[i + 1]:
                paths[leaf].append(["L", left.hex()])
            upper.append(_node(left, right))
            upper_members.append(members[i] + members[i + 1])
        if len(level) % 2:
            upper.append(level[-1])
            upper_members.append(members[-1])
        level, members = upper, upper_members
    return level[0].hex(), paths


def tree_root(digest: str, path: Any) -> str | None:
    """The root that a document digest and its path lead to; None when the path is malformed."""
    if not isinstance(path, list) or len(path) > 64:
        return None
    try:
        node = _leaf(digest)
        for step in path:
            side, sibling = step
            other = bytes.fromhex(sibling)
            if len(other) != 32 or side not in ("L", "R"):
                return None
            node = _node(other, node) if side == "L" else _node(node, other)
    except (TypeError, ValueError):
        return None
    return node.hex()


def seal_documents(documents: list[dict[str, Any]], *, signer: str = "platform") -> list[dict[str, Any]]:
    """R10 R26: seal several documents with one SM2 signature over the root of the hash tree of their SM3
    digests (the platform's many small delivery receipts, sealed together as they are committed). Each
    result is a sealed document of the same format, checked alone by `verify_sealed`; one document gets
    a plain seal."""
    if len(documents) <= 1:
        return [seal_document(d, signer=signer) for d in documents]
    digests = [sm3_hex(canonical_json(d)) for d in documents]
    root, paths = _tree_paths(digests)
    sealed_at = now().isoformat()
    signature = sign_bytes(platform_private_key(), signed_bytes(root, signer, sealed_at))
    return [
        _sealed(document, digest, signature, signer, sealed_at, tree={"root": root, "path": path})
        for document, digest, path in zip(documents, digests, paths, strict=True)
    ]


def signed_bytes(digest: str, signer: str | None, sealed_at: str | None) -> bytes:
    """What the SM2 signature covers: the document's SM3 digest, who sealed it and when."""
    return canonical_json({"sm3": digest, "signer": signer, "sealed_at": sealed_at})


def platform_key_ids(session: Session) -> set[str]:
    return set(session.scalars(select(SealKey.key_id).where(SealKey.is_platform.is_(True))))


def registered_key_ids(session: Session) -> set[str]:
    """R10: the keys whose seals the platform accepts: every registered key that is not revoked."""
    return set(session.scalars(select(SealKey.key_id).where(SealKey.revoked_at.is_(None))))


# Why a seal does not hold (code → Chinese, English).
SEAL_REASONS: dict[str, tuple[str, str]] = {
    "seal.format": ("不是本平台格式的电子印章文件", "Not a sealed document of the platform's format"),
    "seal.public_key": ("印章中的公钥无法读取", "The public key in the seal cannot be read"),
    "seal.key_id": ("印章的密钥标识与其公钥不符", "The seal's key id does not match its public key"),
    "seal.digest": (
        "文件内容与印章中的SM3摘要不符（内容已被改动）",
        "The document does not match the seal's SM3 digest",
    ),
    "seal.signature": ("SM2签名验证失败", "The SM2 signature does not verify"),
    "seal.tree": (
        "文件摘要经其路径得不到印章签署的根摘要（路径或内容已被改动）",
        "The document's digest and path do not lead to the signed root",
    ),
    "seal.untrusted": ("印章密钥不在受信任的密钥之列", "The seal's key is not among the trusted keys"),
    "seal.file_digest": (
        "文件与印章中记录的SM3摘要不符",
        "The file does not match the SM3 digest in its seal",
    ),
}


@dataclass(frozen=True)
class SealCheck:
    """R10: the outcome of checking an electronic seal. The signature covers the document's digest, the
    signer's name and the sealing time; who the signer really is is proven by the key id being trusted."""

    valid: bool
    key_id: str | None
    signer: str | None
    reason_code: str | None = None
    reason_zh: str | None = None
    reason_en: str | None = None


def _refused(code: str, key: str | None = None, signer: str | None = None) -> SealCheck:
    zh, en = SEAL_REASONS[code]
    return SealCheck(False, key, signer, code, zh, en)


def verify_sealed(sealed: Any, trusted_key_ids: set[str] | None = None) -> SealCheck:
    """R10: check a sealed document: its format, that `sm3` is the SM3 digest of the document's canonical
    JSON, the SM2 signature with the embedded public key, and (if `trusted_key_ids` is given) that the key
    is trusted. Without trusted keys only the seal's integrity is proven, not who made it."""
    seal = sealed.get("seal") if isinstance(sealed, dict) else None
    fields = ("algorithm", "key_id", "public_key", "sm3", "signature")
    if (
        not isinstance(seal, dict)
        or sealed.get("format") != SEAL_FORMAT
        or "document" not in sealed
        or seal.get("algorithm") != ALGORITHM
        or not all(isinstance(seal.get(f), str) for f in fields)
    ):
        return _refused("seal.format")
    kid: str = seal["key_id"]
    signer = seal.get("signer") if isinstance(seal.get("signer"), str) else None
    try:
        public = serialization.load_pem_public_key(seal["public_key"].encode())
    except (ValueError, TypeError):
        return _refused("seal.public_key", kid, signer)
    if not isinstance(public, ec.EllipticCurvePublicKey) or not isinstance(public.curve, ec.SM2):
        return _refused("seal.public_key", kid, signer)
    if key_id(seal["public_key"]) != kid:
        return _refused("seal.key_id", kid, signer)
    try:
        data = canonical_json(sealed["document"])
    except (TypeError, ValueError):
        return _refused("seal.format", kid, signer)
    if not constant_time_equal(sm3_hex(data), seal["sm3"]):
        return _refused("seal.digest", kid, signer)
    try:
        signature = base64.b64decode(seal["signature"], validate=True)
    except (binascii.Error, ValueError):
        return _refused("seal.signature", kid, signer)
    sealed_at = seal.get("sealed_at") if isinstance(seal.get("sealed_at"), str) else None
    signed_digest: str = seal["sm3"]
    if "tree" in seal:  # sealed with other documents: the signature covers the root of their tree
        tree = seal["tree"]
        root = tree_root(seal["sm3"], tree.get("path")) if isinstance(tree, dict) else None
        if root is None or not isinstance(tree.get("root"), str):
            return _refused("seal.format", kid, signer)
        if not constant_time_equal(root, tree["root"]):
            return _refused("seal.tree", kid, signer)
        signed_digest = root
    if not verify_bytes(seal["public_key"], signature, signed_bytes(signed_digest, signer, sealed_at)):
        return _refused("seal.signature", kid, signer)
    if trusted_key_ids is not None and kid not in trusted_key_ids:
        return _refused("seal.untrusted", kid, signer)
    return SealCheck(True, kid, signer)


def file_sm3(path: Path) -> str:
    """The SM3 digest of a file, read in blocks."""
    h = chashes.Hash(chashes.SM3())
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.finalize().hex()


def seal_file_digest(path: Path, *, signer: str = "platform") -> dict[str, Any]:
    """R10: a detached seal for any file (an export, a certificate scan): the platform seals a small
    document naming the file and its SM3 digest; the file itself is left as it is."""
    document = {"kind": "file-digest", "name": path.name, "size": path.stat().st_size, "sm3": file_sm3(path)}
    return seal_document(document, signer=signer)


def verify_detached(path: Path, sealed: Any, trusted_key_ids: set[str] | None = None) -> SealCheck:
    """R10: check a detached seal made by `seal_file_digest`, then that the file has the sealed digest."""
    result = verify_sealed(sealed, trusted_key_ids)
    if not result.valid:
        return result
    document = sealed["document"]
    if not isinstance(document, dict) or document.get("kind") != "file-digest":
        return _refused("seal.format", result.key_id, result.signer)
    if not constant_time_equal(file_sm3(path), str(document.get("sm3", ""))):
        return _refused("seal.file_digest", result.key_id, result.signer)
    return result
