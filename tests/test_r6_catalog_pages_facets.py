"""R6: the catalog page — facet links combine with the other chosen filters and show what a click yields,
each chosen filter can be removed on its own, the pager keeps the filters, a page beyond the last says so,
a bad page number is a plain message, and the export is named by the day in China."""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from catalog_fixtures import city, marriage
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from gongshu.catalog import pages, service
from gongshu.catalog.models import CatalogEntry
from gongshu.kernel import timeutil
from gongshu.kernel.workflow import engine
from gongshu.web.app import create_app

PLAIN_ITEMS = [{"name": "region", "label_zh": "区划", "label_en": "Region", "data_type": "string"}]


def publish(
    session: Session, c: dict[str, Any], officer: str = "civil_officer", **overrides: Any
) -> CatalogEntry:
    entry = service.create_draft(session, c[officer], marriage(**overrides))
    case = service.submit_for_review(session, c[officer], entry.id)
    engine.decide(session, c["reviewer"], case.id, "approve")
    session.commit()
    return entry


def general(**overrides: Any) -> dict[str, Any]:
    """An entry open generally (no personal information in it)."""
    return {
        "open_attribute": "general",
        "open_conditions": [],
        "items": PLAIN_ITEMS,
        "subject_kind": "other",
        **overrides,
    }


@pytest.fixture()
def c(session: Session) -> dict[str, Any]:
    out = city(session)
    out["entries"] = {
        "marriage": publish(session, out),  # 民政, on application
        "funeral": publish(session, out, name="殡葬服务信息", name_en="Funeral services", topic="殡葬"),
        "adoption": publish(session, out, **general(name="收养登记信息", name_en="Adoption", topic="民政")),
        "relief": publish(
            session, out, **general(name="社会救助信息", name_en="Social relief", topic="民政")
        ),
        "household": publish(
            session,
            out,
            "police_officer",
            **general(name="户籍统计信息", name_en="Household figures", topic="公安"),
        ),
    }
    return out


def _facet_links(text: str, facet: str) -> dict[str, tuple[str, int]]:
    """The facet's values as links: value → (href, the count shown beside it)."""
    found = re.findall(
        rf'<a href="([^"]*)" data-facet="{facet}" data-value="([^"]*)">[^<]*</a> <span class="muted">\((\d+)\)',
        text,
    )
    return {html.unescape(v): (html.unescape(href), int(n)) for href, v, n in found}


def _total(text: str) -> int:
    m = re.search(r'data-testid="catalog-total">共 (\d+) 条目录<', text)
    assert m, "the result count is shown"
    return int(m.group(1))


def test_r6_facet_links_keep_the_other_filters_and_show_what_a_click_yields(c: dict[str, Any]) -> None:
    client = TestClient(create_app())
    page = client.get("/catalog", params={"open_attribute": "on_application", "q": "信息", "sort": "updated"})
    assert page.status_code == 200 and _total(page.text) == 2
    topics = _facet_links(page.text, "topic")
    assert set(topics) == {"民政", "殡葬"}
    href, count = topics["民政"]
    assert parse_qs(urlsplit(href).query) == {
        "q": ["信息"],
        "sort": ["updated"],
        "open_attribute": ["on_application"],
        "topic": ["民政"],
    }
    assert count == 1
    combined = client.get(href)
    assert _total(combined.text) == count  # the count shown is what the click yields
    assert c["entries"]["marriage"].resource_code in combined.text
    assert c["entries"]["adoption"].resource_code not in combined.text

    # Every count shown on the combined page is, likewise, the total of its link.
    for facet in ("open_attribute", "topic", "format", "provider"):
        for _value, (link, shown) in _facet_links(combined.text, facet).items():
            assert _total(client.get(link).text) == shown, (facet, link)


def test_r6_each_chosen_filter_is_removed_on_its_own(c: dict[str, Any]) -> None:
    client = TestClient(create_app())
    page = client.get("/catalog?open_attribute=general&topic=%E6%B0%91%E6%94%BF&q=%E4%BF%A1%E6%81%AF")
    assert _total(page.text) == 2
    chips = re.findall(
        r'<a class="chip" href="([^"]*)" data-facet="(\w+)" data-value="([^"]*)"[^>]*>([^<]*)', page.text
    )
    by_facet = {facet: (html.unescape(href), text.strip()) for href, facet, _, text in chips}
    assert by_facet["open_attribute"][1] == "开放属性：普遍开放"
    assert by_facet["topic"][1] == "主题：民政"
    without_topic = parse_qs(urlsplit(by_facet["topic"][0]).query)
    assert without_topic == {"q": ["信息"], "open_attribute": ["general"]}
    assert _total(client.get(by_facet["topic"][0]).text) == 3
    clear = re.search(
        r'<a href="([^"]*)" class="small" data-testid="catalog-clear-filters">清除筛选</a>', page.text
    )
    assert clear and html.unescape(clear.group(1)) == "/catalog?q=%E4%BF%A1%E6%81%AF"
    # A chosen value is marked, not a link that would drop the other filters.
    assert 'data-facet="topic" data-value="民政" data-chosen="1"' in page.text


def test_r6_pager_keeps_the_filters_and_a_page_beyond_the_last_says_so(
    c: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages, "PAGE_SIZE", 2)
    client = TestClient(create_app())
    first = client.get("/catalog", params={"topic": "民政"})
    assert _total(first.text) == 3
    nxt = re.search(r'<a href="([^"]*)" rel="next">', first.text)
    assert nxt and parse_qs(urlsplit(html.unescape(nxt.group(1))).query) == {"topic": ["民政"], "page": ["2"]}
    assert "第 1 页，共 2 页" in first.text

    beyond = client.get("/catalog", params={"topic": "民政", "page": "999"})
    assert beyond.status_code == 200
    assert "第 999 页超出范围，共 2 页。" in beyond.text
    assert "没有符合条件的目录" not in beyond.text
    last = re.search(r'data-testid="catalog-beyond">[^<]*<a href="([^"]*)">前往第 2 页</a>', beyond.text)
    assert last and parse_qs(urlsplit(html.unescape(last.group(1))).query) == {
        "topic": ["民政"],
        "page": ["2"],
    }

    # A page number past any catalog, or not a number at all: a message, never an error page.
    huge = client.get("/catalog", params={"page": "9" * 30})
    assert huge.status_code == 200 and "超出范围" in huge.text
    bad = client.get("/catalog", params={"page": "abc", "topic": "民政"})
    assert bad.status_code == 200 and "页码“abc”有误：应为从 1 起的整数，现显示第 1 页。" in bad.text
    assert _total(bad.text) == 3
    # A provider filter no organisation can have finds nothing, on the page and in the API.
    nobody = client.get("/catalog", params={"provider": "9" * 30, "topic": "民政"})
    assert nobody.status_code == 200 and _total(nobody.text) == 0
    assert client.get("/api/v1/catalog", params={"provider": "9" * 30}).json()["total"] == 0


def test_r6_export_file_is_named_by_the_day_in_china(c: dict[str, Any]) -> None:
    timeutil.freeze(dt.datetime(2026, 11, 29, 17, 30, tzinfo=dt.UTC))  # 2026-11-30 01:30 in China
    client = TestClient(create_app())
    for ext in ("xlsx", "json"):
        response = client.get(f"/catalog/export.{ext}", params={"topic": "民政"})
        assert response.status_code == 200
        assert "filename=catalog-20261130." + ext in response.headers["content-disposition"]
