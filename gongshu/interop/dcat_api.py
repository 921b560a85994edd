"""R6 R22: DCAT-AP 3.0 of the published catalog — /catalog.ttl and /catalog.jsonld (paged), and
/catalog/<code>.ttl and .jsonld per entry. Registered before the catalog pages so that /catalog/<code>
does not swallow the suffixed paths. Thin: the graph is built in `dcat`."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from gongshu.interop import dcat
from gongshu.kernel.db import read_scope
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.policy import service as policy_service
from gongshu.web.deps import current_actor

router = APIRouter(tags=["dcat"])
Anyone = Annotated[Actor, Depends(current_actor)]
Ext = Literal["ttl", "jsonld"]
MAX_PAGE_SIZE = 100  # the catalog search's largest page


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _catalog(request: Request, actor: Actor, ext: Ext, page: int, page_size: int) -> Response:
    base = _base(request)
    with read_scope() as s:
        graph, info = dcat.catalog_graph(s, actor, policy_service.at(s), base, page, page_size, ext)
        body = dcat.serialize(graph, ext)
    links = [f'<{dcat.page_url(base, ext, 1, page_size)}>; rel="first"']
    if page < info.last:
        links.append(f'<{dcat.page_url(base, ext, page + 1, page_size)}>; rel="next"')
    return Response(body, media_type=dcat.MEDIA_TYPES[ext], headers={"Link": ", ".join(links)})


@router.get("/catalog.ttl")
def catalog_turtle(
    request: Request,
    actor: Anyone,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> Response:
    """R6 R22: a page of the catalog as DCAT-AP 3.0 Turtle."""
    return _catalog(request, actor, "ttl", page, page_size)


@router.get("/catalog.jsonld")
def catalog_jsonld(
    request: Request,
    actor: Anyone,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> Response:
    """R6 R22: a page of the catalog as DCAT-AP 3.0 JSON-LD."""
    return _catalog(request, actor, "jsonld", page, page_size)


def _entry(request: Request, actor: Actor, code: str, ext: Ext) -> Response:
    with read_scope() as s:
        graph = dcat.entry_graph(s, actor, policy_service.at(s), _base(request), code)
        return Response(dcat.serialize(graph, ext), media_type=dcat.MEDIA_TYPES[ext])


@router.get("/catalog/{code}.ttl")
def entry_turtle(request: Request, actor: Anyone, code: str) -> Response:
    """R6: one published entry as a DCAT-AP 3.0 dataset (Turtle); 404 when the caller may not see it."""
    return _entry(request, actor, code, "ttl")


@router.get("/catalog/{code}.jsonld")
def entry_jsonld(request: Request, actor: Anyone, code: str) -> Response:
    """R6: one published entry as a DCAT-AP 3.0 dataset (JSON-LD); 404 when the caller may not see it."""
    return _entry(request, actor, code, "jsonld")
