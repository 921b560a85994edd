"""R10: the identifiers that key public data — the resident ID number (GB 11643-1999) of a natural person and
the unified social credit code (USCC, GB 32100-2015) of a legal person or unincorporated organisation.

Every check returns a `CheckResult` with a stable error code; the vectorised twins in `vector.py` return the
same codes for the same inputs. Normalisation is deliberately narrow so that both agree byte for byte:
ASCII whitespace around the value is dropped and ASCII letters are upper-cased (a lowercase 'x' check
character is accepted as 'X'); any other character is kept and judged as it is.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from gongshu.kernel.errors import ValidationFailed
from gongshu.kernel.timeutil import today_china

Kind = Literal["id_number", "uscc"]

ASCII_WHITESPACE = " \t\n\r\f\v"
DIGITS = "0123456789"

# GB 11643: weights W_i = 2^(18-i) mod 11 over the first 17 digits; check = ID_CHECK[S mod 11].
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
ID_LAST = DIGITS + "X"
ID_EARLIEST_BIRTH_YEAR = 1900

# The first two digits of the region code must name a province-level division (GB/T 2260):
# 11–15 North China, 21–23 North-East, 31–37 East, 41–46 Central-South, 50–54 South-West, 61–65 North-West,
# 71 Taiwan, 81 Hong Kong and 82 Macao (also used by their residents' residence permits), 83 the residence
# permits of Taiwan residents, and 91 the permanent residence ID cards of foreigners (2023 format).
PROVINCE_CODES = frozenset(
    [
        *range(11, 16),
        *range(21, 24),
        *range(31, 38),
        *range(41, 47),
        *range(50, 55),
        *range(61, 66),
        71,
        81,
        82,
        83,
        91,
    ]
)

# GB 32100: 31 characters (no I, O, S, V, Z); weights W_i = 3^(i-1) mod 31;
# check = alphabet[(31 - S % 31) % 31].
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
USCC_VALUE = {c: i for i, c in enumerate(USCC_ALPHABET)}

# Stable error codes with their messages (zh, en). The order is the order in which the checks run.
ERRORS: dict[str, tuple[str, str]] = {
    "id.empty": ("身份证号码为空", "The ID number is empty"),
    "id.length": (
        "身份证号码应为18位（或15位旧号码）",
        "An ID number has 18 characters (or 15 digits, legacy)",
    ),
    "id.format": ("身份证号码前17位应为数字，末位为数字或X", "An ID number is 17 digits and a digit or X"),
    "id.region": ("身份证号码的行政区划代码无效", "The region code of the ID number is not a province code"),
    "id.birth_date": ("身份证号码中的出生日期无效", "The birth date in the ID number is not a valid date"),
    "id.birth_future": ("身份证号码中的出生日期晚于今天", "The birth date in the ID number is in the future"),
    "id.check_digit": ("身份证号码校验码错误", "The check character of the ID number is wrong"),
    "uscc.empty": ("统一社会信用代码为空", "The unified social credit code is empty"),
    "uscc.length": ("统一社会信用代码应为18位", "A unified social credit code has 18 characters"),
    "uscc.alphabet": (
        "统一社会信用代码含有不允许的字符（不使用I、O、S、V、Z）",
        "The unified social credit code has a character outside its alphabet (no I, O, S, V, Z)",
    ),
    "uscc.check_digit": (
        "统一社会信用代码校验码错误",
        "The check character of the unified social credit code is wrong",
    ),
    "identifier.empty": ("标识为空", "The identifier is empty"),
    "identifier.length": (
        "标识应为18位身份证号码或统一社会信用代码，或15位旧身份证号码",
        "An identifier is an 18-character ID number or USCC, or a 15-digit legacy ID number",
    ),
}


@dataclass(frozen=True)
class CheckResult:
    """R10: the outcome of checking one identifier. `normalized` is the canonical 18-character form."""

    valid: bool
    kind: Kind | None
    normalized: str | None
    error_code: str | None = None
    error_zh: str | None = None
    error_en: str | None = None


def _ok(kind: Kind, normalized: str) -> CheckResult:
    return CheckResult(True, kind, normalized)


def _bad(kind: Kind | None, code: str) -> CheckResult:
    zh, en = ERRORS[code]
    return CheckResult(False, kind, None, code, zh, en)


def normalise(value: str) -> str:
    """Drop ASCII whitespace around the value and upper-case ASCII letters only."""
    stripped = value.strip(ASCII_WHITESPACE)
    return "".join(c.upper() if c.isascii() else c for c in stripped)


def _all_digits(s: str) -> bool:
    return all(c in DIGITS for c in s)


def id_check_char(first17: str) -> str:
    """GB 11643: the ISO 7064 MOD 11-2 check character of 17 digits."""
    return ID_CHECK[sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


def uscc_check_char(first17: str) -> str:
    """GB 32100: the MOD 31 check character of 17 alphabet characters (remainder 0 gives '0')."""
    s = sum(USCC_VALUE[c] * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - s % 31) % 31]


def _birth_problem(yyyymmdd: str, today: dt.date) -> str | None:
    try:
        born = dt.date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return "id.birth_date"
    if born.year < ID_EARLIEST_BIRTH_YEAR:
        return "id.birth_date"
    if born > today:
        return "id.birth_future"
    return None


def check_id_number(value: str | None, *, today: dt.date | None = None) -> CheckResult:
    """R10: a natural person's resident ID number (GB 11643). A 15-digit legacy number is accepted and
    upgraded to its 18-character form (`normalized`). `today` bounds the birth date (default: today in
    China)."""
    if value is None:
        return _bad("id_number", "id.empty")
    s = normalise(value)
    if not s:
        return _bad("id_number", "id.empty")
    if len(s) not in (15, 18):
        return _bad("id_number", "id.length")
    legacy = len(s) == 15
    if not (_all_digits(s) if legacy else _all_digits(s[:17]) and s[17] in ID_LAST):
        return _bad("id_number", "id.format")
    if int(s[:2]) not in PROVINCE_CODES:
        return _bad("id_number", "id.region")
    birth = "19" + s[6:12] if legacy else s[6:14]
    problem = _birth_problem(birth, today or today_china())
    if problem:
        return _bad("id_number", problem)
    if legacy:
        return _ok("id_number", _upgrade(s))
    if id_check_char(s[:17]) != s[17]:
        return _bad("id_number", "id.check_digit")
    return _ok("id_number", s)


def check_uscc(value: str | None) -> CheckResult:
    """R10: a legal person's or organisation's unified social credit code (GB 32100). The registration
    authority code (first character) may be a digit or a letter of the alphabet (e.g. 1, 5, 9, N, Y)."""
    if value is None:
        return _bad("uscc", "uscc.empty")
    s = normalise(value)
    if not s:
        return _bad("uscc", "uscc.empty")
    if len(s) != 18:
        return _bad("uscc", "uscc.length")
    if any(c not in USCC_VALUE for c in s):
        return _bad("uscc", "uscc.alphabet")
    if uscc_check_char(s[:17]) != s[17]:
        return _bad("uscc", "uscc.check_digit")
    return _ok("uscc", s)


def looks_like_id_number(s: str) -> bool:
    """The shape of an ID number: 15 characters, or 17 digits then a digit or X (after `normalise`)."""
    return len(s) == 15 or (len(s) == 18 and _all_digits(s[:17]) and s[17] in ID_LAST)


def check_identifier(value: str | None, *, today: dt.date | None = None) -> CheckResult:
    """R10: check a value that keys a person or an organisation, guessing its kind. 15 characters → legacy
    ID number; 18 characters shaped like an ID number → ID number, unless it fails as one but is a valid
    USCC (a USCC may be all digits); other 18-character values → USCC."""
    if value is None:
        return _bad(None, "identifier.empty")
    s = normalise(value)
    if not s:
        return _bad(None, "identifier.empty")
    if len(s) not in (15, 18):
        return _bad(None, "identifier.length")
    if looks_like_id_number(s):
        as_id = check_id_number(s, today=today)
        if as_id.valid or len(s) == 15:
            return as_id
        as_uscc = check_uscc(s)
        return as_uscc if as_uscc.valid else as_id
    return check_uscc(s)


def _upgrade(s15: str) -> str:
    first17 = s15[:6] + "19" + s15[6:]
    return first17 + id_check_char(first17)


def upgrade_legacy_id(value: str) -> str:
    """GB 11643: a 15-digit legacy ID number (born 19xx) in its 18-character form: "19" is inserted after
    the region code and the check character appended. Raises `ValidationFailed` if it is not a valid one."""
    s = normalise(value)
    if len(s) != 15:
        raise ValidationFailed(
            "id.legacy_length", "旧身份证号码应为15位数字", "A legacy ID number has 15 digits"
        )
    result = check_id_number(s)
    if not result.valid or result.normalized is None:
        raise ValidationFailed(str(result.error_code), str(result.error_zh), str(result.error_en))
    return result.normalized


def make_id_number(region: str, birth: dt.date, seq: int) -> str:
    """GB 11643: an 18-character ID number from a 6-digit region code, a birth date and a 3-digit sequence
    (odd for men, even for women), with its check character. For the demo city and tests."""
    if len(region) != 6 or not _all_digits(region) or int(region[:2]) not in PROVINCE_CODES:
        raise ValidationFailed("id.region", *ERRORS["id.region"], field="region")
    if not ID_EARLIEST_BIRTH_YEAR <= birth.year <= 9999:
        raise ValidationFailed("id.birth_date", *ERRORS["id.birth_date"], field="birth")
    if not 0 <= seq <= 999:
        raise ValidationFailed(
            "id.sequence", "顺序码应为0至999", "The sequence number is 0 to 999", field="seq"
        )
    first17 = f"{region}{birth:%Y%m%d}{seq:03d}"
    return first17 + id_check_char(first17)


def make_uscc(prefix17: str) -> str:
    """GB 32100: a USCC from its first 17 characters (authority, category, region, organisation code),
    with its check character. For the demo city and tests."""
    s = normalise(prefix17)
    if len(s) != 17:
        raise ValidationFailed(
            "uscc.length", "应给出统一社会信用代码的前17位", "Give the first 17 characters"
        )
    if any(c not in USCC_VALUE for c in s):
        raise ValidationFailed("uscc.alphabet", *ERRORS["uscc.alphabet"])
    return s + uscc_check_char(s)
