"""R10: resident ID numbers (GB 11643) and unified social credit codes (GB 32100)."""

from __future__ import annotations

import datetime as dt
import json
import random
import time

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from gongshu.kernel.errors import ValidationFailed
from gongshu.kernel.identifiers import (
    check_id_number,
    check_identifier,
    check_uscc,
    make_id_number,
    make_uscc,
    upgrade_legacy_id,
)
from gongshu.kernel.identifiers.checks import PROVINCE_CODES, USCC_ALPHABET, id_check_char
from gongshu.kernel.identifiers.cli import app
from gongshu.kernel.identifiers.vector import check_id_numbers, check_identifiers, check_usccs

TODAY = dt.date(2024, 6, 1)


def test_r10_standard_examples_are_valid() -> None:
    r = check_id_number("11010519491231002X")
    assert r.valid and r.kind == "id_number" and r.normalized == "11010519491231002X" and r.error_code is None
    u = check_uscc("91350100M000100Y43")
    assert u.valid and u.kind == "uscc" and u.normalized == "91350100M000100Y43"


def test_r10_lowercase_x_and_whitespace_are_normalised() -> None:
    r = check_id_number(" 11010519491231002x\t")
    assert r.valid and r.normalized == "11010519491231002X"
    assert check_uscc("91350100m000100y43").normalized == "91350100M000100Y43"


def test_r10_letter_authority_uscc() -> None:
    # Hand check of N2350203MA2Y0001X: S = 22·1 + 2·3 + 3·9 + 5·27 + 0·19 + 2·26 + 0·16 + 3·17 + 21·20
    # + 10·29 + 2·25 + 30·13 + 0·8 + 0·24 + 0·10 + 1·30 + 29·28 = 2285; 2285 mod 31 = 22; 31 − 22 = 9 → '9'.
    assert check_uscc("N2350203MA2Y0001X9").valid
    assert not check_uscc("N2350203MA2Y0001X8").valid
    made = make_uscc("Y1350200MA8RT5L2B")
    assert made[0] == "Y" and check_uscc(made).valid and check_identifier(made).kind == "uscc"


def test_r10_uscc_check_character_zero() -> None:
    """GB 32100: a remainder of 0 gives the check character '0' (not alphabet[31])."""
    assert check_uscc("91350203MA00000280").valid
    assert make_uscc("91350203MA0000028") == "91350203MA00000280"
    assert check_uscc("91350203MA0000028Y").error_code == "uscc.check_digit"


def test_r10_wrong_check_characters_are_refused() -> None:
    r = check_id_number("110105194912310021")
    assert not r.valid and r.error_code == "id.check_digit" and r.error_zh and r.error_en
    assert check_uscc("91350100M000100Y44").error_code == "uscc.check_digit"


def test_r10_birth_date_must_be_a_real_past_date() -> None:
    bad = "11010519490230" + "002"
    assert check_id_number(bad + "X").error_code == "id.birth_date"  # 30 February
    old = "11010518991231002"
    assert check_id_number(old + id_check_char(old)).error_code == "id.birth_date"  # before 1900
    with pytest.raises(ValidationFailed):
        make_id_number("110105", dt.date(1899, 12, 31), 2)
    future = make_id_number("350203", dt.date(2024, 6, 2), 15)
    assert check_id_number(future, today=TODAY).error_code == "id.birth_future"
    assert check_id_number(future, today=dt.date(2024, 6, 2)).valid


def test_r10_region_must_be_a_province_code() -> None:
    assert 35 in PROVINCE_CODES and 20 not in PROVINCE_CODES
    first17 = "200105194912310021"[:17]
    assert check_id_number(first17 + id_check_char(first17)).error_code == "id.region"
    with pytest.raises(ValidationFailed):
        make_id_number("990105", dt.date(1990, 1, 1), 1)


def test_r10_legacy_15_digit_number_is_upgraded() -> None:
    assert upgrade_legacy_id("110105491231002") == "11010519491231002X"
    r = check_identifier("110105491231002")
    assert r.valid and r.kind == "id_number" and r.normalized == "11010519491231002X"
    with pytest.raises(ValidationFailed):
        upgrade_legacy_id("110105490231002")  # 31 February 1949
    with pytest.raises(ValidationFailed):
        upgrade_legacy_id("11010519491231002X")


@pytest.mark.parametrize("letter", ["I", "O", "S", "V", "Z"])
def test_r10_uscc_refuses_letters_outside_its_alphabet(letter: str) -> None:
    base = "91350100M000100Y43"
    value = base[:9] + letter + base[10:]
    assert check_uscc(value).error_code == "uscc.alphabet"
    with pytest.raises(ValidationFailed):
        make_uscc("91350100M00010" + letter + "Y4")


def test_r10_identifier_kind_is_guessed() -> None:
    assert check_identifier("11010519491231002X").kind == "id_number"
    assert check_identifier("91350100M000100Y43").kind == "uscc"
    # A government body's USCC may be all digits: it is ID-shaped but valid only as a USCC.
    gov = make_uscc("11350200003600012")
    assert check_id_number(gov).error_code == "id.birth_date"
    assert check_identifier(gov).kind == "uscc" and check_identifier(gov).valid
    assert check_identifier("12345").error_code == "identifier.length"
    assert check_identifier("   ").error_code == "identifier.empty"
    assert check_identifier(None).kind is None


def _valid_ids(rng: random.Random, n: int) -> list[str]:
    provinces = sorted(PROVINCE_CODES)
    out = []
    for _ in range(n):
        region = f"{rng.choice(provinces):02d}{rng.randrange(10000):04d}"
        born = dt.date(1900, 1, 1) + dt.timedelta(days=rng.randrange((TODAY - dt.date(1900, 1, 1)).days + 1))
        out.append(make_id_number(region, born, rng.randrange(1000)))
    return out


def _valid_usccs(rng: random.Random, n: int) -> list[str]:
    return [make_uscc("".join(rng.choice(USCC_ALPHABET) for _ in range(17))) for _ in range(n)]


def _mutate(rng: random.Random, v: str) -> str | None:
    pool = "0123456789XxIOSVZabc中 \t-"
    roll = rng.randrange(10)
    if roll == 0:
        return None
    if roll == 1:
        return v[: rng.randrange(len(v))]
    if roll == 2:
        return v + rng.choice(pool)
    if roll == 3:
        return f" {v.lower()}\n"
    if roll == 4:  # a 15-digit candidate: a legacy number or noise
        return v[:6] + v[8:17]
    i = rng.randrange(len(v))
    return v[:i] + rng.choice(pool) + v[i + 1 :]


def test_r10_vector_checks_agree_with_scalar_checks() -> None:
    rng = random.Random(10)
    valid = _valid_ids(rng, 1500) + _valid_usccs(rng, 1500)
    values: list[str | None] = [*valid, *(_mutate(rng, v) for v in valid for _ in range(3))]
    values += ["", "   ", "19491231", "11010519491231002X" + "中", "中" * 18, "１" * 18]
    ids = check_id_numbers(values, today=TODAY)
    usccs = check_usccs(values)
    mixed = check_identifiers(pa.chunked_array([pa.array(values[:100]), pa.array(values[100:])]), today=TODAY)
    for i, v in enumerate(values):
        s_id, s_uscc, s_any = check_id_number(v, today=TODAY), check_uscc(v), check_identifier(v, today=TODAY)
        assert (bool(ids.valid[i]), ids.error_code[i]) == (s_id.valid, s_id.error_code), v
        assert (bool(usccs.valid[i]), usccs.error_code[i]) == (s_uscc.valid, s_uscc.error_code), v
        assert (bool(mixed.valid[i]), mixed.error_code[i], mixed.kind[i]) == (
            s_any.valid,
            s_any.error_code,
            s_any.kind,
        ), v
    # The mix holds every kind of outcome, so the agreement above is not vacuous.
    seen = {c for c in ids.error_code if c} | {c for c in usccs.error_code if c}
    assert {
        "id.format",
        "id.region",
        "id.birth_date",
        "id.check_digit",
        "id.length",
        "id.empty",
        "uscc.alphabet",
        "uscc.check_digit",
        "uscc.length",
    } <= seen
    assert ids.valid[:1500].all() and usccs.valid[1500:3000].all()


def test_r10_vector_check_of_a_million_values_is_fast() -> None:
    base = _valid_ids(random.Random(1), 1000)
    column = pa.array(base * 1000)
    start = time.perf_counter()
    result = check_id_numbers(column, today=TODAY)
    elapsed = time.perf_counter() - start
    assert result.valid.all() and len(result.valid) == 1_000_000
    assert elapsed < 2.0


def test_r10_cli_id_check() -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["check", "11010519491231002X", "--json"])
    assert ok.exit_code == 0
    body = json.loads(ok.stdout)
    assert (body["valid"], body["kind"], body["error"]) == (True, "id_number", None)
    bad = runner.invoke(app, ["check", "91350100M000100Y44", "--json"])
    body = json.loads(bad.stdout)
    assert bad.exit_code == 1 and body["valid"] is False and body["kind"] == "uscc"
    assert body["error"] and body["code"] == "uscc.check_digit"
    human = runner.invoke(app, ["check", "11010519490230002X", "--kind", "id_number"])
    assert human.exit_code == 1 and "id.birth_date" in human.stdout
