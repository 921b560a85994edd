"""The app factory: pages and API of every domain, the identity middleware, errors in two languages."""

from __future__ import annotations

import inspect
import logging
import re
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from http import HTTPStatus
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gongshu import __version__
from gongshu.kernel.config import get_settings
from gongshu.kernel.errors import GongshuError, Unauthenticated
from gongshu.web import i18n
from gongshu.web.deps import CSRF_COOKIE, LANG_COOKIE, SESSION_COOKIE, csrf_failed
from gongshu.web.render import render

STATIC = Path(__file__).resolve().parent / "static"
log = logging.getLogger("gongshu.web")


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
        if _is_api(request):
            if _has_nul(scope):
                await _error_response(request, _nul_refusal())(scope, receive, send)
                return
            kind = _body_kind(scope)
            if kind is not None:
                receive = _refusing_nul(receive, kind)
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


ROWS_PATH = re.compile(r"^/api/v1/data/([^/]+)/rows$")
_ROWS_ROUTE = SimpleNamespace(path_format="/api/v1/data/{code}/rows")  # its label in /metrics


class RowApiFastPath:
    """R19 R26: the row API's calls with an API token — department systems paging through granted data,
    the platform's busiest path — answered without the routing and dependency layers, which cost more
    than the decision and the query themselves. The same steps as the routed endpoint, in the same order:
    the token resolved to its actor, the NUL check (refusals in the API's error shape), then
    `delivery_api.answer_rows` (access decision point, safe query, audit entry committed before delivery,
    sealed receipt); a refusal of the decision point is recorded in the audit log as on every path.
    Every other request (other paths and methods, browser sessions, anonymous callers) goes on untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = None
        if scope["type"] == "http" and scope["method"] == "GET":
            match = ROWS_PATH.match(scope["path"])
        auth = b""
        if match is not None:
            auth = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
        if auth[:7].lower() != b"bearer ":
            await self.app(scope, receive, send)
            return
        from gongshu.kernel.db import read_scope
        from gongshu.kernel.identity import tokens
        from gongshu.sharing.delivery_api import answer_rows

        assert match is not None
        scope["route"] = _ROWS_ROUTE
        response: Response
        try:
            with read_scope() as session:  # credentials first, as on every path (default deny)
                actor = tokens.resolve_api_token(session, auth[7:].decode("latin-1").strip())
            if _has_nul(scope):
                raise _nul_refusal()
            pairs = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
            path = scope.get("root_path", "") + scope["path"]
            response = await answer_rows(actor, match.group(1), path, pairs)
        except GongshuError as exc:
            request = Request(scope, receive)
            request.state.lang = i18n.normalise(
                request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
            )
            response = await handle_gongshu_error(request, exc)
        await response(scope, receive, send)


def internal_error(reference: str) -> GongshuError:
    """R27 R28: the answer to an unexpected failure — a stable code and a short incident reference that
    the operator finds in the log (with the traceback); never the exception's own text."""
    return GongshuError(
        "internal_error",
        f"平台内部出错，请求未能完成。请稍后重试；如需联系运维单位，请提供事件编号 {reference}。",
        "Something went wrong inside the platform and the request could not be completed. Try again "
        f"later; if you contact the operator, quote the incident reference {reference}.",
        status_code=500,
        details={"reference": reference},
    )


def _internal_error_response(request: Request, reference: str) -> Response:
    """R28: the styled error page in the page's language for a person at a browser; the API's error shape
    (JSON) for the API, an API token and clients that ask for JSON."""
    refusal = internal_error(reference)
    lang = getattr(request.state, "lang", i18n.DEFAULT_LANGUAGE)
    if _is_page(request):
        try:
            return _error_response(request, refusal)
        except Exception:  # the page itself cannot be drawn (its layout needs what failed): plain words
            log.exception("incident %s: the error page could not be rendered", reference)
            text = f"<!doctype html><title>500</title><p>{refusal.message_zh}</p><p>{refusal.message_en}</p>"
            return Response(text, status_code=500, media_type="text/html; charset=utf-8")
    return JSONResponse({"error": refusal.to_dict(lang)}, status_code=500)


class InternalErrorMiddleware:
    """R27 R28: the catch-all for an unexpected exception — logged with its traceback under a short
    incident reference, answered with the styled error page or the API's JSON error (code
    `internal_error`, the reference, never the exception's text). The outermost layer (a pure ASGI
    middleware, not an `exception_handler(Exception)`: Starlette re-raises after such a handler, and the
    server then closes the keep-alive connection). An exception after the answer has begun cannot be
    replaced: it goes on to the server, which ends that connection."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception as exc:
            reference = secrets.token_hex(4).upper()
            log.error(
                "incident %s: %s %s failed", reference, scope.get("method"), scope.get("path"), exc_info=exc
            )
            if started:
                raise
            response = _internal_error_response(Request(scope, receive), reference)
            await response(scope, receive, send)


_NUL_ESCAPE = b"\\u0000"


def _nul_refusal() -> GongshuError:
    return GongshuError(
        "request.nul_character",
        "请求中含有空字符（U+0000），无法处理",
        "The request contains a NUL character (U+0000)",
        status_code=422,
    )


class NulInBody(StarletteHTTPException):
    """A JSON body carrying a NUL character (raised while the body is read; answered 422)."""

    def __init__(self) -> None:
        super().__init__(status_code=422, detail="NUL character in the JSON body")


def _has_nul(scope: Scope) -> bool:
    """A NUL character in the API request's path or query string: it can name nothing, and PostgreSQL
    cannot store or compare it."""
    query = bytes(scope.get("query_string", b"")).lower()
    return "\x00" in scope.get("path", "") or b"%00" in query or b"\x00" in query


def _body_kind(scope: Scope) -> str | None:
    """How an API request's body is scanned for NUL characters: as JSON (also NDJSON), as an urlencoded
    form, or not at all (None: files and multipart bodies carry NUL bytes of their own)."""
    for key, value in scope.get("headers", ()):
        if key == b"content-type":
            media = value.split(b";")[0].strip().lower()
            if media.endswith(b"json"):
                return "json"
            return "form" if media == b"application/x-www-form-urlencoded" else None
    return None


def _refusing_nul(receive: Receive, kind: str) -> Receive:
    """`receive` for a JSON or urlencoded body, raising `NulInBody` on a NUL: a raw one, a JSON escape
    (`\\u0000`, not itself escaped) or, in a form, `%00` — as the body streams by (nothing is buffered)."""
    tail = b""

    async def wrapped() -> Message:
        nonlocal tail
        message = await receive()
        chunk = message.get("body", b"") if message["type"] == "http.request" else b""
        if chunk:
            text = tail + chunk
            at = text.find(_NUL_ESCAPE)
            while at >= 0:
                slashes = len(text[:at]) - len(text[:at].rstrip(b"\\"))
                if slashes % 2 == 0:
                    raise NulInBody()
                at = text.find(_NUL_ESCAPE, at + 1)
            if b"\x00" in text or (kind == "form" and b"%00" in text.lower()):
                raise NulInBody()
            tail = text[-64:]
        return message

    return wrapped


def _error_response(request: Request, exc: GongshuError) -> Response:
    lang = getattr(request.state, "lang", i18n.DEFAULT_LANGUAGE)
    if _is_api(request) or request.headers.get("authorization"):
        return JSONResponse({"error": exc.to_dict(lang)}, status_code=exc.status_code)
    if isinstance(exc, Unauthenticated):
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    return render(request, "error.html", status_code=exc.status_code, error=exc, message=exc.message(lang))


HTTP_CODES: dict[int, tuple[str, str, str]] = {
    400: ("request.malformed", "请求无法解析", "The request could not be parsed"),
    404: ("request.not_found", "没有这个接口地址", "No such API path"),
    405: (
        "request.method_not_allowed",
        "该接口地址不支持此请求方法",
        "This API path does not allow the method",
    ),
    413: ("request.too_large", "请求体过大", "The request body is too large"),
    415: ("request.unsupported_media_type", "不支持的请求体类型", "Unsupported request body type"),
}
PAGE_HTTP_CODES: dict[int, tuple[str, str, str]] = {
    404: (
        "request.not_found",
        "没有找到这个页面：网址可能有误，或页面已经移走。",
        "There is no such page: the address may be wrong, or the page has moved.",
    ),
    405: (
        "request.method_not_allowed",
        "这个网址不能直接打开，请使用页面上的按钮或表单办理。",
        "This address cannot be opened directly; use the button or form on the page.",
    ),
}
"""R28: the same stable codes on pages, with messages for people at a browser rather than programs."""

_PAGELESS = ("/static/", "/healthz", "/metrics", "/openapi.json")


def _is_page(request: Request) -> bool:
    """R28: a request a person makes with a browser — not the API (path or API token), not a static file
    or a probe, and not a client that asks for JSON only: its refusals are answered with the error page
    in the page's language (a Chinese page first, the English switch on it), never raw JSON."""
    if _is_api(request) or request.headers.get("authorization"):
        return False
    if request.url.path.startswith(_PAGELESS):
        return False
    accept = request.headers.get("accept", "").lower()
    return "text/html" in accept or "json" not in accept


def _http_refusal(exc: StarletteHTTPException, *, page: bool = False) -> GongshuError:
    code, zh, en = (PAGE_HTTP_CODES if page else {}).get(exc.status_code) or HTTP_CODES.get(
        exc.status_code, (f"request.http_{exc.status_code}", "请求被拒绝", "The request was refused")
    )
    detail = exc.detail if isinstance(exc.detail, str) else None
    if detail and detail != HTTPStatus(exc.status_code).phrase and not page:
        en = f"{en}: {detail}"
    return GongshuError(
        code, zh, en, status_code=exc.status_code, details={"detail": detail} if detail else None
    )


def _shown(value: object) -> str:
    """A rejected value as a message may quote it: short text only (a long one is cut, with "…")."""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        return ""
    text = str(value)
    return text if len(text) <= 40 else text[:40] + "…"


def _alternatives(expected: object, zh: bool) -> str:
    text = str(expected or "")
    return text.replace(" or ", "、").replace(", ", "、") if zh else text


# pydantic's error types (https://docs.pydantic.dev/latest/errors/validation_errors/) → what is wrong, as a
# Chinese and an English predicate of "the request field X …"; `{...}` are the error's context values.
_VALIDATION_WORDS: dict[str, tuple[str, str]] = {
    "missing": ("必须填写", "is required"),
    "int_parsing": ("应为整数", "must be a whole number"),
    "int_type": ("应为整数", "must be a whole number"),
    "int_from_float": ("应为整数，不能带小数", "must be a whole number, without decimals"),
    "float_parsing": ("应为数字", "must be a number"),
    "float_type": ("应为数字", "must be a number"),
    "decimal_parsing": ("应为数字", "must be a number"),
    "decimal_type": ("应为数字", "must be a number"),
    "finite_number": ("应为有限的数字", "must be a finite number"),
    "bool_parsing": ("应为是或否（true 或 false）", "must be yes or no (true or false)"),
    "bool_type": ("应为是或否（true 或 false）", "must be yes or no (true or false)"),
    "string_type": ("应为文字", "must be text"),
    "string_too_long": ("最多 {max_length} 个字符", "must be at most {max_length} characters long"),
    "string_too_short": ("至少需要 {min_length} 个字符", "must be at least {min_length} characters long"),
    "string_pattern_mismatch": ("格式不正确", "is not in the expected format"),
    "too_long": ("最多 {max_length} 项", "must have at most {max_length} items"),
    "too_short": ("至少需要 {min_length} 项", "must have at least {min_length} items"),
    "greater_than": ("应大于 {gt}", "must be greater than {gt}"),
    "greater_than_equal": ("应不小于 {ge}", "must be at least {ge}"),
    "less_than": ("应小于 {lt}", "must be less than {lt}"),
    "less_than_equal": ("应不大于 {le}", "must be at most {le}"),
    "multiple_of": ("应为 {multiple_of} 的倍数", "must be a multiple of {multiple_of}"),
    "enum": ("应为以下取值之一：{expected}", "must be one of: {expected}"),
    "literal_error": ("应为以下取值之一：{expected}", "must be one of: {expected}"),
    "date_parsing": ("应为日期，如 2024-06-04", "must be a date, such as 2024-06-04"),
    "date_type": ("应为日期，如 2024-06-04", "must be a date, such as 2024-06-04"),
    "date_from_datetime_parsing": ("应为日期，如 2024-06-04", "must be a date, such as 2024-06-04"),
    "date_from_datetime_inexact": ("应为日期，不带时刻", "must be a date, without a time"),
    "datetime_parsing": (
        "应为日期和时间，如 2024-06-04T10:00",
        "must be a date and time, such as 2024-06-04T10:00",
    ),
    "datetime_type": (
        "应为日期和时间，如 2024-06-04T10:00",
        "must be a date and time, such as 2024-06-04T10:00",
    ),
    "datetime_from_date_parsing": (
        "应为日期和时间，如 2024-06-04T10:00",
        "must be a date and time, such as 2024-06-04T10:00",
    ),
    "time_parsing": ("应为时刻，如 10:00", "must be a time of day, such as 10:00"),
    "uuid_parsing": ("应为 UUID", "must be a UUID"),
    "uuid_type": ("应为 UUID", "must be a UUID"),
    "list_type": ("应为列表", "must be a list"),
    "dict_type": ("应为对象", "must be an object"),
    "model_type": ("应为对象", "must be an object"),
    "model_attributes_type": ("应为对象", "must be an object"),
    "extra_forbidden": ("不是可接受的参数", "is not an accepted field"),
}
_FILE_WORDS = (
    "应为带文件名的上传文件（收到的部分没有文件名，请选择要上传的文件）",
    "must be an uploaded file with a file name (the part sent has none; choose the file to upload)",
)
_QUOTES_INPUT = {"int_parsing", "int_from_float", "float_parsing", "decimal_parsing", "bool_parsing"}
_QUOTES_INPUT |= {"enum", "literal_error", "date_parsing", "date_from_datetime_parsing", "datetime_parsing"}
_QUOTES_INPUT |= {"datetime_from_date_parsing", "time_parsing", "uuid_parsing", "string_pattern_mismatch"}


def _validation_message(error: Mapping[str, Any], field: str) -> tuple[str, str]:
    """R28: one validation error of FastAPI (pydantic) as a precise Chinese and English sentence, by its
    error type and context — never pydantic's English text on a Chinese page. Unknown types say the value
    is invalid (in English with pydantic's own words)."""
    kind = str(error.get("type", ""))
    ctx = error.get("ctx")
    ctx = ctx if isinstance(ctx, dict) else {}
    subject_zh = f"请求参数 {field} " if field else "请求"
    subject_en = f"Request field {field} " if field else "The request "
    words = _VALIDATION_WORDS.get(kind)
    if kind == "value_error" and "Expected UploadFile" in str(error.get("msg", "")):
        words = _FILE_WORDS  # a multipart part without a file name arrives as text, not as a file
    if words is None:
        return f"{subject_zh}的取值无效", f"{subject_en}is invalid: {error.get('msg', '')}"
    values = {key: str(value) for key, value in ctx.items()}
    zh_values = values | {"expected": _alternatives(ctx.get("expected"), zh=True)}
    try:
        zh, en = words[0].format(**zh_values), words[1].format(**values)
    except (KeyError, IndexError):  # a context without the value the words name
        zh, en = words[0].split("{")[0].rstrip("：:， "), words[1].split("{")[0].rstrip(": ,")
    shown = _shown(error.get("input")) if kind in _QUOTES_INPUT else ""
    if shown:
        zh, en = f"{zh}（收到的是“{shown}”）", f'{en} (got "{shown}")'
    return f"{subject_zh}{zh}", f"{subject_en}{en}"


def _request_invalid(exc: RequestValidationError) -> GongshuError:
    """A request FastAPI could not validate, as `request.invalid` naming the first field at fault (every
    error in `details.errors`, with pydantic's own words); the message says what is wrong in Chinese and
    in English (R28). A body that is not JSON at all says so, with the position."""
    errors = list(exc.errors())
    listed = [
        {
            "field": ".".join(str(p) for p in e.get("loc", []) if p not in ("body", "query", "path", "form")),
            "type": str(e.get("type", "")),
            "message": str(e.get("msg", "")),
        }
        for e in errors[:50]
    ]
    first = errors[0] if errors else {"loc": [], "msg": "invalid"}
    if first.get("type") == "json_invalid":
        loc = list(first.get("loc", []))
        pos = loc[-1] if loc else "?"
        ctx = first.get("ctx")
        reason = ctx.get("error", "") if isinstance(ctx, dict) else ""
        return GongshuError(
            "request.invalid",
            f"请求体不是有效的 JSON（第 {pos} 个字符处）：{reason}",
            f"The request body is not valid JSON (at character {pos}): {reason}",
            field="body",
            status_code=422,
            details={"errors": listed},
        )
    field = listed[0]["field"] if listed else ""
    zh, en = _validation_message(first, field)
    return GongshuError(
        "request.invalid",
        zh,
        en,
        field=field or None,
        status_code=422,
        details={"errors": listed},
    )


async def _gate(request: Request) -> GongshuError | None:
    """Default deny before bad input: FastAPI reads and parses a request's body before it runs the route's
    dependencies, so a malformed body would be answered 422/400 ahead of the credential and CSRF checks.
    Runs those checks (the route's dependencies from `gongshu.web.deps`) first; returns their refusal."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return None
    pending = list(dependant.dependencies)
    while pending:
        dep = pending.pop(0)
        pending[:0] = dep.dependencies
        call = dep.call
        if getattr(call, "__module__", None) != "gongshu.web.deps":
            continue
        try:
            result = call(request)
            if inspect.isawaitable(result):
                await result
        except GongshuError as exc:
            return exc
        except Exception:  # an unreadable body (no form, or already consumed) carries no CSRF token
            return csrf_failed()
    return None


async def handle_gongshu_error(request: Request, exc: GongshuError) -> Response:
    """A refusal in the page's or the API's form; a refusal of the access decision point is first recorded
    in the audit log (R26: every refused attempt is)."""
    from gongshu.kernel.access.service import AccessDenied, record_denial

    if isinstance(exc, AccessDenied):
        import asyncio

        from gongshu.kernel.audit.writer import audit_writer

        # Through the audit writer, committed before the refusal is answered: the event loop waits
        # without blocking (no write lock taken on the loop), and the entry shares the writer's batch.
        denied = exc
        await asyncio.wrap_future(audit_writer().submit(lambda session: record_denial(session, denied)))
    return _error_response(request, exc)


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
    app.add_middleware(RowApiFastPath)  # R19: token calls of the row API skip the routing layers
    app.add_middleware(MetricsMiddleware)  # /metrics counts and times every request
    app.add_middleware(InternalErrorMiddleware)  # outermost: an unexpected exception is answered (R28)

    @app.exception_handler(GongshuError)
    async def _gongshu_error(request: Request, exc: GongshuError) -> Response:
        return await handle_gongshu_error(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        refused = await _gate(request)
        if refused is not None:
            return await _gongshu_error(request, refused)
        return _error_response(request, _request_invalid(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        """Starlette's own refusals (no such route, method not allowed, an unreadable body), after the
        route's credential checks: in the API, in the project's error shape with a stable code; on pages,
        the error page in the page's language with the same status (R28: never raw JSON in a browser)."""
        refused = await _gate(request)
        if refused is not None:
            return await _gongshu_error(request, refused)
        page = _is_page(request)
        refusal = _nul_refusal() if isinstance(exc, NulInBody) else _http_refusal(exc, page=page)
        if page:
            response = _error_response(request, refusal)
        else:
            lang = getattr(request.state, "lang", i18n.DEFAULT_LANGUAGE)
            response = JSONResponse({"error": refusal.to_dict(lang)}, status_code=refusal.status_code)
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in _routers():
        app.include_router(router)
    return app


def _routers() -> list:  # type: ignore[type-arg]
    """Every domain's API router and page router, in one place."""
    from gongshu.web import registry

    return registry.routers()
