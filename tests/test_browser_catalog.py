"""In Debian Chromium: a department compiles a catalog entry in the editor (inline Chinese errors first),
submits it; the authority's reviewer approves it from the catalog review queue; a visitor finds it (R6)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from gongshu.kernel.identifiers.checks import make_uscc
from gongshu.kernel.identity import service as identity

pytestmark = pytest.mark.browser
PASSWORD = "Catalog2026pass"


def _city(session: Session) -> None:
    identity.create_organisation(
        session,
        code="authority",
        name_zh="市大数据管理局",
        kind="authority",
        uscc=make_uscc("11350200MB0100001"),
    )
    identity.create_organisation(session, code="civil_affairs", name_zh="市民政局", kind="department")
    identity.create_user(
        session,
        username="civil_affairs.catalog",
        display_name="民政目录员 林芳",
        password=PASSWORD,
        org_code="civil_affairs",
        roles=["catalog_officer"],
    )
    identity.create_user(
        session,
        username="authority.reviewer",
        display_name="审核员 陈静",
        password=PASSWORD,
        org_code="authority",
        roles=["reviewer"],
    )
    session.commit()


def _log_in(page, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto("/login")
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.wait_for_load_state()


def _item(page, row: int, name: str, label: str, data_type: str) -> None:  # type: ignore[no-untyped-def]
    page.locator(f"input[name='items-{row}-name']").fill(name)
    page.locator(f"input[name='items-{row}-label_zh']").fill(label)
    page.locator(f"select[name='items-{row}-data_type']").select_option(data_type)


def test_r6_compile_submit_approve_and_find_an_entry(  # type: ignore[no-untyped-def]
    page, browser, live_server: str, session: Session, tmp_path: Path
) -> None:
    _city(session)

    # The department's catalog officer compiles the entry; the first attempt breaks two rules.
    _log_in(page, "civil_affairs.catalog")
    page.goto("/catalog/new")
    page.locator("#f-catalog_kind").select_option("government")
    page.locator("#f-category_code").fill("A01-04-01-01")
    page.locator("#f-name").fill("婚姻登记信息")
    page.locator("#f-format").select_option("csv")
    page.locator("#f-update_cycle").select_option("daily")
    page.locator("#f-grade").select_option("important")
    page.locator("#f-subject").select_option("person")
    _item(page, 0, "id_number", "身份证号码", "id_number")
    page.locator("input[name='items-0-is_key']").check()
    page.locator("select[name='items-0-sensitivity']").select_option("personal")
    _item(page, 1, "Registered On", "登记日期", "date")
    page.locator("#f-sharing_attribute").select_option("unconditional")
    page.locator("input[name='sharing_methods'][value='api']").check()
    page.locator("#f-open_attribute").select_option("on_application")
    page.get_by_test_id("catalog-save").click()
    page.wait_for_load_state()
    assert page.get_by_test_id("catalog-errors").is_visible()
    assert (
        "依申请开放的数据须写明开放条件（R24）" in page.get_by_test_id("error-open_conditions").inner_text()
    )
    assert "信息项名称应以小写字母开头" in page.get_by_test_id("error-items[1].name").inner_text()
    page.screenshot(path=str(tmp_path / "1-editor-errors.png"), full_page=True)

    page.locator("input[name='items-1-name']").fill("registered_on")
    page.locator("select[name='open_conditions-0-kind']").select_option("other")
    page.locator("input[name='open_conditions-0-value']").fill(
        "经权利人明确同意（《中华人民共和国个人信息保护法》第十三条）"
    )
    page.get_by_test_id("catalog-save").click()
    page.wait_for_load_state()
    assert page.get_by_test_id("entry-done").is_visible()
    assert page.get_by_test_id("entry-status").inner_text() == "草稿"
    code = page.get_by_test_id("resource-code").inner_text()
    page.get_by_test_id("entry-submit").click()
    page.wait_for_load_state()
    assert "/cases/" in page.url
    page.screenshot(path=str(tmp_path / "2-submitted.png"), full_page=True)

    # The authority's reviewer opens the review queue and approves the case.
    reviewer_context = browser.new_context(base_url=live_server, locale="zh-CN")
    reviewer = reviewer_context.new_page()
    _log_in(reviewer, "authority.reviewer")
    reviewer.get_by_test_id("nav-catalog-review").click()
    reviewer.wait_for_load_state()
    row = reviewer.get_by_test_id("review-row").filter(has_text="婚姻登记信息")
    assert row.count() == 1 and "市民政局" in row.inner_text() and code in row.inner_text()
    assert row.get_attribute("data-sla") == "on_time"
    reviewer.screenshot(path=str(tmp_path / "3-review-queue.png"), full_page=True)
    row.get_by_test_id("review-case-link").click()
    reviewer.wait_for_load_state()
    reviewer.get_by_test_id("decision-approve").check()
    reviewer.get_by_test_id("decision-submit").click()
    reviewer.wait_for_load_state()
    assert reviewer.get_by_test_id("case-status").get_attribute("data-status") == "approved"
    reviewer.screenshot(path=str(tmp_path / "4-approved.png"), full_page=True)
    reviewer.get_by_test_id("nav-catalog-review").click()
    reviewer.wait_for_load_state()
    assert reviewer.get_by_test_id("review-row").count() == 0
    reviewer_context.close()

    # An anonymous visitor searches for "婚" and finds the published entry.
    visitor_context = browser.new_context(base_url=live_server, locale="zh-CN")
    visitor = visitor_context.new_page()
    visitor.goto("/catalog")
    visitor.get_by_test_id("catalog-q").fill("婚")
    visitor.get_by_test_id("catalog-q").press("Enter")
    visitor.wait_for_load_state()
    hits = visitor.get_by_test_id("catalog-hits")
    assert "婚姻登记信息" in hits.inner_text()
    visitor.screenshot(path=str(tmp_path / "5-search.png"), full_page=True)
    hits.get_by_text("婚姻登记信息").first.click()
    visitor.wait_for_load_state()
    assert visitor.get_by_test_id("entry-status").inner_text() == "已发布"
    assert visitor.get_by_test_id("nav-catalog-review").count() == 0
    visitor_context.close()
