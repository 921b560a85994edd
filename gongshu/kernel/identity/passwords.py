"""R5: passwords of the platform's accounts — the policy they must meet, argon2id hashing, verification
with rehash-if-needed (parameters may be raised later without forcing anyone to reset)."""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from gongshu.kernel.errors import ValidationFailed

MIN_LENGTH = 10
MAX_LENGTH = 256  # bounds the hashing work an attacker can ask for

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the username is unknown, so that both refusals cost the same time. Made on
    first use, not at import: every process (workers, the command line) would pay for it otherwise."""
    return _hasher.hash("gongshu-dummy-password-0")


def check_password_policy(password: str, *, field: str = "password") -> None:
    """R5: an account password has at least 10 characters and holds both letters and digits."""
    if len(password) < MIN_LENGTH:
        raise ValidationFailed(
            "password.too_short",
            f"密码至少需要{MIN_LENGTH}个字符（当前{len(password)}个）",
            f"The password needs at least {MIN_LENGTH} characters (it has {len(password)})",
            field=field,
        )
    if len(password) > MAX_LENGTH:
        raise ValidationFailed(
            "password.too_long",
            f"密码不能超过{MAX_LENGTH}个字符",
            f"The password may have at most {MAX_LENGTH} characters",
            field=field,
        )
    has_letter = any(c.isalpha() for c in password)
    has_digit = any(c.isdigit() for c in password)
    if not has_letter:
        raise ValidationFailed(
            "password.needs_letter", "密码必须包含字母", "The password must contain a letter", field=field
        )
    if not has_digit:
        raise ValidationFailed(
            "password.needs_digit", "密码必须包含数字", "The password must contain a digit", field=field
        )


def hash_password(password: str) -> str:
    """An argon2id hash (salted, memory-hard) in the PHC string format."""
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when `password` matches `stored_hash`. With no hash (unknown user) a dummy hash is checked,
    so that the time taken does not tell whether the account exists."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _hasher.verify(stored_hash or _dummy_hash(), password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when the stored hash was made with weaker parameters than the current ones."""
    try:
        return _hasher.check_needs_rehash(stored_hash)
    except (InvalidHashError, ValueError):
        return True
