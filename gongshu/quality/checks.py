"""R13 R10: vectorised checks before the load (事前) — per item from its data type, length and key, plus
the rules declared for the resource. Each check gives, per row, the rule it broke (None when the value
passes); the first broken rule of a column is the one reported."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from gongshu.kernel.identifiers.checks import ERRORS as ID_ERRORS
from gongshu.kernel.identifiers.vector import check_id_numbers, check_usccs
from gongshu.quality import transforms

Errors = npt.NDArray[np.object_]
PATTERNS = {
    "integer": r"^-?\d+$",  # and within 64 bits (`_integer_range`)
    "decimal": r"^-?(\d+\.?\d*|\.\d+)$",
    "date": r"^\d{4}-\d{2}-\d{2}$",
    "datetime": r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$",
    "boolean": r"^[01]$",
}
FORMATS = ("date", "datetime")
INT64_BOUNDS = ("9223372036854775807", "9223372036854775808")
"""R13: the largest integer a 64-bit item holds, and the magnitude of the smallest, as digits."""
MESSAGES: dict[str, tuple[str, str]] = {
    "required": ("{label}为必填项（主键）", "{label} is required (the key)"),
    "type.integer": ("{label}应为整数", "{label} must be an integer"),
    "type.integer_range": (
        "{label}超出整数的取值范围（-9223372036854775808 至 9223372036854775807）",
        "{label} is out of range for an integer (-9223372036854775808 to 9223372036854775807)",
    ),
    "type.decimal": ("{label}应为数值", "{label} must be a number"),
    "type.date": ("{label}应为有效日期（如 2024-01-02）", "{label} must be a valid date (e.g. 2024-01-02)"),
    "type.datetime": (
        "{label}应为有效的日期时间（如 2024-01-02 08:30:00）",
        "{label} must be a valid date and time (e.g. 2024-01-02 08:30:00)",
    ),
    "type.boolean": ("{label}应为是/否", "{label} must be yes or no"),
    "length": ("{label}超过最大长度 {length}", "{label} is longer than {length} characters"),
    "character": (
        "{label}含有空字符（U+0000），不能存储",
        "{label} contains a NUL character (U+0000), which cannot be stored",
    ),
    "enum": ("{label}的取值不在允许范围内：{values}", "{label} must be one of: {values}"),
    "range": ("{label}超出允许范围 [{min}, {max}]", "{label} is outside [{min}, {max}]"),
    "pattern": ("{label}的格式不符合规则 {regex}", "{label} does not match the pattern {regex}"),
    "date_range": ("{label}超出允许的日期范围 [{min}, {max}]", "{label} is outside the dates [{min}, {max}]"),
    "duplicate_key": (
        "同一批次中主键重复，保留最后一次出现的记录",
        "Duplicate key within the batch; the last occurrence is kept",
    ),
}


@dataclass
class ColumnResult:
    """The canonical values of a column (after the transforms) and the rule each row broke, if any."""

    values: pa.Array
    errors: Errors


def _mark(errors: Errors, failed: pa.Array | npt.NDArray[np.bool_], code: str) -> None:
    """Set `code` where the row failed and no earlier rule already failed."""
    arr = (
        failed
        if isinstance(failed, np.ndarray)
        else pc.fill_null(failed, False).to_numpy(zero_copy_only=False)
    )
    errors[arr & (errors == None)] = code  # noqa: E711 — element-wise comparison of an object array


_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def _part(values: pa.Array, start: int, stop: int) -> npt.NDArray[np.int64]:
    text = pc.utf8_slice_codeunits(values, start, stop)
    out: npt.NDArray[np.int64] = pc.cast(text, pa.int64()).to_numpy(zero_copy_only=False)
    return out


def _real_instants(values: pa.Array, shaped: pa.Array) -> npt.NDArray[np.bool_]:
    """Shaped as a date (and time): is it a real calendar day (and time of day)? Vectorised."""
    mask = pc.fill_null(shaped, False).to_numpy(zero_copy_only=False)
    out = np.ones(len(values), dtype=bool)
    if not mask.any():
        return out
    subset = pc.filter(values, pa.array(mask))
    y, m, d = _part(subset, 0, 4), _part(subset, 5, 7), _part(subset, 8, 10)
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    month_ok = (m >= 1) & (m <= 12)
    days = _DAYS[np.clip(m, 0, 12)] + ((m == 2) & leap)
    ok = month_ok & (d >= 1) & (d <= days) & (y >= 1)
    if len(subset) and pc.min(pc.utf8_length(subset)).as_py() >= 19:
        hh, mi, ss = _part(subset, 11, 13), _part(subset, 14, 16), _part(subset, 17, 19)
        ok &= (hh < 24) & (mi < 60) & (ss < 60)
    out[mask] = ok
    return out


def _integer_range(values: pa.Array, shaped: pa.Array) -> pa.Array:
    """R13: which integers (shaped `-?digits`) fall outside 64 bits — compared as digits, vectorised:
    leading zeros dropped, more than 19 digits is out, 19 digits are compared with the bound as text."""
    if not len(values) or (pc.max(pc.utf8_length(values)).as_py() or 0) <= 18:
        return pa.array(np.zeros(len(values), dtype=bool))  # the usual case: 18 digits always fit
    negative = pc.starts_with(values, "-")
    digits = pc.utf8_ltrim(pc.utf8_ltrim(values, characters="-"), characters="0")
    count = pc.utf8_length(digits)
    bound = pc.if_else(negative, INT64_BOUNDS[1], INT64_BOUNDS[0])
    over = pc.or_(pc.greater(count, 19), pc.and_(pc.equal(count, 19), pc.greater(digits, bound)))
    return pc.and_(shaped, pc.fill_null(over, False))


def _type_check(data_type: str, values: pa.Array, present: pa.Array, errors: Errors) -> None:
    if data_type in PATTERNS:
        bad = pc.and_(
            present, pc.invert(pc.fill_null(pc.match_substring_regex(values, PATTERNS[data_type]), False))
        )
        if data_type in FORMATS:
            shaped = pc.and_(present, pc.invert(bad))
            bad = pc.or_(bad, pc.and_(shaped, pa.array(~_real_instants(values, shaped))))
        _mark(errors, bad, f"type.{data_type}")
        if data_type == "integer":
            _mark(errors, _integer_range(values, pc.and_(present, pc.invert(bad))), "type.integer_range")
    elif data_type in ("id_number", "uscc"):
        check = check_id_numbers(values) if data_type == "id_number" else check_usccs(values)
        present_np = present.to_numpy(zero_copy_only=False)
        codes = np.where(present_np & ~check.valid, check.error_code, None)  # type: ignore[call-overload]
        free = errors == None  # noqa: E711
        errors[free] = codes[free]


def _rule_check(rule: Any, data_type: str, values: pa.Array, errors: Errors) -> None:
    """R13: a declared rule, applied to the values that passed the type check."""
    kind, params = rule.kind, rule.params
    ok = errors == None  # noqa: E711
    valid = pc.and_(pc.is_valid(values), pa.array(ok))
    if kind == "enum":
        allowed = pa.array([str(v) for v in params["values"]], pa.string())
        _mark(errors, pc.and_(valid, pc.invert(pc.is_in(values, value_set=allowed))), "enum")
    elif kind == "range" and data_type in ("integer", "decimal"):
        nums = pc.cast(pc.if_else(valid, values, pa.scalar(None, pa.string())), pa.float64())
        bad = pa.array(np.zeros(len(values), dtype=bool))
        if params.get("min") is not None:
            bad = pc.or_(bad, pc.less(nums, float(params["min"])))
        if params.get("max") is not None:
            bad = pc.or_(bad, pc.greater(nums, float(params["max"])))
        _mark(errors, pc.and_(valid, bad), "range")
    elif kind == "pattern":
        match = pc.match_substring_regex(values, f"^(?:{params['regex']})$")
        _mark(errors, pc.and_(valid, pc.invert(pc.fill_null(match, False))), "pattern")
    elif kind == "date_range" and data_type in ("date", "datetime"):
        day = pc.utf8_slice_codeunits(values, 0, 10)
        bad = pa.array(np.zeros(len(values), dtype=bool))
        if params.get("min"):
            bad = pc.or_(bad, pc.less(day, str(params["min"])))
        if params.get("max"):
            bad = pc.or_(bad, pc.greater(day, str(params["max"])))
        _mark(errors, pc.and_(valid, bad), "date_range")


def check_column(item: dict[str, Any], raw: pa.Array, rules: list[Any], *, required: bool) -> ColumnResult:
    """R13: transform, then check one column of a batch against its item and its declared rules."""
    data_type = str(item.get("data_type") or "string")
    values = transforms.for_type(data_type, raw)
    errors: Errors = np.full(len(values), None, dtype=object)
    present = pc.is_valid(values)
    if required:
        _mark(errors, pc.invert(present), "required")
    _type_check(data_type, values, present, errors)
    if data_type in ("string", "text"):  # no database stores U+0000 in text (PostgreSQL refuses it)
        _mark(errors, pc.and_(present, pc.match_substring(values, "\x00")), "character")
    length = item.get("length")
    if length and data_type in ("string", "text"):
        _mark(errors, pc.and_(present, pc.greater(pc.utf8_length(values), int(length))), "length")
    for rule in rules:
        _rule_check(rule, data_type, values, errors)
    return ColumnResult(values, errors)


def message(code: str, item: dict[str, Any], params: dict[str, Any] | None = None) -> tuple[str, str]:
    """R13: the Chinese and English message of a broken rule, for the quarantine and the report."""
    label_zh = str(item.get("label_zh") or item.get("name"))
    label_en = str(item.get("label_en") or item.get("name"))
    if code in ID_ERRORS:
        zh, en = ID_ERRORS[code]
        return f"{label_zh}：{zh}", f"{label_en}: {en}"
    zh, en = MESSAGES.get(code, ("{label}不符合规则 " + code, "{label} breaks the rule " + code))
    fmt: dict[str, Any] = {"min": "", "max": "", "regex": "", "values": "", "length": item.get("length")}
    fmt.update(params or {})
    if isinstance(fmt.get("values"), list):
        fmt["values"] = "、".join(str(v) for v in fmt["values"])
    return zh.format(label=label_zh, **fmt), en.format(label=label_en, **fmt)
