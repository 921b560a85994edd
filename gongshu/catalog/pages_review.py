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
from gongshu.catalog.models import CatalogEntry
from gongshu.catalog.schemas import vocabulary_label
from gongshu.kernel.db import read_scope
from gongshu.kernel.errors import Forbidden
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import Organisation, OrgKind
from gongshu.kernel.policy import service as policy_service
from gongshu.kernel.timeutil import as_utc
from gongshu.kernel.workflow import inbox
from gongshu.web.deps import current_actor, require_role
from gongshu.web.i18n import gettext
from gongshu.web.pages.cases import (
    ENTRY_FIELD_LABELS,
    ENTRY_POLICY_GROUPS,
    LABELS,
    china_time,
    viewable_case_ids,
)
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


# Labels of the snapshot's fields (msgids of the page catalogs, shared with the case page's account of a
# catalog change); the page translates them.
FIELD_LABELS = {
    **{k: v for k, v in ENTRY_FIELD_LABELS.items() if k != "items"},
    "provider_org_id": _("Provider"),
}
# Labels of an information item's fields (msgids of the page catalogs) and the vocabularies of its values.
ITEM_FIELD_LABELS = {
    "label_zh": _("Label"),
    "label_en": _("English label"),
    "data_type": _("Data type"),
    "length": _("Length"),
    "is_key": _("Key item"),
    "sensitivity": _("Sensitivity"),
    "description": _("Description"),
}
ITEM_VOCABULARIES = {"data_type": "data_type", "sensitivity": "sensitivity"}
# Snapshot fields never shown as changed: the resource code is the entry's identity, it never changes.
UNSHOWN_FIELDS = ("resource_code",)
# Snapshot fields whose values are keys of a policy group (labelled by the policy, R30).
POLICY_GROUPS = ENTRY_POLICY_GROUPS


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


@dataclass(frozen=True)
class ShownField:
    """R9 R28: a field as it was and as it is (or is proposed), labelled and shown in the page language."""

    field: str
    label: str
    before: str
    after: str


@dataclass(frozen=True)
class ShownItem:
    """R9 R28: an information item added, removed or changed, named by its label in the page language,
    with the fields that changed."""

    name: str
    change: str  # added, removed, changed
    label: str
    fields: tuple[ShownField, ...] = ()


@dataclass(frozen=True)
class ShownChanges:
    """R9: what differs between two snapshots of an entry, as the entry page (a change under review) and
    the versions page show it: labelled fields and item changes, never raw values."""

    fields: tuple[ShownField, ...] = ()
    items: tuple[ShownItem, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.fields or self.items)


def _value(value: Any, lang: str, group: str | None, pol: Any, orgs: dict[int, str], field: str) -> str:
    """A snapshot value in the page language: policy keys by the policy's labels (R30), the catalog's own
    vocabularies by theirs, conditions as "kind：value", lists joined the page language's way, yes/no as
    words, nothing as "—"."""
    if field == "provider_org_id" and isinstance(value, int):
        return orgs.get(value, str(value))
    if isinstance(value, bool):
        return gettext(lang, "Yes") if value else gettext(lang, "No")
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, list | tuple):
        sep = "、" if lang == "zh" else ", "
        if any(isinstance(v, dict) for v in value):
            sep = "；" if lang == "zh" else "; "
        return sep.join(_value(v, lang, group, pol, orgs, field) for v in value)
    if isinstance(value, dict):
        kind = str(value.get("kind", ""))
        shown = pol.label(group, kind, lang) if group and kind else kind
        return f"{shown}{'：' if lang == 'zh' else ': '}{value.get('value', '')}"
    if field in ITEM_VOCABULARIES:
        return vocabulary_label(ITEM_VOCABULARIES[field], str(value), lang)
    if field == "format":
        return vocabulary_label("format", str(value), lang)
    if field == "subject_kind":
        return vocabulary_label("subject_kind", str(value), lang)
    return pol.label(group, str(value), lang) if group else str(value)


def _item_label(item: dict[str, Any], lang: str) -> str:
    """An item named in the page language (its English label on English pages, where it has one)."""
    zh = str(item.get("label_zh") or item.get("name") or "")
    return str(item.get("label_en") or zh) if lang == "en" else zh


def shown_changes(session: Any, before: dict[str, Any], after: dict[str, Any], lang: str) -> ShownChanges:
    """R9 R28: the one renderer of an entry's differences — the entry page's change under review and the
    versions page's comparison show the same labels and values: fields by their labels in the page
    language, values by their policy or vocabulary labels, items added, removed or changed by their
    labels with the item fields that changed. The resource code never shows as changed."""
    pol = policy_service.at(session)
    org_ids = {x for x in (before.get("provider_org_id"), after.get("provider_org_id")) if isinstance(x, int)}
    orgs = {o.id: o.name(lang) for o in (session.get(Organisation, i) for i in org_ids) if o is not None}
    fields = tuple(
        ShownField(
            f,
            gettext(lang, FIELD_LABELS.get(f, f)),
            _value(b, lang, POLICY_GROUPS.get(f), pol, orgs, f),
            _value(a, lang, POLICY_GROUPS.get(f), pol, orgs, f),
        )
        for f, b, a in service.diff(before, after)
        if f not in ("items", *UNSHOWN_FIELDS)
    )
    old = {str(it.get("name")): it for it in before.get("items") or [] if isinstance(it, dict)}
    new = {str(it.get("name")): it for it in after.get("items") or [] if isinstance(it, dict)}
    items = tuple(
        ShownItem(
            c.name,
            c.change,
            _item_label(new.get(c.name) or old.get(c.name) or {}, lang),
            tuple(
                ShownField(
                    f,
                    gettext(lang, ITEM_FIELD_LABELS.get(f, f)),
                    _value(b, lang, None, pol, orgs, f),
                    _value(a, lang, None, pol, orgs, f),
                )
                for f, b, a in c.fields
            ),
        )
        for c in item_changes(list(old.values()), list(new.values()))
    )
    return ShownChanges(fields, items)


def pending_changes(session: Any, entry: CatalogEntry, lang: str) -> ShownChanges:
    """R9: the change under review of a published entry, against the version in force. What the proposal
    does not hold (the resource code, the provider: a change never touches them) is the entry's own, so
    no change nobody made is shown; keywords are compared as they will be published (split, trimmed)."""
    if not entry.pending:
        return ShownChanges()
    current = service.snapshot(entry)
    proposed = {
        **current,
        **entry.pending,
        "resource_code": entry.resource_code,
        "provider_org_id": entry.provider_org_id,
    }
    proposed["keywords"] = service.split_keywords(list(proposed.get("keywords") or []))
    return shown_changes(session, current, proposed, lang)


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
        changes = shown_changes(s, before, after, lang)
        return render(
            request,
            "catalog/versions.html",
            entry=entry,
            versions=history,
            viewable_cases=viewable_case_ids(s, actor, [v.case_id for v in history]),
            from_version=from_,
            to_version=to,
            changes=changes,
            china_time=_china_time,
        )
