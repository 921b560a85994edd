"""R6 R9: the authority's review queue of catalog publications and changes, and the differences between
two published versions of an entry. Thin: the queue is the authority reviewers' inbox (workflow), the
versions and their differences come from the catalog services; decisions are taken on the case page."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from gongshu.catalog import service
from gongshu.kernel.db import read_scope
from gongshu.kernel.errors import Forbidden
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import Organisation, OrgKind
from gongshu.kernel.policy import service as policy_service
from gongshu.kernel.timeutil import as_utc
from gongshu.kernel.workflow import inbox
from gongshu.web.deps import current_actor, require_role
from gongshu.web.pages.cases import LABELS, china_time, viewable_case_ids
from gongshu.web.render import lang_of, render

router = APIRouter(prefix="/catalog", include_in_schema=False)
Anyone = Annotated[Actor, Depends(current_actor)]
Reviewer = Annotated[Actor, Depends(require_role("reviewer"))]
# R6 R9: the workflow kinds the catalog review queue holds.
QUEUE_KINDS = (service.PUBLICATION, service.CHANGE)
ITEM_FIELDS = ("label_zh", "label_en", "data_type", "length", "is_key", "sensitivity", "description")


def _(msgid: str) -> str:
    """Marks a msgid for the catalogs; the template translates it when the page is rendered."""
    return msgid


# Labels of the snapshot's fields (msgids of the page catalogs); the page translates them.
FIELD_LABELS = {
    "catalog_kind": _("Catalog kind"),
    "category_code": _("Category code"),
    "name": _("Resource name"),
    "name_en": _("English name"),
    "summary": _("Summary"),
    "format": _("Format"),
    "topic": _("Topic"),
    "keywords": _("Keywords"),
    "sharing_attribute": _("Sharing attribute"),
    "sharing_conditions": _("Sharing conditions"),
    "legal_basis": _("Legal basis"),
    "sharing_methods": _("Sharing methods"),
    "open_attribute": _("Open attribute"),
    "open_conditions": _("Open conditions"),
    "not_open_reason": _("Reason for not opening"),
    "update_cycle": _("Update cycle"),
    "grade": _("Grade"),
    "contains_personal_info": _("Contains personal information"),
    "deidentified": _("De-identified"),
    "subject_kind": _("Subject of the records"),
    "related_codes": _("Related resources"),
    "provider_org_id": _("Provider"),
}
# Snapshot fields whose values are keys of a policy group (labelled by the policy, R30).
POLICY_GROUPS = {
    "catalog_kind": "catalog_kinds",
    "sharing_attribute": "sharing_attributes",
    "open_attribute": "open_attributes",
    "update_cycle": "update_cycles",
    "grade": "grades",
    "sharing_methods": "sharing_methods",
    "sharing_conditions": "sharing_condition_kinds",
    "open_conditions": "open_condition_kinds",
}


def _authority_reviewer(actor: Actor) -> None:
    """R6: catalog review is the authority's; a reviewer of another organisation has no queue here."""
    if actor.org_kind != OrgKind.AUTHORITY.value or not actor.has_role("reviewer", actor.org_id):
        raise Forbidden(
            "catalog.review_authority_only",
            "目录审核仅限市大数据主管部门的审核人员",
            "Catalog review is for the authority's reviewers only",
        )


def _china_time(at: dt.datetime | None) -> str:
    """An instant read back from the database (naive on SQLite means UTC) in China time."""
    return china_time(as_utc(at)) if at is not None else ""


@router.get("/review", response_class=HTMLResponse)
def review_queue(request: Request, actor: Reviewer) -> HTMLResponse:
    """R6 R9: publications and changes awaiting the authority, the earliest due first, with their SLA."""
    _authority_reviewer(actor)
    with read_scope() as s:
        items = [i for i in inbox.inbox(s, actor) if i.case.kind in QUEUE_KINDS]
        return render(
            request, "catalog/review_queue.html", items=items, **{**LABELS, "china_time": _china_time}
        )


@dataclass(frozen=True)
class ItemChange:
    """R9: an information item added, removed or changed between two versions."""

    name: str
    change: str  # added, removed, changed
    label: str
    fields: tuple[tuple[str, Any, Any], ...] = ()


def item_changes(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[ItemChange]:
    """R9: the information items two snapshots differ in, by item name."""
    old = {it["name"]: it for it in before}
    new = {it["name"]: it for it in after}
    out: list[ItemChange] = []
    for name, it in new.items():
        if name not in old:
            out.append(ItemChange(name, "added", it.get("label_zh", "")))
        else:
            fields = tuple(
                (f, old[name].get(f), it.get(f)) for f in ITEM_FIELDS if old[name].get(f) != it.get(f)
            )
            if fields:
                out.append(ItemChange(name, "changed", it.get("label_zh", ""), fields))
    out += [
        ItemChange(name, "removed", it.get("label_zh", "")) for name, it in old.items() if name not in new
    ]
    return out


def _shown(value: Any, group: str | None, label: Any, orgs: dict[int, str], field: str) -> str:
    """A snapshot value as the page shows it: policy keys by their labels, lists joined."""
    if field == "provider_org_id" and isinstance(value, int):
        return orgs.get(value, str(value))
    if isinstance(value, list):
        parts = []
        for v in value:
            if isinstance(v, dict):
                kind = v.get("kind", "")
                parts.append(f"{label(group, kind) if group else kind}：{v.get('value', '')}")
            else:
                parts.append(label(group, v) if group else str(v))
        return "；".join(parts)
    if isinstance(value, bool):
        return "✓" if value else "✗"
    if value is None:
        return ""
    return label(group, value) if group else str(value)


@router.get("/{code}/versions", response_class=HTMLResponse)
def versions_page(
    request: Request,
    actor: Anyone,
    code: str,
    from_: Annotated[int | None, Query(alias="from")] = None,
    to: int | None = None,
) -> HTMLResponse:
    """R9: every published version of an entry and the field-level differences between two of them."""
    lang = lang_of(request)
    with read_scope() as s:
        entry = service.get_entry(s, actor, code)
        history = service.versions(s, entry)
        numbers = [v.version for v in history]
        to = to if to in numbers else (numbers[-1] if numbers else None)
        if from_ not in numbers:
            from_ = numbers[-2] if len(numbers) > 1 else to
        by_number = {v.version: v for v in history}
        before = by_number[from_].snapshot if from_ is not None else {}
        after = by_number[to].snapshot if to is not None else {}
        pol = policy_service.at(s)

        def label(group: str | None, key: Any) -> str:
            return pol.label(group, str(key), lang) if group else str(key)

        org_ids = {x for x in (before.get("provider_org_id"), after.get("provider_org_id")) if x}
        orgs = {o.id: o.name(lang) for o in (s.get(Organisation, i) for i in org_ids) if o is not None}
        fields = [
            (
                f,
                FIELD_LABELS.get(f, f),
                _shown(b, POLICY_GROUPS.get(f), label, orgs, f),
                _shown(a, POLICY_GROUPS.get(f), label, orgs, f),
            )
            for f, b, a in service.diff(before, after)
            if f not in ("items", "resource_code")
        ]
        return render(
            request,
            "catalog/versions.html",
            entry=entry,
            versions=history,
            viewable_cases=viewable_case_ids(s, actor, [v.case_id for v in history]),
            from_version=from_,
            to_version=to,
            fields=fields,
            items=item_changes(before.get("items", []), after.get("items", [])),
            china_time=_china_time,
        )
