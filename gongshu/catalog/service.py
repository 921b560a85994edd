"""R6 R9 R15–R18 R22: the catalog entry lifecycle — compile a draft, submit it for the authority's review,
publish on approval (every published version kept), change a published entry (the version in force stays
until the change is approved), withdraw; and who may see what.

Commands validate first and then act inside the caller's transaction, auditing every write."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gongshu.catalog import search
from gongshu.catalog.models import CatalogEntry, CatalogEntryVersion, CatalogItem
from gongshu.catalog.schemas import EntryInput
from gongshu.catalog.validation import contains_personal_info, validate_entry
from gongshu.catalog.visibility import can_edit as can_edit
from gongshu.catalog.visibility import can_view as can_view
from gongshu.catalog.visibility import get_entry as get_entry
from gongshu.kernel.access.policy import Action
from gongshu.kernel.access.service import require
from gongshu.kernel.audit.service import record
from gongshu.kernel.errors import Conflict, NotFound, ValidationFailed
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import Organisation
from gongshu.kernel.policy import service as policy_service
from gongshu.kernel.timeutil import now
from gongshu.kernel.workflow import engine
from gongshu.kernel.workflow.hooks import on_closed, on_step_done
from gongshu.kernel.workflow.models import Case, Step
from gongshu.store import service as store_service

SUBJECT_TYPE = "catalog_entry"
PUBLICATION = "catalog_publication"
CHANGE = "catalog_change"
EDITABLE = ("draft",)
OPEN_CASE = ("in_review",)
# Fields of an entry's snapshot, in the order the compilation specification lists them.
FIELDS = tuple(k for k in EntryInput.model_fields if k not in ("items", "provider_org_id"))
# R6: keywords are typed in one box, separated by commas (either width), enumeration commas or semicolons.
KEYWORD_SEPARATORS = re.compile(r"[,，、;；\n]+")


def split_keywords(values: list[str] | str) -> list[str]:
    """R6: keywords as the catalog keeps them — each one trimmed, none empty, none twice (in the order
    typed), whether they arrive as one typed line ("婚姻, 社会救助", "婚姻，社会救助", "婚姻、社会救助") or
    as a list whose members still hold separators or spaces."""
    parts = [values] if isinstance(values, str) else list(values)
    out: list[str] = []
    for part in parts:
        for kw in KEYWORD_SEPARATORS.split(str(part)):
            kw = kw.strip()
            if kw and kw not in out:
                out.append(kw)
    return out


def cleaned(data: EntryInput) -> EntryInput:
    """R6: the input with its keywords split and trimmed (the pages, the API and the Excel import alike),
    so that no entry, draft or change proposal ever holds " 社会救助" or an empty keyword."""
    return data.model_copy(update={"keywords": split_keywords(data.keywords)})


def _validated(session: Session, data: EntryInput) -> None:
    """R6: refuse with every field error at once."""
    errors = validate_entry(policy_service.at(session), data)
    if errors:
        first = errors[0]
        raise ValidationFailed(
            "catalog.invalid",
            f"目录信息有 {len(errors)} 处不符合编制规范：{first.zh}",
            f"The entry has {len(errors)} error(s) against the compilation specification: {first.en}",
            field=first.field,
            details={"errors": [e.to_dict() for e in errors]},
        )


def _provider(session: Session, actor: Actor, org_id: int | None) -> Organisation:
    """R5: a catalog officer compiles for their organisation or those their department manages."""
    org = session.get(Organisation, org_id if org_id is not None else actor.org_id or 0)
    if org is None:
        raise ValidationFailed(
            "catalog.provider_unknown",
            "没有该提供单位",
            "No such provider organisation",
            field="provider_org_id",
        )
    require(session, actor, Action.CATALOG_COMPILE, org_id=org.id)
    return org


def snapshot(entry: CatalogEntry) -> dict[str, Any]:
    """R9: the entry as published (what a version keeps)."""
    out: dict[str, Any] = {k: getattr(entry, k) for k in FIELDS}
    out["provider_org_id"] = entry.provider_org_id
    out["resource_code"] = entry.resource_code
    out["items"] = [
        {
            k: getattr(it, k)
            for k in (
                "name",
                "label_zh",
                "label_en",
                "data_type",
                "length",
                "is_key",
                "sensitivity",
                "description",
            )
        }
        for it in entry.items
    ]
    return out


def _apply(session: Session, entry: CatalogEntry, data: EntryInput) -> None:
    """R6 R9: the input's values on the entry — never its resource code nor its provider (FIELDS holds
    neither): approving a change keeps the code the entry is known by."""
    data = cleaned(data)
    for key in FIELDS:
        value = getattr(data, key)
        if key in ("sharing_conditions", "open_conditions"):
            value = [c.model_dump() for c in value]
        elif isinstance(value, str):
            value = value.strip()
        elif isinstance(value, list):
            value = list(value)
        setattr(entry, key, value)
    entry.contains_personal_info = contains_personal_info(data)
    if entry.items:
        entry.items.clear()
        session.flush()  # the old items go before the new ones (item names are unique per entry)
    for seq, item in enumerate(data.items, start=1):
        entry.items.append(CatalogItem(seq=seq, **item.model_dump()))
    entry.updated_at = now()


def _new_code(session: Session, org: Organisation, data: EntryInput) -> str:
    """A readable unique resource code: provider code, catalog kind initial, category code, sequence."""
    prefix = f"{org.code.upper()}-{data.catalog_kind[:1].upper()}-{data.category_code}-"
    seq = int(session.scalar(select(func.count()).where(CatalogEntry.provider_org_id == org.id)) or 0) + 1
    while session.scalar(select(CatalogEntry.id).where(CatalogEntry.resource_code == f"{prefix}{seq:04d}")):
        seq += 1
    return f"{prefix}{seq:04d}"


def create_draft(session: Session, actor: Actor, data: EntryInput) -> CatalogEntry:
    """R6: a department's catalog officer compiles a draft entry."""
    org = _provider(session, actor, data.provider_org_id)
    data = cleaned(data)
    _validated(session, data)
    entry = CatalogEntry(resource_code=_new_code(session, org, data), provider_org_id=org.id, status="draft")
    _apply(session, entry, data)
    session.add(entry)
    session.flush()
    record(session, actor, "catalog.create_draft", object_type=SUBJECT_TYPE, object_id=entry.resource_code)
    return entry


def _entry(session: Session, entry_id: int) -> CatalogEntry:
    entry = session.get(CatalogEntry, entry_id)
    if entry is None:
        raise NotFound("catalog.not_found", "没有该目录", f"No catalog entry {entry_id}")
    return entry


def update_draft(session: Session, actor: Actor, entry_id: int, data: EntryInput) -> CatalogEntry:
    """R6: correct a draft (before submission, or after the authority returned or refused it)."""
    entry = _entry(session, entry_id)
    _provider(session, actor, entry.provider_org_id)
    if entry.status not in EDITABLE:
        raise Conflict(
            "catalog.not_draft",
            "只有草稿可以直接修改；已发布的目录请提出变更（R9）",
            "Only drafts can be edited; propose a change to a published entry (R9)",
        )
    if data.provider_org_id not in (None, entry.provider_org_id):
        raise ValidationFailed(
            "catalog.provider_fixed",
            "不能更改目录的提供单位",
            "The provider cannot change",
            field="provider_org_id",
        )
    data = cleaned(data)
    _validated(session, data)
    _apply(session, entry, data)
    session.flush()
    record(session, actor, "catalog.update_draft", object_type=SUBJECT_TYPE, object_id=entry.resource_code)
    return entry


def submit_for_review(session: Session, actor: Actor, entry_id: int) -> Case:
    """R6: the department submits its draft; the authority reviews it (workflow catalog_publication)."""
    entry = _entry(session, entry_id)
    _provider(session, actor, entry.provider_org_id)
    if entry.status not in EDITABLE:
        raise Conflict(
            "catalog.not_draft", "该目录不是草稿，不能提交审核", "Only a draft can be submitted for review"
        )
    _validated(session, EntryInput.model_validate(snapshot(entry)))
    case = engine.submit(
        session,
        actor,
        PUBLICATION,
        title=f"目录发布：{entry.name}",
        title_en=f"Catalog publication: {entry.name_en or entry.name}",
        subject_type=SUBJECT_TYPE,
        subject_id=entry.id,
        applicant_org_id=entry.provider_org_id,
        payload={"resource_code": entry.resource_code},
    )
    entry.status, entry.review_case_id, entry.updated_at = "in_review", case.id, now()
    session.flush()
    record(
        session,
        actor,
        "catalog.submit",
        object_type=SUBJECT_TYPE,
        object_id=entry.resource_code,
        detail={"case": case.number},
    )
    return case


def _publish(session: Session, entry: CatalogEntry, case: Case) -> None:
    """R6 R9: publish a new version, keep its snapshot, index it for search."""
    at = now()
    entry.current_version += 1
    entry.status, entry.updated_at = "published", at
    entry.published_at = entry.published_at or at
    session.add(
        CatalogEntryVersion(
            entry_id=entry.id,
            version=entry.current_version,
            snapshot=snapshot(entry),
            published_at=at,
            case_id=case.id,
        )
    )
    session.flush()
    search.index_entry(session, entry)
    store_service.provision(session, entry)  # R7 R9: the resource's table follows its published items
    record(
        session,
        None,
        "catalog.publish",
        object_type=SUBJECT_TYPE,
        object_id=entry.resource_code,
        detail={"version": entry.current_version, "case": case.number},
    )


def publish_version(session: Session, entry: CatalogEntry, case: Case) -> None:
    """R9 R15: record, as a new published version, a change that a procedure's case decided (a duty
    transfer moving the entry to another provider, an attribute dispute changing its sharing attribute)."""
    _publish(session, entry, case)


def _case_entry(session: Session, case: Case) -> CatalogEntry | None:
    if case.subject_type != SUBJECT_TYPE or not case.subject_id.isdigit():
        return None
    return session.get(CatalogEntry, int(case.subject_id))


@on_closed(PUBLICATION)
def _publication_closed(session: Session, case: Case) -> None:
    """R6: approved → published (version snapshot); refused → back to draft for correction."""
    entry = _case_entry(session, case)
    if entry is None or entry.review_case_id != case.id:
        return
    if case.status == "approved" and entry.status != "published":
        _publish(session, entry, case)
    elif case.status == "rejected" and entry.status == "in_review":
        entry.status, entry.updated_at = "draft", now()
        record(
            session,
            None,
            "catalog.publication_refused",
            object_type=SUBJECT_TYPE,
            object_id=entry.resource_code,
            detail={"case": case.number},
        )


@on_step_done(PUBLICATION)
def _publication_returned(session: Session, case: Case, step: Step) -> None:
    """R6: a draft returned by the authority goes back to its compilers."""
    entry = _case_entry(session, case)
    if entry is not None and entry.review_case_id == case.id and step.decision == "return":
        entry.status, entry.updated_at = "draft", now()


def narrowed(session: Session, entry: CatalogEntry, data: EntryInput) -> list[str]:
    """R9 R15: the attributes a change narrows (policy lists attributes from the widest to the narrowest)."""
    pol = policy_service.at(session)
    out = []
    for field, group in (("sharing_attribute", "sharing_attributes"), ("open_attribute", "open_attributes")):
        order = pol.keys(group)
        before, after = getattr(entry, field), getattr(data, field)
        if before in order and after in order and order.index(after) > order.index(before):
            out.append(field)
    return out


def propose_change(session: Session, actor: Actor, entry_id: int, data: EntryInput, reasons: str) -> Case:
    """R9: a change to a published entry is reviewed by the authority (workflow catalog_change); the
    published version stays in force until approved. Attributes may not be narrowed at will: a narrowing
    change must give its reasons."""
    entry = _entry(session, entry_id)
    _provider(session, actor, entry.provider_org_id)
    if entry.status != "published":
        raise Conflict(
            "catalog.not_published", "只有已发布的目录可以变更", "Only a published entry can be changed"
        )
    if entry.pending_case_id is not None:
        open_case = session.get(Case, entry.pending_case_id)
        if open_case is not None and open_case.status in OPEN_CASE:
            raise Conflict(
                "catalog.change_pending",
                f"该目录已有变更在审核中（{open_case.number}）",
                f"A change of this entry is already under review ({open_case.number})",
            )
    if data.provider_org_id not in (None, entry.provider_org_id):
        raise ValidationFailed(
            "catalog.provider_fixed",
            "职责调整须通过目录划转办理（R9）",
            "A change of provider goes through a duty transfer (R9)",
            field="provider_org_id",
        )
    data = cleaned(data)
    _validated(session, data)
    narrowing = narrowed(session, entry, data)
    reasons = (reasons or "").strip()
    if narrowing and not reasons:
        raise ValidationFailed(
            "catalog.change_reasons_required",
            "收窄共享或开放属性的变更须说明理由（R9）",
            "A change that narrows the sharing or open attribute must give its reasons (R9)",
            field="reasons",
            details={"narrowed": narrowing},
        )
    proposed = data.model_copy(
        update={
            "provider_org_id": entry.provider_org_id,
            "contains_personal_info": contains_personal_info(data),
        }
    ).model_dump()
    changes = diff(snapshot(entry), {**proposed, "resource_code": entry.resource_code})
    case = engine.submit(
        session,
        actor,
        CHANGE,
        title=f"目录变更：{entry.name}",
        title_en=f"Catalog change: {entry.name_en or entry.name}",
        subject_type=SUBJECT_TYPE,
        subject_id=entry.id,
        applicant_org_id=entry.provider_org_id,
        payload={
            "resource_code": entry.resource_code,
            "reasons": reasons,
            "narrowed": narrowing,
            "changes": [{"field": f, "before": b, "after": a} for f, b, a in changes],
        },
    )
    entry.pending, entry.pending_case_id = proposed, case.id
    session.flush()
    record(
        session,
        actor,
        "catalog.propose_change",
        object_type=SUBJECT_TYPE,
        object_id=entry.resource_code,
        detail={"case": case.number, "reasons": reasons, "fields": [f for f, _, _ in changes]},
    )
    return case


@on_closed(CHANGE)
def _change_closed(session: Session, case: Case) -> None:
    """R9: an approved change becomes the new published version; a refused one is dropped."""
    entry = _case_entry(session, case)
    if entry is None or entry.pending_case_id != case.id or entry.pending is None:
        return
    if case.status == "approved":
        _apply(session, entry, EntryInput.model_validate(entry.pending))
        entry.pending, entry.pending_case_id = None, None
        session.flush()
        _publish(session, entry, case)
    elif case.status == "rejected":
        entry.pending, entry.pending_case_id = None, None
        record(
            session,
            None,
            "catalog.change_refused",
            object_type=SUBJECT_TYPE,
            object_id=entry.resource_code,
            detail={"case": case.number},
        )


def withdraw(session: Session, actor: Actor, entry_id: int, reasons: str) -> CatalogEntry:
    """R9: a published entry is withdrawn with reasons; it stays visible, marked withdrawn."""
    entry = _entry(session, entry_id)
    _provider(session, actor, entry.provider_org_id)
    reasons = (reasons or "").strip()
    if not reasons:
        raise ValidationFailed(
            "catalog.withdraw_reasons_required",
            "撤销目录须说明理由",
            "Withdrawing an entry needs reasons",
            field="reasons",
        )
    if entry.status != "published":
        raise Conflict(
            "catalog.not_published", "只有已发布的目录可以撤销", "Only a published entry can be withdrawn"
        )
    entry.status, entry.withdrawn_at, entry.updated_at = "withdrawn", now(), now()
    search.unindex_entry(session, entry.id)
    session.flush()
    record(
        session,
        actor,
        "catalog.withdraw",
        object_type=SUBJECT_TYPE,
        object_id=entry.resource_code,
        detail={"reasons": reasons},
    )
    return entry


def versions(session: Session, entry: CatalogEntry) -> list[CatalogEntryVersion]:
    """R9: every published version, oldest first."""
    return list(
        session.scalars(
            select(CatalogEntryVersion)
            .where(CatalogEntryVersion.entry_id == entry.id)
            .order_by(CatalogEntryVersion.version)
        )
    )


def diff(before: dict[str, Any], after: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """R9: the fields two snapshots differ in, as (field, before, after)."""
    keys = list(before) + [k for k in after if k not in before]
    return [(k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)]


# R6 R9: how a unit's own entry stands, as its catalog officers' list names it (work in progress first).
UNIT_STATES = ("draft", "returned", "in_review", "change_pending", "published", "withdrawn")


@dataclass(frozen=True)
class UnitEntry:
    """R6 R9: one of the unit's entries on its catalog officers' list: where it stands, and whether it may
    still be deleted (a draft never submitted)."""

    entry: CatalogEntry
    state: str

    @property
    def deletable(self) -> bool:
        return is_deletable(self.entry)


def is_deletable(entry: CatalogEntry) -> bool:
    """R6 R9: only a draft never submitted for review and never published may be deleted; an entry the
    authority has seen stays on record (a published one is withdrawn with reasons, R9)."""
    return entry.status == "draft" and entry.review_case_id is None and entry.current_version == 0


def unit_state(entry: CatalogEntry) -> str:
    """R6 R9: draft, returned (the authority returned or refused it), in review, published with a change
    under review, published, withdrawn."""
    if entry.status == "draft":
        return "returned" if entry.review_case_id is not None else "draft"
    if entry.status == "published" and entry.pending_case_id is not None:
        return "change_pending"
    return entry.status if entry.status in UNIT_STATES else "draft"


def unit_entries(session: Session, org_ids: set[int], limit: int = 500) -> list[UnitEntry]:
    """R6 R9: the entries of the organisations a catalog officer compiles for — drafts, returned drafts,
    entries in review and changes under review first, then the published and withdrawn ones — each
    group newest first. Drafts are found here: the public catalog lists only published entries."""
    if not org_ids:
        return []
    rows = session.scalars(
        select(CatalogEntry)
        .where(CatalogEntry.provider_org_id.in_(org_ids))
        .order_by(CatalogEntry.updated_at.desc(), CatalogEntry.id.desc())
        .limit(limit)
    )
    out = [UnitEntry(e, unit_state(e)) for e in rows]
    return sorted(out, key=lambda u: UNIT_STATES.index(u.state))


def delete_draft(session: Session, actor: Actor, entry_id: int) -> str:
    """R6: a catalog officer of the provider deletes a draft that was never submitted (audited, with what
    it was). A submitted, returned or published entry is not deleted: the authority has a record of it,
    and a published entry is withdrawn with reasons (R9). Returns the deleted entry's resource code."""
    entry = _entry(session, entry_id)
    _provider(session, actor, entry.provider_org_id)
    if not is_deletable(entry):
        raise Conflict(
            "catalog.not_deletable",
            "只有从未提交审核的草稿可以删除；已提交或已发布的目录请通过撤销办理（R9）",
            "Only a draft never submitted for review can be deleted; a submitted or published entry is "
            "withdrawn instead (R9)",
        )
    code = entry.resource_code
    detail = {"name": entry.name, "provider_org_id": entry.provider_org_id, "items": len(entry.items)}
    session.delete(entry)
    session.flush()
    record(session, actor, "catalog.delete_draft", object_type=SUBJECT_TYPE, object_id=code, detail=detail)
    return code
