"""What other domains need to know about a catalog entry to decide data access (a service function:
domains never read the catalog's tables themselves)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.catalog.models import CatalogEntry, CatalogGeneration
from gongshu.kernel.access.service import DataResource
from gongshu.kernel.errors import NotFound

PERSONAL_SENSITIVITIES = frozenset({"personal", "secret"})
PERSONAL_TYPES = frozenset({"id_number"})


SUBJECT_TYPES = ("id_number", "uscc")


@dataclass(frozen=True)
class ResourceView:
    """R15–R18, R22, R26: what the access decision point and the read audit need of one entry, frozen
    (tuples only): kept in the process and shared by every request, no caller can change it."""

    resource: DataResource
    subject_key_items: tuple[str, ...]


# (database URL, catalog generation token, resource code) → the view of a published entry. Every
# publication, approved change (a transfer of duty included) and withdrawal bumps the generation token in
# its own transaction, so a view is never used past the change that made it stale, in any process.
_views: dict[tuple[str, str, str], ResourceView] = {}
_views_lock = threading.Lock()
_VIEWS_MAX = 2048


def clear_views() -> None:
    """Forget the kept entry views (tests; nothing else needs it: the generation token keys them)."""
    with _views_lock:
        _views.clear()


def resource_view(session: Session, resource_code: str) -> ResourceView:
    """R15–R18, R22, R26: the entry's view for the decision point and the read audit — one primary-key
    read of the catalog generation when the published entry's view is kept, else read (and kept, if
    published) under the generation read in the same transaction."""
    token = session.scalar(  # the one generation row (`search.GENERATION_ID`)
        select(CatalogGeneration.token).where(CatalogGeneration.id == 1)
    )
    key = (str(session.get_bind().engine.url), token or "", resource_code)
    if token:
        kept = _views.get(key)
        if kept is not None:
            return kept
    entry = session.scalar(select(CatalogEntry).where(CatalogEntry.resource_code == resource_code))
    if entry is None:
        raise NotFound(
            "catalog.entry_not_found",
            f"没有资源代码为 {resource_code} 的目录",
            f"No catalog entry {resource_code}",
        )
    view = ResourceView(_data_resource(session, entry), _subject_key_items(entry))
    if token and entry.status == "published":
        with _views_lock:
            if len(_views) >= _VIEWS_MAX:
                _views.clear()
            _views[key] = view
    return view


def data_resource(session: Session, resource_code: str) -> DataResource:
    """R15–R18, R22: the entry as the access decision point sees it — provider, attributes, items, and the
    items that are personal (withheld from the public until de-identified, R22)."""
    return resource_view(session, resource_code).resource


def _data_resource(session: Session, entry: CatalogEntry) -> DataResource:
    items = tuple(i.name for i in sorted(entry.items, key=lambda i: i.seq))
    personal = tuple(
        i.name
        for i in entry.items
        if i.sensitivity in PERSONAL_SENSITIVITIES or i.data_type in PERSONAL_TYPES
    )
    return DataResource(
        resource_id=entry.resource_code,
        provider_org_id=entry.provider_org_id,
        sharing_attribute=entry.sharing_attribute,
        open_attribute=entry.open_attribute,
        items=items,
        personal_items=personal,
        published=entry.status == "published",
        emergency_event_id=_emergency_event_of(session, entry.resource_code),
    )


def _emergency_event_of(session: Session, resource_code: str) -> str | None:
    """R21: the emergency event whose collected data the resource holds, if any."""
    from gongshu.sharing.emergency_models import EmergencyResource

    event_id = session.scalar(
        select(EmergencyResource.event_id).where(EmergencyResource.resource_code == resource_code)
    )
    return None if event_id is None else str(event_id)


def _subject_key_items(entry: CatalogEntry) -> tuple[str, ...]:
    return tuple(i.name for i in entry.items if i.data_type in SUBJECT_TYPES)


def subject_key_items(session: Session, resource_code: str) -> list[str]:
    """R26: the items that identify a person or a company (their values go to the audit log, hashed)."""
    try:
        return list(resource_view(session, resource_code).subject_key_items)
    except NotFound:
        return []


@dataclass(frozen=True)
class SharingTerms:
    """R15–R18: what a consumer must satisfy to use an entry — its stated conditions (R17), the legal
    basis of not sharing (R18), the sharing methods offered (R19), its name and provider."""

    resource_code: str
    name: str
    provider_org_id: int
    sharing_attribute: str
    conditions: tuple[dict[str, Any], ...]
    legal_basis: str
    methods: tuple[str, ...]
    items: tuple[str, ...]
    item_labels: dict[str, str]
    published: bool


def sharing_terms(session: Session, resource_code: str) -> SharingTerms:
    """R15–R19: the entry's sharing terms, as the sharing services need them."""
    entry = session.scalar(select(CatalogEntry).where(CatalogEntry.resource_code == resource_code))
    if entry is None:
        raise NotFound(
            "catalog.entry_not_found",
            f"没有资源代码为 {resource_code} 的目录",
            f"No catalog entry {resource_code}",
        )
    ordered = sorted(entry.items, key=lambda i: i.seq)
    return SharingTerms(
        resource_code=entry.resource_code,
        name=entry.name,
        provider_org_id=entry.provider_org_id,
        sharing_attribute=entry.sharing_attribute,
        conditions=tuple(dict(c) for c in entry.sharing_conditions or []),
        legal_basis=entry.legal_basis or "",
        methods=tuple(entry.sharing_methods or []),
        items=tuple(i.name for i in ordered),
        item_labels={i.name: i.label_zh or i.name for i in ordered},
        published=entry.status == "published",
    )


def resource_codes_of(session: Session, provider_org_ids: set[int] | None) -> list[str]:
    """R26: the resource codes the given organisations provide (None: every provider's)."""
    stmt = select(CatalogEntry.resource_code)
    if provider_org_ids is not None:
        stmt = stmt.where(CatalogEntry.provider_org_id.in_(provider_org_ids))
    return list(session.scalars(stmt))
