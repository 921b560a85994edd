"""R10: column-wise checks of resident ID numbers and USCCs, for aggregation and quality work (R13).

Each function takes a sequence of strings (None allowed) or a pyarrow string array and returns, per value,
whether it is valid and the same stable error code that `checks.py` gives for it (None when valid). The
values are trimmed by pyarrow, then the 18- and 15-character ones are laid out as a byte matrix and checked
with numpy arithmetic — about a million values in a few hundred milliseconds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, NamedTuple, TypeAlias

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from gongshu.kernel.identifiers.checks import (
    ASCII_WHITESPACE,
    ID_CHECK,
    ID_EARLIEST_BIRTH_YEAR,
    ID_WEIGHTS,
    PROVINCE_CODES,
    USCC_ALPHABET,
    USCC_WEIGHTS,
)
from gongshu.kernel.timeutil import today_china

Values: TypeAlias = Sequence[str | None] | pa.Array | pa.ChunkedArray
BoolArray = npt.NDArray[np.bool_]
ObjectArray = npt.NDArray[np.object_]

# Error codes by small integer (0 = valid), in the order the scalar checks run.
_CODES: tuple[str | None, ...] = (
    None,
    "id.empty",
    "id.length",
    "id.format",
    "id.region",
    "id.birth_date",
    "id.birth_future",
    "id.check_digit",
    "uscc.empty",
    "uscc.length",
    "uscc.alphabet",
    "uscc.check_digit",
    "identifier.empty",
    "identifier.length",
)
_C = {code: i for i, code in enumerate(_CODES)}
_CODE_ARRAY = np.array(_CODES, dtype=object)
_KINDS = np.array([None, "id_number", "uscc"], dtype=object)

_PROVINCE = np.zeros(100, dtype=bool)
_PROVINCE[list(PROVINCE_CODES)] = True
_ID_CHECK_BYTES = np.frombuffer(ID_CHECK.encode(), dtype=np.uint8)
_USCC_LUT = np.full(256, -1, dtype=np.int16)
for _i, _c in enumerate(USCC_ALPHABET):
    _USCC_LUT[ord(_c)] = _i
    _USCC_LUT[ord(_c.lower())] = _i  # ASCII letters are upper-cased, as in the scalar check
_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int32)


class VectorCheck(NamedTuple):
    """Per value: valid or not, and the stable error code (None when valid)."""

    valid: BoolArray
    error_code: ObjectArray


class IdentifierVectorCheck(NamedTuple):
    """Per value: valid or not, the stable error code, and the kind ("id_number", "uscc" or None)."""

    valid: BoolArray
    error_code: ObjectArray
    kind: ObjectArray


class _Prepared(NamedTuple):
    n: int
    chars: npt.NDArray[np.int64]  # length in characters after trimming; -1 for null
    nbytes: npt.NDArray[np.int64]
    offsets: npt.NDArray[np.int64]
    data: npt.NDArray[np.uint8]


def _prepare(values: Values) -> _Prepared:
    if isinstance(values, pa.ChunkedArray):
        arr: Any = values.combine_chunks() if values.num_chunks else pa.array([], type=pa.string())
    elif isinstance(values, pa.Array):
        arr = values
    else:
        arr = pa.array(list(values), type=pa.string())
    if not pa.types.is_large_string(arr.type):
        arr = pc.cast(arr, pa.large_string())
    arr = pc.utf8_trim(arr, characters=ASCII_WHITESPACE)
    n = len(arr)
    chars = pc.fill_null(pc.utf8_length(arr), -1).to_numpy().astype(np.int64)
    nbytes = pc.fill_null(pc.binary_length(arr), -1).to_numpy().astype(np.int64)
    buffers = arr.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[arr.offset : arr.offset + n + 1]
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
    return _Prepared(n, chars, nbytes, offsets, data)


def _matrix(p: _Prepared, rows: npt.NDArray[np.intp], width: int) -> npt.NDArray[np.int16]:
    """The bytes of the given (all-ASCII, `width`-byte) values, one row per character position
    (width × rows): each position is then a contiguous vector."""
    starts = p.offsets[rows]
    out = np.empty((width, len(rows)), dtype=np.int16)
    for j in range(width):
        out[j] = p.data[starts + j]
    return out


def _all(a: BoolArray) -> BoolArray:
    """Per value (column of the position-major matrix): do all positions hold?"""
    return np.asarray(a.all(axis=0), dtype=bool)


def _first_failure(checks: list[tuple[BoolArray, str]], size: int) -> npt.NDArray[np.int8]:
    """The code of the first failing check per row (0 when all pass)."""
    code = np.zeros(size, dtype=np.int8)
    for ok, name in reversed(checks):
        code[~ok] = _C[name]
    return code


def _valid_birth(y: npt.NDArray[np.int32], m: npt.NDArray[np.int32], d: npt.NDArray[np.int32]) -> BoolArray:
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    month_ok = (m >= 1) & (m <= 12)
    days = _DAYS[np.clip(m, 0, 12)] + ((m == 2) & leap)
    ok: BoolArray = month_ok & (d >= 1) & (d <= days) & (y >= ID_EARLIEST_BIRTH_YEAR)
    return ok


def _number(digits: npt.NDArray[np.int16], a: int, b: int) -> npt.NDArray[np.int32]:
    out = np.zeros(digits.shape[1], dtype=np.int32)
    for j in range(a, b):
        out = out * 10 + digits[j]
    return out


def _weighted(values: npt.NDArray[np.int16], weights: tuple[int, ...]) -> npt.NDArray[np.int32]:
    total = np.zeros(values.shape[1], dtype=np.int32)
    for j, w in enumerate(weights):
        total += values[j].astype(np.int32) * w
    return total


def _id_codes(m: npt.NDArray[np.int16], today: dt.date, legacy: bool) -> npt.NDArray[np.int8]:
    d = m - 48
    is_digit = (d >= 0) & (d <= 9)
    if legacy:
        fmt = _all(is_digit)
    else:
        last = m[17]
        fmt = _all(is_digit[:17]) & (is_digit[17] | (last == ord("X")) | (last == ord("x")))
    d[~is_digit] = 0
    region = _PROVINCE[d[0] * 10 + d[1]]
    if legacy:
        year, month, day = 1900 + _number(d, 6, 8), _number(d, 8, 10), _number(d, 10, 12)
    else:
        year, month, day = _number(d, 6, 10), _number(d, 10, 12), _number(d, 12, 14)
    birth_ok = _valid_birth(year, month, day)
    today_num = today.year * 10000 + today.month * 100 + today.day
    not_future = (year * 10000 + month * 100 + day) <= today_num
    checks = [
        (fmt, "id.format"),
        (region, "id.region"),
        (birth_ok, "id.birth_date"),
        (not_future, "id.birth_future"),
    ]
    if not legacy:
        expected = _ID_CHECK_BYTES[_weighted(d, ID_WEIGHTS) % 11]
        given = np.where(m[17] == ord("x"), ord("X"), m[17])
        checks.append((expected == given, "id.check_digit"))
    return _first_failure(checks, m.shape[1])


def _id_code_vector(p: _Prepared, today: dt.date) -> npt.NDArray[np.int8]:
    code = np.full(p.n, _C["id.length"], dtype=np.int8)
    code[p.chars <= 0] = _C["id.empty"]
    for width in (18, 15):
        same = p.chars == width
        code[same & (p.nbytes != width)] = _C["id.format"]  # a non-ASCII character among them
        rows = np.flatnonzero(same & (p.nbytes == width))
        code[rows] = _id_codes(_matrix(p, rows, width), today, legacy=width == 15)
    return code


def _uscc_code_vector(p: _Prepared) -> npt.NDArray[np.int8]:
    code = np.full(p.n, _C["uscc.length"], dtype=np.int8)
    code[p.chars <= 0] = _C["uscc.empty"]
    same = p.chars == 18
    code[same & (p.nbytes != 18)] = _C["uscc.alphabet"]
    rows = np.flatnonzero(same & (p.nbytes == 18))
    v = _USCC_LUT[_matrix(p, rows, 18)]
    alphabet_ok = _all(v >= 0)
    expected = (31 - _weighted(np.where(v >= 0, v, 0), USCC_WEIGHTS) % 31) % 31
    code[rows] = _first_failure(
        [(alphabet_ok, "uscc.alphabet"), (v[17] == expected, "uscc.check_digit")], len(rows)
    )
    return code


def _result(code: npt.NDArray[np.int8]) -> VectorCheck:
    return VectorCheck(code == 0, _CODE_ARRAY[code])


def check_id_numbers(values: Values, *, today: dt.date | None = None) -> VectorCheck:
    """R10: `checks.check_id_number` over a column (15-digit legacy numbers count as valid)."""
    return _result(_id_code_vector(_prepare(values), today or today_china()))


def check_usccs(values: Values) -> VectorCheck:
    """R10: `checks.check_uscc` over a column."""
    return _result(_uscc_code_vector(_prepare(values)))


def check_identifiers(values: Values, *, today: dt.date | None = None) -> IdentifierVectorCheck:
    """R10: `checks.check_identifier` over a column of mixed ID numbers and USCCs."""
    p = _prepare(values)
    id_code = _id_code_vector(p, today or today_china())
    uscc_code = _uscc_code_vector(p)
    is18 = p.chars == 18
    shaped = (p.chars == 15) | (is18 & (id_code != _C["id.format"]))
    use_uscc = (is18 & ~shaped) | (is18 & shaped & (id_code != 0) & (uscc_code == 0))
    code = np.where(use_uscc, uscc_code, id_code).astype(np.int8)
    kind = np.where(use_uscc, 2, 1).astype(np.int8)
    unknown_length = (p.chars != 15) & ~is18
    code[unknown_length] = _C["identifier.length"]
    code[p.chars <= 0] = _C["identifier.empty"]
    kind[unknown_length | (p.chars <= 0)] = 0
    return IdentifierVectorCheck(code == 0, _CODE_ARRAY[code], _KINDS[kind])
