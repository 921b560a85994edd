"""R5: the account pages — log in (password, then the one-time code where it applies), log out, enrol the
second factor, register as a person or a company, see one's account and roles, manage API tokens.

Handlers are thin: they open a unit of work and call the identity services; every POST is CSRF-checked.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gongshu.kernel.config import get_settings
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import GongshuError, ValidationFailed
from gongshu.kernel.identity import login, registration, service, sessions, totp
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import OrgKind, Role, User
from gongshu.kernel.timeutil import CHINA
from gongshu.web.deps import SESSION_COOKIE, csrf_protect, current_actor, require_actor
from gongshu.web.render import lang_of, render

router = APIRouter(include_in_schema=False)
LoggedIn = Annotated[Actor, Depends(require_actor)]
Csrf = Depends(csrf_protect)

ROLE_LABELS = {
    Role.CATALOG_OFFICER.value: "Catalog officer",
    Role.DATA_OFFICER.value: "Data officer",
    Role.REVIEWER.value: "Reviewer",
    Role.ORG_ADMIN.value: "Organisation administrator",
    Role.AUDITOR.value: "Auditor",
    Role.PRE_REVIEWER.value: "Pre-reviewer",
    Role.ADMIN.value: "Platform administrator",
    Role.COORDINATOR.value: "Coordinator",
    Role.DECISION_MAKER.value: "Decision maker",
    Role.PUBLIC.value: "Public user",
}
KIND_LABELS = {
    OrgKind.AUTHORITY.value: "Big-data authority",
    OrgKind.OPERATOR.value: "Operator (information center)",
    OrgKind.DEPARTMENT.value: "Government department",
    OrgKind.PUBLIC_SERVICE_ORG.value: "Public service organisation",
    OrgKind.MUNICIPAL_GOVERNMENT.value: "Municipal people's government",
    OrgKind.UPSTREAM.value: "National or provincial body",
    OrgKind.PERSON.value: "Natural person",
    OrgKind.LEGAL_ENTITY.value: "Legal person",
}


# --- helpers -------------------------------------------------------------------------------------


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _safe_next(value: str | None, default: str = "/") -> str:
    """Only a path on this site (no scheme, no host, no `//`), so a login cannot redirect elsewhere."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")) or "\n" in value:
        return default
    return value


def _form_csrf(request: Request) -> str:
    """The CSRF token a form must carry: the session's, or before login the double-submit cookie's."""
    web_session = getattr(request.state, "web_session", None)
    if web_session is not None:
        return str(web_session.csrf_token)
    return str(getattr(request.state, "csrf_cookie", None) or "")


def form_errors(exc: GongshuError, lang: str) -> dict[str, str]:
    """Field → message (`_form` for the form as a whole), from a refusal of the identity services."""
    listed = exc.details.get("errors")
    if isinstance(listed, dict):
        return {f: (e["zh"] if lang == "zh" else e["en"]) for f, e in listed.items()}
    return {exc.field or "_form": exc.message(lang)}


def blank_fields(**fields: tuple[str, str, str]) -> ValidationFailed | None:
    """R5: the fields of a form left empty, each with its own message (field → value, Chinese, English), as
    one refusal shown beside each field — "请填写用户名", not "用户名或密码不正确". None when all are filled.
    An empty form is no attempt to log in: nothing is checked, counted or recorded."""
    errors = {name: {"zh": zh, "en": en} for name, (value, zh, en) in fields.items() if not value.strip()}
    if not errors:
        return None
    name, first = next(iter(errors.items()))
    return ValidationFailed(
        "auth.field_required", first["zh"], first["en"], field=name, details={"errors": errors}
    )


def _when(value: dt.datetime | None) -> str:
    """An instant as China time, to the minute."""
    return value.astimezone(CHINA).strftime("%Y-%m-%d %H:%M") if value is not None else "—"


def auth_page(request: Request, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    return render(
        request,
        template,
        status_code=status,
        csrf_token=_form_csrf(request),
        role_labels=ROLE_LABELS,
        kind_labels=KIND_LABELS,
        when=_when,
        **ctx,
    )


def see_other(url: str, raw_session: str | None = None) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    if raw_session:
        settings = get_settings()
        response.set_cookie(
            SESSION_COOKIE,
            raw_session,
            max_age=settings.session_hours * 3600,
            httponly=True,
            samesite="lax",
            secure=settings.secure_cookies,
            path="/",
        )
    return response


def _pending_user_id(request: Request) -> int | None:
    with read_scope() as s:
        user = sessions.resolve_pending_2fa(s, request.cookies.get(SESSION_COOKIE))
        return user.id if user is not None else None


# --- log in and out ------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next_: Annotated[str, Query(alias="next")] = "/") -> Response:
    if not current_actor(request).is_anonymous:
        return see_other(_safe_next(next_))
    return auth_page(request, "auth/login.html", next=_safe_next(next_), username="", errors={})


@router.post("/login", dependencies=[Csrf])
def login_submit(
    request: Request,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next_: Annotated[str, Form(alias="next")] = "/",
) -> Response:
    """R5: password step; an account that needs a second factor continues at /login/2fa (or enrols)."""
    target = _safe_next(next_)
    try:
        blank = blank_fields(
            username=(username, "请填写用户名", "Enter your username"),
            password=(password, "请填写密码", "Enter your password"),
        )
        if blank is not None:
            raise blank
        with session_scope() as s:
            user = login.authenticate(s, username, password, _ip(request))
            needs = totp.second_factor_required(s, user)
            enrolled = user.totp_enabled
            sessions.end_session(s, request.cookies.get(SESSION_COOKIE))
            raw, _ = sessions.start_session(
                s,
                user,
                ip=_ip(request),
                user_agent=request.headers.get("user-agent"),
                second_factor_done=not needs,
            )
    except GongshuError as exc:
        return auth_page(
            request,
            "auth/login.html",
            exc.status_code,
            next=target,
            username=username,
            errors=form_errors(exc, lang_of(request)),
            error_code=exc.code,
        )
    if needs:
        step = "/login/2fa" if enrolled else "/account/2fa"
        return see_other(f"{step}?{urlencode({'next': target})}", raw)
    return see_other(target, raw)


@router.post("/logout", dependencies=[Csrf])
def logout(request: Request) -> Response:
    with session_scope() as s:
        sessions.end_session(s, request.cookies.get(SESSION_COOKIE), current_actor(request))
    response = see_other("/")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/login/2fa", response_class=HTMLResponse)
def second_factor_page(request: Request, next_: Annotated[str, Query(alias="next")] = "/") -> Response:
    with read_scope() as s:
        user = sessions.resolve_pending_2fa(s, request.cookies.get(SESSION_COOKIE))
        enrolled = user is not None and user.totp_enabled
    if user is None:
        return see_other("/login")
    if not enrolled:
        return see_other(f"/account/2fa?{urlencode({'next': _safe_next(next_)})}")
    return auth_page(request, "auth/login_2fa.html", next=_safe_next(next_), errors={})


@router.post("/login/2fa", dependencies=[Csrf])
def second_factor_submit(
    request: Request, code: Annotated[str, Form()] = "", next_: Annotated[str, Form(alias="next")] = "/"
) -> Response:
    """R5: the one-time code completes the login; a wrong code counts as a failed login."""
    user_id = _pending_user_id(request)
    if user_id is None:
        return see_other("/login")
    try:
        blank = blank_fields(code=(code, "请填写 6 位动态验证码", "Enter the 6-digit code"))
        if blank is not None:
            raise blank
        with session_scope() as s:
            login.verify_second_factor(s, user_id, code, _ip(request))
            raw, _ = sessions.complete_second_factor(s, request.cookies.get(SESSION_COOKIE) or "")
    except GongshuError as exc:
        return auth_page(
            request,
            "auth/login_2fa.html",
            exc.status_code,
            next=_safe_next(next_),
            errors=form_errors(exc, lang_of(request)),
            error_code=exc.code,
        )
    return see_other(_safe_next(next_), raw)


# --- second factor enrolment ---------------------------------------------------------------------


def _enrolment_context(
    request: Request, user: User, pending: bool, secret: str | None = None
) -> dict[str, Any]:
    with read_scope() as s:
        mandatory = totp.enrolment_required(s, user)
    ctx: dict[str, Any] = {"user": user, "pending": pending, "mandatory": mandatory, "enrolment": None}
    if not user.totp_enabled:
        enrolment = totp.new_enrolment(user, secret)
        ctx.update(enrolment=enrolment, qr_svg=enrolment.qr_svg())
    return ctx


def _enrolling_user(request: Request) -> tuple[User, bool] | None:
    """The user on the enrolment page: logged in, or half-way through a login (pending)."""
    actor = current_actor(request)
    with read_scope() as s:
        if not actor.is_anonymous and actor.user_id is not None:
            found: tuple[User, bool] | None = (service.get_user(s, actor.user_id), False)
        else:
            user = sessions.resolve_pending_2fa(s, request.cookies.get(SESSION_COOKIE))
            found = (user, True) if user is not None else None
        s.expunge_all()  # the user is read after the unit of work ends
        return found


@router.get("/account/2fa", response_class=HTMLResponse)
def enrolment_page(request: Request, next_: Annotated[str, Query(alias="next")] = "/account") -> Response:
    found = _enrolling_user(request)
    if found is None:
        return see_other("/login?next=/account/2fa")
    user, pending = found
    if pending and user.totp_enabled:
        return see_other(f"/login/2fa?{urlencode({'next': _safe_next(next_)})}")
    return auth_page(
        request,
        "auth/enrol_2fa.html",
        next=_safe_next(next_, "/account"),
        errors={},
        **_enrolment_context(request, user, pending),
    )


@router.post("/account/2fa", dependencies=[Csrf])
def enrolment_submit(
    request: Request,
    action: Annotated[str, Form()] = "enrol",
    secret: Annotated[str, Form()] = "",
    proof: Annotated[str, Form()] = "",
    code: Annotated[str, Form()] = "",
    next_: Annotated[str, Form(alias="next")] = "/account",
) -> Response:
    """R5: confirm a new second factor with a valid code (this also completes a pending login)."""
    found = _enrolling_user(request)
    if found is None:
        return see_other("/login?next=/account/2fa")
    user, pending = found
    target = _safe_next(next_, "/account")
    raw = None
    try:
        with session_scope() as s:
            fresh = service.get_user(s, user.id)
            actor = service.build_actor(s, fresh)
            if action == "disable" and not pending:
                totp.disable(s, actor, fresh, code=code)
            else:
                totp.confirm_enrolment(s, actor, fresh, secret=secret, proof=proof, code=code)
                if pending:
                    login.record_login_success(s, fresh, _ip(request), second_factor=True)
                    raw, _ = sessions.complete_second_factor(s, request.cookies.get(SESSION_COOKIE) or "")
    except GongshuError as exc:
        return auth_page(
            request,
            "auth/enrol_2fa.html",
            exc.status_code,
            next=target,
            errors=form_errors(exc, lang_of(request)),
            error_code=exc.code,
            **_enrolment_context(request, user, pending, secret if totp.SECRET_SHAPE.match(secret) else None),
        )
    return see_other(target if pending else "/account?totp=" + ("off" if action == "disable" else "on"), raw)


# --- self-registration ---------------------------------------------------------------------------


@router.get("/register", response_class=HTMLResponse)
def register_page(request: Request, kind: str = "person") -> Response:
    kind = "company" if kind == "company" else "person"
    return auth_page(request, "auth/register.html", kind=kind, form={}, errors={})


@router.post("/register", dependencies=[Csrf])
def register_submit(
    request: Request,
    kind: Annotated[str, Form()] = "person",
    username: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    id_number: Annotated[str, Form()] = "",
    uscc: Annotated[str, Form()] = "",
    contact_name: Annotated[str, Form()] = "",
    phone: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    password_confirm: Annotated[str, Form()] = "",
) -> Response:
    """R5: a person (resident ID number) or a company (USCC) opens a public account, then is logged in."""
    kind = "company" if kind == "company" else "person"
    ip = _ip(request)
    try:
        with session_scope() as s:
            if kind == "company":
                user = registration.register_company(
                    s,
                    username=username,
                    name=name,
                    uscc=uscc,
                    contact_name=contact_name,
                    phone=phone,
                    password=password,
                    password_confirm=password_confirm,
                    ip=ip,
                )
            else:
                user = registration.register_person(
                    s,
                    username=username,
                    name=name,
                    id_number=id_number,
                    phone=phone,
                    password=password,
                    password_confirm=password_confirm,
                    ip=ip,
                )
            raw, _ = sessions.start_session(
                s,
                user,
                ip=_ip(request),
                user_agent=request.headers.get("user-agent"),
                second_factor_done=True,
            )
    except GongshuError as exc:
        form = {
            "username": username,
            "name": name,
            "id_number": id_number,
            "uscc": uscc,
            "contact_name": contact_name,
            "phone": phone,
        }
        return auth_page(
            request,
            "auth/register.html",
            exc.status_code,
            kind=kind,
            form=form,
            errors=form_errors(exc, lang_of(request)),
            error_code=exc.code,
        )
    return see_other("/account?registered=1", raw)
