"""R5: API tokens — machine credentials of a user, shaped `gs_<prefix>_<secret>`. The prefix finds the
row; only the SM3 digest of the whole token is stored, so the token is shown once, when issued.

R5/R26: `ApiToken.last_used_at` tells the owner (token lists, `GET /api/v1/auth/tokens`) when a token was
last used, to the minute: it is written only when a token is resolved from the database (not from the
per-process cache of actors) and at most once a minute per token, in a short transaction of its own that
never makes the request fail.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
import threading
import time
from typing import Any

from sqlalchemy import Engine, event, or_, select, update
from sqlalchemy.orm import Session

from gongshu.kernel.audit.service import record
from gongshu.kernel.config import get_settings
from gongshu.kernel.crypto.sm import constant_time_equal, sm3_hex
from gongshu.kernel.errors import Forbidden, NotFound, Unauthenticated, ValidationFailed
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import ApiToken, Role, User
from gongshu.kernel.identity.service import build_actor
from gongshu.kernel.timeutil import CHINA, now

TOKEN_SHAPE = re.compile(r"^gs_([0-9a-f]{12})_([A-Za-z0-9_\-]{40,64})$")
MAX_DAYS = 366
USE_NOTED_EVERY = dt.timedelta(minutes=1)
"""R5: `last_used_at` is written at most this often per token."""
_NOTE_WAIT_MS = 200  # how long noting a use may wait for a lock (SQLite's database, PostgreSQL's row)

log = logging.getLogger("gongshu.identity")


def _invalid() -> Unauthenticated:
    return Unauthenticated("auth.token_invalid", "API 令牌无效", "Invalid API token")


def issue_token(
    session: Session, actor_or_user: Actor | User, *, name: str, days: int | None = None
) -> tuple[str, ApiToken]:
    """R5: a new API token for the actor's own account, valid `days` (default
    `settings.api_token_default_days`). Returns the raw token — the only time it is ever available."""
    if isinstance(actor_or_user, User):
        user: User | None = actor_or_user
        actor = build_actor(session, actor_or_user, via="session")
    else:
        actor = actor_or_user
        user = session.get(User, actor.user_id) if actor.user_id is not None else None
    if user is None or not user.active:
        raise Forbidden(
            "auth.token_owner_required",
            "只有已登录的用户账号可以申请 API 令牌",
            "Only a user account can hold API tokens",
        )
    name = name.strip()
    if not name or len(name) > 120:
        raise ValidationFailed(
            "auth.token_name_invalid",
            "令牌名称不能为空且不超过120字",
            "A token name of 1 to 120 characters is required",
            field="name",
        )
    days = get_settings().api_token_default_days if days is None else days
    if not 1 <= days <= MAX_DAYS:
        raise ValidationFailed(
            "auth.token_days_invalid",
            f"有效天数应为1至{MAX_DAYS}天",
            f"A token is valid for 1 to {MAX_DAYS} days",
            field="days",
        )
    prefix = secrets.token_hex(6)
    while session.scalar(select(ApiToken.id).where(ApiToken.prefix == prefix)):
        prefix = secrets.token_hex(6)
    raw = f"gs_{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken(
        user_id=user.id,
        name=name,
        prefix=prefix,
        token_hash=sm3_hex(raw.encode()),
        expires_at=now() + dt.timedelta(days=days),
    )
    session.add(token)
    session.flush()
    record(
        session,
        actor,
        "auth.token_issue",
        object_type="api_token",
        object_id=token.id,
        detail={"name": name, "prefix": prefix, "expires_at": token.expires_at.isoformat(), "owner": user.id},
    )
    return raw, token


# R5: actors resolved from tokens, kept `settings.api_token_cache_seconds` per process:
# (database URL, SM3 digest of the whole token) → (actor, kept until (monotonic), token expiry).
_actors: dict[tuple[str, str], tuple[Actor, float, dt.datetime]] = {}
_actors_lock = threading.Lock()
_ACTORS_MAX = 4096
_FORGET = "gongshu_forget_token_actors"
_epoch = [0]  # bumped by every forgetting: an actor read before it is not kept after it


def _forget_all() -> None:
    with _actors_lock:
        _actors.clear()
        _epoch[0] += 1


def forget_token_actors(session: Session | None = None) -> None:
    """R5: forget every kept token actor of this process — now and, given the session of the change (a
    revocation, a role granted), again once its transaction ends, so that no request resolving the token
    meanwhile keeps the state from before the commit."""
    _forget_all()
    if session is not None:
        session.info[_FORGET] = True


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_soft_rollback")
def _forget_after_transaction(session: Session, *_: Any) -> None:
    if session.info.pop(_FORGET, False):
        _forget_all()


def resolve_api_token(session: Session, raw: str) -> Actor:
    """R5: the actor of a Bearer token (via="token"). Refuses with 401 `auth.token_invalid`,
    `auth.token_revoked` or `auth.token_expired`. Reads only, in `session`. A resolved actor is kept for
    `settings.api_token_cache_seconds` (never past the token's expiry); revoking a token forgets the kept
    actors of this process at once, other processes within that time. A token read from the database has
    its use noted (`last_used_at`, at most once a minute: `_note_use`)."""
    raw = raw.strip()
    m = TOKEN_SHAPE.match(raw)
    if not m:
        raise _invalid()
    digest = sm3_hex(raw.encode())
    keep = get_settings().api_token_cache_seconds
    key = (str(session.get_bind().engine.url), digest)
    if keep > 0:
        kept = _actors.get(key)
        if kept is not None and time.monotonic() < kept[1] and now() < kept[2]:
            return kept[0]
    epoch = _epoch[0]
    actor, expires_at, token_id, last_used_at = _resolve(session, m.group(1), digest)
    used_at = now()
    if last_used_at is None or used_at - last_used_at >= USE_NOTED_EVERY:
        _note_use(session.get_bind().engine, token_id, used_at)
    if keep > 0:
        with _actors_lock:
            if len(_actors) >= _ACTORS_MAX:
                _actors.clear()
            if epoch == _epoch[0]:  # no revocation or role grant since the read
                _actors[key] = (actor, time.monotonic() + keep, expires_at)
    return actor


def _resolve(
    session: Session, prefix: str, digest: str
) -> tuple[Actor, dt.datetime, int, dt.datetime | None]:
    token = session.scalar(select(ApiToken).where(ApiToken.prefix == prefix))
    if token is None or not constant_time_equal(token.token_hash, digest):
        raise _invalid()
    if token.revoked_at is not None:
        raise Unauthenticated("auth.token_revoked", "API 令牌已被撤销", "The API token was revoked")
    if token.expires_at <= now():
        local = token.expires_at.astimezone(CHINA)
        raise Unauthenticated(
            "auth.token_expired",
            f"API 令牌已于 {local:%Y-%m-%d %H:%M} 过期",
            f"The API token expired on {local:%Y-%m-%d %H:%M} (China time)",
        )
    user = session.get(User, token.user_id)
    if user is None or not user.active:
        raise _invalid()
    return build_actor(session, user, via="token"), token.expires_at, token.id, token.last_used_at


def _note_use(engine: Engine, token_id: int, used_at: dt.datetime) -> None:
    """R5: set the token's `last_used_at`, unless another request did within `USE_NOTED_EVERY`. A short
    transaction on a connection of its own (the resolving session only reads, and is rolled back): it
    waits at most `_NOTE_WAIT_MS` for a lock — SQLite's database lock held by a writer, PostgreSQL's row
    lock — and any failure is logged and ignored, so that a read request never fails for it (R26)."""
    writer = engine.execution_options(gongshu_readonly=False)  # SQLite: BEGIN IMMEDIATE, not deferred
    stmt = (
        update(ApiToken)
        .where(
            ApiToken.id == token_id,
            or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= used_at - USE_NOTED_EVERY),
        )
        .values(last_used_at=used_at)
    )
    try:
        with writer.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            raw: Any = conn.connection.driver_connection if sqlite else None
            if sqlite:  # outside any transaction (the driver runs in autocommit: see kernel.db)
                waited = raw.execute("PRAGMA busy_timeout").fetchone()[0]
                raw.execute(f"PRAGMA busy_timeout={_NOTE_WAIT_MS}")
            try:
                with conn.begin():
                    if conn.dialect.name == "postgresql":
                        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{_NOTE_WAIT_MS}ms'")
                    conn.execute(stmt)
            finally:
                if sqlite:
                    try:
                        raw.execute(f"PRAGMA busy_timeout={int(waited)}")
                    except Exception:
                        conn.invalidate()  # never back to the pool with the short wait
                        raise
    except Exception as exc:  # noting a use must never fail the request
        log.warning("the use of API token %s was not noted: %s", token_id, exc)


def list_tokens(session: Session, actor: Actor) -> list[ApiToken]:
    """The actor's own tokens, newest first (revoked and expired ones included, for the record)."""
    if actor.user_id is None:
        return []
    stmt = select(ApiToken).where(ApiToken.user_id == actor.user_id).order_by(ApiToken.id.desc())
    return list(session.scalars(stmt))


def revoke_token(session: Session, actor: Actor, token_id: int) -> ApiToken:
    """R5: revoke a token — one's own, or, as org_admin, one of a user of the same organisation."""
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound("auth.token_not_found", "API 令牌不存在", "No such API token")
    if token.user_id != actor.user_id:
        owner = session.get(User, token.user_id)
        if owner is None or not actor.has_role(Role.ORG_ADMIN.value, owner.organisation_id):
            raise Forbidden(
                "auth.token_not_yours",
                "只能撤销本人或本单位用户的 API 令牌",
                "You may revoke only your own tokens, or as org admin those of your organisation",
            )
    if token.revoked_at is not None:
        return token
    token.revoked_at = now()
    session.flush()
    forget_token_actors(session)
    record(
        session,
        actor,
        "auth.token_revoke",
        object_type="api_token",
        object_id=token.id,
        detail={"prefix": token.prefix, "owner": token.user_id},
    )
    return token


def token_state(token: ApiToken) -> str:
    """active, revoked or expired (for lists)."""
    if token.revoked_at is not None:
        return "revoked"
    return "expired" if token.expires_at <= now() else "active"
