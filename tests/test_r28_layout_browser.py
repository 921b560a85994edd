"""R28 (page usability), in Debian Chromium on a 390 px phone: the menu folds behind its button, so the
page starts on the first screen; long unbroken text never makes a page wider than the screen."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from gongshu.kernel.identity import service as identity

pytestmark = pytest.mark.browser
PASSWORD = "Officer2026pass"


def test_r28_on_a_phone_the_menu_folds_and_long_text_wraps(page, session: Session) -> None:  # type: ignore[no-untyped-def]
    identity.create_organisation(session, code="civil", name_zh="市民政局", kind="department")
    identity.create_user(
        session,
        username="officer",
        display_name="民政局数据管理员",
        password=PASSWORD,
        org_code="civil",
        roles=["data_officer", "catalog_officer"],
    )
    session.commit()
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/login")
    assert not page.get_by_test_id("nav-catalog").is_visible()  # folded, even before login
    page.get_by_test_id("login-username").fill("officer")
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.wait_for_load_state()
    page.goto("/")

    assert page.get_by_test_id("nav-toggle").is_visible()
    assert not page.get_by_test_id("nav-inbox").is_visible()
    assert not page.get_by_test_id("logout").is_visible()
    heading_top = page.get_by_test_id("home-heading").bounding_box()["y"]
    assert heading_top < 300, heading_top  # the page itself starts on the first screen

    page.get_by_test_id("nav-toggle").click()
    assert page.get_by_test_id("nav-inbox").is_visible() and page.get_by_test_id("logout").is_visible()
    page.get_by_test_id("nav-toggle").click()
    assert not page.get_by_test_id("nav-inbox").is_visible()

    page.evaluate(
        """() => {
        const main = document.querySelector('main');
        const p = document.createElement('p');
        p.textContent = 'x'.repeat(20000);
        main.appendChild(p);
        const table = document.createElement('table');
        table.className = 'data';
        table.innerHTML = '<tr><td>' + 'y'.repeat(20000) + '</td><td>z</td></tr>';
        main.appendChild(table);
        }"""
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    page.set_viewport_size({"width": 1280, "height": 800})  # a wide screen: no button, the menu open
    assert not page.get_by_test_id("nav-toggle").is_visible()
    assert page.get_by_test_id("nav-inbox").is_visible()
