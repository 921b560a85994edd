"""What other domains need to know about a catalog entry to decide data access (a service function:
domains never read the catalog's tables themselves)."""

from __future__ import annotations

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
    )


def subject_key_items(session: Session, resource_code: str) -> list[str]:
    """R26: the items that identify a person or a company (their values go to the audit log, hashed)."""
    entry = session.scalar(select(CatalogEntry).where(CatalogEntry.resource_code == resource_code))
    if entry is None:
        return []
    return [i.name for i in entry.items if i.data_type in ("id_number", "uscc")]
