"""R6: what the catalog search does with symbols, resource codes and short English words, on both backends —
a query of punctuation only finds nothing (it is not an empty query that lists the whole catalog), a
resource code or its sequence number finds its entry (as far as the visitor may see it, R15 R22), and an
English word ranks the entries holding that word above those holding a longer word it begins (the prefix
match stays, for typing as you go)."""

from __future__ import annotations

from typing import Any

import pytest
from catalog_fixtures import city, marriage
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from gongshu.catalog import search, service
from gongshu.catalog.models import CatalogEntry
from gongshu.kernel.identity.actor import ANONYMOUS
from gongshu.kernel.workflow import engine
from gongshu.web.app import create_app

PLAIN = {
    "open_attribute": "general",
    "open_conditions": [],
    "subject_kind": "other",
    "items": [{"name": "line", "label_zh": "线路", "label_en": "Line", "data_type": "string"}],
}


def publish(
    session: Session, c: dict[str, Any], officer: str = "civil_officer", **overrides: Any
) -> CatalogEntry:
    entry = service.create_draft(session, c[officer], marriage(**overrides))
    case = service.submit_for_review(session, c[officer], entry.id)
    engine.decide(session, c["reviewer"], case.id, "approve")
    session.commit()
    return entry


@pytest.fixture()
def c(session: Session) -> dict[str, Any]:
    out = city(session)
    out["business"] = publish(
        session,
        out,
        **{
            **PLAIN,
            "name": "个体工商户登记信息",
            "name_en": "Individual business registration",
            "summary": "个体工商户登记 business register, businesses of the city",
        },
    )
    out["bus"] = publish(session, out, **{**PLAIN, "name": "公交线路信息", "name_en": "Bus routes"})
    out["stops"] = publish(session, out, **{**PLAIN, "name": "公交站点信息", "name_en": "Bus stops"})
    out["hidden"] = publish(
        session,
        out,
        "police_officer",
        name="户籍人口信息",
        name_en="Household registration",
        open_attribute="not_open",
        open_conditions=[],
        not_open_reason="涉及个人信息",
    )
    return out


def _codes(result: search.SearchResult) -> list[str]:
    return [h.entry.resource_code for h in result.hits]


@pytest.mark.parametrize("q", ["%", "'", "%%", "''", '"', "*", "% '", "_"])
def test_r6_punctuation_only_is_searched_as_text_and_finds_nothing(
    session: Session, c: dict[str, Any], q: str
) -> None:
    assert search.search(session, ANONYMOUS, "").total == 3  # browsing lists every visible entry
    result = search.search(session, ANONYMOUS, q)
    assert (result.total, result.hits) == (0, [])
    assert all(values == [] for values in result.facets.values())
    client = TestClient(create_app())
    assert client.get("/api/v1/catalog", params={"q": q}).json()["total"] == 0
    page = client.get("/catalog", params={"q": q})
    assert page.status_code == 200 and "共 0 条目录" in page.text
    assert "中没有可检索的内容：目录按中文、英文单词、数字和资源代码检索，标点和符号不参与检索。" in page.text
    # Beside words, the symbols are ignored: the words are searched.
    assert _codes(search.search(session, ANONYMOUS, f"{q}公交{q}")) == _codes(
        search.search(session, ANONYMOUS, "公交")
    )


def test_r6_a_resource_code_or_its_sequence_finds_its_entry(session: Session, c: dict[str, Any]) -> None:
    code = c["bus"].resource_code
    seq = code.rsplit("-", 1)[1]
    assert _codes(search.search(session, ANONYMOUS, code)) == [code]
    assert _codes(search.search(session, ANONYMOUS, code.lower())) == [code]
    assert _codes(search.search(session, ANONYMOUS, f" {seq} ")) == [code]
    assert _codes(search.search(session, ANONYMOUS, "-".join(code.split("-")[-2:]))) == [code]
    # R15 R22: the code of an entry the visitor may not see finds nothing; a government user finds it.
    hidden = c["hidden"].resource_code
    assert search.search(session, ANONYMOUS, hidden).total == 0
    assert _codes(search.search(session, c["reviewer"], hidden)) == [hidden]
    # Facets and filters apply to what the code finds.
    found = search.search(session, ANONYMOUS, seq, {"format": ["csv"]})
    assert found.total == 1 and {v.value for v in found.facets["format"]} == {"csv"}
    assert search.search(session, ANONYMOUS, seq, {"format": ["xlsx"]}).total == 0
    client = TestClient(create_app())
    assert [h["resource_code"] for h in client.get("/api/v1/catalog", params={"q": seq}).json()["hits"]] == [
        code
    ]
    assert code in client.get("/catalog", params={"q": seq}).text


def test_r6_english_whole_word_ranks_above_a_longer_word_it_begins(
    session: Session, c: dict[str, Any]
) -> None:
    bus = search.search(session, ANONYMOUS, "bus")
    codes = _codes(bus)
    whole = {c["bus"].resource_code, c["stops"].resource_code}
    assert set(codes[:2]) == whole and codes[2:] == [c["business"].resource_code]
    # The prefix match is kept (typing as you go): "busin" and "rout" still find their entries.
    assert _codes(search.search(session, ANONYMOUS, "busin")) == [c["business"].resource_code]
    assert _codes(search.search(session, ANONYMOUS, "bus rout")) == [c["bus"].resource_code]
    by_date = search.search(session, ANONYMOUS, "bus", sort="updated")
    assert set(_codes(by_date)) == set(codes)
