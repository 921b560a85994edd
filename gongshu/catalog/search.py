"""R6: the city-wide catalog's full-text search, in Chinese and English, with facets.

Text is segmented with jieba (cut_for_search) and, in addition, every CJK character is indexed as its own
token in reading order: a one-character query (婚) finds 婚姻登记, and a query of several characters is
matched as a phrase of characters, whatever jieba made of it. SQLite indexes the document in an FTS5 table,
PostgreSQL in a stored tsvector column with a GIN index. Visibility is part of the query (R15, R22).
A Latin word is matched as a prefix (typing as you go: "Marri" finds marriage, "route" finds routes), and
an entry holding the whole word ranks above one holding only a longer word that starts with it ("bus":
bus routes before business licences). Punctuation and symbols are not indexed: a query made only of them
("%", "'") is searched as literal text and finds nothing (it is never an empty query that lists everything).
A query shaped like a resource code (letters, digits, "-" and "_", with a digit) finds the entry of that
code, or the entries whose code ends with it at a "-" (a sequence number such as "0009"), before any
full-text search.
On SQLite, a text query reads visibility, filters and facet values from `catalog_fts_facets`, a narrow
table kept beside the FTS5 index (same rowid), instead of one catalog row per hit.

Browsing without a query pages the visible entries from the (status, updated_at) index; its total and facet
counts (a scan of the whole visible catalog) are kept in a small in-process cache keyed by the index
generation (`catalog_generation`, bumped in the transaction of every index change and read with one tiny
query per search), the visibility class and the filters: every process reads the generation, so a
publication or a withdrawal is seen by the next search in every process.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import jieba
from sqlalchemy import (
    Boolean,
    Float,
    Integer,
    String,
    and_,
    case,
    cast,
    column,
    desc,
    func,
    literal,
    literal_column,
    select,
    table,
    text,
    union_all,
    update,
)
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from gongshu.catalog.models import CatalogEntry, CatalogGeneration, CatalogSearchDoc
from gongshu.catalog.schemas import vocabulary_label
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
# Facets whose values are labelled by a vocabulary of the compilation specification (schemas.py).
VOCABULARY_FACETS = {"format": "format"}
SORTS = ("relevance", "updated")
# R6: a query that can be a resource code or the end of one (a digit in it, no space).
CODE_QUERY = re.compile(r"[A-Za-z0-9_\-]*[0-9][A-Za-z0-9_\-]*")


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
    """Index (or re-index) a published entry; called on publication and on an approved change (of any
    field, the facet attributes and the provider included). Bumps the index generation."""
    body = document_body(entry, session.get(Organisation, entry.provider_org_id))
    doc = session.get(CatalogSearchDoc, entry.id)
    if doc is None:
        session.add(CatalogSearchDoc(entry_id=entry.id, body=body, updated_at=now()))
    else:
        doc.body, doc.updated_at = body, now()
    session.flush()
    bump_generation(session)


def unindex_entry(session: Session, entry_id: int) -> None:
    """Remove an entry from the index (a withdrawn entry is no longer found by search). Bumps the index
    generation."""
    doc = session.get(CatalogSearchDoc, entry_id)
    if doc is not None:
        session.delete(doc)
        session.flush()
    bump_generation(session)


GENERATION_ID = 1


def bump_generation(session: Session) -> None:
    """A new generation of the search index, in the caller's transaction: every cached browse summary
    keyed by the previous token is no longer used, in any process, once the transaction commits."""
    token = uuid.uuid4().hex
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(CatalogGeneration)
        .where(CatalogGeneration.id == GENERATION_ID)
        .values(generation=CatalogGeneration.generation + 1, token=token, updated_at=now())
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # a database whose row was removed (the migration creates it)
        session.add(CatalogGeneration(id=GENERATION_ID, generation=1, token=token, updated_at=now()))
    session.flush()


def generation_token(session: Session) -> str | None:
    """The index generation's token as this transaction sees it (None: no generation row, no caching)."""
    return session.scalar(select(CatalogGeneration.token).where(CatalogGeneration.id == GENERATION_ID))


class _LRU:
    """A small thread-safe least-recently-used map."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Any) -> Any:
        with self._lock:
            value = self._data.get(key)
            if value is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.hits = self.misses = 0


# (generation token, visibility class, filters) → (total, facet counts) of browsing without a query.
BROWSE_CACHE = _LRU(256)


def clear_cache() -> None:
    BROWSE_CACHE.clear()


@dataclass(frozen=True)
class QueryTerm:
    """One term of a query: a CJK run (matched as its jieba word or as a phrase of characters) or a Latin
    word (matched as a prefix)."""

    chars: tuple[str, ...] = ()
    prefix: str = ""


def unsearchable(q: str) -> bool:
    """R6: a query of punctuation and symbols only ("%", "'"): none of it is indexed, so it finds nothing
    (it is not an empty query, which lists the whole catalog)."""
    return bool(q.strip()) and not parse_query(q)


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


# R6: a match holding every Latin word of the query as a whole word ranks above one holding only longer
# words they begin ("bus": bus routes above business licences); the prefix match itself stays.
WHOLE_WORD_BONUS = 1000.0


def _latin_words(terms: list[QueryTerm]) -> list[str]:
    return [t.prefix for t in terms if t.prefix]


def _whole_word_bonus_sqlite(terms: list[QueryTerm]) -> Any:
    """R6, SQLite: the bonus of a row of `catalog_fts` whose document holds every Latin word whole (0 when the
    query has no Latin word): one more look-up of those words in the FTS5 index."""
    words = _latin_words(terms)
    if not words:
        return literal_column("0.0", Float)
    whole = text("SELECT rowid FROM catalog_fts WHERE catalog_fts MATCH :whole").bindparams(
        whole=" AND ".join(f'"{w}"' for w in words)
    )
    holds = literal_column("catalog_fts.rowid").in_(whole.columns(column("rowid", Integer)))
    return case((holds, literal_column(str(WHOLE_WORD_BONUS), Float)), else_=literal_column("0.0", Float))


def _whole_word_bonus_pg(tsv: ColumnElement[Any], terms: list[QueryTerm]) -> Any:
    """R6, PostgreSQL: the bonus of a document (its tsvector) holding every Latin word whole."""
    words = _latin_words(terms)
    if not words:
        return literal(0.0, Float)
    whole = func.to_tsquery(literal_column("'simple'::regconfig"), " & ".join(words))
    return case((tsv.op("@@")(whole), literal(WHOLE_WORD_BONUS, Float)), else_=literal(0.0, Float))


def _matches(session: Session, terms: list[QueryTerm]) -> Any:
    """A subquery (entry_id, score) of the documents matching every term; higher score is better."""
    if session.get_bind().dialect.name == "sqlite":
        fts = table("catalog_fts")
        bm25 = literal_column("-bm25(catalog_fts)", Float) + _whole_word_bonus_sqlite(terms)
        return (
            select(literal_column("catalog_fts.rowid", Integer).label("entry_id"), bm25.label("score"))
            .select_from(fts)
            .where(literal_column("catalog_fts").op("MATCH")(literal(fts5_query(terms), String)))
            .subquery("m")
        )
    # The stored to_tsvector('simple', body) with its GIN index (created by the migration).
    tsv: ColumnElement[Any] = literal_column(f"{CatalogSearchDoc.__tablename__}.tsv")
    tsq = func.to_tsquery(literal_column("'simple'::regconfig"), tsquery(terms))
    score = func.ts_rank(tsv, tsq) + _whole_word_bonus_pg(tsv, terms)
    return (
        select(CatalogSearchDoc.entry_id.label("entry_id"), score.label("score"))
        .select_from(CatalogSearchDoc)
        .where(tsv.op("@@")(tsq))
        .subquery("m")
    )


def visibility(actor: Actor, *, sqlite_hint: bool = False, source: Any = None) -> ColumnElement[bool]:
    """R15 R22: published entries; the public sees only those open generally or on application, while
    government users see the whole shared catalog. Over the entry table, or over the same columns of
    `source` (the SQLite facet table of the index).

    `sqlite_hint` tells SQLite's planner that most entries are published, so that a full-text query
    drives the join (each match fetched by primary key) instead of the status index probing the
    full-text table once per entry, and so that counting the whole catalog scans the table instead of
    fetching every entry through the status index."""
    status = CatalogEntry.status if source is None else source.c.status
    open_attribute = CatalogEntry.open_attribute if source is None else source.c.open_attribute
    published: ColumnElement[bool] = status == "published"
    if sqlite_hint:
        published = func.likelihood(published, literal_column("0.9375"), type_=Boolean)
    if visibility_class(actor) == "shared":
        return published
    return and_(published, open_attribute.in_(PUBLIC_OPEN))


def visibility_class(actor: Actor) -> str:
    """Who sees what of the catalog: "shared" (the system and government users: every published entry)
    or "public" (everyone else: the published entries open generally or on application)."""
    if actor.is_system or (not actor.is_anonymous and actor.org_kind in {k.value for k in GOVERNMENT_KINDS}):
        return "shared"
    return "public"


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


MAX_ORG_ID = 2**31 - 1


def _org_id(value: str) -> int | None:
    """A provider filter's value as an organisation id, if it can be one."""
    text = str(value).strip()
    return int(text) if text.isdigit() and int(text) <= MAX_ORG_ID else None


def _filter_conditions(
    filters: dict[str, list[str]], skip: str | None = None, source: Any = None
) -> list[ColumnElement[bool]]:
    """The facet filters (all but `skip`) over the entry table, or over the same columns of `source`."""
    conds: list[ColumnElement[bool]] = []
    for name, values in filters.items():
        if name == skip or name not in FACETS or not values:
            continue
        column = FACETS[name][0] if source is None else source.c[FACETS[name][0].key]
        if name == "provider":  # an id, or nothing (a bigger number than any id is no database error)
            conds.append(column.in_([int(v) for v in values if _org_id(v) is not None]))
        else:
            conds.append(column.in_(values))
    return conds


# SQLite: the columns visibility, the filters, the facets and the sort by date read, for every indexed
# entry, beside the FTS5 index (rowid = entry id = the FTS5 rowid). Created and kept by migration
# c9e4a7d2f15b: triggers on catalog_search_doc copy the entry's columns whenever the index changes
# (index_entry, unindex_entry). Not a model: it exists on SQLite only, like catalog_fts.
SQLITE_FACETS = table(
    "catalog_fts_facets",
    column("entry_id", Integer),
    column("status", String),
    column("open_attribute", String),
    column("provider_org_id", Integer),
    column("catalog_kind", String),
    column("topic", String),
    column("sharing_attribute", String),
    column("format", String),
    column("update_cycle", String),
    column("grade", String),
    column("updated_at", CatalogEntry.updated_at.type),
)


def _candidates_sqlite(
    actor: Actor, terms: list[QueryTerm], filters: dict[str, list[str]], by_score: bool
) -> Any:
    """SQLite, a text query: the visible matches with their facet columns, read from the FTS5 match
    joined on rowid to the narrow facet table (no catalog row per hit), as a materialized CTE. bm25 is
    computed only for the hits that pass every filter (the only ones the page is taken from), and only
    when the page is ordered by relevance; sorted by date, the page's scores are computed afterwards."""
    f = SQLITE_FACETS
    fts = table("catalog_fts")
    conds = _filter_conditions(filters, source=f)
    bm25 = literal_column("-bm25(catalog_fts)", Float) + _whole_word_bonus_sqlite(terms)
    if by_score and conds:
        score: Any = case((and_(*conds), bm25), else_=literal_column("NULL", Float)).label("score")
    elif by_score:
        score = bm25.label("score")
    else:
        score = literal_column("0.0", Float).label("score")
    facet_columns = [f.c[col.key] for col, _ in FACETS.values()]
    stmt = (
        select(f.c.entry_id.label("id"), score, f.c.updated_at, *facet_columns)
        .select_from(fts.join(f, f.c.entry_id == literal_column("catalog_fts.rowid")))
        .where(
            literal_column("catalog_fts").op("MATCH")(literal(fts5_query(terms), String)),
            visibility(actor, source=f),
        )
    )
    return stmt.cte("candidates").prefix_with("MATERIALIZED")


def _scores_sqlite(session: Session, terms: list[QueryTerm], ids: list[int]) -> dict[int, float]:
    """SQLite: the relevance of a few matching entries (the page), by rowid."""
    if not ids:
        return {}
    score = literal_column("-bm25(catalog_fts)", Float) + _whole_word_bonus_sqlite(terms)
    stmt = (
        select(literal_column("catalog_fts.rowid", Integer), score)
        .select_from(table("catalog_fts"))
        .where(
            literal_column("catalog_fts").op("MATCH")(literal(fts5_query(terms), String)),
            literal_column("+catalog_fts.rowid").in_([int(i) for i in ids]),
        )
    )
    return {int(i): float(sc) for i, sc in session.execute(stmt)}


def _candidates(
    session: Session, actor: Actor, terms: list[QueryTerm], code: ColumnElement[bool] | None = None
) -> Any:
    """The visible entries matching the query (or the resource `code` condition), narrowed to what
    ranking, filters and facets need, as a materialized CTE: the full-text match runs once per statement
    and drives the join by primary key."""
    facet_columns = [column for column, _ in FACETS.values()]
    visible = visibility(actor, sqlite_hint=session.get_bind().dialect.name == "sqlite")
    if code is not None:
        visible = and_(visible, code)
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
    limit, offset = max(1, min(limit, 100)), max(0, offset)
    if unsearchable(q):
        return SearchResult(0, [], {name: [] for name in FACETS} if with_facets else {})
    code = code_condition(session, actor, q)
    if code is not None:
        page_rows = _browse_page(session, actor, filters, limit, offset, code)
        total, counts = _browse_summary(session, actor, filters, with_facets, code, q.strip().upper())
    elif terms:
        by_score = sort != "updated"
        page_rows, total, counts = _search_text(session, actor, terms, filters, by_score, limit, offset)
    else:
        page_rows = _browse_page(session, actor, filters, limit, offset)
        total, counts = _browse_summary(session, actor, filters, with_facets)
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
    return SearchResult(total, hits, _facets(session, list(counts), lang) if with_facets else {})


Counts = tuple[tuple[str, str, int], ...]


def code_condition(session: Session, actor: Actor, q: str) -> ColumnElement[bool] | None:
    """R6: a query shaped like a resource code finds the visible entry of that code, or the visible
    entries whose code ends with it after a "-" ("0009", "01-0009"), case aside. None when the query
    is not so shaped or no visible code matches it (the query is then searched as text)."""
    value = q.strip().upper()
    if not CODE_QUERY.fullmatch(value):
        return None
    code = func.upper(CatalogEntry.resource_code)
    suffix = "%-" + value.replace("_", "\\_")  # no other LIKE wildcard can be in the code shape
    cond = (code == value) | code.like(suffix, escape="\\")
    found = session.scalar(select(CatalogEntry.id).where(visibility(actor), cond).limit(1))
    return cond if found is not None else None


def _summary_parts(cand: Any, filters: dict[str, list[str]], with_facets: bool) -> list[Any]:
    """The total and (if `with_facets`) every facet's counts over the candidates, as UNION ALL parts."""
    parts = [
        select(literal(TOTAL, String), literal("", String), func.count(), *_none())
        .select_from(cand)
        .where(*_filter_conditions(filters, source=cand))
    ]
    if with_facets:
        for name, (column, _) in FACETS.items():
            col = cand.c[column.key]
            parts.append(
                select(literal(name, String), cast(col, String), func.count(), *_none())
                .where(*_filter_conditions(filters, skip=name, source=cand))
                .group_by(col)
            )
    return parts


def _summary(rows: Any) -> tuple[int, Counts]:
    total = next((int(n) for f, _, n, _, _ in rows if f == TOTAL), 0)
    return total, tuple((f, v, int(n)) for f, v, n, _, _ in rows if f in FACETS)


def _search_text(
    session: Session,
    actor: Actor,
    terms: list[QueryTerm],
    filters: dict[str, list[str]],
    by_score: bool,
    limit: int,
    offset: int,
) -> tuple[list[tuple[int, float, Any]], int, Counts]:
    """A text query: one statement for the page of ids, the total and every facet's counts (a UNION ALL
    over the materialized candidates: the match runs once)."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    if sqlite:
        cand = _candidates_sqlite(actor, terms, filters, by_score)
    else:
        cand = _candidates(session, actor, terms)
    order = [desc(cand.c.score)] if by_score else []
    order += [desc(cand.c.updated_at), desc(cand.c.id)]
    page = (
        select(cand.c.id, cand.c.score, cand.c.updated_at)
        .where(*_filter_conditions(filters, source=cand))
        .order_by(*order)
        .limit(limit)
        .offset(offset)
        .subquery("page")
    )
    page_part = select(
        literal(PAGE, String), literal("", String), page.c.id, cast(page.c.score, Float), page.c.updated_at
    )
    rows = session.execute(union_all(page_part, *_summary_parts(cand, filters, True))).all()
    # The page in the statement's order (a UNION ALL need not keep it): score, date, id, all descending.
    page_rows = [(int(i), float(sc or 0.0), at) for f, _, i, sc, at in rows if f == PAGE]
    if sqlite and not by_score:
        scores = _scores_sqlite(session, terms, [i for i, _, _ in page_rows])
        page_rows = [(i, scores.get(i, 0.0), at) for i, _, at in page_rows]
    page_rows.sort(key=lambda r: (r[1] if by_score else 0.0, r[2], r[0]), reverse=True)
    return (page_rows, *_summary(rows))


def _browse_page(
    session: Session,
    actor: Actor,
    filters: dict[str, list[str]],
    limit: int,
    offset: int,
    code: ColumnElement[bool] | None = None,
) -> list[tuple[int, float, Any]]:
    """Browsing without a query (or the entries of a resource `code` query): the visible entries newest
    first, read in the order of the (status, updated_at, id) index."""
    extra = [code] if code is not None else []
    stmt = (
        select(CatalogEntry.id, CatalogEntry.updated_at)
        .where(visibility(actor), *extra, *_filter_conditions(filters))
        .order_by(desc(CatalogEntry.updated_at), desc(CatalogEntry.id))
        .limit(limit)
        .offset(offset)
    )
    return [(int(i), 0.0, at) for i, at in session.execute(stmt)]


def _filters_key(filters: dict[str, list[str]]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple(
        sorted((name, tuple(sorted({str(v) for v in values}))) for name, values in filters.items() if values)
    )


def _browse_summary(
    session: Session,
    actor: Actor,
    filters: dict[str, list[str]],
    with_facets: bool,
    code: ColumnElement[bool] | None = None,
    code_key: str = "",
) -> tuple[int, Counts]:
    """The total and facet counts of browsing without a query (or of a resource code query, `code_key`
    naming it), from the cache when the index generation, the visibility class, the code query and the
    filters are the same as when they were counted."""
    token = generation_token(session)
    key = (token, visibility_class(actor), _filters_key(filters), code_key)
    cached = BROWSE_CACHE.get(key) if token else None
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    counted = with_facets or token is not None  # what is counted once is kept for the next search
    cand = _candidates(session, actor, [], code)
    summary = _summary(session.execute(union_all(*_summary_parts(cand, filters, counted))).all())
    if token is not None:
        BROWSE_CACHE.put(key, summary)
    return summary


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
    for name in FACETS:
        values = sorted(counted[name], key=lambda vn: (-vn[1], int(vn[0]) if name == "provider" else vn[0]))
        if name == "provider":
            names = _provider_names(session, {int(v) for v, _ in values}, lang)
            out[name] = [FacetValue(v, names.get(int(v), v), n) for v, n in values]
        else:
            out[name] = [FacetValue(v, _value_label(pol, name, v, lang), n) for v, n in values]
    return out


def _value_label(pol: Any, name: str, value: str, lang: str) -> str:
    """R6: a facet value's label: a policy category's (R30), a specification vocabulary's (the format: "CSV
    文件", not "csv"), or the value itself (the topic, free text of the entry)."""
    group = FACETS[name][1]
    if group:
        return str(pol.label(group, value, lang))
    if name in VOCABULARY_FACETS:
        return vocabulary_label(VOCABULARY_FACETS[name], value, lang)
    return value


def facet_label(session: Session, name: str, value: str, lang: str) -> str:
    """R6: the label of one facet value, as the facets show it (for a chosen filter)."""
    if name == "provider":
        org_id = _org_id(value)
        return value if org_id is None else _provider_names(session, {org_id}, lang).get(org_id, value)
    if name not in FACETS:
        return value
    return _value_label(policy_service.at(session), name, value, lang)
