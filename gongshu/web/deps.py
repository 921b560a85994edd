"""Request dependencies: the actor (from the session cookie or an API token), login and CSRF checks.

Handlers open their own unit of work with `session_scope()` and call services inside it.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Path, Request

from gongshu.kernel.errors import Forbidden, Unauthenticated
from gongshu.kernel.identity.actor import ANONYMOUS, Actor

MAX_ID = 2**31 - 1
"""The largest row id (PostgreSQL's `integer`): a larger id in a request can name nothing."""
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
"""A path parameter naming a row by its id: 1 to `MAX_ID` (a bigger number is a 422, never a database
overflow)."""
SeqPath = Annotated[int, Path(ge=1, le=2**63 - 1)]
"""A path parameter naming an audit entry by its seq (a `bigint`: it outgrows `MAX_ID`)."""

SESSION_COOKIE = "gs_session"
CSRF_COOKIE = "gs_csrf"  # double-submit token for forms shown before login
LANG_COOKIE = "gs_lang"


def current_actor(request: Request) -> Actor:
    """The actor resolved by the identity middleware (anonymous when nobody is logged in)."""
    actor = getattr(request.state, "actor", None)
    return actor if isinstance(actor, Actor) else ANONYMOUS


def require_actor(request: Request) -> Actor:
    actor = current_actor(request)
    if actor.is_anonymous:
        raise Unauthenticated("auth.login_required", "请先登录", "Please log in first")
    return actor


def require_role(*roles: str):  # type: ignore[no-untyped-def]
    """Dependency factory: the actor must hold one of `roles` (in any organisation)."""

    def dep(request: Request) -> Actor:
        actor = require_actor(request)
        if not actor.role_names() & set(roles):
            raise Forbidden(
                "auth.role_required", "当前账号没有执行此操作的角色", "Your account lacks the role for this"
            )
        return actor

    return dep


async def csrf_protect(request: Request) -> None:
    """Unsafe page requests must carry the session's CSRF token (form field `csrf_token` or header
    `X-CSRF-Token`); before login, the double-submit cookie must match the form field."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if getattr(request.state, "via_token", False):
        return  # API tokens are not ambient credentials: no CSRF exposure
    sent = request.headers.get("x-csrf-token")
    if sent is None:
        form = await request.form()
        value = form.get("csrf_token")
        sent = value if isinstance(value, str) else None
    web_session = getattr(request.state, "web_session", None)
    expected = web_session.csrf_token if web_session is not None else request.cookies.get(CSRF_COOKIE)
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        raise csrf_failed()


def csrf_failed() -> Forbidden:
    return Forbidden(
        "auth.csrf_failed",
        "页面已过期或来源不可信，请刷新后重试",
        "Missing or wrong CSRF token; reload the page",
    )
