"""R13: transformation before the checks (治理：转换) — trimming, full-width to half-width digits and
letters, and normalisation of dates, times, booleans and numbers to one canonical text form. Vectorised
over pyarrow string arrays."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

FULLWIDTH = "[\\x{ff10}-\\x{ff19}\\x{ff21}-\\x{ff3a}\\x{ff41}-\\x{ff5a}\\x{ff0d}\\x{ff0e}\\x{ff1a}\\x{ff0f}]"
HALF = {
    cp: cp - 0xFEE0
    for r in ((0xFF10, 0xFF19), (0xFF21, 0xFF3A), (0xFF41, 0xFF5A))
    for cp in range(r[0], r[1] + 1)
}
HALF.update({0xFF0D: ord("-"), 0xFF0E: ord("."), 0xFF1A: ord(":"), 0xFF0F: ord("/")})
TRUE = pa.array(["1", "true", "t", "yes", "y", "是", "真"])
FALSE = pa.array(["0", "false", "f", "no", "n", "否", "假"])
SEP = r"\s*[年/.\-]\s*"
CANONICAL_DATE = r"^\d{4}-\d{2}-\d{2}$"
DATE_PARTS = rf"(\d{{4}}){SEP}(\d{{1,2}})\s*[月/.\-]\s*(\d{{1,2}})\s*日?"


def _sub(arr: pa.Array, pattern: str, replacement: str) -> pa.Array:
    return pc.replace_substring_regex(arr, pattern=pattern, replacement=replacement)


def trim(arr: pa.Array) -> pa.Array:
    """R13: surrounding whitespace (including the ideographic space) goes; an empty cell is missing."""
    out = pc.utf8_trim_whitespace(arr)
    return pc.if_else(pc.equal(out, ""), pa.scalar(None, pa.string()), out)


def _any(mask: pa.Array) -> bool:
    return bool(pc.any(mask).as_py())


def halfwidth(arr: pa.Array) -> pa.Array:
    """R13: full-width digits, letters and date punctuation become their half-width forms."""
    # Every full-width form (U+FF00..U+FF5F) starts with the byte EF in UTF-8 (as do few other characters):
    # the usual case, no such byte, costs one byte scan instead of a regular expression.
    if not _any(pc.match_substring(arr.cast(pa.binary()), b"\xef")):
        return arr
    mask = pc.fill_null(pc.match_substring_regex(arr, pattern=FULLWIDTH), False)
    idx = np.flatnonzero(mask.to_numpy(zero_copy_only=False))
    if not len(idx):
        return arr
    values = arr.to_pylist()
    for i in idx:
        values[i] = values[i].translate(HALF)
    return pa.array(values, pa.string())


def _canonical(arr: pa.Array, pattern: str) -> bool:
    """Is every value already in its canonical form? (One pass; then the rewriting passes are skipped.)"""
    return not _any(pc.invert(pc.fill_null(pc.match_substring_regex(arr, pattern), True)))


def _pad(arr: pa.Array) -> pa.Array:
    arr = _sub(arr, r"^(\d{4})-(\d)-", r"\1-0\2-")
    arr = _sub(arr, r"^(\d{4}-\d{2})-(\d)(\s|$)", r"\1-0\2\3")
    return arr


def date(arr: pa.Array) -> pa.Array:
    """R13: 2024年1月2日, 2024/1/2, 2024.1.2, 20240102 → 2024-01-02."""
    if _canonical(arr, CANONICAL_DATE):
        return arr
    arr = _sub(arr, rf"^{DATE_PARTS}$", r"\1-\2-\3")
    arr = _sub(arr, r"^(\d{4})(\d{2})(\d{2})$", r"\1-\2-\3")
    return _pad(arr)


def datetime(arr: pa.Array) -> pa.Array:
    """R13: a date with a time (2024/1/2 3:04, 2024-01-02T03:04:05, 2024年1月2日 3时4分) → 2024-01-02 03:04:05;
    a date alone is its midnight."""
    arr = _sub(
        arr,
        rf"^{DATE_PARTS}[\sT]*(\d{{1,2}})\s*[:时]\s*(\d{{1,2}})\s*(?:[:分]\s*(\d{{1,2}}))?\s*[秒分]?$",
        r"\1-\2-\3 \4:\5:\6",
    )
    arr = _sub(arr, r"^(\d{4})-(\d{2})-(\d{2})T", r"\1-\2-\3 ")
    arr = _sub(arr, r":$", ":00")
    arr = _pad(arr)
    arr = _sub(arr, r" (\d):", r" 0\1:")
    arr = _sub(arr, r":(\d):", r":0\1:")
    arr = _sub(arr, r":(\d)$", r":0\1")
    arr = _sub(arr, r"^(\d{2}:\d{2})$", r"\1")
    plain = date(arr)
    return pc.if_else(
        pc.fill_null(pc.match_substring_regex(plain, r"^\d{4}-\d{2}-\d{2}$"), False),
        pc.binary_join_element_wise(plain, " 00:00:00", ""),
        arr,
    )


def boolean(arr: pa.Array) -> pa.Array:
    """R13: yes/no in Chinese or English → 1/0 (anything else stays, and the check refuses it)."""
    low = pc.utf8_lower(arr)
    out = pc.if_else(pc.is_in(low, value_set=TRUE), "1", arr)
    return pc.if_else(pc.is_in(low, value_set=FALSE), "0", out)


def number(arr: pa.Array) -> pa.Array:
    """R13: thousands separators and a leading plus sign go."""
    if _any(pc.match_substring(arr, ",")):
        arr = pc.replace_substring(arr, ",", "")
    if _any(pc.starts_with(arr, "+")):
        arr = _sub(arr, r"^\+", "")
    return arr


def for_type(data_type: str, arr: pa.Array) -> pa.Array:
    """R13: every transform an item's type calls for, before its checks."""
    arr = trim(arr)
    if data_type in ("string", "text"):
        return arr
    arr = halfwidth(arr)
    if data_type in ("id_number", "uscc"):
        return pc.utf8_upper(arr)
    if data_type == "date":
        return date(arr)
    if data_type == "datetime":
        return datetime(arr)
    if data_type == "boolean":
        return boolean(arr)
    if data_type in ("integer", "decimal"):
        return number(arr)
    return arr
