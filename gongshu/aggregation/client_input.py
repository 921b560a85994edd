"""R7: what a client names in a load request — the file name of an upload, the Idempotency-Key of a push or
an upload — as the platform keeps it with the batch: a file's base name only, the key only in the
characters an HTTP header carries faithfully (visible ASCII), refused precisely otherwise."""

from __future__ import annotations

import re
import unicodedata
from pathlib import PurePosixPath

from gongshu.kernel.errors import ValidationFailed

MAX_FILENAME = 200
"""R7: the longest file name kept with a batch (cut, its suffix kept)."""
MAX_KEY = 120
"""R7: the longest Idempotency-Key (the batch's column holds 120 characters)."""
_DIRECTORIES = re.compile(r"[/\\]")
_DROPPED = ("Cc", "Cf", "Cs")  # control, format (bidirectional overrides, zero-width) and lone surrogates
_KEY_SHAPE = re.compile(r"^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$")


def base_name(filename: str | None) -> str:
    """R7: a client's file name as the batch keeps it — its last path component only (a client may send
    `C:\\Users\\x\\data.csv` or `../../data.csv`: both separators count), without control, format or
    surrogate characters, cut to `MAX_FILENAME` characters with its suffix kept. Empty when nothing is
    left (`ingest.file_name_invalid` for the caller to answer)."""
    if not filename:
        return ""
    name = _DIRECTORIES.split(filename)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in _DROPPED).strip()
    if name in (".", ".."):
        return ""
    if len(name) > MAX_FILENAME:
        suffix = PurePosixPath(name).suffix
        suffix = suffix if len(suffix) <= 16 else ""
        name = name[: MAX_FILENAME - len(suffix)] + suffix
    return name


def idempotency_key(value: str | None, *, domain: str, required: bool) -> str | None:
    """R7: the Idempotency-Key header, trimmed: 1 to `MAX_KEY` visible ASCII characters (spaces inside
    allowed). HTTP carries header values as bytes, read as Latin-1: a key in another script would be
    kept garbled, so it is refused (`<domain>.idempotency_key_invalid`, 422) rather than stored under a
    name its client never sent. Missing: None, or `<domain>.idempotency_key_required` when `required`."""
    key = (value or "").strip()
    if not key:
        if not required:
            return None
        raise ValidationFailed(
            f"{domain}.idempotency_key_required",
            f"推送须带 Idempotency-Key 请求头（1 至 {MAX_KEY} 个字符）",
            f"A push needs an Idempotency-Key header (1 to {MAX_KEY} characters)",
            field="Idempotency-Key",
        )
    if len(key) > MAX_KEY or not _KEY_SHAPE.match(key):
        raise ValidationFailed(
            f"{domain}.idempotency_key_invalid",
            f"Idempotency-Key 请求头只能由可见的 ASCII 字符组成（字母、数字和 - _ . : 等符号），"
            f"最长 {MAX_KEY} 个字符；汉字等其他字符无法在请求头中准确传送",
            f"The Idempotency-Key header takes visible ASCII characters only (letters, digits and signs "
            f"such as - _ . :), at most {MAX_KEY}; other characters do not cross an HTTP header intact",
            field="Idempotency-Key",
            details={"max_length": MAX_KEY},
        )
    return key
