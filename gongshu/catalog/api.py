"""R6: the catalog API — search the published catalog, read an entry, compile a draft, submit it.
Thin: every rule lives in the catalog services."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from gongshu.catalog import search, service
from gongshu.catalog.models import CatalogEntry
from gongshu.catalog.schemas import EntryInput, EntryOut, SearchHitOut, SearchOut
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.identity.actor import Actor
from gongshu.web.deps import MAX_ID, csrf_protect, current_actor, require_actor

router = APIRouter(prefix="/api/v1/catalog", tags=["catalog"])
Anyone = Annotated[Actor, Depends(current_actor)]
LoggedIn = Annotated[Actor, Depends(require_actor)]
Protected = [Depends(csrf_protect)]


def entry_out(entry: CatalogEntry) -> EntryOut:
    return EntryOut(
        resource_code=entry.resource_code,
        status=entry.status,
        current_version=entry.current_version,
        provider_org_id=entry.provider_org_id,
        published_at=entry.published_at,
        updated_at=entry.updated_at,
        review_case_id=entry.review_case_id,
        data=service.snapshot(entry),
    )


def facet_filters(request: Request) -> dict[str, list[str]]:
    """Facet filters from the query string: ?format=csv&format=xlsx&provider=3 ..."""
    return {
        name: request.query_params.getlist(name) for name in search.FACETS if name in request.query_params
    }


@router.get("", response_model=SearchOut)
def search_catalog(
    request: Request,
    actor: Anyone,
    q: Annotated[str, Query(max_length=200)] = "",
    sort: Annotated[str, Query(pattern="^(relevance|updated)$")] = "relevance",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> SearchOut:
    """R6: full-text search of the published catalog (Chinese and English) with facets; facet filters are
    repeated query parameters named after the facets."""
    lang = str(getattr(request.state, "lang", "zh"))
    with read_scope() as s:
        result = search.search(s, actor, q, facet_filters(request), sort, limit, offset, lang)
        hits = [
            SearchHitOut(
                resource_code=h.entry.resource_code,
                name=h.entry.name,
                name_en=h.entry.name_en,
                provider=h.provider_name,
                summary=h.entry.summary,
                updated_at=h.entry.updated_at,
                score=h.score,
            )
            for h in result.hits
        ]
        facets: dict[str, list[dict[str, Any]]] = {
            name: [{"value": v.value, "label": v.label, "count": v.count} for v in values]
            for name, values in result.facets.items()
        }
        return SearchOut(total=result.total, hits=hits, facets=facets)


@router.get("/{code}", response_model=EntryOut)
def get_entry(actor: Anyone, code: str) -> EntryOut:
    """R6 R15 R22: an entry, if the caller may see it (404 otherwise)."""
    with read_scope() as s:
        return entry_out(service.get_entry(s, actor, code))


@router.post("", response_model=EntryOut, status_code=201, dependencies=Protected)
def create_entry(actor: LoggedIn, data: EntryInput) -> EntryOut:
    """R6: compile a draft entry (a 422 lists every field error in `error.details.errors`)."""
    with session_scope() as s:
        return entry_out(service.create_draft(s, actor, data))


@router.post("/{code}/submit", dependencies=Protected)
def submit_entry(actor: LoggedIn, code: str) -> dict[str, Any]:
    """R6: submit a draft for the authority's review; returns the case."""
    with session_scope() as s:
        entry = service.get_entry(s, actor, code)
        case = service.submit_for_review(s, actor, entry.id)
        return {"case_id": case.id, "case_number": case.number, "status": entry.status}
