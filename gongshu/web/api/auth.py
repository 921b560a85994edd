"""R5: the identity API — issue, list and revoke API tokens; who am I."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.identity import login, service, tokens, totp
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import ApiToken
from gongshu.web.deps import IdPath, csrf_protect, require_actor

router = APIRouter(prefix="/api/v1", tags=["auth"])
LoggedIn = Annotated[Actor, Depends(require_actor)]


class TokenRequest(BaseModel):
    """Credentials (and the one-time code, for accounts with a second factor) for a new API token."""

    username: str = Field(max_length=200)
    password: str = Field(max_length=1000)
    totp_code: str | None = Field(default=None, max_length=20)
    name: str = Field(max_length=200)
    days: int | None = None


class TokenIssued(BaseModel):
    token: str = Field(description="The raw token: shown this once, never stored")
    id: int
    name: str
    expires_at: dt.datetime


class TokenInfo(BaseModel):
    id: int
    name: str
    prefix: str
    state: str
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None

    @classmethod
    def of(cls, t: ApiToken) -> TokenInfo:
        return cls(
            id=t.id,
            name=t.name,
            prefix=t.prefix,
            state=tokens.token_state(t),
            created_at=t.created_at,
            expires_at=t.expires_at,
            revoked_at=t.revoked_at,
            last_used_at=t.last_used_at,
        )


class OrgOut(BaseModel):
    id: int
    code: str
    name_zh: str
    name_en: str
    kind: str


class RoleOut(BaseModel):
    org_id: int
    org_code: str
    role: str


class MeOut(BaseModel):
    user_id: int
    username: str
    display_name: str
    language: str
    via: str
    totp_enabled: bool
    org: OrgOut
    roles: list[RoleOut]
    managed_org_ids: list[int]


def _org(o: object) -> OrgOut:
    return OrgOut.model_validate(o, from_attributes=True)


@router.post("/auth/tokens", status_code=201, response_model=TokenIssued)
def create_token(request: Request, body: TokenRequest, response: Response) -> TokenIssued:
    """R5: exchange a username and password (plus `totp_code` where a second factor is required) for an
    API token. Failures count towards the account lockout."""
    response.headers["Cache-Control"] = "no-store"
    ip = request.client.host if request.client else None
    with session_scope() as s:
        user = login.authenticate(s, body.username, body.password, ip)
        if totp.second_factor_required(s, user):
            login.verify_second_factor(s, user.id, body.totp_code or "", ip)
        raw, token = tokens.issue_token(s, user, name=body.name, days=body.days)
        return TokenIssued(token=raw, id=token.id, name=token.name, expires_at=token.expires_at)


@router.get("/auth/tokens", response_model=list[TokenInfo])
def list_tokens(actor: LoggedIn) -> list[TokenInfo]:
    """The caller's own API tokens (the raw values are never shown again)."""
    with read_scope() as s:
        return [TokenInfo.of(t) for t in tokens.list_tokens(s, actor)]


@router.delete("/auth/tokens/{token_id}", dependencies=[Depends(csrf_protect)], response_model=TokenInfo)
def revoke_token(token_id: IdPath, actor: LoggedIn) -> TokenInfo:
    """R5: revoke a token — one's own, or as org_admin one of a user of the same organisation."""
    with session_scope() as s:
        return TokenInfo.of(tokens.revoke_token(s, actor, token_id))


@router.get("/me", response_model=MeOut)
def me(actor: LoggedIn, response: Response) -> MeOut:
    """The caller: user, organisation, roles (per organisation) and the organisations acted for (R5)."""
    response.headers["Cache-Control"] = "no-store"
    with read_scope() as s:
        user = service.get_user(s, actor.user_id or 0)
        roles = service.role_assignments(s, user.id)
        return MeOut(
            user_id=user.id,
            username=user.username,
            display_name=user.display_name,
            language=user.language,
            via=actor.via,
            totp_enabled=user.totp_enabled,
            org=_org(user.organisation),
            roles=[RoleOut(org_id=o.id, org_code=o.code, role=r) for o, r in roles],
            managed_org_ids=sorted(actor.managed_org_ids),
        )
