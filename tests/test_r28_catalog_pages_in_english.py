"""R28 R6: the catalog pages speak the page's language — format facet values by their labels (never the raw
code), one entry counted in the singular, lists joined the English way on English pages, the entry's
heading in the page's language with the other language's title small under it — and the facets are a
narrow column beside the results."""

from __future__ import annotations

import re
from typing import Any

import pytest
from catalog_fixtures import city, marriage
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from gongshu.catalog import search, service
from gongshu.kernel.identity.actor import ANONYMOUS
from gongshu.kernel.workflow import engine
from gongshu.web.app import create_app


@pytest.fixture()
def c(session: Session) -> dict[str, Any]:
    out = city(session)
    entry = service.create_draft(session, out["civil_officer"], marriage())  # sharing methods: api, db_table
    case = service.submit_for_review(session, out["civil_officer"], entry.id)
    engine.decide(session, out["reviewer"], case.id, "approve")
    session.commit()
    out["code"] = entry.resource_code
    return out


def _client(lang: str) -> TestClient:
    client = TestClient(create_app())
    client.cookies.set("gs_lang", lang)
    return client


def _facet_labels(text: str, facet: str) -> list[str]:
    return re.findall(rf'data-facet="{facet}" data-value="[^"]*">([^<]*)</a>', text)


def test_r28_format_facet_shows_labels_not_codes(session: Session, c: dict[str, Any]) -> None:
    zh = _client("zh").get("/catalog").text
    assert _facet_labels(zh, "format") == ["CSV 文件"]
    en = _client("en").get("/catalog").text
    assert _facet_labels(en, "format") == ["CSV file"]
    # The API's facets carry the same labels, the value stays the code.
    api = _client("zh").get("/api/v1/catalog").json()["facets"]["format"]
    assert api == [{"value": "csv", "label": "CSV 文件", "count": 1}]
    assert search.search(session, ANONYMOUS, lang="en").facets["format"][0].label == "CSV file"


def test_r28_one_catalog_entry_is_singular(c: dict[str, Any]) -> None:
    assert re.search(r'data-testid="catalog-total">1 catalog entry<', _client("en").get("/catalog").text)
    assert re.search(r'data-testid="catalog-total">共 1 条目录<', _client("zh").get("/catalog").text)


def test_r28_entry_heading_and_lists_in_the_page_language(c: dict[str, Any]) -> None:
    en = _client("en").get(f"/catalog/{c['code']}").text
    assert re.search(r'<h1 data-testid="entry-title">Marriage registration</h1>', en)
    assert re.search(
        r'<p class="muted small" lang="zh-CN" data-testid="entry-other-title">婚姻登记信息</p>', en
    )
    assert "<title>Marriage registration ·" in en
    assert 'data-testid="sharing-methods">Service interface (API), Database table</span>' in en
    assert "<dd>婚姻, 登记</dd>" in en  # the keywords too

    zh = _client("zh").get(f"/catalog/{c['code']}").text
    h1 = re.search(r"<h1[^>]*>(.*?)</h1>", zh, re.S)
    assert h1 and h1.group(1) == "婚姻登记信息"  # the English title is not part of the heading
    assert re.search(
        r'<p class="muted small" lang="en" data-testid="entry-other-title">Marriage registration</p>', zh
    )
    assert 'data-testid="sharing-methods">服务接口、库表</span>' in zh and "<dd>婚姻、登记</dd>" in zh


def test_r28_facets_are_a_narrow_column_beside_the_results(c: dict[str, Any]) -> None:
    page = _client("zh").get("/catalog").text
    assert re.search(r"\.catalog-layout \{[^}]*grid-template-columns: 240px minmax\(0, 1fr\)", page)
    assert 'class="grid grid-2"' not in page
    # On a phone the results come first, the facets after them (with a link down to them).
    assert re.search(
        r"@media \(max-width: 760px\) \{[^@]*\.catalog-layout > \.facets \{ grid-column: 1; grid-row: 2; \}",
        page,
    )
