"""R6: the city-wide catalog's full-text search, in Chinese and English, with facets.

Text is segmented with jieba (cut_for_search) and, in addition, every CJK character is indexed as its own
token in reading order: a one-character query (婚) finds 婚姻登记, and a query of several characters is
matched as a phrase of characters, whatever jieba made of it. SQLite indexes the document in an FTS5 table,
PostgreSQL with a GIN index over to_tsvector('simple', ...). Visibility is part of the query (R15, R22).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import jieba
from sqlalchemy import Float, Integer, Select, and_, desc, func, literal_column, select, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from gongshu.catalog.models import CatalogEntry, CatalogSearchDoc
from gongshu.catalog.validation import PUBLIC_OPEN
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import GOVERNMENT_KINDS, Organisation
from gongshu.kernel.policy import service as policy_service
from gongshu.kernel.timeutil import now

jieba.setLogLevel(60)

CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
LATIN_WORD = re.compile(r"[A-Za-z0-9]+")
TOKEN = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaffA-Za-z0-9]+$")
# Facet name → entry column; the policy group that labels its values, if any.
FACETS: dict[str, tuple[Any, str | None]] = {
    "provider": (CatalogEntry.provider_org_id, None),
    "catalog_kind": (CatalogEntry.catalog_kind, "catalog_kinds"),
    "topic": (CatalogEntry.topic, None),
    "sharing_attribute": (CatalogEntry.sharing_attribute, "sharing_attributes"),
    "open_attribute": (CatalogEntry.open_attribute, "open_attributes"),
    "format": (CatalogEntry.format, None),
    "update_cycle": (CatalogEntry.update_cycle, "update_cycles"),
    "grade": (CatalogEntry.grade, "grades"),
}
SORTS = ("relevance", "updated")


def segment(value: str) -> list[str]:
    """jieba words (lower-cased) followed by every CJK character in reading order."""
    words = [w.lower() for w in jieba.cut_for_search(value) if TOKEN.match(w)]
    chars = [ch for run in CJK_RUN.findall(value) for ch in run]
    return words + chars


def document_body(entry: CatalogEntry, provider: Organisation | None) -> str:
    """The searchable text of an entry: name, summary, items (names and labels), keywords, provider."""
    parts = [entry.name, entry.name_en, entry.summary, " ".join(str(k) for k in entry.keywords), entry.topic]
    for item in entry.items:
        parts += [item.name.replace("_", " "), item.label_zh, item.label_en]
    if provider is not None:
        parts += [provider.name_zh, provider.name_en]
    return " ".join(" ".join(segment(p)) for p in parts if p)


def index_entry(session: Session, entry: CatalogEntry) -> None:
    """Index (or re-index) a published entry; called on publication and on an approved change."""
    body = document_body(entry, session.get(Organisation, entry.provider_org_id))
    doc = session.get(CatalogSearchDoc, entry.id)
    if doc is None:
        session.add(CatalogSearchDoc(entry_id=entry.id, body=body, updated_at=now()))
    else:
        doc.body, doc.updated_at = body, now()
    session.flush()


def unindex_entry(session: Session, entry_id: int) -> None:
    """Remove an entry from the index (a withdrawn entry is no longer found by search)."""
    doc = session.get(CatalogSearchDoc, entry_id)
    if doc is not None:
        session.delete(doc)
        session.flush()


@dataclass(frozen=True)
class QueryTerm:
    """One term of a query: a CJK run (matched as its jieba word or as a phrase of characters) or a Latin
    word (matched as a prefix)."""

    chars: tuple[str, ...] = ()
    prefix: str = ""


def parse_query(q: str) -> list[QueryTerm]:
    terms: list[QueryTerm] = []
    for m in re.finditer(f"{CJK_RUN.pattern}|{LATIN_WORD.pattern}", q or ""):
        word = m.group(0)
        if CJK_RUN.fullmatch(word):
            terms.append(QueryTerm(chars=tuple(word)))
        else:
            terms.append(QueryTerm(prefix=word.lower()))
    return terms


def fts5_query(terms: list[QueryTerm]) -> str:
    out = []
    for t in terms:
        if t.chars:
            whole = "".join(t.chars)
            out.append(f'("{whole}" OR "{" ".join(t.chars)}")' if len(t.chars) > 1 else f'"{whole}"')
        else:
            out.append(f'"{t.prefix}" *')
    return " AND ".join(out)


def tsquery(terms: list[QueryTerm]) -> str:
    out = []
    for t in terms:
        if t.chars:
            whole = "".join(t.chars)
            out.append(f"({whole} | {' <-> '.join(t.chars)})" if len(t.chars) > 1 else whole)
        else:
            out.append(f"{t.prefix}:*")
    return " & ".join(out)


def _matches(session: Session, terms: list[QueryTerm]) -> Any:
    """A subquery (entry_id, score) of the documents matching every term; higher score is better."""
    if session.get_bind().dialect.name == "sqlite":
        stmt = text(
            "SELECT rowid AS entry_id, -bm25(catalog_fts) AS score FROM catalog_fts "
            "WHERE catalog_fts MATCH :q"
        ).bindparams(q=fts5_query(terms))
        return stmt.columns(entry_id=Integer, score=Float).subquery("m")
    tsv = func.to_tsvector(literal_column("'simple'::regconfig"), CatalogSearchDoc.body)
    tsq = func.to_tsquery(literal_column("'simple'::regconfig"), tsquery(terms))
    return (
        select(CatalogSearchDoc.entry_id.label("entry_id"), func.ts_rank(tsv, tsq).label("score"))
        .where(tsv.op("@@")(tsq))
        .subquery("m")
    )


def visibility(actor: Actor) -> ColumnElement[bool]:
    """R15 R22: published entries; the public sees only those open generally or on application, while
    government users see the whole shared catalog."""
    published = CatalogEntry.status == "published"
    if actor.is_system or (not actor.is_anonymous and actor.org_kind in {k.value for k in GOVERNMENT_KINDS}):
        return published
    return and_(published, CatalogEntry.open_attribute.in_(PUBLIC_OPEN))


@dataclass(frozen=True)
class SearchHit:
    entry: CatalogEntry
    provider_name: str
    score: float


@dataclass(frozen=True)
class FacetValue:
    value: str
    label: str
    count: int


@dataclass
class SearchResult:
    total: int
    hits: list[SearchHit]
    facets: dict[str, list[FacetValue]] = field(default_factory=dict)


def _filter_conditions(filters: dict[str, list[str]], skip: str | None = None) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    for name, values in filters.items():
        if name == skip or name not in FACETS or not values:
            continue
        column = FACETS[name][0]
        if name == "provider":
            conds.append(column.in_([int(v) for v in values if str(v).isdigit()]))
        else:
            conds.append(column.in_(values))
    return conds


def search(
    session: Session,
    actor: Actor,
    q: str = "",
    filters: dict[str, list[str]] | None = None,
    sort: str = "relevance",
    limit: int = 20,
    offset: int = 0,
    lang: str = "zh",
) -> SearchResult:
    """R6: search the published catalog as `actor` may see it, with facet counts.

    Facet counts follow the query and every other facet's filter (a chosen value's alternatives stay
    visible with their counts)."""
    filters = filters or {}
    terms = parse_query(q)
    base: Select[CatalogEntry, Any]
    if terms:
        m = _matches(session, terms)
        base = select(CatalogEntry, m.c.score).join(m, m.c.entry_id == CatalogEntry.id)
        score = m.c.score
    else:
        base = select(CatalogEntry, literal_column("0.0").label("score"))
        score = None
    base = base.join(CatalogSearchDoc, CatalogSearchDoc.entry_id == CatalogEntry.id).where(visibility(actor))

    filtered = base.where(*_filter_conditions(filters))
    total = int(session.scalar(select(func.count()).select_from(filtered.subquery())) or 0)
    order = [desc(score), desc(CatalogEntry.updated_at)] if score is not None and sort != "updated" else []
    order += [desc(CatalogEntry.updated_at), desc(CatalogEntry.id)]
    rows = session.execute(
        filtered.order_by(*order).limit(max(1, min(limit, 100))).offset(max(0, offset))
    ).all()
    providers = _provider_names(session, {r[0].provider_org_id for r in rows}, lang)
    hits = [SearchHit(r[0], providers.get(r[0].provider_org_id, ""), float(r[1] or 0.0)) for r in rows]
    return SearchResult(total, hits, _facets(session, base, filters, lang))


def _provider_names(session: Session, ids: set[int], lang: str) -> dict[int, str]:
    if not ids:
        return {}
    return {o.id: o.name(lang) for o in session.scalars(select(Organisation).where(Organisation.id.in_(ids)))}


def _facets(
    session: Session, base: Select[CatalogEntry, Any], filters: dict[str, list[str]], lang: str
) -> dict[str, list[FacetValue]]:
    pol = policy_service.at(session)
    out: dict[str, list[FacetValue]] = {}
    for name, (column, group) in FACETS.items():
        sub = base.where(*_filter_conditions(filters, skip=name)).subquery()
        col = sub.c[column.key]
        counts = session.execute(
            select(col, func.count()).group_by(col).order_by(desc(func.count()), col)
        ).all()
        values = [(str(v), int(n)) for v, n in counts if v not in (None, "")]
        if name == "provider":
            names = _provider_names(session, {int(v) for v, _ in values}, lang)
            out[name] = [FacetValue(v, names.get(int(v), v), n) for v, n in values]
        else:
            out[name] = [FacetValue(v, pol.label(group, v, lang) if group else v, n) for v, n in values]
    return out
