"""R15–R18, R26: the sharing API — apply for conditional data, list the organisation's applications and
grants, revoke a grant, record a self-service grant for unconditional data. Thin: every rule lives in
the sharing services."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from gongshu.kernel.access.models import Grant
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.workflow import inbox
from gongshu.kernel.workflow.models import Case
from gongshu.sharing import applications, grants_service
from gongshu.sharing.grants_service import GrantView
from gongshu.web.deps import MAX_ID, IdPath, csrf_protect, require_actor

router = APIRouter(prefix="/api/v1/sharing", tags=["sharing"])
LoggedIn = Annotated[Actor, Depends(require_actor)]
Protected = [Depends(csrf_protect)]


class ApplicationIn(BaseModel):
    """R17: a sharing application for conditional data."""

    resource_code: str = Field(max_length=80)
    items: list[str] = Field(max_length=500)
    scenario: str = Field(max_length=200)
    purpose: str = Field(max_length=5000)
    basis: str = Field(default="", max_length=5000)
    valid_from: dt.date
    valid_to: dt.date
    delivery_method: str = Field(max_length=20)
    key_municipal_work: bool = False
    cross_department_system: str | None = Field(default=None, max_length=200)
    consumer_org_id: int | None = Field(default=None, ge=1, le=MAX_ID)


class SelfServiceIn(BaseModel):
    """R16: the scenario for which unconditional data is taken."""

    resource_code: str = Field(max_length=80)
    scenario: str = Field(max_length=200)
    items: list[str] = Field(max_length=500)
    method: str = Field(max_length=20)
    consumer_org_id: int | None = Field(default=None, ge=1, le=MAX_ID)


class RevokeIn(BaseModel):
    reason: str = Field(max_length=2000)


def case_out(case: Case, due: dt.date | None = None, sla: str | None = None) -> dict[str, Any]:
    return {
        "case_id": case.id,
        "case_number": case.number,
        "status": case.status,
        "submitted_at": case.submitted_at.isoformat(),
        "due_on": due.isoformat() if due else None,
        "sla": sla,
        **{k: case.payload.get(k) for k in ("resource_code", "items", "scenario", "delivery_method")},
    }


def grant_out(grant: Grant, state: str) -> dict[str, Any]:
    return {
        "grant_id": grant.id,
        "state": state,
        "consumer_org_id": grant.consumer_org_id,
        "resource_code": grant.resource_id,
        "items": list(grant.items),
        "scenario": grant.scenario,
        "delivery_method": grant.delivery_method,
        "valid_from": grant.valid_from.isoformat(),
        "valid_to": grant.valid_to.isoformat(),
        "origin": grant.origin,
        "case_id": grant.case_id,
        "revoked_at": grant.revoked_at.isoformat() if grant.revoked_at else None,
        "revoke_reason": grant.revoke_reason,
    }


def _views_out(views: list[GrantView]) -> list[dict[str, Any]]:
    return [grant_out(v.grant, v.state) for v in views]


@router.post("/applications", status_code=201, dependencies=Protected)
def submit_application(actor: LoggedIn, data: ApplicationIn) -> dict[str, Any]:
    """R17: apply for conditional data; refused at the door with a precise code (R16, R18, R19)."""
    with session_scope() as s:
        case = applications.apply(s, actor, **data.model_dump())
        step = next((st for st in case.steps if st.state == "active"), None)
        return case_out(case, step.due_on if step else None)


@router.get("/applications")
def list_applications(actor: LoggedIn) -> list[dict[str, Any]]:
    """R17: the organisation's applications, with the due day and service level of the open step."""
    with read_scope() as s:
        rows = inbox.summaries(s, applications.applications_of(s, actor))
        return [
            case_out(r.case, r.step.step.due_on if r.step else None, r.step.sla if r.step else None)
            for r in rows
        ]


@router.get("/grants")
def list_grants(actor: LoggedIn) -> dict[str, list[dict[str, Any]]]:
    """R26: the organisation's grants, and the grants on the data it provides."""
    with read_scope() as s:
        return {
            "mine": _views_out(grants_service.my_grants(s, actor)),
            "provided": _views_out(grants_service.provider_grants(s, actor)),
        }


@router.post("/grants/{grant_id}/revoke", dependencies=Protected)
def revoke_grant(actor: LoggedIn, grant_id: IdPath, data: RevokeIn) -> dict[str, Any]:
    """R26: the provider or the authority revokes a grant, with reasons."""
    with session_scope() as s:
        grant = grants_service.revoke(s, actor, grant_id, data.reason)
        return grant_out(grant, grants_service.grant_state(grant))


@router.post("/self-service", status_code=201, dependencies=Protected)
def self_service(actor: LoggedIn, data: SelfServiceIn) -> dict[str, Any]:
    """R16: record the scenario for which unconditional data is taken (a revocable grant)."""
    with session_scope() as s:
        grant = grants_service.self_service(
            s, actor, data.resource_code, data.scenario, data.items, data.method, data.consumer_org_id
        )
        return grant_out(grant, grants_service.grant_state(grant))
