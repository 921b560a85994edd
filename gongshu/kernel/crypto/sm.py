"""SM3 digests and HMAC-SM3 (GB/T 32905), the hash of every chain and seal on the platform."""

from __future__ import annotations

import hmac

from cryptography.hazmat.primitives import hashes


def sm3(data: bytes) -> bytes:
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize()


def sm3_hex(data: bytes) -> str:
    return sm3(data).hex()


def hmac_sm3_hex(key: bytes, data: bytes) -> str:
    """Keyed hash, e.g. of an ID number in the audit log's data tracker (never stored in clear)."""
    from cryptography.hazmat.primitives import hmac as chmac

    mac = chmac.HMAC(key, hashes.SM3())
    mac.update(data)
    return mac.finalize().hex()


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
