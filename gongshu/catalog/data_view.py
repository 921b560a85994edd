"""What other domains need to know about a catalog entry: to decide data access, and to work with the
entry's metadata and items (frozen views: the store, aggregation, quality, data return and interop read
entries only through the functions here; domains never read the catalog's tables themselves)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Collection
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.catalog.models import CatalogEntry, CatalogGeneration
from gongshu.catalog.search import search
from gongshu.catalog.visibility import get_entry
from gongshu.kernel.access.service import DataResource
from gongshu.kernel.db import core_connection
from gongshu.kernel.errors import NotFound
from gongshu.kernel.identity.actor import Actor

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


_GENERATION = select(CatalogGeneration.token).where(CatalogGeneration.id == 1)
_urls: dict[int, str] = {}


def _url_of(session: Session) -> str:
    """The database's address as text (kept per engine: rendering a URL costs more than the read)."""
    engine = session.get_bind().engine
    url = _urls.get(id(engine))
    if url is None:
        url = _urls[id(engine)] = str(engine.url)
    return url


def resource_view(session: Session, resource_code: str) -> ResourceView:
    """R15–R18, R22, R26: the entry's view for the decision point and the read audit — one primary-key
    read of the catalog generation when the published entry's view is kept, else read (and kept, if
    published) under the generation read in the same transaction."""
    # The one generation row (`search.GENERATION_ID`), read on the transaction's connection with a
    # statement made once (no ORM work: this read is on every data request).
    token = core_connection(session).execute(_GENERATION).scalar()
    key = (_url_of(session), token or "", resource_code)
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
    name_en: str = ""


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
        name_en=entry.name_en or "",
    )


def resource_codes_of(session: Session, provider_org_ids: set[int] | None) -> list[str]:
    """R26: the resource codes the given organisations provide (None: every provider's)."""
    stmt = select(CatalogEntry.resource_code)
    if provider_org_ids is not None:
        stmt = stmt.where(CatalogEntry.provider_org_id.in_(provider_org_ids))
    return list(session.scalars(stmt))


# ---- entries as other domains read them (frozen views; the catalog's rows never leave the catalog) ----


@dataclass(frozen=True)
class ItemView:
    """R6 R10: one information item of an entry, frozen."""

    seq: int
    name: str
    label_zh: str
    label_en: str
    data_type: str
    length: int | None
    is_key: bool
    sensitivity: str
    description: str


@dataclass(frozen=True)
class EntryView:
    """R6 R9 R10 R22 R24: an entry's metadata in force and its items (in order), frozen — what the store,
    aggregation, quality, data return and interop read of an entry. A change under review (`pending`) is
    the catalog's own business and is not part of it."""

    id: int
    resource_code: str
    catalog_kind: str
    category_code: str
    name: str
    name_en: str
    provider_org_id: int
    summary: str
    format: str
    topic: str
    keywords: tuple[Any, ...]
    sharing_attribute: str
    sharing_conditions: tuple[Any, ...]
    legal_basis: str
    sharing_methods: tuple[str, ...]
    open_attribute: str
    open_conditions: tuple[Any, ...]
    not_open_reason: str
    update_cycle: str
    grade: str
    contains_personal_info: bool
    deidentified: bool
    subject_kind: str
    related_codes: tuple[Any, ...]
    status: str
    current_version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    published_at: dt.datetime | None
    withdrawn_at: dt.datetime | None
    items: tuple[ItemView, ...]


def _copy(values: list[Any] | None) -> tuple[Any, ...]:
    return tuple(dict(v) if isinstance(v, dict) else v for v in values or [])


def _frozen(row: Any, view: type[Any]) -> dict[str, Any]:
    """The fields of dataclass `view` read from `row`; list fields (JSON columns) become tuples."""
    return {
        f.name: _copy(getattr(row, f.name)) if str(f.type).startswith("tuple") else getattr(row, f.name)
        for f in fields(view)
        if f.name != "items"
    }


def _entry_view(entry: CatalogEntry) -> EntryView:
    items = sorted(entry.items, key=lambda i: i.seq)
    return EntryView(
        **_frozen(entry, EntryView), items=tuple(ItemView(**_frozen(i, ItemView)) for i in items)
    )


def find_entry(session: Session, resource_code: str) -> EntryView | None:
    """R6 R7 R10 R14: the entry `resource_code` whatever its status, or None — the caller states its own
    refusal (an unpublished entry, for one, is refused as the caller's rule says)."""
    entry = session.scalar(select(CatalogEntry).where(CatalogEntry.resource_code == resource_code))
    return None if entry is None else _entry_view(entry)


def entry_by_id(session: Session, entry_id: int) -> EntryView | None:
    """R20: the entry with the id `entry_id` (a draft returned for correction, for one), or None."""
    entry = session.get(CatalogEntry, entry_id)
    return None if entry is None else _entry_view(entry)


def published_entries(
    session: Session,
    *,
    subject_kind: str | None = None,
    provider_org_ids: Collection[int] | None = None,
) -> list[EntryView]:
    """R7 R9 R10 R14 R20: the published entries (about one kind of subject, of the given providers; None:
    any), by resource code — for freshness (R9), the base look-ups (R10), a subject's own data (R14), the
    return resources (R20) and the tables the store still owes (R7)."""
    stmt = select(CatalogEntry).where(CatalogEntry.status == "published")
    if subject_kind is not None:
        stmt = stmt.where(CatalogEntry.subject_kind == subject_kind)
    if provider_org_ids is not None:
        stmt = stmt.where(CatalogEntry.provider_org_id.in_(list(provider_org_ids)))
    return [_entry_view(e) for e in session.scalars(stmt.order_by(CatalogEntry.resource_code))]


def base_resource_entries(
    session: Session, name_zh: str, provider_org_ids: Collection[int], resource_codes: Collection[str]
) -> list[EntryView]:
    """R11 R12: the published entries that hold a base resource — those of its responsible providers
    named as the policy names the resource, and those mapped to it (`resource_codes`) — by resource code."""
    by_name = (CatalogEntry.name == name_zh) & CatalogEntry.provider_org_id.in_(list(provider_org_ids))
    stmt = (
        select(CatalogEntry)
        .where(
            CatalogEntry.status == "published",
            by_name | CatalogEntry.resource_code.in_(list(resource_codes)),
        )
        .order_by(CatalogEntry.resource_code)
    )
    return [_entry_view(e) for e in session.scalars(stmt)]


@dataclass(frozen=True)
class EntryLabel:
    """R7 R13: how pages name a resource and whose it is."""

    resource_code: str
    name: str
    name_en: str
    provider_org_id: int


def entry_labels(session: Session, provider_org_ids: Collection[int] | None = None) -> dict[str, EntryLabel]:
    """R7 R13: the name and provider of every entry (of the given providers; None: every provider's), by
    resource code — for the store's resource lists and the quality scores."""
    stmt = select(
        CatalogEntry.resource_code, CatalogEntry.name, CatalogEntry.name_en, CatalogEntry.provider_org_id
    )
    if provider_org_ids is not None:
        stmt = stmt.where(CatalogEntry.provider_org_id.in_(list(provider_org_ids)))
    return {code: EntryLabel(code, name, name_en, org) for code, name, name_en, org in session.execute(stmt)}


def entry_label(session: Session, resource_code: str) -> EntryLabel | None:
    """R7: the name and provider of the entry `resource_code`, or None."""
    row = session.execute(
        select(CatalogEntry.name, CatalogEntry.name_en, CatalogEntry.provider_org_id).where(
            CatalogEntry.resource_code == resource_code
        )
    ).first()
    return None if row is None else EntryLabel(resource_code, row[0], row[1], row[2])


def visible_entry(session: Session, actor: Actor, resource_code: str) -> EntryView:
    """R6 R15 R22: the entry `resource_code` if the actor may see it (the catalog's visibility rules);
    NotFound otherwise, the same as for a missing one — for the CKAN and DCAT-AP views."""
    return _entry_view(get_entry(session, actor, resource_code))


def search_entries(
    session: Session,
    actor: Actor,
    q: str = "",
    filters: dict[str, list[str]] | None = None,
    sort: str = "relevance",
    limit: int = 20,
    offset: int = 0,
    lang: str = "zh",
) -> tuple[int, list[tuple[EntryView, float]]]:
    """R6 R15 R22: one page of the catalog's own search as the actor may see it (without facets): the
    total and each hit's entry with its relevance — for the CKAN and DCAT-AP views."""
    result = search(session, actor, q, filters, sort, limit, offset, lang, with_facets=False)
    return result.total, [(_entry_view(h.entry), h.score) for h in result.hits]
