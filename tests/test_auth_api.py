"""R5: the identity API over real HTTP — token issue (with the second factor where required), Bearer
authentication, expiry and revocation, and who-am-I."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest
from auth_fixtures import PASSWORD, seed_city
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from gongshu.kernel import timeutil
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.identity import service
from gongshu.kernel.identity.models import ApiToken
from gongshu.web.app import create_app

T0 = dt.datetime(2024, 6, 3, 9, 0, tzinfo=timeutil.CHINA)


@pytest.fixture()
def client(db_clean: str) -> Iterator[TestClient]:
    seed_city()
    with TestClient(create_app()) as c:
        yield c


def _issue(client: TestClient, username: str = "zhang", **extra: Any) -> Any:
    body = {"username": username, "password": PASSWORD, "name": "pytest"} | extra
    return client.post("/api/v1/auth/tokens", json=body)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _error_code(response: Any) -> str:
    return str(response.json()["error"]["code"])


def _token_count() -> int:
    with read_scope() as s:
        return int(s.scalar(select(func.count(ApiToken.id))) or 0)


def test_r5_token_issue_then_me_shows_org_and_roles(client: TestClient) -> None:
    issued = _issue(client, days=30)
    assert issued.status_code == 201, issued.text
    token = issued.json()["token"]
    assert token.startswith("gs_") and issued.headers["cache-control"] == "no-store"
    me = client.get("/api/v1/me", headers=_bearer(token))
    assert me.status_code == 200
    body = me.json()
    assert body["username"] == "zhang" and body["via"] == "token"
    assert body["org"]["code"] == "health" and body["org"]["kind"] == "department"
    assert {(r["org_code"], r["role"]) for r in body["roles"]} == {
        ("health", "data_officer"),
        ("health", "org_admin"),
    }
    with read_scope() as s:
        hospital = service.get_org_by_code(s, "hospital-1").id
    assert body["managed_org_ids"] == [hospital]
    listed = client.get("/api/v1/auth/tokens", headers=_bearer(token)).json()
    assert [t["name"] for t in listed] == ["pytest"] and "token" not in listed[0]


def test_r5_me_without_credentials_is_401_login_required(client: TestClient) -> None:
    response = client.get("/api/v1/me")
    assert response.status_code == 401 and _error_code(response) == "auth.login_required"


def test_r5_token_issue_refuses_bad_credentials_alike(client: TestClient) -> None:
    wrong = client.post(
        "/api/v1/auth/tokens", json={"username": "zhang", "password": "Nope-1234567", "name": "x"}
    )
    unknown = client.post(
        "/api/v1/auth/tokens", json={"username": "ghost", "password": PASSWORD, "name": "x"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert _error_code(wrong) == "auth.bad_credentials"
    assert _token_count() == 0


def test_r5_expired_token_is_401_token_expired(client: TestClient) -> None:
    timeutil.freeze(T0)
    token = _issue(client, days=1).json()["token"]
    assert client.get("/api/v1/me", headers=_bearer(token)).status_code == 200
    timeutil.freeze(T0 + dt.timedelta(days=1, minutes=1))
    response = client.get("/api/v1/me", headers=_bearer(token))
    assert response.status_code == 401 and _error_code(response) == "auth.token_expired"


def test_r5_revoked_token_is_401_token_revoked(client: TestClient) -> None:
    issued = _issue(client).json()
    other = _issue(client).json()
    revoked = client.delete(f"/api/v1/auth/tokens/{issued['id']}", headers=_bearer(other["token"]))
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    response = client.get("/api/v1/me", headers=_bearer(issued["token"]))
    assert response.status_code == 401 and _error_code(response) == "auth.token_revoked"
    assert client.get("/api/v1/me", headers=_bearer(other["token"])).status_code == 200


def test_r5_garbage_token_is_401_token_invalid(client: TestClient) -> None:
    token = _issue(client).json()["token"]
    for bad in ("gs_123", token[:-3] + "abc", "not a token"):
        response = client.get("/api/v1/me", headers=_bearer(bad))
        assert response.status_code == 401 and _error_code(response) == "auth.token_invalid"


def test_r5_other_departments_user_cannot_revoke_a_token(client: TestClient) -> None:
    li = _issue(client, "li").json()
    wang = _issue(client, "wang").json()
    refused = client.delete(f"/api/v1/auth/tokens/{li['id']}", headers=_bearer(wang["token"]))
    assert refused.status_code == 403 and _error_code(refused) == "auth.token_not_yours"
    assert client.get("/api/v1/me", headers=_bearer(li["token"])).status_code == 200
    zhang = _issue(client, "zhang").json()  # org_admin of li's department
    assert (
        client.delete(f"/api/v1/auth/tokens/{li['id']}", headers=_bearer(zhang["token"])).status_code == 200
    )


def test_r5_authority_admin_gets_a_token_only_with_totp(client: TestClient) -> None:
    not_enrolled = _issue(client, "admin")
    assert not_enrolled.status_code == 403 and _error_code(not_enrolled) == "auth.totp_enrolment_required"
    secret = pyotp.random_base32()
    with session_scope() as s:
        admin = service.get_user_by_username(s, "admin")
        admin.totp_secret, admin.totp_enabled = secret, True
    missing = _issue(client, "admin")
    assert missing.status_code == 401 and _error_code(missing) == "auth.totp_required"
    now = timeutil.now()
    near = {pyotp.TOTP(secret).at(now + dt.timedelta(seconds=k)) for k in (-30, 0, 30)}
    wrong = next(c for c in ("123456", "654321", "111111") if c not in near)
    bad = _issue(client, "admin", totp_code=wrong)
    assert bad.status_code == 401 and _error_code(bad) == "auth.totp_invalid"
    assert _token_count() == 0
    good = _issue(client, "admin", totp_code=pyotp.TOTP(secret).now())
    assert good.status_code == 201, good.text
    me = client.get("/api/v1/me", headers=_bearer(good.json()["token"])).json()
    assert me["totp_enabled"] and {r["role"] for r in me["roles"]} == {"admin"}


def test_r5_token_request_validation_is_precise(client: TestClient) -> None:
    too_long = _issue(client, days=10_000)
    assert too_long.status_code == 422 and _error_code(too_long) == "auth.token_days_invalid"
    nameless = _issue(client, name="   ")
    assert nameless.status_code == 422 and _error_code(nameless) == "auth.token_name_invalid"
    assert _token_count() == 0
