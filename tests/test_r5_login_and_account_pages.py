"""R5: the login form says which field is missing; the account page shows who one is in words — the
organisation kind's label, a person's name and masked ID number, a company's USCC — never internal codes."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from auth_fixtures import PASSWORD, csrf_of, id_number, seed_city, uscc
from fastapi.testclient import TestClient
from page_fixtures import page_client
from sqlalchemy import func, select

from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.identity import registration
from gongshu.web.app import create_app
from gongshu.web.pages.auth_account import masked_id_number


@pytest.fixture()
def client(db_clean: str) -> Iterator[TestClient]:
    seed_city()
    with TestClient(create_app()) as c:
        yield c


def _audit_count() -> int:
    with read_scope() as s:
        return int(s.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def _field_error(html: str, testid: str) -> str | None:
    found = re.search(rf'data-testid="{testid}-error">([^<]*)<', html)
    return found.group(1) if found else None


def test_r5_an_empty_login_form_names_each_missing_field(client: TestClient) -> None:
    token = csrf_of(client.get("/login").text)
    before = _audit_count()
    empty = client.post("/login", data={"csrf_token": token, "username": "", "password": "", "next": "/"})
    assert empty.status_code == 422
    assert _field_error(empty.text, "login-username") == "请填写用户名"
    assert _field_error(empty.text, "login-password") == "请填写密码"
    assert "用户名或密码不正确" not in empty.text
    assert _audit_count() == before  # an empty form is no login attempt: nothing counted or recorded


def test_r5_a_missing_password_keeps_the_username_typed(client: TestClient) -> None:
    token = csrf_of(client.get("/login").text)
    response = client.post("/login", data={"csrf_token": token, "username": "zhang", "password": ""})
    assert response.status_code == 422
    assert _field_error(response.text, "login-password") == "请填写密码"
    assert _field_error(response.text, "login-username") is None
    assert 'value="zhang"' in response.text  # nothing typed is lost

    english = client.post(
        "/login?lang=en", data={"csrf_token": token, "username": "  ", "password": PASSWORD}
    )
    assert _field_error(english.text, "login-username") == "Enter your username"
    assert _field_error(english.text, "login-password") is None


def test_r5_a_wrong_password_still_says_username_or_password(client: TestClient) -> None:
    token = csrf_of(client.get("/login").text)
    wrong = client.post("/login", data={"csrf_token": token, "username": "zhang", "password": "nope-12345"})
    assert "用户名或密码不正确" in wrong.text


def test_r5_masked_id_number_keeps_the_first_and_last_four() -> None:
    assert masked_id_number("350203199005171216") == "3502**********1216"
    assert masked_id_number("35020319900517121X") == "3502**********121X"
    assert masked_id_number(None) == "" and masked_id_number("") == ""


def _profile(html: str) -> str:
    found = re.search(r'<dl class="kv" data-testid="account-profile">(.*?)</dl>', html, re.S)
    assert found
    return found.group(1)


def _text(html: str) -> str:
    """What a reader sees: the markup without its tags and attributes."""
    return re.sub(r"<[^>]+>", " ", html)


def test_r5_a_persons_account_shows_the_kind_and_the_masked_id_number(db_clean: str) -> None:
    seed_city()
    number = id_number(7)
    with session_scope() as s:
        registration.register_person(
            s, username="zhangsan", name="张三", id_number=number, phone="13800000000", password=PASSWORD
        )
    client, _ = page_client("zhangsan")
    profile = _profile(client.get("/account").text)
    assert ">自然人<" in profile
    assert f">{number[:4]}{'*' * 10}{number[-4:]}<" in profile
    assert number not in profile
    assert "person" not in _text(profile) and "P-" not in profile  # no internal organisation code


def test_r5_a_companys_account_shows_its_uscc(db_clean: str) -> None:
    seed_city()
    code = uscc(77)
    with session_scope() as s:
        user = registration.register_company(
            s,
            username="acme",
            name="厦门某某科技有限公司",
            uscc=code,
            contact_name="李经理",
            phone="13900000000",
            password=PASSWORD,
        )
        org_code = user.organisation.code
    client, _ = page_client("acme")
    profile = _profile(client.get("/account").text)
    assert "厦门某某科技有限公司" in profile and "（法人）" in profile
    assert f'data-testid="account-uscc">{code}<' in profile
    assert org_code not in profile


def test_r5_a_staff_account_shows_the_kind_label_not_the_code(db_clean: str) -> None:
    seed_city()
    client, _ = page_client("admin")
    html = client.get("/account").text
    profile = _profile(html)
    assert "市大数据管理局" in profile and "（市大数据主管部门）" in profile
    assert "authority" not in _text(profile)
    english = client.get("/account?lang=en").text
    assert "(Big-data authority)" in _profile(english)
