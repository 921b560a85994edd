"""Secrets at rest (e.g. the passwords of departments' databases that the platform pulls from, R7/R19),
encrypted with SM4 (GB/T 32907) in CBC mode and authenticated with HMAC-SM3 (encrypt-then-MAC).

Both keys are derived from the platform's secret key (`Settings.resolved_secret_key()`) with HMAC-SM3 under
distinct labels, so a token made on one installation does not open on another. A token reads
`sm4:1:<base64url(iv ‖ ciphertext ‖ tag)>`; any change to it, or the wrong key, is refused.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives import hmac as chmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from gongshu.kernel.config import get_settings
from gongshu.kernel.errors import GongshuError

PREFIX = "sm4:1:"
_BLOCK = 16
_TAG = 32


def _mac(key: bytes, data: bytes) -> bytes:
    mac = chmac.HMAC(key, hashes.SM3())
    mac.update(data)
    return mac.finalize()


def _keys(secret: str | None) -> tuple[bytes, bytes]:
    master = (secret if secret is not None else get_settings().resolved_secret_key()).encode()
    return _mac(master, b"gongshu/sm4/encrypt/1")[:_BLOCK], _mac(master, b"gongshu/sm4/authenticate/1")


def encrypt_secret(text: str, *, secret: str | None = None) -> str:
    """Encrypt a secret for storage. `secret` overrides the platform's secret key (key rotation)."""
    enc_key, mac_key = _keys(secret)
    iv = os.urandom(_BLOCK)
    padder = padding.PKCS7(128).padder()
    plain = padder.update(text.encode()) + padder.finalize()
    encryptor = Cipher(algorithms.SM4(enc_key), modes.CBC(iv)).encryptor()
    body = iv + encryptor.update(plain) + encryptor.finalize()
    tag = _mac(mac_key, PREFIX.encode() + body)
    return PREFIX + base64.urlsafe_b64encode(body + tag).decode()


def _refuse(code: str, zh: str, en: str) -> GongshuError:
    return GongshuError(code, zh, en, status_code=500)


def decrypt_secret(token: str, *, secret: str | None = None) -> str:
    """Decrypt a token made by `encrypt_secret`. Raises `crypto.secret_format` for a malformed token and
    `crypto.secret_tampered` when the token was changed or the key is not the one it was made with."""
    if not token.startswith(PREFIX):
        raise _refuse("crypto.secret_format", "不是加密的密文", "Not an encrypted secret")
    try:
        raw = base64.urlsafe_b64decode(token[len(PREFIX) :].encode())
    except (binascii.Error, ValueError) as exc:
        raise _refuse("crypto.secret_format", "密文编码错误", "The encrypted secret is malformed") from exc
    if len(raw) < 2 * _BLOCK + _TAG or (len(raw) - _TAG) % _BLOCK:
        raise _refuse("crypto.secret_format", "密文长度错误", "The encrypted secret has a wrong length")
    enc_key, mac_key = _keys(secret)
    body, tag = raw[:-_TAG], raw[-_TAG:]
    if not hmac.compare_digest(tag, _mac(mac_key, PREFIX.encode() + body)):
        raise _refuse(
            "crypto.secret_tampered",
            "密文已被改动，或密钥不符",
            "The encrypted secret was altered or the key does not match",
        )
    decryptor = Cipher(algorithms.SM4(enc_key), modes.CBC(body[:_BLOCK])).decryptor()
    padded = decryptor.update(body[_BLOCK:]) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return (unpadder.update(padded) + unpadder.finalize()).decode()
