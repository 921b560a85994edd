"""Server-rendered pages: one Jinja environment over the web shell's and every domain's templates."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from gongshu.kernel.access.policy import Action, held_anywhere
from gongshu.kernel.identity.models import OrgKind
from gongshu.kernel.timeutil import CHINA, as_utc
from gongshu.web import i18n

PACKAGE = Path(__file__).resolve().parent.parent


def _template_dirs() -> list[str]:
    dirs = [str(PACKAGE / "web" / "templates")]
    for path in sorted(PACKAGE.glob("*/templates")) + sorted(PACKAGE.glob("kernel/*/templates")):
        if path.parent.name != "web":
            dirs.append(str(path))
    return dirs


env = Environment(loader=FileSystemLoader(_template_dirs()), autoescape=select_autoescape(["html"]))


def china(value: dt.datetime | dt.date | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """The `china` filter: an instant as pages show it, in China time (a naive instant, as SQLite gives
    it back, is UTC); a calendar day as it is. Empty for None."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return as_utc(value).astimezone(CHINA).strftime(fmt)
    return value.strftime(fmt if "%H" not in fmt else "%Y-%m-%d")


env.filters["china"] = china


def error_detail(lang: str, error: object) -> Markup:
    """R28: a refusal's stable code as pages show it — a small, muted "错误代码" line of its own under the
    message, for support staff; never glued to the sentence. `error` is a `GongshuError` or a code; empty
    when there is none. Templates: `{{ error_detail(error) }}` after the message."""
    code = getattr(error, "code", error)
    if not code or not isinstance(code, str):
        return Markup("")
    label = i18n.gettext(lang, "Error code") + ("：" if lang == "zh" else ": ")
    return Markup(
        '<span class="error-code" data-testid="error-code-detail">{}<code data-testid="error-code">{}</code></span>'
    ).format(escape(label), escape(code))


def lang_of(request: Request) -> str:
    return str(getattr(request.state, "lang", i18n.DEFAULT_LANGUAGE))


def _may(actor: Any, action: str) -> bool:
    """What the menu offers: whether the actor's roles give the action over some organisation (R5)."""
    if actor is None or getattr(actor, "is_anonymous", True):
        return False
    return held_anywhere(actor.role_names(), actor.org_kind, Action(action))


def sees_policy_lapse(actor: Any) -> bool:
    """R30 R5: the banner saying the regulation in force has expired (its rules carried on until a successor
    policy is loaded) is for those who answer for it: the authority's staff and the administrators who load
    policies — not the public, anonymous visitors or the departments' staff, who cannot act on it."""
    if actor is None or getattr(actor, "is_anonymous", True):
        return False
    return actor.org_kind == OrgKind.AUTHORITY or _may(actor, Action.POLICY_LOAD)


def context(request: Request, **extra: Any) -> dict[str, Any]:
    lang = lang_of(request)
    actor = getattr(request.state, "actor", None)
    web_session = getattr(request.state, "web_session", None)

    def _(msgid: str, **params: object) -> str:
        return i18n.gettext(lang, msgid, **params)

    base = {
        "request": request,
        "lang": lang,
        "_": _,
        "actor": actor,
        # Logged in: the session's token; before login: the double-submit cookie's value.
        "csrf_token": web_session.csrf_token
        if web_session is not None
        else (getattr(request.state, "csrf_cookie", None) or ""),
        "unread_notifications": getattr(request.state, "unread_notifications", 0),
        "policy_lapsed": getattr(request.state, "policy_lapsed", None) if sees_policy_lapse(actor) else None,
        "error_detail": lambda error: error_detail(lang, error),
        "may": lambda action: _may(actor, action),
    }
    base.update(extra)
    return base


def render(request: Request, template: str, status_code: int = 200, **extra: Any) -> HTMLResponse:
    html = env.get_template(template).render(context(request, **extra))
    return HTMLResponse(html, status_code=status_code)
