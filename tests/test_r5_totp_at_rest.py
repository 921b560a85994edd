"""R5 identity / R26 security: TOTP secrets are kept encrypted at rest (SM4 + HMAC-SM3 under the platform's
secret key, `sm4:1:…`). Login with the second factor still works; a legacy clear secret still verifies and
is encrypted at that verification; the migration encrypts the clear secrets it finds; the demo's
administrators hold an encrypted secret that `gongshu demo-code` still opens."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyotp
import pytest
import sqlalchemy as sa
from auth_fixtures import PASSWORD, seed_city
from sqlalchemy import select

from gongshu.kernel import config, db, migrate, timeutil
from gongshu.kernel.crypto.sm4 import PREFIX, decrypt_secret
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import GongshuError
from gongshu.kernel.identity import login, service, totp
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import User

T0 = dt.datetime(2024, 6, 3, 9, 0, tzinfo=timeutil.CHINA)
USERS = User.__table__


@pytest.fixture()
def city(db_clean: str) -> None:
    seed_city()


def _stored(username: str) -> str | None:
    """The column as the database holds it (no model in between)."""
    with read_scope() as s:
        return s.scalar(select(USERS.c.totp_secret).where(USERS.c.username == username))


def _login_with_code(username: str, code: str) -> None:
    with session_scope() as s:
        user = login.authenticate(s, username, PASSWORD)
        login.verify_second_factor(s, user.id, code)


def _wrong_code(secret: str) -> str:
    near = {pyotp.TOTP(secret).at(timeutil.now() + dt.timedelta(seconds=k)) for k in (-30, 0, 30)}
    return next(c for c in ("123456", "654321", "111111", "222222") if c not in near)


def test_r5_r26_enrolled_secret_is_stored_encrypted_and_login_still_works(city: None) -> None:
    with session_scope() as s:
        admin = service.get_user_by_username(s, "admin")
        enrolment = totp.new_enrolment(admin)
        totp.confirm_enrolment(
            s,
            service.build_actor(s, admin),
            admin,
            secret=enrolment.secret,
            proof=enrolment.proof,
            code=pyotp.TOTP(enrolment.secret).now(),
        )
    stored = _stored("admin")
    assert stored is not None and stored.startswith(PREFIX)
    assert enrolment.secret not in stored
    assert decrypt_secret(stored) == enrolment.secret
    with pytest.raises(GongshuError) as wrong:
        _login_with_code("admin", _wrong_code(enrolment.secret))
    assert wrong.value.code == "auth.totp_invalid"
    _login_with_code("admin", pyotp.TOTP(enrolment.secret).now())
    assert _stored("admin") == stored  # an encrypted secret is not rewritten at each login


def test_r5_r26_a_legacy_clear_secret_verifies_and_is_encrypted_at_that_verification(city: None) -> None:
    secret = pyotp.random_base32()
    with session_scope() as s:
        admin = service.get_user_by_username(s, "admin")
        admin.totp_secret, admin.totp_enabled = secret, True  # as stored before R26 encryption at rest
    assert totp.is_clear_secret(_stored("admin"))
    with pytest.raises(GongshuError) as wrong:
        _login_with_code("admin", _wrong_code(secret))
    assert wrong.value.code == "auth.totp_invalid"
    assert _stored("admin") == secret  # a wrong code does not rewrite it
    _login_with_code("admin", pyotp.TOTP(secret).now())
    stored = _stored("admin")
    assert stored is not None and stored.startswith(PREFIX) and decrypt_secret(stored) == secret
    timeutil.freeze(timeutil.now() + dt.timedelta(minutes=2))
    _login_with_code("admin", pyotp.TOTP(secret).at(timeutil.now()))  # and it still opens


def test_r5_r26_turning_the_second_factor_off_verifies_an_encrypted_secret(city: None) -> None:
    secret = pyotp.random_base32()
    with session_scope() as s:
        li = service.get_user_by_username(s, "li")  # not an administrator: may turn it off
        li.totp_secret, li.totp_enabled = totp.encrypt_stored_secret(secret), True
    with session_scope() as s:
        li = service.get_user_by_username(s, "li")
        actor: Actor = service.build_actor(s, li)
        totp.disable(s, actor, li, code=pyotp.TOTP(secret).now())
    assert _stored("li") is None


def test_r5_r26_demo_administrators_hold_an_encrypted_secret_that_demo_code_opens(db_clean: str) -> None:
    from typer.testing import CliRunner

    from gongshu.cli import app
    from gongshu.demo.load import DEMO_TOTP_SECRET, load_city

    with session_scope() as s:
        report = load_city(s)
    assert report.totp_users
    for username in report.totp_users:
        stored = _stored(username)
        assert stored is not None and stored.startswith(PREFIX) and DEMO_TOTP_SECRET not in stored
    printed = CliRunner().invoke(app, ["demo-code"])
    assert printed.exit_code == 0, printed.output
    code = printed.output.strip()
    with session_scope() as s:
        user = service.get_user_by_username(s, report.totp_users[0])
        assert totp.verify_user_code(user, code)


# --- the migration ----------------------------------------------------------------------------------

BEFORE = "0b5e1d9c7a62"
REVISION = "8a5c7fe92e5c"


def _legacy_user(url: str, secret: str) -> None:
    orgs = sa.table(
        "organisation",
        *(sa.column(c) for c in ("id", "code", "name_zh", "name_en", "kind", "active", "created_at")),
    )
    users = sa.table(
        "user_account",
        *(
            sa.column(c)
            for c in (
                "id",
                "username",
                "display_name",
                "organisation_id",
                "password_hash",
                "language",
                "active",
                "failed_logins",
                "totp_secret",
                "totp_enabled",
                "created_at",
            )
        ),
    )
    created = dt.datetime(2024, 6, 3, 1, 0)
    with db.get_engine(url).begin() as conn:
        conn.execute(
            orgs.insert().values(
                id=1,
                code="authority",
                name_zh="局",
                name_en="",
                kind="authority",
                active=True,
                created_at=created,
            )
        )
        for user_id, value in ((1, secret), (2, None)):
            conn.execute(
                users.insert().values(
                    id=user_id,
                    username=f"u{user_id}",
                    display_name="u",
                    organisation_id=1,
                    password_hash="x",
                    language="zh",
                    active=True,
                    failed_logins=0,
                    totp_secret=value,
                    totp_enabled=value is not None,
                    created_at=created,
                )
            )


def _secrets(url: str) -> dict[str, str | None]:
    with db.get_engine(url).connect() as conn:
        rows = conn.execute(sa.text("SELECT username, totp_secret FROM user_account")).all()
        return {username: value for username, value in rows}


def test_r5_r26_migration_encrypts_the_clear_secrets_and_back(fresh_db: str) -> None:
    secret = pyotp.random_base32()
    migrate.upgrade(fresh_db, BEFORE)
    _legacy_user(fresh_db, secret)
    migrate.upgrade(fresh_db, REVISION)
    after = _secrets(fresh_db)
    assert after["u2"] is None
    stored = after["u1"]
    assert stored is not None and stored.startswith(PREFIX) and secret not in stored
    assert decrypt_secret(stored) == secret  # under the platform's key, which the web process uses
    migrate.upgrade(fresh_db)  # heads: nothing left to do
    assert _secrets(fresh_db)["u1"] == stored
    from alembic import command

    command.downgrade(migrate.alembic_config(fresh_db), BEFORE)
    assert _secrets(fresh_db)["u1"] == secret


def test_r5_r26_migration_without_the_platform_key_leaves_clear_secrets_for_the_next_login(
    fresh_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = pyotp.random_base32()
    migrate.upgrade(fresh_db, BEFORE)
    _legacy_user(fresh_db, secret)
    elsewhere = tmp_path / "no-key-here"
    monkeypatch.setenv("GONGSHU_DATA_DIR", str(elsewhere))
    monkeypatch.delenv("GONGSHU_SECRET_KEY", raising=False)
    config.reset_settings()
    try:
        migrate.upgrade(fresh_db, REVISION)
        assert not (elsewhere / "keys" / "secret_key").exists()  # no key is made by a migration
    finally:
        monkeypatch.undo()
        config.reset_settings()
    assert _secrets(fresh_db)["u1"] == secret  # encrypted at its next successful verification instead
