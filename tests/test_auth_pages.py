"""R5: the account pages over real HTTP — login with the double-submit CSRF cookie, the session cookie's
flags, CSRF refusals that change nothing, the second factor for the authority's administrator,
self-registration with inline Chinese errors, API tokens shown once."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pyotp
import pytest
from auth_fixtures import PASSWORD, csrf_of, id_number, seed_city
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select

from gongshu.kernel import timeutil
from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.db import read_scope
from gongshu.kernel.identity.models import ApiToken, Organisation, User, WebSession
from gongshu.web.app import create_app


@pytest.fixture()
def client(db_clean: str) -> Iterator[TestClient]:
    seed_city()
    with TestClient(create_app()) as c:
        yield c


def _count(model: type) -> int:
    with read_scope() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _login(client: TestClient, username: str, password: str = PASSWORD, next_: str = "/account") -> Response:
    page = client.get(f"/login?next={next_}")
    return client.post(
        "/login",
        data={"username": username, "password": password, "next": next_, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )


def _set_cookie_header(response: Response, name: str) -> str:
    return next(h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}="))


def _wrong_code(secret: str) -> str:
    now = timeutil.now()
    near = {pyotp.TOTP(secret).at(now + dt.timedelta(seconds=k)) for k in (-30, 0, 30)}
    return next(c for c in ("123456", "654321", "111111") if c not in near)


def test_r5_login_page_logs_in_with_a_hardened_session_cookie(client: TestClient) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    for testid in ("login-username", "login-password", "login-submit"):
        assert f'data-testid="{testid}"' in page.text
    assert "用户名" in page.text and "登录" in page.text
    response = _login(client, "zhang")
    assert response.status_code == 303 and response.headers["location"] == "/account"
    cookie = _set_cookie_header(response, "gs_session").lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    account = client.get("/account")
    assert account.status_code == 200
    assert "张三" in account.text and "市卫生健康委员会" in account.text and "单位管理员" in account.text
    assert "市第一医院" in account.text  # the public service organisation the department manages


def test_login_wrong_password_shows_the_error_inline_in_chinese(client: TestClient) -> None:
    response = _login(client, "zhang", "Wrong-password-1")
    assert response.status_code == 401
    assert 'data-code="auth.bad_credentials"' in response.text and "用户名或密码不正确" in response.text
    assert 'value="zhang"' in response.text and "gs_session" not in response.headers.get("set-cookie", "")
    page = client.get("/login?lang=en")
    english = client.post(
        "/login", data={"username": "zhang", "password": "x", "csrf_token": csrf_of(page.text)}
    )
    assert "Wrong username or password" in english.text


def test_login_form_without_the_double_submit_token_is_refused(client: TestClient) -> None:
    client.get("/login")  # the browser now holds the gs_csrf cookie
    no_field = client.post("/login", data={"username": "zhang", "password": PASSWORD}, follow_redirects=False)
    assert no_field.status_code == 403 and "auth.csrf_failed" in no_field.text
    forged = client.post(
        "/login",
        data={"username": "zhang", "password": PASSWORD, "csrf_token": "forged"},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    fresh = TestClient(create_app())  # no cookie at all, a token copied from elsewhere
    no_cookie = fresh.post(
        "/login",
        data={"username": "zhang", "password": PASSWORD, "csrf_token": "x" * 32},
        follow_redirects=False,
    )
    assert no_cookie.status_code == 403
    assert _count(WebSession) == 0
    with read_scope() as s:
        assert s.scalar(select(func.count()).where(AuditEntry.action == "auth.login")) == 0


def test_logout_without_csrf_token_is_refused_and_the_session_survives(client: TestClient) -> None:
    _login(client, "zhang")
    refused = client.post("/logout", data={}, follow_redirects=False)
    assert refused.status_code == 403 and "auth.csrf_failed" in refused.text
    assert client.get("/account", follow_redirects=False).status_code == 200
    token = csrf_of(client.get("/account").text)
    done = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303
    after = client.get("/account", follow_redirects=False)
    assert after.status_code == 303 and after.headers["location"].startswith("/login")


def test_tokens_page_without_csrf_creates_nothing_then_shows_a_new_token_once(client: TestClient) -> None:
    _login(client, "zhang")
    refused = client.post("/account/tokens", data={"action": "create", "name": "export"})
    assert refused.status_code == 403 and _count(ApiToken) == 0
    token = csrf_of(client.get("/account/tokens").text)
    created = client.post(
        "/account/tokens", data={"action": "create", "name": "export", "days": "30", "csrf_token": token}
    )
    assert created.status_code == 200
    raw = re.search(r'data-testid="new-token">([^<]+)<', created.text)
    assert raw and raw.group(1).startswith("gs_")
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {raw.group(1)}"})
    assert me.status_code == 200 and me.json()["username"] == "zhang"
    listing = client.get("/account/tokens").text
    assert raw.group(1) not in listing and "export" in listing
    token_id = re.search(r'data-token-id="(\d+)"', listing)
    assert token_id
    client.post(
        "/account/tokens", data={"action": "revoke", "token_id": token_id.group(1), "csrf_token": token}
    )
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {raw.group(1)}"}).status_code == 401


def test_r5_authority_admin_cannot_complete_login_without_totp(client: TestClient) -> None:
    response = _login(client, "admin", next_="/account")
    assert response.status_code == 303 and response.headers["location"].startswith("/account/2fa")
    blocked = client.get("/account", follow_redirects=False)  # the password alone is not a login
    assert blocked.status_code == 303 and blocked.headers["location"].startswith("/login")
    assert client.get("/api/v1/me").status_code == 401
    enrol = client.get(response.headers["location"])
    assert enrol.status_code == 200 and 'data-testid="totp-mandatory"' in enrol.text and "<svg" in enrol.text
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', enrol.text)
    proof = re.search(r'name="proof" value="([0-9a-f]+)"', enrol.text)
    assert secret and proof
    form = {
        "action": "enrol",
        "secret": secret.group(1),
        "proof": proof.group(1),
        "next": "/account",
        "csrf_token": csrf_of(enrol.text),
    }
    wrong = client.post(
        "/account/2fa", data=form | {"code": _wrong_code(secret.group(1))}, follow_redirects=False
    )
    assert wrong.status_code == 422 and "动态验证码不正确" in wrong.text
    assert client.get("/account", follow_redirects=False).status_code == 303
    done = client.post(
        "/account/2fa", data=form | {"code": pyotp.TOTP(secret.group(1)).now()}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == "/account"
    assert client.get("/account", follow_redirects=False).status_code == 200

    # The next login asks for the code as a second step.
    client.post("/logout", data={"csrf_token": csrf_of(client.get("/account").text)})
    again = _login(client, "admin", next_="/account")
    assert again.headers["location"].startswith("/login/2fa")
    step = client.get(again.headers["location"])
    assert 'data-testid="totp-code"' in step.text
    bad = client.post(
        "/login/2fa",
        data={"code": _wrong_code(secret.group(1)), "next": "/account", "csrf_token": csrf_of(step.text)},
        follow_redirects=False,
    )
    assert (
        bad.status_code == 401
        and 'data-testid="totp-code-error"' in bad.text
        and "动态验证码不正确" in bad.text
    )
    assert client.get("/account", follow_redirects=False).status_code == 303
    good = client.post(
        "/login/2fa",
        data={
            "code": pyotp.TOTP(secret.group(1)).now(),
            "next": "/account",
            "csrf_token": csrf_of(step.text),
        },
        follow_redirects=False,
    )
    assert good.status_code == 303 and good.headers["location"] == "/account"
    assert client.get("/api/v1/me").json()["username"] == "admin"


def test_r5_register_person_with_bad_id_number_shows_inline_error_and_creates_nothing(
    client: TestClient,
) -> None:
    page = client.get("/register")
    assert page.status_code == 200 and 'data-testid="register-id-number"' in page.text
    good = id_number(321)
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    before = (_count(Organisation), _count(User))
    form = {
        "kind": "person",
        "username": "chen",
        "name": "陈小明",
        "id_number": bad,
        "phone": "13800138000",
        "password": PASSWORD,
        "password_confirm": PASSWORD,
        "csrf_token": csrf_of(page.text),
    }
    refused = client.post("/register", data=form)
    assert refused.status_code == 422
    assert 'data-testid="register-id-number-error"' in refused.text and "身份证号码校验码错误" in refused.text
    assert 'value="陈小明"' in refused.text  # what was typed is kept
    assert (_count(Organisation), _count(User)) == before
    done = client.post("/register", data=form | {"id_number": good}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/account?registered=1"
    account = client.get("/account")
    assert "陈小明" in account.text and "公众用户" in account.text


def test_r5_register_company_with_bad_uscc_is_refused(client: TestClient) -> None:
    page = client.get("/register?kind=company&lang=en")
    assert 'data-testid="register-uscc"' in page.text
    form = {
        "kind": "company",
        "username": "acme",
        "name": "厦门示例科技有限公司",
        "uscc": "91350200MA2Y0A0B0Z",
        "contact_name": "陈经理",
        "phone": "0592-1234567",
        "password": PASSWORD,
        "password_confirm": PASSWORD,
        "csrf_token": csrf_of(page.text),
    }
    refused = client.post("/register", data=form)
    assert refused.status_code == 422 and "Invalid unified social credit code" in refused.text
    assert _count(User) == 4


def test_login_never_redirects_off_site(client: TestClient) -> None:
    response = _login(client, "zhang", next_="//evil.example/steal")
    assert response.status_code == 303 and response.headers["location"] == "/"
