"""R5: logging in — password, then the second factor where it applies — with lockout after repeated
failures.

A refused attempt still leaves a trace: the failure counter, the lock and the audit entry are committed
before the refusal is raised (the caller's transaction is committed at that point, so call these first
in a unit of work). An unknown username and a wrong password are refused with the same error.
"""

from __future__ import annotations

import datetime as dt
from typing import NoReturn

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gongshu.kernel.audit.service import record
from gongshu.kernel.config import get_settings
from gongshu.kernel.errors import Forbidden, GongshuError, Unauthenticated
from gongshu.kernel.identity import totp
from gongshu.kernel.identity.actor import ANONYMOUS, Actor
from gongshu.kernel.identity.models import User
from gongshu.kernel.identity.passwords import hash_password, needs_rehash, verify_password
from gongshu.kernel.timeutil import CHINA, now


def _bad_credentials() -> Unauthenticated:
    return Unauthenticated("auth.bad_credentials", "用户名或密码不正确", "Wrong username or password")


def _totp_invalid() -> Unauthenticated:
    return Unauthenticated(
        "auth.totp_invalid",
        "动态验证码不正确，请输入验证器中当前显示的6位数字",
        "Wrong one-time code; enter the 6 digits your authenticator shows now",
        field="code",
    )


def locked_error(until: dt.datetime) -> Forbidden:
    """R5: `auth.locked`, naming the time (China time) at which the account unlocks."""
    local = until.astimezone(CHINA)
    return Forbidden(
        "auth.locked",
        f"连续登录失败次数过多，账号已锁定，请于 {local:%Y-%m-%d %H:%M} 后再试",
        f"Too many failed logins: the account is locked until {local:%Y-%m-%d %H:%M} (China time)",
        status_code=423,
        details={"locked_until": until.isoformat()},
    )


def _who(user: User) -> Actor:
    return Actor(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        org_id=user.organisation_id,
        via="login",
    )


def _commit_and_raise(session: Session, error: GongshuError) -> NoReturn:
    """Keep the counter, the lock and the audit entry although the attempt is refused."""
    session.commit()
    raise error


def _refuse_if_locked(session: Session, user: User, ip: str | None) -> None:
    if user.locked_until is not None and user.locked_until > now():
        record(
            session,
            _who(user),
            "auth.login",
            object_type="user",
            object_id=user.id,
            outcome="locked",
            detail={"ip": ip},
        )
        _commit_and_raise(session, locked_error(user.locked_until))


def _fail(session: Session, user: User, ip: str | None, *, step: str, error: GongshuError) -> NoReturn:
    """R5: count a failed attempt; at `login_max_failures` consecutive failures lock the account for
    `login_lockout_minutes`."""
    settings = get_settings()
    user.failed_logins = (user.failed_logins or 0) + 1
    record(
        session,
        _who(user),
        "auth.login",
        object_type="user",
        object_id=user.id,
        outcome="denied",
        detail={"ip": ip, "step": step, "failures": user.failed_logins},
    )
    if user.failed_logins >= settings.login_max_failures:
        until = now() + dt.timedelta(minutes=settings.login_lockout_minutes)
        user.locked_until = until
        user.failed_logins = 0
        record(
            session,
            _who(user),
            "auth.lockout",
            object_type="user",
            object_id=user.id,
            outcome="locked",
            detail={"ip": ip, "until": until.isoformat(), "after_failures": settings.login_max_failures},
        )
        error = locked_error(until)
    session.flush()
    _commit_and_raise(session, error)


def record_login_success(session: Session, user: User, ip: str | None, *, second_factor: bool) -> None:
    """R5: the login is complete: the failure counter starts again from zero."""
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now()
    session.flush()
    record(
        session,
        _who(user),
        "auth.login",
        object_type="user",
        object_id=user.id,
        outcome="ok",
        detail={"ip": ip, "second_factor": second_factor},
    )


def authenticate(session: Session, username: str, password: str, ip: str | None = None) -> User:
    """R5: check a username and password. The same `auth.bad_credentials` refuses an unknown user and a
    wrong password; a locked account is refused (`auth.locked`) even with the right password until the
    lock expires. For a user who needs a second factor (`totp.second_factor_required`) the login is not
    complete yet: the failure counter is reset only by `verify_second_factor` (or a confirmed enrolment)."""
    name = username.strip()
    user = (
        session.scalar(select(User).where(func.lower(User.username) == name.lower()).with_for_update(of=User))
        if name
        else None
    )
    if user is not None:
        _refuse_if_locked(session, user, ip)
    ok = verify_password(user.password_hash if user is not None else None, password)
    if user is None:
        record(
            session,
            ANONYMOUS,
            "auth.login",
            object_type="user",
            outcome="denied",
            detail={"ip": ip, "step": "password", "username": name[:80]},
        )
        _commit_and_raise(session, _bad_credentials())
    if not ok:
        _fail(session, user, ip, step="password", error=_bad_credentials())
    if not user.active:
        record(
            session,
            _who(user),
            "auth.login",
            object_type="user",
            object_id=user.id,
            outcome="denied",
            detail={"ip": ip, "reason": "account_disabled"},
        )
        _commit_and_raise(
            session, Forbidden("auth.account_disabled", "该账号已停用", "This account is disabled")
        )
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    if totp.second_factor_required(session, user):
        record(
            session,
            _who(user),
            "auth.login_password_ok",
            object_type="user",
            object_id=user.id,
            outcome="pending_2fa",
            detail={"ip": ip},
        )
    else:
        record_login_success(session, user, ip, second_factor=False)
    return user


def verify_second_factor(session: Session, user_id: int, code: str, ip: str | None = None) -> User:
    """R5: the second step of a login: a valid one-time code completes it; a wrong one counts as a failed
    login (`auth.totp_invalid`, and `auth.locked` once the limit is reached)."""
    user = session.get(User, user_id, with_for_update={"of": User})
    if user is None or not user.active:
        raise _bad_credentials()
    _refuse_if_locked(session, user, ip)
    if not user.totp_enabled:
        raise Forbidden(
            "auth.totp_enrolment_required",
            "该账号须先在网页上绑定动态验证码（双因素认证）",
            "This account must first enrol two-factor authentication on the web",
            field="code",
        )
    if not code.strip():
        raise Unauthenticated(
            "auth.totp_required",
            "请输入动态验证码",
            "Enter the one-time code of your authenticator",
            field="code",
        )
    if not totp.verify_user_code(user, code):
        _fail(session, user, ip, step="totp", error=_totp_invalid())
    record_login_success(session, user, ip, second_factor=True)
    return user
