"""R5: the account pages — my account (profile, roles per organisation, the public service organisations
my department acts for) and my API tokens (create, shown once; revoke)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from gongshu.kernel.config import get_settings
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import GongshuError, ValidationFailed
from gongshu.kernel.identity import service, tokens, totp
from gongshu.kernel.identity.actor import Actor
from gongshu.web.deps import csrf_protect, require_actor
from gongshu.web.pages.auth import auth_page, form_errors, see_other
from gongshu.web.render import lang_of

router = APIRouter(include_in_schema=False)
LoggedIn = Annotated[Actor, Depends(require_actor)]
Csrf = Depends(csrf_protect)


def masked_id_number(value: str | None) -> str:
    """R5 R10 R22: a resident ID number as the account page shows it — the first four and the last four
    characters, the rest (birth date and sequence) as asterisks: 3502**********1216. Personal information
    is not shown in full on a page, not even to its holder."""
    if not value:
        return ""
    keep = 4 if len(value) >= 12 else max(1, len(value) // 4)
    return value[:keep] + "*" * (len(value) - 2 * keep) + value[-keep:]


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request, actor: LoggedIn) -> Response:
    """R5: who I am on the platform — for a person their name and masked ID number, for a company its
    USCC, for staff their organisation and its kind, in words (never internal codes); my roles."""
    with read_scope() as s:
        user = service.get_user(s, actor.user_id or 0)
        roles = service.role_assignments(s, user.id)
        managed = service.organisations_by_ids(s, actor.managed_org_ids)
        mandatory = totp.enrolment_required(s, user)
        s.expunge_all()  # read by the template after the unit of work ends
    notice = "registered" if request.query_params.get("registered") else request.query_params.get("totp")
    return auth_page(
        request,
        "auth/account.html",
        user=user,
        org=user.organisation,
        roles=roles,
        managed=managed,
        mandatory=mandatory,
        notice=notice,
        id_masked=masked_id_number(user.organisation.id_number),
    )


def _tokens_page(request: Request, actor: Actor, status: int = 200, **ctx: Any) -> HTMLResponse:
    with read_scope() as s:
        rows = [(t, tokens.token_state(t)) for t in tokens.list_tokens(s, actor)]
        s.expunge_all()
    ctx.setdefault("errors", {})
    return auth_page(
        request,
        "auth/tokens.html",
        status,
        tokens=rows,
        default_days=get_settings().api_token_default_days,
        max_days=tokens.MAX_DAYS,
        **ctx,
    )


@router.get("/account/tokens", response_class=HTMLResponse)
def tokens_page(request: Request, actor: LoggedIn) -> Response:
    return _tokens_page(request, actor)


@router.post("/account/tokens", dependencies=[Csrf])
def tokens_submit(
    request: Request,
    actor: LoggedIn,
    action: Annotated[str, Form()] = "create",
    name: Annotated[str, Form()] = "",
    days: Annotated[str, Form()] = "",
    token_id: Annotated[str, Form()] = "",
) -> Response:
    """R5: create a token (its value is shown on this response only) or revoke one."""
    lang = lang_of(request)
    try:
        with session_scope() as s:
            if action == "revoke":
                tokens.revoke_token(s, actor, _int(token_id, "token_id"))
                issued = None
            else:
                issued = tokens.issue_token(
                    s, actor, name=name, days=_int(days, "days") if days.strip() else None
                )
    except GongshuError as exc:
        return _tokens_page(
            request,
            actor,
            exc.status_code,
            errors=form_errors(exc, lang),
            error_code=exc.code,
            name=name,
            days=days,
        )
    if issued is None:
        return see_other("/account/tokens")
    raw, token = issued
    return _tokens_page(request, actor, new_token=raw, new_token_name=token.name)


def _int(value: str, field: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise ValidationFailed(
            "request.not_a_number", "请填写整数", "Give a whole number", field=field
        ) from None
