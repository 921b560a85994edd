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
from sqlalchemy import (
    Boolean,
    Float,
    Integer,
    String,
    and_,
    cast,
    desc,
    func,
    literal,
    literal_column,
    select,
    text,
    union_all,
)
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


def visibility(actor: Actor, *, sqlite_hint: bool = False) -> ColumnElement[bool]:
    """R15 R22: published entries; the public sees only those open generally or on application, while
    government users see the whole shared catalog.

    `sqlite_hint` tells SQLite's planner that most entries are published, so that a full-text query
    drives the join (each match fetched by primary key) instead of the status index probing the
    full-text table once per entry."""
    published: ColumnElement[bool] = CatalogEntry.status == "published"
    if sqlite_hint:
        published = func.likelihood(published, literal_column("0.9375"), type_=Boolean)
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


def _filter_conditions(
    filters: dict[str, list[str]], skip: str | None = None, source: Any = None
) -> list[ColumnElement[bool]]:
    """The facet filters (all but `skip`) over the entry table, or over the same columns of `source`."""
    conds: list[ColumnElement[bool]] = []
    for name, values in filters.items():
        if name == skip or name not in FACETS or not values:
            continue
        column = FACETS[name][0] if source is None else source.c[FACETS[name][0].key]
        if name == "provider":
            conds.append(column.in_([int(v) for v in values if str(v).isdigit()]))
        else:
            conds.append(column.in_(values))
    return conds


def _candidates(session: Session, actor: Actor, terms: list[QueryTerm]) -> Any:
    """The visible entries matching the query, narrowed to what ranking, filters and facets need, as a
    materialized CTE: the full-text match runs once per statement and drives the join by primary key."""
    facet_columns = [column for column, _ in FACETS.values()]
    visible = visibility(actor, sqlite_hint=bool(terms) and session.get_bind().dialect.name == "sqlite")
    if terms:
        m = _matches(session, terms)
        stmt = select(CatalogEntry.id, m.c.score.label("score"), CatalogEntry.updated_at, *facet_columns)
        stmt = stmt.select_from(m).join(CatalogEntry, CatalogEntry.id == m.c.entry_id)
    else:
        score = literal_column("0.0", Float).label("score")
        stmt = select(CatalogEntry.id, score, CatalogEntry.updated_at, *facet_columns)
    return stmt.where(visible).cte("candidates").prefix_with("MATERIALIZED")


def search(
    session: Session,
    actor: Actor,
    q: str = "",
    filters: dict[str, list[str]] | None = None,
    sort: str = "relevance",
    limit: int = 20,
    offset: int = 0,
    lang: str = "zh",
    with_facets: bool = True,
) -> SearchResult:
    """R6: search the published catalog as `actor` may see it, with facet counts (unless `with_facets` is
    false, as for an export that pages through the result).

    Facet counts follow the query and every other facet's filter (a chosen value's alternatives stay
    visible with their counts). Two statements: the page of ids with the total and every facet's counts
    (one UNION ALL over the materialized candidates: the match runs once), then the page's entries."""
    filters = filters or {}
    terms = parse_query(q)
    cand = _candidates(session, actor, terms)
    conds = _filter_conditions(filters, source=cand)
    by_score = bool(terms) and sort != "updated"
    order = [desc(cand.c.score)] if by_score else []
    order += [desc(cand.c.updated_at), desc(cand.c.id)]
    page = (
        select(cand.c.id, cand.c.score, cand.c.updated_at)
        .where(*conds)
        .order_by(*order)
        .limit(max(1, min(limit, 100)))
        .offset(max(0, offset))
        .subquery("page")
    )
    parts = [
        select(
            literal(PAGE, String),
            literal("", String),
            page.c.id,
            cast(page.c.score, Float),
            page.c.updated_at,
        ),
        select(literal(TOTAL, String), literal("", String), func.count(), *_none())
        .select_from(cand)
        .where(*conds),
    ]
    if with_facets:
        for name, (column, _) in FACETS.items():
            col = cand.c[column.key]
            parts.append(
                select(literal(name, String), cast(col, String), func.count(), *_none())
                .where(*_filter_conditions(filters, skip=name, source=cand))
                .group_by(col)
            )
    rows = session.execute(union_all(*parts)).all()
    # The page in the statement's order (a UNION ALL need not keep it): score, date, id, all descending.
    page_rows = [(int(i), float(sc or 0.0), at) for f, _, i, sc, at in rows if f == PAGE]
    page_rows.sort(key=lambda r: (r[1] if by_score else 0.0, r[2], r[0]), reverse=True)
    total = next((int(n) for f, _, n, _, _ in rows if f == TOTAL), 0)
    ids = [i for i, _, _ in page_rows]
    by_id = (
        {e.id: e for e in session.scalars(select(CatalogEntry).where(CatalogEntry.id.in_(ids)))}
        if ids
        else {}
    )
    providers = _provider_names(session, {e.provider_org_id for e in by_id.values()}, lang)
    hits = [
        SearchHit(by_id[i], providers.get(by_id[i].provider_org_id, ""), sc)
        for i, sc, _ in page_rows
        if i in by_id
    ]
    counts = [(f, v, int(n)) for f, v, n, _, _ in rows if f in FACETS]
    return SearchResult(total, hits, _facets(session, counts, lang) if with_facets else {})


PAGE, TOTAL = "#page", "#total"


def _none() -> tuple[Any, Any]:
    """The score and date columns of the count rows (only the page's rows have them)."""
    return cast(literal(None), Float), cast(literal(None), CatalogEntry.updated_at.type)


def _provider_names(session: Session, ids: set[int], lang: str) -> dict[int, str]:
    if not ids:
        return {}
    return {o.id: o.name(lang) for o in session.scalars(select(Organisation).where(Organisation.id.in_(ids)))}


def _facets(session: Session, rows: list[tuple[str, str, int]], lang: str) -> dict[str, list[FacetValue]]:
    """Each facet's values with their counts, most frequent first, labelled from the policy (R30)."""
    pol = policy_service.at(session)
    counted: dict[str, list[tuple[str, int]]] = {name: [] for name in FACETS}
    for facet, value, n in rows:
        if value not in (None, ""):
            counted[facet].append((str(value), n))
    out: dict[str, list[FacetValue]] = {}
    for name, (_, group) in FACETS.items():
        values = sorted(counted[name], key=lambda vn: (-vn[1], int(vn[0]) if name == "provider" else vn[0]))
        if name == "provider":
            names = _provider_names(session, {int(v) for v, _ in values}, lang)
            out[name] = [FacetValue(v, names.get(int(v), v), n) for v, n in values]
        else:
            out[name] = [FacetValue(v, pol.label(group, v, lang) if group else v, n) for v, n in values]
    return out
