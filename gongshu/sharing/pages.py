"""R15–R18, R26: the sharing pages — apply for conditional data, take unconditional data for a stated
scenario, follow the organisation's applications, the provider's and the authority's review queues, and
the grants (with revocation). Thin: every rule lives in the sharing services."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from gongshu.catalog.data_view import SharingTerms, find_entry, sharing_terms
from gongshu.kernel.access.policy import Action
from gongshu.kernel.access.service import decide
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import Forbidden, GongshuError, ValidationFailed
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import Organisation
from gongshu.kernel.policy import service as policy_service
from gongshu.kernel.timeutil import today_china
from gongshu.kernel.workflow import inbox
from gongshu.kernel.workflow.attachments import MAX_ATTACHMENT_BYTES
from gongshu.kernel.workflow.models import Case
from gongshu.sharing import applications, grants_service
from gongshu.sharing.applications import Attachment
from gongshu.sharing.emergency_closure import closure_reason_in
from gongshu.sharing.grants_service import GrantView
from gongshu.web.deps import csrf_protect, require_actor
from gongshu.web.pages.cases import LABELS, viewable_case_ids
from gongshu.web.render import lang_of, render

router = APIRouter(prefix="/sharing", include_in_schema=False)
LoggedIn = Annotated[Actor, Depends(require_actor)]
Protected = [Depends(csrf_protect)]
# A default of the form, not a statutory period: the period a new application proposes.
DEFAULT_PERIOD_DAYS = 365


def _(msgid: str) -> str:
    """Marks a msgid for the catalogs; templates translate it when the page is rendered."""
    return msgid


GRANT_STATES = {
    "active": _("Active"),
    "expired": _("Expired"),
    "revoked": _("Revoked"),
    "pending": _("Not yet started"),
}


def _vocab(session: Session, lang: str) -> dict[str, Any]:
    pol = policy_service.at(session, today_china())
    return {"label": lambda group, key: pol.label(group, key, lang), "grant_states": GRANT_STATES, **LABELS}


def _date(value: str, field: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise ValidationFailed(
            "sharing.date_invalid",
            "请填写有效日期（YYYY-MM-DD）",
            "Enter a valid date (YYYY-MM-DD)",
            field=field,
        ) from None


async def _attachments(value: object) -> list[Attachment]:
    """The chosen file, if any; one byte past the limit is read so that the service refuses it precisely."""
    if not isinstance(value, UploadFile) or not value.filename:
        return []
    content = await value.read(MAX_ATTACHMENT_BYTES + 1)
    return [Attachment(value.filename, content, value.content_type or "application/octet-stream")]


def _apply_page(
    request: Request, code: str, status_code: int = 200, form: dict[str, Any] | None = None, **extra: Any
) -> HTMLResponse:
    with read_scope() as s:
        terms: SharingTerms = sharing_terms(s, code)
        today = today_china()
        defaults = {
            "items": list(terms.items),
            "scenario": "",
            "purpose": "",
            "basis": "",
            "valid_from": today.isoformat(),
            "valid_to": (today + dt.timedelta(days=DEFAULT_PERIOD_DAYS)).isoformat(),
            "delivery_method": terms.methods[0] if terms.methods else "",
            "key_municipal_work": False,
            "cross_department_system": "",
        }
        return render(
            request,
            "sharing/apply.html",
            status_code=status_code,
            terms=terms,
            scenarios=applications.condition_values(terms, "scenario"),
            form={**defaults, **(form or {})},
            **_vocab(s, lang_of(request)),
            **extra,
        )


@router.get("/apply/{code}", response_class=HTMLResponse)
def apply_page(request: Request, actor: LoggedIn, code: str) -> HTMLResponse:
    """R17: the application form; R18: a not-shared entry shows its legal basis and no form; R16: an
    unconditional entry points to direct use."""
    return _apply_page(request, code)


@router.post("/apply/{code}", response_class=HTMLResponse, dependencies=Protected)
async def apply_submit(request: Request, actor: LoggedIn, code: str) -> Response:
    raw = await request.form()
    form: dict[str, Any] = {
        "items": [str(v) for v in raw.getlist("items")],
        "scenario": str(raw.get("scenario", "")),
        "purpose": str(raw.get("purpose", "")),
        "basis": str(raw.get("basis", "")),
        "valid_from": str(raw.get("valid_from", "")),
        "valid_to": str(raw.get("valid_to", "")),
        "delivery_method": str(raw.get("delivery_method", "")),
        "key_municipal_work": raw.get("key_municipal_work") in ("1", "on", "true"),
        "cross_department_system": str(raw.get("cross_department_system", "")),
    }
    files = await _attachments(raw.get("file"))
    try:
        with session_scope() as s:
            case = applications.apply(
                s,
                actor,
                resource_code=code,
                items=form["items"],
                scenario=form["scenario"],
                purpose=form["purpose"],
                basis=form["basis"],
                valid_from=_date(form["valid_from"], "valid_from"),
                valid_to=_date(form["valid_to"], "valid_to"),
                delivery_method=form["delivery_method"],
                key_municipal_work=form["key_municipal_work"],
                cross_department_system=form["cross_department_system"] or None,
                attachments=files,
            )
            case_id = case.id
    except GongshuError as exc:
        return _apply_page(
            request, code, exc.status_code, form, error=exc, error_message=exc.message(lang_of(request))
        )
    return RedirectResponse(f"/cases/{case_id}?done=submitted", status_code=303)


@router.get("/applications", response_class=HTMLResponse)
def applications_page(request: Request, actor: LoggedIn) -> HTMLResponse:
    """R17: the organisation's applications, with their status and the due day of the open step."""
    with read_scope() as s:
        rows = inbox.summaries(s, applications.applications_of(s, actor))
        return render(request, "sharing/applications.html", rows=rows, **_vocab(s, lang_of(request)))


@router.get("/reviews", response_class=HTMLResponse)
def reviews_page(request: Request, actor: LoggedIn) -> HTMLResponse:
    """R17: the provider's and the authority's review queues, the earliest due first, with their SLA."""
    with read_scope() as s:
        items = [i for i in inbox.inbox(s, actor) if i.case.kind == applications.KIND]
        return render(request, "sharing/reviews.html", items=items, **_vocab(s, lang_of(request)))


@dataclass(frozen=True)
class GrantRow:
    """R26, R28: a grant as the grants page shows it, in the page language: the grant's own number and the
    number of the case it came from (two numbers, each labelled), names in the page language (the English
    ones where they exist, as the case pages do), the items by their labels, and a closure's revocation
    reason in that language only."""

    view: GrantView
    grant: Any
    state: str
    resource_name: str
    consumer_name: str
    items: str
    case_number: str
    case_href: str
    revoke_reason: str
    may_revoke: bool


def _grant_rows(session: Session, actor: Actor, views: list[GrantView], lang: str) -> list[GrantRow]:
    case_ids = {v.grant.case_id for v in views if v.grant.case_id is not None}
    numbers: dict[int, str] = {}
    if case_ids:
        numbers = {
            int(i): str(n)
            for i, n in session.execute(select(Case.id, Case.number).where(Case.id.in_(case_ids)))
        }
    viewable = viewable_case_ids(session, actor, case_ids)
    orgs: dict[int, Organisation | None] = {}
    entries: dict[str, Any] = {}
    rows: list[GrantRow] = []
    joiner = "、" if lang == "zh" else ", "
    for v in views:
        g = v.grant
        if g.consumer_org_id not in orgs:
            orgs[g.consumer_org_id] = session.get(Organisation, g.consumer_org_id)
        if g.resource_id not in entries:
            entries[g.resource_id] = find_entry(session, g.resource_id)
        org, entry = orgs[g.consumer_org_id], entries[g.resource_id]
        labels: dict[str, str] = {}
        if entry is not None:
            labels = {i.name: (i.label_zh if lang == "zh" else i.label_en) or i.name for i in entry.items}
        rows.append(
            GrantRow(
                view=v,
                grant=g,
                state=v.state,
                resource_name=(entry.name if lang == "zh" else entry.name_en or entry.name)
                if entry
                else v.resource_name,
                consumer_name=org.name(lang) if org is not None else v.consumer_name,
                items=joiner.join(labels.get(str(i), str(i)) for i in g.items or []),
                case_number=str(numbers.get(g.case_id, "")) if g.case_id is not None else "",
                case_href=f"/cases/{g.case_id}" if g.case_id in viewable else "",
                revoke_reason=closure_reason_in(g.revoke_reason, lang) if g.revoke_reason else "",
                may_revoke=v.may_revoke,
            )
        )
    return rows


def _grants_page(request: Request, actor: Actor, status_code: int = 200, **extra: Any) -> HTMLResponse:
    """R26: the grants by who is looking — a consumer's own grants; a provider's grants on its data; for
    the authority (which revokes any grant, R26), every grant, under a heading that says it supervises."""
    lang = lang_of(request)
    with read_scope() as s:
        scope = decide(s, actor, Action.GRANT_REVOKE)
        mine = _grant_rows(s, actor, grants_service.my_grants(s, actor), lang)
        provided = _grant_rows(s, actor, grants_service.provider_grants(s, actor), lang)
        return render(
            request,
            "sharing/grants.html",
            status_code=status_code,
            mine=mine,
            provided=provided,
            supervising=scope.allowed and scope.org_scope is None,
            done=request.query_params.get("done"),
            done_grant=request.query_params.get("grant", "")[:12],
            **_vocab(s, lang),
            **extra,
        )


@router.get("/grants", response_class=HTMLResponse)
def grants_page(request: Request, actor: LoggedIn) -> HTMLResponse:
    """R26: the organisation's grants with their expiry; for providers, the grants on their data; for the
    authority, every grant."""
    return _grants_page(request, actor)


def _revoke_page(
    request: Request,
    actor: Actor,
    grant_id: int,
    status_code: int = 200,
    form: dict[str, str] | None = None,
    error: GongshuError | None = None,
) -> HTMLResponse:
    """R26: the confirmation step of a revocation: what the grant covers, what revoking it does, the
    written reasons (required) and an explicit confirmation. 403 for anyone who may not revoke it."""
    lang = lang_of(request)
    with read_scope() as s:
        grant = grants_service.get_grant(s, grant_id)
        try:
            provider = sharing_terms(s, grant.resource_id).provider_org_id
        except GongshuError:
            provider = None
        if not grants_service.may_revoke(s, actor, provider):
            raise Forbidden(
                "grant.revoke_forbidden",
                "只有数据提供单位或主管部门可以撤销授权",
                "Only the provider or the authority may revoke a grant",
            )
        view = GrantView(grant, grants_service.grant_state(grant), grant.resource_id, "", provider, True)
        [row] = _grant_rows(s, actor, [view], lang)
        return render(
            request,
            "sharing/grant_revoke.html",
            status_code=status_code,
            row=row,
            form=form or {"reason": "", "confirm": ""},
            error=error,
            error_message=error.message(lang) if error else None,
            error_field=error.field if error else None,
            **_vocab(s, lang),
        )


@router.get("/grants/{grant_id}/revoke", response_class=HTMLResponse)
def revoke_page(request: Request, actor: LoggedIn, grant_id: int) -> HTMLResponse:
    """R26: confirm the revocation of a grant, with reasons (the provider or the authority)."""
    return _revoke_page(request, actor, grant_id)


@router.post("/grants/{grant_id}/revoke", response_class=HTMLResponse, dependencies=Protected)
def revoke_submit(
    request: Request,
    actor: LoggedIn,
    grant_id: int,
    reason: Annotated[str, Form(max_length=2000)] = "",
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """R26: the provider or the authority revokes a grant, with written reasons and an explicit
    confirmation; a refusal shows the confirmation page again with what was written kept."""
    form = {"reason": reason, "confirm": confirm}
    try:
        if not reason.strip():
            raise ValidationFailed(
                "grant.reason_required",
                "撤销授权必须说明理由",
                "Give the reason for revoking",
                field="reason",
            )
        if confirm not in ("1", "on", "yes", "true"):
            raise ValidationFailed(
                "sharing.revoke_unconfirmed",
                "请勾选确认：撤销后，数据使用单位将立即不能再使用该数据",
                "Tick the confirmation: once revoked, the organisation can no longer use the data",
                field="confirm",
            )
        with session_scope() as s:
            grants_service.revoke(s, actor, grant_id, reason)
    except GongshuError as exc:
        if exc.status_code == 403:
            raise
        return _revoke_page(request, actor, grant_id, exc.status_code, form, exc)
    return RedirectResponse(f"/sharing/grants?done=revoked#grant-{grant_id}", status_code=303)


@router.post("/grants/{grant_id}/renew", response_class=HTMLResponse, dependencies=Protected)
def renew_submit(
    request: Request, actor: LoggedIn, grant_id: int, valid_to: Annotated[str, Form(max_length=20)] = ""
) -> Response:
    """R17: renewal before expiry is a new application, prefilled from the grant."""
    try:
        with session_scope() as s:
            case_id = grants_service.renew(s, actor, grant_id, _date(valid_to, "valid_to")).id
    except GongshuError as exc:
        return _grants_page(
            request, actor, exc.status_code, error=exc, error_message=exc.message(lang_of(request))
        )
    return RedirectResponse(f"/cases/{case_id}?done=submitted", status_code=303)


def _self_page(
    request: Request, code: str, status_code: int = 200, form: dict[str, Any] | None = None, **extra: Any
) -> HTMLResponse:
    with read_scope() as s:
        terms = sharing_terms(s, code)
        defaults = {
            "items": list(terms.items),
            "scenario": "",
            "method": terms.methods[0] if terms.methods else "",
        }
        return render(
            request,
            "sharing/self_service.html",
            status_code=status_code,
            terms=terms,
            form={**defaults, **(form or {})},
            days=grants_service.unconditional_grant_days(),
            **_vocab(s, lang_of(request)),
            **extra,
        )


@router.get("/self-service/{code}", response_class=HTMLResponse)
def self_service_page(request: Request, actor: LoggedIn, code: str) -> HTMLResponse:
    """R16: take unconditional data directly, for a stated scenario."""
    return _self_page(request, code)


@router.post("/self-service/{code}", response_class=HTMLResponse, dependencies=Protected)
async def self_service_submit(request: Request, actor: LoggedIn, code: str) -> Response:
    raw = await request.form()
    form: dict[str, Any] = {
        "items": [str(v) for v in raw.getlist("items")],
        "scenario": str(raw.get("scenario", "")),
        "method": str(raw.get("method", "")),
    }
    try:
        with session_scope() as s:
            taken = grants_service.take_unconditional(
                s, actor, code, form["scenario"], form["items"], form["method"]
            )
            done, grant_id = ("granted" if taken.created else "existing"), taken.grant.id
    except GongshuError as exc:
        return _self_page(
            request, code, exc.status_code, form, error=exc, error_message=exc.message(lang_of(request))
        )
    # R16: a form sent twice finds the grant already in force, and says so.
    return RedirectResponse(f"/sharing/grants?done={done}&grant={grant_id}#grant-{grant_id}", status_code=303)
