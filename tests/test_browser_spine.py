"""In Debian Chromium: log in, switch the language, open the inbox (R5, workflow)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from gongshu.kernel.identity import service as identity
from gongshu.kernel.workflow import engine

pytestmark = pytest.mark.browser
PASSWORD = "Reviewer2026pass"


def test_r5_log_in_switch_language_and_open_the_inbox(page, session: Session, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from gongshu.kernel.identifiers.checks import make_uscc

    identity_uscc = make_uscc("11350200MB0100001")
    identity.create_organisation(
        session, code="authority", name_zh="市大数据管理局", kind="authority", uscc=identity_uscc
    )
    identity.create_organisation(session, code="transport", name_zh="市交通运输局", kind="department")
    identity.create_user(
        session,
        username="reviewer",
        display_name="审核员 陈静",
        password=PASSWORD,
        org_code="authority",
        roles=["reviewer"],
    )
    applicant = identity.create_user(
        session,
        username="transport.catalog",
        display_name="交通目录员",
        password=PASSWORD,
        org_code="transport",
        roles=["catalog_officer"],
    )
    engine.submit(
        session,
        identity.build_actor(session, applicant),
        "it_project_acceptance",
        title="智慧交通二期项目验收核查",
        subject_type="it_project",
        subject_id="P-2026-07",
    )
    session.commit()

    page.goto("/login")
    page.get_by_test_id("login-username").fill("reviewer")
    page.get_by_test_id("login-password").fill("wrong-password-1")
    page.get_by_test_id("login-submit").click()
    assert "用户名或密码" in page.content()  # a precise Chinese message, and still on the login page
    page.get_by_test_id("login-username").fill("reviewer")
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.wait_for_load_state()
    assert "审核员 陈静" in page.content()
    assert page.locator("html").get_attribute("lang") == "zh-CN"

    page.get_by_test_id("lang-switch").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    assert "Public Data Resource Platform" in page.content()

    page.get_by_test_id("nav-inbox").click()
    page.wait_for_load_state()
    inbox = page.get_by_test_id("inbox")
    assert "智慧交通二期项目验收核查" in inbox.inner_text()
    page.screenshot(path=str(tmp_path / "inbox-en.png"), full_page=True)

    page.get_by_test_id("lang-switch").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert "待办" in page.content()
    page.screenshot(path=str(tmp_path / "inbox-zh.png"), full_page=True)
