"""What other domains need to know about a catalog entry to decide data access (a service function:
domains never read the catalog's tables themselves)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.catalog.models import CatalogEntry
from gongshu.kernel.access.service import DataResource
from gongshu.kernel.errors import NotFound

PERSONAL_SENSITIVITIES = frozenset({"personal", "secret"})
PERSONAL_TYPES = frozenset({"id_number"})


def data_resource(session: Session, resource_code: str) -> DataResource:
    """R15–R18, R22: the entry as the access decision point sees it — provider, attributes, items, and the
    items that are personal (withheld from the public until de-identified, R22)."""
    entry = session.scalar(select(CatalogEntry).where(CatalogEntry.resource_code == resource_code))
    if entry is None:
        raise NotFound(
            "catalog.entry_not_found",
            f"没有资源代码为 {resource_code} 的目录",
            f"No catalog entry {resource_code}",
        )
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


def subject_key_items(session: Session, resource_code: str) -> list[str]:
    """R26: the items that identify a person or a company (their values go to the audit log, hashed)."""
    entry = session.scalar(select(CatalogEntry).where(CatalogEntry.resource_code == resource_code))
    if entry is None:
        return []
    return [i.name for i in entry.items if i.data_type in ("id_number", "uscc")]


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
