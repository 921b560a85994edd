"""R6 R28: the catalog editor — typed inputs styled like every other form, the whole width, an items table
that fits (scrolling sideways only inside its own frame on a phone), an "add an item" button (and, without
JavaScript, "5 more rows" that keeps what was typed), every field error listed at the first save; the
transfer form says to tick the entries."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from catalog_fixtures import city, marriage
from page_fixtures import page_client
from sqlalchemy.orm import Session

from gongshu.catalog import service
from gongshu.kernel.identity import service as identity
from gongshu.kernel.workflow import engine


@pytest.fixture()
def c(session: Session) -> dict[str, Any]:
    out = city(session)
    entry = service.create_draft(session, out["civil_officer"], marriage())
    case = service.submit_for_review(session, out["civil_officer"], entry.id)
    engine.decide(session, out["reviewer"], case.id, "approve")
    session.commit()
    out["code"] = entry.resource_code
    return out


def test_r28_every_text_input_of_the_editor_is_typed(c: dict[str, Any]) -> None:
    client, _ = page_client("civil_officer")
    for path in ("/catalog/new", f"/catalog/{c['code']}/edit"):
        page = client.get(path).text
        inputs = re.findall(r"<input\b[^>]*>", page)
        assert inputs and all(" type=" in i for i in inputs), [i for i in inputs if " type=" not in i]
        assert 'class="form catalog-form"' in page and "form.catalog-form { max-width: none; }" in page
        assert 'class="table-wrap items-wrap"' in page  # the items scroll inside their own frame


def _rows(text: str) -> int:
    """The item rows of the form (not the row template the "add" button copies)."""
    return len([n for n in re.findall(r'<tr data-item-row="(\d+)">', text) if n != "9999"])


def test_r28_the_editor_offers_to_add_item_rows(c: dict[str, Any]) -> None:
    client, csrf = page_client("civil_officer")
    page = client.get("/catalog/new").text
    assert 'data-testid="add-item"' in page and 'id="item-row-template"' in page
    assert _rows(page) == 3
    # Without JavaScript: "5 more rows" shows the form again with what was typed and 5 more blank rows.
    more = client.post(
        "/catalog/new",
        data={
            "csrf_token": csrf,
            "name": "低保信息",
            "keywords": "低保、救助",
            "items-0-name": "id_number",
            "items-0-label_zh": "身份证号码",
            "items-0-data_type": "id_number",
            "items-1-data_type": "string",
            "blank_rows": "3",
            "more_rows": "5",
        },
    )
    assert more.status_code == 200 and 'data-testid="catalog-errors"' not in more.text
    assert _rows(more.text) == 1 + 8
    assert 'value="低保信息"' in more.text and 'value="id_number"' in more.text
    assert 'value="低保, 救助"' in more.text


def test_r6_every_field_error_shows_at_the_first_save(c: dict[str, Any]) -> None:
    client, csrf = page_client("civil_officer")
    page = client.post("/catalog/new", data={"csrf_token": csrf, "name": "低保信息", "keywords": "x" * 41})
    assert page.status_code == 422
    listed = re.findall(r'<li data-field="([^"]+)">', page.text)
    for field in ("catalog_kind", "format", "items", "sharing_attribute", "sharing_methods", "keywords[0]"):
        assert field in listed, field
    assert 'data-testid="error-sharing_methods"' in page.text  # now, not at the next save
    assert "无条件共享或有条件共享的数据须选择至少一种共享方式（R19）" in page.text
    assert "关键词 1" in page.text and "信息项" in page.text


def test_r28_the_new_entry_button_sits_with_the_other_actions(c: dict[str, Any]) -> None:
    client, _ = page_client("civil_officer")
    page = client.get("/catalog").text
    head = re.search(r'<div class="actions catalog-actions">(.*?)</div>', page, re.S)
    assert head and 'data-testid="catalog-new"' in head.group(1) and 'href="/catalog/mine"' in head.group(1)


def test_r28_the_transfer_form_says_to_tick_the_entries(c: dict[str, Any]) -> None:
    client, csrf = page_client("civil_officer")
    page = client.post(
        "/catalog/transfers/new",
        data={"csrf_token": csrf, "receiving_org_code": "public_security", "reasons": "职责调整"},
    )
    assert page.status_code == 422 and "请勾选要划转的目录" in page.text and "请列出" not in page.text
    en, csrf_en = page_client("civil_officer", "en")
    page = en.post(
        "/catalog/transfers/new",
        data={"csrf_token": csrf_en, "receiving_org_code": "public_security", "reasons": "x"},
    )
    assert "Tick the entries to transfer" in page.text


PASSWORD = "Catalog2026pass"


@pytest.mark.browser
def test_r28_the_editor_fits_a_phone_and_uses_a_wide_screen(  # type: ignore[no-untyped-def]
    browser, live_server: str, session: Session, tmp_path: Path
) -> None:
    city(session)
    identity.create_user(
        session,
        username="civil.browser",
        display_name="民政目录员",
        password=PASSWORD,
        org_code="civil_affairs",
        roles=["catalog_officer"],
    )
    session.commit()
    for width in (1366, 390):
        context = browser.new_context(
            base_url=live_server, locale="zh-CN", viewport={"width": width, "height": 900}
        )
        page = context.new_page()
        page.goto("/login")
        page.get_by_test_id("login-username").fill("civil.browser")
        page.get_by_test_id("login-password").fill(PASSWORD)
        page.get_by_test_id("login-submit").click()
        page.wait_for_load_state()
        page.goto("/catalog/new")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        form = page.locator("form.catalog-form").bounding_box()
        assert form is not None and (form["width"] > 1000 if width == 1366 else form["width"] <= width)
        name = page.locator("#f-name").bounding_box()
        kind = page.locator("#f-catalog_kind").bounding_box()
        assert name and kind and abs(name["height"] - kind["height"]) <= 4  # inputs as tall as selects
        if width == 1366:  # the items table fits its card: no sideways scrolling
            assert page.evaluate(
                "(() => { const w = document.querySelector('.items-wrap'); return w.scrollWidth <= w.clientWidth; })()"
            )
        assert page.locator("#more-rows").count() == 0  # JavaScript on: the button adds rows in place
        page.get_by_test_id("add-item").click()
        assert page.locator("#items-rows tr[data-item-row]").count() == 4
        assert page.locator("input[name='items-3-name']").count() == 1
        page.screenshot(path=str(tmp_path / f"editor-{width}.png"), full_page=True)
        page.goto("/catalog")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        context.close()
