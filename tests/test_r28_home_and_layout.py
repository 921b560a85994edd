"""R28 (page usability) with R4, R6, R22: the home page gives visitors the ways in — a catalog search box,
the open data, registration and login — and keeps the platform's internal figures for its staff, whose
figure cards link to the pages listing them; badges are coloured by meaning; the phone menu folds behind a
button; long unbroken text never widens a page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape

import pytest
from auth_fixtures import PASSWORD, id_number, seed_city
from fastapi.testclient import TestClient
from page_fixtures import page_client

from gongshu.kernel.db import session_scope
from gongshu.kernel.identity import registration
from gongshu.web.app import create_app
from gongshu.web.pages import shell


@pytest.fixture()
def client(db_clean: str) -> Iterator[TestClient]:
    shell.forget_policy_state()
    seed_city()
    with TestClient(create_app()) as c:
        yield c


def _href(html: str, testid: str) -> str:
    found = re.search(rf'<a [^>]*href="([^"]*)"[^>]*data-testid="{testid}"', html)
    assert found, testid
    return unescape(found.group(1))


def test_r28_visitors_get_a_search_box_and_the_ways_in_not_internal_figures(client: TestClient) -> None:
    html = client.get("/").text
    assert '<h1 data-testid="home-heading">公共数据资源平台</h1>' in html
    search = re.search(
        r'<form class="home-search" method="get" action="/catalog" role="search">(.*?)</form>', html, re.S
    )
    assert search and 'name="q"' in search.group(1)
    assert _href(html, "entry-catalog") == "/catalog"
    assert _href(html, "entry-open-data") == "/catalog?open_attribute=general&open_attribute=on_application"
    assert _href(html, "entry-register") == "/register" and _href(html, "entry-login") == "/login"
    for internal in ("fig-audit-today", "fig-overdue", "fig-open-cases", "orgs-by-kind"):
        assert f'data-testid="{internal}"' not in html
    assert "今日审计记录" not in html and "已超期环节" not in html
    assert 'data-testid="policy-card"' in html  # the regulation in force is public
    assert "echarts" not in html  # no chart, no chart library

    opened = client.get(_href(html, "entry-open-data"))
    assert opened.status_code == 200  # the catalog, filtered to the entries open to the public

    english = client.get("/?lang=en").text
    assert ">Open data<" in english and ">开放数据<" not in english


def test_r28_a_persons_home_has_the_ways_in_of_a_public_account(db_clean: str) -> None:
    seed_city()
    with session_scope() as s:
        registration.register_person(
            s,
            username="zhangsan",
            name="张三",
            id_number=id_number(3),
            phone="13800000000",
            password=PASSWORD,
        )
    client, _ = page_client("zhangsan")
    html = client.get("/").text
    assert _href(html, "entry-my-cases") == "/cases" and _href(html, "entry-my-data") == "/my/data"
    assert 'data-testid="entry-register"' not in html and 'data-testid="fig-audit-today"' not in html


def test_r28_staff_keep_the_figures_and_the_case_figures_link_to_the_inbox(db_clean: str) -> None:
    seed_city()
    client, _ = page_client("zhang")
    html = client.get("/").text
    for figure in ("fig-organisations", "fig-users", "fig-audit-today"):
        assert f'data-testid="{figure}"' in html
    assert _href(html, "fig-open-cases") == "/inbox"
    assert _href(html, "fig-overdue") == "/inbox"
    assert 'data-testid="home-search"' not in html


def _rule(css: str, selector: str) -> str:
    """The declarations of every rule whose selector list names `selector`, outside media queries."""
    bare = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    bare = bare[: bare.index("@media")]
    bodies = [
        body
        for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", bare)
        if selector in [s.strip() for s in selectors.split(",")]
    ]
    assert bodies, f"no rule for {selector}"
    return "\n".join(bodies)


def test_r28_badges_are_coloured_by_meaning(client: TestClient) -> None:
    css = client.get("/static/css/gongshu.css").text
    assert "var(--c-accent)" not in _rule(css, ".badge")  # a plain badge is no alarm
    for green in (".status-published", ".status-approved", ".state-fresh", ".grant-active"):
        assert "var(--c-ok)" in _rule(css, green), green
    for blue in (".status-in_review", ".grant-pending"):
        assert "var(--c-info)" in _rule(css, blue), blue
    for red in (".status-returned", ".status-rejected", ".sla-overdue", ".state-interrupted"):
        assert "var(--c-bad)" in _rule(css, red), red
    assert "var(--c-muted)" in _rule(css, ".status-draft")


def test_r28_the_unread_count_is_the_one_red_badge(db_clean: str) -> None:
    seed_city()
    client, _ = page_client("zhang")
    base = client.get("/").text
    if 'data-testid="unread-count"' in base:
        assert 'class="badge badge-count" data-testid="unread-count"' in base
    css = client.get("/static/css/gongshu.css").text
    assert "var(--c-accent)" in _rule(css, ".badge-count")


def test_r28_the_menu_folds_behind_a_button_on_phones(client: TestClient) -> None:
    html = client.get("/").text
    toggle = html.index('id="nav-toggle"')
    assert (
        toggle
        < html.index('<label for="nav-toggle" class="nav-toggle-button"')
        < html.index('class="topbar-menu"')
    )
    menu = html[html.index('class="topbar-menu"') :]
    assert menu.index('class="mainnav"') < menu.index('class="account"') < menu.index("</header>")
    assert ">菜单<" in html
    css = client.get("/static/css/gongshu.css").text
    phone = css[css.index("@media (max-width: 720px)") :]
    assert re.search(r"\.topbar-menu \{[^}]*display: none;", phone)
    assert re.search(r"\.nav-toggle:checked ~ \.topbar-menu \{\s*display: flex;", phone)
    assert re.search(r"\.nav-toggle-button \{\s*display: inline-flex;", phone)
    assert "display: none" in _rule(css, ".nav-toggle-button")  # no button on a wide screen
    assert "<script" not in html[html.index("<header") : html.index("</header>")]  # no script


def test_r28_long_unbroken_text_wraps_in_paragraphs_and_table_cells(client: TestClient) -> None:
    css = client.get("/static/css/gongshu.css").text
    body = _rule(css, "td")
    assert "overflow-wrap: anywhere" in body
    for selector in ("p", "li", "dd", ".banner", ".form-errors", ".card"):
        assert "overflow-wrap: anywhere" in _rule(css, selector), selector
