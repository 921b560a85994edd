"""R5 R15 R22: who may see a catalog entry, and who may edit it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.catalog.models import CatalogEntry
from gongshu.catalog.validation import PUBLIC_OPEN
from gongshu.kernel.access.policy import Action
from gongshu.kernel.access.service import decide
from gongshu.kernel.errors import NotFound
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import GOVERNMENT_KINDS

if TYPE_CHECKING:
    from gongshu.catalog.data_view import EntryView


def can_edit(session: Session, actor: Actor, entry: CatalogEntry | EntryView) -> bool:
    """R5: the provider's catalog officers (and those of its managing department)."""
    return decide(session, actor, Action.CATALOG_COMPILE, org_id=entry.provider_org_id).allowed


def can_view(session: Session, actor: Actor, entry: CatalogEntry | EntryView) -> bool:
    """R15 R22: published (or withdrawn) metadata is public when the data is open generally or on
    application; the rest of the catalog is for logged-in government users; drafts only for the
    provider's officers and the authority's reviewers."""
    if (
        actor.is_system
        or can_edit(session, actor, entry)
        or decide(session, actor, Action.CATALOG_REVIEW).allowed
    ):
        return True
    if entry.status not in ("published", "withdrawn"):
        return False
    if entry.open_attribute in PUBLIC_OPEN:
        return True
    return not actor.is_anonymous and actor.org_kind in {k.value for k in GOVERNMENT_KINDS}


def get_entry(session: Session, actor: Actor, code: str) -> CatalogEntry:
    """An entry by resource code if the actor may see it; NotFound otherwise (the same as a missing one)."""
    entry = session.scalar(select(CatalogEntry).where(CatalogEntry.resource_code == code))
    if entry is None or not can_view(session, actor, entry):
        raise NotFound("catalog.not_found", f"没有目录 {code}", f"No catalog entry {code}")
    return entry
