"""R5: API tokens — machine credentials of a user, shaped `gs_<prefix>_<secret>`. The prefix finds the
row; only the SM3 digest of the whole token is stored, so the token is shown once, when issued."""

from __future__ import annotations

import datetime as dt
import re
import secrets

from sqlalchemy import select
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


def resolve_api_token(session: Session, raw: str) -> Actor:
    """R5: the actor of a Bearer token (via="token"). Refuses with 401 `auth.token_invalid`,
    `auth.token_revoked` or `auth.token_expired`. Reads only."""
    m = TOKEN_SHAPE.match(raw.strip())
    if not m:
        raise _invalid()
    token = session.scalar(select(ApiToken).where(ApiToken.prefix == m.group(1)))
    if token is None or not constant_time_equal(token.token_hash, sm3_hex(raw.strip().encode())):
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
    return build_actor(session, user, via="token")


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
