"""The app factory: pages and API of every domain, the identity middleware, errors in two languages."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gongshu import __version__
from gongshu.kernel.config import get_settings
from gongshu.kernel.errors import GongshuError, Unauthenticated
from gongshu.web import i18n
from gongshu.web.deps import CSRF_COOKIE, LANG_COOKIE, SESSION_COOKIE
from gongshu.web.render import render

STATIC = Path(__file__).resolve().parent / "static"


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _cookie_header(key: str, value: str, **options: Any) -> tuple[bytes, bytes]:
    """The raw `set-cookie` header that `Response.set_cookie` would add."""
    holder = Response()
    holder.set_cookie(key, value, **options)
    return next((k, v) for k, v in holder.raw_headers if k == b"set-cookie")


class IdentityMiddleware:
    """Resolve the language and the actor once per request (session cookie or Bearer API token). A pure
    ASGI middleware: the response streams through untouched, with the language and double-submit cookies
    added to its headers when this request sets them (no task or stream per request, as the `http`
    decorator's middleware makes: the row API pays for every layer on every call, R19)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from gongshu.kernel.db import read_scope
        from gongshu.kernel.identity import sessions, tokens

        request = Request(scope, receive)
        path = request.url.path
        wanted = request.query_params.get("lang")
        request.state.lang = i18n.normalise(wanted or request.cookies.get(LANG_COOKIE))
        request.state.via_token = False
        if not path.startswith("/static/") and path not in ("/healthz", "/metrics"):
            auth = request.headers.get("authorization", "")
            raw_cookie = request.cookies.get(SESSION_COOKIE)
            try:
                with read_scope() as session:
                    if auth.lower().startswith("bearer "):
                        request.state.actor = tokens.resolve_api_token(session, auth[7:].strip())
                        request.state.via_token = True
                    elif raw_cookie:
                        resolved = sessions.resolve_session(session, raw_cookie)
                        if resolved is not None:
                            request.state.actor, request.state.web_session = resolved
                            request.state.unread_notifications = sessions.unread_count(
                                session, request.state.actor
                            )
            except GongshuError as exc:
                await _error_response(request, exc)(scope, receive, send)
                return
        # The double-submit token of forms shown before login: the one the browser holds, else a fresh one
        # that this response sets (pages put `request.state.csrf_cookie` into their forms' csrf_token field).
        fresh_csrf = None if CSRF_COOKIE in request.cookies or _is_api(request) else secrets.token_urlsafe(24)
        request.state.csrf_cookie = request.cookies.get(CSRF_COOKIE) or fresh_csrf
        cookies: list[tuple[bytes, bytes]] = []
        if wanted:
            cookies.append(
                _cookie_header(LANG_COOKIE, request.state.lang, max_age=365 * 86400, samesite="lax")
            )
        if fresh_csrf:
            secure = get_settings().secure_cookies
            cookies.append(
                _cookie_header(CSRF_COOKIE, fresh_csrf, samesite="strict", httponly=False, secure=secure)
            )
        if not cookies:
            await self.app(scope, receive, send)
            return

        async def send_with_cookies(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *cookies]}
            await send(message)

        await self.app(scope, receive, send_with_cookies)


def _error_response(request: Request, exc: GongshuError) -> Response:
    lang = getattr(request.state, "lang", i18n.DEFAULT_LANGUAGE)
    if _is_api(request) or request.headers.get("authorization"):
        return JSONResponse({"error": exc.to_dict(lang)}, status_code=exc.status_code)
    if isinstance(exc, Unauthenticated):
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    return render(request, "error.html", status_code=exc.status_code, error=exc, message=exc.message(lang))


def create_app() -> FastAPI:
    settings = get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        scheduler = None
        if settings.background == "embedded":
            from gongshu.kernel.jobs.runner import EmbeddedScheduler

            scheduler = EmbeddedScheduler()
            scheduler.start()
        yield
        if scheduler is not None:
            scheduler.stop()

    app = FastAPI(
        title="gongshu 公数 API",
        version=__version__,
        description="公共数据资源平台 API — the public data resource platform",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.add_middleware(IdentityMiddleware)
    from gongshu.web.metrics import MetricsMiddleware
    from gongshu.web.pages.shell import PolicyBannerMiddleware

    app.add_middleware(PolicyBannerMiddleware)  # R30: pages warn while a lapsed policy is carried on
    app.add_middleware(MetricsMiddleware)  # outermost: /metrics counts and times every request

    @app.exception_handler(GongshuError)
    async def _gongshu_error(request: Request, exc: GongshuError) -> Response:
        from gongshu.kernel.access.service import AccessDenied, record_denial

        if isinstance(exc, AccessDenied):
            from gongshu.kernel.db import session_scope

            with session_scope() as session:  # every refused attempt is in the audit log
                record_denial(session, exc)
        return _error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {"loc": [], "msg": "invalid"}
        field = ".".join(str(p) for p in first.get("loc", []) if p not in ("body", "query", "path", "form"))
        err = GongshuError(
            "request.invalid",
            f"请求参数 {field} 有误：{first.get('msg')}",
            f"Request field {field} is invalid: {first.get('msg')}",
            field=field or None,
            status_code=422,
        )
        return _error_response(request, err)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in _routers():
        app.include_router(router)
    return app


def _routers() -> list:  # type: ignore[type-arg]
    """Every domain's API router and page router, in one place."""
    from gongshu.web import registry

    return registry.routers()
