"""R13: a declared rule is stored only if it can be applied. A pattern is compiled by the engine the checks
run (RE2 through pyarrow: no backreferences, no lookaround), a range has finite numeric bounds in order
on a numeric item, a date range valid dates in order on a date item, an enum scalar values, one rule per
item and kind, a completion a published reference whose items exist and fit. Each refusal is a 422 with a
stable code and Chinese and English messages naming the rule (`rules[n]`); nothing is stored."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from store_fixtures import HEADER, IDS, ITEMS, publish, store_city, write

from gongshu.aggregation.ingest import ingest_file
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import GongshuError
from gongshu.kernel.identity import tokens
from gongshu.kernel.identity.models import User
from gongshu.quality import rules
from gongshu.web.app import create_app

GOOD = {"item": "allowance", "kind": "range", "params": {"min": 0}}


@pytest.fixture()
def c(session: Session, db_clean: str) -> dict[str, Any]:
    out = store_city(session)
    out["code"] = publish(session, out).resource_code
    out["ref"] = publish(
        session, out, items=ITEMS[:2], name="人口基础信息", category_code="A01-02-03-05"
    ).resource_code
    return out


def _complete(c: dict[str, Any], item: str = "full_name", **params: Any) -> dict[str, Any]:
    return {
        "item": item,
        "kind": "complete",
        "params": {"reference": c["ref"], "reference_item": "full_name", **params},
    }


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("backreference", {"item": "full_name", "kind": "pattern", "params": {"regex": r"(a)\1"}}, "RE2"),
    ("lookahead", {"item": "full_name", "kind": "pattern", "params": {"regex": "(?=a)a"}}, "RE2"),
    ("unbalanced", {"item": "full_name", "kind": "pattern", "params": {"regex": "a)|(b"}}, "RE2"),
    ("empty pattern", {"item": "full_name", "kind": "pattern", "params": {"regex": ""}}, "regex"),
    ("range text", {"item": "children", "kind": "range", "params": {"min": "1"}}, "finite"),
    ("range bool", {"item": "children", "kind": "range", "params": {"max": True}}, "finite"),
    ("range nan", {"item": "children", "kind": "range", "params": {"min": math.nan}}, "finite"),
    ("range inf", {"item": "children", "kind": "range", "params": {"max": math.inf}}, "finite"),
    ("range order", {"item": "children", "kind": "range", "params": {"min": 5, "max": 1}}, "exceed"),
    ("range no bound", {"item": "children", "kind": "range", "params": {}}, "`min` or `max`"),
    ("range on text", {"item": "full_name", "kind": "range", "params": {"max": 3}}, "integer or decimal"),
    (
        "dates order",
        {"item": "registered_on", "kind": "date_range", "params": {"min": "2024-02-01", "max": "2024-01-01"}},
        "after its max",
    ),
    (
        "dates format",
        {"item": "registered_on", "kind": "date_range", "params": {"min": "20240102"}},
        "YYYY-MM-DD",
    ),
    (
        "dates no day",
        {"item": "registered_on", "kind": "date_range", "params": {"max": "2024-02-30"}},
        "YYYY-MM-DD",
    ),
    (
        "dates on integer",
        {"item": "children", "kind": "date_range", "params": {"min": "2024-01-01"}},
        "date or datetime",
    ),
    ("enum empty", {"item": "full_name", "kind": "enum", "params": {"values": []}}, "non-empty list"),
    ("enum object", {"item": "full_name", "kind": "enum", "params": {"values": [{"a": 1}]}}, "Enum values"),
    ("enum list", {"item": "full_name", "kind": "enum", "params": {"values": [["a"]]}}, "Enum values"),
    ("enum bool", {"item": "active", "kind": "enum", "params": {"values": [True]}}, "Enum values"),
    ("enum null", {"item": "full_name", "kind": "enum", "params": {"values": [None]}}, "Enum values"),
    ("unknown param", {"item": "full_name", "kind": "enum", "params": {"value": ["甲"]}}, "no parameter"),
]


@pytest.mark.parametrize(("rule", "words"), [(r, w) for _, r, w in BAD], ids=[n for n, _, _ in BAD])
def test_r13_an_unusable_rule_is_refused_naming_its_index(
    session: Session, c: dict[str, Any], rule: dict[str, Any], words: str
) -> None:
    with pytest.raises(GongshuError) as caught, session_scope() as s:
        rules.set_rules(s, c["civil_clerk"], c["code"], [GOOD, rule])
    err = caught.value
    assert (err.status_code, err.code, err.field) == (422, "quality.rule_invalid", "rules[1]")
    assert words in err.message_en and err.message_en.startswith("rules[1]: ")
    assert err.message_zh.startswith("rules[1]：") and err.message_zh != err.message_en
    with read_scope() as s:
        assert rules.specs_of(s, c["code"]) == []


@pytest.mark.parametrize(
    ("params", "code", "status"),
    [
        ({"reference": "NO-SUCH-CODE"}, "quality.reference_unknown", 404),
        ({"reference_item": "nope"}, "quality.rule_invalid", 422),
        ({"reference_key": "full_name"}, "quality.rule_invalid", 422),  # not the reference's key
        ({"reference_key": "nope"}, "quality.rule_invalid", 422),
        ({"by": "nope"}, "quality.rule_invalid", 422),
        ({"by": "children"}, "quality.rule_invalid", 422),  # an integer matched with an ID number
        ({"grant": "1"}, "quality.rule_invalid", 422),
        ({"scenario": " "}, "quality.rule_invalid", 422),
    ],
)
def test_r13_a_completion_needs_items_that_exist_and_fit(
    session: Session, c: dict[str, Any], params: dict[str, Any], code: str, status: int
) -> None:
    with pytest.raises(GongshuError) as caught, session_scope() as s:
        rules.set_rules(s, c["civil_clerk"], c["code"], [_complete(c, **params)])
    assert (caught.value.status_code, caught.value.code, caught.value.field) == (status, code, "rules[0]")


def test_r13_a_completion_copies_only_into_an_item_its_values_fit(
    session: Session, c: dict[str, Any]
) -> None:
    for rule in (
        _complete(c, item="children"),  # text into an integer
        _complete(c, item="id_number"),  # the key is never missing
    ):
        with pytest.raises(GongshuError) as caught, session_scope() as s:
            rules.set_rules(s, c["civil_clerk"], c["code"], [rule])
        assert caught.value.code == "quality.rule_invalid"


def test_r13_a_completion_from_an_unpublished_reference_is_refused(
    session: Session, c: dict[str, Any]
) -> None:
    from gongshu.catalog import service as catalog
    from gongshu.catalog.models import CatalogEntry

    entry = session.scalars(select(CatalogEntry).where(CatalogEntry.resource_code == c["ref"])).one()
    catalog.withdraw(session, c["civil_officer"], entry.id, "已由新目录替代")
    session.commit()
    with pytest.raises(GongshuError) as caught, session_scope() as s:
        rules.set_rules(s, c["civil_clerk"], c["code"], [_complete(c)])
    assert (caught.value.status_code, caught.value.code) == (422, "quality.reference_not_published")


def _client(session: Session) -> TestClient:
    user = session.scalars(select(User).where(User.username == "civil_clerk")).one()
    raw, _ = tokens.issue_token(session, user, name="rules")
    session.commit()
    return TestClient(create_app(), headers={"Authorization": f"Bearer {raw}"})


def test_r13_the_rules_api_refuses_a_duplicate_and_a_nan_bound_with_422(
    session: Session, c: dict[str, Any]
) -> None:
    client = _client(session)
    url = f"/api/v1/data/{c['code']}/rules"
    twice = client.put(url, json=[GOOD, {**GOOD, "params": {"max": 9}}])
    assert twice.status_code == 422, twice.text  # was a 500 (the table's unique constraint)
    error = twice.json()["error"]
    assert (error["code"], error["field"]) == ("quality.rule_duplicate", "rules[1]")
    assert "已有" in error["message"] and "already has" in error["message_en"]
    nan = client.put(
        url,
        content=b'[{"item": "children", "kind": "range", "params": {"min": NaN}}]',
        headers={"Content-Type": "application/json"},
    )
    assert nan.status_code == 422 and nan.json()["error"]["code"] == "quality.rule_invalid", nan.text
    assert client.get(url).json() == []


def test_r13_accepted_rules_are_applied_by_every_later_load(
    session: Session, db_clean: str, c: dict[str, Any], tmp_path: Path
) -> None:
    """The rules the validation lets through run in the load (RE2 patterns, decimal bounds, one-sided
    ranges) — a stored rule never breaks a later load."""
    with session_scope() as s:
        rules.set_rules(
            s,
            c["civil_clerk"],
            c["code"],
            [
                {"item": "full_name", "kind": "pattern", "params": {"regex": r"\p{Han}{1,4}"}},
                {"item": "allowance", "kind": "range", "params": {"min": 0.5, "max": 100}},
                {"item": "registered_on", "kind": "date_range", "params": {"max": "2030-12-31"}},
                {"item": "children", "kind": "enum", "params": {"values": [0, 1, 2]}},
            ],
        )
    text = HEADER + f"\n{IDS[0]},张三,2024-01-02,1,10,是\n{IDS[1]},Bob,2024-01-02,3,0.1,是\n"
    report = ingest_file(c["civil_clerk"], c["code"], write(tmp_path, "r.csv", text), url=db_clean)
    assert (report["status"], report["accepted"], report["refused"]) == ("committed", 1, 1)
