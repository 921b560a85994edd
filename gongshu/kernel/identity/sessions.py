"""R5: browser sessions. The cookie holds a random token; the database keeps only its SM3 digest, the
session's CSRF token, its expiry, and whether the second factor was given.

`resolve_session` and `resolve_pending_2fa` only read (they run in the request's read-only unit of work).
"""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gongshu.kernel.audit.service import record
from gongshu.kernel.config import get_settings
from gongshu.kernel.crypto.sm import sm3_hex
from gongshu.kernel.errors import Unauthenticated
from gongshu.kernel.identity import totp
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import User, WebSession
from gongshu.kernel.identity.service import build_actor
from gongshu.kernel.timeutil import now
from gongshu.kernel.workflow.models import Notification

MAX_TOKEN_LENGTH = 200


def _digest(raw: str) -> str:
    return sm3_hex(raw.encode())


def start_session(
    session: Session, user: User, *, ip: str | None, user_agent: str | None, second_factor_done: bool
) -> tuple[str, WebSession]:
    """R5: a new browser session for `user` (after `authenticate`). Returns the raw token for the cookie;
    it is never stored."""
    raw = secrets.token_urlsafe(32)
    ws = WebSession(
        token_hash=_digest(raw),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        second_factor_done=second_factor_done,
        expires_at=now() + dt.timedelta(hours=get_settings().session_hours),
        ip=(ip or None) and ip[:64],
        user_agent=(user_agent or None) and user_agent[:300],
    )
    session.add(ws)
    session.flush()
    return raw, ws


def _live(session: Session, raw: str | None) -> tuple[WebSession, User] | None:
    if not raw or len(raw) > MAX_TOKEN_LENGTH:
        return None
    ws = session.scalar(select(WebSession).where(WebSession.token_hash == _digest(raw)))
    if ws is None or ws.revoked_at is not None or ws.expires_at <= now():
        return None
    user = session.get(User, ws.user_id)
    if user is None or not user.active:
        return None
    return ws, user


def resolve_session(session: Session, raw: str | None) -> tuple[Actor, WebSession] | None:
    """The actor of a session cookie; None when unknown, expired or ended, or when the account needs a
    second factor that this session has not given yet (see `resolve_pending_2fa`)."""
    live = _live(session, raw)
    if live is None:
        return None
    ws, user = live
    if not ws.second_factor_done and totp.second_factor_required(session, user):
        return None
    actor = build_actor(session, user, via="session")
    session.expunge(ws)  # kept readable (csrf_token) after the read-only unit of work ends
    return actor, ws


def resolve_pending_2fa(session: Session, raw: str | None) -> User | None:
    """The user of a session that passed the password step but still owes the second factor (or, for an
    administrator without one, its enrolment); None otherwise."""
    live = _live(session, raw)
    if live is None:
        return None
    ws, user = live
    if ws.second_factor_done or not totp.second_factor_required(session, user):
        return None
    session.expunge(user)  # kept readable after the read-only unit of work ends
    return user


def pending_session(session: Session, raw: str | None) -> WebSession | None:
    """The session row behind a pending login (for its CSRF token)."""
    live = _live(session, raw)
    if live is None:
        return None
    session.expunge(live[0])
    return live[0]


def complete_second_factor(session: Session, raw: str) -> tuple[str, WebSession]:
    """R5: the second factor was given: the session becomes complete under a fresh token (the token that
    crossed the half-authenticated step is retired), with a fresh CSRF token."""
    live = _live(session, raw)
    if live is None:
        raise Unauthenticated(
            "auth.session_expired", "登录已过期，请重新登录", "The login expired; log in again"
        )
    ws, _user = live
    new_raw = secrets.token_urlsafe(32)
    ws.token_hash = _digest(new_raw)
    ws.csrf_token = secrets.token_urlsafe(32)
    ws.second_factor_done = True
    session.flush()
    return new_raw, ws


def end_session(session: Session, raw: str | None, actor: Actor | None = None) -> bool:
    """R5: log out: the session is revoked (whether complete or still pending). True if one was ended."""
    if not raw or len(raw) > MAX_TOKEN_LENGTH:
        return False
    ws = session.scalar(select(WebSession).where(WebSession.token_hash == _digest(raw)))
    if ws is None or ws.revoked_at is not None:
        return False
    ws.revoked_at = now()
    session.flush()
    who = actor
    if who is None or who.is_anonymous:
        user = session.get(User, ws.user_id)
        who = Actor(
            user_id=ws.user_id,
            username=user.username if user else "",
            org_id=user.organisation_id if user else None,
        )
    record(session, who, "auth.logout", object_type="web_session", object_id=ws.id)
    return True


def end_all_sessions(session: Session, user_id: int, actor: Actor, *, keep_id: int | None = None) -> int:
    """R5: revoke every live session of a user (after a password change), except `keep_id`."""
    rows = session.scalars(
        select(WebSession).where(WebSession.user_id == user_id, WebSession.revoked_at.is_(None))
    ).all()
    count = 0
    for ws in rows:
        if ws.id != keep_id:
            ws.revoked_at = now()
            count += 1
    if count:
        session.flush()
        record(
            session,
            actor,
            "auth.sessions_revoke",
            object_type="user",
            object_id=user_id,
            detail={"count": count},
        )
    return count


def unread_count(session: Session, actor: Actor) -> int:
    """Unread notifications of the actor (shown in the page header)."""
    if actor.user_id is None:
        return 0
    n = session.scalar(
        select(func.count(Notification.id)).where(
            Notification.user_id == actor.user_id, Notification.read_at.is_(None)
        )
    )
    return int(n or 0)
